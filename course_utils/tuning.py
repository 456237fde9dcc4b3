"""Tune before comparing: the best learning rate of one setting, found inside its grid, over seeds.

"B = 64 is faster than B = 1024" means something only if each side ran at its *own* best learning rate,
and that best was found, not guessed: a best value that sits at the end of the grid may lie beyond it,
and one read off a grid in steps of ×3 is known only to within ×3. ``tune_lr`` measures a setting at
every learning rate of a log grid over several seeds, scores each learning rate by its mean, then

1. **extends** the grid by one of its own steps past an end, while the best sits at that end (at most
   ``max_extend`` times per end; if the best is still at an end, the result says so — never silently);
2. **refines** it, putting the geometric midpoint between the best and each neighbour, until the
   neighbours are within ×``finer`` (×√2 by default) of the best.

A learning rate at which any seed failed (``measure`` gave None, NaN or infinity: diverged, or the
target was never reached) scores as failed and cannot be best. Ties go to the smaller learning rate.

>>> def final_loss(lr, seed):      # gradient descent on ½·4·w², 10 steps from w = 1: best lr is 1/4
...     return 0.5 * 4 * (1 - 4 * lr) ** 20
>>> tuning = tune_lr(final_loss, [0.01, 0.03, 0.1], seeds=2)
>>> tuning.best_lr, tuning.edge     # 0.1 was best, so the grid grew (to 1.11) and was refined
(0.246, None)
>>> print(tuning)
best lr = 0.246 (loss 2.42e-36 ± 0 over 2 seeds; lr 0.01 to 1.11, 9 tried; neighbours within ×1.35)

The spread is the standard deviation over seeds at the best learning rate. Choosing the best of many
learning rates on the same seeds flatters it a little (the winner's luck is counted as skill): to
compare two settings, measure each at its best learning rate on fresh seeds, ``tuning.remeasure(seeds)``,
then ``compare`` them (``verdicts``).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt

from .checks import check_list, check_non_negative_int, check_positive_float, check_positive_int
from .plots import COLORS
from .verdicts import _mean_and_spread

Measure = Callable[[float, int], "float | None"]


@dataclass
class Tuning:
    """A tuned learning rate: every run made, the best learning rate and whether it sat at an end.

    ``runs[lr]`` holds one number per seed (None where that run failed); ``scores[lr]`` their mean (inf:
    a run failed). ``edge`` is None when the best is inside the grid, else "smallest" or "largest".
    """

    measure: Measure
    seeds: list[int]
    runs: dict[float, list[float | None]]
    best_lr: float | None
    edge: str | None
    finer: float
    higher: bool = False
    quantity: str = "value"
    digits: int = 3
    scores: dict[float, float] = field(init=False)

    def __post_init__(self) -> None:
        self.scores = {lr: _score(values, self.higher) for lr, values in self.runs.items()}

    @property
    def means(self) -> dict[float, float]:
        """The mean over seeds at each learning rate (inf where a run failed), in the quantity's own sign."""
        return {lr: -score if self.higher and math.isfinite(score) else score for lr, score in self.scores.items()}

    @property
    def lrs(self) -> list[float]:
        """The learning rates tried, in increasing order."""
        return sorted(self.runs)

    @property
    def best_runs(self) -> list[float]:
        """The runs at the best learning rate, one per seed (empty when every learning rate failed)."""
        return [float(v) for v in self.runs[self.best_lr]] if self.best_lr is not None else []

    @property
    def spacing(self) -> float:
        """How far the best's neighbours are, as a factor (the larger of the two gaps; inf at an end)."""
        if self.best_lr is None or self.edge is not None:
            return math.inf
        lrs = self.lrs
        k = lrs.index(self.best_lr)
        return max(lrs[k] / lrs[k - 1], lrs[k + 1] / lrs[k])

    def remeasure(self, seeds: Sequence[int]) -> list[float | None]:
        """Measure again at the best learning rate, on other seeds (for an unbiased comparison)."""
        if self.best_lr is None:
            raise ValueError("no learning rate worked on every seed, so there is no best one to remeasure; "
                             "try a wider grid of learning rates")
        seeds = _check_seeds(seeds)
        return [_run(self.measure, self.best_lr, s) for s in seeds]

    def __str__(self) -> str:
        lrs, d = self.lrs, self.digits
        tried = f"lr {lrs[0]:.{d}g} to {lrs[-1]:.{d}g}, {len(lrs)} tried"
        if self.best_lr is None:
            return f"no learning rate worked on every seed ({tried})"
        mean, spread = _mean_and_spread(self.best_runs) if len(self.seeds) > 1 else (self.best_runs[0], 0.0)
        head = (f"best lr = {self.best_lr:.{d}g} ({self.quantity} {mean:.{d}g} ± {spread:.{d - 1 if d > 1 else 1}g}"
                f" over {len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}; {tried}")
        if self.edge is not None:
            return head + f"): it is the {self.edge} tried, so the best may lie beyond the grid"
        return head + f"; neighbours within ×{self.spacing:.3g})"

    def plot(self, ax: plt.Axes | None = None, label: str | None = None, color: str | None = None) -> plt.Axes:
        """The mean over seeds against the learning rate (log axis), each seed's run as a dot.

        Failed learning rates are marked with × at the top of the axes. Returns the axes.
        """
        ax = ax if ax is not None else plt.gca()
        color = color or COLORS["blue"]
        means = self.means
        ok = [lr for lr in self.lrs if math.isfinite(means[lr])]
        ax.plot(ok, [means[lr] for lr in ok], "-", color=color, label=label)
        for lr in ok:
            ax.plot([lr] * len(self.runs[lr]), self.runs[lr], ".", color=color, alpha=0.5)
        failed = [lr for lr in self.lrs if not math.isfinite(means[lr])]
        if failed:
            ax.plot(failed, [1.0] * len(failed), "x", color=color, transform=ax.get_xaxis_transform(),
                    clip_on=False)
        if self.best_lr is not None:
            ax.plot([self.best_lr], [means[self.best_lr]], "o", color=color, markerfacecolor="none",
                    markersize=10)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(self.quantity)
        return ax


