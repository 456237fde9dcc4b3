#!/usr/bin/env python3
"""Build a reveal.js slide deck of every notebook that works offline, e.g. in a lecture hall.

    python tools/build_slides.py                      # every notebook -> build/slides/
    python tools/build_slides.py OUT_DIR [NB.ipynb ...]
    python tools/build_slides.py --projector [OUT_DIR ...]   # every deck with the projector sizes (a trial)

Each deck is `jupyter nbconvert --to slides` of the notebook *as stored* (nothing is executed: the
stored outputs, figures included, are embedded in the HTML). Nothing is loaded from the internet:
reveal.js comes from the copy in `tools/reveal.js/` (copied next to the decks), and the template below
leaves out what nbconvert would otherwise fetch from a CDN (require.js, jQuery, MathJax, mermaid and the
widget renderer). An interactive demo's slider cannot run without a kernel, so its slide shows the code
and a note; the plain cell after it shows the figure at a telling value. To use the sliders while
presenting, present the notebook live in JupyterLab with jupyterlab-rise (see README, "Presenting").

Open `build/slides/00_start_here.slides.html` in a browser; press `s` for the speaker view.

What a slide shows of a cell. The notebook keeps every line of code; these cell tags (JupyterLab: the
property inspector, "Cell Tags") only change how the cell is shown in a deck:

    slide-hide-input    the slide shows the cell's outputs (its figure, table, printout) but not its code:
                        for plotting and set-up code that is not the lesson
    slide-hide-output   the slide shows the code but not its outputs
    slide-skip          the cell is not on the slides at all (like the slide type "Skip" in JupyterLab's
                        property inspector, metadata.slideshow.slide_type = "skip", which is honoured too)
    slide-output-next   the code on one sub-slide, its outputs on the next: for a cell whose code and
                        printout do not fit one slide together
    slide-figure-next   the cell's figures on the next sub-slide, after its code and printout: for a
                        printout and a figure too tall together

Markdown cells of slide type "Notes" become speaker notes (reveal.js `aside.notes`, the `s` key); so do
the notes that tools/reading_flow.py moved out of the reader's way into a cell's `metadata.slide_notes`
(put back right after that cell). A quiz cell (`cu.show_quiz("quizzes/NN.json")`, an interactive widget
that is not on the slides) is followed by its questions, one sub-slide each, the answer and its
explanation on the next click (a fragment). Links to another notebook lead to its deck, the quiz answers
link to `answers.html` (written next to the decks by tools/make_answers.py's html_page), any other
relative link to the file on GitHub. The arrows and the slide number sit in a strip on the right that
the slides leave free (STRIP_PX), so they never cover a slide's content. If a
`slide-skip` cell starts a slide or sub-slide, the next cell that is shown starts it instead, so the
slide boundaries stay where the notebook puts them. A markdown cell's `metadata.slide_text`
(markdown) is its short slide version: the deck shows it instead of the cell's text; a code cell's
`metadata.slide_code` is the code a slide shows (the lesson's lines, the rest elided with a comment that
says so), while the notebook runs the full cell. A notebook whose
metadata has `"slides": {"projector": true}` gets projector sizes (body text 28 px, code 22 px on the
1280x720 canvas), which tools/check_slides.py then enforces. The tags are applied to a copy of the notebook while
the deck is built; the notebook files are never changed. Text uses a font stack with CJK fallbacks
so the Chinese terms render on Linux, macOS and Windows alike, with or without a CJK font installed:
first the font shipped in `fonts/` next to the decks (a subset of Noto Sans CJK SC, OFL, made by
tools/make_cjk_font.py), then Noto Sans CJK SC, PingFang SC, Microsoft YaHei, ...; code uses a monospace
stack with the same fallbacks.

`python tools/check_slides.py` opens every built deck in Chromium and reports the slides whose content
does not fit the screen (1280x720 by default), those with a control or the slide number drawn over their
content, and every link that does not resolve inside the built folder.
"""
from __future__ import annotations

import copy
import html
import re
import shutil
import sys
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import SlidesExporter
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import course_map  # noqa: E402  (tools/ is not a package)
import make_answers  # noqa: E402
import make_cjk_font  # noqa: E402
import reading_flow  # noqa: E402

