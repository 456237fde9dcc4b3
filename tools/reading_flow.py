#!/usr/bin/env python3
"""A student's page: take the teacher's voice and the kernel's plumbing out of a notebook's reading flow.

    python tools/reading_flow.py --apply [NB.ipynb ...]   # rewrite the notebooks (default: all of them)
    python tools/reading_flow.py --check [NB.ipynb ...]   # exit 1 if --apply would change one (a test runs it)

Four rules, each deterministic and idempotent (a second --apply changes nothing), and run again by
tools/run_notebook.py every time a notebook's outputs are stored:

1. **Speaker notes leave the page.** A markdown cell of slide type `notes` ("**Teacher's notes.** ...")
   moves into the metadata of the cell before it, `metadata.slide_notes` (a list of markdown texts);
   tools/build_slides.py puts it back, as the same `aside.notes`, right after that cell, so the decks are
   unchanged. A static reading (GitHub, nbviewer, JupyterLab) no longer meets an answer before its
   experiment. (Notes before the first cell go to the first cell's `metadata.slide_notes_before`.)
2. **Solutions hide their outputs with their code.** A code cell whose source is collapsed
   (`metadata.jupyter.source_hidden`) gets `metadata.jupyter.outputs_hidden` too.
3. **A slider says what it needs.** The stored `text/plain` of an interactive widget (what JupyterLab
   shows before a kernel runs: `interactive(children=(SelectionSlider(...`) becomes WIDGET_TEXT. Those
   cells are tagged `nbval-ignore-output`, so nbval does not compare them.
4. **The quiz says where its questions are without JavaScript.** A quiz cell (`cu.show_quiz(...)`)
   stores, first, the note that `course_utils.quiz.show_quiz` displays (`quiz_note_html`), and last the
   script that hides it where the quiz runs; a notebook stored before that note existed gets it here, the
   same bytes a fresh run stores (nbval compares them).
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTES_KEY, NOTES_BEFORE_KEY = "slide_notes", "slide_notes_before"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_TEXT = ("Interactive demo: it needs a running kernel (JupyterLab or Binder) to move the slider; "
               "the figure below shows it at a telling value.")
QUIZ_CALL = re.compile(r"""show_quiz\(\s*["']([^"']+\.json)["']""")


def slide_type(cell) -> str:
    return (cell.get("metadata", {}).get("slideshow") or {}).get("slide_type") or "-"


def is_notes(cell) -> bool:
    """A speaker-notes cell: markdown of slide type `notes`."""
    return cell.get("cell_type") == "markdown" and slide_type(cell) == "notes"


def move_notes(nb) -> int:
    """Rule 1: every notes cell into `metadata.slide_notes` of the cell before it; returns how many moved.

    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_markdown_cell("Your turn: why?"), nbformat.v4.new_markdown_cell(
    ...     "**Teacher's notes.** Because.", metadata={"slideshow": {"slide_type": "notes"}})]
    >>> move_notes(nb), len(nb.cells), nb.cells[0].metadata.slide_notes
    (1, 1, ["**Teacher's notes.** Because."])
    """
    kept, waiting, moved = [], [], 0
    for cell in nb.cells:
        if is_notes(cell):
            if kept:
                kept[-1].metadata.setdefault(NOTES_KEY, []).append(cell.source)
            else:
                waiting.append(cell.source)
            moved += 1
        else:
            if waiting:
                cell.metadata[NOTES_BEFORE_KEY] = cell.metadata.get(NOTES_BEFORE_KEY, []) + waiting
                waiting = []
            kept.append(cell)
    if waiting:  # a notebook of notes only: leave them where they are
        return 0
    nb.cells = kept
    return moved


def notes_cells(host, before: bool = False) -> list:
    """The notes cells that build_slides.py puts back next to ``host`` (before it if ``before``)."""
    texts = host.get("metadata", {}).get(NOTES_BEFORE_KEY if before else NOTES_KEY, [])
    cells = []
    for k, text in enumerate(texts):
        cell = nbformat.v4.new_markdown_cell(text, id=f"{host.get('id', 'cell')}-notes-{'b' if before else ''}{k}")
        cell.metadata.slideshow = {"slide_type": "notes"}
        cells.append(cell)
    return cells


def restore_notes(nb) -> None:
    """The inverse of move_notes, for the decks: each cell's notes become notes cells again beside it."""
    cells = []
    for cell in nb.cells:
        cells += notes_cells(cell, before=True) + [cell] + notes_cells(cell)
    nb.cells = cells


def hide_solution_outputs(nb) -> int:
    """Rule 2: a code cell with its source hidden gets its outputs hidden too; returns how many changed."""
    changed = 0
    for cell in nb.cells:
        jupyter = cell.get("metadata", {}).get("jupyter", {})
        if cell.cell_type == "code" and jupyter.get("source_hidden") and not jupyter.get("outputs_hidden"):
            cell.metadata.jupyter["outputs_hidden"] = True
            changed += 1
    return changed


def label_widgets(nb) -> int:
    """Rule 3: the stored text of every widget output becomes WIDGET_TEXT; returns how many changed."""
    changed = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIME in data and data.get("text/plain") != WIDGET_TEXT:
                data["text/plain"] = WIDGET_TEXT
                changed += 1
    return changed


def add_quiz_notes(nb) -> int:
    """Rule 4: a quiz cell whose stored outputs lack the no-JavaScript note gets it; returns how many."""
    from course_utils.quiz import load_quiz, quiz_note_outputs  # imports torch: only when a quiz needs it

    changed = 0
    for cell in nb.cells:
        match = QUIZ_CALL.search(cell.source) if cell.cell_type == "code" else None
        if not match or not cell.outputs:
            continue
        quiz = ROOT / "notebooks" / match.group(1)
        if not quiz.is_file():
            continue
        first, last = (nbformat.from_dict(o) for o in quiz_note_outputs(match.group(1), len(load_quiz(quiz))))
        if cell.outputs[0] != first or cell.outputs[-1] != last:
            body = [o for o in cell.outputs if o not in (first, last) and not is_quiz_note(o)]
            cell.outputs = [first, *body, last]
            changed += 1
    return changed


def is_quiz_note(output) -> bool:
    """An output written by quiz_note_outputs (an older version of it, too)."""
    text = "".join(output.get("data", {}).get("text/html", "")) + "".join(
        output.get("data", {}).get("application/javascript", ""))
    return "course-quiz-note" in text


def tidy(nb) -> dict[str, int]:
    """All four rules on ``nb`` in place; returns how many cells or outputs each changed."""
    if not hasattr(nb, "cells"):
        raise TypeError(f"nb must be a notebook read with nbformat, got {type(nb).__name__}")
    return {"notes moved": move_notes(nb), "solution outputs hidden": hide_solution_outputs(nb),
            "widget texts": label_widgets(nb), "quiz notes": add_quiz_notes(nb)}


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--apply", action="store_true", help="rewrite the notebooks")
    mode.add_argument("--check", action="store_true", help="exit 1 if a notebook would change")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    stale = []
    for path in args.notebooks or notebooks():
        nb = nbformat.read(path, as_version=4)
        before = copy.deepcopy(nb)
        counts = tidy(nb)
        if nb == before:
            continue
        stale.append(path)
        done = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        if args.apply:
            nbformat.write(nb, path)
            print(f"{path.name}: {done}")
        else:
            print(f"{path.name} would change ({done}): run python tools/reading_flow.py --apply")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
