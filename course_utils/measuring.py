"""Measuring time honestly: wait for the device, repeat, take the median.

    >>> seconds = median_seconds(lambda: model(x), repeats=5)      # doctest: +SKIP

(The memory of a batch is measured in ``memory``.)

A GPU runs its work *after* Python has queued it, so a clock read right after ``model(x)`` measures
only the queueing. ``synchronize`` waits until the device is done; ``median_seconds`` calls it
before starting and before stopping the clock, on the current accelerator unless told otherwise.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from .checks import check_non_negative_int, check_positive_int


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until ``device`` (default: the current accelerator, if any) has finished its queued work.

    A no-op on the CPU, whose work is done when the call returns.

    >>> synchronize("cpu")
    """
    if device is None:
        accelerator = torch.accelerator.current_accelerator(check_available=True)
        if accelerator is None:
            return
        device = accelerator
    device = torch.device(device)
    if device.type != "cpu":
        torch.accelerator.synchronize(device)


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                   device: torch.device | str | None = None) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` unmeasured runs.

    The device (default: the current accelerator) is synchronized before each clock reading.

    >>> median_seconds(lambda: sum(range(1000)), repeats=3) < 1
    True
    """
    repeats = check_positive_int("repeats", repeats)
    warmup = check_non_negative_int("warmup", warmup)
    if not callable(fn):
        raise TypeError(f"fn must be a function with no arguments, e.g. lambda: model(x); got {fn!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
