"""Self-checks for Chapter 2: likelihood, autoencoders and VAEs."""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, run_cases


def gaussian_kl(fn: Callable) -> CheckResult:
    """``fn(mu_q, logvar_q, mu_p, logvar_p)``: $\\mathrm{KL}(\\mathcal N(\\mu_q, \\operatorname{diag}e^{\\text{logvar}_q})
    \\Vert \\mathcal N(\\mu_p, \\operatorname{diag}e^{\\text{logvar}_p}))$ per row, shape (N,). The general form of the
    VAE's KL term (a learned prior instead of N(0, I)), so the notebook's own N(0, I) code does not pass."""
    g = torch.Generator().manual_seed(2)
    cases = []
    for shape in [(1, 1), (4, 3), (2, 20)]:
        mu_q, lv_q, mu_p, lv_p = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(4))
        ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu_q, (0.5 * lv_q).exp()),
                                                torch.distributions.Normal(mu_p, (0.5 * lv_p).exp())).sum(-1)
        cases.append(((mu_q, lv_q, mu_p, lv_p), ref))
    return run_cases("gaussian_kl", fn, cases,
                     "per dimension KL = 1/2 (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1), "
                     "summed over the last dimension (one number per row). With mu_p = 0, logvar_p = 0 it must "
                     "reduce to the notebook's N(0, I) formula.")


def reparameterize(fn: Callable) -> CheckResult:
    """``fn(mu, logvar, eps)``: $z = \\mu + \\sigma\\varepsilon$ with $\\sigma = e^{\\text{logvar}/2}$, differentiable in mu and logvar."""
    name, hint = "reparameterize", "sigma = exp(logvar / 2) (the standard deviation, not the variance); z = mu + sigma * eps."
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(5, 2, generator=g, dtype=torch.float64)
    result = run_cases(name, fn, [((mu, logvar, eps), (mu + (0.5 * logvar).exp() * eps).detach())], hint)
    if not result:
        return result
    z = fn(mu, logvar, eps)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return CheckResult(name, False, "z has no gradient: build it from mu and logvar with tensor operations. Hint: " + hint)
    z.sum().backward()
    if not torch.allclose(logvar.grad, 0.5 * (0.5 * logvar).exp().detach() * eps):
        return CheckResult(name, False, "the gradient with respect to logvar is wrong. Hint: " + hint)
    return CheckResult(name, True, "correct values and gradients.")


def batch_elbo(fn: Callable) -> CheckResult:
    """``fn(x, logits, mu, logvar)``: mean ELBO (nats per image) of a batch, Bernoulli decoder, closed-form KL."""
    g = torch.Generator().manual_seed(4)
    x = torch.rand(6, 1, 28, 28, generator=g, dtype=torch.float64)
    logits = torch.randn(6, 1, 28, 28, generator=g, dtype=torch.float64)
    mu, logvar = torch.randn(6, 8, generator=g, dtype=torch.float64), torch.randn(6, 8, generator=g, dtype=torch.float64)
    rec = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
    return run_cases("batch_elbo", fn, [((x, logits, mu, logvar), (rec - kl).mean())],
                     "per image: rec = sum over pixels of x log p + (1 - x) log(1 - p) (minus BCE with logits, "
                     "reduction='none', summed over pixels), minus the closed-form KL; then average over the batch. "
                     "A common mistake is averaging over pixels instead of summing.")


def iwae_from_log_weights(fn: Callable) -> CheckResult:
    """``fn(log_w)``: $\\log \\frac1K\\sum_k w_k$ per column from log-weights of shape (K, N), computed stably."""
    g = torch.Generator().manual_seed(5)
    log_w = torch.randn(7, 3, generator=g, dtype=torch.float64) * 2 - 1000.0  # exp() underflows even in float64
    cases = [((log_w,), torch.logsumexp(log_w, 0) - torch.log(torch.tensor(7.0, dtype=torch.float64))),
             ((log_w[:1],), log_w[0])]
    return run_cases("iwae_from_log_weights", fn, cases,
                     "log (1/K) sum_k exp(log_w_k) = logsumexp(log_w, dim=0) - log K; exp() of numbers near -1000 "
                     "underflows, so never leave log space.")
