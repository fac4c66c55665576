"""Self-checks for Chapter 7f: applications in sequences (raw audio)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, run_cases


def mu_law_codes(fn: Callable) -> CheckResult:
    """``fn(x, mu)``: the mu-law codes 0..mu of a waveform ``x`` in [-1, 1]:
    F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu), then q = floor((F(x) + 1) / 2 * mu + 1/2)."""

    def ref(x, mu):
        f = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
        return ((f + 1) / 2 * mu + 0.5).floor()

    x = torch.tensor([-1.0, -0.5, -0.01, 0.0, 0.001, 0.01, 0.1, 0.5, 1.0])
    cases = [((x, 255), [0, 16, 98, 128, 133, 157, 203, 239, 255]),   # pinned by hand for mu = 255
             ((x, 15), ref(x, 15)),                                       # 16 levels
             ((torch.linspace(-1, 1, 101), 255), ref(torch.linspace(-1, 1, 101), 255))]
    return run_cases("mu_law_codes", lambda x, mu: torch.as_tensor(fn(x.clone(), mu)).double(), cases,
                     "compand first, F(x) = sign(x) * log1p(mu * |x|) / log1p(mu), which lies in [-1, 1]; "
                     "then map [-1, 1] to [0, mu] and round to the nearest integer: floor((F + 1) / 2 * mu + 0.5).",
                     atol=0, rtol=0)


def receptive_field_size(fn: Callable) -> CheckResult:
    """``fn(kernel_size, dilations)``: how many input samples one output of a stack of causal
    convolutions with these dilations sees: (kernel_size - 1) * sum(dilations) + 1."""
    cases = [((2, [1]), 2), ((2, [1, 2, 4, 8]), 16), ((3, [1, 2, 4]), 15),
             ((2, [1] + [1, 2, 4, 8, 16, 32, 64, 128]), 257),             # the course's default WaveNet
             ((2, [1, 2, 4, 1, 2, 4]), 15), ((4, [1, 1, 1]), 10)]
    return run_cases("receptive_field_size", lambda k, d: int(fn(k, list(d))), cases,
                     "each causal convolution with kernel k and dilation d looks (k - 1) * d samples further "
                     "back; the stack adds these up, plus the current sample itself.")
