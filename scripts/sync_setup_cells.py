"""Write the Colab install lines of every notebook's set-up cell from one source of truth.

The repository URL lives in ``_config.yml`` (``repository.url``) and the release in
``genai_lib.__version__``; each notebook must carry both literally, because on Colab it runs
alone. The install is pinned to the tag ``v<version>`` so that a student's notebook keeps
working when ``main`` moves on (publish a release by tagging the commit the book was built
from). ``python scripts/sync_setup_cells.py`` rewrites the cells; ``--check`` only reports
(tests/test_notebooks.py runs it).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wanted() -> tuple[str, str]:
    """(repository URL, git ref) that every set-up cell must install from."""
    url = re.search(r"^\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)
    version = re.search(r'^__version__ = "([^"]+)"', (ROOT / "genai_lib" / "__init__.py").read_text(), re.M).group(1)
    return url, f"v{version}"


def synced_source(source: str, url: str, ref: str) -> str:
    """The set-up cell's source with the REPO and REF lines and the pinned install line."""
    lines = source.splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith("REF = "):
            continue  # rewritten after REPO
        if line.startswith("REPO = "):
            out.append(f'REPO = "{url}"\n')
            out.append(f'REF = "{ref}"  # the release this book was built from (scripts/sync_setup_cells.py)\n')
        elif "%pip install" in line and "genai_lib @ git+" in line:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}%pip install -q "genai_lib @ git+{{REPO}}@{{REF}}"\n')
        else:
            out.append(line)
    return "".join(out)


def sync(check: bool = False) -> list[Path]:
    """Notebooks whose set-up cell differs (rewritten unless ``check``)."""
    url, ref = wanted()
    changed = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        old = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        new = synced_source(old, url, ref)
        if new != old:
            changed.append(path)
            if not check:
                cell["source"] = new.splitlines(keepends=True)
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


if __name__ == "__main__":
    check = "--check" in sys.argv[1:]
    changed = sync(check)
    for p in changed:
        print(("out of date: " if check else "updated: ") + str(p.relative_to(ROOT)))
    sys.exit(1 if check and changed else 0)
