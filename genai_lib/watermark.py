"""A statistical watermark for a language model's text: green and red lists (Kirchenbauer et al., 2023).

Before each token is sampled, the previous ``context`` tokens and a secret key seed a
pseudo-random split of the vocabulary: a *green list* of a share gamma of the tokens and a
red list of the rest. The sampler adds delta to the green logits, so generated text holds
more green tokens than chance. Whoever knows the key recounts the green tokens and tests
the null hypothesis "this text was written without the watermark", under which each token
is green with probability gamma:

$$ z = \\frac{|s|_G - \\gamma T}{\\sqrt{T \\gamma (1 - \\gamma)}}, $$

with $T$ scored tokens, $|s|_G$ of them green (the paper's Section 3). The green list is
always ``green_size(vocab_size, cfg)`` tokens, so gamma is used as that exact share.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .validate import check_int, check_number, check_tensor, fail, plain_fields, values_are_cheap

_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class WatermarkConfig:
    gamma: float = 0.25      # the share of the vocabulary in each green list
    delta: float = 2.0       # added to the green logits; 0 leaves sampling unchanged
    key: int = 15485863      # the secret that seeds the lists (any integer in [0, 2**32))
    context: int = 1         # how many previous tokens seed the green list

    def __post_init__(self):
        plain_fields(self)
        check_number(self.gamma, "WatermarkConfig.gamma", 0, 1, low_open=True, high_open=True,
                     fix="0.25 puts a quarter of the vocabulary in each green list")
        check_number(self.delta, "WatermarkConfig.delta", 0, fix="Use 0 for no watermark, 2 for a clear one")
        check_int(self.key, "WatermarkConfig.key", low=0, high=_MASK32)
        check_int(self.context, "WatermarkConfig.context", low=1, high=8)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (two multiply-xorshift rounds) on int64 tensors; every product stays
    below 2**59, so nothing overflows and the result is the same on every machine."""
    for _ in range(2):
        x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    return (x >> 16) ^ x


def green_size(vocab_size: int, cfg: WatermarkConfig) -> int:
    """The number of green tokens in every list: gamma * vocab_size, rounded, at least 1 and at
    most vocab_size - 1 (so that the test can tell green from red)."""
    check_int(vocab_size, "vocab_size", low=2)
    return min(max(round(cfg.gamma * vocab_size), 1), vocab_size - 1)


def green_mask(prev_tokens: torch.Tensor, vocab_size: int, cfg: WatermarkConfig) -> torch.Tensor:
    """The green lists for a batch of contexts: prev_tokens (B, context) -> a boolean mask (B, vocab).

    Each row's seed hashes the key and its ``context`` tokens; every vocabulary entry then gets
    a hash of (seed, token), and the ``green_size`` smallest are green: a pseudo-random subset
    that anyone with the key can recompute from the text alone.
    """
    _check_config(cfg)
    k = green_size(vocab_size, cfg)
    _check_ids(prev_tokens, "prev_tokens", vocab_size, ndim=2)
    if prev_tokens.shape[1] != cfg.context:
        fail("prev_tokens", f"(B, context) = (B, {cfg.context}) token ids", f"shape {tuple(prev_tokens.shape)}",
             "Pass the last cfg.context tokens before each position")
    seed = _mix(torch.full(prev_tokens.shape[:1], cfg.key, dtype=torch.long, device=prev_tokens.device))
    for j in range(cfg.context):                                              # fold in each context token
        seed = _mix((seed * 31 + prev_tokens[:, j] + 1) & _MASK32)            # (B,)
    vocab = torch.arange(vocab_size, device=prev_tokens.device)
    scores = _mix(seed[:, None] ^ _mix(vocab + 0x9E3779B9)[None, :])           # (B, vocab)
    rank = scores.argsort(dim=1, stable=True).argsort(dim=1, stable=True)      # (B, vocab)
    return rank < k


