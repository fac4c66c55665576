"""Validate at the public boundary: bad input gets one clear error, never a silent "fix".

Every public function and config of the course checks what it is given before it computes,
and raises ``ValueError`` (a wrong value or shape) or ``TypeError`` (a wrong type or dtype)
with one sentence that names the argument, what was expected, what was given and how to fix
it. The checks here are shared by every model and metric, so the messages read the same.

Checks must stay cheap. Shapes, dtypes and config fields cost nothing. Reading tensor
*values* (a range, NaNs, label bounds) forces a GPU to synchronise with the CPU, which would
slow every training step, so :func:`values_are_cheap` limits those to tensors on the CPU,
where they cost microseconds; on a GPU the data were checked when they were loaded.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import NoReturn, Sequence

import torch


def fail(name: str, expected: str, got, fix: str | None = None, error: type[Exception] = ValueError) -> NoReturn:
    """Raise ``error`` with the course's message: argument, expectation, what was given, fix."""
    msg = f"{name} must be {expected}, got {got}"
    raise error(msg + (f". {fix[0].upper()}{fix[1:]}" if fix else "."))


def values_are_cheap(x: torch.Tensor) -> bool:
    """Reading values needs no device synchronisation (see the module docstring)."""
    return x.device.type == "cpu"


def check_int(value, name: str, low: int | None = None, high: int | None = None, fix: str | None = None) -> int:
    """An integer (Python's or NumPy's; not a bool, not a float) with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, "an integer", repr(value), fix, TypeError)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f">= {low}" if high is None else f"<= {high}" if low is None else f"between {low} and {high}")
        fail(name, f"an integer {bounds}", value, fix)
    return value


def check_number(value, name: str, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, fix: str | None = None) -> float:
    """A finite real number in the interval given (closed unless ``low_open``/``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, "a number", repr(value), fix, TypeError)
    value = float(value)
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or lo_bad or hi_bad:
        left = "" if low is None else ("(" if low_open else "[") + f"{low}"
        right = "" if high is None else f"{high}" + (")" if high_open else "]")
        interval = (f"in {left}, {right}" if low is not None and high is not None
                    else f"{'>' if low_open else '>='} {low}" if low is not None
                    else f"{'<' if high_open else '<='} {high}" if high is not None else "finite")
        fail(name, f"a finite number {interval}", value, fix)
    return float(value)


