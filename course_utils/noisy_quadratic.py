"""Zhang et al.'s noisy quadratic model: steps to a target for any batch size, exactly, in milliseconds.

Zhang et al. 2019, "Which Algorithmic Choices Matter at Which Batch Sizes? Insights From a Noisy
Quadratic Model" (arXiv:1907.04164) replace a network by a quadratic it resembles near a minimum: a loss
L(θ) = ½ Σᵢ hᵢ θᵢ² with curvatures hᵢ = 1/i (i = 1 … d, a power-law spectrum like a network's Hessian), and
mini-batch gradients gᵢ = hᵢ θᵢ + noise whose variance is cᵢ/B with cᵢ = hᵢ (the gradient covariance equals the
curvature, as for a well-fitted model). A step θᵢ ← θᵢ − aᵢ gᵢ with per-coordinate step aᵢ then moves the
*expected* square mᵢ = E[θᵢ²] exactly:

    mᵢ ← (1 − aᵢhᵢ)² mᵢ + aᵢ² cᵢ / B,     so     mᵢ(t) = m∞ᵢ + (mᵢ(0) − m∞ᵢ)·rᵢᵗ,   rᵢ = (1 − aᵢhᵢ)²,

with the noise floor m∞ᵢ = aᵢ²cᵢ / (B(1 − rᵢ)). Plain SGD has aᵢ = lr. Zhang et al. stand in for Adam with a
diagonal **preconditioner**: aᵢ = lr·hᵢ^(−p), which takes larger steps along flat directions (p = 0: SGD;
p = ½ here; Adam's denominator estimates the root of the squared gradient). The expected loss is
½ Σ hᵢ mᵢ(t), so the steps to reach a fraction of the initial loss need no sampling at all.

>>> nqm_steps_to_target(lr=1.0, batch_size=10**9, dim=1, target=0.25)   # r = 0: one step to the floor
1
>>> nqm_steps_to_target(lr=0.5, batch_size=10**9, dim=1, target=0.3)    # r = ¼ per step: 0.25 after 1
1
>>> nqm_steps_to_target(lr=0.1, batch_size=10**9, dim=1, target=0.01)   # ⌈ln 0.01 / ln 0.81⌉
22
>>> best = nqm_best_steps(batch_size=64, lrs=[0.25, 0.5, 1.0, 1.5])
>>> best.steps, best.lr, best.edge
(1840, 1.0, None)
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .checks import check_positive_float, check_positive_int


def _check_power(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number from 0 (plain SGD) to 1 (full preconditioning), e.g. 0.5, "
                         f"got {value!r}")
    return float(value)


def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a fraction of the initial loss between 0 and 1, e.g. 0.01, got {value!r}")
    return float(value)


def nqm_curvatures(dim: int = 1000) -> np.ndarray:
    """The curvatures hᵢ = 1/i, i = 1 … ``dim`` (the noisy quadratic model's power-law spectrum).

    >>> nqm_curvatures(4).tolist()
    [1.0, 0.5, 0.3333333333333333, 0.25]
    """
    dim = check_positive_int("dim", dim)
    return 1.0 / np.arange(1, dim + 1, dtype=np.float64)


def nqm_loss(lr: float, batch_size: int, steps: Sequence[int] | np.ndarray, *, dim: int = 1000,
             precondition: float = 0.0) -> np.ndarray:
    """The expected loss after each number of steps in ``steps``, divided by the initial loss (exact).

    Every coordinate starts at E[θᵢ²] = 1, so the initial loss is ½ Σ hᵢ. A step size at which some
    coordinate grows (|1 − aᵢhᵢ| ≥ 1) gives infinity.

    >>> nqm_loss(0.1, 10**9, [0, 1, 2], dim=1).round(4).tolist()    # (1 − 0.1)² per step, no noise
    [1.0, 0.81, 0.6561]
    """
    lr = check_positive_float("lr", lr)
    batch_size = check_positive_int("batch_size", batch_size)
    precondition = _check_power("precondition", precondition)
    t = np.asarray(steps)
    if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer) or (t < 0).any():
        raise ValueError(f"steps must be a list of whole numbers ≥ 0, e.g. [0, 10, 100], got {steps!r}")
    h = nqm_curvatures(dim)
    a = lr * h ** (-precondition)
    r = (1 - a * h) ** 2
    if (r >= 1).any():
        return np.full(t.shape, np.inf)
    floor = a**2 * h / (batch_size * (1 - r))
    m = floor[None, :] + (1 - floor)[None, :] * r[None, :] ** t[:, None]
    return (0.5 * (h * m).sum(axis=1)) / (0.5 * h.sum())


def nqm_steps_to_target(lr: float, batch_size: int, *, dim: int = 1000, target: float = 0.01,
                        precondition: float = 0.0, max_steps: int = 10**7) -> int | None:
    """The fewest steps after which the expected loss is at most ``target`` × the initial loss, or None.

    None when the step size makes a coordinate grow, when the noise floor itself lies above the target, or
    when more than ``max_steps`` are needed. Found by doubling and bisection on the exact curve; where some
    coordinates start below their noise floor (their part of the loss rises) the first crossing is then
    found by scanning the few steps between two bounds that do fall monotonically.

    >>> nqm_steps_to_target(0.1, batch_size=1, dim=1, target=0.5)        # the noise floor is 0.053
    4
    >>> nqm_steps_to_target(0.1, batch_size=1, dim=1, target=0.05) is None
    True
    """
    target = _check_fraction("target", target)
    max_steps = check_positive_int("max_steps", max_steps)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_positive_float("lr", lr)
    precondition = _check_power("precondition", precondition)
    h = nqm_curvatures(dim)
    a = lr * h ** (-precondition)
    r = (1 - a * h) ** 2
    if (r >= 1).any():
        return None
    floor = a**2 * h / (batch_size * (1 - r))
    weight = h / h.sum()                       # each coordinate's share of the initial loss
    start = weight * (1 - floor)               # L(t) = Σ weight·floor + Σ start·rᵗ
    if (weight * floor).sum() > target:
        return None
    above = start > 0                          # coordinates that start above their noise floor

    def loss(t: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return (weight * floor).sum() + (start[keep][None, :] * r[keep][None, :] ** t[:, None]).sum(axis=1)

    below_part = float(-start[~above].sum())   # at most this much is still to come back up
    # L(t) lies between upper(t) = the above-floor part alone and upper(t) − below_part; both fall with t
    first = _first_at_most(lambda t: loss(t, above) - below_part, target, max_steps)
    last = _first_at_most(lambda t: loss(t, above), target, max_steps)
    if last is None:
        return None
    for chunk_start in range(first, last + 1, 4096):   # the first crossing of L itself lies in [first, last]
        t = np.arange(chunk_start, min(chunk_start + 4096, last + 1))
        hits = np.nonzero(loss(t, np.ones_like(above)) <= target)[0]
        if hits.size:
            return int(t[hits[0]])
    return last


def _first_at_most(curve, target: float, max_steps: int) -> int | None:
    """The smallest t ≥ 0 with curve(t) ≤ target, for a curve that does not rise; None past max_steps."""
    def value(t: int) -> float:
        return float(curve(np.array([t]))[0])

    if value(0) <= target:
        return 0
    high = 1
    while value(high) > target:
        if high >= max_steps:
            return None
        high = min(2 * high, max_steps)
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if value(middle) > target:
            low = middle
        else:
            high = middle
    return high


@dataclass(frozen=True)
class NQMBest:
    """The fewest steps to the target over a grid of learning rates, the learning rate that gave them, and
    whether it sat at an end of the grid ("smallest", "largest" or None)."""

    steps: int | None
    lr: float | None
    edge: str | None


def nqm_best_steps(batch_size: int, lrs: Sequence[float], *, dim: int = 1000, target: float = 0.01,
                   precondition: float = 0.0, max_steps: int = 10**7) -> NQMBest:
    """Tune the learning rate over ``lrs``: the fewest steps to ``target`` (ties: the smaller lr).

    >>> nqm_best_steps(10**9, [0.1, 0.5, 1.0, 1.9], dim=1, target=0.01)   # no noise, h = 1: lr = 1 is exact
    NQMBest(steps=1, lr=1.0, edge=None)
    """
    if isinstance(lrs, (str, bytes)) or not hasattr(lrs, "__len__") or len(lrs) < 2:
        raise ValueError(f"lrs must be a list of at least 2 learning rates, e.g. [0.1, 0.3, 1.0], got {lrs!r}")
    grid = sorted(check_positive_float("lrs entry", lr) for lr in lrs)
    results = [(nqm_steps_to_target(lr, batch_size, dim=dim, target=target, precondition=precondition,
                                    max_steps=max_steps), lr) for lr in grid]
    reached = [(steps, lr) for steps, lr in results if steps is not None]
    if not reached:
        return NQMBest(None, None, None)
    steps, lr = min(reached)
    k = grid.index(lr)
    return NQMBest(steps, lr, "smallest" if k == 0 else "largest" if k == len(grid) - 1 else None)


def nqm_lr_grid(low: float = 1e-4, high: float = 4.0, count: int = 60) -> list[float]:
    """``count`` learning rates evenly spaced on a log scale from ``low`` to ``high``, to 3 digits.

    >>> nqm_lr_grid(0.01, 1.0, 3)
    [0.01, 0.1, 1.0]
    """
    low, high = check_positive_float("low", low), check_positive_float("high", high)
    count = check_positive_int("count", count)
    if count < 2 or high <= low:
        raise ValueError(f"need count ≥ 2 and high > low for a grid, got low={low}, high={high}, count={count}")
    step = math.log(high / low) / (count - 1)
    return [float(f"{low * math.exp(k * step):.3g}") for k in range(count)]
