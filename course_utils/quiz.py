"""Check-yourself quizzes: questions and answers live in JSON files in the repository.

The quiz runs in the browser (the ``jupyterquiz`` package), so feedback is instant and works without a
kernel too: in JupyterLab, in exported slides and on nbviewer.

    >>> show_quiz("quizzes/00_start_here.json")      # doctest: +SKIP
"""
from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

QUESTION_TYPES = ("multiple_choice", "many_choice", "numeric")


def load_quiz(path: str | Path) -> list[dict]:
    """Read and check a quiz file: a list of questions in jupyterquiz's format.

    Each question has "question", "type" ("multiple_choice", "many_choice" or "numeric") and "answers";
    every answer has "feedback", and at least one is correct.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no quiz file there (quizzes live in notebooks/quizzes/)")
    questions = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(questions, list) or not questions:
        raise ValueError(f"{path.name}: a quiz file must hold a non-empty list of questions")
    for k, q in enumerate(questions, 1):
        where = f"{path.name}, question {k}"
        if q.get("type") not in QUESTION_TYPES:
            raise ValueError(f"{where}: type must be one of {QUESTION_TYPES}, got {q.get('type')!r}")
        if not q.get("question") or not q.get("answers"):
            raise ValueError(f"{where}: needs a 'question' text and a list of 'answers'")
        for a in q["answers"]:
            if not a.get("feedback"):
                raise ValueError(f"{where}: every answer needs 'feedback' that explains it")
        if not any(a.get("correct") for a in q["answers"]):
            raise ValueError(f"{where}: no answer is marked correct")
    return questions


def quiz_note_outputs(path: str | Path, questions: int) -> tuple[dict, dict]:
    """The two outputs around a quiz for a page where JavaScript does not run (GitHub): first a line that
    says how many questions there are and where to read them (quizzes/ANSWERS.md, answers folded), last
    the script that hides that line where the quiz itself shows. As nbformat display_data dicts.

    >>> note, script = quiz_note_outputs("quizzes/02_batches.json", 6)
    >>> print(note["data"]["text/html"])  # doctest: +ELLIPSIS
    <p class="course-quiz-note" id="course-quiz-note-02_batches"><strong>Check yourself: 6 questions.</strong> ...
    >>> 'href="quizzes/ANSWERS.md#02_batches"' in note["data"]["text/html"]
    True
    """
    if not isinstance(questions, int) or questions < 1:
        raise ValueError(f"questions must be a positive int (the quiz's length), got {questions!r}")
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path={str(path)!r}: a quiz file ends in .json, e.g. 'quizzes/02_batches.json'")
    answers = (path.parent / "ANSWERS.md").as_posix()
    note_id = f"course-quiz-note-{path.stem}"
    html = (f'<p class="course-quiz-note" id="{note_id}"><strong>Check yourself: {questions} questions.'
            f"</strong> They appear here when the notebook runs in Jupyter (JavaScript); on a page "
            f'without it, read them, each answer folded until you open it, in <a href="{answers}#{path.stem}">'
            f"{answers}</a>.</p>")
    script = (f'var note = document.getElementById("{note_id}"); '
              f'if (note) {{ note.style.display = "none"; }}')
    return ({"output_type": "display_data", "metadata": {},
             "data": {"text/html": html, "text/plain": "<IPython.core.display.HTML object>"}},
            {"output_type": "display_data", "metadata": {},
             "data": {"application/javascript": script, "text/plain": "<IPython.core.display.Javascript object>"}})


def show_quiz(path: str | Path) -> None:
    """Display the quiz stored in ``path`` (relative to the notebook) with instant feedback, and a line
    for readers without JavaScript that points to the questions on quizzes/ANSWERS.md."""
    from IPython.display import HTML, Javascript, display
    from jupyterquiz import display_quiz

    questions = load_quiz(path)
    note, script = quiz_note_outputs(path, len(questions))
    display(HTML(note["data"]["text/html"]))
    # jupyterquiz names its HTML element at random; seed that from the file name so a re-run stores
    # the same output (nbval compares it), and leave everyone else's random numbers alone.
    state = random.getstate()
    random.seed(zlib.crc32(Path(path).name.encode()))
    try:
        display_quiz(questions, shuffle_answers=False, max_width=760)
    finally:
        random.setstate(state)
    display(Javascript(script["data"]["application/javascript"]))
