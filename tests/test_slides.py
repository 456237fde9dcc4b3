"""The offline slide decks: `python tools/build_slides.py` makes one reveal.js deck per notebook that
needs no network (reveal.js is the copy in tools/reveal.js/) and shows the notebook's stored figures.
The cell tags `slide-hide-input`, `slide-hide-output` and `slide-skip` change how a cell is shown on the
slides; every deck has fonts with CJK fallbacks; tools/check_slides.py finds the slides that do not fit
the screen (the test of the checker needs Chromium, like tests/test_browser.py)."""
import json
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
import make_answers  # noqa: E402
import make_cjk_font  # noqa: E402

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
    covered = [(m["h"], m["v"], m["first_line"][:60], m["covered"]) for m in report["covered"]]
    assert not covered, f"{name} at {size[0]}x{size[1]}: a control or the slide number is drawn over: {covered}"
    if report["projector"] and size == (1280, 720):  # the notebook asked for projector sizes
        small = [(m["h"], m["v"], check_slides.too_small(m)) for m in report["small"]]
        assert not small, f"{name}: text under the projector sizes (h, v, what): {small}"
    main_slides = len({m["h"] for m in report["measured"]})
    assert report["notes"] >= main_slides - 1, (f"{name}: {report['notes']} slides with speaker notes for "
                                               f"{main_slides} main slides")


# --- Chinese offline: the decks ship a subset of Noto Sans CJK SC (tools/make_cjk_font.py) ---------------

def test_shipped_cjk_font_has_every_character_the_decks_use():
    missing = make_cjk_font.missing_chars()
    assert not missing, (f"tools/fonts/course-cjk.woff2 lacks {''.join(sorted(missing))}, used in a notebook "
                         "or quiz: run python tools/make_cjk_font.py (see its --help for the source font)")


def test_a_character_the_font_lacks_is_found(tmp_path):
    """The check above can fail: a notebook with a character outside the subset is named."""
    absent = next(chr(c) for c in range(0x4E00, 0x9FFF) if chr(c) not in make_cjk_font.shipped_chars())
    nb = nbformat.v4.new_notebook()
    nb.cells = [markdown_cell(f"批次 and {absent}")]
    path = tmp_path / "new.ipynb"
    nbformat.write(nb, path)
    assert make_cjk_font.missing_chars([path]) == {absent}
    assert make_cjk_font.used_chars([path]) == {"批", "次", absent}


def test_glyph_list_is_what_the_font_holds():
    fonttools = pytest.importorskip("fontTools.ttLib", reason="fontTools reads the WOFF2 (pip install fonttools)")
    pytest.importorskip("brotli", reason="WOFF2 is brotli-compressed (pip install brotli)")
    font = fonttools.TTFont(make_cjk_font.FONT)
    cmap = {chr(c) for c in font.getBestCmap()}
    assert make_cjk_font.shipped_chars() <= cmap, sorted(make_cjk_font.shipped_chars() - cmap)[:20]
    assert "Open Font License" in font["name"].getDebugName(13)


def test_font_and_license_ship_with_the_decks(decks):
    assert (decks / "fonts" / "course-cjk.woff2").read_bytes() == make_cjk_font.FONT.read_bytes()
    assert "SIL OPEN FONT LICENSE Version 1.1" in (decks / "fonts" / "OFL.txt").read_text(encoding="utf-8")
    html = (decks / "09_generalization.slides.html").read_text(encoding="utf-8")
    face = re.search(r"@font-face \{[^}]*\}", html).group(0)
    assert 'font-family: "Course CJK"' in face and 'url("fonts/course-cjk.woff2")' in face
    assert make_cjk_font.unicode_range() in face, "the shipped font must draw only the CJK characters"
    stacks = dict(re.findall(r"--course-(font|mono):\s*([^;]+);", html))
    for kind, stack in stacks.items():
        cjk = stack.index('"Course CJK"')
        assert cjk < stack.index('"Noto Sans CJK SC"'), f"{kind}: the shipped font must come before the system's"


# Renders `text` with the shipped font on a canvas and returns a digest of the pixels.
GLYPH_JS = """
var c = document.createElement('canvas'); c.width = 64; c.height = 64;
var g = c.getContext('2d'); g.font = '48px "Course CJK"'; g.textBaseline = 'top';
var out = {};
arguments[0].forEach(function (ch) {
    g.clearRect(0, 0, 64, 64); g.fillText(ch, 4, 4);
    var d = g.getImageData(0, 0, 64, 64).data, h = 0, ink = 0;
    for (var i = 3; i < d.length; i += 4) { h = (h * 31 + d[i]) >>> 0; ink += d[i] > 0 ? 1 : 0; }
    out[ch] = [h, ink];
});
return out;
"""


