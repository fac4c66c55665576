"""WaveNet (van den Oord et al., 2016): an autoregressive model of raw audio built from
dilated *causal* convolutions, not a recurrence.

Like a language model it factorises a waveform with the chain rule,
$p(x_1,\\dots,x_T) = \\prod_t p_\\theta(x_{t+1} \\mid x_{\\le t})$, and trains by maximum likelihood
on each next sample. The samples are first companded with the mu-law (section 2.2) and
quantised to 256 levels, so each step is a 256-way classification. A causal convolution sees
only the past; doubling the dilation at each layer (1, 2, 4, ..., 512) makes the receptive
field grow exponentially with depth at a linear cost. Each layer is a gated residual block
(section 2.3-2.4): $z = \\tanh(W_f * x) \\odot \\sigma(W_g * x)$, with a 1x1 convolution to the
residual stream and another to the skip connections that feed the output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_int, check_number, check_tensor, fail, plain_fields, values_are_cheap


def mu_law_encode(x: torch.Tensor, channels: int = 256) -> torch.Tensor:
    """Compand and quantise a waveform in [-1, 1] to integer codes 0..channels-1 (paper, eq. 2).

    $F(x) = \\mathrm{sign}(x)\\,\\ln(1 + \\mu|x|) / \\ln(1 + \\mu)$ with $\\mu$ = channels - 1, then
    $q = \\lfloor (F(x) + 1)/2 \\cdot \\mu + 1/2 \\rfloor$ (torchaudio's convention). The log spends
    more levels on quiet samples, where the ear is most sensitive.
    """
    check_int(channels, "channels", low=2)
    check_tensor(x, "x", floating=True, what="a waveform of floats in [-1, 1]")
    # Values are read even on a GPU: encoding is done once, where the data enter, and a sample
    # outside [-1, 1] would silently become an out-of-range code.
    if not torch.isfinite(x).all():
        fail("x", "finite (no NaN or inf)", f"{int((~torch.isfinite(x)).sum())} non-finite values")
    lo, hi = (v.item() for v in torch.aminmax(x.detach()))
    if lo < -1 or hi > 1:
        fix = ("These look like 16-bit PCM samples: divide by 32768" if hi > 2 or lo < -2 else
               "Rescale with x / x.abs().max() (do not clip: clipping distorts the waveform)")
        fail("x", "a waveform with values in [-1, 1]", f"values in [{lo:.4g}, {hi:.4g}]", fix)
    mu = channels - 1
    f = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)     # F(x) in [-1, 1]
    return ((f + 1) / 2 * mu + 0.5).floor().long()                      # codes 0..mu


def mu_law_decode(q: torch.Tensor, channels: int = 256) -> torch.Tensor:
    """The inverse of :func:`mu_law_encode` at the bin centres: a float waveform in [-1, 1].

    $y = 2q/\\mu - 1$, then $x = \\mathrm{sign}(y)\\,((1 + \\mu)^{|y|} - 1)/\\mu$.
    """
    check_int(channels, "channels", low=2)
    check_tensor(q, "q", floating=False, what="mu-law codes (integers)")
    if values_are_cheap(q) and (int(q.min()) < 0 or int(q.max()) >= channels):
        fail("q", f"mu-law codes in [0, {channels})", f"values in [{int(q.min())}, {int(q.max())}]",
             "Decode with the channels the codes were encoded with")
    mu = channels - 1
    y = 2 * q.float() / mu - 1                                          # F(x) at the bin centre
    return torch.sign(y) * torch.expm1(y.abs() * math.log1p(mu)) / mu


@dataclass(frozen=True)
class WaveNetConfig:
    channels: int = 256        # quantisation levels of the mu-law codes (the softmax size)
    residual: int = 32         # channels of the residual stream
    skip: int = 64             # channels of the skip connections and the output head
    layers_per_stack: int = 8  # dilations 1, 2, ..., 2**(layers_per_stack - 1)
    stacks: int = 1            # how often that dilation pattern repeats
    kernel_size: int = 2

    def __post_init__(self):
        plain_fields(self)
        check_int(self.channels, "WaveNetConfig.channels", low=2)
        for name in ("residual", "skip", "layers_per_stack", "stacks"):
            check_int(getattr(self, name), f"WaveNetConfig.{name}", low=1)
        check_int(self.kernel_size, "WaveNetConfig.kernel_size", low=2,
                  fix="A kernel of size 1 sees only the current sample and the model no past at all")


def receptive_field(cfg: WaveNetConfig) -> int:
    """How many input samples one output sees: $(k - 1) \\sum_i d_i + 1$ over every causal
    convolution, i.e. the input convolution (dilation 1) and each block's (1, 2, ..., 2^(L-1),
    repeated ``stacks`` times). The defaults see (1 + 255) + 1 = 257 samples."""
    if not isinstance(cfg, WaveNetConfig):
        fail("cfg", "a WaveNetConfig", type(cfg).__name__, "Build one with WaveNetConfig(...)", TypeError)
    dilations = 1 + cfg.stacks * (2 ** cfg.layers_per_stack - 1)
    return (cfg.kernel_size - 1) * dilations + 1


class CausalConv1d(nn.Module):
    """A Conv1d padded on the left only, by dilation * (kernel_size - 1), so that output t
    depends on inputs <= t and the output is as long as the input."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("dilation", dilation)):
            check_int(value, name, low=1)
        self.pad = dilation * (kernel_size - 1)
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndim=3, floating=True, what="a signal (B, C, T)")
        if x.shape[1] != self.conv.in_channels:
            fail("x", f"a signal (B, C, T) with C = {self.conv.in_channels} channels", f"shape {tuple(x.shape)}")
        return self.conv(F.pad(x, (self.pad, 0)))                       # (B, C_in, T) => (B, C_out, T)


