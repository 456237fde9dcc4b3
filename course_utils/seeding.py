"""One call that makes random numbers repeatable: Python, NumPy and PyTorch.

    >>> seed_everything(0)
    >>> import torch; torch.rand(1)
    tensor([0.4963])
"""
from __future__ import annotations

import random

import numpy as np
import torch

from .checks import check_non_negative_int


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) with ``seed``."""
    seed = check_non_negative_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
