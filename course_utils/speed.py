"""Speed and memory against batch size: per iteration, per sample, and in steps to reach a target loss.

    >>> make_model = lambda: nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))
    >>> data = load_dataset("mnist1d")
    >>> speed = throughput(make_model, data, [1, 4, 16, 64, 256, 1024])          # doctest: +SKIP
    >>> print(speed.table()); speed.plot()                                       # doctest: +SKIP
    >>> result = steps_to_target(make_model, data, [16, 64, 256], [0.03, 0.1, 0.3], target=1.5,
    ...                          max_steps=2000)                                 # doctest: +SKIP
    >>> s_min, b_noise = fit_steps(result.batch_sizes, result.steps)             # doctest: +SKIP

A larger batch costs more per iteration but less per sample, until the device is busy; it needs more
memory, until it does not fit. It also needs fewer updates to reach a loss — up to a point: McCandlish et
al. 2018 (arXiv:1812.06162) model the steps as S = S_min · (1 + B_noise / B), Shallue et al. 2018
(arXiv:1811.03600) measure the same three regimes (perfect scaling, diminishing returns, no gain).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .batching import Batches
from .checks import (check_loss, check_module, check_non_negative_float, check_non_negative_int,
                     check_positive_float, check_positive_int, check_tensor)
from .devices import free_device_memory, pick_device
from .measuring import median_seconds, synchronize
from .plots import COLORS
from .seeding import private_torch_seed
from .training import Data, as_pair, default_loss, is_out_of_memory


def _check_make_model(make_model: object) -> None:
    if not callable(make_model) or isinstance(make_model, nn.Module):
        raise TypeError("make_model must be a function that returns a new model, e.g. "
                        f"lambda: nn.Linear(40, 10), got {make_model!r}")


def _new_model(make_model: Callable[[], nn.Module], seed: int, device: torch.device) -> nn.Module:
    """``make_model()`` with torch's random numbers started from ``seed`` (the global state is left as it was)."""
    with private_torch_seed(seed):
        model = make_model()
    if not isinstance(model, nn.Module):
        raise TypeError(f"make_model must return a torch.nn.Module, it returned {type(model).__name__}")
    return model.to(device)