REVEAL = ROOT / "tools" / "reveal.js"  # reveal.js 4.0.2 (nbconvert's default version), MIT, see its LICENSE

# Cell tags that change how a cell is shown on the slides (see the docstring above).
HIDE_INPUT, HIDE_OUTPUT, SKIP = "slide-hide-input", "slide-hide-output", "slide-skip"
OUTPUT_NEXT, FIGURE_NEXT = "slide-output-next", "slide-figure-next"
SLIDE_TAGS = (HIDE_INPUT, HIDE_OUTPUT, SKIP, OUTPUT_NEXT, FIGURE_NEXT)

# Fonts: whatever the lecture laptop has, Latin first, then a CJK font so that the Chinese terms render
# instead of empty boxes: first the font that ships with the decks (tools/fonts/, a subset of Noto Sans CJK
# SC made by tools/make_cjk_font.py; its @font-face covers only CJK code points, so Latin text never uses
# it), then the system's (Noto/Source Han on Linux, PingFang/Hiragino on macOS, YaHei on Windows).
FONTS = ROOT / "tools" / "fonts"
SHIPPED_CJK = make_cjk_font.FAMILY
FONT_FACE = (f'@font-face {{ font-family: "{SHIPPED_CJK}"; src: url("fonts/{make_cjk_font.FONT.name}") '
             f'format("woff2"); unicode-range: {make_cjk_font.unicode_range()}; font-display: block; }}')
CJK_FALLBACKS = (f'"{SHIPPED_CJK}", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", '
                 '"Microsoft YaHei", "WenQuanYi Micro Hei"')
FONT_STACK = f'"Source Sans Pro", "Helvetica Neue", Helvetica, Arial, {CJK_FALLBACKS}, sans-serif'
MONO_STACK = ('"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", "Noto Sans Mono CJK SC", '
              f'{CJK_FALLBACKS}, monospace')

# The strip on the right of the window (screen px) where the arrows and the slide number are drawn, the
# arrows' size (reveal.js: 10 px, each arrow 3.6 times that) and reveal.js's margin around the canvas
# (a fraction of the window): tools/check_slides.py fails on a slide with a control drawn over content.
STRIP_PX, CONTROLS_PX, MARGIN = 64, 6, 0.02

# Placed after nbconvert's styles, with selectors that outrank the reveal theme's (loaded after it).
FONT_CSS = f"""<style type="text/css" id="course-fonts">
{FONT_FACE}
:root {{
    --course-font: {FONT_STACK};
    --course-mono: {MONO_STACK};
    --jp-ui-font-family: var(--course-font);
    --jp-content-font-family: var(--course-font);
    --jp-code-font-family: var(--course-mono);
}}
html body .reveal, html body .reveal h1, html body .reveal h2, html body .reveal h3, html body .reveal h4,
html body .reveal h5, html body .reveal h6, html body .reveal .jp-RenderedHTMLCommon,
html body .reveal table, html body .reveal .slide-number {{
    font-family: var(--course-font);
}}
html body .reveal pre, html body .reveal code, html body .reveal kbd, html body .reveal samp,
html body .reveal .jp-RenderedText pre, html body .reveal .highlight pre {{
    font-family: var(--course-mono);
}}
</style>
<style type="text/css" id="course-layout">
/* The arrows (controls) and the slide number sit in a strip on the right of the window that the slides
   leave free: reveal.js fits the canvas into .reveal, which ends STRIP_PX before the window's edge. */
html body .reveal {{ width: calc(100% - {STRIP_PX}px); overflow: visible; }}
html body .reveal .controls {{ font-size: {CONTROLS_PX}px; right: -{STRIP_PX - 8}px; bottom: 8px; }}
html body .reveal .slide-number {{ right: -{STRIP_PX - 8}px; top: 8px; bottom: auto; }}
html body .reveal .progress {{ width: calc(100% + {STRIP_PX}px); }}
</style>"""