@pytest.mark.browser
def test_cjk_font_loads_and_draws_its_glyphs(decks, chromium_driver):
    """In Chromium the deck's font loads from fonts/ (document.fonts), and every character of the subset is
    drawn as its own glyph, unlike a character the subset lacks (the fallback: a box, or nothing)."""
    check_slides.open_deck(chromium_driver, decks / "09_generalization.slides.html")
    faces = chromium_driver.execute_script(
        "var f = []; document.fonts.forEach(function (x) { f.push([x.family, x.status]); }); return f;")
    assert ['"Course CJK"', "loaded"] in faces or ["Course CJK", "loaded"] in faces, faces
    shipped = sorted(make_cjk_font.shipped_chars())
    absent = [chr(c) for c in range(0x9FA0, 0x9FB0) if chr(c) not in shipped][:2]
    drawn = chromium_driver.execute_script(GLYPH_JS, shipped + absent)
    box = drawn[absent[0]]
    same_as_box = [ch for ch in shipped if drawn[ch] == box]
    assert not same_as_box, f"these characters are drawn as the fallback for a missing glyph: {same_as_box}"
    assert all(drawn[ch][1] > 20 for ch in shipped), "a shipped glyph left (almost) no ink"
    assert len({tuple(drawn[ch]) for ch in shipped}) > 0.95 * len(shipped), "glyphs should differ"
    if drawn[absent[0]] != drawn[absent[1]]:
        warnings.warn("this machine has a CJK font of its own: the fallback is not a box", stacklevel=1)


# --- No dead links; the answers page; quizzes on the decks ------------------------------------------------

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck_has_no_dead_links(decks, notebook):
    deck = decks / f"{notebook.stem}.slides.html"
    assert not check_slides.dead_links(deck), f"{deck.name}: {check_slides.dead_links(deck)}"
    html = deck.read_text(encoding="utf-8")
    assert not re.search(r'href="[^":#]*\.(?:ipynb|md)\b', html), "a link to a notebook or markdown file"


def test_dead_links_are_found(tmp_path):
    (tmp_path / "deck.slides.html").write_text('<a href="02_batches.slides.html">next</a> '
                                               '<img src="reveal.js/x.png"> <a href="answers.html#00">q</a>')
    (tmp_path / "answers.html").write_text('<h2 id="01">x</h2>')
    assert check_slides.dead_links(tmp_path / "deck.slides.html") == [
        "02_batches.slides.html (no file 02_batches.slides.html)", "reveal.js/x.png (no file reveal.js/x.png)",
        'answers.html#00 (no id "00" in answers.html)']


def test_answers_page_is_built_next_to_the_decks(decks):
    page = (decks / "answers.html").read_text(encoding="utf-8")
    assert page == make_answers.html_page()
    for path in sorted(make_answers.QUIZZES.glob("*.json")):
        assert f'<h2 id="{path.stem}"><a href="{path.stem}.slides.html">' in page
        questions = json.loads(path.read_text(encoding="utf-8"))
        section = page.split(f'id="{path.stem}"')[1].split("<h2 ")[0]
        assert section.count("<details><summary>Answer and explanations</summary>") == len(questions)


def test_answers_markdown_hides_each_answer():
    page = make_answers.PAGE.read_text(encoding="utf-8")
    questions = sum(len(json.loads(p.read_text(encoding="utf-8"))) for p in make_answers.QUIZZES.glob("*.json"))
    assert page.count("<details><summary>Answer and explanations</summary>") == questions
    for block in re.split(r"\*\*Question \d+\*\*", page)[1:]:
        before = block.split("<details>")[0]
        assert "✅" not in before and "**correct" not in before and "Answer:" not in before, \
            f"an answer before <details>: {before[:200]}"


def test_links_lead_to_decks_the_answers_page_or_github():
    assert build_slides.deck_link("07_speed_and_memory.ipynb", {"07_speed_and_memory"}) == "07_speed_and_memory.slides.html"
    assert build_slides.deck_link("https://arxiv.org/abs/1812.06162", set()) == "https://arxiv.org/abs/1812.06162"
    assert build_slides.deck_link("#Step-1", set()) == "#Step-1"
    github = build_slides.deck_link("../data/README.md", set())
    assert github.startswith("https://github.com/") and github.endswith("/blob/main/data/README.md")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_deck_carries_its_quiz(decks, notebook):
    """One sub-slide per question, the answer on the next fragment."""
    nb = nbformat.read(notebook, as_version=4)
    stems = [m.group(1) for c in nb.cells if c.cell_type == "code" for m in [build_slides.QUIZ_CALL.search(c.source)] if m]
    assert stems, f"{notebook.name} has no quiz cell"
    questions = make_answers.load(stems[0])
    html = (decks / f"{notebook.stem}.slides.html").read_text(encoding="utf-8")
    for k in range(1, len(questions) + 1):
        assert f"Check yourself: question {k} of {len(questions)}" in html, f"{notebook.stem}: question {k}"
    answers = re.findall(r'<div class="fragment">(?:(?!<div class="fragment">|</section>).)*?<p><strong>Answer: ',
                         html, flags=re.S)
    assert len(answers) == len(questions), f"{notebook.stem}: {len(answers)} answers on fragments"


