"""The speed of the optimisation against batch size: steps to reach a target loss, and the fit through them.

    >>> make_model = lambda: nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))
    >>> from course_utils import load_dataset
    >>> data = load_dataset("mnist1d")
    >>> result = steps_to_target(make_model, data, [16, 64, 256], [0.03, 0.1, 0.3], target=1.5,
    ...                          max_steps=2000)                                 # doctest: +SKIP
    >>> s_min, b_noise = fit_steps(result.batch_sizes, result.steps)             # doctest: +SKIP

A larger batch needs fewer updates to reach a loss — up to a point: McCandlish et al. 2018
(arXiv:1812.06162) model the steps as S = S_min · (1 + B_noise / B), Shallue et al. 2018
(arXiv:1811.03600) measure the same three regimes (perfect scaling, diminishing returns, no gain).
What one update costs on the hardware is the other half of the story: ``throughput``.
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
from .checks import (BatchSizes, check_batch_sizes, check_features, check_list, check_loss, check_make_model,
                     check_momentum, check_non_negative_int, check_positive_float, check_positive_int)
from .devices import choose_device
from .plots import COLORS
from .seeding import new_model
from .training import Data, as_pair, default_loss
from .verdicts import t_quantile_975


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
    lrs = check_list("lrs", lrs, what="a non-empty list of learning rates", example="[0.01, 0.1, 1.0]")
    return [check_positive_float("lrs entry", lr) for lr in lrs]


def steps_to_target(make_model: Callable[[], nn.Module], data: Data, batch_sizes: BatchSizes,
                    lrs: Sequence[float], target: float, *, max_steps: int, seed: int = 0,
                    eval_data: Data | None = None, eval_every: int = 1, momentum: float = 0.0,
                    loss: Callable | None = None, device: str | torch.device | None = None,
                    patience: int | None = None) -> StepsToTarget:
    """For each batch size, the fewest SGD steps (parameter updates) to bring the loss down to ``target``.

    ``batch_sizes`` is a list, tuple, range or 1-D array of whole numbers. For each B (in increasing order,
    each once) and each learning rate in ``lrs`` (``momentum`` in [0, 1)): a fresh model
    (``make_model()`` with torch's random numbers started from ``seed``; the global random state is left as
    it was) trains with mini-batch SGD (``momentum`` as given) on batches of B from ``data`` (an ``(x, y)``
    pair or a Dataset, its train split), drawn epoch after epoch in a new shuffled order each epoch
    (``Batches`` with ``seed``; the last batch of an epoch can be smaller). Every ``eval_every`` steps the
    mean loss on a fixed evaluation set is computed (eval mode, no gradients): ``eval_data`` (an ``(x, y)``
    pair such as ``data.test``), by default the whole training set. The answer for that (B, lr) is the
    first step count at which that loss is ≤ ``target`` (0 if the untrained model already is: ``fit_steps``
    then refuses, so choose a target the untrained model does not meet), or None if
    it is not reached within ``max_steps`` steps or an evaluation finds the loss NaN or infinite (diverged:
    training stops there). With ``eval_every`` > 1 the loss is looked at only every ``eval_every`` steps, so the
    count is rounded up to a multiple of ``eval_every`` (and ``max_steps`` itself is always checked).

    The evaluation is usually the main cost: raise ``eval_every`` or pass a smaller ``eval_data`` to go
    faster. A run that has stalled (a dead network, a learning rate too large to settle) would otherwise go on
    to ``max_steps``: with ``patience`` = k it is given up as not reached (None) once k evaluations in a row
    found no loss lower than the lowest so far.
    Ties between learning rates go to the one listed first in ``lrs``.
    ``loss`` must return the mean loss of a batch (default as in ``train``).

    >>> x = torch.linspace(-1, 1, 32).unsqueeze(1); y = 3 * x.squeeze(1)
    >>> result = steps_to_target(lambda: nn.Linear(1, 1), (x, y), [32], [0.1, 0.5, 2.0], target=0.01,
    ...                          max_steps=500, device="cpu")
    >>> result.steps, result.best_lr, result.grid          # lr=0.1 is slow, lr=2.0 diverges
    ([7], [0.5], {(32, 0.1): 40, (32, 0.5): 7, (32, 2.0): None})
    """
    check_make_model(make_model)
    lrs = _check_lrs(lrs)
    if isinstance(target, bool) or not isinstance(target, numbers.Real):
        raise TypeError(f"target must be a number (the loss to reach, e.g. 0.5), got {target!r}")
    if not math.isfinite(target):
        raise ValueError(f"target must be a finite number (the loss to reach, e.g. 0.5), got {target!r}")
    max_steps = check_positive_int("max_steps", max_steps)
    seed = check_non_negative_int("seed", seed)
    eval_every = check_positive_int("eval_every", eval_every)
    patience = check_positive_int("patience", patience) if patience is not None else None
    momentum = check_momentum(momentum)
    check_loss(loss)
    x, y = as_pair(data, "data")
    sizes = check_batch_sizes("batch_sizes", batch_sizes)
    x_eval, y_eval = as_pair(eval_data, "eval_data", split="test") if eval_data is not None else (x, y)
    device = choose_device("device", device)
    check_features("data x", x, new_model(make_model, seed, "cpu"))
    x, y, x_eval, y_eval = x.to(device), y.to(device), x_eval.to(device), y_eval.to(device)
    loss_fn = loss or default_loss(y)

    def run(b: int, lr: float) -> int | None:
        model = new_model(make_model, seed, device)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        batches = Batches(x, y, batch_size=b, seed=seed)
        start = _mean_loss(model, x_eval, y_eval, loss_fn)
        if start <= target:
            return 0
        step, lowest, stalled = 0, start, 0
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
                    lowest, stalled = (value, 0) if value < lowest else (lowest, stalled + 1)
                    if patience is not None and stalled >= patience:
                        return None  # no new lowest loss in `patience` evaluations: stalled

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

@dataclass(frozen=True)
class StepsFit:
    """S_min and B_noise of S = S_min · (1 + B_noise / B), each with a 95% interval (see ``fit_steps``).

    It unpacks like a pair: ``s_min, b_noise = fit_steps(...)``, and ``fit_steps(...)[1]`` is B_noise.
    """

    s_min: float
    b_noise: float
    s_min_interval: tuple[float, float]
    b_noise_interval: tuple[float, float]

    def __iter__(self):
        return iter((self.s_min, self.b_noise))

    def __getitem__(self, index: int) -> float:
        return (self.s_min, self.b_noise)[index]

    def __len__(self) -> int:
        return 2

    def __str__(self) -> str:
        (s_low, s_high), (b_low, b_high) = self.s_min_interval, self.b_noise_interval
        return (f"S_min = {self.s_min:.4g} (95% interval {s_low:.4g} to {s_high:.4g}), "
                f"B_noise = {self.b_noise:.4g} (95% interval {b_low:.4g} to {b_high:.4g})")


def _log_misfit(log_steps: np.ndarray, b: np.ndarray, b_noise: float) -> tuple[float, float]:
    """(sum of squared errors in log S, best log S_min) for a given B_noise."""
    residual = log_steps - np.log1p(b_noise / b)
    log_s_min = residual.mean()
    return float(((residual - log_s_min) ** 2).sum()), float(log_s_min)


def fit_steps(batch_sizes: BatchSizes, steps: Sequence[int | float | None]) -> StepsFit:
    """Fit S = S_min · (1 + B_noise / B) to measured steps; returns S_min and B_noise with 95% intervals.

    The fit minimises the squared error of log S, that is the *relative* error of each point: a batch
    size that needed 3000 steps counts as much as one that needed 100 (in S itself the smallest batch
    would decide the fit alone). For a given B_noise the best log S_min is the mean of
    log S − log(1 + B_noise/B), so only B_noise is searched (a grid, then golden-section refinement).
    The intervals come from the fit's covariance with Student's t for n − 2 degrees of freedom (n points);
    with only 2 points they are NaN: nothing is left to measure the scatter with.

    ``batch_sizes`` and ``steps`` are lists (or tuples, or 1-D arrays) of the same length, one entry per
    measurement; a batch size may appear more than once (repeated runs). Entries whose steps are None or
    NaN (target not reached) are left out; at least 2 different batch sizes must remain. S_min is the limit
    of S as B grows without bound; a positive B_noise is the batch size at which S is twice S_min, a
    negative one means the fitted steps grow with B.

    >>> fit = fit_steps([1, 10, 100], [5100, 600, 150])   # made with S_min = 100, B_noise = 50
    >>> round(fit.s_min, 6), round(fit.b_noise, 6)
    (100.0, 50.0)
    >>> s_min, b_noise = fit                              # it unpacks like a pair
    """
    batch_sizes = check_list("batch_sizes", batch_sizes, what="a list of batch sizes", example="[16, 64, 256]")
    steps = check_list("steps", steps, what="a list of step counts (None where the target was not reached)",
                       example="[900, 300, 150]")
    if len(batch_sizes) != len(steps):
        raise ValueError(f"batch_sizes and steps must have the same length, got {len(batch_sizes)} and "
                         f"{len(steps)}")
    b_kept, s_kept = [], []
    for b, s in zip(batch_sizes, steps):
        b = check_positive_int("batch_sizes entry", b)
        if s is None or (isinstance(s, numbers.Real) and math.isnan(s)):
            continue
        if isinstance(s, numbers.Real) and not isinstance(s, bool) and s == 0:
            raise ValueError(f"steps must be ≥ 1 for every batch size, got 0 at batch size {b}: 0 means the "
                             "untrained model already met the target, so there is nothing to count; choose a "
                             "lower target (one the untrained model does not reach)")
        b_kept.append(b)
        s_kept.append(check_positive_float("steps entry", s, example="300"))
    if len(set(b_kept)) < 2:
        raise ValueError(f"fit_steps needs steps for at least 2 different batch sizes (None entries are left "
                         f"out), got batch_sizes={batch_sizes!r}, steps={steps!r}")
    b, log_s = np.asarray(b_kept, dtype=float), np.log(np.asarray(s_kept, dtype=float))

    # B_noise ranges over (−smallest B, ∞): search u = log(B_noise + smallest B) on a grid, then refine
    smallest = float(b.min())
    to_b_noise = lambda u: math.exp(u) - smallest  # noqa: E731
    grid = np.linspace(math.log(smallest) - 14, math.log(b.max()) + 14, 600)
    misfits = [_log_misfit(log_s, b, to_b_noise(u))[0] for u in grid]
    best = int(np.argmin(misfits))
    if best == len(grid) - 1:
        raise ValueError(f"S = S_min·(1 + B_noise/B) does not describe steps={steps!r}: they fall as fast as 1/B "
                         "(perfect scaling) or faster up to the largest batch size, so they never level off at "
                         "a positive floor S_min (measure larger batch sizes, or check the runs that reached "
                         "the target)")
    if best == 0:
        raise ValueError(f"S = S_min·(1 + B_noise/B) does not describe steps={steps!r}: the smallest batch size "
                         "needs far fewer steps than the others (check the runs that reached the target)")
    low, high = grid[best - 1], grid[best + 1]
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(200):  # golden-section search for the smallest misfit between low and high
        u1, u2 = high - golden * (high - low), low + golden * (high - low)
        if _log_misfit(log_s, b, to_b_noise(u1))[0] <= _log_misfit(log_s, b, to_b_noise(u2))[0]:
            high = u2
        else:
            low = u1
        if high - low < 1e-13:
            break
    b_noise = float(to_b_noise((low + high) / 2))
    misfit, log_s_min = _log_misfit(log_s, b, b_noise)

    # 95% intervals from the covariance of (log S_min, B_noise): σ² (JᵀJ)⁻¹, J the slopes of log S
    freedom = len(b) - 2
    if freedom == 0:
        s_interval = b_interval = (math.nan, math.nan)
    else:
        slopes = np.column_stack([np.ones_like(b), 1.0 / (b + b_noise)])
        covariance = misfit / freedom * np.linalg.inv(slopes.T @ slopes)
        t = t_quantile_975(freedom)
        half_log, half_b = t * math.sqrt(covariance[0, 0]), t * math.sqrt(covariance[1, 1])
        s_interval = (math.exp(log_s_min - half_log), math.exp(log_s_min + half_log))
        b_interval = (b_noise - half_b, b_noise + half_b)
    return StepsFit(s_min=math.exp(log_s_min), b_noise=b_noise, s_min_interval=s_interval,
                    b_noise_interval=b_interval)
