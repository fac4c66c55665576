"""Self-checks for Chapter 1: what generative AI is."""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, run_cases


def gaussian_log_density(fn: Callable) -> CheckResult:
    """``fn(x, mu, sigma)``: elementwise $\\log\\mathcal N(x;\\mu,\\sigma^2)$."""
    def ref(x, mu, sigma):
        return torch.distributions.Normal(mu, sigma).log_prob(x)
    cases = []
    for x, mu, sigma in [(0.0, 0.0, 1.0), (1.5, -0.5, 2.0), ([0.1, 3.0, -2.0], [0.0, 1.0, -1.0], [0.5, 1.0, 3.0])]:
        x, mu, sigma = (torch.tensor(v, dtype=torch.float64) for v in (x, mu, sigma))
        cases.append(((x, mu, sigma), ref(x, mu, sigma)))
    return run_cases("gaussian_log_density", fn, cases,
                     "log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log(sigma) - log(2 pi) / 2.")


def bayes_posterior(fn: Callable) -> CheckResult:
    """``fn(log_lik, log_prior)``: posterior $p(y\\mid x)$ (N, C) from $\\log p(x\\mid y)$ (N, C) and $\\log p(y)$ (C,)."""
    g = torch.Generator().manual_seed(1)
    log_lik = torch.randn(5, 3, generator=g, dtype=torch.float64) * 3
    log_prior = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64).log()
    far = log_lik - 1000.0  # tiny likelihoods: exp() underflows to 0 unless you work in logs
    cases = [((log_lik, log_prior), (log_lik + log_prior).softmax(1)),
             ((far, log_prior), (far + log_prior).softmax(1))]
    return run_cases("bayes_posterior", fn, cases,
                     "p(y|x) = p(x|y) p(y) / sum_y' p(x|y') p(y'); add the logs, then normalise over classes "
                     "with logsumexp (or softmax) so that very small likelihoods do not underflow.")


def gaussian_sample(fn: Callable) -> CheckResult:
    """``fn(mu, L, n, generator)``: n samples of $\\mathcal N(\\mu, LL^\\top)$ as $x = \\mu + L\\varepsilon$."""
    name, hint = "gaussian_sample", "draw eps ~ N(0, I) with torch.randn(n, d, generator=generator), then x = mu + eps @ L.T."
    mu = torch.tensor([1.0, -2.0])
    L = torch.tensor([[1.0, 0.0], [0.8, 0.5]])
    n = 20000
    try:
        x = torch.as_tensor(fn(mu, L, n, torch.Generator().manual_seed(0)), dtype=torch.float64)
    except NotImplementedError:
        return CheckResult(name, False, "not implemented yet: fill in the exercise cell above and run it.")
    except Exception as e:
        return CheckResult(name, False, f"your function raised {type(e).__name__}: {e}. Hint: {hint}")
    if tuple(x.shape) != (n, 2):
        return CheckResult(name, False, f"expected shape ({n}, 2), got {tuple(x.shape)}. Hint: {hint}")
    mean_err = (x.mean(0) - mu).abs().max().item()
    cov_err = (torch.cov(x.T) - (L @ L.T).double()).abs().max().item()
    # Standard errors at n = 20000 are about 0.01: 0.05 is five of them.
    if mean_err > 0.05:
        return CheckResult(name, False, f"the sample mean is off by {mean_err:.3f}. Hint: {hint}")
    if cov_err > 0.05:
        return CheckResult(name, False, f"the sample covariance is off by {cov_err:.3f} (is it L L^T?). Hint: {hint}")
    return CheckResult(name, True, f"mean and covariance of {n} samples match N(mu, L L^T).")


def gaussian_parameter_count(fn: Callable) -> CheckResult:
    """``fn(d, n_classes)``: parameters of a class-conditional full-covariance Gaussian model."""
    cases = [((d, c), c * (d + d * (d + 1) // 2) + (c - 1)) for d, c in [(2, 2), (64, 10), (784, 10)]]
    return run_cases("gaussian_parameter_count", fn, cases,
                     "each class has a mean (d numbers) and a symmetric covariance (d(d+1)/2 numbers); "
                     "the class prior adds n_classes - 1 free numbers.")
