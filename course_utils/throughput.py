"""The speed of the hardware against batch size: seconds per iteration, samples per second, memory.

    >>> make_model = lambda: nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))
    >>> from course_utils import load_dataset
    >>> data = load_dataset("mnist1d")
    >>> speed = throughput(make_model, data, [1, 4, 16, 64, 256, 1024])          # doctest: +SKIP
    >>> print(speed.table()); speed.plot()                                       # doctest: +SKIP

A larger batch costs more per iteration but less per sample, until the device is busy; it needs more
memory, until it does not fit. How many iterations a batch size needs is the other half of the story:
``steps``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from torch import nn

from .checks import (BatchSizes, check_batch_sizes, check_features, check_loss, check_make_model,
                     check_non_negative_int, check_positive_float, check_positive_int)
from .devices import choose_device, free_device_memory
from .measuring import median_seconds, synchronize
from .memory import saved_bytes
from .plots import COLORS
from .seeding import new_model
from .training import Data, as_pair, default_loss, is_out_of_memory


@dataclass
class Throughput:
    """Seconds per iteration, samples per second and memory for each batch size (see ``throughput``).

    A batch size that did not fit has ``out_of_memory`` True and None for the three measurements; it is the
    last one: larger batch sizes were not tried.
    """

    batch_sizes: list[int]
    seconds_per_iteration: list[float | None]
    samples_per_second: list[float | None]
    memory_bytes: list[int | None]
    out_of_memory: list[bool]
    device: str
    memory_kind: str

    def rows(self) -> list[dict]:
        """One dict per batch size, with the same keys as the lists."""
        return [{"batch_size": b, "seconds_per_iteration": s, "samples_per_second": r, "memory_bytes": m,
                 "out_of_memory": o}
                for b, s, r, m, o in zip(self.batch_sizes, self.seconds_per_iteration, self.samples_per_second,
                                         self.memory_bytes, self.out_of_memory)]

    def table(self) -> str:
        """A printable table: one line per batch size (milliseconds, samples/s, MiB)."""
        lines = [f"device: {self.device}; memory: {self.memory_kind}",
                 f"{'batch size':>10}  {'ms / iteration':>14}  {'samples / s':>12}  {'memory MiB':>10}"]
        for row in self.rows():
            if row["out_of_memory"]:
                lines.append(f"{row['batch_size']:>10}  {'out of memory':>14}")
            else:
                lines.append(f"{row['batch_size']:>10}  {row['seconds_per_iteration'] * 1e3:>14.3f}  "
                             f"{row['samples_per_second']:>12,.0f}  {row['memory_bytes'] / 2**20:>10.3f}")
        return "\n".join(lines)

    def plot(self) -> plt.Figure:
        """Three panels against batch size (log2 axes): seconds per iteration, samples per second, memory.

        A batch size that ran out of memory is marked by a red dashed vertical line. Returns the figure.
        """
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        fitted = [k for k, o in enumerate(self.out_of_memory) if not o]
        b = [self.batch_sizes[k] for k in fitted]
        panels = [(self.seconds_per_iteration, 1.0, "time per iteration", "seconds (log scale)"),
                  (self.samples_per_second, 1.0, "throughput", "samples per second (log scale)"),
                  (self.memory_bytes, 2.0 ** -20, f"memory: {self.memory_kind}", "MiB (log scale)")]
        for ax, (values, scale, title, label) in zip(axes, panels):
            ax.plot(b, [values[k] * scale for k in fitted], "o-", color=COLORS["blue"])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("batch size B (log₂ scale)")
            ax.set_ylabel(label)
            ax.set_title(title)
            for k, o in enumerate(self.out_of_memory):
                if o:
                    ax.axvline(self.batch_sizes[k], color=COLORS["vermillion"], linestyle="--",
                               label=f"B = {self.batch_sizes[k]}: out of memory")
                    ax.legend()
        fig.suptitle(f"Speed and memory against batch size on {self.device}", y=1.02)
        return fig


def _tile(x: torch.Tensor, y: torch.Tensor, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first b samples; if there are fewer than b, the data repeated as often as needed."""
    if b <= len(x):
        return x[:b], y[:b]
    index = torch.arange(b) % len(x)
    return x[index], y[index]


