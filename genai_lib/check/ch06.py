"""Self-checks for Chapter 6: data, the first step of generative AI."""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, run_cases


def detector_scores(fn: Callable) -> CheckResult:
    """``fn(flags, truth)``: (precision, recall) of a detector, precision 0 when nothing is flagged."""
    t, f = True, False
    cases = [
        ((torch.tensor([t, t, f, f]), torch.tensor([t, f, t, f])), (0.5, 0.5)),
        ((torch.tensor([t, t, t, f]), torch.tensor([t, t, f, f])), (2 / 3, 1.0)),
        ((torch.tensor([f, f, f, f]), torch.tensor([t, f, f, f])), (0.0, 0.0)),
        ((torch.tensor([t, f, f, f, f]), torch.tensor([t, t, t, t, f])), (1.0, 0.25)),
    ]
    return run_cases("detector_scores", fn, cases,
                     "precision = (flagged and bad) / flagged; recall = (flagged and bad) / bad.")


def balancing_weights(fn: Callable) -> CheckResult:
    """``fn(y, n_classes)``: per-example sampling weights, summing to 1, that give every present class
    the same total weight (classes absent from ``y`` get none). (N,)"""
    cases = [
        ((torch.tensor([0, 0, 0, 1]), 2), [1 / 6, 1 / 6, 1 / 6, 1 / 2]),
        ((torch.tensor([2, 0, 2, 2, 0]), 3), [1 / 6, 1 / 4, 1 / 6, 1 / 6, 1 / 4]),
        ((torch.tensor([1, 1]), 4), [0.5, 0.5]),
    ]
    return run_cases("balancing_weights", fn, cases,
                     "weight each example by 1 / (the count of its class), then divide by the number of classes "
                     "present so that the weights sum to 1.")
