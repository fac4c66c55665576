"""Self-checks for Chapter 3: sequence models, attention and a small GPT."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import CheckResult, run_cases


def causal_mask(fn: Callable) -> CheckResult:
    """``fn(T)``: a (T, T) boolean tensor, True where position i may attend to position j (j <= i)."""
    cases = [((T,), torch.ones(T, T).tril().bool()) for T in (1, 3, 6)]
    return run_cases("causal_mask", fn, cases,
                     "position i sees itself and the past, j <= i: the lower triangle including the diagonal "
                     "(torch.tril). True means 'allowed'.")


def top_p_keep(fn: Callable) -> CheckResult:
    """``fn(probs, p)``: boolean mask of the nucleus, the smallest set of most likely tokens with total mass >= p."""
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15], [0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    cases = [((probs, 0.5), torch.tensor([[1, 0, 0, 0], [0, 0, 1, 1]]).bool()),
             ((probs, 0.79), torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1]]).bool()),  # row 2: 0.4 + 0.3 < 0.79 needs the 0.2
             ((probs, 0.85), torch.tensor([[1, 0, 1, 1], [0, 1, 1, 1]]).bool())]  # no p on a float boundary
    return run_cases("top_p_keep", fn, cases,
                     "sort the probabilities in decreasing order, take the cumulative sum, and keep a token if the "
                     "mass of the tokens before it is still below p (so the token that crosses p is kept).")


def perplexity(fn: Callable) -> CheckResult:
    """``fn(loss)``: perplexity and bits per character from a mean cross-entropy in nats: (exp(loss), loss / ln 2)."""
    import math
    cases = [((v,), torch.tensor([math.exp(v), v / math.log(2)])) for v in (0.0, 1.0, 1.5, math.log(65))]

    def as_pair(loss):
        return torch.tensor([float(x) for x in fn(loss)])
    return run_cases("perplexity", as_pair, cases,
                     "perplexity = exp(cross-entropy in nats); bits = nats / ln 2. A uniform guess over 65 "
                     "characters has perplexity 65.")


def clip_by_norm(fn: Callable) -> CheckResult:
    """``fn(grads, max_norm)``: clip a list of tensors by their global norm (as clip_grad_norm_ does)."""
    g = torch.Generator().manual_seed(6)
    grads = [torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)]
    total = torch.sqrt(sum((t**2).sum() for t in grads)).item()

    def flat(max_norm):
        return torch.cat([t.flatten() for t in fn([t.clone() for t in grads], max_norm)])
    expected = torch.cat([t.flatten() for t in grads])
    cases = [((total * 2,), expected), ((1.0,), expected * (1.0 / (total + 1e-6)))]
    return run_cases("clip_by_norm", flat, cases,
                     "the norm is over all tensors together (sqrt of the sum of all squares), not per tensor; "
                     "scale only when it exceeds max_norm.", rtol=1e-4, atol=1e-5)
