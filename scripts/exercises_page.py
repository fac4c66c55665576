"""Write ``book/exercises.md``: every exercise of the course, by chapter, with a link to it and
whether it checks itself. ``tests/test_notebooks.py`` fails when the page and the notebooks differ.

Usage: ``python scripts/exercises_page.py``
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISE = re.compile(r"^::::\{exercise\} (\d+[a-z]?\.\d+): (.+)\n:label: (ex-[\w-]+)\n:nonumber:$", re.M)
CHAPTERS = {1: "What generative AI is", 2: "Variational autoencoders", 3: "Sequence models and GPT",
            4: "Generative adversarial networks", 5: "Flows and diffusion", 6: "Data", 7: "Applications",
            8: "Evaluation, privacy and responsibility"}


def exercises(path: Path) -> list[tuple[str, str, str, bool]]:
    """(number, title, label, self-checked) for each exercise of a notebook, in order; an exercise
    is self-checked when a code cell tagged `exercise` follows it before the next one."""
    found = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            found += [[n, t, label, False] for n, t, label in EXERCISE.findall(text)]
        elif "exercise" in cell["metadata"].get("tags", []) and found:
            found[-1][3] = True
    return [tuple(e) for e in found]


def page() -> str:
    lines = ["# Exercises", "",
             "Every exercise of the course, by chapter and notebook. Those marked *self-checked* have",
             "a `check.<name>(...)` cell that says right or wrong with a hint; the others are derivations,",
             "questions and open experiments. The {doc}`instructors` page suggests which to assign when.", ""]
    by_chapter: dict[int, list[Path]] = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        by_chapter.setdefault(int(path.name[:2]), []).append(path)
    for chapter, paths in by_chapter.items():
        lines += [f"## Chapter {chapter}: {CHAPTERS.get(chapter, '')}".rstrip(": "), ""]
        for path in paths:
            lines.append(f"{{doc}}`../notebooks/{path.stem}`")
            lines.append("")
            for number, title, label, checked in exercises(path):
                tag = " (self-checked)" if checked else ""
                lines.append(f"* {{ref}}`Exercise {number}: {title} <{label}>`{tag}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    out = ROOT / "book" / "exercises.md"
    out.write_text(page(), encoding="utf-8")
    print(f"wrote {out}")