def plain_fields(cfg) -> None:
    """Store a config's NumPy scalars as Python numbers (``np.int64(10)`` -> ``10``), so that the
    config saves into a checkpoint that loads with ``weights_only=True``."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, numbers.Number) and not isinstance(value, (bool, int, float)):
            object.__setattr__(cfg, f.name, int(value) if isinstance(value, numbers.Integral) else float(value))


def check_choice(value, name: str, choices: Sequence) -> None:
    if value not in choices:
        fail(name, f"one of {list(choices)}", repr(value))


def check_tensor(x, name: str, *, ndim: int | None = None, floating: bool | None = None,
                 like: torch.Tensor | None = None, nonempty: bool = True, what: str = "a tensor") -> torch.Tensor:
    """Type, number of dimensions, dtype family and emptiness; with ``like`` (a parameter of the
    model) also the exact dtype and the device, whose mismatch PyTorch reports deep inside."""
    if not isinstance(x, torch.Tensor):
        fail(name, f"a torch.Tensor ({what})", type(x).__name__, "Convert it with torch.as_tensor(...)", TypeError)
    if ndim is not None and x.dim() != ndim:
        fail(name, f"{what} with {ndim} dimensions", f"shape {tuple(x.shape)}")
    if floating is True and not x.is_floating_point():
        fix = "Images stored as uint8 become [0, 1] floats with x.float() / 255" if x.dtype == torch.uint8 else \
            "Convert with x.float()"
        fail(name, f"{what} of floating-point values", f"dtype {x.dtype}", fix, TypeError)
    if floating is False and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        fail(name, f"{what} of integer ids (dtype torch.long)", f"dtype {x.dtype}", "Convert with x.long()", TypeError)
    if like is not None:
        # under autocast a layer's input may be the autocast dtype (a generator's bfloat16 output, say)
        autocast = torch.is_autocast_enabled(x.device.type) and x.dtype == torch.get_autocast_dtype(x.device.type)
        if floating and x.dtype != like.dtype and not autocast:
            fail(name, f"{what} of dtype {like.dtype} (the model's)", f"dtype {x.dtype}",
                 f"Convert with x.to({like.dtype})", TypeError)
        if x.device != like.device:
            fail(name, f"on the model's device ({like.device})", f"a tensor on {x.device}",
                 f"Move it with x.to({str(like.device)!r})")
    if nonempty and x.numel() == 0:
        fail(name, f"{what} with at least one element", f"an empty tensor of shape {tuple(x.shape)}")
    return x


def check_finite(x: torch.Tensor, name: str, always: bool = False) -> None:
    """No NaN or infinity (checked where values are cheap to read, or ``always``: once, where data
    enter, e.g. a batch iterator)."""
    if (always or values_are_cheap(x)) and x.is_floating_point() and not torch.isfinite(x).all():
        fail(name, "finite (no NaN or inf)", f"{int((~torch.isfinite(x)).sum())} non-finite values",
             "Find where they came from (a division by zero, a diverged model) before passing them on")


def check_images(x, name: str = "x", *, size: tuple[int, ...] = (1, 28, 28), low: float = 0.0,
                 high: float = 1.0, like: torch.Tensor | None = None, tol: float = 1e-3) -> torch.Tensor:
    """A batch of images (N, *size) of floats in [low, high], finite, not empty."""
    check_tensor(x, name, floating=True, like=like, what=f"a batch of images (N, {', '.join(map(str, size))})")
    if tuple(x.shape[1:]) != tuple(size) or x.dim() != len(size) + 1:
        fix = "Add the channel dimension with x.unsqueeze(1)" if tuple(x.shape[1:]) == tuple(size[1:]) else None
        fail(name, f"a batch of images of shape (N, {', '.join(map(str, size))})", f"shape {tuple(x.shape)}", fix)
    if values_are_cheap(x):
        lo, hi = (v.item() for v in torch.aminmax(x.detach()))  # one pass; NaN and inf show up in lo or hi
        if not (math.isfinite(lo) and math.isfinite(hi)):
            check_finite(x, name)
        if lo < low - tol or hi > high + tol:
            fix = ("These look like 0-255 pixels: divide by 255" if hi > 2 and lo >= 0 and high == 1.0 else
                   "These look like tanh outputs in [-1, 1]: map them with (x + 1) / 2"
                   if lo < -0.1 and lo >= -1 - tol and hi <= 1 + tol and low == 0.0 else None)
            fail(name, f"pixel values in [{low:g}, {high:g}]", f"values in [{lo:.3g}, {hi:.3g}]", fix)
    return x


def check_labels(y, name: str, n_classes: int, n: int | None = None, like: torch.Tensor | None = None,
                 what: str = "class labels") -> torch.Tensor:
    """Class labels (or other indices) (N,) of integers in [0, n_classes), one per example."""
    check_tensor(y, name, ndim=1, floating=False, what=f"{what} (N,)", nonempty=n != 0)
    if n is not None and len(y) != n:
        fail(name, f"one of the {what} per example ({n})", f"{len(y)}")
    if like is not None and y.device != like.device:
        fail(name, f"on the model's device ({like.device})", f"labels on {y.device}",
             f"Move them with y.to({str(like.device)!r})")
    if values_are_cheap(y) and y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        fail(name, f"{what} in [0, {n_classes})", f"values in [{int(y.min())}, {int(y.max())}]")
    return y


def check_points(x, name: str, dim: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """A batch of real vectors (N, dim), finite, not empty, on ``like``'s device (any float dtype:
    the models promote or the caller converts)."""
    check_tensor(x, name, ndim=2, floating=True, what=f"points of shape (N, {dim})")
    if like is not None and x.device != like.device:
        fail(name, f"on the model's device ({like.device})", f"a tensor on {x.device}",
             f"Move it with x.to({str(like.device)!r})")
    if x.shape[1] != dim:
        fail(name, f"points of shape (N, {dim})", f"shape {tuple(x.shape)}")
    check_finite(x, name)
    return x


def check_probabilities(p, name: str) -> torch.Tensor:
    """Class probabilities (N, C): non-negative rows that sum to one (not logits)."""
    check_tensor(p, name, ndim=2, floating=True, what="class probabilities (N, C)")
    if values_are_cheap(p):
        check_finite(p, name)
        if float(p.min()) < 0 or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-3):
            fail(name, "probabilities (non-negative rows summing to 1)", "rows that do not",
                 "Logits become probabilities with logits.softmax(1)")
    return p
