"""Grade student notebooks by their self-checks: ``python -m genai_lib.grade SUBMISSIONS/ --out grades.csv``.

Every ``*.ipynb`` under ``SUBMISSIONS/`` (e.g. ``alice/03a_gpt.ipynb``) is executed in memory from
its file (the submission is never written), with its old outputs cleared, a time limit per
notebook and Python socket connections to other machines refused. Each self-check that runs
(``check.<name>(...)``) reports to a log only the grader reads, whatever the notebook displays,
and is recorded as

* ``passed``, ``failed``, ``not attempted`` (the exercise still raises NotImplementedError), or
* ``not run``: the check never ran (its cell raised, the time limit struck, or the cell is gone).

The checks expected of each notebook come from the assignment (``--assignment student/``, the
student copies handed out) or else from all submissions of the same notebook together, so deleting
a check cell cannot shrink a row. The gradebook is one CSV row per submission with one column per
check, the number passed and the first error; beside it, one feedback file per submission
(``<out stem>_feedback/<name>.md``). It runs wherever Jupyter runs, Colab included.

Self-checks are formative: a student who reads the library can make them pass (the reference
answers ship with it). Use the gradebook for feedback and participation, not for high stakes.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .check.core import GRADE_LOG_ENV
from .validate import fail

CHECK_CALL = re.compile(r"\bcheck\.(\w+)\(")
NOT_ATTEMPTED = "not implemented yet"
# Run in the kernel before the submission: refuse Python socket connections except to this machine
# (the kernel's own channels are already open). A guard against accidents, not a sandbox: shell
# commands (`!pip ...`) and code outside Python's socket module are not stopped.
NO_NETWORK = """
import socket as _s
def _local_only(method):
    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("localhost", "127.0.0.1", "::1") and "/" not in host:
            raise OSError(f"grading runs without network: connection to {host} refused")
        return method(self, address)
    return guarded
_s.socket.connect = _local_only(_s.socket.connect)
_s.socket.connect_ex = _local_only(_s.socket.connect_ex)
del _s, _local_only
"""


@dataclass
class Grade:
    submission: str
    checks: dict[str, tuple[str, str]] = field(default_factory=dict)   # name: (status, message)
    error: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(status == "passed" for status, _ in self.checks.values())


def expected_checks(nb: dict) -> list[str]:
    """The self-checks a notebook calls in its visible cells, in order."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        fail("nb", "a notebook (a dict with a list of 'cells')", type(nb).__name__, error=TypeError)
    names = []
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code" and "remove-cell" not in cell.get("metadata", {}).get("tags", []):
            code = "\n".join(line.split("#")[0] for line in "".join(cell.get("source", "")).splitlines())
            for name in CHECK_CALL.findall(code):
                if name not in names and name != "or_reference":
                    names.append(name)
    return names


def _read_log(path: Path) -> dict[str, tuple[str, str]]:
    """The last result of each check in the grader's log."""
    found = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            status = "passed" if r["passed"] else "not attempted" if NOT_ATTEMPTED in r["message"] else "failed"
            found[r["name"]] = (status, r["message"])
    return found


def _check_timeout(timeout) -> float:
    import numbers
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout < math.inf:
        fail("timeout", "a positive, finite number of seconds", repr(timeout))
    return float(timeout)


def grade_notebook(path: str | Path, name: str, timeout: float = 600.0, kernel: str = "python3",
                   expected: list[str] | None = None) -> Grade:
    """Execute one submitted notebook (from memory; the file is only read) and collect the
    results of its self-checks; ``expected`` names the checks the assignment asks for."""
    import nbformat
    from nbclient import NotebookClient

    path, timeout = Path(path), _check_timeout(timeout)
    if not path.is_file():
        fail("path", "a submitted notebook file", str(path), error=FileNotFoundError)
    grade = Grade(name)
    try:
        nb = nbformat.read(path, as_version=4)
        names = expected if expected is not None else expected_checks(nb)
    except Exception as e:   # not JSON, not a notebook
        grade.error = f"could not read the notebook ({type(e).__name__}: {e})"
        nb, names = None, expected or []
    start = time.perf_counter()
    if nb is not None:
        with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
            log = Path(tmp) / "results.jsonl"
            for cell in nb.cells:          # results left in the file count for nothing
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            nb.cells.insert(0, nbformat.v4.new_code_cell(NO_NETWORK))   # the network guard runs first
            client = NotebookClient(nb, timeout=max(1, int(timeout)), kernel_name=kernel, allow_errors=True,
                                    resources={"metadata": {"path": tmp}})
            old = os.environ.get(GRADE_LOG_ENV)
            os.environ[GRADE_LOG_ENV] = str(log)   # the kernel inherits it when it starts
            try:
                with client.setup_kernel():
                    for i, cell in enumerate(nb.cells):
                        if cell.cell_type != "code":
                            continue
                        left = timeout - (time.perf_counter() - start)
                        if left <= 0:
                            grade.error = grade.error or f"time limit of {timeout:.0f} s reached before cell {i - 1}"
                            break
                        client.timeout = max(1, int(left))
                        client.execute_cell(cell, i)
                        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                        if errors and not grade.error:
                            grade.error = f"cell {i - 1} raised {errors[0]['ename']}: {errors[0]['evalue'][:200]}"
            except Exception as e:   # time limit, dead kernel, ...: grade what ran, say why it stopped
                why = (f"time limit of {timeout:.0f} s reached" if "Timeout" in type(e).__name__
                       else f"execution stopped: {type(e).__name__}: {str(e)[:200]}")
                grade.error = grade.error or why
            finally:
                if old is None:
                    os.environ.pop(GRADE_LOG_ENV, None)
                else:
                    os.environ[GRADE_LOG_ENV] = old
            results = _read_log(log)
            grade.checks = {n: results[n] for n in names if n in results}
    grade.seconds = time.perf_counter() - start
    for missing in names:
        grade.checks.setdefault(missing, ("not run", "this check did not run: its cell raised, the time "
                                          "limit struck first, or the cell is missing"))
    grade.checks = {n: grade.checks[n] for n in names}
    return grade


