"""Keep the notebooks' code within the book's column: at most 88 characters a line.

The published pages show about 88 characters of code before a reader has to scroll sideways
(issue 21), so every code line of every notebook must fit. This script

1. moves a trailing comment that makes its line too long onto its own line above the code,
2. re-wraps comment lines that are too long,
3. runs ``ruff format`` (line length 88, configured in ``pyproject.toml``) over the notebooks,

and then lists the lines that are still too long (long strings, which a formatter does not split:
break them by hand into adjacent literals). ``tests/test_notebook_style.py`` fails on any such line.

Usage: ``python scripts/format_notebooks.py [NOTEBOOK ...]`` (default: ``notebooks/*.ipynb``);
``--check`` only lists the long lines and exits 1 if there are any. Needs ``pip install ruff``.
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

WIDTH = 88
ROOT = Path(__file__).resolve().parent.parent


def long_lines(path: Path) -> list[tuple[int, int, str]]:
    """(cell index, line number in the cell, line) for every code line wider than WIDTH."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, n + 1, line) for i, cell in enumerate(cells) if cell["cell_type"] == "code"
            for n, line in enumerate("".join(cell["source"]).split("\n")) if len(line) > WIDTH]


def _wrap_comment(indent: str, text: str) -> list[str]:
    body = text.lstrip("#").strip()
    pieces = textwrap.wrap(body, WIDTH - len(indent) - 2, break_long_words=False,
                           break_on_hyphens=False)
    return [f"{indent}# {piece}" for piece in pieces] or [f"{indent}#"]


def _continues(previous: str, line: str, indent: str) -> bool:
    """Does comment line `line` continue the sentence of `previous` (same indentation, previous
    not ending a sentence, line starting in lower case)?"""
    return (line.startswith(indent + "# ") and not line[len(indent):].startswith("#  ")
            and not re.search(r"[.:;!?]$", previous.rstrip())
            and re.match(r"[a-z0-9]", line[len(indent) + 2:]) is not None)


def fix_comments(source: str) -> str:
    """Move too-long trailing comments above their line, and re-wrap too-long comment lines
    together with the comment lines that continue their sentence (no one-word orphans)."""
    lines = source.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source  # a cell with IPython magics: left to ruff, and to the final report
    comments = {tok.start[0] - 1: tok for tok in tokens if tok.type == tokenize.COMMENT}
    out, n = [], 0
    while n < len(lines):
        line, tok = lines[n], comments.get(n)
        n += 1
        if tok is None or len(line) <= WIDTH:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        code = line[: tok.start[1]].rstrip()
        if code.strip():      # a trailing comment: its own line(s) above the code
            out.extend(_wrap_comment(indent, tok.string))
            out.append(code)
            continue
        text = tok.string     # a comment line: re-wrapped with the lines that continue it
        while n < len(lines) and _continues(text, lines[n], indent):
            text += " " + lines[n].strip()[2:]
            n += 1
        out.extend(_wrap_comment(indent, text))
    return "\n".join(out)


_LITERAL = re.compile(
    r"""^(?P<indent>\s*)(?P<lit>(?P<prefix>[rRbBfFuU]{0,2})(?P<q>\"\"\"|'''|"|')"""
    r"""(?P<body>.*)(?P=q))(?P<tail>[,)]*)$"""
)


def _split_points(body: str, f_string: bool) -> list[int]:
    """Indices just after a space where a literal may be cut: never inside an f-string's {...}."""
    points, depth, i = [], 0, 0
    while i < len(body):
        c = body[i]
        if c == "\\" or (f_string and body[i:i + 2] in ("{{", "}}")):
            i += 2
            continue
        if f_string and c == "{":
            depth += 1
        elif f_string and c == "}":
            depth -= 1
        elif c == " " and depth == 0:
            points.append(i + 1)
        i += 1
    return points


def split_literal(line: str) -> list[str] | None:
    """A line holding one string literal (a call's argument, or a docstring), cut into lines that
    fit; None if the line is something else or cannot be cut."""
    m = _LITERAL.match(line)
    if m is None:
        return None
    try:
        node = ast.parse("(" + m["lit"] + ")", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, (ast.Constant, ast.JoinedStr)):
        return None
    indent, prefix, q, body, tail = m["indent"], m["prefix"], m["q"], m["body"], m["tail"]
    if len(q) == 3:       # a one-line docstring: re-wrapped on its own indentation
        words = textwrap.wrap(body, WIDTH - len(indent) - 3, break_long_words=False,
                              break_on_hyphens=False)
        if tail or len(words) < 2:
            return None
        middle = [f"{indent}{w}" for w in words[1:-1]]
        return [f"{indent}{prefix}{q}{words[0]}", *middle, f"{indent}{words[-1]}{q}"]
    room = WIDTH - len(indent) - len(prefix) - 2 - len(tail)
    points = _split_points(body, "f" in prefix.lower())
    pieces, start = [], 0
    while len(body) - start > room:
        cut = max((p for p in points if start < p <= start + room), default=None)
        if cut is None:
            return None
        pieces.append(body[start:cut])
        start = cut
    pieces.append(body[start:])
    lines = [f"{indent}{prefix}{q}{piece}{q}" for piece in pieces]
    lines[-1] += tail
    return lines


def fix_literals(source: str) -> str:
    """Cut too-long string literals that stand alone on a line, as ruff leaves call arguments
    (adjacent literals concatenate)."""
    out = []
    for line in source.split("\n"):
        parts = split_literal(line) if len(line) > WIDTH else None
        out.extend(parts or [line])
    return "\n".join(out)


def _rewrite(path: Path, fix) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        old = "".join(cell["source"])
        new = fix(old)
        if new != old:
            cell["source"] = new.splitlines(keepends=True)
            changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--check", action="store_true", help="only list the long lines")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"format_notebooks: no such notebook: {', '.join(missing)}")
    if not args.check:
        ruff = shutil.which("ruff")
        if ruff is None:
            sys.exit("format_notebooks: ruff is not installed; run `pip install ruff` first")
        ruff_format = [ruff, "format", "--quiet", "--line-length", str(WIDTH), *map(str, paths)]
        for path in paths:
            _rewrite(path, fix_comments)
        subprocess.run(ruff_format, check=True)
        for path in paths:      # then cut the long literals ruff leaves, and format once more
            _rewrite(path, fix_literals)
        subprocess.run(ruff_format, check=True)
    bad = [(p, *row) for p in paths for row in long_lines(p)]
    for path, cell, n, line in bad:
        print(f"{path.name}: cell {cell}, line {n}: {len(line)} characters: {line.strip()[:60]}...")
    if bad:
        print(f"{len(bad)} code lines are wider than {WIDTH} characters: break them by hand")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