class GatedResidualBlock(nn.Module):
    """$z = \\tanh(W_f * x) \\odot \\sigma(W_g * x)$; returns (x + 1x1(z), 1x1(z) to the skips)."""

    def __init__(self, residual: int, skip: int, kernel_size: int, dilation: int):
        super().__init__()
        self.conv = CausalConv1d(residual, 2 * residual, kernel_size, dilation)  # W_f and W_g in one conv
        self.res = nn.Conv1d(residual, residual, 1)
        self.skip = nn.Conv1d(residual, skip, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        filt, gate = self.conv(x).chunk(2, dim=1)                       # (B, R, T) each
        z = torch.tanh(filt) * torch.sigmoid(gate)
        return x + self.res(z), self.skip(z)                            # (B, R, T), (B, S, T)


class WaveNet(nn.Module):
    def __init__(self, cfg: WaveNetConfig = WaveNetConfig()):
        super().__init__()
        if not isinstance(cfg, WaveNetConfig):
            fail("cfg", "a WaveNetConfig", type(cfg).__name__, "Build one with WaveNetConfig(...)", TypeError)
        self.cfg = cfg
        # an embedding is a 1x1 convolution of the paper's one-hot input, without the one-hot
        self.embed = nn.Embedding(cfg.channels, cfg.residual)
        self.input_conv = CausalConv1d(cfg.residual, cfg.residual, cfg.kernel_size)
        self.blocks = nn.ModuleList(
            GatedResidualBlock(cfg.residual, cfg.skip, cfg.kernel_size, dilation=2 ** i)
            for _ in range(cfg.stacks) for i in range(cfg.layers_per_stack))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(cfg.skip, cfg.skip, 1),
                                  nn.ReLU(), nn.Conv1d(cfg.skip, cfg.channels, 1))
        # Small final weights start the model near the uniform distribution (loss ln(channels))
        # instead of confidently wrong; not zero, so that gradients still reach every layer.
        nn.init.normal_(self.head[-1].weight, 0.0, 0.02)
        nn.init.zeros_(self.head[-1].bias)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.cfg)

    def _check(self, x: torch.Tensor, name: str) -> None:
        """mu-law codes (B, T) of dtype long in [0, channels), T >= 1."""
        check_tensor(x, name, ndim=2, floating=False, what="mu-law codes (B, T)", nonempty=False)
        if x.shape[1] == 0:
            fail(name, "at least one sample per row, shape (B, T)", f"shape {tuple(x.shape)}",
                 "Start generation from a prompt, e.g. the code of silence mu_law_encode(torch.zeros(B, 1))")
        if x.shape[0] == 0:
            fail(name, "at least one sequence, shape (B, T) with B >= 1", f"shape {tuple(x.shape)}")
        if x.dtype != torch.long:
            fail(name, "mu-law codes of dtype torch.long", f"dtype {x.dtype}", "Convert with x.long()", TypeError)
        if x.device != self.embed.weight.device:
            fail(name, f"on the model's device ({self.embed.weight.device})", f"a tensor on {x.device}",
                 f"Move it with x.to({str(self.embed.weight.device)!r})")
        if values_are_cheap(x) and (int(x.min()) < 0 or int(x.max()) >= self.cfg.channels):
            fail(name, f"mu-law codes in [0, {self.cfg.channels})", f"values in [{int(x.min())}, {int(x.max())}]",
                 "Encode the waveform with mu_law_encode(x, channels=cfg.channels)")

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, channels, T) and, with targets, the mean next-sample cross-entropy in nats.

        The convention is the GPT's: ``targets[:, t]`` is the sample after ``x[:, t]`` (the
        windows of :class:`genai_lib.data.TextBatches`), and ``logits[:, :, t]``, which sees
        ``x[:, :t+1]`` only, predicts it: $\\mathcal L = -\\frac1{BT}\\sum_t \\log p_\\theta(x_{t+1} \\mid x_{\\le t})$.
        """
        self._check(x, "x")
        if targets is not None:
            self._check(targets, "targets")
            if targets.shape != x.shape:
                fail("targets", f"the next samples, of the same shape as x {tuple(x.shape)}",
                     f"shape {tuple(targets.shape)}", "Use targets = codes[:, 1:] with x = codes[:, :-1]")
        h = self.input_conv(self.embed(x).transpose(1, 2))                  # (B, T) => (B, R, T)
        skips = 0
        for block in self.blocks:
            h, s = block(h)                                                 # (B, R, T), (B, S, T)
            skips = skips + s
        logits = self.head(skips)                                           # (B, channels, T)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits, targets)                     # (B, C, T) against (B, T)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, n: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Append ``n`` sampled codes to ``prompt`` (B, T0), one at a time: (B, T0 + n).

        Each step recomputes the network over the last ``receptive_field`` samples, all the last
        output can see (no cached activations, so O(n * receptive_field)). temperature 0 is greedy.
        """
        check_int(n, "n", low=0)
        check_number(temperature, "temperature", 0, fix="Use 0 for greedy decoding, 1 for the model's distribution")
        self._check(prompt, "prompt")
        x = prompt
        for _ in range(n):
            logits, _ = self(x[:, -self.receptive_field:])
            logits = logits[:, :, -1]                                       # (B, channels)
            if temperature == 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                probs = (logits / temperature).softmax(-1)
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(x.device)
            x = torch.cat([x, nxt], dim=1)
        return x
