import math

import pytest
import torch
import torch.nn.functional as F

from genai_lib.data import TextBatches
from genai_lib.models import wavenet as wn
from genai_lib.models.wavenet import (CausalConv1d, GatedResidualBlock, WaveNet, WaveNetConfig, mu_law_decode,
                                      mu_law_encode, receptive_field)
from genai_lib.train import TrainConfig, fit

torch.set_num_threads(1)

TINY = WaveNetConfig(channels=16, residual=16, skip=32, layers_per_stack=3, kernel_size=2)


def tiny():
    return WaveNet(TINY)


# --- mu-law companding

def test_mu_law_pinned_values():
    mu = 255
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0])
    # by hand: (F(x) + 1) / 2 * mu + 1/2, floored; F(0.5) = ln(1 + 127.5) / ln(256)
    expected = [0, 128, math.floor((math.log(128.5) / math.log(256) + 1) / 2 * mu + 0.5), 255]
    assert mu_law_encode(x).tolist() == expected == [0, 128, 239, 255]
    assert mu_law_encode(x).dtype == torch.long
    assert mu_law_decode(torch.tensor([0, 255])).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("channels", [256, 16])
def test_mu_law_round_trip_is_within_half_a_bin_and_exact_on_centres(channels):
    mu = channels - 1
    x = torch.linspace(-1, 1, 20001)
    q = mu_law_encode(x, channels)
    assert int(q.min()) == 0 and int(q.max()) == mu
    assert (q.diff() >= 0).all()                        # monotone

    def compand(v):  # F(v), in float64 so that the check is not limited by float32 rounding
        v = v.double()
        return torch.sign(v) * torch.log1p(mu * v.abs()) / math.log1p(mu)

    # bins are 2/mu wide in the companded domain, and decoding returns their centres
    assert (compand(mu_law_decode(q, channels)) - compand(x)).abs().max() <= 1 / mu + 1e-6
    codes = torch.arange(channels)
    centres = mu_law_decode(codes, channels)
    assert (centres.diff() > 0).all() and centres.abs().max() <= 1
    assert torch.equal(mu_law_encode(centres, channels), codes)


# --- the network

def test_causal_conv_pads_on_the_left_only():
    torch.manual_seed(0)
    conv = CausalConv1d(3, 4, kernel_size=3, dilation=2)
    x = torch.randn(2, 3, 10)
    y = conv(x)
    assert y.shape == (2, 4, 10)
    ref = F.conv1d(F.pad(x, (4, 0)), conv.conv.weight, conv.conv.bias, dilation=2)
    assert torch.allclose(y, ref)
    x2 = x.clone()
    x2[..., 6] += 1.0
    d = (conv(x2) - y).abs().amax((0, 1))
    assert (d[:6] == 0).all()                                            # nothing before t = 6 changes
    assert (d[[6, 8]] > 0).all() and (d[[7, 9]] == 0).all()              # taps at t, t-2, t-4: dilation 2


def test_changing_a_future_sample_never_changes_earlier_logits():
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers_per_stack=4)).eval()
    x = torch.randint(0, 256, (1, 40))
    changed = x.clone()
    changed[0, 25] = (x[0, 25] + 100) % 256
    a, _ = model(x)
    b, _ = model(changed)
    assert torch.allclose(a[..., :25], b[..., :25], atol=1e-6)
    assert not torch.allclose(a[..., 25], b[..., 25])


