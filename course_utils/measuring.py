"""Measuring speed and memory honestly: wait for the device, repeat, take the median.

    >>> seconds = median_seconds(lambda: model(x), repeats=5)      # doctest: +SKIP
    >>> activation_bytes(model, torch.zeros(64, 40))               # doctest: +SKIP
    79360
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from .checks import check_non_negative_int, check_positive_int


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until the GPU has finished its queued work (a no-op on the CPU)."""
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device is not None and device.type == "mps":
        torch.mps.synchronize()


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                   device: torch.device | str | None = None) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` unmeasured runs."""
    repeats = check_positive_int("repeats", repeats)
    warmup = check_non_negative_int("warmup", warmup)
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the outputs of every leaf layer in one forward pass of ``x`` (what backward keeps).

    Grows linearly with the batch size: twice the samples, twice the activations.
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
