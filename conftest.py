"""Share one execution of each notebook between nbval and the book build.

nbval runs every notebook cell by cell and keeps each cell's outputs on the test item.
When all cells of a notebook pass, we put the executed notebook into the jupyter-cache
that `jupyter-book build` reads (`execute_notebooks: cache` in _config.yml). The book
build then finds a cache hit and does not execute the notebook a second time. If a
notebook fails, nothing is cached, and the book build executes (and reports) it again.

The same run executes the student copy of every notebook (genai_lib.student.replay_order):
after each exercise's hidden check, the exercise's stub and the cells between them run again,
so every later cell runs as in a student copy with that exercise left open. These extra cells
are reported as "Cell N [student copy]" and their outputs are not cached.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).parent
CACHE = ROOT / "_build" / ".jupyter_cache"  # where jupyter-book keeps it by default

# nbval waits at most ``output_timeout`` seconds (5 by default, with no command-line option) for
# a kernel's output messages once a cell has finished; a busy machine or a burst of progress-bar
# messages tripped it in CI. The cell's own time limit (--nbval-cell-timeout) is unaffected.
NBVAL_OUTPUT_TIMEOUT = 120

_outputs: dict[str, dict[int, list]] = defaultdict(dict)
_failed: set[str] = set()
_timing: dict[str, float] = defaultdict(float)


def _notebook_of(item) -> str | None:
    parent = getattr(item, "parent", None)
    path = getattr(parent, "fspath", None)
    return str(path) if path is not None and str(path).endswith(".ipynb") else None


def pytest_collection_modifyitems(session, config, items):
    add_student_copies(items)
    raise_output_timeout(items)


def add_student_copies(items) -> None:
    """Insert the student copy's cells where genai_lib.student.replay_order puts them."""
    from nbval.plugin import IPyNbCell

    from genai_lib.student import replay_order

    cells = defaultdict(list)
    for item in items:
        if isinstance(item, IPyNbCell):
            cells[item.parent].append(item)
    replayed = {}
    for parent, own in cells.items():
        code = [n for n, c in enumerate(parent.nb.cells) if c.cell_type == "code"]
        if [i.cell_num for i in own] != list(range(len(code))):
            continue  # only some cells were selected (pytest -k): run them as they are
        item_of = dict(zip(code, own))
        order = []
        for role, n, src in replay_order(parent.nb):
            if role != "student":
                order.append(item_of[n])
                continue
            original = item_of[n]
            copy_ = IPyNbCell.from_parent(parent, name=f"{original.name} [student copy]", cell_num=original.cell_num,
                                          cell=original.cell.copy(), options=original.options)
            copy_.cell.source, copy_.student_copy = src, True
            order.append(copy_)
        replayed[parent] = order
    out, seen = [], set()
    for item in items:
        parent = getattr(item, "parent", None)
        if parent in replayed:
            if parent not in seen:
                seen.add(parent)
                out += replayed[parent]
        else:
            out.append(item)
    items[:] = out


def raise_output_timeout(items) -> None:
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's notebook cells
            item.output_timeout = max(item.output_timeout, NBVAL_OUTPUT_TIMEOUT)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    nb = _notebook_of(item)
    if nb is None:
        return
    _timing[nb] += report.duration
    if report.failed or report.skipped:
        _failed.add(nb)
    elif call.when == "call" and not getattr(item, "student_copy", False):
        _outputs[nb][item.cell_num] = getattr(item, "test_outputs", [])


def _store(nb_path: str) -> None:
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    nb = nbformat.read(nb_path, as_version=4)
    executed = copy.deepcopy(nb)
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    if len(_outputs[nb_path]) != len(code_cells):
        return  # not every cell ran (e.g. pytest -k selected some): cache nothing
    for count, cell in enumerate(code_cells, start=1):
        outputs = []
        for out in _outputs[nb_path][count - 1]:
            out = nbformat.from_dict(dict(out))
            if out.get("output_type") == "execute_result":
                out["execution_count"] = count
            outputs.append(out)
        cell.outputs, cell.execution_count = outputs, count
    cache = get_cache(str(CACHE))
    cache.cache_notebook_bundle(
        CacheBundleIn(executed, nb_path, data={"execution_seconds": _timing[nb_path], "executed_by": "nbval"}),
        check_validity=False, overwrite=True)


def pytest_sessionfinish(session, exitstatus):
    for nb in _outputs:
        if nb not in _failed:
            try:
                _store(nb)
            except Exception as e:  # caching is an optimisation: never fail the tests for it
                print(f"\n(could not cache {nb} for the book build: {e})")
    if _timing:
        print("\nnotebook execution times under nbval:")
        for nb, seconds in sorted(_timing.items()):
            print(f"  {Path(nb).name}: {seconds:.0f} s{' (failed)' if nb in _failed else ''}")
