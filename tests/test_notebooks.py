"""The notebook conventions of the contributor page, checked without running a kernel."""
import json
import re
from pathlib import Path

import pytest

from genai_lib.student import strip_solutions

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def config_value(key):
    match = re.search(rf"^\s+{key}:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M)
    return match.group(1)


def test_there_are_notebooks_and_all_are_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    assert NOTEBOOKS
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in toc, f"{nb.name} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    nb = load(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "commit notebooks without outputs"
    setup = source(code[0])
    assert "google.colab" in setup and "%pip install" in setup and "describe()" in setup
    repo = re.search(r'REPO = "([^"]+)"', setup).group(1)
    assert repo == config_value("url"), "the set-up cell's REPO must equal repository.url in _config.yml"
    asserts = [c for c in code if "assert" in source(c)]
    assert asserts and all("remove-cell" in c["metadata"].get("tags", []) for c in asserts)
    exercises = [c for c in code if "exercise" in c["metadata"].get("tags", [])]
    assert len(exercises) >= 1, "every notebook has at least one self-checked exercise"
    for c in exercises:
        assert "### BEGIN SOLUTION" in source(c)
        assert "### BEGIN SOLUTION" not in strip_solutions(source(c))
    checks = [c for c in code if "exercise-check" in c["metadata"].get("tags", [])]
    assert len(checks) == len(exercises) and all(".passed" in source(c) for c in checks)


def test_citation_keys_exist():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    texts = [p.read_text() for p in (ROOT / "book").glob("*.md")] + [p.read_text() for p in NOTEBOOKS]
    cited = {k for t in texts for group in re.findall(r"\{cite\}`([^`]+)`", t) for k in group.split(",")}
    cited.discard("key")  # the contributor page's example
    assert cited and cited <= keys, cited - keys
