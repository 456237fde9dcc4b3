"""The course's figure style: large type and thick lines for a projector, colour-blind-safe colours.

    >>> use_course_style()            # once, at the top of a notebook
    >>> COLORS["blue"]
    '#0072B2'

In a notebook, `use_course_style()` also makes each figure's PNG sharp enough to be enlarged on a slide
(drawn at twice the resolution it is shown at) and records in it the height of its smallest text, which
the deck check (tools/check_slides.py) turns into pixels as shown on the slide.
"""
from __future__ import annotations

import io
import struct
import zlib

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.figure import Figure
from matplotlib.text import Text

# Okabe & Ito (2008), a palette that stays distinct for the common kinds of colour blindness.
COLORS = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
          "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}
PALETTE = [COLORS[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]

COURSE_STYLE = {
    "figure.figsize": (8, 4.5),
    "figure.dpi": 80,
    "savefig.dpi": 80,
    # Text sizes for a projector: the smallest, 15 pt at 80 dpi, is 16.7 px in the notebook and on a slide
    # that shows the figure at its own size or larger (tools/check_slides.py asks for 16 px).
    "font.size": 16,
    "axes.titlesize": 17,
    "axes.labelsize": 16,
    "xtick.labelsize": 15,
    "ytick.labelsize": 15,
    "legend.fontsize": 15,
    "lines.linewidth": 2.5,
    "lines.markersize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=PALETTE),
    "image.cmap": "viridis",
    # No tight_layout on every draw: it more than doubles the time a slider waits for its figure.
    # Jupyter's inline backend already crops the saved image to its contents (bbox_inches="tight"),
    # and this spacing leaves room for the labels of side-by-side or stacked panels.
    "figure.autolayout": False,
    "figure.subplot.wspace": 0.4,
    "figure.subplot.hspace": 0.5,
}


# A figure's PNG is drawn at SHARPNESS times the resolution it is shown at, so a slide can enlarge it.
SHARPNESS = 2
# The PNG text chunks a figure records: its smallest text, in pixels of the PNG as stored, and how many
# plotted points a legend hides (absent: none).
SMALLEST_TEXT_KEY = "course:smallest-text-px"
LEGEND_COVERS_KEY = "course:legend-covers-points"


def use_course_style() -> None:
    """Make every following matplotlib figure use the course style (call once per notebook).

    Inside IPython (a notebook) each figure is then shown through `figure_png`: a sharp PNG that records
    the size of its smallest text."""
    mpl.rcParams.update(COURSE_STYLE)
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing is displayed inline
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    plt.switch_backend(mpl.get_backend())   # the inline backend registers its formatters now, not later over ours
    shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)


def smallest_text_points(fig: Figure) -> float | None:
    """The font size (points) of the smallest text drawn in ``fig``: tick labels, legend, titles, notes.

    Call it after the figure was drawn (tick labels get their text when drawn).

    >>> fig, ax = plt.subplots(); _ = ax.set_title("t", fontsize=20); _ = ax.text(0, 0, "note", fontsize=9)
    >>> fig.canvas.draw(); smallest_text_points(fig)
    9.0
    >>> plt.close(fig)
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}; e.g. fig, ax = plt.subplots()")
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.figure is not None and _drawn(t)]
    return float(min(sizes)) if sizes else None


def _drawn(text: Text) -> bool:
    """Whether a text is inside the figure (a tick label of a tick outside the axes' limits is not drawn)."""
    axes = text.axes
    if axes is None or text not in axes.get_xticklabels(which="both") + axes.get_yticklabels(which="both"):
        return True
    return bool(text.get_window_extent().width)


def figure_png(fig: Figure) -> tuple[bytes, dict] | None:
    """``fig`` as the notebook shows it: a PNG drawn at SHARPNESS times the shown resolution, cropped to its
    contents, with the shown width and height, and the smallest text's height in PNG pixels recorded.

    >>> use_course_style(); fig, ax = plt.subplots(figsize=(4, 3)); _ = ax.plot([0, 1])
    >>> png, shown = figure_png(fig)        # tick labels 15 pt at 80 dpi, drawn twice as sharp: 33.3 px
    >>> png_size(png), shown, smallest_text_px(png)
    ((620, 450), {'width': 310, 'height': 225}, 33.33)
    >>> plt.close(fig)
    """
    if not fig.axes and not fig.lines and not fig.texts and not fig.images:
        return None   # like the inline backend: an empty figure is not shown
    dpi = mpl.rcParams["figure.dpi"]
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi * SHARPNESS, bbox_inches="tight",
                facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    png = _with_smallest_text(buffer.getvalue(), fig, dpi * SHARPNESS)
    covered = legend_covers(fig)
    if covered:
        png = _with_text_chunk(png, LEGEND_COVERS_KEY, str(covered))
    width, height = png_size(png)
    return png, {"width": round(width / SHARPNESS), "height": round(height / SHARPNESS)}


def as_picture(fig: Figure):
    """``fig`` as a picture to show later, e.g. one per slider value drawn in advance so that moving the
    slider only swaps pictures: the PNG of `figure_png` (sharp, its smallest text recorded) at the size the
    notebook shows figures. The figure is closed.

    >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1])
    >>> picture = as_picture(fig)
    >>> picture.width > 0, smallest_text_px(picture.data) is not None, plt.fignum_exists(fig.number)
    (True, True, False)
    """
    from IPython.display import Image

    shown = figure_png(fig)
    plt.close(fig)
    if shown is None:
        raise ValueError("fig is empty: draw something on it before making it a picture")
    png, size = shown
    return Image(data=png, format="png", width=size["width"], height=size["height"])


def sharp_dpi() -> float:
    """The resolution to draw a figure at when you render it yourself (`canvas_picture`): SHARPNESS times
    the course style's figure.dpi."""
    return mpl.rcParams["figure.dpi"] * SHARPNESS


def canvas_picture(fig: Figure):
    """What ``fig``'s Agg canvas holds now as a picture, e.g. after a slider step redrew only the parts that
    move (blitting), with its smallest text recorded and shown at the notebook's size. Draw the figure at
    `sharp_dpi()` so that it stays sharp when a slide enlarges it.

    >>> from matplotlib.backends.backend_agg import FigureCanvasAgg
    >>> fig, ax = plt.subplots(figsize=(4, 3), dpi=sharp_dpi()); _ = ax.plot([0, 1]); plt.close(fig)
    >>> _ = FigureCanvasAgg(fig); fig.canvas.draw()
    >>> picture = canvas_picture(fig)
    >>> picture.width, png_size(picture.data)[0], smallest_text_px(picture.data)     # 15 pt at 160 dpi
    (320, 640, 33.33)
    """
    import numpy as np
    from IPython.display import Image
    from PIL import Image as PILImage

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}; e.g. fig, ax = plt.subplots()")
    pixels = np.asarray(fig.canvas.buffer_rgba())
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="png", compress_level=1)   # fast: a slider waits for it
    png = _with_smallest_text(buffer.getvalue(), fig, fig.dpi)
    scale = fig.dpi / mpl.rcParams["figure.dpi"]
    return Image(data=png, format="png", width=round(pixels.shape[1] / scale), height=round(pixels.shape[0] / scale))


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG image (from its header)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("png must be the bytes of a PNG image (they start with b'\\x89PNG')")
    return struct.unpack(">II", png[16:24])


