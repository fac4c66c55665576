"""Self-checks for Chapter 5: normalizing flows and diffusion."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, run_cases


def affine_flow_log_prob(fn: Callable) -> CheckResult:
    """``fn(x, scale, shift)``: $\\log p(x)$ when $x = \\text{scale} \\odot z + \\text{shift}$, $z \\sim \\mathcal N(0, I)$
    (``x`` (N, d), ``scale`` and ``shift`` (d,), scale > 0), by the change-of-variables formula."""
    g = torch.Generator().manual_seed(5)
    cases = []
    for d in (1, 3):
        x = torch.randn(4, d, generator=g, dtype=torch.float64) * 2
        scale = torch.rand(d, generator=g, dtype=torch.float64) * 2 + 0.2
        shift = torch.randn(d, generator=g, dtype=torch.float64)
        expected = torch.distributions.Normal(shift, scale).log_prob(x).sum(-1)
        cases.append(((x, scale, shift), expected))
    return run_cases("affine_flow_log_prob", fn, cases,
                     "invert: z = (x - shift) / scale; log p(x) = log N(z; 0, I) + log|det dz/dx| = "
                     "sum_j [-z_j^2/2 - log(2 pi)/2] - sum_j log scale_j. One number per row.")


def q_sample(fn: Callable) -> CheckResult:
    """``fn(x0, alpha_bar_t, noise)``: $\\sqrt{\\bar\\alpha_t}\\,x_0 + \\sqrt{1 - \\bar\\alpha_t}\\,\\epsilon$ (``alpha_bar_t`` (N,))."""
    g = torch.Generator().manual_seed(6)
    x0 = torch.rand(3, 1, 2, 2, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(3, 1, 2, 2, generator=g, dtype=torch.float64)
    ab = torch.tensor([0.99, 0.5, 0.01], dtype=torch.float64)
    expected = ab.sqrt().view(-1, 1, 1, 1) * x0 + (1 - ab).sqrt().view(-1, 1, 1, 1) * noise
    return run_cases("q_sample", fn, [((x0, ab, noise), expected)],
                     "the coefficients are square roots (of alpha_bar and of 1 - alpha_bar, so the variance adds to 1), "
                     "and alpha_bar_t has one value per image: reshape it to (N, 1, 1, 1) to broadcast.")


def alpha_bar(fn: Callable) -> CheckResult:
    """``fn(betas)``: $\\bar\\alpha_t = \\prod_{s \\le t}(1 - \\beta_s)$ for every t, a tensor like ``betas``."""
    cases = [((torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64),), torch.tensor([0.9, 0.72, 0.504], dtype=torch.float64))]
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    cases.append(((betas,), torch.cumprod(1 - betas, 0)))
    return run_cases("alpha_bar", fn, cases,
                     "alpha_t = 1 - beta_t and alpha_bar_t is the running product: torch.cumprod(1 - betas, dim=0). "
                     "The first entry is 1 - beta_1, not 1.", atol=1e-10, rtol=1e-8)


def ddim_step(fn: Callable) -> CheckResult:
    """``fn(x_t, eps, alpha_bar_t, alpha_bar_prev)``: one deterministic DDIM step ($\\eta = 0$), no clipping."""
    g = torch.Generator().manual_seed(7)
    x_t = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    cases = []
    for a_t, a_prev in ((0.3, 0.6), (0.01, 0.2), (0.9, 1.0)):
        x0 = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        cases.append(((x_t, eps, a_t, a_prev), math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps))
    return run_cases("ddim_step", fn, cases,
                     "first estimate x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), then re-noise it to the "
                     "earlier step with the same eps: sqrt(alpha_bar_prev) x0 + sqrt(1 - alpha_bar_prev) eps.")
