"""The offline slide decks: `python tools/build_slides.py` makes one reveal.js deck per notebook that
needs no network (reveal.js is the copy in tools/reveal.js/) and shows the notebook's stored figures."""
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REMOTE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("slides")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "build_slides.py"), str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_reveal_js_is_vendored_with_its_license(decks):
    for name in ("LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "plugin/notes/notes.js"):
        assert (ROOT / "tools" / "reveal.js" / name).is_file(), f"tools/reveal.js/{name} is missing"
        assert (decks / "reveal.js" / name).is_file(), f"the build did not copy reveal.js/{name} next to the decks"
    assert "MIT" in (ROOT / "tools" / "reveal.js" / "LICENSE").read_text()


def shown_pngs(path: Path) -> int:
    """Stored PNG outputs of the cells a deck shows (cells of slide type `skip` are left out)."""
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in output.get("data", {})
               for cell in nb.cells if cell.cell_type == "code"
               and cell.metadata.get("slideshow", {}).get("slide_type") != "skip"
               for output in cell.outputs)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck(decks, notebook):
    deck = decks / f"{notebook.stem}.slides.html"
    assert deck.is_file(), f"no deck for {notebook.name}"
    html = deck.read_text(encoding="utf-8")
    slides = html.count("<section")
    assert slides >= 6, f"{deck.name} has {slides} slides; a lesson should have at least 6"
    figures = len(re.findall(r"<img\b[^>]*src=\"data:image/png;base64,", html))
    assert figures >= shown_pngs(notebook), f"{deck.name} embeds {figures} of the notebook's figures"
    remote = REMOTE.findall(html) + re.findall(r"@import\s+url\([\"']?https?:", html)
    assert not remote, f"{deck.name} loads from the network, which fails in a lecture hall: {remote[:3]}"
    assert 'src="reveal.js/dist/reveal.js"' in html and 'href="reveal.js/dist/reveal.css"' in html
    assert re.search(r"Reveal\.initialize\(\{.*width: \d+,\s*height: \d+,", html, flags=re.S), "bad reveal.js settings"
