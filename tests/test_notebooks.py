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
    assert not any("PLACEHOLDER" in source(c) for c in nb["cells"]), "a placeholder was left in the notebook"
    # written answers sit in an admonition the public edition removes (book/_ext/course_solutions.py)
    answers = [c for c in nb["cells"] if "solution" in c["metadata"].get("tags", [])]
    assert all(":class: course-solution" in source(c) for c in answers), "wrap written answers"
    checks = [c for c in code if "exercise-check" in c["metadata"].get("tags", [])]
    assert len(checks) == len(exercises) and all(".passed" in source(c) for c in checks)


def test_citation_keys_exist():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    texts = [p.read_text() for p in (ROOT / "book").glob("*.md")] + [p.read_text() for p in NOTEBOOKS]
    cited = {k for t in texts for group in re.findall(r"\{cite\}`([^`]+)`", t) for k in group.split(",")}
    cited.discard("key")  # the contributor page's example
    assert cited and cited <= keys, cited - keys


def test_nbval_output_timeout_is_raised_for_every_notebook_cell():
    """The root conftest raises nbval's 5-second wait for output on every notebook cell it collects."""
    import subprocess
    import sys

    nb = NOTEBOOKS[0]
    code = ("import sys, pytest\n"
            "class Grab:\n"
            "    def pytest_collection_finish(self, session):\n"
            "        self.timeouts = {getattr(i, 'output_timeout', None) for i in session.items}\n"
            "g = Grab()\n"
            f"pytest.main(['--collect-only', '-q', {str(nb)!r}], plugins=[g])\n"
            "print('TIMEOUTS', sorted(g.timeouts))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    root_conftest = re.search(r"^NBVAL_OUTPUT_TIMEOUT = (\d+)", (ROOT / "conftest.py").read_text(), re.M)
    assert int(root_conftest.group(1)) >= 60
    assert f"TIMEOUTS [{root_conftest.group(1)}]" in out, out[-2000:]


def test_colab_install_is_pinned_to_this_release_in_every_notebook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_setup_cells", ROOT / "scripts" / "sync_setup_cells.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    url, ref = sync.wanted()
    assert ref == "v" + __import__("genai_lib").__version__
    assert sync.sync(check=True) == [], "run python scripts/sync_setup_cells.py"
    for path in NOTEBOOKS:
        setup = source(next(c for c in load(path)["cells"] if c["cell_type"] == "code"))
        assert '@{REF}"' in setup and f'REF = "{ref}"' in setup
    assert f"git+{url}@{ref}" in (ROOT / "book" / "setup.md").read_text()


def test_glue_text_from_another_notebook_has_a_format():
    """myst-nb splits `path::key:format` at the last colon, so `path::key` without a format
    silently becomes an unknown key (the book build then fails with a glue warning)."""
    pages = list((ROOT / "book").glob("*.md")) + NOTEBOOKS
    bad = [m for p in pages for m in re.findall(r"\{glue:text\}`([^`]+)`", p.read_text(encoding="utf-8"))
           if "::" in m and ":" not in m.split("::", 1)[1]]
    assert not bad, f"add a format such as :.0f to {bad}"


def test_every_errata_entry_names_its_article_and_links_to_its_correction():
    page = (ROOT / "book" / "errata.md").read_text(encoding="utf-8")
    entries = re.split(r"^### ", page, flags=re.M)[1:]
    assert len(entries) >= 15
    labels = set()
    for nb in NOTEBOOKS:
        labels |= set(re.findall(r"^\((\S+)\)=$", "\n".join(source(c) for c in load(nb)["cells"]), re.M))
    for md in (ROOT / "book").glob("*.md"):
        labels |= set(re.findall(r"^\((\S+)\)=$", md.read_text(encoding="utf-8"), re.M))
    for entry in entries:
        title = entry.splitlines()[0]
        assert re.search(r"\*\*Article 00[0-4], §\d", entry), f"errata entry {title!r} names no article and section"
        refs = re.findall(r"\{ref\}`([^`]+)`", entry)
        assert refs, f"errata entry {title!r} links to no section of the book"
        assert set(refs) <= labels, f"errata entry {title!r} links to unknown labels {set(refs) - labels}"



CODE_WIDTH = 88   # the book's code column shows this many characters (_static/course.css)


def long_code_lines(path):
    return [f"cell {i}, line {n + 1} ({len(line)} characters): {line.strip()[:50]}"
            for i, c in enumerate(load(path)["cells"]) if c["cell_type"] == "code"
            for n, line in enumerate(source(c).split("\n")) if len(line) > CODE_WIDTH]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_fits_the_column(path):
    """No sideways scrolling on the site: every code line within CODE_WIDTH characters.
    `python scripts/format_notebooks.py` fixes most lines (ruff format plus comment and string
    wrapping) and lists the rest."""
    long = long_code_lines(path)
    assert not long, (f"{len(long)} code lines wider than {CODE_WIDTH} characters; run "
                      f"`python scripts/format_notebooks.py notebooks/{path.name}`:\n" + "\n".join(long))


def test_the_width_check_sees_a_long_line(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "y = '" + "a" * 84 + "'"],
                     "metadata": {}, "outputs": [], "execution_count": None}]}
    path = tmp_path / "long.ipynb"
    path.write_text(json.dumps(nb))
    assert long_code_lines(path) == [f"cell 0, line 2 (90 characters): y = '{'a' * 45}"]


def _load_script(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# an exercise is a sphinx-exercise directive carrying the course's number (book/_ext/course_solutions.py)
EXERCISE = _load_script("exercises_page").EXERCISE


def exercise_counts():
    """{chapter: (exercises, self-checked)} from the notebooks' exercise directives and their
    cells tagged `exercise`."""
    counts = {}
    for path in NOTEBOOKS:
        cells = load(path)["cells"]
        n_ex = sum(len(EXERCISE.findall(source(c))) for c in cells if c["cell_type"] == "markdown")
        n_checked = sum("exercise" in c["metadata"].get("tags", []) for c in cells)
        chapter = int(path.name[:2])
        ex, checked = counts.get(chapter, (0, 0))
        counts[chapter] = (ex + n_ex, checked + n_checked)
    return counts


def test_every_chapter_has_four_exercises_two_self_checked_and_the_instructor_table_agrees():
    counts = exercise_counts()
    assert all(ex >= 4 and checked >= 2 for ex, checked in counts.values()), counts
    guide = (ROOT / "book" / "instructors.md").read_text()
    table = {int(c): (int(e), int(k)) for c, e, k in re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \|$", guide, re.M)}
    assert table == counts, f"book/instructors.md's table {table} differs from the notebooks {counts}"


def test_exercises_are_directives_with_the_course_number_as_label_and_none_is_left_in_bold():
    labels = []
    for path in NOTEBOOKS:
        for c in load(path)["cells"]:
            if c["cell_type"] != "markdown":
                continue
            text = source(c)
            assert not re.search(r"\*\*Exercise \d", text), f"{path.name}: an exercise not written as a directive"
            for number, _, label in EXERCISE.findall(text):
                assert label == "ex-" + number.replace(".", "-"), (path.name, number, label)
                labels.append(label)
    assert len(labels) == len(set(labels)) >= 4 * 7, "labels are unique across the book"


def test_the_exercises_page_lists_every_exercise():
    module = _load_script("exercises_page")
    assert (ROOT / "book" / "exercises.md").read_text() == module.page(), (
        "book/exercises.md is out of date: run `python scripts/exercises_page.py`")
    checked = sum(e[3] for p in NOTEBOOKS for e in module.exercises(p))
    assert checked == sum(k for _, k in exercise_counts().values())