# Projector sizes (STYLE.md): body text 28 px and code 22 px on the 1280x720 canvas. A deck gets them when
# its notebook's metadata says `"slides": {"projector": true}`; the deck then carries PROJECTOR_MARK and
# tools/check_slides.py holds it to those sizes. (Most slides were written for the smaller default sizes:
# turn it on for a notebook once its slides carry the point, not the paragraph -- see SLIDE_TEXT.)
PROJECTOR_MARK = '<meta name="course-projector-sizes" content="28 22">'
PROJECTOR_CSS = f"""{PROJECTOR_MARK}
<style type="text/css" id="course-projector">
html body .reveal .jp-RenderedHTMLCommon, html body .reveal .jp-RenderedHTMLCommon p,
html body .reveal .jp-RenderedHTMLCommon li, html body .reveal .jp-RenderedHTMLCommon td,
html body .reveal .jp-RenderedHTMLCommon th {{ font-size: 28px; line-height: 1.35; }}
html body .reveal .jp-RenderedHTMLCommon h1 {{ font-size: 48px; }}
html body .reveal .jp-RenderedHTMLCommon h2 {{ font-size: 40px; }}
html body .reveal .jp-RenderedHTMLCommon h3 {{ font-size: 34px; }}
html body .reveal pre, html body .reveal code, html body .reveal .jp-RenderedText pre,
html body .reveal .highlight pre, html body .reveal .jp-CodeMirrorEditor {{ font-size: 22px; line-height: 1.3; }}
html body .reveal .jp-RenderedHTMLCommon code {{ font-size: 0.85em; }}
/* No "In [3]:" / "Out[3]:" column on a slide: the room does not need it, and code and figures get its width. */
html body .reveal .jp-InputPrompt, html body .reveal .jp-OutputPrompt {{ display: none; }}
/* A printout wider than the slide wraps between words, not inside them (JupyterLab breaks anywhere). */
html body .reveal .jp-OutputArea-output pre {{ word-break: normal; overflow-wrap: anywhere; }}
</style>"""
# A markdown cell's short slide version: `metadata.slide_text` (markdown) replaces the cell's text on the
# deck; the notebook keeps its full text. A code cell's `metadata.slide_code` is the code its slide shows.
SLIDE_TEXT, SLIDE_CODE = "slide_text", "slide_code"

# The offline deck: nbconvert's reveal template, minus every CDN reference.
TEMPLATE = r"""{%- extends 'reveal/index.html.j2' -%}

{#- No require.js, jQuery or mermaid from a CDN: reveal.js is loaded with plain script tags below. -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}

{#- No widget renderer from unpkg.com: without a kernel a slider cannot redraw anything anyway. -#}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}

{#- The course writes no TeX; MathJax would have to come from a CDN (build_slides.py warns if TeX appears). -#}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}

{#- The font stacks with CJK fallbacks (FONT_CSS): after nbconvert's styles; its selectors outrank the theme's. -#}
{%- block html_head_css -%}
@FONT_CSS@
{%- endblock html_head_css -%}

{%- block data_widget_view scoped -%}
<div class="jp-OutputArea-output {{ extra_class }}">
<p class="course-live-demo"><em>Interactive demo: it needs a running kernel. Present the notebook live in
JupyterLab (jupyterlab-rise) to move the slider; the next slide shows the figure at one setting.</em></p>
</div>
{%- endblock data_widget_view -%}

{%- block footer -%}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({
    controls: true,
    progress: true,
    history: true,
    transition: "{{ resources.reveal.transition | default('slide', true) }}",
    slideNumber: "{{ resources.reveal.number }}",
    margin: @MARGIN@,
    width: {{ resources.reveal.width | default('1280', true) }},
    height: {{ resources.reveal.height | default('720', true) }},
    plugins: [RevealNotes]
});
@FIT_FIGURES@
</script>
</html>
{%- endblock footer -%}
"""