def grade_directory(submissions: str | Path, out: str | Path, timeout: float = 600.0,
                    kernel: str = "python3", assignment: str | Path | None = None) -> list[Grade]:
    """Grade every ``*.ipynb`` under ``submissions``; write the gradebook CSV ``out`` and a
    feedback file per submission in ``<out stem>_feedback/``. The checks expected of a notebook
    come from the notebook of the same name in ``assignment`` (the student copies), else from all
    submissions of that name. Refuses to write inside ``submissions`` or over earlier results."""
    submissions, out = Path(submissions), Path(out)
    timeout = _check_timeout(timeout)
    if not submissions.is_dir():
        fail("submissions", "a directory of submitted notebooks", str(submissions), error=FileNotFoundError)
    paths = sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        fail("submissions", "a directory containing *.ipynb files", f"{submissions} (none found)",
             error=FileNotFoundError)
    feedback = out.parent / f"{out.stem}_feedback"
    for target in (out, feedback):
        if target.resolve().is_relative_to(submissions.resolve()):
            fail("out", "a path outside the submissions directory (grading never writes there)", str(target))
    if out.exists():
        fail("out", "a gradebook file that does not exist yet (an old one is never overwritten)", str(out),
             "Choose another name or move the old gradebook away.", FileExistsError)
    if feedback.exists() and any(feedback.iterdir()):
        fail("out", f"a name whose feedback folder {feedback} is empty or absent (old feedback is never "
             "overwritten)", str(out), "Choose another name or move the old folder away.", FileExistsError)
    _check_kernel(kernel)
    expected = _expected_by_name(paths, assignment)
    grades = [grade_notebook(p, p.relative_to(submissions).with_suffix("").as_posix(), timeout, kernel,
                             expected[p.name]) for p in paths]
    names = []
    for g in grades:
        names += [n for n in g.checks if n not in names]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *names, "passed", "of", "seconds", "error"])
        for g in grades:
            writer.writerow([g.submission, *(g.checks.get(n, ("", ""))[0] for n in names), g.passed,
                             len(g.checks), f"{g.seconds:.0f}", g.error])
    feedback.mkdir(exist_ok=True)
    for g in grades:
        lines = [f"# Feedback: {g.submission}", "", f"{g.passed} of {len(g.checks)} self-checks passed.", ""]
        lines += [f"* **{n}**: {status}. {message}" for n, (status, message) in g.checks.items()]
        if g.error:
            lines += ["", f"The notebook did not run cleanly: {g.error}"]
        (feedback / (g.submission.replace("/", "__") + ".md")).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return grades


def _check_kernel(kernel: str) -> None:
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        import nbclient  # noqa: F401  (needed to run the notebooks)
    except ImportError as e:
        fail("kernel", "a Jupyter installation (nbclient, ipykernel)", f"an import error: {e}",
             "Run `pip install nbclient ipykernel`.", ImportError)
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        fail("kernel", f"an installed Jupyter kernel ({', '.join(sorted(KernelSpecManager().find_kernel_specs()))})",
             repr(kernel))


def _expected_by_name(paths: list[Path], assignment) -> dict[str, list[str]]:
    """{notebook file name: the checks expected of it}."""
    import nbformat
    expected: dict[str, list[str]] = {}
    if assignment is not None:
        assignment = Path(assignment)
        if not assignment.is_dir():
            fail("assignment", "the directory of the notebooks handed out (the student copies)", str(assignment),
                 error=FileNotFoundError)
        for p in paths:
            handed_out = assignment / p.name
            if not handed_out.is_file():
                fail("assignment", f"a directory holding {p.name}, which was submitted", str(assignment),
                     error=FileNotFoundError)
            expected[p.name] = expected_checks(nbformat.read(handed_out, as_version=4))
        return expected
    for p in paths:   # no assignment: every check any submission of this notebook calls
        try:
            names = expected_checks(nbformat.read(p, as_version=4))
        except Exception:   # unreadable: reported when it is graded
            names = []
        expected.setdefault(p.name, [])
        expected[p.name] += [n for n in names if n not in expected[p.name]]
    return expected


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genai_lib.grade", description=__doc__.split("\n")[0])
    ap.add_argument("submissions", type=Path, help="directory of submitted notebooks (searched recursively)")
    ap.add_argument("--out", type=Path, required=True, help="gradebook CSV to write (must not exist)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per notebook (default 600)")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel to run the notebooks with")
    ap.add_argument("--assignment", type=Path, help="the student copies handed out: the checks each notebook "
                                                    "is graded on (default: all checks any submission calls)")
    args = ap.parse_args(argv)
    try:
        grades = grade_directory(args.submissions, args.out, args.timeout, args.kernel, args.assignment)
    except (OSError, ValueError, TypeError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for g in grades:
        print(f"{g.submission}: {g.passed} of {len(g.checks)} checks passed" + (f"; {g.error}" if g.error else ""))
    print(f"wrote {args.out} and {args.out.parent / (args.out.stem + '_feedback')}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
