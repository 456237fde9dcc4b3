#!/usr/bin/env python3
"""Build a reveal.js slide deck of every notebook that works offline, e.g. in a lecture hall.

    python tools/build_slides.py                      # every notebook -> build/slides/
    python tools/build_slides.py OUT_DIR [NB.ipynb ...]

Each deck is `jupyter nbconvert --to slides` of the notebook *as stored* (nothing is executed: the
stored outputs, figures included, are embedded in the HTML). Nothing is loaded from the internet:
reveal.js comes from the copy in `tools/reveal.js/` (copied next to the decks), and the template below
leaves out what nbconvert would otherwise fetch from a CDN (require.js, jQuery, MathJax, mermaid and the
widget renderer). An interactive demo's slider cannot run without a kernel, so its slide shows the code
and a note; the plain cell after it shows the figure at a telling value. To use the sliders while
presenting, present the notebook live in JupyterLab with jupyterlab-rise (see README, "Presenting").

Open `build/slides/00_start_here.slides.html` in a browser; press `s` for the speaker view.
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import SlidesExporter

ROOT = Path(__file__).resolve().parent.parent
REVEAL = ROOT / "tools" / "reveal.js"  # reveal.js 4.0.2 (nbconvert's default version), MIT, see its LICENSE

# The offline deck: nbconvert's reveal template, minus every CDN reference.
TEMPLATE = r"""{%- extends 'reveal/index.html.j2' -%}

{#- No require.js, jQuery or mermaid from a CDN: reveal.js is loaded with plain script tags below. -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}

{#- No widget renderer from unpkg.com: without a kernel a slider cannot redraw anything anyway. -#}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}

{#- The course writes no TeX; MathJax would have to come from a CDN (build_slides.py warns if TeX appears). -#}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}

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
    width: {{ resources.reveal.width | default('960', true) }},
    height: {{ resources.reveal.height | default('700', true) }},
    plugins: [RevealNotes]
});
</script>
</html>
{%- endblock footer -%}
"""

TEX = re.compile(r"(?<![\\$])\$[^$\s][^$\n]*\$|\$\$|\\\(|\\\[|\\begin\{")


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
    )


def shown(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it (shorter to read), else as it is."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def uses_tex(nb) -> bool:
    return any(cell.cell_type == "markdown" and TEX.search(cell.source) for cell in nb.cells)


def build(out_dir: Path, paths: list[Path] | None = None) -> list[Path]:
    """Write `<name>.slides.html` for each notebook and a copy of reveal.js into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REVEAL, out_dir / "reveal.js", dirs_exist_ok=True)
    slides = exporter()
    written = []
    for path in paths or notebooks():
        nb = nbformat.read(path, as_version=4)
        if uses_tex(nb):
            print(f"WARNING: {path.name} contains TeX; the offline deck shows it as source (no MathJax).")
        body, _ = slides.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
        print(f"wrote {shown(target)}")
    return written


def main(argv: list[str]) -> None:
    out_dir = Path(argv[0]) if argv else ROOT / "build" / "slides"
    paths = [Path(a) for a in argv[1:]] or None
    build(out_dir.resolve(), paths)
    print(f"Open {shown(out_dir.resolve() / '00_start_here.slides.html')} in a browser (offline is fine); "
          "'s' opens the speaker view.")


if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(sys.argv[1:])
