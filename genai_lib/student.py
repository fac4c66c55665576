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
# Any comment that looks like a marker: a misspelt one must fail, not leak its solution.
MARKER_LIKE = re.compile(r"^\s*#.*\b(begin|end)[\s_-]*sol", re.IGNORECASE)


def strip_solutions(source: str) -> str:
    """Replace each marked solution block with a stub; fail on unbalanced or misspelt markers."""
    out, inside = [], False
    for n, line in enumerate(source.splitlines(keepends=True), start=1):
        if MARKER_LIKE.match(line) and line.strip() not in (BEGIN, END):
            raise ValueError(f"line {n}: {line.strip()!r} looks like a solution marker but is not spelt "
                             f"{BEGIN!r} or {END!r}; fix the spelling so the solution is stripped")
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


EXERCISE = re.compile(r"^::::\{exercise\} (?P<title>[^\n]+)\n(?::[\w-]+:[^\n]*\n)*\n?(?P<body>.*?)\n::::$",
                      re.M | re.S)


def plain_exercises(markdown: str) -> str:
    """The book's exercise directives as plain Markdown, '**Exercise 2.1: title.** text', which
    Jupyter and Colab render (they show a directive as its raw text)."""
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a cell's text (str), got {type(markdown).__name__}")
    return EXERCISE.sub(lambda m: f"**Exercise {m['title'].rstrip('.')}.** {m['body'].strip()}", markdown)


def solution_blocks(source: str) -> list[str]:
    """The code between each pair of solution markers, whitespace-normalised."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a cell's source text (str), got {type(source).__name__}")
    blocks = re.findall(rf"{re.escape(BEGIN)}\n(.*?)^\s*{re.escape(END)}", source, re.S | re.M)
    return [" ".join(b.split()) for b in blocks]


def student_notebook(nb: dict) -> dict:
    """The student copy of one notebook. Refuses a cell tagged ``exercise`` that has no marked
    solution (nothing would be stubbed) and a solution whose code already appears in an earlier
    code cell (the answer would leak into the student copy)."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError(f"nb must be a notebook (a dict with a list of 'cells'), got {type(nb).__name__}")
    cells = []
    code_texts = [(k, " ".join("".join(c.get("source", "")).split())) for k, c in enumerate(nb["cells"])
                  if c.get("cell_type") == "code" and "exercise" not in c.get("metadata", {}).get("tags", [])]
    for n, cell in enumerate(nb["cells"]):
        raw_tags = cell.get("metadata", {}).get("tags", [])
        if not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags):
            raise ValueError(f"cell {n}: tags must be a list of strings, got {raw_tags!r}; fix the cell's metadata")
        tags = set(raw_tags)
        if "cell_type" not in cell or "source" not in cell:
            raise ValueError(f"cell {n} has no 'cell_type' or 'source': open and save the notebook in Jupyter")
        odd = [t for t in tags if t not in REMOVED_TAGS | {"exercise"}
               and re.fullmatch(r"(exercise[\s_-]*checks?|solutions?|exercises?)", t.strip(), re.I)]
        if odd:
            raise ValueError(f"cell {n} has the tag {odd[0]!r}, which looks like one of "
                             f"{sorted(REMOVED_TAGS | {'exercise'})} but is not spelt so; fix the tag so "
                             f"the cell is handled (a misspelt 'solution' tag would leak its answer)")
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "exercise" in tags:
            blocks = solution_blocks(src)
            if not blocks:
                raise ValueError(f"cell {n} is tagged 'exercise' but has no {BEGIN!r} ... {END!r} block: "
                                 f"nothing would be stubbed; mark its solution")
            for block in blocks:
                leak = next((k for k, code in code_texts if block and block in code), None)
                if leak is not None:
                    raise ValueError(f"cell {n}: the solution of this exercise already appears in code cell "
                                     f"{leak}, so the student copy would contain the answer; change the "
                                     f"exercise or that cell")
        elif cell.get("cell_type") == "code" and strip_solutions(src) != src:
            raise ValueError(f"cell {n} has solution markers but is not tagged 'exercise': the public site "
                             f"would show its solution; tag it 'exercise'")
        if "course-solution" in src and "solution" not in tags:
            raise ValueError(f"cell {n} holds a 'course-solution' answer but is not tagged 'solution': the "
                             f"student copy would keep it; tag it 'solution'")
        if REMOVED_TAGS & tags:
            continue
        cell = dict(cell)
        cell["source"] = strip_solutions(src)
        if cell["cell_type"] == "markdown":
            cell["source"] = plain_exercises(cell["source"])
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    return {**nb, "cells": cells}