def test_quiz_slides(tmp_path):
    questions = make_answers.load("00_start_here")
    html = build_deck(tmp_path, "quiz", [
        markdown_cell("# Check yourself", "slide"),
        code_cell('cu.show_quiz("quizzes/00_start_here.json")', "QUIZ_WIDGET", tags=["slide-skip"]),
        markdown_cell("Answers: [page](quizzes/ANSWERS.md#00_start_here)"),
    ])
    slides = slides_of(html)
    assert "QUIZ_WIDGET" not in html
    assert len(slides) == 1 + len(questions), slides
    first = slides[1]
    options = [a["answer"] for a in questions[0]["answers"]]          # the quiz file decides the words
    assert first.startswith(f"Check yourself: question 1 of {len(questions)} (pick one)"), first
    assert f"A. {options[0][:12]}" in first and f"{'ABCD'[len(options) - 1]}. {options[-1][:12]}" in first
    # the answer is the next click: a fragment after the question
    right = next(k for k, a in enumerate(questions[0]["answers"]) if a["correct"])
    answer = re.search(r'<div class="fragment">(.*?)</section>', html, flags=re.S)
    assert answer and f"Answer: {'ABCD'[right]}. {options[right][:12]}" in re.sub(r"<[^>]+>", "", answer.group(1))
    assert 'href="answers.html#00_start_here"' in html


@pytest.mark.browser
def test_a_control_over_content_is_found(tmp_path, chromium_driver):
    """The deck check fails on a control drawn over text: here the arrows are moved onto the slide."""
    build_deck(tmp_path, "covered", [markdown_cell("# Covered\n\n" + "word " * 400, "slide"),
                                     markdown_cell("# Next", "slide")])
    deck = tmp_path / "slides" / "covered.slides.html"
    report = check_slides.check_deck(chromium_driver, deck, 1280, 720)
    assert not report["covered"], "the built layout keeps the controls off the content"
    chromium_driver.execute_script("var c = document.querySelector('.reveal .controls'); c.style.right = '50%';"
                                   "c.style.bottom = '50%'; c.style.fontSize = '10px';")
    flagged = [check_slides.measure(chromium_driver, 0, 0)]
    assert flagged[0]["covered"], flagged
    assert flagged[0]["covered"][0]["control"].startswith("button.navigate-right")


# --- Projector sizes: a short slide version of a cell, and sizes a deck can opt into -----------------------

def test_slide_text_replaces_a_cell_on_the_deck_only(tmp_path):
    cell = markdown_cell("A LONG PARAGRAPH that the notebook keeps for a reader alone.", "slide")
    cell.metadata.slide_text = "The point, short."
    html = build_deck(tmp_path, "short", [cell])
    assert "The point, short." in html and "A LONG PARAGRAPH" not in html


def test_slide_figure_next_puts_the_figures_on_the_next_sub_slide(tmp_path):
    figure = figure_cell()
    figure.source = "print('TABLE_HERE'); plot()"
    figure.outputs.insert(0, nbformat.v4.new_output("stream", name="stdout", text="TABLE_HERE\n"))
    figure.metadata.tags = [build_slides.FIGURE_NEXT]
    html = build_deck(tmp_path, "figure_next", [markdown_cell("# Title", "slide"), figure])
    slides = re.findall(r"<section\b[^>]*>(?:(?!<section).)*?</section>", html, re.S)
    [table] = [k for k, text in enumerate(slides) if "TABLE_HERE" in text]
    [picture] = [k for k, text in enumerate(slides) if "data:image/png" in text]
    assert picture == table + 1 and "data:image/png" not in slides[table], [s[:80] for s in slides]


def test_slide_code_shows_the_short_code_on_the_deck_only(tmp_path):
    cell = code_cell("set_up_the_plot()\nLESSON_LINE = 1", "1\n", slide_type="slide")
    cell.metadata.slide_code = "LESSON_LINE = 1   # plotting set-up: see the notebook"
    html = build_deck(tmp_path, "short_code", [cell])
    assert "LESSON_LINE" in html and "see the notebook" in html and "set_up_the_plot" not in html