def png_text(png: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG image as {key: value}, e.g. what `figure_png` recorded."""
    png_size(png)   # checks that these are a PNG's bytes
    found, pos = {}, 8
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"tEXt":
            key, _, value = png[pos + 8:pos + 8 + length].partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        pos += 12 + length
    return found


def smallest_text_px(png: bytes) -> float | None:
    """The smallest text's height in pixels of ``png``, as `figure_png` recorded it (None: not recorded)."""
    value = png_text(png).get(SMALLEST_TEXT_KEY)
    return None if value is None else float(value)


def legend_covers(fig: Figure) -> int:
    """How many plotted points (line vertices, scatter markers) of ``fig`` lie under one of its legends, as
    last drawn: a larger legend font can hide the data it explains. 0 is what a figure should have.

    >>> fig, ax = plt.subplots(); _ = ax.plot(range(10), label="a line"); _ = ax.legend(loc="upper left")
    >>> fig.canvas.draw(); legend_covers(fig)
    0
    >>> _ = ax.plot([0, 9], [8.5, 8.5], label="hidden"); _ = ax.legend(loc="upper left"); fig.canvas.draw()
    >>> legend_covers(fig) > 0        # no vertex under the legend, but the segment between two
    True
    >>> plt.close(fig)
    """
    import numpy as np
    from matplotlib.legend import Legend

    count = 0
    for ax in fig.axes:
        boxes = [c.get_window_extent() for c in ax.get_children() if isinstance(c, Legend) and c.get_visible()]
        if not boxes:
            continue
        points = []
        for line in ax.get_lines():
            if line.get_visible() and len(line.get_xydata()):
                xy = line.get_transform().transform(np.asarray(line.get_xydata(), float))
                if line.get_linestyle() not in ("None", "", " ") and 1 < len(xy) < 500:   # the segments too
                    steps = np.linspace(0, 1, 12)[:, None, None]
                    xy = (xy[:-1] + steps * (xy[1:] - xy[:-1])).reshape(-1, 2)
                points.append(xy)
        for coll in ax.collections:
            if coll.get_visible() and len(coll.get_offsets()):
                points.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)))
        if not points:
            continue
        xy = np.concatenate(points)
        xy = xy[np.isfinite(xy).all(axis=1)]
        for box in boxes:
            inside = (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
            count += int(inside.sum())
    return count


def _with_smallest_text(png: bytes, fig: Figure, dpi: float) -> bytes:
    """``png``, drawn from ``fig`` at ``dpi``, with the height of the figure's smallest text recorded."""
    points = smallest_text_points(fig)
    return png if points is None else _with_text_chunk(png, SMALLEST_TEXT_KEY, f"{points * dpi / 72:.2f}")


def _with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """``png`` with a tEXt chunk ``key``=``value`` before its end (PNG specification, section 11.3.4.3)."""
    data = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def mark_epochs(ax: plt.Axes, boundaries: list[float], label: str | None = "epoch boundary") -> None:
    """Draw a thin dotted vertical line at each epoch boundary."""
    for k, x in enumerate(boundaries):
        ax.axvline(x, color="0.6", linestyle=":", linewidth=1.2, zorder=0,
                   label=label if k == 0 else None)
