"""Normalizing flows: an invertible network with an exact log-likelihood (RealNVP, Dinh et al., 2017).

A flow maps data $x$ to a latent $z = f(x)$ with a simple density $p(z) = \\mathcal N(0, I)$.
Because $f$ is invertible and differentiable, the change-of-variables formula gives the exact
density of the data,

$$\\log p_X(x) = \\log p_Z(f(x)) + \\log \\left|\\det \\frac{\\partial f(x)}{\\partial x}\\right|,$$

and sampling runs the inverse, $x = f^{-1}(z)$. An **affine coupling layer** keeps this cheap:
it leaves the coordinates selected by a binary mask $b$ unchanged and transforms the others with
a scale and shift computed from the unchanged ones,

$$y = b \\odot x + (1 - b) \\odot \\big(x \\odot e^{s(b \\odot x)} + t(b \\odot x)\\big),$$

so its Jacobian is triangular and $\\log|\\det| = \\sum_j (1 - b_j)\\, s_j(b \\odot x)$.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..validate import check_int, check_number, check_points, check_tensor, fail, plain_fields


@dataclass(frozen=True)
class FlowConfig:
    dim: int = 2           # data dimension
    n_layers: int = 8      # coupling layers; the mask alternates, so every coordinate gets transformed
    hidden: int = 64       # width of the networks s and t
    scale_bound: float = 2.0  # |s| <= scale_bound (tanh-bounded), which keeps training stable

    def __post_init__(self):
        plain_fields(self)
        check_int(self.dim, "FlowConfig.dim", low=2, fix="a coupling layer splits the coordinates in two")
        check_int(self.n_layers, "FlowConfig.n_layers", low=1)
        check_int(self.hidden, "FlowConfig.hidden", low=1)
        check_number(self.scale_bound, "FlowConfig.scale_bound", 0, low_open=True)


class AffineCoupling(nn.Module):
    """One coupling layer with a fixed binary ``mask`` (1 = passed through unchanged)."""

    def __init__(self, mask: torch.Tensor, hidden: int, scale_bound: float):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.float())
        self.scale_bound = scale_bound
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)  # start as the identity map
        nn.init.zeros_(self.net[-1].bias)

    def _check(self, x: torch.Tensor, name: str) -> None:  # shape and dtype only: RealNVP checked the values
        check_tensor(x, name, ndim=2, floating=True, what=f"points (N, {self.mask.numel()})")
        if x.shape[1] != self.mask.numel():
            fail(name, f"points of shape (N, {self.mask.numel()})", f"shape {tuple(x.shape)}")

    def _scale_shift(self, x_kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x_kept).chunk(2, dim=-1)
        s = self.scale_bound * torch.tanh(s / self.scale_bound)
        free = 1 - self.mask
        return s * free, t * free  # only the free coordinates are scaled and shifted

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """$y = f(x)$ and $\\log|\\det \\partial y / \\partial x|$ per row."""
        self._check(x, "x")
        s, t = self._scale_shift(x * self.mask)
        return x * torch.exp(s) + t, s.sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """$x = f^{-1}(y)$: the kept coordinates are unchanged, so $s$ and $t$ can be recomputed."""
        self._check(y, "y")
        s, t = self._scale_shift(y * self.mask)
        return (y - t) * torch.exp(-s)


class RealNVP(nn.Module):
    """A stack of affine couplings with alternating masks and a standard Gaussian base density."""

    def __init__(self, cfg: FlowConfig = FlowConfig()):
        super().__init__()
        self.cfg = cfg
        base = (torch.arange(cfg.dim) % 2).float()
        self.layers = nn.ModuleList(
            AffineCoupling(base if i % 2 == 0 else 1 - base, cfg.hidden, cfg.scale_bound) for i in range(cfg.n_layers))

    def _check(self, x: torch.Tensor, name: str = "x") -> None:
        check_points(x, name, self.cfg.dim, like=self.layers[0].mask)

    def to_latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """$z = f(x)$ and the summed log-determinant of all layers."""
        self._check(x)
        logdet = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact $\\log p(x)$ per row, in nats."""
        z, logdet = self.to_latent(x)
        log_pz = -0.5 * (z.pow(2).sum(-1) + self.cfg.dim * math.log(2 * math.pi))
        return log_pz + logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """$x = f^{-1}(z)$, running the layers backwards."""
        self._check(z, "z")
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        check_int(n, "n", low=1)
        z = torch.randn(n, self.cfg.dim, generator=generator).to(next(self.parameters()).device)
        return self.inverse(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training loss: mean negative log-likelihood of a batch."""
        return -self.log_prob(x).mean()