def throughput(make_model: Callable[[], nn.Module], data: Data, batch_sizes: BatchSizes, *,
               device: str | torch.device | None = None, repeats: int = 3, warmup: int = 1, lr: float = 0.01,
               loss: Callable | None = None, seed: int = 0) -> Throughput:
    """Time one training iteration (forward, loss, backward, SGD step) and its memory, for each batch size.

    ``make_model`` is a function ``() -> nn.Module``. ``batch_sizes`` is a list, tuple, range or 1-D array of
    whole numbers; they are measured in increasing order, each once. For each B a fresh
    model is made (torch's random numbers started from ``seed``) and moved to ``device`` (default:
    ``pick_device()``), with an SGD optimizer of learning rate ``lr``, and iterates on the same batch: the
    first B samples of ``data`` (an ``(x, y)`` pair or a Dataset, its train split), the data repeated if
    B > N. The time is the median of ``repeats`` timed
    iterations after ``warmup`` untimed ones, the device synchronized around each, so that a GPU's queued
    work is counted. Memory (``memory_kind`` says which):

    - on CUDA, "peak allocated on cuda": the most memory allocated by tensors on the device during the
      warm-up and timed iterations (the peak is reset just before them) — everything live there at that
      moment: the model, its gradients, the batch, the activations, and whatever else the program holds
      on that device;
    - elsewhere, "saved for backward": ``saved_bytes(model, xb, yb, loss)`` (activation memory only).

    A batch size that does not fit (``torch.OutOfMemoryError``, or another allocation failure that
    ``is_out_of_memory`` recognizes) is recorded with ``out_of_memory=True`` and no measurements, the memory
    is freed, and no larger batch size is tried. The global torch random state is left as it was.

    >>> speed = throughput(lambda: nn.Linear(4, 2), (torch.randn(8, 4), torch.randint(0, 2, (8,))),
    ...                    [2, 16], device="cpu")
    >>> speed.batch_sizes, speed.out_of_memory, speed.memory_kind
    ([2, 16], [False, False], 'saved for backward')
    """
    check_make_model(make_model)
    repeats = check_positive_int("repeats", repeats)
    warmup = check_non_negative_int("warmup", warmup)
    lr = check_positive_float("lr", lr, example="0.01")
    seed = check_non_negative_int("seed", seed)
    check_loss(loss)
    x, y = as_pair(data, "data")
    sizes = check_batch_sizes("batch_sizes", batch_sizes)
    device = choose_device("device", device)
    check_features("data x", x, new_model(make_model, seed, "cpu"))
    loss_fn = loss or default_loss(y)
    on_cuda = device.type == "cuda"
    result = Throughput([], [], [], [], [], device=str(device),
                        memory_kind="peak allocated on cuda" if on_cuda else "saved for backward")

    for b in sizes:
        model = optimizer = xb = yb = None
        out_of_memory = False
        try:
            model = new_model(make_model, seed, device)
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            xb, yb = (t.to(device) for t in _tile(x, y, b))

            def iteration() -> None:
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(xb), yb).backward()
                optimizer.step()

            if on_cuda:
                synchronize(device)
                torch.accelerator.reset_peak_memory_stats(device)
            seconds = median_seconds(iteration, repeats=repeats, warmup=warmup, device=device)
            memory = int(torch.accelerator.max_memory_allocated(device)) if on_cuda else saved_bytes(model, xb, yb, loss_fn)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            out_of_memory = True  # free the memory below, outside this block: exc holds the frames' tensors
        if out_of_memory:
            del model, optimizer, xb, yb
            free_device_memory(device)
            result.batch_sizes.append(b)
            result.seconds_per_iteration.append(None)
            result.samples_per_second.append(None)
            result.memory_bytes.append(None)
            result.out_of_memory.append(True)
            break
        result.batch_sizes.append(b)
        result.seconds_per_iteration.append(seconds)
        result.samples_per_second.append(b / seconds if seconds > 0 else math.inf)
        result.memory_bytes.append(memory)
        result.out_of_memory.append(False)
        del model, optimizer, xb, yb
    free_device_memory(device)
    return result
