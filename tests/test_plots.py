"""The course's figure style: projector-sized text, and PNGs that record their smallest text."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import plots  # noqa: E402


@pytest.fixture
def course_style():
    with plt.rc_context():
        plots.use_course_style()
        yield
    plt.close("all")


def test_the_smallest_text_of_the_style_is_16_px_at_the_notebooks_size():
    sizes = [plots.COURSE_STYLE[k] for k in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize",
                                             "ytick.labelsize", "legend.fontsize")]
    assert min(sizes) * plots.COURSE_STYLE["figure.dpi"] / 72 >= 16


def test_smallest_text_ignores_empty_and_hidden_text(course_style):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.set_title("big", fontsize=30)
    ax.text(0, 0, "", fontsize=5)                      # empty: draws nothing
    ax.text(0, 0, "hidden", fontsize=6).set_visible(False)
    fig.canvas.draw()
    assert plots.smallest_text_points(fig) == plots.COURSE_STYLE["xtick.labelsize"]
    ax.legend(["a line"], fontsize=9)
    fig.canvas.draw()
    assert plots.smallest_text_points(fig) == 9


def test_tick_labels_outside_the_axes_limits_do_not_count(course_style):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.tick_params(axis="x", labelsize=4)
    ax.set_xticks([0, 1, 50], ["0", "1", "far"])       # 50 lies outside the limits set next
    ax.set_xlim(0, 1)
    ax.tick_params(axis="x", labelsize=20)
    fig.canvas.draw()
    assert plots.smallest_text_points(fig) == plots.COURSE_STYLE["ytick.labelsize"]


def test_figure_png_is_twice_as_sharp_as_shown_and_records_its_smallest_text(course_style):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1])
    ax.text(0.5, 0.5, "note", fontsize=10)
    png, shown = plots.figure_png(fig)
    width, height = plots.png_size(png)
    assert (round(width / plots.SHARPNESS), round(height / plots.SHARPNESS)) == (shown["width"], shown["height"])
    assert plots.smallest_text_px(png) == round(10 * 80 * plots.SHARPNESS / 72, 2)
    assert png.endswith(b"IEND\xaeB`\x82"), "the chunk goes before the end chunk"
    from PIL import Image
    image = Image.open(io.BytesIO(png))
    image.load()                                        # a PNG that another reader accepts (CRCs right)
    assert image.size == (width, height)
    assert image.text[plots.SMALLEST_TEXT_KEY] == f"{10 * 80 * plots.SHARPNESS / 72:.2f}"


def test_an_empty_figure_is_not_shown_and_a_plain_png_records_nothing(course_style):
    assert plots.figure_png(plt.figure()) is None
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert plots.smallest_text_px(buffer.getvalue()) is None


def test_bad_inputs_name_the_argument():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure, got str"):
        plots.smallest_text_points("figure")
    with pytest.raises(ValueError, match="png must be the bytes of a PNG image"):
        plots.png_size(b"GIF89a" + bytes(30))


def test_in_ipython_the_course_style_shows_figures_through_figure_png():
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    try:
        with plt.rc_context():
            plots.use_course_style()
            formatter = shell.display_formatter.formatters["image/png"]
            assert formatter.lookup_by_type(Figure) is plots.figure_png
            fig, ax = plt.subplots()
            ax.plot([0, 1])
            data, metadata = shell.display_formatter.format(fig)
            assert "image/png" in data and metadata["image/png"]["width"] > 0
            assert plots.smallest_text_px(data["image/png"]) == round(15 * 80 * plots.SHARPNESS / 72, 2)
    finally:
        plt.close("all")
        InteractiveShell.clear_instance()


def test_as_picture_is_the_sharp_png_at_the_notebooks_size_and_closes_the_figure(course_style):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1])
    expected_png, shown = plots.figure_png(fig)
    picture = plots.as_picture(fig)
    assert picture.data == expected_png and (picture.width, picture.height) == (shown["width"], shown["height"])
    assert not plt.fignum_exists(fig.number), "the picture is kept; the figure is closed"
    with pytest.raises(ValueError, match="fig is empty"):
        plots.as_picture(plt.figure())


def test_canvas_picture_shows_the_blitted_canvas_at_the_notebooks_size(course_style):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig, ax = plt.subplots(figsize=(4, 3), dpi=plots.sharp_dpi())
    assert plots.sharp_dpi() == plots.COURSE_STYLE["figure.dpi"] * plots.SHARPNESS
    line, = ax.plot([0, 1], animated=True)
    ax.set_title("moving title", fontsize=20)
    plt.close(fig)
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    line.set_ydata([1, 0])
    fig.canvas.restore_region(background)
    ax.draw_artist(line)
    picture = plots.canvas_picture(fig)
    assert plots.png_size(picture.data) == (4 * plots.sharp_dpi(), 3 * plots.sharp_dpi())
    assert (picture.width, picture.height) == (4 * 80, 3 * 80)
    assert plots.smallest_text_px(picture.data) == round(15 * plots.sharp_dpi() / 72, 2)
    from PIL import Image
    pixels = Image.open(io.BytesIO(picture.data)).convert("RGB")
    blue = tuple(int(plots.COLORS["blue"][k:k + 2], 16) for k in (1, 3, 5))
    # the blitted line now runs from top left to bottom right: its colour is on it, not on the old diagonal
    def blue_near(x, y):
        px, py = ax.transData.transform((x, y))
        px, py = int(px), int(fig.bbox.height - py)
        return any(pixels.getpixel((px + dx, py + dy)) == blue for dx in range(-3, 4) for dy in range(-3, 4))
    assert blue_near(0.25, 0.75) and blue_near(0.75, 0.25)
    assert not blue_near(0.25, 0.25) and not blue_near(0.75, 0.75)
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        plots.canvas_picture(None)


def test_png_text_reads_every_record_and_refuses_other_bytes(course_style):
    fig, ax = plt.subplots()
    ax.plot(range(10), label="a line")
    ax.plot([0, 9], [8.5, 8.5], label="under the legend")
    ax.legend(loc="upper left")
    png, _ = plots.figure_png(fig)
    records = plots.png_text(png)
    assert float(records[plots.SMALLEST_TEXT_KEY]) == plots.smallest_text_px(png)
    assert int(records[plots.LEGEND_COVERS_KEY]) == plots.legend_covers(fig) > 0
    with pytest.raises(ValueError, match="png must be the bytes of a PNG image"):
        plots.png_text(b"not a png at all, but long enough")


def test_no_stored_figure_hides_its_data_under_its_legend():
    """Every figure a notebook stores was drawn by the course style; none records a legend over its data."""
    import base64
    import json
    from pathlib import Path

    covered, figures = [], 0
    for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
        for k, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    figures += 1
                    records = plots.png_text(base64.b64decode(output["data"]["image/png"]))
                    if plots.LEGEND_COVERS_KEY in records:
                        covered.append((path.name, k, records[plots.LEGEND_COVERS_KEY]))
    assert figures >= 50 and not covered, covered
