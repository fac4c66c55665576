"""A character-level LSTM language model (Hochreiter & Schmidhuber, 1997).

The recurrence carries a state along the sequence, $h_t = f(h_{t-1}, x_t)$, and predicts
$p(x_{t+1} \\mid x_{\\le t})$ from $h_t$; training backpropagates through time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import check_int, check_tensor, fail, plain_fields, values_are_cheap
from .gpt import check_generation


@dataclass(frozen=True)
class RNNConfig:
    vocab_size: int = 65
    n_embd: int = 64
    hidden: int = 256
    n_layer: int = 1

    def __post_init__(self):
        plain_fields(self)
        for name in ("vocab_size", "n_embd", "hidden", "n_layer"):
            check_int(getattr(self, name), f"RNNConfig.{name}", low=1)


class CharRNN(nn.Module):
    def __init__(self, cfg: RNNConfig):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.lstm = nn.LSTM(cfg.n_embd, cfg.hidden, cfg.n_layer, batch_first=True)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)

    def run(self, idx: torch.Tensor, state=None):
        """Logits (B, T, vocab) and the LSTM state after the last token (h, c), continuing from ``state``."""
        check_tensor(idx, "idx", ndim=2, floating=False, what="token ids (B, T)", nonempty=False)
        if values_are_cheap(idx) and idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.cfg.vocab_size):
            fail("idx", f"token ids in [0, {self.cfg.vocab_size})", f"values in [{int(idx.min())}, {int(idx.max())}]")
        h, state = self.lstm(self.emb(idx), state)          # (B, T, hidden)
        return self.head(h), state

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, vocab) and, with targets, the mean next-token cross-entropy in nats."""
        logits, _ = self.run(idx)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample continuation tokens, carrying the LSTM state (no context limit); temperature 0 is greedy."""
        check_generation(max_new_tokens, temperature)
        check_tensor(idx, "idx", ndim=2, floating=False, what="token ids (B, T)", nonempty=False)
        if idx.shape[1] == 0:
            fail("idx", "at least one token per row, shape (B, T)", f"shape {tuple(idx.shape)}",
                 "Start generation from a prompt, e.g. a newline token")
        logits, state = self.run(idx)
        for _ in range(max_new_tokens):
            if temperature == 0:
                nxt = logits[:, -1].argmax(-1, keepdim=True)
            else:
                probs = (logits[:, -1] / temperature).softmax(-1)
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)
            idx = torch.cat([idx, nxt], 1)
            logits, state = self.run(nxt, state)
        return idx
