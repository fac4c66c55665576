"""Self-checks for Chapter 4: generative adversarial networks."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, run_cases


def discriminator_loss(fn: Callable) -> CheckResult:
    """``fn(real_logits, fake_logits)``: $-\\overline{\\log D(x)} - \\overline{\\log(1 - D(G(z)))}$ with $D = \\sigma(\\ell)$,
    finite at any logit."""
    from ..models.gan import d_loss
    real = torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64)
    fake = torch.tensor([0.5, -3.0, 1.0], dtype=torch.float64)
    extreme = torch.tensor([-200.0, 200.0], dtype=torch.float64)
    cases = [((real, fake), d_loss(real, fake)), ((extreme, extreme), d_loss(extreme, extreme))]
    return run_cases("discriminator_loss", fn, cases,
                     "log D = log sigmoid(l) = -softplus(-l) and log(1 - D) = -softplus(l); average each term over "
                     "its own batch. torch.log(torch.sigmoid(l)) gives -inf at l = -200.")


def optimal_discriminator(fn: Callable) -> CheckResult:
    """``fn(x, mu_data, sigma_data, mu_g, sigma_g)``: $D^*(x)$ for two 1-D Gaussians."""
    x = torch.linspace(-4, 4, 9, dtype=torch.float64)
    cases = []
    for mu_d, s_d, mu_g, s_g in ((0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 0.0, 2.0), (1.0, 0.5, -1.0, 0.5), (0.0, 1.0, 0.0, 1.0)):
        log_pd = torch.distributions.Normal(mu_d, s_d).log_prob(x)
        log_pg = torch.distributions.Normal(mu_g, s_g).log_prob(x)
        cases.append(((x, mu_d, s_d, mu_g, s_g), torch.sigmoid(log_pd - log_pg)))
    return run_cases("optimal_discriminator", fn, cases,
                     "D*(x) = p_data(x) / (p_data(x) + p_g(x)); with log-densities this is sigmoid(log p_data - log p_g), "
                     "which stays accurate in the tails where both densities underflow. Where p_g = p_data, D* = 1/2.")


def gradient_penalty(fn: Callable) -> CheckResult:
    """``fn(critic, real, fake, eps)``: WGAN-GP's mean of $(\\lVert\\nabla f(\\hat x)\\rVert - 1)^2$ at
    $\\hat x = \\epsilon x + (1 - \\epsilon)\\tilde x$ (``eps`` has shape (N, 1))."""
    g = torch.Generator().manual_seed(4)
    W1, W2 = torch.randn(3, 8, generator=g, dtype=torch.float64), torch.randn(8, 1, generator=g, dtype=torch.float64)

    def critic(x):
        return (torch.tanh(x @ W1) @ W2).squeeze(1)

    real, fake = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    eps = torch.rand(6, 1, generator=g, dtype=torch.float64)
    norms = []
    for i in range(6):  # the reference, one sample at a time
        x_hat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat[None]).sum(), x_hat)
        norms.append(grad.norm())
    expected = ((torch.stack(norms) - 1) ** 2).mean()

    def value(critic, real, fake, eps):
        return fn(critic, real, fake, eps).detach()
    return run_cases("gradient_penalty", value, [((critic, real, fake, eps), expected)],
                     "interpolate, call x_hat.requires_grad_(True), take torch.autograd.grad(critic(x_hat).sum(), x_hat, "
                     "create_graph=True), then the norm per sample (over all but the first dimension), minus 1, squared, "
                     "averaged.")


def slerp(fn: Callable) -> CheckResult:
    """``fn(z0, z1, t)``: spherical interpolation between two latent vectors, for t in [0, 1]."""
    import math
    z0 = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    z1 = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64)
    theta = math.pi / 2

    def reference(t):
        return (math.sin((1 - t) * theta) * z0 + math.sin(t * theta) * z1) / math.sin(theta)
    cases = [((z0, z1, t), reference(t)) for t in (0.0, 0.25, 0.5, 1.0)]
    return run_cases("slerp", fn, cases,
                     "theta = arccos(z0.z1 / (|z0| |z1|)); slerp = (sin((1-t) theta) z0 + sin(t theta) z1) / sin(theta). "
                     "At t = 0 it must return z0 and at t = 1 z1.")
