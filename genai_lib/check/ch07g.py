"""Self-checks for Chapter 7g: applications in sequences (video)."""
from __future__ import annotations

from typing import Callable

import math

import torch

from .core import CheckResult, run_cases


def reflect_position(fn: Callable) -> CheckResult:
    """``fn(u, L)``: where a point that would be at ``u`` without walls is, bouncing elastically
    between walls at 0 and ``L``: the triangle wave L - |(u mod 2L) - L|, for tensors ``u``."""
    u = torch.tensor([0.0, 3.0, 10.0, 12.0, 17.0, 20.0, 23.5, 40.0, 45.0, -3.0, -22.0])
    cases = [((u, 20), [0.0, 3.0, 10.0, 12.0, 17.0, 20.0, 16.5, 0.0, 5.0, 3.0, 18.0]),
             ((torch.tensor([5.0, 9.0, 13.0, 100.0]), 4), [3.0, 1.0, 3.0, 4.0]),   # several bounces
             ((torch.tensor([2.5]), 2.5), [2.5])]
    return run_cases("reflect_position", lambda u, L: fn(u.clone(), L), cases,
                     "fold u into one period [0, 2L) with torch.remainder (also for negative u), then "
                     "reflect the upper half: L - |f - L|.")


def shift_responsibilities(fn: Callable) -> CheckResult:
    """``fn(log_pi, err, sigma)``: the posterior over shifts given the next frame,
    r_d = softmax_d(log pi_d - err_d / (2 sigma^2)), for (N, D) tensors."""
    log_pi = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    err = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 2.0]])
    e = torch.exp(torch.tensor(-1.0))                                     # err 2, sigma 1: exp(-1)
    cases = [((log_pi, err, 1.0), [[0.5, 0.25, 0.25],                     # equal errors: the prior
                                   [0.1 * e / (0.1 * e + 0.1 + 0.8 * e), 0.1 / (0.1 * e + 0.1 + 0.8 * e),
                                    0.8 * e / (0.1 * e + 0.1 + 0.8 * e)]]),
             ((log_pi[1:], torch.tensor([[0.0, 50.0, 50.0]]), 0.1), [[1.0, 0.0, 0.0]]),  # an exact match wins
             ((torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), 0.5), [[1 / (1 + math.e ** 2),
                                                                    1 - 1 / (1 + math.e ** 2)]])]
    return run_cases("shift_responsibilities", lambda lp, er, s: fn(lp.clone(), er.clone(), s), cases,
                     "Bayes' rule: add the log prior log_pi and the Gaussian log-likelihood -err / (2 sigma^2), "
                     "then normalise over the shifts (dim=-1) with a softmax.", atol=1e-6)
