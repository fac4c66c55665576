"""Grade student notebooks by their self-checks: ``python -m genai_lib.grade SUBMISSIONS/ --out grades.csv``.

Every ``*.ipynb`` under ``SUBMISSIONS/`` (e.g. ``alice/03a_gpt.ipynb``) is executed from a
temporary copy (the submission itself is never modified), cell by cell, with a time limit per
notebook and outgoing network connections refused. Each self-check a cell shows (``check.<name>(...)``
prints ✅ or ❌ with a message) is recorded as

* ``passed``, ``failed``, ``not attempted`` (the exercise still raises NotImplementedError), or
* ``not run``: the check's cell was never reached or raised (a crash earlier, or the time limit).

The gradebook is one CSV row per submission with one column per check, the number passed and
any error; beside it, one feedback file per submission (``<out stem>_feedback/<name>.md``) with
each check's message. It runs wherever Jupyter runs, Colab included (``!python -m genai_lib.grade ...``).
"""
from __future__ import annotations

import argparse
import csv
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .validate import fail

RESULT = re.compile(r"^(✅|❌) (\w+): (.*)$")
CHECK_CALL = re.compile(r"\bcheck\.(\w+)\(")
NOT_ATTEMPTED = "not implemented yet"
# Run in the kernel before the submission: refuse outgoing connections except to this machine
# (the kernel's own channels are already open). A guard against accidents, not a sandbox.
NO_NETWORK = """
import socket as _s
_connect = _s.socket.connect
def _local_only(self, address, _connect=_connect):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in ("localhost", "127.0.0.1", "::1") and "/" not in host:
        raise OSError(f"grading runs without network: connection to {host} refused")
    return _connect(self, address)
_s.socket.connect = _local_only
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
        if cell["cell_type"] == "code" and "remove-cell" not in cell.get("metadata", {}).get("tags", []):
            for name in CHECK_CALL.findall("".join(cell["source"])):
                if name not in names and name != "or_reference":
                    names.append(name)
    return names


def _results_in(outputs: list) -> dict[str, tuple[str, str]]:
    found = {}
    for out in outputs:
        texts = [out.get("text", "")] if out.get("output_type") == "stream" else \
            [out.get("data", {}).get("text/plain", "")]
        for text in texts:
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                m = RESULT.match(line.strip())
                if m:
                    ok, name, message = m.groups()
                    status = "passed" if ok == "✅" else "not attempted" if NOT_ATTEMPTED in message else "failed"
                    found[name] = (status, message)
    return found


def grade_notebook(path: Path, name: str, timeout: float = 600.0, kernel: str = "python3") -> Grade:
    """Execute a copy of one submitted notebook and collect its self-check results."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    if not path.is_file():
        fail("path", "a submitted notebook file", str(path), error=FileNotFoundError)
    grade = Grade(name)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:   # not JSON, not a notebook
        grade.error = f"could not read the notebook ({type(e).__name__}: {e})"
        return grade
    names = expected_checks(nb)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        work = Path(tmp) / path.name
        shutil.copyfile(path, work)      # the submission is read once and never written
        # the network guard runs first, in a cell of the in-memory copy
        nb.cells.insert(0, nbformat.v4.new_code_cell(NO_NETWORK))
        client = NotebookClient(nb, timeout=max(1, int(timeout)), kernel_name=kernel, allow_errors=True,
                                resources={"metadata": {"path": tmp}})
        try:
            with client.setup_kernel():
                for i, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    left = timeout - (time.perf_counter() - start)
                    if left <= 0:
                        grade.error = f"time limit of {timeout:.0f} s reached before cell {i - 1}"
                        break
                    client.timeout = max(1, int(left))
                    client.execute_cell(cell, i)
                    grade.checks.update(_results_in(cell.get("outputs", [])))
                    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                    if errors and not grade.error:
                        grade.error = f"cell {i - 1} raised {errors[0]['ename']}: {errors[0]['evalue'][:200]}"
        except (CellTimeoutError, TimeoutError):
            grade.error = f"time limit of {timeout:.0f} s reached"
        except (CellExecutionError, DeadKernelError, RuntimeError) as e:
            grade.error = f"execution stopped: {type(e).__name__}: {str(e)[:200]}"
    grade.seconds = time.perf_counter() - start
    for missing in names:
        grade.checks.setdefault(missing, ("not run", "its cell did not run to the end (see the error)"))
    return grade


def grade_directory(submissions: str | Path, out: str | Path, timeout: float = 600.0,
                    kernel: str = "python3") -> list[Grade]:
    """Grade every ``*.ipynb`` under ``submissions``; write the gradebook CSV ``out`` and a
    feedback file per submission in ``<out stem>_feedback/``. Refuses to write inside
    ``submissions`` or over an existing gradebook."""
    submissions, out = Path(submissions), Path(out)
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
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        fail("timeout", "a positive number of seconds", repr(timeout))
    grades = [grade_notebook(p, str(p.relative_to(submissions).with_suffix("")), timeout, kernel) for p in paths]
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
        target = feedback / (g.submission.replace("/", "__") + ".md")
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return grades


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genai_lib.grade", description=__doc__.split("\n")[0])
    ap.add_argument("submissions", type=Path, help="directory of submitted notebooks (searched recursively)")
    ap.add_argument("--out", type=Path, required=True, help="gradebook CSV to write (must not exist)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per notebook (default 600)")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel to run the notebooks with")
    args = ap.parse_args(argv)
    try:
        grades = grade_directory(args.submissions, args.out, args.timeout, args.kernel)
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for g in grades:
        print(f"{g.submission}: {g.passed} of {len(g.checks)} checks passed" + (f"; {g.error}" if g.error else ""))
    print(f"wrote {args.out} and {args.out.parent / (args.out.stem + '_feedback')}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