# A figure fills its slide: the figures of the slide being shown grow together, up to the resolution they
# were drawn at (course_utils.plots draws them SHARPNESS times as sharp as the notebook shows them) and
# the slide's width, for as long as the slide still fits the canvas (a bisection on the scale; reveal.js
# then centres the slide again). The notebook shows them at their own size.
FIT_FIGURES = """
function courseFitFigures(slide) {
    if (!slide || slide.dataset.figuresFitted) return;
    var imgs = Array.prototype.filter.call(slide.querySelectorAll('.jp-OutputArea-output img'),
                                           function (img) { return !img.closest('aside.notes'); });
    if (!imgs.length || imgs.some(function (img) { return !img.complete || !img.naturalWidth; })) return;
    slide.dataset.figuresFitted = '1';
    var height = Reveal.getConfig().height;
    var shown = imgs.map(function (img) { return parseFloat(img.getAttribute('width')) || img.naturalWidth; });
    function grow(k) {
        imgs.forEach(function (img, i) {
            img.style.width = Math.min(shown[i] * k, img.naturalWidth) + 'px';
            img.style.height = 'auto';
            img.style.maxWidth = '100%';
        });
    }
    function fits() { return slide.scrollHeight <= height; }
    var low = 1, high = Math.max.apply(null, imgs.map(function (img, i) { return img.naturalWidth / shown[i]; }));
    grow(low);
    if (!fits() || high <= 1) { Reveal.layout(); return; }
    for (var step = 0; step < 8; step++) {
        var mid = (low + high) / 2;
        grow(mid);
        if (fits()) low = mid; else high = mid;
    }
    grow(low);
    Reveal.layout();
}
function courseFitCurrent() { courseFitFigures(Reveal.getCurrentSlide()); }
Reveal.on('ready', courseFitCurrent);
Reveal.on('slidechanged', courseFitCurrent);
window.addEventListener('load', courseFitCurrent);
"""

TEMPLATE = (TEMPLATE.replace("@FONT_CSS@", FONT_CSS).replace("@MARGIN@", str(MARGIN))
            .replace("@FIT_FIGURES@", FIT_FIGURES))

TEX = re.compile(r"(?<![\\$])\$[^$\s][^$\n]*\$|\$\$|\\\(|\\\[|\\begin\{")


class SlideTagPreprocessor(TagRemovePreprocessor):
    """nbconvert's TagRemovePreprocessor with the course's slide tags, keeping slide boundaries.

    It runs on nbconvert's copy of the notebook, before the reveal.js preprocessor that turns slide
    types into <section>s: a `slide-skip` cell that starts a (sub-)slide hands that start on to the next
    cell that is shown, so that removing it does not merge two slides.
    """

    def __init__(self, **kw):
        super().__init__(**kw)
        self.remove_cell_tags = {SKIP}
        self.remove_input_tags = {HIDE_INPUT}
        self.remove_all_outputs_tags = {HIDE_OUTPUT}

    def preprocess(self, nb, resources):
        # Speaker notes kept in a cell's metadata (tools/reading_flow.py) become notes cells beside it again.
        reading_flow.restore_notes(nb)
        # A markdown cell's short slide version replaces its text on the deck.
        for cell in nb.cells:
            short = cell.metadata.get(SLIDE_TEXT if cell.cell_type == "markdown" else SLIDE_CODE)
            if cell.cell_type in ("markdown", "code") and isinstance(short, str) and short.strip():
                cell.source = short
        nb.cells = [part for cell in nb.cells for part in output_next(cell)]
        # The quiz cell (an interactive widget, tagged slide-skip) is followed by its questions as slides.
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            match = QUIZ_CALL.search(cell.source) if cell.cell_type == "code" else None
            if match and (make_answers.QUIZZES / f"{match.group(1)}.json").is_file():
                cells += quiz_cells(match.group(1))
        nb.cells = cells
        rank = {"subslide": 1, "slide": 2}
        pending = None  # the strongest slide start among the skipped cells since the last shown one
        for cell in nb.cells:
            kind = slide_type(cell)
            if SKIP in cell.metadata.get("tags", []):
                if kind in rank and (pending is None or rank[kind] > rank[pending]):
                    pending = kind
            elif pending and kind not in ("notes", "skip"):
                if rank.get(kind, 0) < rank[pending]:
                    cell.metadata.setdefault("slideshow", {})["slide_type"] = pending
                pending = None
        return super().preprocess(nb, resources)


