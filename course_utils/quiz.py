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


def show_quiz(path: str | Path) -> None:
    """Display the quiz stored in ``path`` (relative to the notebook) with instant feedback."""
    from jupyterquiz import display_quiz

    questions = load_quiz(path)
    # jupyterquiz names its HTML element at random; seed that from the file name so a re-run stores
    # the same output (nbval compares it), and leave everyone else's random numbers alone.
    state = random.getstate()
    random.seed(zlib.crc32(Path(path).name.encode()))
    try:
        display_quiz(questions, shuffle_answers=False, max_width=760)
    finally:
        random.setstate(state)
