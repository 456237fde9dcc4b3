"""The course's figure style: large type and thick lines for a projector, colour-blind-safe colours.

    >>> use_course_style()            # once, at the top of a notebook
    >>> COLORS["blue"]
    '#0072B2'
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler

# Okabe & Ito (2008), a palette that stays distinct for the common kinds of colour blindness.
COLORS = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
          "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}
PALETTE = [COLORS[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]

COURSE_STYLE = {
    "figure.figsize": (8, 4.5),
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "font.size": 14,
    "axes.titlesize": 16,
    "axes.labelsize": 15,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "legend.fontsize": 13,
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


def use_course_style() -> None:
    """Make every following matplotlib figure use the course style (call once per notebook)."""
    mpl.rcParams.update(COURSE_STYLE)


def mark_epochs(ax: plt.Axes, boundaries: list[float], label: str | None = "epoch boundary") -> None:
    """Draw a thin dotted vertical line at each epoch boundary."""
    for k, x in enumerate(boundaries):
        ax.axvline(x, color="0.6", linestyle=":", linewidth=1.2, zorder=0,
                   label=label if k == 0 else None)
