"""Self-checks for Chapter 8c: watermarks, detectors and responsibility."""
from __future__ import annotations

import math
from typing import Callable

from .core import CheckResult, run_cases


def watermark_z(fn: Callable) -> CheckResult:
    """``fn(green, T, gamma)``: the z-score of ``green`` green tokens among ``T`` scored tokens when
    each is green with probability gamma: (green - gamma T) / sqrt(T gamma (1 - gamma))."""
    def z(green, T, gamma):
        return (green - gamma * T) / math.sqrt(T * gamma * (1 - gamma))

    cases = [((50, 200, 0.25), 0.0),                                     # exactly the expected count
             ((100, 200, 0.25), z(100, 200, 0.25)),                      # 8.165
             ((30, 200, 0.25), z(30, 200, 0.25)),                        # below chance: negative
             ((9, 16, 0.5), 0.5), ((20, 100, 0.1), z(20, 100, 0.1))]
    return run_cases("watermark_z", lambda g, T, gamma: float(fn(g, T, gamma)), cases,
                     "subtract the expected count gamma * T and divide by the binomial standard deviation "
                     "sqrt(T * gamma * (1 - gamma)).")


def green_share_needed(fn: Callable) -> CheckResult:
    """``fn(z, T, gamma)``: the share of green tokens a text of T scored tokens needs to reach the
    z-score z: gamma + z sqrt(gamma (1 - gamma) / T)."""
    def share(z, T, gamma):
        return gamma + z * math.sqrt(gamma * (1 - gamma) / T)

    cases = [((4.0, 200, 0.25), share(4.0, 200, 0.25)),                  # 0.3725
             ((4.0, 25, 0.25), share(4.0, 25, 0.25)),                    # 0.5964: short texts need many
             ((0.0, 100, 0.25), 0.25), ((2.0, 400, 0.5), 0.55),
             ((4.0, 1000, 0.1), share(4.0, 1000, 0.1))]
    return run_cases("green_share_needed", lambda z, T, gamma: float(fn(z, T, gamma)), cases,
                     "solve z = (s T - gamma T) / sqrt(T gamma (1 - gamma)) for the share s = green / T.")
