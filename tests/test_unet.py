import pytest
import torch

from genai_lib.models.unet import UNet, UNetConfig, timestep_embedding


def test_timestep_embedding_distinguishes_steps():
    e = timestep_embedding(torch.tensor([0, 1, 500]), 32)
    assert e.shape == (3, 32)
    assert torch.allclose(e[0, :16], torch.zeros(16)) and torch.allclose(e[0, 16:], torch.ones(16))
    assert (e[1] - e[2]).abs().max() > 0.1


def test_unet_shapes_labels_and_time_matter():
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=16, n_classes=10, time_dim=32))
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)  # the output layer starts at zero
    x = torch.randn(3, 1, 28, 28)
    i = torch.tensor([1, 50, 99])
    out = net(x, i, torch.tensor([0, 1, 2]))
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, i, torch.tensor([5, 5, 5])))   # the label changes the prediction
    assert not torch.allclose(out, net(x, i + 1, torch.tensor([0, 1, 2])))  # so does the time step
    assert net(x, i).shape == x.shape  # no label: the "no label" embedding
    out.sum().backward()
    assert net.inp.weight.grad is not None
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        net(torch.randn(3, 1, 32, 32), i)
