"""Self-checks for Chapter 7b: applications in sequences (music)."""
from __future__ import annotations

from typing import Callable

import torch

from .core import CheckResult, run_cases


def midi_frequency(fn: Callable) -> CheckResult:
    """``fn(m)``: the frequency in Hz of MIDI pitch ``m`` in equal temperament, with A4 (m = 69) at
    440 Hz: f = 440 * 2 ** ((m - 69) / 12)."""
    cases = [((69,), 440.0), ((81,), 880.0), ((57,), 220.0),            # octaves double the frequency
             ((60,), 261.6255653005986), ((72,), 523.2511306011972), ((70,), 466.1637615180899)]
    return run_cases("midi_frequency", lambda m: float(fn(m)), cases,
                     "A4 is MIDI 69 at 440 Hz; each semitone multiplies the frequency by 2 ** (1 / 12), so "
                     "f = 440 * 2 ** ((m - 69) / 12).")


def add_k_probs(fn: Callable) -> CheckResult:
    """``fn(counts, k)``: the add-k smoothed next-token distribution from the counts (V,) of the
    tokens that followed one history: (counts + k) / (counts.sum() + k * V)."""
    c = torch.tensor([2.0, 1.0, 1.0, 0.0])                                # N = 4, V = 4
    cases = [((c, 1.0), [3 / 8, 2 / 8, 2 / 8, 1 / 8]),
             ((c, 0.5), [2.5 / 6, 1.5 / 6, 1.5 / 6, 0.5 / 6]),
             ((torch.tensor([5.0, 0.0, 1.0]), 0.5), [5.5 / 7.5, 0.5 / 7.5, 1.5 / 7.5]),  # N = 6, V = 3
             ((torch.zeros(5), 0.1), [0.2] * 5),                            # a history never seen: uniform
             ((torch.tensor([10.0, 0.0]), 1e-6), [(10 + 1e-6) / (10 + 2e-6), 1e-6 / (10 + 2e-6)])]
    return run_cases("add_k_probs", lambda counts, k: fn(counts.clone(), k), cases,
                     "add k to every count (also the zeros) and divide by the new total, counts.sum() + k * V, "
                     "where V = len(counts); the result sums to one.", atol=1e-7)
