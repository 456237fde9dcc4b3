"""The quiz answers page (notebooks/quizzes/ANSWERS.md) is in sync with the quiz files, and every
notebook's quiz cell is followed by the line that links to its section of that page."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
QUIZ_CALL = re.compile(r"""show_quiz\(\s*["']quizzes/([^"']+)\.json["']""")


def link_line(stem: str) -> str:
    return ("Answers and explanations, readable without a kernel: "
            f"[quizzes/ANSWERS.md](quizzes/ANSWERS.md#{stem})")


def test_answers_page_is_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_answers.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_answers_page_has_a_section_per_quiz():
    page = (ROOT / "notebooks" / "quizzes" / "ANSWERS.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (\S+)$", page, flags=re.MULTILINE))
    stems = {p.stem for p in (ROOT / "notebooks" / "quizzes").glob("*.json")}
    assert stems <= headings, f"no section for {sorted(stems - headings)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_quiz_cell_is_followed_by_the_answers_link(path: Path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    quiz_cells = [i for i, c in enumerate(cells)
                  if c["cell_type"] == "code" and QUIZ_CALL.search("".join(c["source"]))]
    assert quiz_cells, f"{path.name}: no cell calls cu.show_quiz(\"quizzes/{path.stem}.json\")"
    for i in quiz_cells:
        stem = QUIZ_CALL.search("".join(cells[i]["source"])).group(1)
        assert (ROOT / "notebooks" / "quizzes" / f"{stem}.json").exists(), f"{path.name}: no quizzes/{stem}.json"
        following = cells[i + 1] if i + 1 < len(cells) else None
        assert following is not None and following["cell_type"] == "markdown", (
            f"{path.name}, cell {i}: the quiz cell must be followed by a markdown cell with the answers link")
        assert link_line(stem) in "".join(following["source"]), (
            f"{path.name}, cell {i + 1}: expected the line {link_line(stem)!r}")
