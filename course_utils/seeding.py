"""Repeatable random numbers: one call for a notebook, and a private seed for a training run.

    >>> seed_everything(0)
    >>> import torch; torch.rand(1)
    tensor([0.4963])

``seed_everything`` is for *you*: call it at the top of a cell to make what follows repeatable.
``train`` does not call it: a training run seeds only what it owns (its batch order, and the torch
random numbers it draws, e.g. for dropout) inside ``private_torch_seed``, and leaves Python's
``random``, NumPy and torch's global generators as they were — so a random search such as
``lr = 10 ** random.uniform(-3, 0)`` around ``train`` draws a new value every time.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

from .checks import check_non_negative_int


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) with ``seed``."""
    seed = check_non_negative_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def private_torch_seed(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Inside the ``with`` block torch's random numbers (CPU, and ``device`` if it is a GPU) start from
    ``seed``; afterwards they continue exactly as if the block had never run.

    >>> with private_torch_seed(0):
    ...     a = torch.rand(1)
    >>> with private_torch_seed(0):
    ...     b = torch.rand(1)
    >>> bool(a == b)
    True
    """
    seed = check_non_negative_int("seed", seed)
    device = torch.device(device)
    gpus = [device] if device.type in ("cuda", "mps") else []
    with torch.random.fork_rng(devices=gpus, device_type=device.type if gpus else None):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.manual_seed(seed)  # the current CUDA device only; fork_rng restores it
        elif device.type == "mps":
            torch.mps.manual_seed(seed)
        yield


def new_model(make_model, seed: int, device: torch.device | str = "cpu") -> torch.nn.Module:
    """``make_model()`` with torch's random numbers started from ``seed``, moved to ``device``.

    The global random state is left as it was, so every call with the same seed makes the same model.
    Raises if ``make_model`` does not return a model with trainable parameters.

    >>> new_model(lambda: torch.nn.Linear(2, 1), seed=0).weight.shape
    torch.Size([1, 2])
    """
    from .checks import check_trainable
    with private_torch_seed(seed):
        model = make_model()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"make_model must return a torch.nn.Module, it returned {type(model).__name__}")
    check_trainable("the model that make_model returns", model)
    return model.to(device)