def _check_sizes(name: str, values: object) -> list[int]:
    """A non-empty list of positive whole numbers, sorted, without repeats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty list of whole numbers, e.g. [1, 4, 16], got {values!r}")
    return sorted({check_positive_int(f"{name} entry", b) for b in values})


# ---------------------------------------------------------------------------------------------- memory

def saved_bytes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable | None = None) -> int:
    """Bytes that autograd keeps from the forward pass and the loss until ``backward`` — activation memory.

    Runs ``loss(model(x), y)`` once with gradients on, and sees every tensor that autograd saves for the
    backward pass (``torch.autograd.graph.saved_tensors_hooks``). Each block of memory (storage) is counted
    once, even when several operations save it (a ReLU's output is saved by the ReLU and, as the next
    Linear's input, by that Linear too): from the first to the last byte the saved tensors reach in it.
    Not counted: the parameters and buffers of the model (a Linear saves its weight, which exists anyway).
    Counted: everything else saved, including the input batch ``x`` (the first Linear saves it) and the
    targets (cross-entropy saves them), and small constants (cross-entropy saves a 4-byte scalar). So the
    count is a·B + c for a batch of B samples, with c a few bytes. No backward runs, nothing is changed.
    ``loss`` defaults as in ``train``: cross-entropy for class labels, mean squared error for float targets.

    >>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    >>> saved_bytes(model, torch.zeros(10, 8), torch.zeros(10))   # float32: 4 bytes per number
    1040

    Here: x (10·8·4 = 320, saved by the first Linear), the ReLU output (10·16·4 = 640, saved by the ReLU
    and by the second Linear: counted once), the model output and the targets (10·4 = 40 each, saved by
    the mean squared error).
    """
    check_module("model", model)
    x, y = check_tensor("x", x), check_tensor("y", y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got len(x)={len(x)} and len(y)={len(y)}")
    check_loss(loss)
    loss_fn = loss or default_loss(y)
    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    spans: dict[int, tuple[int, int]] = {}  # storage address -> (first byte, end byte) that saved tensors reach

    def pack(t: torch.Tensor) -> torch.Tensor:
        address = t.untyped_storage().data_ptr()
        if address in own or t.numel() == 0:
            return t
        size = t.element_size()
        first = t.storage_offset() * size
        last = first + (1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))) * size
        old = spans.get(address, (first, last))
        spans[address] = (min(old[0], first), max(old[1], last))
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(model(x), y)
    return sum(end - start for start, end in spans.values())


# ---------------------------------------------------------------------------------------------- throughput

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
            ax.set_title(title, fontsize=14)
            for k, o in enumerate(self.out_of_memory):
                if o:
                    ax.axvline(self.batch_sizes[k], color=COLORS["vermillion"], linestyle="--",
                               label=f"B = {self.batch_sizes[k]}: out of memory")
                    ax.legend(fontsize=11)
        fig.suptitle(f"Speed and memory against batch size on {self.device}", y=1.02)
        return fig


def _tile(x: torch.Tensor, y: torch.Tensor, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first b samples; if there are fewer than b, the data repeated as often as needed."""
    if b <= len(x):
        return x[:b], y[:b]
    index = torch.arange(b) % len(x)
    return x[index], y[index]


def throughput(make_model: Callable[[], nn.Module], data: Data, batch_sizes: Sequence[int], *,
               device: str | torch.device | None = None, repeats: int = 3, warmup: int = 1, lr: float = 0.01,
               loss: Callable | None = None, seed: int = 0) -> Throughput:
    """Time one training iteration (forward, loss, backward, SGD step) and its memory, for each batch size.

    ``make_model`` is a function ``() -> nn.Module``. For each B (in increasing order, each once) a fresh
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
    _check_make_model(make_model)
    repeats = check_positive_int("repeats", repeats)
    warmup = check_non_negative_int("warmup", warmup)
    lr = check_positive_float("lr", lr, example="0.01")
    seed = check_non_negative_int("seed", seed)
    check_loss(loss)
    x, y = as_pair(data, "data")
    sizes = _check_sizes("batch_sizes", batch_sizes)
    device = pick_device(device)
    loss_fn = loss or default_loss(y)
    on_cuda = device.type == "cuda"
    result = Throughput([], [], [], [], [], device=str(device),
                        memory_kind="peak allocated on cuda" if on_cuda else "saved for backward")

    for b in sizes:
        model = optimizer = xb = yb = None
        out_of_memory = False
        try:
            model = _new_model(make_model, seed, device)
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


# ---------------------------------------------------------------------------------------------- steps to target

@dataclass
class StepsToTarget:
    """Fewest SGD steps to reach a target loss for each batch size, over a grid of learning rates.

    ``steps[k]`` is the fewest steps any learning rate needed at ``batch_sizes[k]`` (None: none reached the
    target within ``max_steps``), ``best_lr[k]`` the learning rate that did it, ``examples[k]`` = B · steps,
    the training samples it used. ``grid[(B, lr)]`` holds the steps of every pair.
    """

    batch_sizes: list[int]
    steps: list[int | None]
    best_lr: list[float | None]
    examples: list[int | None]
    grid: dict[tuple[int, float], int | None] = field(default_factory=dict)
    target: float = 0.0
    max_steps: int = 0

    def plot(self, ax: plt.Axes | None = None) -> plt.Axes:
        """Steps to the target against B on log–log axes, with perfect scaling S ∝ 1/B drawn dashed.

        The dashed line goes through the smallest batch size that reached the target: on it, doubling B
        halves the steps. Batch sizes that never reached it (or needed 0 steps) are not drawn.
        Returns the axes.
        """
        if ax is None:
            _, ax = plt.subplots()
        reached = [(b, s) for b, s in zip(self.batch_sizes, self.steps) if s]
        if reached:
            b0, s0 = reached[0]
            line = np.array([b0, self.batch_sizes[-1]], dtype=float)
            ax.plot(line, s0 * b0 / line, "--", color=COLORS["black"], linewidth=1.5,
                    label="perfect scaling: steps ∝ 1/B")
            ax.plot([b for b, _ in reached], [s for _, s in reached], "o-", color=COLORS["blue"],
                    label="measured (best lr per B)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size B (log₂ scale)")
        ax.set_ylabel("steps to reach the target (log scale)")
        ax.set_title(f"Steps to loss ≤ {self.target:g}")
        ax.legend()
        return ax


@torch.no_grad()
def _mean_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable, chunk: int = 8192) -> float:
    """Mean loss over all samples (the chunks weighted by their size), in eval mode; the mode is restored."""
    was_training, total = model.training, 0.0
    model.eval()
    try:
        for xc, yc in zip(x.split(chunk), y.split(chunk)):
            total += float(loss_fn(model(xc), yc)) * len(xc)
    finally:
        model.train(was_training)
    return total / len(x)


def _check_lrs(lrs: object) -> list[float]:
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or not lrs:
        raise TypeError(f"lrs must be a non-empty list of learning rates, e.g. [0.01, 0.1, 1.0], got {lrs!r}")
    return [check_positive_float("lrs entry", lr) for lr in lrs]


def steps_to_target(make_model: Callable[[], nn.Module], data: Data, batch_sizes: Sequence[int],
                    lrs: Sequence[float], target: float, *, max_steps: int, seed: int = 0,
                    eval_data: Data | None = None, eval_every: int = 1, momentum: float = 0.0,
                    loss: Callable | None = None, device: str | torch.device | None = None) -> StepsToTarget:
    """For each batch size, the fewest SGD steps (parameter updates) to bring the loss down to ``target``.

    For each B (in increasing order, each once) and each learning rate in ``lrs``: a fresh model
    (``make_model()`` with torch's random numbers started from ``seed``; the global random state is left as
    it was) trains with mini-batch SGD (``momentum`` as given) on batches of B from ``data`` (an ``(x, y)``
    pair or a Dataset, its train split), drawn epoch after epoch in a new shuffled order each epoch
    (``Batches`` with ``seed``; the last batch of an epoch can be smaller). Every ``eval_every`` steps the
    mean loss on a fixed evaluation set is computed (eval mode, no gradients): ``eval_data`` (an ``(x, y)``
    pair such as ``data.test``), by default the whole training set. The answer for that (B, lr) is the
    first step count at which that loss is ≤ ``target`` (0 if the untrained model already is), or None if
    it is not reached within ``max_steps`` steps or an evaluation finds the loss NaN or infinite (diverged:
    training stops there). With ``eval_every`` > 1 the loss is looked at only every ``eval_every`` steps, so the
    count is rounded up to a multiple of ``eval_every`` (and ``max_steps`` itself is always checked).

    The evaluation is usually the main cost: raise ``eval_every`` or pass a smaller ``eval_data`` to go
    faster.
    Ties between learning rates go to the one listed first in ``lrs``.
    ``loss`` must return the mean loss of a batch (default as in ``train``).

    >>> x = torch.linspace(-1, 1, 32).unsqueeze(1); y = 3 * x.squeeze(1)
    >>> result = steps_to_target(lambda: nn.Linear(1, 1), (x, y), [32], [0.1, 0.5, 2.0], target=0.01,
    ...                          max_steps=500, device="cpu")
    >>> result.steps, result.best_lr, result.grid          # lr=0.1 is slow, lr=2.0 diverges
    ([7], [0.5], {(32, 0.1): 40, (32, 0.5): 7, (32, 2.0): None})
    """
    _check_make_model(make_model)
    lrs = _check_lrs(lrs)
    if isinstance(target, bool) or not isinstance(target, numbers.Real):
        raise TypeError(f"target must be a number (the loss to reach, e.g. 0.5), got {target!r}")
    if not math.isfinite(target):
        raise ValueError(f"target must be a finite number (the loss to reach, e.g. 0.5), got {target!r}")
    max_steps = check_positive_int("max_steps", max_steps)
    seed = check_non_negative_int("seed", seed)
    eval_every = check_positive_int("eval_every", eval_every)
    momentum = check_non_negative_float("momentum", momentum)
    check_loss(loss)
    x, y = as_pair(data, "data")
    sizes = _check_sizes("batch_sizes", batch_sizes)
    x_eval, y_eval = as_pair(eval_data, "eval_data", split="test") if eval_data is not None else (x, y)
    device = pick_device(device)
    x, y, x_eval, y_eval = x.to(device), y.to(device), x_eval.to(device), y_eval.to(device)
    loss_fn = loss or default_loss(y)

    def run(b: int, lr: float) -> int | None:
        model = _new_model(make_model, seed, device)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        batches = Batches(x, y, batch_size=b, seed=seed)
        start = _mean_loss(model, x_eval, y_eval, loss_fn)
        if start <= target:
            return 0
        step = 0
        while True:
            for xb, yb in batches:  # one epoch
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(xb), yb).backward()
                optimizer.step()
                step += 1
                if step % eval_every == 0 or step == max_steps:
                    value = _mean_loss(model, x_eval, y_eval, loss_fn)
                    if value <= target:
                        return step
                    if not math.isfinite(value) or step >= max_steps:
                        return None

    grid: dict[tuple[int, float], int | None] = {}
    steps, best_lr, examples = [], [], []
    for b in sizes:
        best: tuple[int, float] | None = None
        for lr in lrs:
            grid[(b, lr)] = needed = run(b, lr)
            if needed is not None and (best is None or needed < best[0]):
                best = (needed, lr)
        steps.append(best[0] if best else None)
        best_lr.append(best[1] if best else None)
        examples.append(best[0] * b if best else None)
    return StepsToTarget(batch_sizes=sizes, steps=steps, best_lr=best_lr, examples=examples, grid=grid,
                         target=float(target), max_steps=max_steps)


# ---------------------------------------------------------------------------------------------- the fit

def fit_steps(batch_sizes: Sequence[int], steps: Sequence[int | float | None]) -> tuple[float, float]:
    """Least-squares fit of S = S_min · (1 + B_noise / B) to measured steps; returns (S_min, B_noise).

    S = S_min + (S_min · B_noise) · (1/B) is linear in the two numbers S_min and S_min · B_noise, so the fit
    is an exact linear least-squares problem with regressors 1 and 1/B (``numpy.linalg.lstsq``); then
    B_noise = (S_min · B_noise) / S_min. Entries whose steps are None (target not reached) are left out;
    at least 2 different batch sizes must remain. S_min is the limit of S as B grows without bound; a
    positive B_noise is the batch size at which S is twice S_min, a negative one means the fitted steps
    grow with B. Raises if the fitted S_min is not positive (the data do not follow the model).

    >>> s_min, b_noise = fit_steps([1, 10, 100], [6500, 740, 164])   # made with S_min = 100, B_noise = 64
    >>> round(s_min, 6), round(b_noise, 6)
    (100.0, 64.0)
    """
    if isinstance(batch_sizes, (str, bytes)) or not isinstance(batch_sizes, Sequence):
        raise TypeError(f"batch_sizes must be a list of batch sizes, e.g. [16, 64, 256], got {batch_sizes!r}")
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
        raise TypeError(f"steps must be a list of step counts (None where the target was not reached), "
                        f"e.g. [900, 300, 150], got {steps!r}")
    if len(batch_sizes) != len(steps):
        raise ValueError(f"batch_sizes and steps must have the same length, got {len(batch_sizes)} and "
                         f"{len(steps)}")
    b_kept, s_kept = [], []
    for b, s in zip(batch_sizes, steps):
        b = check_positive_int("batch_sizes entry", b)
        if s is None:
            continue
        b_kept.append(b)
        s_kept.append(check_positive_float("steps entry", s, example="300"))
    if len(set(b_kept)) < 2:
        raise ValueError(f"fit_steps needs steps for at least 2 different batch sizes (None entries are left "
                         f"out), got batch_sizes={list(batch_sizes)!r}, steps={list(steps)!r}")
    design = np.column_stack([np.ones(len(b_kept)), 1.0 / np.asarray(b_kept, dtype=float)])
    (s_min, s_min_b_noise), *_ = np.linalg.lstsq(design, np.asarray(s_kept, dtype=float), rcond=None)
    if s_min <= 0:
        raise ValueError(f"the fitted S_min = {s_min:.3g} is not positive, so S = S_min·(1 + B_noise/B) does "
                         f"not describe steps={list(steps)!r}: they should level off at a positive floor as B "
                         "grows (measure more batch sizes, or check the runs that reached the target)")
    return float(s_min), float(s_min_b_noise / s_min)
