"""Self-checks for Chapter 8a: evaluating generated content with people and metrics."""
from __future__ import annotations

import math
from collections.abc import Callable

from .core import CheckResult, run_cases


def _wilson(k: int, n: int, z: float) -> list[float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [centre - half, centre + half]


def wilson_interval(fn: Callable) -> CheckResult:
    """``fn(k, n, z)``: Wilson's interval (low, high) for k successes in n trials."""
    cases = [((k, n, z), _wilson(k, n, z))
             for k, n, z in ((8, 20, 1.96), (0, 10, 1.96), (10, 10, 1.96), (37, 100, 1.645), (1, 3, 2.576))]
    return run_cases("wilson_interval", lambda k, n, z: [float(v) for v in fn(k, n, z)], cases,
                     "with p = k / n: centre (p + z^2 / 2n) / (1 + z^2 / n), half-width "
                     "z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2); at k = 0 the interval "
                     "starts at 0 but is not a point.")


def kappa_from_table(fn: Callable) -> CheckResult:
    """``fn(table)``: Cohen's kappa from a square table of counts (rows: rater A, columns: B)."""
    cases = [(([[20, 5], [10, 15]],), 0.4),                  # p_o = 0.7, p_e = 0.5
             (([[10, 0], [0, 30]],), 1.0),                   # perfect agreement
             (([[25, 25], [25, 25]],), 0.0),                 # chance
             (([[0, 10], [10, 0]],), -1.0),                  # always disagree
             # asymmetric marginals (rows 0.6/0.4, columns 0.7/0.3): p_o = 0.6, p_e = 0.54;
             # rows squared would give 0.167, Scott's pi 0.121, Bennett's S 0.2
             (([[45, 15], [25, 15]],), (0.6 - 0.54) / (1 - 0.54)),
             (([[5, 1, 0], [1, 4, 2], [0, 1, 6]],), (15 / 20 - (6 * 6 + 7 * 6 + 7 * 8) / 400)
              / (1 - (6 * 6 + 7 * 6 + 7 * 8) / 400))]
    return run_cases("kappa_from_table", lambda t: float(fn([list(r) for r in t])), cases,
                     "p_o is the diagonal's share of all counts; p_e is the sum over categories of "
                     "(row share) x (column share); kappa = (p_o - p_e) / (1 - p_e).")