def replay_order(nb: dict) -> list[tuple[str, int, str]]:
    """The code cells of a notebook in the order one kernel runs both its copies, as (role, index
    of the cell in ``nb["cells"]``, source).

    Role ``instructor``: the exercise with its solution, the cells up to its hidden check and the
    check; then role ``student``: the exercise's stub and those cells again, now as the student
    copy runs them; role ``both``: every other cell. The cells after an exercise thus run in the
    state of a student who left it open, so CI executes every student copy at the cost of a few
    cheap cells (conftest.py). The ``both`` and ``student`` cells are, in order, exactly the
    student copy's code cells (a test checks it). A cell that uses an exercise's answer belongs
    between the exercise and its hidden check, so that the instructor's run shows the solution.
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise TypeError(f"nb must be a notebook (a dict with a list of 'cells'), got {type(nb).__name__}")
    order: list[tuple[str, int, str]] = []
    exercise: tuple[int, str] | None = None
    between: list[tuple[int, str]] = []
    for n, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "exercise" in tags:
            if exercise is not None:
                raise ValueError(f"cell {n} is an exercise, but the exercise in cell {exercise[0]} has no "
                                 f"hidden check ('exercise-check' cell) before it; add that check")
            exercise, between = (n, src), []
            order.append(("instructor", n, src))
        elif "exercise-check" in tags:
            if exercise is None:
                raise ValueError(f"cell {n} is an 'exercise-check' cell with no exercise cell before it; "
                                 f"move it after its exercise")
            order.append(("instructor", n, src))
            order.append(("student", exercise[0], strip_solutions(exercise[1])))
            order += [("student", k, s) for k, s in between]
            exercise = None
        elif "solution" in tags:   # removed from the student copy
            order.append(("instructor", n, src))
        elif exercise is not None:
            between.append((n, src))
            order.append(("instructor", n, src))
        else:
            order.append(("both", n, src))
    if exercise is not None:
        raise ValueError(f"the exercise in cell {exercise[0]} has no hidden check ('exercise-check' cell) "
                         f"after it; add one")
    return order


def make_student_copies(src: str | Path, dst: str | Path) -> list[Path]:
    """Write a student copy of every notebook in ``src`` into ``dst``.

    Refuses (before writing anything) a missing or empty ``src``, a ``dst`` that is ``src``
    itself (that would replace the instructor's notebooks), and notebooks whose markers it
    cannot strip. Existing student copies in ``dst`` are replaced.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"notebook directory {src} does not exist (or is not a directory)")
    paths = sorted(src.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {src}")
    if dst.resolve() == src.resolve() or (dst.exists() and dst.samefile(src)):
        raise ValueError(f"the output directory {dst} is the notebook directory {src}: the student copies would "
                         f"overwrite the instructor's notebooks. Choose another output directory, e.g. student/")
    copies = {}
    for path in paths:  # every notebook is converted before any file is written
        try:
            copies[dst / path.name] = student_notebook(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    dst.mkdir(parents=True, exist_ok=True)
    for out, nb in copies.items():
        out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return list(copies)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m genai_lib.student NOTEBOOK_DIR OUTPUT_DIR", file=sys.stderr)
        return 2
    try:
        written = make_student_copies(*argv)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, AttributeError) as e:  # a cell without "source" or "cell_type"
        print(f"error: a notebook is malformed ({type(e).__name__}: {e}); open and save it in Jupyter", file=sys.stderr)
        return 1
    for p in written:
        print("wrote", p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
