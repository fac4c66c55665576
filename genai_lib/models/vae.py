"""Variational autoencoders (Kingma & Welling, 2014) and the importance-weighted bound.

Generative model: $z \\sim p(z) = \\mathcal N(0, I)$, $x \\sim p_\\theta(x \\mid z)$.
Inference model (encoder): $q_\\phi(z \\mid x) = \\mathcal N(\\mu_\\phi(x), \\operatorname{diag}\\sigma^2_\\phi(x))$.
Training maximises the evidence lower bound (ELBO), for every $x$

$$\\log p_\\theta(x) \\ge \\mathrm{ELBO}(x) = \\mathbb E_{q_\\phi(z\\mid x)}[\\log p_\\theta(x\\mid z)]
   - \\mathrm{KL}(q_\\phi(z\\mid x)\\,\\Vert\\,p(z)),$$

with the gap equal to $\\mathrm{KL}(q_\\phi(z\\mid x)\\,\\Vert\\,p_\\theta(z\\mid x))$. The functions
:func:`gaussian_kl`, :func:`reparameterize`, :func:`elbo` and :func:`iwae_bound` work for any
model given its log-likelihood $\\log p_\\theta(x\\mid z)$; :class:`VAE` is the MNIST model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_choice, check_images, check_int, check_number, check_tensor, fail, plain_fields

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """$\\mathrm{KL}(\\mathcal N(\\mu, \\operatorname{diag} e^{\\text{logvar}})\\,\\Vert\\,\\mathcal N(0, I))$ per row. (N,)

    $= -\\tfrac12 \\sum_j (1 + \\log\\sigma_j^2 - \\mu_j^2 - \\sigma_j^2)$ (Kingma & Welling, 2014, Appendix B).
    """
    check_tensor(mu, "mu", floating=True, what="means (N, D)")
    check_tensor(logvar, "logvar", floating=True, what="log-variances (N, D)")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """$z = \\mu + \\sigma \\odot \\varepsilon$, $\\varepsilon \\sim \\mathcal N(0, I)$: a sample of $q$ that is
    differentiable in $\\mu$ and $\\sigma$ (the reparameterization trick)."""
    check_tensor(mu, "mu", floating=True, what="means (N, D)")
    if logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + (0.5 * logvar).exp() * eps


def log_normal(z: torch.Tensor, mu: torch.Tensor | float = 0.0, logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """$\\log \\mathcal N(z; \\mu, \\operatorname{diag} e^{\\text{logvar}})$ summed over the last dimension."""
    check_tensor(z, "z", floating=True, what="points (..., D)")
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


LogLikelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, z) -> log p(x|z), (N,)


def elbo(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, log_likelihood: LogLikelihood,
         beta: float = 1.0, generator: torch.Generator | None = None):
    """One-sample ELBO per example, with the KL in closed form: returns (elbo, rec, kl), each (N,).

    ``rec`` $= \\log p_\\theta(x \\mid z)$ at $z = \\mu + \\sigma\\varepsilon$; ``elbo`` $=$ rec $- \\beta\\,$kl
    (the $\\beta$-VAE objective of Higgins et al., 2017; $\\beta = 1$ is the ELBO proper).
    """
    check_number(beta, "beta", 0)
    z = reparameterize(mu, logvar, generator)
    rec = log_likelihood(x, z)
    kl = gaussian_kl(mu, logvar)
    return rec - beta * kl, rec, kl


def iwae_bound(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, log_likelihood: LogLikelihood,
               K: int, generator: torch.Generator | None = None, max_decodes: int = 65536) -> torch.Tensor:
    """The importance-weighted bound (Burda et al., 2016) per example. (N,)

    $\\mathrm{ELBO}_K(x) = \\mathbb E\\big[\\log \\tfrac1K \\sum_{k=1}^K \\tfrac{p_\\theta(x\\mid z_k)\\,p(z_k)}{q_\\phi(z_k\\mid x)}\\big]$,
    $z_k \\sim q_\\phi(z\\mid x)$. $\\mathrm{ELBO}_1$ is the ELBO, $\\mathrm{ELBO}_K \\le \\mathrm{ELBO}_{K+1}$, and
    $\\mathrm{ELBO}_K \\to \\log p_\\theta(x)$ as $K \\to \\infty$.

    The K*N decodes run in chunks of at most ``max_decodes`` rows, or N if N is larger (all of them
    at once would hold K*N decoded images: 3 GB per copy for K = 1000 on 1,000 MNIST images), and the sum over k is
    accumulated as a running log-sum-exp. The codes z are drawn all at once, so the result does
    not depend on the chunk size.
    """
    check_int(K, "K", low=1)
    check_int(max_decodes, "max_decodes", low=1)
    check_tensor(mu, "mu", ndim=2, floating=True, what="means (N, D)")
    check_tensor(logvar, "logvar", ndim=2, floating=True, what="log-variances (N, D)")
    if logvar.shape != mu.shape or len(x) != len(mu):
        raise ValueError(f"x, mu and logvar must describe the same N examples, got shapes {tuple(x.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    N, D = mu.shape
    z = reparameterize(mu.expand(K, N, D), logvar.expand(K, N, D), generator)   # (K, N, D): K*N*D numbers only
    log_w_sum = torch.full((N,), float("-inf"), dtype=mu.dtype, device=mu.device)  # log sum_k w_k so far
    step = max(1, max_decodes // N)                                             # samples per chunk
    for k0 in range(0, K, step):
        zk = z[k0:k0 + step]                                                    # (k, N, D)
        k = len(zk)
        x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(k * N, *x.shape[1:])  # (k*N, ...)
        log_lik = log_likelihood(x_rep, zk.reshape(k * N, D)).reshape(k, N)
        # log w = log p(x|z) + log p(z) - log q(z|x)
        log_w = log_lik + log_normal(zk) - log_normal(zk, mu, logvar)           # (k, N)
        log_w_sum = torch.logaddexp(log_w_sum, torch.logsumexp(log_w, dim=0))
    return log_w_sum - math.log(K)


@dataclass(frozen=True)
class VAEConfig:
    arch: str = "mlp"            # "mlp" (784-hidden-latent) or "conv" (two stride-2 convolutions)
    latent_dim: int = 20
    hidden: int = 400            # MLP width; the conv model uses hidden // 8 and hidden // 4 channels
    decoder: str = "bernoulli"   # "bernoulli" (binary cross-entropy) or "gaussian" (learned global sigma)
    beta: float = 1.0

    def __post_init__(self):
        plain_fields(self)
        check_choice(self.arch, "VAEConfig.arch", ("mlp", "conv"))
        check_choice(self.decoder, "VAEConfig.decoder", ("bernoulli", "gaussian"))
        check_int(self.latent_dim, "VAEConfig.latent_dim", low=1)
        check_int(self.hidden, "VAEConfig.hidden", low=8 if self.arch == "conv" else 1,
                  fix="the conv model uses hidden // 8 channels, so it needs hidden >= 8")
        check_number(self.beta, "VAEConfig.beta", 0)


class VAE(nn.Module):
    """A VAE for 28x28 single-channel images with pixel values in [0, 1]."""

    def __init__(self, cfg: VAEConfig = VAEConfig()):
        super().__init__()
        self.cfg = cfg
        H, L = cfg.hidden, cfg.latent_dim
        if cfg.arch == "mlp":
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, H), nn.ReLU())
            self.decoder = nn.Sequential(nn.Linear(L, H), nn.ReLU(), nn.Linear(H, 784), nn.Unflatten(1, (1, 28, 28)))
            feat = H
        else:
            c1, c2 = H // 8, H // 4
            self.encoder = nn.Sequential(
                nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(),     # 28x28 => 14x14
                nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),    # 14x14 => 7x7
                nn.Flatten(), nn.Linear(c2 * 49, H), nn.ReLU())
            self.decoder = nn.Sequential(
                nn.Linear(L, H), nn.ReLU(), nn.Linear(H, c2 * 49), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
                nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),  # 7x7 => 14x14
                nn.ConvTranspose2d(c1, 1, 4, 2, 1))               # 14x14 => 28x28
            feat = H
        self.to_mu, self.to_logvar = nn.Linear(feat, L), nn.Linear(feat, L)
        self.log_sigma = nn.Parameter(torch.tensor(-1.0)) if cfg.decoder == "gaussian" else None

    def _check(self, x: torch.Tensor) -> None:
        check_images(x, "x", like=self.to_mu.weight)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """$q_\\phi(z\\mid x)$ as (mu, logvar), each (N, latent_dim)."""
        self._check(x)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits, or Gaussian means, of $p_\\theta(x\\mid z)$. (N, 1, 28, 28)"""
        check_tensor(z, "z", floating=True, like=self.to_mu.weight, what=f"latent codes (N, {self.cfg.latent_dim})")
        if z.dim() != 2 or z.shape[1] != self.cfg.latent_dim:
            raise ValueError(f"z must be latent codes of shape (N, {self.cfg.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """$\\log p_\\theta(x \\mid z)$ summed over pixels, in nats. (N,)"""
        out = self.decode(z)
        if self.cfg.decoder == "bernoulli":
            # sum_i x_i log p_i + (1 - x_i) log(1 - p_i), with p = sigmoid(logits)
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        log_sigma = self.log_sigma.expand_as(out)
        return -(0.5 * LOG_2PI + log_sigma + 0.5 * ((x - out) / log_sigma.exp()).pow(2)).flatten(1).sum(1)

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """(elbo, rec, kl) per image, with this model's beta."""
        mu, logvar = self.encode(x)
        return elbo(x, mu, logvar, self.log_likelihood, self.cfg.beta, generator)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The training loss: the negative (beta-)ELBO in nats per image."""
        if y is not None:
            fail("y", "None: this VAE is unconditional and takes no labels", "labels",
                 "Build the batches from the images alone, Batches(x, batch_size=...)")
        return -self.elbo(x)[0].mean()

    @torch.no_grad()
    def test_elbo(self, x: torch.Tensor, batch_size: int = 2000) -> tuple[float, float, float]:
        """Mean (elbo, rec, kl) over a dataset, in nats per image; each batch draws its own seeded z."""
        check_int(batch_size, "batch_size", low=1)
        self._check(x)
        parts = [self.elbo(x[i:i + batch_size], torch.Generator().manual_seed(i)) for i in range(0, len(x), batch_size)]
        elbo_, rec, kl = (torch.cat(t).mean().item() for t in zip(*parts))
        return elbo_, rec, kl

    @torch.no_grad()
    def iwae(self, x: torch.Tensor, K: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted estimate of $\\log p_\\theta(x)$ with K samples. (N,)"""
        mu, logvar = self.encode(x)
        return iwae_bound(x, mu, logvar, self.log_likelihood, K, generator)

    @torch.no_grad()
    def mean_image(self, z: torch.Tensor) -> torch.Tensor:
        """$\\mathbb E[x \\mid z]$, the picture usually shown for a code: pixel probabilities or means."""
        out = self.decode(z)
        return out.sigmoid() if self.cfg.decoder == "bernoulli" else out.clamp(0, 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode $z \\sim \\mathcal N(0, I)$ to mean images. (n, 1, 28, 28)"""
        check_int(n, "n", low=1)
        z = torch.randn(n, self.cfg.latent_dim, generator=generator).to(self.to_mu.weight.device)
        return self.mean_image(z)
