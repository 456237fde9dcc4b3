"""Argument checks shared by the course helpers.

Every public function of ``course_utils`` checks what it is given and fails with a message that
names the argument, the value it got and what would work, for example::

    >>> check_positive_int("batch_size", 0)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be a positive whole number (1, 2, 3, ...), got 0
"""
from __future__ import annotations

import math
import numbers

import torch


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is a whole number ≥ 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number (1, 2, 3, ...), got {value!r} "
                        f"of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive whole number (1, 2, 3, ...), got {value!r}")
    return int(value)


def check_non_negative_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is a whole number ≥ 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number (0, 1, 2, ...), got {value!r} "
                        f"of type {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value!r}")
    return int(value)


def check_positive_float(name: str, value: object, example: str = "0.1") -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number greater than 0 (e.g. {example}), got {value!r} "
                        f"of type {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number greater than 0 (e.g. {example}), got {value!r}")
    return float(value)


def check_non_negative_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number ≥ 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number ≥ 0, got {value!r} of type {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return float(value)


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is True or False, else raise."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_tensor(name: str, value: object) -> torch.Tensor:
    """Return ``value`` if it is a torch tensor with at least one dimension, else raise."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (try torch.as_tensor(...)), "
                        f"got {type(value).__name__}")
    if value.dim() == 0:
        raise ValueError(f"{name} must have a first (sample) dimension, got a 0-d tensor {value!r}")
    return value


def check_finite(name: str, value: torch.Tensor) -> None:
    """Raise if a floating-point tensor holds NaN or infinity (bad data trains to NaN)."""
    if not value.is_floating_point() or bool(torch.isfinite(value.sum())):
        return  # fast path: a finite sum means no NaN and no infinity
    bad = int((~torch.isfinite(value)).sum())  # the sum may also overflow with finite values
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean or drop those samples "
                         "before training (e.g. x[torch.isfinite(x).all(dim=1)])")


def check_module(name: str, value: object):
    """Return ``value`` if it is a ``torch.nn.Module``, else raise."""
    from torch import nn
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module (e.g. nn.Linear(40, 10)), got {type(value).__name__}")
    return value


def check_loss(value: object):
    """Return ``value`` if it is None (the default loss) or a function ``(output, target) -> mean loss``."""
    if value is not None and not callable(value):
        raise TypeError(f"loss must be None or a function (output, target) -> mean loss of the batch, got {value!r}")
    return value


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` (strings), else raise."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value
