import json

import pytest

from genai_lib.student import make_student_copies, strip_solutions, student_notebook


def test_strip_solutions_keeps_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(f)\n"
    out = strip_solutions(src)
    assert "2 * x" not in out
    assert '    raise NotImplementedError("Exercise' in out and out.endswith("print(f)\n")


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx", "x\n### END SOLUTION\n",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n"])
def test_unbalanced_markers_fail(bad):
    with pytest.raises(ValueError):
        strip_solutions(bad)


def nb(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def cell(kind, source, tags=()):
    c = {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": source}
    if kind == "code":
        c.update(outputs=[{"output_type": "stream", "name": "stdout", "text": "secret"}], execution_count=3)
    return c


def test_student_notebook_removes_solutions_checks_and_outputs(tmp_path):
    book = nb([cell("markdown", "Exercise 1"),
               cell("code", ["def f():\n", "    ### BEGIN SOLUTION\n", "    return 42\n", "    ### END SOLUTION\n"]),
               cell("code", "check.thing(f)"),
               cell("code", "assert check.thing(f).passed", tags=["remove-cell", "exercise-check"]),
               cell("markdown", "The answer is 42.", tags=["solution"])])
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "01.ipynb").write_text(json.dumps(book))
    [out] = make_student_copies(tmp_path / "src", tmp_path / "student")
    text = out.read_text()
    assert "42" not in text and "secret" not in text and "exercise-check" not in text
    student = json.loads(text)
    assert [c["source"] for c in student["cells"]][2] == "check.thing(f)"
    assert all(c.get("execution_count") is None for c in student["cells"] if c["cell_type"] == "code")
    assert len(student_notebook(book)["cells"]) == 3
