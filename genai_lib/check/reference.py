"""Reference answers for the exercises whose results later cells of a notebook use.

A student copy replaces each solution with ``raise NotImplementedError``. Where a later cell
calls the exercise's function (to print a count, draw an interpolation, ...), the notebook asks
:func:`or_reference` for the function to use: the student's own once its self-check passes, the
reference below until then, with a note saying so. "Run all" then reaches the end of a student
copy with the exercises still open.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..validate import fail
from . import ch01, ch03, ch04, ch05


def gaussian_parameter_count(d: int, n_classes: int) -> int:
    """Class-conditional full-covariance Gaussians: means, symmetric covariances, class prior."""
    return n_classes * (d + d * (d + 1) // 2) + (n_classes - 1)


def perplexity(loss: float) -> tuple[float, float]:
    """Perplexity and bits per character from a mean cross-entropy in nats."""
    return math.exp(loss), loss / math.log(2)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between two latent vectors."""
    theta = torch.arccos(((z0 @ z1) / (z0.norm() * z1.norm())).clamp(-1, 1))
    return (torch.sin((1 - t) * theta) * z0 + torch.sin(t * theta) * z1) / torch.sin(theta)


def alpha_bar(betas: torch.Tensor) -> torch.Tensor:
    """The cumulative product of 1 - beta_t: the signal kept after t noising steps."""
    return torch.cumprod(1 - betas, dim=0)


REFERENCES: dict[str, tuple[Callable, Callable]] = {   # name: (self-check, reference answer)
    "gaussian_parameter_count": (ch01.gaussian_parameter_count, gaussian_parameter_count),
    "perplexity": (ch03.perplexity, perplexity),
    "slerp": (ch04.slerp, slerp),
    "alpha_bar": (ch05.alpha_bar, alpha_bar),
}


def or_reference(fn: Callable, name: str) -> Callable:
    """``fn`` if its self-check passes; otherwise the library's reference answer, with a printed
    note, so that the cells after an unsolved exercise still run."""
    if not callable(fn):
        fail("fn", "the exercise's function (a callable)", repr(fn)[:60], error=TypeError)
    if not isinstance(name, str) or name not in REFERENCES:
        fail("name", f"one of the exercises with a reference answer {sorted(REFERENCES)}", repr(name))
    check, reference = REFERENCES[name]
    if check(fn).passed:
        return fn
    print(f"Exercise {name!r} is not solved yet: the cells below use the library's reference "
          f"answer (genai_lib.check.reference.{name}) until yours passes its check.")
    return reference