def watermark_logits(cfg: WatermarkConfig, vocab_size: int):
    """A processor for :meth:`GPT.generate`: ``processor(idx, logits)`` adds delta to the logits of
    the green list that the last ``context`` tokens of each sequence select. The prompt needs at
    least ``context`` tokens. ``GPT.generate`` divides the logits by the temperature *after*
    the processor, so the effective bias is delta / temperature."""
    _check_config(cfg)
    green_size(vocab_size, cfg)

    def process(idx: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        check_tensor(logits, "logits", ndim=2, floating=True, what="next-token logits (B, vocab)")
        if logits.shape[1] != vocab_size:
            fail("logits", f"(B, vocab) logits with vocab = {vocab_size} (the processor's vocab_size)",
                 f"shape {tuple(logits.shape)}", "Build the processor with the model's vocabulary size")
        _check_ids(idx, "idx", vocab_size, ndim=2)
        if idx.shape[1] < cfg.context:
            fail("idx", f"sequences of at least context = {cfg.context} tokens", f"shape {tuple(idx.shape)}",
                 "Start from a longer prompt")
        if idx.shape[0] != logits.shape[0]:
            fail("idx", f"one sequence per row of logits ({logits.shape[0]})", f"shape {tuple(idx.shape)}")
        green = green_mask(idx[:, -cfg.context:], vocab_size, cfg)
        return logits + cfg.delta * green.to(logits.dtype)

    return process


class Detection(NamedTuple):
    z: torch.Tensor        # the z-score, () or (B,)
    green: torch.Tensor    # the number of green tokens |s|_G, () or (B,)
    scored: int            # T, the number of tokens scored (each needs context tokens before it)


def detect(tokens: torch.Tensor, vocab_size: int, cfg: WatermarkConfig) -> Detection:
    """Count the green tokens of a text (T_total,) or of a batch of texts (B, T_total) and return
    the z-score of the count under "no watermark". The first ``context`` tokens have no full
    context and are not scored, so T = T_total - context. delta plays no part here."""
    _check_config(cfg)
    k = green_size(vocab_size, cfg)
    check_tensor(tokens, "tokens", floating=False, what="token ids (T,) or (B, T)", nonempty=False)
    if tokens.dim() not in (1, 2):
        fail("tokens", "token ids (T,) or (B, T)", f"shape {tuple(tokens.shape)}")
    batch = tokens if tokens.dim() == 2 else tokens[None]                       # (B, T_total)
    T = batch.shape[1] - cfg.context
    if T < 1:
        fail("tokens", f"at least context + 1 = {cfg.context + 1} tokens per text", f"shape {tuple(tokens.shape)}",
             "Score a longer text")
    _check_ids(batch, "tokens", vocab_size, ndim=2)
    B = batch.shape[0]
    windows = batch.unfold(1, cfg.context + 1, 1)                                # (B, T, context + 1)
    prev, nxt = windows[..., :-1].reshape(B * T, cfg.context), windows[..., -1].reshape(B * T)
    # for speed only: a text repeats its contexts (character bigrams, say), so each distinct
    # green list is built once; every occurrence is still scored (and counted) below
    contexts, which = _distinct_rows(prev, vocab_size)                         # (C, context), (B * T,)
    is_green = green_mask(contexts, vocab_size, cfg)[which, nxt].view(B, T)    # (B, T)
    green = is_green.sum(1)                                                      # (B,)
    gamma = k / vocab_size
    z = (green - gamma * T) / math.sqrt(T * gamma * (1 - gamma))
    if tokens.dim() == 1:
        return Detection(z[0], green[0], T)
    return Detection(z, green, T)


def _distinct_rows(rows: torch.Tensor, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows.unique(dim=0, return_inverse=True)``, faster: each row of token ids read as one
    integer in base vocab_size (when that fits in int64), so the unique is one-dimensional."""
    n = rows.shape[1]
    if vocab_size ** n >= 2**62:
        return rows.unique(dim=0, return_inverse=True)
    place = vocab_size ** torch.arange(n - 1, -1, -1, device=rows.device)    # (n,)
    codes, which = (rows * place).sum(1).unique(return_inverse=True)          # (C,), (N,)
    return (codes[:, None] // place) % vocab_size, which


def _check_config(cfg) -> None:
    if not isinstance(cfg, WatermarkConfig):
        fail("cfg", "a WatermarkConfig", type(cfg).__name__, "Build one with WatermarkConfig(gamma=..., delta=...)",
             TypeError)


def _check_ids(x, name: str, vocab_size: int, ndim: int) -> None:
    check_tensor(x, name, ndim=ndim, floating=False, what="token ids", nonempty=False)
    if x.dtype != torch.long:
        fail(name, "token ids of dtype torch.long", f"dtype {x.dtype}", "Convert with x.long()", TypeError)
    if x.numel() and values_are_cheap(x) and (int(x.min()) < 0 or int(x.max()) >= vocab_size):
        fail(name, f"token ids in [0, {vocab_size})", f"range [{int(x.min())}, {int(x.max())}]")