def test_slide_output_next_puts_the_outputs_on_the_next_sub_slide(tmp_path):
    cells = [markdown_cell("# Title", "slide"),
             code_cell("print('CODE_HERE')", "OUTPUT_HERE\n", tags=[build_slides.OUTPUT_NEXT]),
             markdown_cell("AFTER", None)]
    slides = slides_of(build_deck(tmp_path, "split", cells))
    [code] = [k for k, text in enumerate(slides) if "CODE_HERE" in text]
    [out] = [k for k, text in enumerate(slides) if "OUTPUT_HERE" in text]
    assert out == code + 1, slides
    assert "OUTPUT_HERE" not in slides[code] and "CODE_HERE" not in slides[out], slides
    assert "AFTER" in slides[out], "the cells after it stay on the outputs' sub-slide"


@pytest.mark.browser
def test_projector_sizes_are_measured(tmp_path, chromium_driver):
    cells = [markdown_cell("# Sizes\n\nBody text.", "slide"), code_cell("x = 1", "1")]
    (tmp_path / "plain").mkdir()
    plain = build_deck(tmp_path / "plain", "plain", cells)
    assert build_slides.PROJECTOR_MARK not in plain
    nb = nbformat.v4.new_notebook(metadata={"slides": {"projector": True}})
    nb.cells = cells
    nbformat.write(nb, tmp_path / "big.ipynb")
    [big] = build_slides.build(tmp_path / "big", [tmp_path / "big.ipynb"])
    small = check_slides.check_deck(chromium_driver, tmp_path / "plain" / "slides" / "plain.slides.html", 1280, 720)
    large = check_slides.check_deck(chromium_driver, big, 1280, 720)
    assert not small["projector"] and large["projector"]
    assert small["smallest"]["body"] < check_slides.MIN_BODY_PX and small["small"], small["smallest"]
    assert large["smallest"]["body"] >= check_slides.MIN_BODY_PX, large["smallest"]
    assert large["smallest"]["code"] >= check_slides.MIN_CODE_PX and not large["small"], large["smallest"]


def figure_cell(fontsize: float | None = None, record: bool = True):
    """A code cell whose output is a course-style figure (drawn here, not by a kernel), tagged
    slide-hide-input; ``fontsize``: a note in it at that size; ``record=False``: a plain PNG without the
    record of its smallest text."""
    import base64
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from course_utils import plots

    plots.use_course_style()
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    if fontsize:
        ax.text(1, 1.5, "note", fontsize=fontsize)
    if record:
        png, shown = plots.figure_png(fig)
    else:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        png, shown = buffer.getvalue(), {}
    plt.close(fig)
    output = nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode("ascii"),
                                                          "text/plain": "<Figure>"},
                                    metadata={"image/png": shown} if shown else {})
    cell = nbformat.v4.new_code_cell("plot()", outputs=[output], execution_count=1)
    cell.metadata.tags = [build_slides.HIDE_INPUT]
    return cell


@pytest.mark.browser
def test_figure_text_is_measured_as_shown_and_a_figure_slide_is_filled(tmp_path, chromium_driver):
    """A figure alone grows to fill its slide; its smallest text is measured as shown; a small note in a
    figure, or a figure that records no size, is named by the projector check."""
    nb = nbformat.v4.new_notebook(metadata={"slides": {"projector": True}})
    nb.cells = [markdown_cell("## Alone", "slide"), figure_cell(),
                markdown_cell("## Under text\n\n" + "\n".join(f"- line {k}" for k in range(6)), "slide"),
                figure_cell(),
                markdown_cell("## A small note", "slide"), figure_cell(fontsize=7),
                markdown_cell("## Not recorded", "slide"), figure_cell(record=False)]
    nbformat.write(nb, tmp_path / "figures.ipynb")
    [deck] = build_slides.build(tmp_path / "slides", [tmp_path / "figures.ipynb"])
    report = check_slides.check_deck(chromium_driver, deck, 1280, 720)
    alone, under, note, plain = report["measured"]
    smallest = 15 * 80 / 72   # the course style's smallest text (15 pt tick labels at 80 dpi) at scale 1
    assert alone["figure_scales"][0] > 1.2, "a figure alone fills its slide"
    assert alone["figure_text_px"][0] == pytest.approx(smallest * alone["figure_scales"][0], rel=0.02)
    assert 1 <= under["figure_scales"][0] < alone["figure_scales"][0], "a figure under text grows less"
    assert under["figure_text_px"][0] >= check_slides.MIN_FIGURE_TEXT_PX and not check_slides.too_small(under)
    assert note["figure_text_px"][0] < check_slides.MIN_FIGURE_TEXT_PX
    assert check_slides.too_small(note) == [f"figure 1: text {note['figure_text_px'][0]:g} px"]
    assert plain["figure_text_px"] == [None] and "not recorded" in check_slides.too_small(plain)[0]
    assert {(m["h"], m["v"]) for m in report["small"]} == {(2, 0), (3, 0)}


@pytest.mark.parametrize("module", [build_slides, check_slides, make_cjk_font, make_answers],
                         ids=lambda m: m.__name__)
def test_tool_docstring_examples(module):
    import doctest
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
