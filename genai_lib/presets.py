"""Presets shared by more than one notebook, so that their checkpoints are interchangeable.

Notebook 3a trains the Shakespeare GPT and notebook 3b fine-tunes it: with the same preset and
checkpoint path, 3b loads what 3a saved (or trains it, if run alone).
"""
from __future__ import annotations

from .models.gpt import GPTConfig
from .train import TrainConfig

SHAKESPEARE_GPT = {
    "quick": dict(gpt=GPTConfig(vocab_size=65, block_size=64, n_layer=3, n_head=4, n_embd=96),
                  train=TrainConfig(steps=700, lr=3e-3, warmup_steps=30, weight_decay=0.1, eval_every=350), batch=32),
    # nanoGPT's shakespeare_char setting
    "full": dict(gpt=GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
                 train=TrainConfig(steps=5000, lr=1e-3, betas=(0.9, 0.99), warmup_steps=100, weight_decay=0.1,
                                   eval_every=500), batch=64),
}


def shakespeare_gpt_checkpoint(profile: str) -> str:
    return f"checkpoints/ch03_shakespeare_gpt_{profile}.pt"
