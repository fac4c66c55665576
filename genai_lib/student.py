"""Student copies of the notebooks: solutions out, self-checks in.

Conventions (the contributor page explains them):
* inside a code cell, lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are
  replaced by ``raise NotImplementedError`` at the same indentation (nbgrader's markers);
* cells tagged ``solution`` (e.g. a worked answer in markdown) are removed;
* cells tagged ``exercise-check`` (the hidden asserts that a solution passes) are removed;
* outputs are cleared.

Usage: ``python -m genai_lib.student notebooks/ student/``
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: replace this line with your code")'
REMOVED_TAGS = {"solution", "exercise-check"}


def strip_solutions(source: str) -> str:
    """Replace each marked solution block with a stub; fail on unbalanced markers."""
    out, inside = [], False
    for line in source.splitlines(keepends=True):
        if line.strip() == BEGIN:
            if inside:
                raise ValueError("nested '### BEGIN SOLUTION'")
            inside = True
            indent = re.match(r"\s*", line).group(0)
            out.append(indent + STUB + "\n")
        elif line.strip() == END:
            if not inside:
                raise ValueError("'### END SOLUTION' without a matching BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("'### BEGIN SOLUTION' without a matching END")
    return "".join(out)


def student_notebook(nb: dict) -> dict:
    cells = []
    for cell in nb["cells"]:
        if REMOVED_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        cell = dict(cell)
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = strip_solutions(src)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    return {**nb, "cells": cells}


def make_student_copies(src: str | Path, dst: str | Path) -> list[Path]:
    src, dst = Path(src), Path(dst)
    written = []
    for path in sorted(src.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        out = dst / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(student_notebook(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(out)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m genai_lib.student NOTEBOOK_DIR OUTPUT_DIR")
    for p in make_student_copies(sys.argv[1], sys.argv[2]):
        print("wrote", p)
