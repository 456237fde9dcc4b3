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
from collections.abc import Callable, Sequence

import numpy as np
import torch

BatchSizes = Sequence[int] | np.ndarray | torch.Tensor  # e.g. [1, 4, 16], range(1, 5), np.array([8, 64])


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


def check_list(name: str, values: object, what: str, example: str) -> list:
    """Return ``values`` as a list if it is a non-empty list, tuple, range or 1-D NumPy array / torch tensor.

    ``what`` and ``example`` say in the error message what the list should hold.

    >>> check_list("steps", np.array([900, 300]), what="a list of step counts", example="[900, 300]")
    [900, 300]
    """
    if isinstance(values, (np.ndarray, torch.Tensor)):
        if values.ndim != 1:
            raise ValueError(f"{name} must be {what}, one number per entry (e.g. {example}), got an array of "
                             f"shape {tuple(values.shape)}")
        values = values.tolist()  # Python numbers: 1-D integer arrays give ints
    elif isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be {what}, e.g. {example}, got {values!r}")
    if len(values) == 0:
        raise TypeError(f"{name} must be {what}, e.g. {example}, got an empty one")
    return list(values)


def check_batch_sizes(name: str, values: object, at_most: int | None = None) -> list[int]:
    """Return the batch sizes in ``values`` sorted, each once; raise unless all are whole numbers ≥ 1.

    ``values`` may be a list, tuple, range, or 1-D NumPy array / torch tensor of integers; with ``at_most``
    every batch size must also be at most that (the number of samples).

    >>> check_batch_sizes("batch_sizes", np.array([64, 4, 16, 4]))
    [4, 16, 64]
    """
    if isinstance(values, np.ndarray):
        whole = np.issubdtype(values.dtype, np.integer)
    elif isinstance(values, torch.Tensor):
        whole = not (values.is_floating_point() or values.is_complex() or values.dtype == torch.bool)
    else:
        whole = True  # a list: check_positive_int checks each entry below
    if not whole and values.ndim == 1 and len(values):
        raise TypeError(f"{name} must hold whole numbers, got an array of {values.dtype} {values.tolist()!r}; "
                        "convert it, e.g. np.array([1, 4, 16]) or sizes.astype(int)")
    values = check_list(name, values, what="a non-empty list of whole numbers", example="[1, 4, 16]")
    sizes = sorted({check_positive_int(f"{name} entry", b) for b in values})
    if at_most is not None and sizes[-1] > at_most:
        raise ValueError(f"{name} must be between 1 and the number of samples N = {at_most}, "
                         f"got {[b for b in sizes if b > at_most]} in {name}={values!r}")
    return sizes


def check_make_model(value: object) -> Callable:
    """Return ``value`` if it is a function that makes a model (not a model itself), else raise."""
    from torch import nn
    if not callable(value) or isinstance(value, nn.Module):
        raise TypeError("make_model must be a function that returns a new model, e.g. "
                        f"lambda: nn.Linear(40, 10), got {value!r}")
    return value


def check_trainable(name: str, model) -> dict[str, torch.Tensor]:
    """Return the parameters of ``model`` that train (``requires_grad``), by name; raise if there are none.

    >>> list(check_trainable("model", torch.nn.Linear(2, 1)))
    ['weight', 'bias']
    """
    params = {key: p for key, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError(f"{name} has no trainable parameters (none with requires_grad=True), so there is "
                         "nothing to train and no gradient to take; use a model with parameters, e.g. "
                         f"nn.Linear(40, 10), or unfreeze them with p.requires_grad_(True); got {model!r}")
    return params


def check_features(name: str, x: torch.Tensor, model) -> None:
    """Raise unless the features ``x`` are floating-point numbers of the same type as the model's parameters.

    Integers (e.g. ``torch.int64`` read from a file) and float64 data for a float32 model both fail inside
    the first layer with a message about matrices; this says which tensor to convert. Models with an
    ``nn.Embedding`` take integer ids and are left alone.

    >>> check_features("x", torch.tensor([[1, 2]]), torch.nn.Linear(2, 1))
    Traceback (most recent call last):
    ...
    TypeError: x holds integers (torch.int64); models need floating-point features: x.float()
    """
    from torch import nn
    if any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in model.modules()):
        return  # these models take integer ids
    if not (x.is_floating_point() or x.is_complex()):
        what = "True/False values" if x.dtype == torch.bool else "integers"
        raise TypeError(f"{name} holds {what} ({x.dtype}); models need floating-point features: x.float()")
    weight = next((p for p in model.parameters() if p.is_floating_point()), None)
    if weight is not None and x.dtype != weight.dtype:
        raise TypeError(f"{name} holds {x.dtype} numbers but the model's parameters are {weight.dtype}: they must "
                        f"be the same type; convert the data with x.to({weight.dtype}) (x.float() for float32), "
                        f"or the model with model.to({x.dtype})")


def check_momentum(value: object) -> float:
    """Return ``value`` as a float if it is a momentum: at least 0 and below 1, else raise."""
    value = check_non_negative_float("momentum", value)
    if value >= 1:
        raise ValueError(f"momentum must be at least 0 and below 1 (e.g. 0.9: each update keeps 90% of the "
                         f"previous one); with {value!r} old updates never fade and training does not settle, "
                         f"got momentum={value!r}")
    return value
