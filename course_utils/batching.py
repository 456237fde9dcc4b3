"""Cutting a dataset into batches, with the same rules as PyTorch's ``DataLoader``.

    >>> iterations_per_epoch(1000, 64)                  # ceil(1000 / 64): the last batch has 40
    16
    >>> iterations_per_epoch(1000, 64, drop_last=True)  # floor(1000 / 64): the 40 are skipped
    15
    >>> x = torch.arange(10.0).reshape(10, 1)
    >>> [len(xb) for xb, yb in Batches(x, x, batch_size=4)]
    [4, 4, 2]

``Batches`` follows the rules of ``DataLoader(TensorDataset(x, y), batch_size, shuffle, drop_last)``:
the same number of batches, the same sizes in the same order, every sample exactly once per epoch
(``drop_last`` aside), a new order each epoch when shuffling, and fresh tensors that you may change
without changing the dataset. What is *not* the same is the order itself: ``DataLoader`` draws its
permutation from its own random stream, ``Batches`` from a generator seeded by ``seed``. It slices whole
tensors instead of collating one sample at a time, so it is much faster.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from .checks import check_bool, check_non_negative_int, check_positive_int, check_tensor


def iterations_per_epoch(n_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches (= iterations, = parameter updates) in one epoch.

    ⌈N / B⌉, or ⌊N / B⌋ with ``drop_last`` — the same as ``len(DataLoader(...))``.
    With ``drop_last=True`` and ``batch_size > n_samples`` the answer is 0: nothing trains.

    >>> iterations_per_epoch(10, 4), iterations_per_epoch(10, 4, drop_last=True)
    (3, 2)
    """
    n_samples = check_non_negative_int("n_samples", n_samples)
    batch_size = check_positive_int("batch_size", batch_size)
    check_bool("drop_last", drop_last)
    return n_samples // batch_size if drop_last else -(-n_samples // batch_size)


def _same(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class Batches:
    """Iterate ``(xb, yb)`` batches of ``x`` and ``y`` — one pass over the data is one epoch.

    The rules of ``DataLoader(TensorDataset(x, y), batch_size, shuffle, drop_last)``: ``len()`` is the
    number of batches, the last one is smaller unless ``drop_last``, every sample comes once per epoch,
    and with ``shuffle`` each new ``for`` loop (each epoch) uses a new random order (drawn from this
    object's own generator: the same ``seed`` gives the same sequence of epochs, but not DataLoader's
    order). Each batch is a new tensor: changing it in place never changes ``x`` or ``y``. Batches stay on
    the device the tensors are on. With ``y=None`` each batch is just ``xb``. ``batch_size`` may be
    changed between epochs (a batch that grows during training).

    >>> x, y = torch.randn(100, 3), torch.randint(0, 2, (100,))
    >>> batches = Batches(x, y, batch_size=32, seed=0)
    >>> len(batches), [len(yb) for _, yb in batches]
    (4, [32, 32, 32, 4])
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 32,
                 shuffle: bool = True, drop_last: bool = False, seed: int | None = None) -> None:
        self.x = check_tensor("x", x)
        if y is not None:
            check_tensor("y", y)
            if len(y) != len(x):
                raise ValueError(f"x and y must have the same number of samples, got len(x)={len(x)} "
                                 f"and len(y)={len(y)}")
            if y.device != x.device:
                raise ValueError(f"x and y must be on the same device, got x on {x.device} and y on {y.device}")
        self.y = y
        self.shuffle = check_bool("shuffle", shuffle)
        self.drop_last = check_bool("drop_last", drop_last)
        self.batch_size = batch_size
        if seed is None:  # follow the global torch seed, as DataLoader does
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.seed = check_non_negative_int("seed", seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def batch_size(self) -> int:
        """Samples per batch (the last batch of an epoch may have fewer)."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        value = check_positive_int("batch_size", value)
        if self.drop_last and value > len(self.x):
            raise ValueError(f"batch_size={value} is larger than the {len(self.x)} samples, so with "
                             f"drop_last=True an epoch has no batch at all; use batch_size <= {len(self.x)} "
                             "or drop_last=False")
        self._batch_size = value

    def __len__(self) -> int:
        return iterations_per_epoch(len(self.x), self.batch_size, self.drop_last)

    def batch_sizes(self) -> list[int]:
        """Sizes of the batches of one epoch, in order.

        >>> Batches(torch.zeros(10, 1), batch_size=4).batch_sizes()
        [4, 4, 2]
        """
        n, b = len(self.x), self.batch_size
        return [min(b, n - start) for start in range(0, len(self) * b, b)]

    def __iter__(self) -> Iterator:
        x, y = self.x, self.y
        if self.shuffle:  # one gather per epoch makes a shuffled copy; every batch is then a slice of it
            order = torch.randperm(len(x), generator=self.generator).to(x.device)
            x = x[order]
            y = y[order] if y is not None else None
            fresh = _same
        else:  # slices of the dataset itself: copy each one, so changing a batch never changes the data
            fresh = torch.clone
        b = self.batch_size
        for start in range(0, len(self) * b, b):
            if y is None:
                yield fresh(x[start:start + b])
            else:
                yield fresh(x[start:start + b]), fresh(y[start:start + b])

    def state_dict(self) -> dict:
        """The random state, so a resumed run shuffles exactly as an uninterrupted one."""
        return {"seed": self.seed, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.seed = state["seed"]
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return (f"Batches({len(self.x)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}: {len(self)} batches per epoch)")
