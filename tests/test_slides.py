"""The offline slide decks: `python tools/build_slides.py` makes one reveal.js deck per notebook that
needs no network (reveal.js is the copy in tools/reveal.js/) and shows the notebook's stored figures.
The cell tags `slide-hide-input`, `slide-hide-output` and `slide-skip` change how a cell is shown on the
slides; every deck has fonts with CJK fallbacks; tools/check_slides.py finds the slides that do not fit
the screen (the test of the checker needs Chromium, like tests/test_browser.py)."""
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_slides  # noqa: E402  (tools/ is not a package)
import check_slides  # noqa: E402

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
    """Stored PNG outputs of the cells a deck shows (left out: cells of slide type `skip` or tagged
    `slide-skip`, and the outputs of cells tagged `slide-hide-output`)."""
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in output.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" and build_slides.on_slides(cell)
               and build_slides.HIDE_OUTPUT not in cell.metadata.get("tags", [])
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


CJK_FONTS = ("Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck_fonts_have_cjk_fallbacks(decks, notebook):
    """Text and code fall back to a CJK font, so the Chinese terms render on Linux, macOS and Windows."""
    html = (decks / f"{notebook.stem}.slides.html").read_text(encoding="utf-8")
    stacks = dict(re.findall(r"--course-(font|mono):\s*([^;]+);", html))
    assert set(stacks) == {"font", "mono"}, f"{notebook.stem}: no font stacks in the deck"
    for kind, stack in stacks.items():
        missing = [font for font in CJK_FONTS if f'"{font}"' not in stack]
        assert not missing, f"{notebook.stem}: the {kind} stack lacks the CJK fallbacks {missing}: {stack}"
    assert stacks["font"].strip().endswith("sans-serif") and stacks["mono"].strip().endswith("monospace")
    for variable, stack in (("ui-font-family", "font"), ("content-font-family", "font"), ("code-font-family", "mono")):
        assert f"--jp-{variable}: var(--course-{stack})" in html, f"{notebook.stem}: --jp-{variable} not set"
    assert re.search(r"html body \.reveal[^{]*\{\s*font-family: var\(--course-font\)", html)
    assert re.search(r"html body \.reveal pre[^{]*\{\s*font-family: var\(--course-mono\)", html)
    # After nbconvert's own styles, so that its variables do not win.
    assert html.index('id="course-fonts"') > html.index("--jp-code-font-family: var(--jp-code-font-family-default)")


def code_cell(source: str, output: str, tags=(), slide_type: str | None = None):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    cell.execution_count = 1
    cell.metadata.tags = list(tags)
    if slide_type:
        cell.metadata.slideshow = {"slide_type": slide_type}
    return cell


def markdown_cell(source: str, slide_type: str | None = None):
    cell = nbformat.v4.new_markdown_cell(source)
    if slide_type:
        cell.metadata.slideshow = {"slide_type": slide_type}
    return cell


def build_deck(tmp_path: Path, name: str, cells) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    stored = path.read_bytes()
    [deck] = build_slides.build(tmp_path / "slides", [path])
    assert path.read_bytes() == stored, "building the deck changed the notebook"
    return deck.read_text(encoding="utf-8")


def slides_of(html: str) -> list[str]:
    """The text of each leaf <section> of a deck, tags stripped."""
    body = html[html.index('<div class="slides">'):]
    leaves = re.findall(r"<section[^>]*>((?:(?!<section).)*?)</section>", body, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", leaf)).strip() for leaf in leaves]


def test_slide_tags(tmp_path):
    html = build_deck(tmp_path, "tags", [
        markdown_cell("# Title slide", "slide"),
        code_cell("PLOTTING_CODE = 1", "THE_FIGURE", tags=["slide-hide-input"]),
        code_cell("SETUP_CODE = 2", "SETUP_OUTPUT", tags=["slide-skip"], slide_type="slide"),
        markdown_cell("After the skipped cell"),
        code_cell("LESSON_CODE = 3", "NOISY_OUTPUT", tags=["slide-hide-output"], slide_type="slide"),
        code_cell("OLD_STYLE_SKIP = 4", "OLD_OUTPUT", slide_type="skip"),
        markdown_cell("Ask the room: why?", "notes"),
    ])
    assert "THE_FIGURE" in html and "PLOTTING_CODE" not in html, "slide-hide-input: output without its code"
    assert "SETUP_CODE" not in html and "SETUP_OUTPUT" not in html, "slide-skip: the cell is not on the slides"
    assert "LESSON_CODE" in html and "NOISY_OUTPUT" not in html, "slide-hide-output: code without its output"
    assert "OLD_STYLE_SKIP" not in html and "OLD_OUTPUT" not in html, "slide type skip is still honoured"
    slides = slides_of(html)
    assert len(slides) == 3, slides
    assert "Title slide" in slides[0] and "THE_FIGURE" in slides[0]
    # The skipped cell started a slide: the next cell that is shown starts it instead.
    assert slides[1] == "After the skipped cell", slides
    assert "LESSON_CODE" in slides[2] and "Ask the room: why?" in slides[2]
    assert re.search(r'<aside class="notes">.*Ask the room: why\?.*</aside>', html, flags=re.S), "speaker notes"


@pytest.fixture(scope="module")
def chromium_driver(tmp_path_factory):
    if check_slides.find_chromium() is None:
        message = ("BROWSER TEST NOT RUN: Chromium and chromedriver were not found (/usr/bin/chromium, "
                   "/usr/bin/chromedriver). Install them with `apt-get install chromium chromium-driver`.")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI=true: .ci/run installs them, so their absence is an error here)")
        warnings.warn(message, pytest.PytestWarning, stacklevel=1)
        pytest.skip(message)
    driver = check_slides.make_driver(1280, 720, tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=["720p", "1080p"])
def test_overflow_checker(tmp_path, chromium_driver, size):
    """tools/check_slides.py flags a slide that is too tall or has a code line too long, names it, and
    passes slides that fit."""
    long_line = "x = [" + ", ".join(str(i) for i in range(60)) + "]"
    build_deck(tmp_path, "synthetic", [
        markdown_cell("# Fits\n\nA short slide.", "slide"),
        markdown_cell("# Too tall\n\n" + "\n\n".join(f"Line {i}" for i in range(40)), "slide"),
        markdown_cell("# Fits too", "slide"),
        code_cell("print('short')", "short", slide_type="-"),
        markdown_cell("# Too wide", "slide"),
        code_cell(long_line, "", slide_type="-"),
        markdown_cell("# Fits below", "subslide"),
    ])
    deck = tmp_path / "slides" / "synthetic.slides.html"
    report = check_slides.check_deck(chromium_driver, deck, *size)
    assert report["slides"] == 5, report
    flagged = {(m["h"], m["v"]): m for m in report["overflowing"]}
    assert set(flagged) == {(1, 0), (3, 0)}, [(m["h"], m["v"], m["where"]) for m in report["overflowing"]]
    tall, wide = flagged[(1, 0)], flagged[(3, 0)]
    assert tall["first_line"].startswith("Too tall") and tall["overflow"]["bottom"] > 100, tall
    assert wide["first_line"].startswith("Too wide") and wide["overflow_px"] > 100, wide
    assert all(m["viewport"] == {"width": size[0], "height": size[1]} for m in report["measured"])
    # The importable entry point, with its own browser.
    if size == (1280, 720):
        assert [(m["h"], m["v"]) for m in check_slides.overflowing_slides(deck, *size)] == [(1, 0), (3, 0)]


# Every deck fits the screen and carries speaker notes (issue "Lecture decks a teacher can present as they
# are"); a new notebook's deck is tested too.
FITTED = [p.stem for p in NOTEBOOKS]


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=["720p", "1080p"])
@pytest.mark.parametrize("name", FITTED)
def test_fitted_decks_fit_the_screen_and_carry_notes(decks, chromium_driver, name, size):
    report = check_slides.check_deck(chromium_driver, decks / f"{name}.slides.html", *size)
    cut = [(m["h"], m["v"], m["first_line"][:60], m["overflow_px"]) for m in report["overflowing"]]
    assert not cut, f"{name} at {size[0]}x{size[1]}: these slides (h, v, first line, px) do not fit: {cut}"
    main_slides = len({m["h"] for m in report["measured"]})
    assert report["notes"] >= main_slides - 1, (f"{name}: {report['notes']} slides with speaker notes for "
                                               f"{main_slides} main slides")
