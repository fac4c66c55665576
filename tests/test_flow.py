import math

import pytest
import torch

from genai_lib.data import Batches, ring_of_gaussians
from genai_lib.models.flow import AffineCoupling, FlowConfig, RealNVP
from genai_lib.train import TrainConfig, fit


def randomised(model, std=0.5):
    """Non-zero output layers, so the flow is not the identity it starts as."""
    torch.manual_seed(0)
    with torch.no_grad():
        for layer in model.layers:
            layer.net[-1].weight.normal_(0, std)
            layer.net[-1].bias.normal_(0, std)
    return model


def test_coupling_logdet_equals_the_full_jacobian():
    layer = randomised(RealNVP(FlowConfig(dim=3, n_layers=1, hidden=8))).layers[0].double()
    x = torch.randn(4, 3, dtype=torch.float64)
    _, logdet = layer(x)
    for i in range(4):
        J = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x[i])
        assert torch.allclose(logdet[i], torch.linalg.slogdet(J).logabsdet, atol=1e-10)


def test_flow_is_invertible_and_its_logdet_matches_autograd():
    flow = randomised(RealNVP(FlowConfig(dim=2, n_layers=6, hidden=16))).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    z, logdet = flow.to_latent(x)
    assert torch.allclose(flow.inverse(z), x, atol=1e-10)
    for i in range(5):
        J = torch.autograd.functional.jacobian(lambda v: flow.to_latent(v[None])[0][0], x[i])
        assert torch.allclose(logdet[i], torch.linalg.slogdet(J).logabsdet, atol=1e-9)


def test_density_integrates_to_one():
    flow = randomised(RealNVP(FlowConfig(dim=2, n_layers=4, hidden=16)), std=0.15).double()
    g = torch.linspace(-12, 12, 801, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    with torch.no_grad():
        p = flow.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp().view(801, 801)
    mass = torch.trapezoid(torch.trapezoid(p, g, dim=1), g).item()
    assert mass == pytest.approx(1.0, abs=0.01)


def test_identity_at_initialisation_gives_the_gaussian_density():
    flow = RealNVP(FlowConfig(dim=2))
    x = torch.randn(7, 2)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    assert torch.allclose(flow.log_prob(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        flow.log_prob(torch.randn(3, 3))


def test_few_steps_fit_a_ring_better_than_one_gaussian():
    torch.manual_seed(0)
    x, _ = ring_of_gaussians(4096, modes=8, radius=2.0, std=0.2, generator=torch.Generator().manual_seed(1))
    flow = RealNVP(FlowConfig(dim=2, n_layers=6, hidden=64))
    fit(flow, Batches(x, batch_size=256, seed=0), TrainConfig(steps=300, lr=3e-3), progress=False)
    gaussian = torch.distributions.MultivariateNormal(x.mean(0), torch.cov(x.T))
    with torch.no_grad():
        assert flow.log_prob(x).mean() > gaussian.log_prob(x).mean() + 0.3
    assert flow.sample(10, torch.Generator().manual_seed(0)).shape == (10, 2)
    assert isinstance(flow.layers[0], AffineCoupling) and math.isfinite(flow(x).item())
