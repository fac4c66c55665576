"""A small decoder-only Transformer (GPT), nanoGPT-style, for character-level language modelling.

A language model factorises a sequence's probability with the chain rule,
$p(x_1,\\dots,x_T) = \\prod_t p_\\theta(x_t \\mid x_{<t})$, and is trained by maximum likelihood:
the cross-entropy of each next token (Vaswani et al., 2017; Radford et al., 2018).
Each block is pre-LayerNorm: $x \\leftarrow x + \\mathrm{Attn}(\\mathrm{LN}(x))$, then
$x \\leftarrow x + \\mathrm{MLP}(\\mathrm{LN}(x))$.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_choice, check_int, check_number, check_tensor, fail, plain_fields, values_are_cheap


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64       # the longest context the model sees
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    positions: str = "learned"  # "learned" (GPT) or "sinusoidal" (the original Transformer)

    def __post_init__(self):
        plain_fields(self)
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_int(getattr(self, name), f"GPTConfig.{name}", low=1)
        if self.n_embd % self.n_head:
            fail("GPTConfig.n_embd", f"divisible by n_head={self.n_head} (each head gets n_embd // n_head "
                 f"dimensions)", self.n_embd)
        check_number(self.dropout, "GPTConfig.dropout", 0, 1, high_open=True)
        check_choice(self.positions, "GPTConfig.positions", ("learned", "sinusoidal"))


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """$\\mathrm{softmax}(QK^\\top/\\sqrt{d_k} + M)\\,V$ with $M_{ij} = -\\infty$ for $j > i$.

    q, k, v: (..., T, d_k). Returns the output (..., T, d_k) and the weights (..., T, T).
    Written out for teaching and for attention maps; the model calls PyTorch's fused
    ``scaled_dot_product_attention``, which computes the same thing.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(t, name, floating=True, what="queries, keys or values (..., T, d_k)")
        if t.dim() < 2:
            fail(name, "a tensor (..., T, d_k) with at least 2 dimensions", f"shape {tuple(t.shape)}")
    if not q.shape == k.shape == v.shape:
        fail("q, k, v", "tensors of the same shape (..., T, d_k)",
             f"shapes {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    T, d_k = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)                       # (..., T, T)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)      # True above the diagonal
    weights = scores.masked_fill(mask, float("-inf")).softmax(-1)
    return weights @ v, weights


def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    """$PE_{t,2i} = \\sin(t/10000^{2i/d})$, $PE_{t,2i+1} = \\cos(t/10000^{2i/d})$. (T, d)"""
    check_int(T, "T", low=1)
    check_int(d, "d", low=2)
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)[:, : d // 2]
    return pe


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd ({cfg.n_embd}) must be divisible by n_head ({cfg.n_head})")
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if return_weights:
            y, w = causal_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        y = self.proj(y.transpose(1, 2).reshape(B, T, C))                   # (B, T, C)
        return (y, w) if return_weights else y


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.out = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.out(F.gelu(self.fc(self.ln2(x)))))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        if cfg.positions == "learned":
            self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        else:
            self.register_buffer("pos_table", sinusoidal_positions(cfg.block_size, cfg.n_embd), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying (Press & Wolf, 2017), as in GPT-2
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def _check(self, idx: torch.Tensor, name: str = "idx", crop: bool = False) -> None:
        """Token ids (B, T) of dtype long in [0, vocab_size); T <= block_size unless the caller crops."""
        check_tensor(idx, name, ndim=2, floating=False, what="token ids (B, T)", nonempty=False)
        if idx.shape[1] == 0:
            fail(name, "at least one token per row", f"shape {tuple(idx.shape)}",
                 "Start generation from a prompt, e.g. a newline token")
        if idx.dtype != torch.long:
            fail(name, "token ids of dtype torch.long", f"dtype {idx.dtype}", "Convert with idx.long()", TypeError)
        if not crop and idx.shape[1] > self.cfg.block_size:
            raise ValueError(f"sequence length {idx.shape[1]} exceeds block_size {self.cfg.block_size}; crop the context")
        if values_are_cheap(idx) and (int(idx.min()) < 0 or int(idx.max()) >= self.cfg.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.cfg.vocab_size}), got range [{int(idx.min())}, {int(idx.max())}]")

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        pos = self.pos_emb.weight[:T] if self.cfg.positions == "learned" else self.pos_table[:T]
        return self.drop(self.tok_emb(idx) + pos)                               # (B, T, C)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, vocab) and, with targets, the mean next-token cross-entropy in nats."""
        self._check(idx)
        if targets is not None:
            self._check(targets, "targets")
            if targets.shape != idx.shape:
                fail("targets", f"next tokens of the same shape as idx {tuple(idx.shape)}", f"shape {tuple(targets.shape)}")
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def next_logits(self, idx: torch.Tensor) -> torch.Tensor:
        """The logits of the token after each sequence (B, vocab): the vocabulary projection is
        applied to the last position only, which halves the cost of sampling a large vocabulary."""
        self._check(idx)
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x[:, -1]))

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's attention weights for a sequence: a list of (B, n_head, T, T)."""
        self._check(idx)
        x, maps = self.embed(idx), []
        for block in self.blocks:
            y, w = block.attn(block.ln1(x), return_weights=True)
            maps.append(w)
            x = x + y
            x = x + block.out(F.gelu(block.fc(block.ln2(x))))
        return maps

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None,
                 processor: LogitsProcessor | None = None) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens; the context is cropped to the last block_size tokens.

        temperature 0 is greedy decoding; top_k and top_p (nucleus) restrict the candidates first.
        ``processor(idx, logits)`` may change the next-token logits before that, seeing the whole
        sequence so far: a constraint (:func:`allowed_only`) or a watermark, without a fork of
        this loop.
        """
        check_generation(max_new_tokens, temperature)
        self._check(idx, crop=True)  # a longer prompt is cropped to its last block_size tokens
        if processor is not None and not callable(processor):
            fail("processor", "a function (idx, logits) -> logits, or None", repr(processor)[:60], error=TypeError)
        for _ in range(max_new_tokens):
            logits = self.next_logits(idx[:, -self.cfg.block_size:])               # (B, vocab)
            if processor is not None:
                logits = processor(idx, logits)
            if temperature == 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                logits = filter_logits(logits / temperature, top_k, top_p)
                nxt = torch.multinomial(logits.softmax(-1).cpu(), 1, generator=generator).to(idx.device)
            idx = torch.cat([idx, nxt], dim=1)
        return idx


LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def allowed_only(allowed: Callable[[torch.Tensor], torch.Tensor]) -> LogitsProcessor:
    """Constrained decoding: a processor for :meth:`GPT.generate` that gives probability 0 to every
    token not allowed next. ``allowed(idx)`` returns a (B, vocab) boolean mask for the sequences
    ``idx`` (B, T). Every sample then satisfies the constraint; the kept tokens are renormalised,
    which is a greedy, local choice: it does not look ahead to whether the constraint can still
    be met well later."""
    if not callable(allowed):
        fail("allowed", "a function idx (B, T) -> boolean mask (B, vocab)", repr(allowed)[:60], error=TypeError)

    def process(idx: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        mask = allowed(idx)
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
            fail("allowed(idx)", "a boolean mask (torch.bool)", got, error=TypeError)
        if mask.shape != logits.shape:
            fail("allowed(idx)", f"a mask of the logits' shape {tuple(logits.shape)}", f"shape {tuple(mask.shape)}",
                 "Build it for the model's vocabulary")
        empty = ~mask.any(-1)
        if values_are_cheap(mask) and bool(empty.any()):
            fail("allowed(idx)", "a mask that allows at least one token in every row",
                 f"no token allowed in rows {empty.nonzero().flatten().tolist()[:5]}",
                 "The constraint cannot be met at this position; loosen it")
        return logits.masked_fill(~mask.to(logits.device), float("-inf"))

    return process


def check_generation(max_new_tokens: int, temperature: float) -> None:
    """The arguments every ``generate`` shares: a count and a temperature >= 0 (0 = greedy).
    A negative temperature would sample from the inverted distribution."""
    check_int(max_new_tokens, "max_new_tokens", low=0)
    check_number(temperature, "temperature", 0, fix="Use 0 for greedy decoding, 1 for the model's distribution")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (ties at the k-th value are kept); the rest become -inf."""
    check_tensor(logits, "logits", floating=True, what="logits (..., vocab)")
    check_int(k, "top_k", low=1)
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al., 2020): keep the smallest set of most likely tokens whose
    probabilities sum to at least p; the rest become -inf."""
    check_tensor(logits, "logits", floating=True, what="logits (..., vocab)")
    check_number(p, "top_p", 0, 1, low_open=True)
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cum = sorted_logits.softmax(-1).cumsum(-1)
    remove_sorted = cum - sorted_logits.softmax(-1) >= p   # mass before this token already reaches p
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits
