"""A small U-Net for 28x28 images: the noise-prediction network $\\epsilon_\\theta(x_t, t, y)$ of a diffusion model.

Three resolutions (28 -> 14 -> 7 and back), downsampled by 2x2 average pooling (not strided
convolutions) and upsampled back, with skip connections, residual blocks with GroupNorm,
and the time step (and optionally a class label) added to every block as an embedding. The
label embedding has one extra entry, ``n_classes``, meaning "no label": classifier-free guidance
trains with labels dropped to it and mixes the two predictions when sampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_int, check_labels, check_tensor, fail, plain_fields


@dataclass(frozen=True)
class UNetConfig:
    channels: int = 32        # at 28x28; doubled at 14x14 and at 7x7
    n_classes: int = 0        # > 0: conditional, with an extra "no label" index n_classes
    time_dim: int = 128

    def __post_init__(self):
        plain_fields(self)
        check_int(self.channels, "UNetConfig.channels", low=8)
        if self.channels % 8:
            fail("UNetConfig.channels", "a multiple of 8 (GroupNorm splits the channels into 8 groups)", self.channels)
        check_int(self.n_classes, "UNetConfig.n_classes", low=0)
        check_int(self.time_dim, "UNetConfig.time_dim", low=2)
        if self.time_dim % 2:
            fail("UNetConfig.time_dim", "even (half sines, half cosines)", self.time_dim)


def timestep_embedding(i: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer steps, as the Transformer's positions (Vaswani et al., 2017). (N, dim)"""
    check_tensor(i, "i", ndim=1, floating=False, what="integer time steps (N,)")
    check_int(dim, "dim", low=2)
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=i.device) / half)
    angles = i.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]  # the time (and label) tells the block how much noise to expect
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    def __init__(self, cfg: UNetConfig = UNetConfig()):
        super().__init__()
        self.cfg = cfg
        c, e = cfg.channels, cfg.time_dim
        self.time = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.label = nn.Embedding(cfg.n_classes + 1, e) if cfg.n_classes else None
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.down1, self.down2 = ResBlock(c, c, e), ResBlock(c, 2 * c, e)          # 28x28, then 14x14
        self.mid = ResBlock(2 * c, 2 * c, e)                                      # 7x7
        self.up2, self.up1 = ResBlock(4 * c, c, e), ResBlock(2 * c, c, e)        # 14x14, 28x28 (with skips)
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, i: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor(x, "x", floating=True, like=self.inp.weight, what="noisy images (N, 1, 28, 28)")
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        check_tensor(i, "i", ndim=1, floating=False, what="0-based time steps (N,)")
        if len(i) != len(x):
            fail("i", f"one time step per image ({len(x)})", f"{len(i)} steps")
        emb = self.time(timestep_embedding(i, self.cfg.time_dim))
        if self.label is None and y is not None:
            fail("y", "None: this U-Net is unconditional (UNetConfig.n_classes = 0)", "labels")
        if self.label is not None:
            y = torch.full_like(i, self.cfg.n_classes) if y is None else y  # None = unconditional
            check_labels(y, "y", self.cfg.n_classes + 1, len(x))       # n_classes itself means "no label"
            emb = emb + self.label(y)
        h1 = self.down1(self.inp(x), emb)                          # (N, c, 28, 28)
        h2 = self.down2(F.avg_pool2d(h1, 2), emb)                  # (N, 2c, 14, 14)
        m = self.mid(F.avg_pool2d(h2, 2), emb)                     # (N, 2c, 7, 7)
        u2 = self.up2(torch.cat([F.interpolate(m, scale_factor=2), h2], 1), emb)   # (N, c, 14, 14)
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2), h1], 1), emb)  # (N, c, 28, 28)
        return self.out(u1)
