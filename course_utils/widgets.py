"""Sliders whose steps mean something, and callbacks that never crash a lesson.

    >>> batch_size_choices(100)
    [1, 2, 4, 8, 16, 32, 64, 100]
    >>> slider = batch_size_slider(1000, value=64)      # powers of two, plus N itself
"""
from __future__ import annotations

import functools
import traceback
from collections.abc import Callable

import ipywidgets as widgets

from .checks import check_positive_int

WIDE = {"description_width": "initial"}
LAYOUT = widgets.Layout(width="520px")


def batch_size_choices(n_samples: int, smallest: int = 1) -> list[int]:
    """Powers of two from ``smallest`` up to ``n_samples``, then ``n_samples`` itself (full batch)."""
    n_samples = check_positive_int("n_samples", n_samples)
    smallest = check_positive_int("smallest", smallest)
    choices, b = [], smallest
    while b < n_samples:
        choices.append(b)
        b *= 2
    return choices + [n_samples]


def batch_size_slider(n_samples: int, value: int | None = None, description: str = "batch size B",
                      smallest: int = 1) -> widgets.SelectionSlider:
    """A slider over ``batch_size_choices(n_samples)``; ``value`` defaults to the middle one."""
    options = batch_size_choices(n_samples, smallest)
    if value is None:
        value = options[len(options) // 2]
    if value not in options:
        raise ValueError(f"value={value!r} is not one of the slider's batch sizes {options}")
    return widgets.SelectionSlider(options=options, value=value, description=description,
                                   continuous_update=True, style=WIDE, layout=LAYOUT)


def lr_slider(value: float = 0.1, smallest: float = 1e-4, largest: float = 10.0,
              description: str = "learning rate") -> widgets.FloatLogSlider:
    """A log-scale learning-rate slider (each step multiplies by about 1.26)."""
    if not smallest <= value <= largest:
        raise ValueError(f"value={value!r} must lie between smallest={smallest} and largest={largest}")
    import math
    return widgets.FloatLogSlider(value=value, base=10, min=math.log10(smallest), max=math.log10(largest),
                                  step=0.1, description=description, readout_format=".1e",
                                  continuous_update=False, style=WIDE, layout=LAYOUT)


def safe(callback: Callable) -> Callable:
    """Wrap a widget callback so a mistake prints one friendly line instead of a traceback.

    >>> @safe
    ... def draw(batch_size): ...
    """
    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a slider must never break the lesson
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"That setting did not work: {type(exc).__name__}: {exc} (line {where.lineno}). "
                  "Move the slider back, or change the value.")
    return wrapper
