"""The book's own Sphinx extensions, on small doctrees (no book build)."""
import sys
from pathlib import Path

import pytest
from docutils import nodes

sys.path.insert(0, str(Path(__file__).parents[1] / "book" / "_ext"))
import course_solutions  # noqa: E402

SOLVED = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"


def page():
    doc = nodes.section()
    exercise = nodes.container(classes=["cell", "tag_exercise"])
    cell_input = nodes.container(classes=["cell_input"])
    cell_input += nodes.literal_block(SOLVED, SOLVED)
    exercise += cell_input
    other = nodes.container(classes=["cell"])
    other += nodes.literal_block("print(1)\n", "print(1)\n")
    answer = nodes.admonition(classes=["admonition", "course-solution"])
    answer += nodes.paragraph(text="The answer is 2x.")
    note = nodes.admonition(classes=["admonition", "note"])
    note += nodes.paragraph(text="A note stays.")
    doc += [exercise, other, answer, note]
    return doc


def test_the_public_edition_shows_stubs_and_no_written_answers():
    doc = page()
    assert course_solutions.hide_solutions(doc) == (1, 1)
    text = doc.astext()
    assert "return 2 * x" not in text and "raise NotImplementedError" in text and "def f(x):" in text
    assert "The answer is 2x." not in text and "A note stays." in text and "print(1)" in text
    block = next(doc.findall(nodes.literal_block))
    assert block.rawsource == block.astext()       # highlighted as code, not as a parsed literal


def test_the_edition_switch(monkeypatch):
    monkeypatch.delenv("GENAI_EDITION", raising=False)
    assert course_solutions.edition() == "public"
    monkeypatch.setenv("GENAI_EDITION", "instructor")
    assert course_solutions.edition() == "instructor"
    monkeypatch.setenv("GENAI_EDITION", "teacher")
    with pytest.raises(ValueError, match="GENAI_EDITION must be one of"):
        course_solutions.edition()


def test_the_public_edition_offers_no_download_of_the_solved_notebooks():
    class Config:
        course_edition = "public"
        html_copy_source = True
        html_theme_options = {"use_repository_button": True}

    config = Config()
    course_solutions._on_config_inited(None, config)
    assert config.html_copy_source is False
    assert config.html_theme_options == {"use_repository_button": True, "use_download_button": False}
    config = Config()
    config.course_edition = "instructor"
    course_solutions._on_config_inited(None, config)
    assert config.html_copy_source is True and "use_download_button" not in config.html_theme_options


def test_exercise_titles_keep_the_course_numbers():
    title = nodes.title()
    title += [nodes.Text("Exercise"), nodes.Text(" ("), nodes.Text("2.1: the KL (two Gaussians)"), nodes.Text(")")]
    course_solutions.retitle(title)
    assert title.astext() == "Exercise 2.1: the KL (two Gaussians)"
    other = nodes.title(text="Exercise 3")
    course_solutions.retitle(other)
    assert other.astext() == "Exercise 3"


def test_markers_in_a_cell_without_the_exercise_tag_are_stubbed_too():
    doc = nodes.section()
    cell = nodes.container(classes=["cell"])
    cell += nodes.literal_block(SOLVED, SOLVED)
    doc += cell
    assert course_solutions.hide_solutions(doc) == (1, 0) and "return 2 * x" not in doc.astext()