@pytest.mark.parametrize("cfg, expected", [
    (WaveNetConfig(channels=16, residual=8, skip=8, layers_per_stack=4), 1 + 1 + 2 + 4 + 8 + 1),
    (WaveNetConfig(channels=16, residual=8, skip=8, layers_per_stack=3, stacks=2, kernel_size=3),
     2 * (1 + 2 * (1 + 2 + 4)) + 1),
    (WaveNetConfig(), 257),  # the defaults: (2 - 1) * (1 + 255) + 1
])
def test_receptive_field_matches_the_measured_gradient(cfg, expected):
    assert receptive_field(cfg) == expected
    torch.manual_seed(0)
    model = WaveNet(cfg)
    assert model.receptive_field == expected
    T = expected + 20
    x = torch.randint(0, cfg.channels, (1, T))
    emb = {}

    def leaf(module, inputs, out):  # the embedded input becomes a leaf, to read its gradient
        emb["e"] = out.detach().requires_grad_()
        return emb["e"]

    handle = model.embed.register_forward_hook(leaf)
    logits, _ = model(x)
    handle.remove()
    logits[0, :, -1].sum().backward()
    seen = (emb["e"].grad[0].abs().sum(-1) > 0).nonzero().flatten()     # inputs the last output depends on
    assert seen.tolist() == list(range(T - expected, T))
    # so generate may crop the context to the receptive field without changing the last logits
    with torch.no_grad():
        assert torch.allclose(model(x)[0][..., -1], model(x[:, -expected:])[0][..., -1], atol=1e-5)


def test_loss_at_initialisation_is_about_ln_256():
    torch.manual_seed(0)
    model = WaveNet()
    x = torch.randint(0, 256, (4, 129))
    logits, loss = model(x[:, :-1], x[:, 1:])
    assert logits.shape == (4, 256, 128)
    assert loss.item() == pytest.approx(math.log(256), abs=0.02)


def test_gated_block_returns_the_residual_and_the_skip():
    torch.manual_seed(0)
    block = GatedResidualBlock(residual=4, skip=6, kernel_size=2, dilation=2)
    h, s = block(torch.randn(3, 4, 9))
    assert h.shape == (3, 4, 9) and s.shape == (3, 6, 9)


def test_tiny_model_learns_a_periodic_wave_and_continues_it():
    torch.manual_seed(0)
    # one period, repeated, so that the codes are exactly periodic (sin(pi * k) rounds to either
    # side of a bin edge when computed for many k)
    period = mu_law_encode(0.8 * torch.sin(2 * math.pi * torch.arange(12) / 12), TINY.channels)
    codes = period.repeat(20)
    model = tiny()
    history = fit(model, TextBatches(codes, block_size=32, batch_size=8), TrainConfig(steps=200, lr=1e-2),
                  progress=False)
    # the first samples of a window have too little context to tell a rising wave from a falling one
    assert history.last("loss", 10) < 0.05
    R = model.receptive_field
    with torch.no_grad():
        logits, _ = model(codes[None, :-1])
    assert F.cross_entropy(logits[..., R:], codes[None, R + 1:]).item() < 0.01  # with full context
    out = model.generate(codes[None, :20], 40, temperature=0)
    assert torch.equal(out[0], codes[:60])                               # greedy continues the wave


def test_generate_shapes_range_and_seeded_determinism():
    torch.manual_seed(0)
    model = tiny()
    prompt = torch.randint(0, 16, (3, 5))
    a = model.generate(prompt, 30, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 30, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 35) and a.dtype == torch.long
    assert torch.equal(a, b) and torch.equal(a[:, :5], prompt)
    assert int(a.min()) >= 0 and int(a.max()) < 16
    assert not torch.equal(a, model.generate(prompt, 30, generator=torch.Generator().manual_seed(2)))
    assert torch.equal(model.generate(prompt, 0), prompt)


def test_config_is_frozen_and_stores_python_numbers():
    import dataclasses

    import numpy as np

    cfg = WaveNetConfig(residual=np.int64(16))
    assert type(cfg.residual) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.residual = 8


