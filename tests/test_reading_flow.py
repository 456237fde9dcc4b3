"""A student's page (tools/reading_flow.py): speaker notes out of the reading flow but still on the decks,
solution outputs hidden with their code, a one-line text for each slider, the quiz's note for readers
without JavaScript. Every rule is idempotent, and every stored notebook is already tidy."""
import copy
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_slides  # noqa: E402  (tools/ is not a package)
import reading_flow  # noqa: E402

from course_utils.quiz import load_quiz, quiz_note_outputs  # noqa: E402

NOTES = {"slideshow": {"slide_type": "notes"}}


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    for k, cell in enumerate(nb.cells):
        cell.id = f"c{k}"
    return nb


def md(text, **metadata):
    return nbformat.v4.new_markdown_cell(text, metadata=metadata)


def code(text, outputs=(), **metadata):
    cell = nbformat.v4.new_code_cell(text, metadata=metadata)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_every_notebook_is_tidy():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "reading_flow.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", reading_flow.notebooks(), ids=lambda p: p.stem)
def test_no_speaker_note_in_the_reading_flow(path):
    nb = nbformat.read(path, as_version=4)
    notes = [k for k, cell in enumerate(nb.cells) if reading_flow.is_notes(cell)
             or cell.source.lstrip().startswith("**Teacher's notes.**")]
    assert not notes, f"{path.name}: speaker notes in the page at cells {notes}"
    kept = sum(len(c.metadata.get(reading_flow.NOTES_KEY, [])) for c in nb.cells)
    assert kept >= 5, f"{path.name}: only {kept} speaker notes kept for the deck"


def test_notes_move_into_the_cell_before_and_come_back_for_the_deck():
    original = notebook(md("# Your turn", slideshow={"slide_type": "slide"}),
                        md("**Teacher's notes.** The answer is 3.", **NOTES),
                        md("**Teacher's notes.** Ask the room.", **NOTES),
                        code("x = 3", [nbformat.v4.new_output("stream", text="3\n")]),
                        md("**Teacher's notes.** After the code.", **NOTES))
    nb = copy.deepcopy(original)
    assert reading_flow.move_notes(nb) == 3
    assert [c.source for c in nb.cells] == ["# Your turn", "x = 3"]
    assert nb.cells[0].metadata.slide_notes == ["**Teacher's notes.** The answer is 3.",
                                               "**Teacher's notes.** Ask the room."]
    assert nb.cells[1].metadata.slide_notes == ["**Teacher's notes.** After the code."]
    reading_flow.restore_notes(nb)
    assert [(c.source, reading_flow.slide_type(c)) for c in nb.cells] == \
        [(c.source, reading_flow.slide_type(c)) for c in original.cells]


def test_notes_before_the_first_cell():
    nb = notebook(md("**Teacher's notes.** Start with a question.", **NOTES), md("# Title"))
    assert reading_flow.move_notes(nb) == 1
    assert nb.cells[0].metadata.slide_notes_before == ["**Teacher's notes.** Start with a question."]
    reading_flow.restore_notes(nb)
    assert [reading_flow.slide_type(c) for c in nb.cells] == ["notes", "-"]


def test_the_deck_is_the_same_after_the_notes_moved(tmp_path):
    nb = notebook(md("# Slide one", slideshow={"slide_type": "slide"}), md("**Teacher's notes.** Say A.", **NOTES),
                  md("# Slide two", slideshow={"slide_type": "slide"}),
                  code("y = 1", [nbformat.v4.new_output("stream", text="1\n")]),
                  md("**Teacher's notes.** Say B.", **NOTES))
    decks = []
    for name, version in (("before", nb), ("after", copy.deepcopy(nb))):
        if name == "after":
            reading_flow.tidy(version)
        (tmp_path / name).mkdir()
        path = tmp_path / name / "deck.ipynb"
        nbformat.write(version, path)
        [deck] = build_slides.build(tmp_path / name, [path])
        decks.append(re.sub(r'id="cell-id=[^"]*"', "", deck.read_text(encoding="utf-8")))
    assert decks[0] == decks[1]
    assert re.search(r"<section[^>]*>(?:(?!</section>).)*Slide two(?:(?!</section>).)*"
                     r'<aside class="notes">(?:(?!</section>).)*Say B', decks[1], flags=re.S)


def test_solution_outputs_are_hidden_with_their_source():
    nb = notebook(code("solution()", jupyter={"source_hidden": True}), code("shown()"),
                  md("hidden text", jupyter={"source_hidden": True}))
    assert reading_flow.hide_solution_outputs(nb) == 1
    assert nb.cells[0].metadata.jupyter == {"source_hidden": True, "outputs_hidden": True}
    assert "jupyter" not in nb.cells[1].metadata and "outputs_hidden" not in nb.cells[2].metadata.jupyter
    assert reading_flow.hide_solution_outputs(nb) == 0


def test_a_slider_output_says_it_needs_a_kernel():
    widget = {"output_type": "display_data", "metadata": {},
              "data": {reading_flow.WIDGET_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0},
                       "text/plain": "interactive(children=(SelectionSlider(description='batch size B'"}}
    other = {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "interactive(children=("}}
    nb = notebook(code("cu.batch_slider(...)", [widget, other]))
    assert reading_flow.label_widgets(nb) == 1
    data = nb.cells[0].outputs[0].data
    assert data["text/plain"] == reading_flow.WIDGET_TEXT and data[reading_flow.WIDGET_MIME]["model_id"] == "abc"
    assert nb.cells[0].outputs[1].data["text/plain"] == "interactive(children=(", "only widget outputs change"
    assert "\n" not in reading_flow.WIDGET_TEXT and "kernel" in reading_flow.WIDGET_TEXT


def test_the_quiz_cell_gets_its_note_once():
    quiz = {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<div id='q'></div>",
                                                                   "text/plain": "<IPython.core.display.HTML object>"}}
    nb = notebook(code('cu.show_quiz("quizzes/02_batches.json")', [quiz]))
    assert reading_flow.add_quiz_notes(nb) == 1
    first, last = quiz_note_outputs("quizzes/02_batches.json", len(load_quiz(ROOT / "notebooks/quizzes/02_batches.json")))
    assert nb.cells[0].outputs == [first, quiz, last]
    assert reading_flow.add_quiz_notes(nb) == 0
    assert 'href="quizzes/ANSWERS.md#02_batches"' in first["data"]["text/html"]
    assert "6 questions" in first["data"]["text/html"]


def test_tidy_is_idempotent_on_every_notebook():
    for path in reading_flow.notebooks()[:3]:
        nb = nbformat.read(path, as_version=4)
        reading_flow.tidy(nb)
        once = copy.deepcopy(nb)
        assert set(reading_flow.tidy(nb).values()) == {0} and nb == once, path.name


def test_tidy_refuses_what_is_not_a_notebook():
    with pytest.raises(TypeError, match="nb must be a notebook"):
        reading_flow.tidy({"cells": []})


@pytest.mark.parametrize("args, message", [(("quizzes/x.json", 0), "questions must be a positive int"),
                                           (("quizzes/x.txt", 3), "a quiz file ends in .json")])
def test_quiz_note_outputs_checks_its_input(args, message):
    with pytest.raises(ValueError, match=message):
        quiz_note_outputs(*args)


def test_docstring_examples():
    import doctest
    failures, tried = doctest.testmod(reading_flow)
    assert failures == 0 and tried > 0
