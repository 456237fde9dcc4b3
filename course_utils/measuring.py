"""Measuring speed and memory honestly: wait for the device, repeat, take the median.

    >>> seconds = median_seconds(lambda: model(x), repeats=5)      # doctest: +SKIP
    >>> activation_bytes(model, torch.zeros(64, 40))               # doctest: +SKIP
    79360

A GPU runs its work *after* Python has queued it, so a clock read right after ``model(x)`` measures
only the queueing. ``synchronize`` waits until the device is done; ``median_seconds`` calls it
before starting and before stopping the clock, on the current accelerator unless told otherwise.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

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


def activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the outputs of every leaf layer in one forward pass of ``x``: the simple count.

    It grows linearly with the batch size. It is *not* what backward keeps: autograd saves only
    what each operation's backward needs (a Linear its input, a ReLU its output, so a tensor that one
    layer outputs and the next takes in is kept once) — ``saved_bytes`` measures that.

    >>> activation_bytes(nn.Linear(10, 15), torch.zeros(4, 10))   # 4 samples × 15 outputs × 4 bytes
    240
    """
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total