# (id, call, exception, message fragment): the same format as tests/test_bad_input.py
ROWS = [
    ("WaveNetConfig.channels=1", lambda: WaveNetConfig(channels=1), ValueError,
     "WaveNetConfig.channels must be an integer >= 2"),
    ("WaveNetConfig.residual=0", lambda: WaveNetConfig(residual=0), ValueError, "WaveNetConfig.residual"),
    ("WaveNetConfig.layers_per_stack=2.5", lambda: WaveNetConfig(layers_per_stack=2.5), TypeError,
     "WaveNetConfig.layers_per_stack must be an integer"),
    ("WaveNetConfig.kernel_size=1", lambda: WaveNetConfig(kernel_size=1), ValueError, "sees only the current sample"),
    ("receptive_field", lambda: wn.receptive_field({"kernel_size": 2}), TypeError, "cfg must be a WaveNetConfig"),
    ("mu_law_encode outside [-1, 1]", lambda: wn.mu_law_encode(torch.tensor([0.5, 1.5])), ValueError,
     "x must be a waveform with values in [-1, 1], got values in [0.5, 1.5]"),
    ("mu_law_encode 16-bit PCM", lambda: wn.mu_law_encode(torch.tensor([-3000.0, 12000.0])), ValueError,
     "divide by 32768"),
    ("mu_law_encode integers", lambda: wn.mu_law_encode(torch.tensor([0, 1])), TypeError, "floating-point"),
    ("mu_law_encode NaN", lambda: wn.mu_law_encode(torch.tensor([0.0, float("nan")])), ValueError, "finite"),
    ("mu_law_encode channels=1", lambda: wn.mu_law_encode(torch.zeros(3), channels=1), ValueError,
     "channels must be an integer >= 2"),
    ("mu_law_decode out of range", lambda: wn.mu_law_decode(torch.tensor([0, 256])), ValueError,
     "q must be mu-law codes in [0, 256), got values in [0, 256]"),
    ("mu_law_decode floats", lambda: wn.mu_law_decode(torch.tensor([0.5])), TypeError, "dtype torch.long"),
    ("CausalConv1d dilation=0", lambda: wn.CausalConv1d(1, 1, 2, dilation=0), ValueError,
     "dilation must be an integer >= 1"),
    ("CausalConv1d.forward (B, T)", lambda: wn.CausalConv1d(1, 1, 2)(torch.zeros(2, 5)), ValueError,
     "x must be a signal (B, C, T) with 3 dimensions"),
    ("CausalConv1d.forward channels", lambda: wn.CausalConv1d(2, 1, 2)(torch.zeros(1, 3, 5)), ValueError,
     "C = 2 channels"),
    ("GatedResidualBlock.forward", lambda: wn.GatedResidualBlock(4, 4, 2, 1)(torch.zeros(1, 3, 5)), ValueError,
     "C = 4 channels"),
    ("WaveNet cfg", lambda: wn.WaveNet({"channels": 16}), TypeError, "cfg must be a WaveNetConfig, got dict"),
    ("WaveNet.forward empty batch", lambda: tiny()(torch.zeros(0, 4, dtype=torch.long)), ValueError,
     "x must be at least one sequence"),
    ("WaveNet.forward codes range", lambda: tiny()(torch.tensor([[1, 16]])), ValueError,
     "x must be mu-law codes in [0, 16), got values in [1, 16]"),
    ("WaveNet.forward float waveform", lambda: tiny()(torch.zeros(1, 4)), TypeError, "x.long()"),
    ("WaveNet.forward int32", lambda: tiny()(torch.zeros(1, 4, dtype=torch.int32)), TypeError,
     "x must be mu-law codes of dtype torch.long"),
    ("WaveNet.forward 1-D", lambda: tiny()(torch.zeros(4, dtype=torch.long)), ValueError, "(B, T) with 2 dimensions"),
    ("WaveNet.forward targets shape", lambda: tiny()(torch.zeros(1, 4, dtype=torch.long),
                                                     torch.zeros(1, 3, dtype=torch.long)), ValueError,
     "targets must be the next samples, of the same shape as x (1, 4)"),
    ("WaveNet.forward targets range", lambda: tiny()(torch.zeros(1, 4, dtype=torch.long), torch.full((1, 4), -1)),
     ValueError, "targets must be mu-law codes in [0, 16)"),
    ("WaveNet.generate empty prompt", lambda: tiny().generate(torch.zeros(1, 0, dtype=torch.long), 3), ValueError,
     "prompt must be at least one sample per row"),
    ("WaveNet.generate n<0", lambda: tiny().generate(torch.zeros(1, 1, dtype=torch.long), -1), ValueError,
     "n must be an integer >= 0"),
    ("WaveNet.generate temperature<0", lambda: tiny().generate(torch.zeros(1, 1, dtype=torch.long), 2,
                                                               temperature=-1), ValueError,
     "temperature must be a finite number >= 0"),
]


@pytest.mark.parametrize("call, error, fragment", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_gets_one_clear_error(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), str(info.value)
