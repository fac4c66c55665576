"""Self-checks for Chapter 8b: memorization and privacy."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, run_cases


def canary_exposure(fn: Callable) -> CheckResult:
    """``fn(canary_logprob, candidate_logprobs)``: exposure in bits, log2 |R| - log2 rank, where the
    rank is 1 + the number of candidates strictly more likely than the canary."""
    lp = torch.tensor([-1.0, -2.0, -3.0, -5.0, -5.5, -6.0, -7.0, -8.0])
    cases = [((-5.0, lp), 1.0), ((-1.0, lp), 3.0), ((-8.0, lp), 0.0),
             ((-2.0, torch.tensor([-2.0, -2.0, -9.0, -9.0])), 2.0),     # a tie does not push the rank down
             ((-0.5, torch.linspace(-0.5, -40.0, 1000)), math.log2(1000))]
    return run_cases("canary_exposure", lambda c, cands: float(fn(c, cands.clone())), cases,
                     "count the candidates with a strictly larger log-probability than the canary: rank = 1 + "
                     "that count; exposure = log2(len(candidates)) - log2(rank).")


def dp_auroc_bound(fn: Callable) -> CheckResult:
    """``fn(epsilon)``: the largest AUROC any membership attack can reach against an
    (epsilon, 0)-DP training algorithm, e^eps / (1 + e^eps)."""
    cases = [((e,), math.exp(e) / (1 + math.exp(e))) for e in (0.0, 0.5, 1.0, 2.0, 8.0)]
    return run_cases("dp_auroc_bound", lambda e: float(fn(e)), cases,
                     "the ROC curve is at most min(e^eps FPR, 1 - e^-eps (1 - FPR)); the two lines meet at FPR = "
                     "1 / (1 + e^eps). Add up the area under the two pieces.", atol=1e-6)
