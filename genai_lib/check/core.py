"""The machinery of the self-checks: a result that shows ✅ or ❌, and a runner of test cases.

Each check runs the student's function on a few cases and compares with a reference,
returning a :class:`CheckResult` that shows ✅ or ❌ with a hint. It never raises, so a
student can run a whole notebook; the solution notebooks assert ``.passed`` in a hidden
cell, so CI fails if a solution (or a check) is wrong.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable

import torch


GRADE_LOG_ENV = "GENAI_GRADE_LOG"   # set by genai_lib.grade for the notebook it runs


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str

    def __post_init__(self) -> None:
        # Under `python -m genai_lib.grade` every result is also appended to the grader's log, so
        # the gradebook never depends on what a notebook happens to display.
        log = os.environ.get(GRADE_LOG_ENV)
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"name": self.name, "passed": bool(self.passed), "message": self.message}) + "\n")

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"{'✅' if self.passed else '❌'} {self.name}: {self.message}"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        return f'<p style="color:{colour}"><b>{"✅" if self.passed else "❌"} {self.name}</b>: {self.message}</p>'


def run_cases(name: str, fn: Callable, cases: list[tuple[tuple, object]], hint: str,
              atol: float = 1e-5, rtol: float = 1e-4) -> CheckResult:
    """Call ``fn(*args)`` for each case and compare with the expected value."""
    for args, expected in cases:
        try:
            got = fn(*args)
        except NotImplementedError:
            return CheckResult(name, False, "not implemented yet: fill in the exercise cell above and run it.")
        except Exception as e:  # the student's bug, reported, not raised
            return CheckResult(name, False, f"your function raised {type(e).__name__}: {e}. Hint: {hint}")
        try:
            got_t = torch.as_tensor(got, dtype=torch.float64)
            exp_t = torch.as_tensor(expected, dtype=torch.float64)
        except Exception:
            return CheckResult(name, False, f"expected a number or tensor, got {type(got).__name__}.")
        if got_t.shape != exp_t.shape:
            return CheckResult(name, False, f"expected shape {tuple(exp_t.shape)}, got {tuple(got_t.shape)}. Hint: {hint}")
        if not torch.allclose(got_t, exp_t, atol=atol, rtol=rtol, equal_nan=False):
            return CheckResult(name, False, f"wrong value (e.g. expected {_short(exp_t)}, got {_short(got_t)}). Hint: {hint}")
    return CheckResult(name, True, f"correct on all {len(cases)} test cases.")


def _short(t: torch.Tensor) -> str:
    flat = t.flatten()[:4].tolist()
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + (", ...]" if t.numel() > 4 else "]") if t.dim() else f"{t.item():.4g}"
