"""Small helpers with no better home."""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import random
import textwrap

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
    if isinstance(value, (np.generic, torch.Tensor)) and np.ndim(value) == 0:
        value = value.item()  # the book formats Python numbers; a NumPy or torch scalar prints as np.float64(...)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)


def source_text(*objs, docstrings: bool = True) -> str:
    """The source code of functions, methods or classes, whole and dedented, one after another;
    ``docstrings=False`` shortens each function's docstring to ``\"\"\"...\"\"\"`` so the code stands out."""
    if not objs:
        fail("objs", "at least one function, method or class", "nothing")
    parts = []
    for obj in objs:
        try:
            src = textwrap.dedent(inspect.getsource(obj))
        except (TypeError, OSError) as e:
            fail("objs", "functions, methods or classes defined in a Python file", f"{obj!r} ({e})", error=TypeError)
        if not docstrings:
            lines = src.splitlines()
            cut = []
            for node in ast.walk(ast.parse(src)):
                body = getattr(node, "body", None)
                if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                        and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    cut.append((body[0].lineno, body[0].end_lineno))
            for start, end in sorted(cut, reverse=True):
                indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
                lines[start - 1:end] = [indent + '"""..."""']
            src = "\n".join(lines) + "\n"
        parts.append(src.rstrip() + "\n")
    return "\n".join(parts)


def show_source(*objs, docstrings: bool = True):
    """Library code shown in a chapter: highlighted as Python, whole (``def`` line included), in a
    notebook and on the book's pages; plain text elsewhere."""
    text = source_text(*objs, docstrings=docstrings)
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return text
    return Code(text, language="python")


def config_text(cfg, width: int = 88) -> str:
    """A config dataclass as text that fits the book's column: its name and fields, wrapped at
    ``width`` characters (a one-line repr of a big config runs off the page)."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        fail("cfg", "a config instance (a dataclass such as GPTConfig(...))", repr(cfg)[:60], error=TypeError)
    check_int(width, "width", low=20)
    fields = ", ".join(f"{f.name}={getattr(cfg, f.name)!r}" for f in dataclasses.fields(cfg))
    return textwrap.fill(fields, width, initial_indent=type(cfg).__name__ + "(", subsequent_indent="    ",
                         break_long_words=False, break_on_hyphens=False) + ")"


def rng_devices(device) -> list[int]:
    """The CUDA device indices whose random state :func:`fork_rng` must save for ``device``."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        fail("device", "'cpu', 'cuda', 'cuda:N' or 'mps' (or a torch.device)", repr(device))
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


@contextlib.contextmanager
def fork_rng(device):
    """Seed freely inside, leave the caller's random streams as they were: the CPU's and, on a
    GPU, the GPU's. (``torch.random.fork_rng(devices=[])`` saves only the CPU's, while
    ``torch.manual_seed`` inside it reseeds the GPU too: a training loop that evaluates with
    fixed noise would then replay the same GPU noise after every evaluation.)"""
    with torch.random.fork_rng(devices=rng_devices(device)):
        yield
