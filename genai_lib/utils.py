"""Small helpers with no better home."""
from __future__ import annotations

import random

import numpy as np
import torch

from .validate import check_int, fail


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and all GPUs) so a run can be repeated."""
    check_int(seed, "seed", 0, 2**32 - 1)  # NumPy's range
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    if not isinstance(model, torch.nn.Module):
        fail("model", "a torch.nn.Module", type(model).__name__, error=TypeError)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def glue(name: str, value, display: bool = False) -> None:
    """Record a headline number for the book (myst-nb's ``glue``); a no-op where myst-nb is absent.

    On Colab or in a plain Jupyter install there is no book to paste into, so nothing is lost.
    """
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        fail("name", "a glue key of letters, digits, '_' or '-'", repr(name),
             "The book refers to it as {glue:text}`name`")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)
