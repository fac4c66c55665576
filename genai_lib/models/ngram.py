"""An n-gram language model over token ids: add-k smoothing or linear interpolation of orders.

Token-agnostic: Chapter 7b uses it on melody tokens (genai_lib.music) as the baseline for the GPT.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..validate import check_int, check_labels, check_number, check_tensor, fail


@dataclass(frozen=True)
class NGramConfig:
    n: int = 4          # each token depends on the n - 1 tokens before it
    k: float = 0.1      # add-k smoothing: every count gets k, so no held-out token has probability 0
    # None: add-k smoothing of the n-gram counts alone. A tuple of n weights (summing to 1): linear
    # interpolation of the 1-, 2-, ..., n-gram estimates, the unigram add-k smoothed
    weights: tuple[float, ...] | None = None

    def __post_init__(self):
        check_int(self.n, "NGramConfig.n", low=1)
        check_number(self.k, "NGramConfig.k", 0, low_open=True, fix="k = 0 gives unseen tokens probability 0")
        if self.weights is not None and (
                not isinstance(self.weights, tuple) or len(self.weights) != self.n
                or any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in self.weights)
                or not math.isclose(sum(self.weights), 1.0, abs_tol=1e-6)):
            fail("NGramConfig.weights", f"None, or a tuple of n = {self.n} non-negative weights summing to 1",
                 repr(self.weights))


class NGram:
    """A Markov model of order n - 1 over token ids.

    With ``cfg.weights`` None, add-k smoothing:
    $p(x_t \\mid h) = (c(h, x_t) + k) / (c(h) + kV)$, $h = x_{t-n+1}, \\dots, x_{t-1}$.
    With weights $\\lambda_1, \\dots, \\lambda_n$, linear interpolation
    $p(x_t \\mid h) = \\sum_j \\lambda_j p_j(x_t \\mid h)$ of the order-$j$ estimates: $p_1$ the
    add-k smoothed unigram, $p_j = c_j(h, x) / c_j(h)$ for a seen history of $j - 1$ tokens, and
    $p_{j-1}$ for an unseen one.

    Every sequence starts with a context token (in Chapter 7b, the mode) that is not predicted;
    histories that reach before the start are padded with it.
    """

    def __init__(self, cfg: NGramConfig, vocab_size: int):
        if not isinstance(cfg, NGramConfig):
            fail("cfg", "an NGramConfig", type(cfg).__name__, error=TypeError)
        self.cfg, self.V = cfg, check_int(vocab_size, "vocab_size", low=1)
        self.counts: dict[tuple, np.ndarray] = {}       # every history of 0 .. n - 1 tokens

    def _histories(self, ids: list[int]):
        padded = [ids[0]] * (self.cfg.n - 1) + ids
        for t in range(1, len(ids)):
            yield tuple(padded[t:t + self.cfg.n - 1]), ids[t]   # the n - 1 tokens before ids[t]

    def fit(self, sequences: list[torch.Tensor]) -> NGram:
        for ids in self._check(sequences):
            for h, x in self._histories(ids):
                for j in range(len(h) + 1):                     # the last j tokens of h
                    self.counts.setdefault(h[len(h) - j:], np.zeros(self.V))[x] += 1
        return self

    def order_probs(self, history: tuple) -> np.ndarray:
        """(n, V): row j - 1 is the order-j estimate $p_j(\\cdot \\mid h)$ described above."""
        self._check_history(history)
        h, zero = tuple(history[len(history) - (self.cfg.n - 1):]) if self.cfg.n > 1 else (), np.zeros(self.V)
        c = self.counts.get((), zero)
        rows = [(c + self.cfg.k) / (c.sum() + self.cfg.k * self.V)]
        for j in range(1, self.cfg.n):
            c = self.counts.get(h[len(h) - j:])
            rows.append(c / c.sum() if c is not None else rows[-1])
        return np.stack(rows)

    def probs(self, history: tuple) -> np.ndarray:
        """$p(\\cdot \\mid h)$ over the vocabulary (uniform for a history never seen, without weights)."""
        if self.cfg.weights is not None:
            return np.asarray(self.cfg.weights) @ self.order_probs(history)
        self._check_history(history)
        c = self.counts.get(tuple(history[len(history) - (self.cfg.n - 1):]) if self.cfg.n > 1 else (),
                            np.zeros(self.V))
        return (c + self.cfg.k) / (c.sum() + self.cfg.k * self.V)

    def target_order_probs(self, sequences: list[torch.Tensor]) -> np.ndarray:
        """(tokens, n): each order's probability of every predicted token, so that the NLL of any
        interpolation weights w is ``-np.log(P @ w).mean()`` (a fast way to choose them)."""
        return np.array([self.order_probs(h)[:, x] for ids in self._check(sequences)
                         for h, x in self._histories(ids)])

    def _check_history(self, history) -> None:
        if not isinstance(history, (list, tuple)) or len(history) < self.cfg.n - 1 or not all(
                isinstance(i, int) and 0 <= i < self.V for i in history):
            fail("history", f"a list of at least n - 1 = {self.cfg.n - 1} token ids in [0, {self.V})",
                 repr(history)[:60], "Pad a short history with the start token")

    def nll(self, sequences: list[torch.Tensor]) -> float:
        """Mean negative log-likelihood per predicted token (every token after the first), in nats."""
        logs = [math.log(self.probs(h)[x]) for ids in self._check(sequences) for h, x in self._histories(ids)]
        return -sum(logs) / len(logs)

    def generate(self, idx: torch.Tensor, max_new_tokens: int, generator: torch.Generator | None = None,
                 allowed=None) -> torch.Tensor:
        """Sample like ``GPT.generate``: (B, T) -> (B, T + max_new_tokens); ``allowed(idx)`` masks tokens."""
        check_tensor(idx, "idx", ndim=2, floating=False, what="token ids (B, T)")
        check_labels(idx.flatten(), "idx", self.V, what="token ids")
        check_int(max_new_tokens, "max_new_tokens", low=0)
        for _ in range(max_new_tokens):
            # the last n - 1 tokens of each row, padded with its first token
            p = torch.tensor(np.stack([self.probs(([row[0]] * self.cfg.n + row)[len(row) + 1:])
                                       for row in idx.tolist()]))
            if allowed is not None:
                p = p * allowed(idx)
            idx = torch.cat([idx, torch.multinomial(p, 1, generator=generator)], 1)
        return idx

    def _check(self, sequences) -> list[list[int]]:
        if not isinstance(sequences, (list, tuple)) or not sequences:
            fail("sequences", "a non-empty list of 1-D tensors of token ids", repr(sequences)[:60])
        out = []
        for s in sequences:
            check_tensor(s, "sequences[i]", ndim=1, floating=False, what="a 1-D tensor of token ids")
            if len(s) < 2 or int(s.min()) < 0 or int(s.max()) >= self.V:
                fail("sequences[i]", f"at least 2 ids in [0, {self.V})", f"{len(s)} ids in "
                     f"[{int(s.min())}, {int(s.max())}]")
            out.append(s.tolist())
        return out