def _score(values: list[float | None], higher: bool) -> float:
    """The mean over seeds, signed so that lower is better; inf if any run failed."""
    if any(v is None or not math.isfinite(v) for v in values):
        return math.inf
    mean = sum(values) / len(values)
    return -mean if higher else mean


def _run(measure: Measure, lr: float, seed: int) -> float | None:
    value = measure(lr, seed)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"measure(lr, seed) must return a number (or None for a failed run), "
                        f"got {value!r} at lr={lr}, seed={seed}")
    return float(value)


def _check_seeds(seeds: object) -> list[int]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        seeds = list(range(check_positive_int("seeds", seeds)))
    seeds = check_list("seeds", seeds, what="a number of seeds or a list of seeds", example="3 or [0, 1, 2]")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"seeds must be whole numbers ≥ 0, e.g. [0, 1, 2], got {s!r} in {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be different from each other, got {seeds!r}")
    return [int(s) for s in seeds]


def tune_lr(measure: Measure, lrs: Sequence[float], seeds: int | Sequence[int] = 3, *, higher: bool = False,
            finer: float = math.sqrt(2), max_extend: int = 3, max_rounds: int = 6, quantity: str = "loss",
            digits: int = 3) -> Tuning:
    """Find the best learning rate for ``measure(lr, seed)`` inside a log grid; see the module docstring.

    ``measure`` returns the quantity for one run (a final loss, steps to a target; ``higher=True`` for an
    accuracy), or None for a failed run. ``lrs``: the starting grid (at least 2 learning rates, > 0);
    ``seeds``: how many (seeds 0, 1, …) or which. The grid grows past an end at most ``max_extend`` times
    per end and is refined at most ``max_rounds`` times; ``quantity`` and ``digits`` are for printing.

    >>> tune_lr(lambda lr, seed: (lr - 100) ** 2, [0.01, 0.1], seeds=1, max_extend=1).edge
    'largest'
    """
    if not callable(measure):
        raise TypeError(f"measure must be a function measure(lr, seed) -> number, got {measure!r}")
    lrs = check_list("lrs", lrs, what="a list of at least 2 learning rates", example="[0.01, 0.1, 1.0]")
    lrs = sorted({check_positive_float("lrs entry", lr) for lr in lrs})
    if len(lrs) < 2:
        raise ValueError(f"lrs needs at least 2 different learning rates to make a grid, e.g. [0.01, 0.1, 1.0], "
                         f"got {lrs!r}")
    seeds = _check_seeds(seeds)
    finer = check_positive_float("finer", finer, example="1.41 (×√2)")
    if finer <= 1:
        raise ValueError(f"finer must be a factor above 1 (how close the best's neighbours must be), e.g. 1.41, "
                         f"got {finer!r}")
    max_extend = check_non_negative_int("max_extend", max_extend)
    max_rounds = check_non_negative_int("max_rounds", max_rounds)

    runs: dict[float, list[float | None]] = {}

    def measure_all(new_lrs: list[float]) -> None:
        for lr in new_lrs:
            if lr not in runs:
                runs[lr] = [_run(measure, lr, s) for s in seeds]

    def best() -> float | None:
        scores = {lr: _score(runs[lr], higher) for lr in sorted(runs)}
        low = min(scores.values())
        return None if math.isinf(low) else min(lr for lr in scores if scores[lr] == low)

    measure_all(lrs)
    extended = {"smallest": 0, "largest": 0}
    rounds = 0
    while (b := best()) is not None:
        grid = sorted(runs)
        k = grid.index(b)
        if k == 0 and extended["smallest"] < max_extend:
            extended["smallest"] += 1
            measure_all([_round(grid[0] ** 2 / grid[1])])
        elif k == len(grid) - 1 and extended["largest"] < max_extend:
            extended["largest"] += 1
            measure_all([_round(grid[-1] ** 2 / grid[-2])])
        elif 0 < k < len(grid) - 1 and max(b / grid[k - 1], grid[k + 1] / b) > finer * (1 + 1e-9) \
                and rounds < max_rounds:
            rounds += 1
            measure_all([_round(math.sqrt(b * grid[k - 1])), _round(math.sqrt(b * grid[k + 1]))])
        else:
            break
    b = best()
    grid = sorted(runs)
    edge = None if b is None or 0 < grid.index(b) < len(grid) - 1 else \
        ("smallest" if grid.index(b) == 0 else "largest")
    return Tuning(measure=measure, seeds=seeds, runs=runs, best_lr=b, edge=edge, finer=finer, higher=higher,
                  quantity=quantity, digits=digits)


def _round(lr: float) -> float:
    """A new grid point to 3 significant digits, so that printed and stored learning rates agree."""
    return float(f"{lr:.3g}")

