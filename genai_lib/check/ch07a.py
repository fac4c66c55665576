"""Self-checks for Chapter 7a: applications in sequences (poetry)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, run_cases


def unigram_nll(fn: Callable) -> CheckResult:
    """``fn(train_ids, test_ids, vocab_size)``: the mean negative log-likelihood (nats) of ``test_ids``
    under the add-one-smoothed unigram of ``train_ids``: p(c) = (count(c) + 1) / (N + V)."""
    train, V = torch.tensor([0, 0, 1, 2]), 4               # counts 2, 1, 1, 0; N + V = 8
    cases = [((train, torch.tensor([0]), V), -math.log(3 / 8)),
             ((train, torch.tensor([3, 3]), V), -math.log(1 / 8)),              # unseen: count 0 + 1
             ((train, torch.tensor([0, 1, 2, 3]), V), -(math.log(3 / 8) + 2 * math.log(2 / 8) + math.log(1 / 8)) / 4),
             ((torch.tensor([0]), torch.tensor([0, 0]), 1), 0.0)]                # one symbol: certainty
    return run_cases("unigram_nll", lambda a, b, v: float(fn(a, b, v)), cases,
                     "count each id in the training ids with torch.bincount(train_ids, minlength=V), add one to "
                     "every count, divide by the total, then average -log p over the test ids.")


def constrained_probs(fn: Callable) -> CheckResult:
    """``fn(probs, allowed)``: the next-token distribution after a constraint: the probabilities of the
    allowed tokens (a boolean mask of the same shape) renormalised to sum to one, the others zero."""
    p = torch.tensor([[0.5, 0.2, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    m = torch.tensor([[True, False, True, False], [False, False, False, True]])
    cases = [((p, m), [[0.5 / 0.7, 0.0, 0.2 / 0.7, 0.0], [0.0, 0.0, 0.0, 1.0]]),
             ((p[:1], torch.ones(1, 4, dtype=torch.bool)), p[:1])]                # no constraint: unchanged
    return run_cases("constrained_probs", lambda a, b: fn(a, b), cases,
                     "zero the probabilities of the tokens that are not allowed (probs * allowed), then divide "
                     "each row by its new sum (keepdim=True).")