def output_next(cell) -> list:
    """A code cell tagged `slide-output-next` as two cells: its code without outputs, then its outputs
    without code on the next sub-slide; tagged `slide-figure-next`: its code and text outputs, then its
    figures on the next sub-slide; any other cell as it is.

    >>> cell = nbformat.v4.new_code_cell("print(1)", metadata={"tags": [OUTPUT_NEXT]},
    ...                                  outputs=[nbformat.v4.new_output("stream", text="1\\n")])
    >>> code, out = output_next(cell)
    >>> code.outputs, out.metadata.tags, out.metadata.slideshow["slide_type"], out.outputs[0].text
    ([], ['slide-hide-input'], 'subslide', '1\\n')
    """
    tags = cell.get("metadata", {}).get("tags", [])
    if cell.cell_type != "code" or not cell.outputs or not {OUTPUT_NEXT, FIGURE_NEXT} & set(tags):
        return [cell]
    first = copy.deepcopy(cell)
    nxt = copy.deepcopy(cell)
    nxt.id = f"{cell.get('id', 'cell')}-next"[:64]
    nxt.metadata = nbformat.NotebookNode({"tags": [HIDE_INPUT], "slideshow": {"slide_type": "subslide"}})
    if OUTPUT_NEXT in tags:
        first.outputs = []
    else:   # FIGURE_NEXT: the images move on, the text stays
        first.outputs = [o for o in cell.outputs if not is_figure(o)]
        nxt.outputs = [o for o in cell.outputs if is_figure(o)]
        if not nxt.outputs:
            return [cell]
    return [first, nxt]


def is_figure(output) -> bool:
    """Whether a cell output is a picture (a PNG, JPEG or SVG)."""
    return any(kind in output.get("data", {}) for kind in ("image/png", "image/jpeg", "image/svg+xml"))


QUIZ_CALL = re.compile(r"""show_quiz\(\s*["']quizzes/([^"']+)\.json["']""")
ANSWERS_PAGE = "answers.html"  # the quiz answers, written next to the decks


def md_escape(text: str) -> str:
    """Quiz text as literal markdown: one line, markup characters escaped.

    >>> print(md_escape("a*b_c <x>"))
    a\\*b\\_c &lt;x>
    """
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", " ".join(str(text).split())).replace("<", "&lt;")


def quiz_cells(stem: str) -> list:
    """The quiz `quizzes/<stem>.json` as slides: one sub-slide per question with its options, then a
    fragment (the next click) with the right answer and the feedback that explains it."""
    questions = make_answers.load(stem)
    cells = []
    for k, q in enumerate(questions, 1):
        lines = [f"### Check yourself: question {k} of {len(questions)} ({make_answers.KINDS[q['type']]})", "",
                 md_escape(q["question"]), ""]
        if q["type"] != "numeric":
            lines += [f"{chr(64 + i)}. {md_escape(text)}" for i, (text, _) in
                      enumerate(make_answers.options(q, raw=True), 1)]
        question = nbformat.v4.new_markdown_cell("\n".join(lines), id=f"quiz-{k}-question")
        question.metadata.slideshow = {"slide_type": "subslide"}
        letters = {id(a): chr(64 + i) for i, (_, a) in enumerate(make_answers.options(q, raw=True), 1)}
        right = [(text, a) for text, a in make_answers.options(q, raw=True) if a.get("correct")]
        answer_lines = []
        for text, a in right:
            label = f"{letters[id(a)]}. " if q["type"] != "numeric" else ""
            answer_lines.append(f"**Answer: {label}{md_escape(text)}** {md_escape(a['feedback'])}")
        answer = nbformat.v4.new_markdown_cell("\n\n".join(answer_lines), id=f"quiz-{k}-answer")
        answer.metadata.slideshow = {"slide_type": "fragment"}
        cells += [question, answer]
    return cells


def slide_type(cell) -> str:
    slideshow = cell.get("metadata", {}).get("slideshow") or {}
    return slideshow.get("slide_type") or "-"


def on_slides(cell) -> bool:
    """Whether a deck shows the cell at all (neither slide type "skip" nor the tag `slide-skip`)."""
    return slide_type(cell) != "skip" and SKIP not in cell.get("metadata", {}).get("tags", [])


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def exporter() -> SlidesExporter:
    return SlidesExporter(
        extra_loaders=[DictLoader({"offline_deck.html.j2": TEMPLATE})],
        template_file="offline_deck.html.j2",
        reveal_url_prefix="reveal.js",
        reveal_theme="white",
        reveal_transition="none",  # transitions cost time on a beamer laptop and add nothing
        reveal_number="c/t",
        preprocessors=[SlideTagPreprocessor],  # runs before nbconvert's reveal.js preprocessor
    )


