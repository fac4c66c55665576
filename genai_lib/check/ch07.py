"""Self-checks for Chapter 7: applications (editing images, synthetic data, detection)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, run_cases


def noise_level_step(fn: Callable) -> CheckResult:
    """``fn(alpha_bar, sigma)``: the 0-based index whose noise-to-signal ratio
    sqrt((1 - alpha_bar) / alpha_bar) is closest to ``sigma`` (an int)."""
    ab = torch.tensor([0.99, 0.9, 0.5, 0.2, 0.01], dtype=torch.float64)  # ratios 0.1005, 0.333, 1, 2, 9.95
    cases = [((ab, 0.1), 0), ((ab, 0.3), 1), ((ab, 1.2), 2), ((ab, 2.5), 3), ((ab, 50.0), 4)]
    return run_cases("noise_level_step", lambda a, s: float(fn(a, s)), cases,
                     "x0 + sigma * eps, scaled by sqrt(alpha_bar), is a diffusion state when "
                     "(1 - alpha_bar) / alpha_bar = sigma^2: compare sqrt((1 - alpha_bar) / alpha_bar) with sigma, "
                     "not alpha_bar itself.")


def repaint_jump(fn: Callable) -> CheckResult:
    """``fn(x_prev, ab_t, ab_prev, noise)``: a draw of q(x_t | x_prev) for the later step t
    (ab_t < ab_prev): sqrt(ab_t / ab_prev) x_prev + sqrt(1 - ab_t / ab_prev) noise."""
    x, z = torch.tensor([1.0, -0.5, 0.0]), torch.tensor([0.3, 1.0, -2.0])
    cases = [((x, 0.5, 0.8, z), math.sqrt(0.625) * x + math.sqrt(0.375) * z),
             ((x, 0.9, 0.9, z), x),                                   # no jump: nothing changes
             ((x, 1e-4, 1.0, z), 0.01 * x + math.sqrt(1 - 1e-4) * z)]  # from data to almost pure noise
    return run_cases("repaint_jump", fn, cases,
                     "the forward process from step t' to t multiplies by sqrt(alpha_bar_t / alpha_bar_t') and "
                     "adds noise of variance 1 - alpha_bar_t / alpha_bar_t' (the two variances add to one).")


def ks_statistic(fn: Callable) -> CheckResult:
    """``fn(a, b)``: the two-sample Kolmogorov-Smirnov statistic, the largest gap between the two
    empirical distribution functions (1-D arrays or tensors)."""
    cases = [((torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])), 0.0),
             ((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0, 5.0])), 1.0),
             ((torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([2.5, 10.0])), 0.5),
             ((torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 1.0])), 1 / 3),
             ((torch.tensor([3.0, 4.0, 5.0]), torch.tensor([1.0, 2.0])), 1.0),      # the gap the other way round
             ((torch.tensor([5.0]), torch.tensor([1.0])), 1.0)]
    return run_cases("ks_statistic", lambda a, b: float(fn(a, b)), cases,
                     "evaluate both empirical CDFs at every observed value (of either sample) and take the largest "
                     "absolute difference; ties: F(v) counts the values <= v.")


def auroc(fn: Callable) -> CheckResult:
    """``fn(scores_pos, scores_neg)``: the area under the ROC curve, which equals the probability
    that a random positive scores higher than a random negative (ties count one half)."""
    cases = [((torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])), 1.0),
             ((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])), 0.0),
             ((torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])), 0.5),
             ((torch.tensor([2.0, 2.0, 5.0]), torch.tensor([2.0, 1.0])), 5 / 6)]
    return run_cases("auroc", lambda p, n: float(fn(p, n)), cases,
                     "compare every positive with every negative: count 1 when the positive scores higher, 1/2 "
                     "for a tie, then divide by the number of pairs.")


def cost_per_1000(fn: Callable) -> CheckResult:
    """``fn(samples_per_second, price_per_hour)``: dollars for 1,000 samples on a machine that is busy
    with nothing else: price_per_hour / 3600 * 1000 / samples_per_second."""
    cases = [((100.0, 3.6), 0.01), ((2.0, 2.5), 2.5 / 3.6 / 2.0), ((1000.0, 0.1), 0.1 / 3600)]
    return run_cases("cost_per_1000", lambda r, p: float(fn(r, p)), cases,
                     "1,000 samples take 1000 / rate seconds, and a second costs price / 3600.")


def typicality_score(fn: Callable) -> CheckResult:
    """``fn(nll, entropy, m)``: Nalisnick et al.'s typicality statistic for consecutive batches of ``m``
    inputs: |mean negative log-likelihood of the batch - entropy estimate|, one value per batch."""
    nll = torch.tensor([1.0, 3.0, 2.0, 2.0, 10.0, 0.0])
    cases = [((nll, 2.0, 1), [1.0, 1.0, 0.0, 0.0, 8.0, 2.0]), ((nll, 2.0, 2), [0.0, 0.0, 3.0]),
             ((nll, 3.0, 3), [1.0, 1.0])]
    return run_cases("typicality_score", lambda a, h, m: fn(a, h, m), cases,
                     "reshape the scores into rows of m (nll.view(-1, m)), average each row, subtract the entropy "
                     "and take the absolute value: a batch is atypical when its average is too high *or* too low.")
