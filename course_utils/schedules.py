"""Learning rates that follow the batch size, and learning-rate schedules seen before training.

    >>> scaled_lr(0.1, base_batch_size=16, batch_size=64)                 # linear rule: × 64/16
    0.4
    >>> scaled_lr(0.1, base_batch_size=16, batch_size=64, rule="sqrt")    # square-root rule: × √(64/16)
    0.2
    >>> warm_up = lambda opt: torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> lr_schedule(warm_up, iterations=5, lr=0.1)                        # doctest: +ELLIPSIS
    [0.025, 0.05, 0.075..., 0.1, 0.1]

``lr_schedule`` steps a scheduler exactly as ``train`` does — once per iteration, after the update —
so element ``k`` is the learning rate that iteration ``k`` (counting from 0) uses, as in ``History.lr``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from .checks import check_choice, check_positive_float, check_positive_int

RULES = ("linear", "sqrt", "none")


def scaled_lr(base_lr: float, base_batch_size: int, batch_size: int, rule: str = "linear") -> float:
    """The learning rate for ``batch_size``, from ``base_lr`` tuned at ``base_batch_size``.

    - ``"linear"``: × B/B₀, the linear scaling rule of Goyal et al. 2017 (arXiv:1706.02677), used there
      with a gradual warm-up; it keeps lr/B, and so the SGD noise scale of Smith & Le 2018, fixed.
    - ``"sqrt"``: × √(B/B₀) (Krizhevsky 2014, arXiv:1404.5997; Hoffer et al. 2017, arXiv:1705.08741);
      it keeps lr²/B, and so the covariance of the noise in an SGD update, fixed.
    - ``"none"``: the same learning rate for every batch size.

    A rule gives a starting point, not a tuned value: Shallue et al. 2018 (arXiv:1811.03600) found that no
    one rule holds across all batch sizes, so re-tune near the value it gives.

    >>> scaled_lr(0.1, 16, 64), scaled_lr(0.1, 16, 64, rule="sqrt"), scaled_lr(0.1, 16, 64, rule="none")
    (0.4, 0.2, 0.1)
    """
    base_lr = check_positive_float("base_lr", base_lr)
    base_batch_size = check_positive_int("base_batch_size", base_batch_size)
    batch_size = check_positive_int("batch_size", batch_size)
    check_choice("rule", rule, RULES)
    ratio = batch_size / base_batch_size
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    return base_lr


# Lengths (in iterations) that a scheduler divides by, what each one means, and a value that works
LENGTHS = {"T_max": ("the iterations from the largest learning rate down to the smallest",
                     "CosineAnnealingLR(opt, T_max=iterations) for one half-cosine over the whole run"),
           "step_size": ("the iterations between two drops of the learning rate",
                         "StepLR(opt, step_size=100, gamma=0.5)")}


def check_schedule_lengths(sched: LRScheduler) -> None:
    """Raise if the scheduler was built with a length of 0 iterations, which it would divide by when stepped.

    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> check_schedule_lengths(torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=0))
    Traceback (most recent call last):
    ...
    ValueError: scheduler: CosineAnnealingLR was built with T_max=0, but T_max is the iterations from the largest learning rate down to the smallest and must be at least 1, e.g. CosineAnnealingLR(opt, T_max=iterations) for one half-cosine over the whole run
    """
    for name, (meaning, example) in LENGTHS.items():
        value = getattr(sched, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 1:
            raise ValueError(f"scheduler: {type(sched).__name__} was built with {name}={value}, but {name} is "
                             f"{meaning} and must be at least 1, e.g. {example}")


def lr_schedule(scheduler: Callable[[torch.optim.Optimizer], LRScheduler], iterations: int,
                lr: float = 0.1) -> list[float]:
    """The learning rate at each of ``iterations`` iterations of a scheduler, without training anything.

    ``scheduler`` is a function ``optimizer -> LRScheduler``, the same one ``train(..., scheduler=...)``
    takes. It is given a throwaway SGD optimizer whose learning rate is ``lr`` (what ``train(lr=...)``
    would set) and stepped once per iteration, after the update, as ``train`` steps it. Element ``k`` is
    the learning rate iteration ``k`` (from 0) uses, so the list equals ``History.lr`` of such a run.
    Only the first parameter group's learning rate is read.

    >>> one_cycle = lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    >>> [round(value, 3) for value in lr_schedule(one_cycle, iterations=10)]
    [0.004, 0.052, 0.1, 0.095, 0.081, 0.061, 0.039, 0.019, 0.005, 0.0]
    """
    if not callable(scheduler):
        raise TypeError("scheduler must be a function optimizer -> LRScheduler, e.g. "
                        "lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 0.1, total_iters=100); "
                        f"got {scheduler!r}")
    iterations = check_positive_int("iterations", iterations)
    lr = check_positive_float("lr", lr)
    dummy = torch.nn.Parameter(torch.zeros(1))  # no gradient: optimizer.step() leaves it alone
    optimizer = torch.optim.SGD([dummy], lr=lr)
    sched = scheduler(optimizer)
    if isinstance(sched, ReduceLROnPlateau):
        raise TypeError("scheduler returned a ReduceLROnPlateau, whose learning rate depends on the "
                        "validation loss of a real run, so it cannot be listed in advance; pass a "
                        "scheduler that follows a fixed plan (LinearLR, CosineAnnealingLR, OneCycleLR, ...)")
    if not isinstance(sched, LRScheduler):
        raise TypeError("scheduler must return a torch.optim.lr_scheduler.LRScheduler built on the optimizer "
                        "it is given, e.g. lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 0.1, "
                        f"total_iters=100); it returned {type(sched).__name__}")
    if sched.optimizer is not optimizer:
        raise ValueError("scheduler must build its LRScheduler on the optimizer it is given (lambda opt: "
                         "SomeLR(opt, ...)), not on another optimizer")
    check_schedule_lengths(sched)
    lrs = []
    for k in range(iterations):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()  # first, as in training: stepping a scheduler before its optimizer warns
        try:
            sched.step()
        except ZeroDivisionError:  # a length of 0 that check_schedule_lengths does not know by name
            raise ValueError(f"scheduler: {type(sched).__name__} divided by zero at iteration {k + 1}: one of the "
                             "lengths it was built with (a number of iterations) is 0; make every length at "
                             "least 1") from None
        except ValueError as exc:
            total = getattr(sched, "total_steps", None)
            if total is None or "total steps" not in str(exc):
                raise
            raise ValueError(
                f"the schedule is shorter than iterations={iterations}: {type(sched).__name__} was built for "
                f"total_steps={total} iterations, and the step after iteration {k + 1} goes past its end. "
                "Build it for the whole run, e.g. OneCycleLR(opt, max_lr=0.1, epochs=E, "
                "steps_per_epoch=iterations_per_epoch(N, B)) with E * iterations_per_epoch(N, B) "
                f"= {iterations}, or ask for iterations <= {total}") from None
    return lrs
