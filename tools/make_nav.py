#!/usr/bin/env python3
"""Write the previous/next links into every notebook and the course map into README.md.

    python tools/make_nav.py           # update in place
    python tools/make_nav.py --check   # exit 1 if anything is out of date (a test runs this)

`--check` also reports links that lead nowhere: a markdown link to an `NN_*.ipynb` file that does not
exist, and a markdown cell that says "notebook NN" when no notebook NN exists yet (write "later in the
course" instead). It prints each offender as notebook, cell index, text.

A notebook's navigation cells are the markdown cells tagged `nav` (the first and the last cell).
The README's course map sits between `<!-- course-map:start -->` and `<!-- course-map:end -->`.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from course_map import ARC, binder_url, filename  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
START, END = "<!-- course-map:start -->", "<!-- course-map:end -->"
BADGE = "https://mybinder.org/badge_logo.svg"


def present() -> list[tuple[str, str, str, str]]:
    """The rows of the arc whose notebook exists, in order."""
    return [row for row in ARC if (NOTEBOOKS / filename(row[0], row[1])).exists()]


def nav_text(index: int, rows: list) -> str:
    parts = []
    if index > 0:
        number, slug, title, _ = rows[index - 1]
        parts.append(f"[← {number} · {title}]({filename(number, slug)})")
    parts.append("[Course map](../README.md#course-map)")
    if index + 1 < len(rows):
        number, slug, title, _ = rows[index + 1]
        parts.append(f"[{number} · {title} →]({filename(number, slug)})")
    number, slug, title, _ = rows[index]
    parts.append(f"[![Open in Binder]({BADGE})]({binder_url('notebooks/' + filename(number, slug))})")
    return " | ".join(parts)


def course_map() -> str:
    lines = ["| # | notebook | the question it answers | run it |", "|---|---|---|---|"]
    for number, slug, title, question in ARC:
        name = filename(number, slug)
        if (NOTEBOOKS / name).exists():
            link = f"[{title}](notebooks/{name})"
            run = f"[Binder]({binder_url('notebooks/' + name)})"
        else:
            link, run = f"{title} *(coming)*", ""
        lines.append(f"| {number} | {link} | {question} | {run} |")
    return "\n".join(lines)


def update_notebook(path: Path, text: str) -> bool:
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    nav_cells = [c for c in nb["cells"] if "nav" in c.get("metadata", {}).get("tags", [])]
    if not nav_cells:
        raise SystemExit(f"{path.name}: no markdown cell tagged 'nav' (see CONTRIBUTING.md)")
    for cell in nav_cells:
        if "".join(cell["source"]) != text:
            cell["source"] = text
            changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


NOTEBOOK_LINK = re.compile(r"\]\(([^)\s]*?\d\d_[^)\s/]*\.ipynb)[^)]*\)")
NOTEBOOK_WORD = re.compile(r"\b[Nn]otebook\s+(\d\d)\b")


def dead_references() -> list[str]:
    """Markdown links to missing NN_*.ipynb files and "notebook NN" for a missing NN, as printable lines."""
    existing = {p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    found = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for match in NOTEBOOK_LINK.finditer(text):
                target = match.group(1).split("#")[0]
                if "://" in target:   # a web address (the Binder badge), not a file in the repository
                    continue
                if not (path.parent / target).resolve().exists():
                    found.append(f"{path.name}, cell {index}: link to a missing notebook: {match.group(0)}")
            for match in NOTEBOOK_WORD.finditer(text):
                if match.group(1) not in existing:
                    start = max(0, match.start() - 40)
                    context = " ".join(text[start:match.end() + 40].split())
                    found.append(f"{path.name}, cell {index}: \"{match.group(0)}\" does not exist yet: ...{context}...")
    return found


def main(argv: list[str]) -> int:
    check = "--check" in argv
    rows = present()
    stale = []
    for index, (number, slug, _, _) in enumerate(rows):
        path = NOTEBOOKS / filename(number, slug)
        text = nav_text(index, rows)
        if check:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = [c for c in nb["cells"] if "nav" in c.get("metadata", {}).get("tags", [])]
            if not cells or any("".join(c["source"]) != text for c in cells):
                stale.append(path.name)
        elif update_notebook(path, text):
            print(f"updated {path.name}")
    readme = README.read_text(encoding="utf-8")
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md needs the markers {START} and {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{course_map()}\n{END}{tail}"
    if new != readme:
        if check:
            stale.append("README.md")
        else:
            README.write_text(new, encoding="utf-8")
            print("updated README.md")
    dead = dead_references() if check else []
    for line in dead:
        print(line)
    if check and stale:
        print("out of date (run python tools/make_nav.py):", ", ".join(stale))
    if check and (stale or dead):
        if dead:
            print(f"{len(dead)} reference(s) to notebooks that do not exist: link only existing notebooks, "
                  "and write \"later in the course\" for the others")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