def shown(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it (shorter to read), else as it is."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


HREF = re.compile(r"""(<a\b[^>]*?\bhref=)(["'])(.*?)\2""", re.S)


def deck_link(link: str, decks: set[str]) -> str:
    """Where a link of a notebook points from its deck: another notebook -> its deck (when built), the
    quiz answers -> answers.html, any other relative path -> the file on GitHub; absolute URLs and
    `#anchors` unchanged.

    >>> deck_link("06_gradient_noise.ipynb", {"06_gradient_noise"})
    '06_gradient_noise.slides.html'
    >>> deck_link("quizzes/ANSWERS.md#05_gd_sgd_minibatch", set())
    'answers.html#05_gd_sgd_minibatch'
    >>> deck_link("../README.md#course-map", set())
    'https://github.com/epoch-batch-iteration/course/blob/main/README.md#course-map'
    """
    if re.match(r"^[a-z][a-z0-9+.-]*:|^//|^#", link, re.I) or not link:
        return link
    path, hash_, fragment = link.partition("#")
    name = Path(path).name
    if path == name and name.endswith(".ipynb") and name[:-len(".ipynb")] in decks:
        return f"{name[:-len('.ipynb')]}.slides.html"
    if path in ("quizzes/ANSWERS.md", "quizzes/ANSWERS.html"):
        return ANSWERS_PAGE + hash_ + fragment
    target = (ROOT / "notebooks" / path).resolve()
    if not target.is_relative_to(ROOT):
        return link
    return (f"https://github.com/{course_map.GITHUB_REPO}/blob/{course_map.BRANCH}/"
            f"{target.relative_to(ROOT).as_posix()}{hash_}{fragment}")


def rewrite_links(body: str, decks: set[str]) -> str:
    """Every link (`<a href>`) of a deck through deck_link (HTML attribute text is unescaped and escaped again)."""
    def one(m):
        new = deck_link(html.unescape(m.group(3)), decks)
        return f"{m.group(1)}{m.group(2)}{html.escape(new, quote=True)}{m.group(2)}"
    return HREF.sub(one, body)


def uses_tex(nb) -> bool:
    return any(cell.cell_type == "markdown" and on_slides(cell) and TEX.search(cell.source) for cell in nb.cells)


def build(out_dir: Path, paths: list[Path] | None = None, projector: bool = False) -> list[Path]:
    """Write `<name>.slides.html` for each notebook and a copy of reveal.js into `out_dir` (``projector``:
    every deck with the projector sizes, not only those whose notebook asks for them).

    Each notebook is read, never written: the slide tags act on nbconvert's copy of it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REVEAL, out_dir / "reveal.js", dirs_exist_ok=True)
    shutil.copytree(FONTS, out_dir / "fonts", dirs_exist_ok=True)  # the CJK font and its license
    missing = make_cjk_font.missing_chars(list(paths or notebooks()))
    if missing:
        print(f"WARNING: the shipped CJK font lacks {''.join(sorted(missing))}: these show as boxes where "
              "the system has no CJK font; run python tools/make_cjk_font.py")
    (out_dir / ANSWERS_PAGE).write_text(make_answers.html_page(), encoding="utf-8")
    slides = exporter()
    written = []
    # Links to a notebook go to its deck: every notebook's deck is in out_dir, or will be after a full build.
    decks = {p.stem for p in notebooks()} | {p.stem for p in paths or []}
    for path in paths or notebooks():
        nb = nbformat.read(path, as_version=4)
        if uses_tex(nb):
            print(f"WARNING: {path.name} contains TeX; the offline deck shows it as source (no MathJax).")
        body, _ = slides.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        body = rewrite_links(body, decks)
        if projector or (nb.metadata.get("slides") or {}).get("projector"):
            body = body.replace("</head>", PROJECTOR_CSS + "\n</head>", 1)
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
        print(f"wrote {shown(target)}")
    return written


def main(argv: list[str]) -> None:
    projector = "--projector" in argv
    argv = [a for a in argv if a != "--projector"]
    out_dir = Path(argv[0]) if argv else ROOT / "build" / "slides"
    paths = [Path(a) for a in argv[1:]] or None
    build(out_dir.resolve(), paths, projector)
    print(f"Open {shown(out_dir.resolve() / '00_start_here.slides.html')} in a browser (offline is fine); "
          "'s' opens the speaker view.")


if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(sys.argv[1:])
