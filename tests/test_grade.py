"""The grader: two fake submissions (one right, one wrong), a crash, the time limit and the refusals."""
import csv

import nbformat
import pytest

from genai_lib.grade import expected_checks, grade_directory, main

SETUP = "import math\nfrom genai_lib import check"
RIGHT = "def perplexity(loss):\n    return math.exp(loss), loss / math.log(2)"
WRONG = "def perplexity(loss):\n    return loss, loss"
OPEN = "def clip_by_norm(grads, max_norm):\n    raise NotImplementedError('Exercise: replace this line')"


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture
def submissions(tmp_path):
    root = tmp_path / "submissions"
    for student, answer in (("alice", RIGHT), ("bob", WRONG)):
        (root / student).mkdir(parents=True)
        nbformat.write(notebook(SETUP, answer, "check.perplexity(perplexity)", OPEN,
                                "check.clip_by_norm(clip_by_norm)"), root / student / "03a.ipynb")
    (root / "carol").mkdir()
    crash = ("import socket\nsocket.create_connection(('203.0.113.1', 80), timeout=5)")
    nbformat.write(notebook(SETUP, RIGHT, crash, "check.perplexity(perplexity)"), root / "carol" / "03a.ipynb")
    return root


def test_a_right_and_a_wrong_submission_are_graded_and_left_untouched(submissions, tmp_path):
    before = {p: p.read_bytes() for p in submissions.rglob("*.ipynb")}
    out = tmp_path / "grades.csv"
    grades = {g.submission: g for g in grade_directory(submissions, out, timeout=120)}
    assert {p: p.read_bytes() for p in submissions.rglob("*.ipynb")} == before   # never modified
    assert sorted(p.name for p in submissions.rglob("*")) == ["03a.ipynb"] * 3 + ["alice", "bob", "carol"]
    alice, bob, carol = grades["alice/03a"], grades["bob/03a"], grades["carol/03a"]
    assert alice.checks["perplexity"][0] == "passed" and alice.passed == 1 and not alice.error
    assert alice.checks["clip_by_norm"][0] == "not attempted"
    assert bob.checks["perplexity"][0] == "failed" and "Hint" in bob.checks["perplexity"][1]
    # carol's network call is refused: her notebook raises there, and the check after it still runs
    assert "without network" in carol.error and carol.checks["perplexity"][0] == "passed"
    rows = {r["submission"]: r for r in csv.DictReader(out.open())}
    assert rows["alice/03a"]["perplexity"] == "passed" and rows["bob/03a"]["perplexity"] == "failed"
    assert rows["alice/03a"]["passed"] == "1" and rows["bob/03a"]["passed"] == "0"
    feedback = (tmp_path / "grades_feedback" / "bob__03a.md").read_text()
    assert "0 of 2 self-checks passed" in feedback and "perplexity**: failed" in feedback


def test_old_outputs_and_printed_ticks_count_for_nothing_and_a_deleted_check_is_not_run(tmp_path):
    root, handed_out = tmp_path / "subs", tmp_path / "assignment"
    root.mkdir()
    handed_out.mkdir()
    nbformat.write(notebook(SETUP, OPEN, "check.perplexity(perplexity)", "check.clip_by_norm(clip_by_norm)"),
                   handed_out / "03a.ipynb")
    # a forged tick printed by the student, an old output left in a cell that never runs, and
    # the clip_by_norm check cell deleted
    forged = notebook(SETUP, "print('✅ perplexity: correct on all 4 test cases.')", "")
    forged.cells[2].outputs = [nbformat.v4.new_output("stream", text="✅ clip_by_norm: correct\n")]
    nbformat.write(forged, root / "03a.ipynb")
    [g] = grade_directory(root, tmp_path / "g.csv", timeout=60, assignment=handed_out)
    assert g.checks == {"perplexity": ("not run", g.checks["perplexity"][1]),
                        "clip_by_norm": ("not run", g.checks["clip_by_norm"][1])}
    assert g.passed == 0 and "did not run" in g.checks["perplexity"][1]
    # a check whose result is assigned, not displayed, still counts
    nbformat.write(notebook(SETUP, RIGHT, "r = check.perplexity(perplexity)"), root / "03a.ipynb")
    [g] = grade_directory(root, tmp_path / "g2.csv", timeout=60)
    assert g.checks["perplexity"][0] == "passed"


def test_a_check_after_a_crash_is_not_run_and_the_time_limit_holds(tmp_path):
    root = tmp_path / "subs"
    root.mkdir()
    nbformat.write(notebook(SETUP, "raise ValueError('boom')\n" + RIGHT, "check.perplexity(perplexity)"),
                   root / "crash.ipynb")
    nbformat.write(notebook(SETUP, "import time\ntime.sleep(60)", RIGHT, "check.perplexity(perplexity)"),
                   root / "slow.ipynb")
    grades = {g.submission: g for g in grade_directory(root, tmp_path / "g.csv", timeout=8)}
    crash, slow = grades["crash"], grades["slow"]
    assert "ValueError: boom" in crash.error and crash.checks["perplexity"][0] == "not run"
    assert "time limit" in slow.error and slow.checks["perplexity"][0] == "not run" and slow.seconds < 30


def test_expected_checks_ignore_hidden_cells_and_or_reference():
    nb = notebook("check.slerp(slerp)", "f = check.or_reference(slerp, 'slerp')")
    nb.cells.append(nbformat.v4.new_code_cell("assert check.q_sample(q).passed", metadata={"tags": ["remove-cell"]}))
    assert expected_checks(nb) == ["slerp"]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "600"])
def test_a_bad_timeout_is_refused(submissions, tmp_path, timeout):
    with pytest.raises((ValueError, TypeError), match="timeout must be a positive, finite number"):
        grade_directory(submissions, tmp_path / "g.csv", timeout=timeout)


def test_refusals(submissions, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="submissions must be a directory"):
        grade_directory(tmp_path / "missing", tmp_path / "g.csv")
    with pytest.raises(ValueError, match="outside the submissions directory"):
        grade_directory(submissions, submissions / "grades.csv")
    (tmp_path / "old.csv").write_text("keep me")
    with pytest.raises(FileExistsError, match="never overwritten"):
        grade_directory(submissions, tmp_path / "old.csv")
    assert (tmp_path / "old.csv").read_text() == "keep me"
    with pytest.raises(ValueError, match="kernel must be an installed Jupyter kernel"):
        grade_directory(submissions, tmp_path / "k.csv", kernel="no-such-kernel")
    (tmp_path / "prior_feedback").mkdir()
    (tmp_path / "prior_feedback" / "alice.md").write_text("keep me")
    with pytest.raises(FileExistsError, match="old feedback is never overwritten"):
        grade_directory(submissions, tmp_path / "prior.csv")
    assert (tmp_path / "prior_feedback" / "alice.md").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "g.csv")]) == 1
    assert "none found" in capsys.readouterr().err
