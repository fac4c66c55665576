"""A Gaussian mixture density, trained by maximum likelihood with the course's loop.

Chapter 1 uses it as the smallest real generative model: it assigns a probability
density to every point, so it can both score data and sample new data.

$$p_\\theta(x) = \\sum_{k=1}^K \\pi_k\\,\\mathcal N(x;\\mu_k,\\Sigma_k),\\qquad
\\Sigma_k = L_k L_k^\\top,\\quad \\pi = \\operatorname{softmax}(\\text{logits})$$

Parameterising each covariance by its Cholesky factor $L_k$ (lower triangular, positive
diagonal) keeps every $\\Sigma_k$ positive definite whatever the optimizer does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..validate import check_int, check_points, fail, plain_fields


@dataclass(frozen=True)
class GMMConfig:
    dim: int = 2
    n_components: int = 8

    def __post_init__(self):
        plain_fields(self)
        check_int(self.dim, "GMMConfig.dim", low=1)
        check_int(self.n_components, "GMMConfig.n_components", low=1)


class GaussianMixture(nn.Module):
    def __init__(self, cfg: GMMConfig):
        super().__init__()
        self.cfg = cfg
        K, D = cfg.n_components, cfg.dim
        self.logits = nn.Parameter(torch.zeros(K))      # mixture weights, before softmax
        self.mu = nn.Parameter(torch.randn(K, D))        # (K, D) means
        self.L_raw = nn.Parameter(torch.zeros(K, D, D))  # (K, D, D); diagonal holds log L_kk

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> "GaussianMixture":
        """Means at K random data points, every covariance the data's: a standard start."""
        x = self._check(x)
        if len(x) < max(2, self.cfg.n_components):
            fail("x", f"at least {max(2, self.cfg.n_components)} points (one per component, two for a covariance)",
                 f"{len(x)} points")
        idx = torch.randperm(len(x), generator=generator)[: self.cfg.n_components]
        self.mu.copy_(x[idx.to(x.device)])
        cov = torch.cov(x.T).reshape(self.cfg.dim, self.cfg.dim) + 1e-3 * torch.eye(self.cfg.dim, device=x.device)
        L = torch.linalg.cholesky(cov)
        self.L_raw.copy_((torch.tril(L, -1) + torch.diag_embed(L.diagonal().log())).expand_as(self.L_raw))
        return self

    def scale_tril(self) -> torch.Tensor:
        """$L_k$: strictly-lower part of ``L_raw`` plus exp of its diagonal. (K, D, D)"""
        return torch.tril(self.L_raw, -1) + torch.diag_embed(self.L_raw.diagonal(dim1=-2, dim2=-1).exp())

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        return check_points(x, "x", self.cfg.dim, like=self.mu)

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """$\\log\\mathcal N(x;\\mu_k,\\Sigma_k)$ for every point and component. (N, K)

        With $z = L_k^{-1}(x-\\mu_k)$: $-\\tfrac12\\|z\\|^2 - \\sum_i \\log L_{k,ii} - \\tfrac D2\\log 2\\pi$.
        """
        x = self._check(x)
        L = self.scale_tril()                                   # (K, D, D)
        diff = x[:, None, :] - self.mu[None]                    # (N, K, D)
        z = torch.linalg.solve_triangular(L, diff.permute(1, 2, 0), upper=False)  # (K, D, N)
        maha = z.pow(2).sum(1).T                                # (N, K)
        log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)    # (K,) = ½ log|Σ_k|
        return -0.5 * maha - log_det - 0.5 * self.cfg.dim * math.log(2 * math.pi)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """$\\log p_\\theta(x) = \\operatorname{logsumexp}_k(\\log\\pi_k + \\log\\mathcal N(x;\\mu_k,\\Sigma_k))$. (N,)"""
        return torch.logsumexp(self.logits.log_softmax(0) + self.component_log_prob(x), dim=1)

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        r"""$p(k \mid x) = \pi_k \mathcal N(x;\mu_k,\Sigma_k) / p_\theta(x)$: which component explains each
        point (EM's E-step). Rows sum to 1. (N, K)"""
        return (self.logits.log_softmax(0) + self.component_log_prob(x)).softmax(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training loss: negative log-likelihood per point, in nats."""
        return -self.log_prob(x).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling: $k\\sim\\mathrm{Cat}(\\pi)$, then $x = \\mu_k + L_k\\varepsilon$, $\\varepsilon\\sim\\mathcal N(0, I)$."""
        check_int(n, "n", low=1)
        dev = self.mu.device
        k = torch.multinomial(self.logits.softmax(0).cpu(), n, replacement=True, generator=generator).to(dev)
        eps = torch.randn(n, self.cfg.dim, 1, generator=generator).to(dev)  # (n, D, 1)
        return self.mu[k] + (self.scale_tril()[k] @ eps).squeeze(-1)
