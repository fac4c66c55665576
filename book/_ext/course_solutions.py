"""Exercises and solutions in the book: solutions hidden on the public site, shown in the
instructor edition, and exercise titles that keep the course's numbers (issue 19).

Exercises are sphinx-exercise directives (``::::{exercise} 2.1: title`` with ``:nonumber:``, so
that the course's numbers, which run on across a chapter's two notebooks, stay); sphinx-exercise
would title them "Exercise (2.1: title)", and :class:`ExerciseTitles` makes that "Exercise 2.1:
title".

The notebooks hold the solutions: exercise code cells (tagged ``exercise``) with the solution
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and written answers in markdown cells
tagged ``solution`` whose text sits in an admonition of class ``course-solution``. The notebooks
are executed once, with their solutions (so the hidden checks run); this extension then edits
the page, not the notebook:

* public edition (the default): each exercise cell shows the student's version of its code (the
  stub ``genai_lib.student`` writes), every ``course-solution`` admonition is removed, and the
  pages offer no download of the executed notebooks (which hold the solutions);
* instructor edition (``GENAI_EDITION=instructor jupyter-book build . --path-output
  _build/instructor``): everything is shown.

Both editions share the execution cache (``execute.cache`` in ``_config.yml``), so the second
build executes nothing.
"""
from __future__ import annotations

import os

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

from genai_lib.student import strip_solutions

EDITIONS = ("public", "instructor")


def edition() -> str:
    value = os.environ.get("GENAI_EDITION", "public")
    if value not in EDITIONS:
        raise ValueError(f"GENAI_EDITION must be one of {EDITIONS}, got {value!r}; unset it for the public site")
    return value


def hide_solutions(doctree: nodes.Node) -> tuple[int, int]:
    """Replace exercise cells' code by its student version and drop written answers; returns
    (cells stubbed, answers removed)."""
    stubbed = removed = 0
    for cell in list(doctree.findall(nodes.container)):
        # exercise cells, and any other code cell that holds markers (the student tool refuses
        # those, but the site must not depend on it)
        if "cell" not in cell.get("classes", []):
            continue
        for block in cell.findall(nodes.literal_block):
            stub = strip_solutions(block.astext())
            if stub != block.astext():
                block.children = [nodes.Text(stub)]
                block.rawsource = stub
                stubbed += 1
    for answer in list(doctree.findall(nodes.Element)):
        if "course-solution" in answer.get("classes", []):
            answer.parent.remove(answer)
            removed += 1
    return stubbed, removed


class ExerciseTitles(SphinxPostTransform):
    """Runs after sphinx-exercise has resolved its titles (its priorities are 20 to 22)."""
    default_priority = 30

    def run(self, **kwargs) -> None:
        for node in self.document.findall(nodes.Element):
            if "exercise" in node.get("classes", []) and node.children:
                retitle(node.children[0])


def retitle(title: nodes.Node) -> None:
    """sphinx-exercise's title children "Exercise", " (", <subtitle>..., ")" become
    "Exercise", " ", <subtitle>...: 'Exercise 2.1: the KL' instead of 'Exercise (2.1: the KL)'."""
    kids = title.children if isinstance(title, nodes.title) else []
    if len(kids) >= 3 and kids[0].astext() == "Exercise" and kids[1].astext() == " (" and kids[-1].astext() == ")":
        title.pop(-1)
        title.replace(title.children[1], nodes.Text(" "))


def _on_doctree_read(app, doctree) -> None:
    if app.config.course_edition == "public":
        hide_solutions(doctree)


def _on_config_inited(app, config) -> None:
    if config.course_edition == "public":   # the .ipynb behind a page holds the solutions
        config.html_copy_source = False
        config.html_theme_options = {**config.html_theme_options, "use_download_button": False}


def setup(app):
    app.add_config_value("course_edition", edition(), "env")
    app.connect("config-inited", _on_config_inited)
    app.connect("doctree-read", _on_doctree_read)
    app.add_post_transform(ExerciseTitles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
