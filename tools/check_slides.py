#!/usr/bin/env python3
"""Does every slide fit the screen? Step through each built deck in Chromium and report what is cut off.

    python tools/build_slides.py                      # first: the decks -> build/slides/
    python tools/check_slides.py                      # every deck in build/slides/ at 1280x720
    python tools/check_slides.py --size 1920x1080     # a full-HD beamer
    python tools/check_slides.py --report-only build/slides/02_batches.slides.html
    python tools/check_slides.py --screenshots DIR    # also a PNG of every slide that overflows

Each deck is opened in headless Chromium with the window (the viewport) at the given size, as a teacher
opens it on a lecture laptop. reveal.js lays every slide out on a fixed canvas (`Reveal.getConfig()`
width x height, 1280x720 in our decks: a 16:9 projector) and scales that canvas to the window; whatever lies outside the
canvas is what the audience does not see. The checker goes to every slide and sub-slide with
`Reveal.slide(h, v, f)` (all fragments shown, as the last click shows them), waits for the layout and
measures in JavaScript, in the canvas's own pixels:

* the bounding rectangle of everything the audience would see on the slide -- each piece of text and
  each picture (img, svg, canvas, ...), not the empty padding of a box -- against the canvas's rectangle
  (after scaling): the bottom of a long code cell, a tall figure, a wide table or image;
* what an element hides inside itself (`overflow` not visible and `scrollWidth > clientWidth`, or the
  same vertically): a long code line or printout behind a scroll bar ("inside").

* the controls (the arrows that can be clicked) and the slide number against that same ink: a slide
  whose text or picture lies under one of them by more than TOLERANCE is "covered";
* the smallest body text and code on the slide, in canvas px, and the smallest text of each figure as
  shown: the height the figure recorded in its PNG (course_utils.plots.figure_png) times the canvas px
  the slide gives each of its pixels (with --projector-sizes, or for a deck built with projector sizes, a
  slide under MIN_BODY_PX / MIN_CODE_PX / MIN_FIGURE_TEXT_PX, or with a figure that records no size, fails);
  and how much of the width the notebook shows it at each figure gets;

and, without a browser, every relative link and source of the deck (`dead_links`): a link that leaves the
deck's folder, names a file that is not there or an `#id` the page lacks is dead. Fonts are waited for
(`document.fonts`) before anything is measured, so the shipped CJK font is in place.

A slide that is off by more than 2 canvas pixels (TOLERANCE) overflows. For each deck it prints the number
of slides, how many overflow and, for each of those, its index h/v, its first line of text and by how many
pixels it overflows (and where: bottom, right, ...); and how many slides carry speaker notes (`aside.notes`,
the `s` key). The exit status is 1 if any slide overflows or is covered, or any link is dead, unless
`--report-only` is given.

In Python: `overflowing_slides(deck_path, width, height) -> list[dict]` (one dict per overflowing slide),
or `check_deck(...)` for the full report of one deck. Needs Debian's `chromium` and `chromium-driver` and
Selenium (in the course's environment).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import html
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from course_utils import plots  # noqa: E402  (the PNG record of a figure's smallest text)

DECKS = ROOT / "build" / "slides"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver",)
TOLERANCE = 2.0  # canvas px: sub-pixel rounding and anti-aliasing are not "cut off"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}

# Every leaf slide of the deck, in order, with its indices and whether it has speaker notes.
LIST_JS = """
return Reveal.getSlides().map(function (s) {
    var i = Reveal.getIndices(s);
    var notes = s.querySelector('aside.notes');
    return {h: i.h, v: i.v || 0, notes: !!(notes && notes.textContent.trim())};
});
"""

# Go to slide (h, v) with all its fragments shown, wait two animation frames for the layout, measure.
# What counts is ink: text (each text node's box) and pictures (img, svg, canvas, video, iframe, inputs),
# not the empty padding of a box; ink inside an element that clips its overflow (a scrolling <pre>) counts
# as far as that element shows it, and what it hides is cut off too ("inside").
MEASURE_JS = """
var h = arguments[0], v = arguments[1], tol = arguments[2], done = arguments[arguments.length - 1];
Reveal.slide(h, v, 100000);
requestAnimationFrame(function () { requestAnimationFrame(function () { setTimeout(function () {
    var slide = Reveal.getCurrentSlide();
    var cfg = Reveal.getConfig();
    var canvas = document.querySelector('.reveal .slides').getBoundingClientRect();
    var scale = canvas.height / cfg.height || 1;   // screen px per canvas px
    var hidden = Array.prototype.filter.call(slide.querySelectorAll('.fragment'),
                                             function (f) { return !f.classList.contains('visible'); });
    var out = {bottom: 0, right: 0, top: 0, left: 0, inside: 0};
    var worst = {px: 0, what: ''};
    function describe(el) {
        var name = el.tagName.toLowerCase();
        var cls = (el.getAttribute('class') || '').trim().split(/\\s+/).filter(Boolean).slice(0, 2);
        return name + (cls.length ? '.' + cls.join('.') : '');
    }
    function note(side, px, el) {
        if (px > out[side]) out[side] = px;
        if (px > worst.px) worst = {px: px, what: describe(el) + ' (' + side + ')'};
    }
    function skipped(el) { return !el || el.closest('aside.notes, style, script, .anchor-link'); }
    // Elements that clip their own content and have more of it than they show.
    var clippers = [], scrolling = [];
    slide.querySelectorAll('*').forEach(function (el) {
        if (skipped(el)) return;
        var cs = getComputedStyle(el);
        var clipX = cs.overflowX !== 'visible', clipY = cs.overflowY !== 'visible';
        var moreX = clipX && el.scrollWidth - el.clientWidth > tol;
        var moreY = clipY && el.scrollHeight - el.clientHeight > tol;
        if ((moreX || moreY) && el.clientWidth > 0 && el.clientHeight > 0) {
            var r = el.getBoundingClientRect();
            var sx = r.width / el.offsetWidth || scale, sy = r.height / el.offsetHeight || scale;
            clippers.push({el: el, clipX: clipX, clipY: clipY, cut: 0,
                           left: r.left + el.clientLeft * sx, top: r.top + el.clientTop * sy,
                           right: r.left + (el.clientLeft + el.clientWidth) * sx,
                           bottom: r.top + (el.clientTop + el.clientHeight) * sy});
        }
    });
    function ink(rect, el) {
        if (rect.width === 0 && rect.height === 0) return;
        var box = {left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom};
        clippers.forEach(function (c) {
            if (!c.el.contains(el) || c.el === el) return;
            var cut = 0;
            if (c.clipX) { cut = Math.max(cut, box.right - c.right, c.left - box.left);
                           box.right = Math.min(box.right, c.right); box.left = Math.max(box.left, c.left); }
            if (c.clipY) { cut = Math.max(cut, box.bottom - c.bottom, c.top - box.top);
                           box.bottom = Math.min(box.bottom, c.bottom); box.top = Math.max(box.top, c.top); }
            if (cut / scale > c.cut) c.cut = cut / scale;
            if (cut / scale > tol) note('inside', cut / scale, c.el);
        });
        if (box.right <= box.left || box.bottom <= box.top) return;  // entirely scrolled out of sight
        covered(box, el);
        note('bottom', (box.bottom - canvas.bottom) / scale, el);
        note('right', (box.right - canvas.right) / scale, el);
        note('top', (canvas.top - box.top) / scale, el);
        note('left', (canvas.left - box.left) / scale, el);
    }
    // The controls (the arrows that can be clicked now) and the slide number, drawn over the canvas.
    var overlays = [];
    document.querySelectorAll('.reveal .controls button, .reveal .slide-number').forEach(function (el) {
        var cs = getComputedStyle(el), r = el.getBoundingClientRect();
        if (cs.display === 'none' || cs.visibility === 'hidden' || parseFloat(cs.opacity) < 0.2 ||
            r.width === 0 || r.height === 0) return;
        overlays.push({el: el, r: r, px: 0, what: ''});
    });
    function covered(box, el) {
        overlays.forEach(function (o) {
            var w = Math.min(box.right, o.r.right) - Math.max(box.left, o.r.left);
            var hgt = Math.min(box.bottom, o.r.bottom) - Math.max(box.top, o.r.top);
            var px = Math.min(w, hgt) / scale;
            if (w > 0 && hgt > 0 && px > o.px) { o.px = px; o.what = describe(el); }
        });
    }
    var walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
    var range = document.createRange();
    // Text sizes in canvas px (CSS px before reveal.js scales the canvas): the smallest body text and the
    // smallest code (code cells, printouts, inline code); sub- and superscripts do not count.
    var sizes = {body: null, code: null, body_text: '', code_text: ''};
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.nodeValue.trim() || skipped(node.parentElement)) continue;
        var parent = node.parentElement;
        if (!parent.closest('sub, sup, .jp-InputPrompt, .jp-OutputPrompt')) {
            var px = parseFloat(getComputedStyle(parent).fontSize);
            var kind = parent.closest('pre, code, .jp-CodeMirrorEditor, .highlight') ? 'code' : 'body';
            if (sizes[kind] === null || px < sizes[kind]) {
                sizes[kind] = px; sizes[kind + '_text'] = node.nodeValue.trim().slice(0, 40);
            }
        }
        range.selectNodeContents(node);
        var rects = range.getClientRects();
        for (var k = 0; k < rects.length; k++) ink(rects[k], node.parentElement);
    }
    // Figures as shown: how much of the width the notebook shows it at a picture gets (1 = the notebook's
    // size), and canvas px per pixel of the stored image with the image itself (its smallest text is
    // recorded in it: course_utils.plots.figure_png).
    var figures = [], pictures = [];
    slide.querySelectorAll('img').forEach(function (el) {
        if (skipped(el) || !el.naturalWidth) return;
        var width = el.getBoundingClientRect().width / scale;
        var stored = parseFloat(el.getAttribute('width')) || el.naturalWidth;
        figures.push(Math.round(1000 * width / stored) / 1000);
        pictures.push({px_per_pixel: width / el.naturalWidth,
                       src: el.src.indexOf('data:image/png;base64,') === 0 ? el.src : ''});
    });
    slide.querySelectorAll('img, svg, canvas, video, iframe, input, select, textarea, button').forEach(function (el) {
        if (!skipped(el) && !(el.parentElement && el.parentElement.closest('svg'))) ink(el.getBoundingClientRect(), el);
    });
    clippers.forEach(function (c) {
        if (c.cut > tol) scrolling.push(describe(c.el) + ' hides ' + Math.round(c.cut) + ' px of its content');
    });
    var clone = slide.cloneNode(true);
    clone.querySelectorAll('aside.notes, .jp-InputPrompt, .jp-OutputPrompt, style, script, .anchor-link')
         .forEach(function (e) { e.remove(); });
    var lines = clone.textContent.split('\\n').map(function (l) { return l.trim(); }).filter(Boolean);
    var notes = slide.querySelector('aside.notes');
    done({
        h: h, v: v,
        indices: Reveal.getIndices(),
        scale: scale,
        canvas: {width: cfg.width, height: cfg.height},
        viewport: {width: window.innerWidth, height: window.innerHeight},
        scrollHeight: slide.scrollHeight, scrollWidth: slide.scrollWidth,
        overflow: out, worst: worst.what, scrolling: scrolling.slice(0, 5),
        covered: overlays.filter(function (o) { return o.px > tol; }).map(function (o) {
            return {control: describe(o.el), px: Math.round(o.px * 10) / 10, over: o.what}; }),
        hidden_fragments: hidden.length,
        text_px: sizes, figure_scales: figures, pictures: pictures,
        first_line: lines.length ? lines[0].slice(0, 100) : '',
        notes: !!(notes && notes.textContent.trim())
    });
}, 30); }); });
"""


LINK = re.compile(r"""<(?:a|img|script|link|source|iframe)\b[^>]*?\b(?:href|src)\s*=\s*(["'])(.*?)\1""", re.I | re.S)
ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*(["'])(.*?)\1""", re.I)


def dead_links(deck: Path) -> list[str]:
    """The relative links and sources of a deck that do not resolve inside its folder: a file that is not
    there, a path that leaves the folder (`../README.md`), or a `#fragment` the target page lacks.
    Absolute URLs (`https:`, `mailto:`) and `data:` sources are not followed.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "b.html").write_text('<h2 id="q1">Q</h2>')
    >>> _ = (folder / "a.html").write_text('<a href="b.html#q1">ok</a> <a href="b.html#q2">no anchor</a> '
    ...     '<a href="../README.md">outside</a> <a href="#top">here</a> <a href="https://x.org">web</a>')
    >>> dead_links(folder / "a.html")
    ['b.html#q2 (no id "q2" in b.html)', '../README.md (outside the deck folder)', '#top (no id "top" in a.html)']
    """
    deck = Path(deck)
    if not deck.is_file():
        raise FileNotFoundError(f"deck={str(deck)!r} is not a file; pass a built .slides.html")
    folder = deck.parent.resolve()
    anchors: dict[Path, set[str]] = {}
    dead = []
    for _, link in LINK.findall(deck.read_text(encoding="utf-8")):
        link = html.unescape(link.strip())
        if not link or re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) or link.startswith("//"):
            continue  # https:, mailto:, data:, javascript: ...
        path, _, fragment = link.partition("#")
        path = urllib.parse.unquote(path.partition("?")[0])
        target = (folder / path).resolve() if path else deck.resolve()
        if not target.is_relative_to(folder):
            dead.append(f"{link} (outside the deck folder)")
        elif not target.is_file():
            dead.append(f"{link} (no file {target.relative_to(folder)})")
        elif fragment and target.suffix in (".html", ".htm"):
            if target not in anchors:
                anchors[target] = {html.unescape(m[1]) for m in ANCHOR.findall(target.read_text(encoding="utf-8"))}
            if not {fragment, urllib.parse.unquote(fragment)} & anchors[target]:
                dead.append(f"{link} (no id \"{fragment}\" in {target.relative_to(folder)})")
    return dead


def find_chromium() -> tuple[str, str] | None:
    """(chromium binary, chromedriver) if both are installed, else None."""
    binary = next((p for p in CHROMIUM_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("chromium")
    driver = next((p for p in DRIVER_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


def make_driver(width: int = 1280, height: int = 720, profile: Path | None = None):
    """Headless Chromium whose viewport is exactly width x height CSS pixels (device pixel ratio 1)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise RuntimeError("Chromium and chromedriver were not found (/usr/bin/chromium, /usr/bin/chromedriver); "
                           "install them with `apt-get install chromium chromium-driver`.")
    binary, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = profile or Path(tempfile.mkdtemp(prefix="check-slides-chromium-"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                     "--hide-scrollbars", "--force-device-scale-factor=1",
                     f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(120)
    set_viewport(driver, width, height)
    return driver


def set_viewport(driver, width: int, height: int) -> None:
    """The page's viewport (what a full-screen deck gets), not the window with its frame."""
    driver.set_window_size(width, height)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def open_deck(driver, deck: Path, timeout: float = 60) -> None:
    """Load the deck and wait until reveal.js has started and every image has loaded."""
    import time

    driver.get(Path(deck).resolve().as_uri())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = driver.execute_script(
            "return document.readyState === 'complete' && !!window.Reveal && Reveal.isReady() && "
            "document.fonts.status === 'loaded' && "
            "Array.prototype.every.call(document.images, function (i) { return i.complete; });")
        if ready:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{deck}: reveal.js did not start within {timeout} s")


def measure(driver, h: int, v: int) -> dict:
    """Go to slide (h, v) of the open deck, all fragments shown, and measure it."""
    result = driver.execute_async_script(MEASURE_JS, h, v, TOLERANCE)
    result["overflow_px"] = round(max([0.0, *result["overflow"].values()]), 1)
    result["overflows"] = result["overflow_px"] > TOLERANCE
    result["where"] = ", ".join(f"{side} {px:.0f} px" for side, px in result["overflow"].items() if px > TOLERANCE)
    result["overlaps"] = bool(result["covered"])
    result["figure_text_px"] = [figure_text_px(p["src"], p["px_per_pixel"]) for p in result.pop("pictures")]
    return result


def figure_text_px(src: str, px_per_pixel: float) -> float | None:
    """The height in canvas px of a figure's smallest text as the slide shows it: the height recorded in the
    PNG (pixels of the stored image, by course_utils.plots.figure_png) times canvas px per stored pixel;
    None for a picture that records none (not drawn by the course's figure style)."""
    if not src.startswith("data:image/png;base64,"):
        return None
    if src not in _SMALLEST:   # a figure is measured again at every size: decode it once
        _SMALLEST[src] = plots.smallest_text_px(base64.b64decode(src.split(",", 1)[1]))
    stored = _SMALLEST[src]
    return None if stored is None else round(stored * px_per_pixel, 1)


_SMALLEST: dict[str, float | None] = {}


# Projector sizes (STYLE.md, issue 20) on the 1280x720 canvas: body text and code at least this large, in
# canvas px. Checked with --projector-sizes, and in the suite for the decks in tests/test_slides.py's
# PROJECTOR_DECKS; `too_small` lists a slide's offences.
MIN_BODY_PX, MIN_CODE_PX = 28.0, 22.0
# A figure's smallest text (tick labels, legend, notes) as shown on the slide, in canvas px.
MIN_FIGURE_TEXT_PX = 16.0


def too_small(result: dict) -> list[str]:
    """What is below the projector sizes on a measured slide, e.g. ['body 19 px ("Every sample ...")'].

    >>> too_small({"text_px": {"body": 19.0, "code": 22.0, "body_text": "Every sample", "code_text": "x"}})
    ['body 19 px ("Every sample")']
    """
    out = []
    for kind, least in (("body", MIN_BODY_PX), ("code", MIN_CODE_PX)):
        px = result["text_px"].get(kind)
        if px is not None and px < least - 0.01:
            out.append(f'{kind} {px:g} px ("{result["text_px"][kind + "_text"]}")')
    for k, px in enumerate(result.get("figure_text_px", []), 1):
        if px is None:
            out.append(f"figure {k}: its smallest text is not recorded (a figure not drawn with "
                       "cu.use_course_style(): run the notebook again)")
        elif px < MIN_FIGURE_TEXT_PX - 0.05:
            out.append(f"figure {k}: text {px:g} px")
    return out


def check_deck(driver, deck: Path, width: int, height: int, screenshots: Path | None = None) -> dict:
    """Every slide of one deck at width x height: {deck, slides, notes, overflowing: [...], measured: [...]}."""
    set_viewport(driver, width, height)
    open_deck(driver, deck)
    measured = []
    for slide in driver.execute_script(LIST_JS):
        result = measure(driver, slide["h"], slide["v"])
        measured.append(result)
        if result["overflows"] and screenshots is not None:
            screenshots.mkdir(parents=True, exist_ok=True)
            shot = screenshots / f"{Path(deck).name.split('.')[0]}_{width}x{height}_{slide['h']}-{slide['v']}.png"
            driver.get_screenshot_as_file(str(shot))
            result["screenshot"] = str(shot)
    with contextlib.suppress(Exception):
        driver.execute_script("Reveal.slide(0, 0)")
    projector = 'name="course-projector-sizes"' in Path(deck).read_text(encoding="utf-8")
    return {"deck": Path(deck).name, "size": f"{width}x{height}", "slides": len(measured), "projector": projector,
            "notes": sum(m["notes"] for m in measured),
            "overflowing": [m for m in measured if m["overflows"]],
            "covered": [m for m in measured if m["overlaps"]], "measured": measured,
            "small": [m for m in measured if too_small(m)],
            "smallest": {kind: min((m["text_px"][kind] for m in measured if m["text_px"][kind] is not None),
                               default=None) for kind in ("body", "code")},
            "figure_scale": min((f for m in measured for f in m["figure_scales"]), default=None),
            "figure_text": min((px for m in measured for px in m["figure_text_px"] if px is not None), default=None),
            "figures_unrecorded": sum(px is None for m in measured for px in m["figure_text_px"])}


def overflowing_slides(deck_path, width: int = 1280, height: int = 720, driver=None) -> list[dict]:
    """The slides of a deck whose content does not fit a width x height screen, as dicts with h, v,
    first_line, overflow_px (canvas pixels), where, worst (the element that sticks out most) and more.
    Opens its own headless Chromium unless `driver` (from make_driver) is given."""
    own = driver is None
    driver = driver or make_driver(width, height)
    try:
        return check_deck(driver, Path(deck_path), width, height)["overflowing"]
    finally:
        if own:
            driver.quit()


def print_report(report: dict) -> None:
    slides, bad = report["slides"], report["overflowing"]
    least = report["smallest"]
    scale = report["figure_scale"]
    print(f"{report['deck']} at {report['size']}: {slides} slides, {len(bad)} overflow, "
          f"{len(report['covered'])} under a control or the slide number, smallest text "
          f"{least['body'] or 0:g} px body, {least['code'] or 0:g} px code, smallest figure scale "
          f"{scale if scale is not None else '-'}, smallest figure text "
          f"{report['figure_text'] if report['figure_text'] is not None else '-'} px"
          f"{' (' + str(report['figures_unrecorded']) + ' not recorded)' if report['figures_unrecorded'] else ''}, "
          f"{report['notes']} with speaker notes")
    for m in bad:
        print(f"  slide {m['h']}/{m['v']}: +{m['overflow_px']:.0f} px ({m['where']}; {m['worst']}) "
              f"\"{m['first_line']}\"")
        for line in m["scrolling"]:
            print(f"      {line}")
    for m in report["covered"]:
        drawn = "; ".join(f"{c['control']} over {c['over']} by {c['px']:.0f} px" for c in m["covered"])
        print(f"  slide {m['h']}/{m['v']}: {drawn} \"{m['first_line']}\"")


def parse_size(text: str) -> tuple[int, int]:
    if text in SIZES:
        return SIZES[text]
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("decks", nargs="*", type=Path,
                        help="decks (.slides.html) or folders of decks; default: build/slides/")
    parser.add_argument("--size", action="append", type=parse_size,
                        help="window size WIDTHxHEIGHT (or 720p, 1080p); may be repeated; default 1280x720")
    parser.add_argument("--report-only", action="store_true", help="always exit 0")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of every overflowing slide here")
    parser.add_argument("--projector-sizes", action="store_true",
                        help=f"also fail on body text under {MIN_BODY_PX:g} px, code under {MIN_CODE_PX:g} px or "
                             f"figure text under {MIN_FIGURE_TEXT_PX:g} px "
                             "(canvas px, measured at the first --size)")
    args = parser.parse_args(argv)

    decks = []
    for path in args.decks or [DECKS]:
        decks += sorted(path.glob("*.slides.html")) if path.is_dir() else [path]
    if not decks:
        print(f"No decks found in {', '.join(map(str, args.decks or [DECKS]))}; run tools/build_slides.py first.")
        return 0 if args.report_only else 2
    sizes = args.size or [SIZES["720p"]]
    dead = 0
    for deck in decks:
        for link in dead_links(deck):
            print(f"{deck.name}: dead link {link}")
            dead += 1
    driver = make_driver(*sizes[0])
    total = covered = small = 0
    try:
        for width, height in sizes:
            for deck in decks:
                report = check_deck(driver, deck, width, height, args.screenshots)
                print_report(report)
                total += len(report["overflowing"])
                covered += len(report["covered"])
                if (args.projector_sizes or report["projector"]) and (width, height) == sizes[0]:
                    small += len(report["small"])
                    for m in report["small"]:
                        print(f"  slide {m['h']}/{m['v']}: {'; '.join(too_small(m))}")
    finally:
        driver.quit()
    print(f"{total} slide(s) overflow" if total else "Every slide fits.")
    print(f"{covered} slide(s) have a control or the slide number drawn over their content" if covered
          else "No control or slide number is drawn over content.")
    print(f"{dead} dead link(s)" if dead else "No dead links.")
    if args.projector_sizes:
        print(f"{small} slide(s) with text under the projector sizes" if small else "Every slide has projector sizes.")
    return 0 if args.report_only or not (total or covered or dead or small) else 1


if __name__ == "__main__":
    sys.exit(main())
