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
               cell("code", ["def f():\n", "    ### BEGIN SOLUTION\n", "    return 42\n", "    ### END SOLUTION\n"],
                    tags=["exercise"]),
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


def test_an_exercise_cell_without_a_marked_solution_is_refused():
    book = nb([cell("code", "def f():\n    return 42\n", tags=["exercise"])])
    with pytest.raises(ValueError, match="cell 0 is tagged 'exercise' but has no"):
        student_notebook(book)


def test_a_solution_that_appears_in_an_earlier_cell_is_refused():
    answer = "    return -0.5 * (1 + lv - mu**2 - lv.exp()).sum(-1)\n"
    book = nb([cell("code", "def kl(mu, lv):\n" + answer),
               cell("code", "def gaussian_kl(mu, lv):\n    ### BEGIN SOLUTION\n" + answer + "    ### END SOLUTION\n",
                    tags=["exercise"])])
    with pytest.raises(ValueError, match="already appears in code cell 0"):
        student_notebook(book)
    book["cells"][0]["source"] = "def kl(mu, lv):\n    return 0.0\n"
    assert "return -0.5" not in json.dumps(student_notebook(book))


def test_every_course_notebook_makes_a_student_copy(tmp_path):
    from pathlib import Path
    root = Path(__file__).parents[1] / "notebooks"
    written = make_student_copies(root, tmp_path)
    assert len(written) == len(list(root.glob("*.ipynb")))
    for path in written:
        text = path.read_text()
        for leftover in ("### BEGIN SOLUTION", "course-solution", "{exercise}", "exercise-check"):
            assert leftover not in text, (path.name, leftover)


@pytest.mark.parametrize("tag", ["Solution", "solutions", "Exercise-Check", "exercise_check", "Exercise"])
def test_a_misspelt_tag_is_refused(tag):
    book = nb([cell("markdown", "The answer is 42.", tags=[tag])])
    with pytest.raises(ValueError, match=f"has the tag '{tag}'"):
        student_notebook(book)


def test_student_copies_run_past_every_open_exercise(tmp_path):
    """Statically, for every course notebook: in its student copy each stub sits inside a function
    (defining it cannot raise), and later cells use that function only through its self-check or
    check.or_reference, so "Run all" is not stopped by an open exercise."""
    import re
    from pathlib import Path
    root = Path(__file__).parents[1] / "notebooks"
    for path in make_student_copies(root, tmp_path):
        cells = json.loads(path.read_text())["cells"]
        for i, c in enumerate(cells):
            if "exercise" not in c["metadata"].get("tags", []):
                continue
            src = "".join(c["source"])
            stubs = [line for line in src.splitlines() if "raise NotImplementedError" in line]
            assert stubs and all(line.startswith((" ", "\t")) for line in stubs), (path.name, i)
            for name in re.findall(r"^def (\w+)", src, re.M):
                for j, later in enumerate(cells[i + 1:], start=i + 1):
                    if later["cell_type"] != "code":
                        continue
                    for line in "".join(later["source"]).splitlines():
                        code = re.sub(r'"[^"]*"|\'[^\']*\'', '""', line)   # not inside string literals
                        uses = re.search(rf"\b{name}\b", code)
                        allowed = re.search(rf"check\.(\w+)\(\s*{name}\b|check\.or_reference\(\s*{name}\b", line)
                        assert not uses or allowed or line.lstrip().startswith("#"), (
                            f"{path.name} cell {j} uses the exercise function {name} directly: {line.strip()}; "
                            f"take it through check.or_reference so that a student copy runs on")


def test_exercise_directives_become_plain_markdown_in_student_copies():
    from genai_lib.student import plain_exercises
    md = ("## Exercises\n\n::::{exercise} 2.1: the KL\n:label: ex-2-1\n:nonumber:\n\nDerive it.\nThen code it.\n::::\n\n"
          "::::{exercise} 2.2: the sample\n:label: ex-2-2\n:nonumber:\n\nReturn z.\n::::")
    assert plain_exercises(md) == ("## Exercises\n\n**Exercise 2.1: the KL.** Derive it.\nThen code it.\n\n"
                                   "**Exercise 2.2: the sample.** Return z.")
    book = nb([cell("markdown", md)])
    assert "{exercise}" not in json.dumps(student_notebook(book))


def test_markers_outside_an_exercise_cell_and_untagged_answers_are_refused():
    marked = "def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n"
    with pytest.raises(ValueError, match="has solution markers but is not tagged 'exercise'"):
        student_notebook(nb([cell("code", marked)]))
    answer = "::::{admonition} Answer\n:class: course-solution\n42\n::::"
    with pytest.raises(ValueError, match="not tagged 'solution'"):
        student_notebook(nb([cell("markdown", answer)]))
    with pytest.raises(ValueError, match="tags must be a list of strings"):
        student_notebook(nb([{"cell_type": "markdown", "metadata": {"tags": "solution"}, "source": answer}]))
    # a later cell that spells out the answer is a leak too
    with pytest.raises(ValueError, match="already appears in code cell 1"):
        student_notebook(nb([cell("code", marked, tags=["exercise"]), cell("code", "x = 1\nreturn 42")]))


def test_replay_order_runs_the_student_copy_after_each_hidden_check():
    from genai_lib.student import replay_order
    book = nb([cell("code", "import check"),
               cell("code", "def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n",
                    tags=["exercise"]),
               cell("markdown", "Try it:"),
               cell("code", "check.thing(f)"),
               cell("code", "assert check.thing(f).passed", tags=["remove-cell", "exercise-check"]),
               cell("code", "print('after')")])
    order = replay_order(book)
    assert [(role, n) for role, n, _ in order] == [("both", 0), ("instructor", 1), ("instructor", 3),
                                                   ("instructor", 4), ("student", 1), ("student", 3),
                                                   ("both", 5)]
    assert "return 42" in order[1][2] and "return 42" not in order[4][2] and "NotImplementedError" in order[4][2]
    student = [c["source"] for c in student_notebook(book)["cells"] if c["cell_type"] == "code"]
    assert [src for role, _, src in order if role != "instructor"] == student


@pytest.mark.parametrize("cells, match", [
    ([cell("code", "def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", tags=["exercise"])],
     "exercise in cell 0 has no hidden check"),
    ([cell("code", "assert True", tags=["exercise-check"])], "cell 0 is an 'exercise-check' cell with no exercise"),
    ([cell("code", "def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", tags=["exercise"]),
      cell("code", "def g():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", tags=["exercise"])],
     "exercise in cell 0 has no hidden check"),
])
def test_replay_order_refuses_an_exercise_without_its_check(cells, match):
    from genai_lib.student import replay_order
    with pytest.raises(ValueError, match=match):
        replay_order(nb(cells))


def test_every_course_notebook_replays_exactly_its_student_copy():
    """What conftest.py runs as the student copy is, cell for cell, the student copy; and a cell that
    uses an exercise's answer sits before the exercise's hidden check (the instructor's run shows
    the solution's output, the replay the student's)."""
    from pathlib import Path

    from genai_lib.student import replay_order
    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb")):
        book = json.loads(path.read_text())
        order = replay_order(book)
        student = ["".join(c["source"]) for c in student_notebook(book)["cells"] if c["cell_type"] == "code"]
        assert [src for role, _, src in order if role != "instructor"] == student, path.name
        assert sum(role == "student" for role, _, _ in order) > 0, path.name
        for role, n, src in order:
            assert role != "both" or "or_reference" not in src, (
                f"{path.name} cell {n} uses an exercise's answer after its hidden check; move the check below it")
