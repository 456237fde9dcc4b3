"""The course's datasets, shipped in the repository's ``data/`` folder and checked before use.

    >>> ds = load_dataset("mnist1d")
    >>> ds.x_train.shape, ds.y_train.shape, ds.n_classes
    (torch.Size([4000, 40]), torch.Size([4000]), 10)

Nothing is downloaded: each file's SHA-256 is compared with ``data/MANIFEST.sha256`` first.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checks import check_choice

DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))
DATASET_NAMES = ("mnist1d", "digits", "regression")

DESCRIPTIONS = {
    "mnist1d": (
        "MNIST-1D (Greydanus & Kobak, 2020): 4000 training and 1000 test samples, each a 1-D signal of "
        "40 numbers made from one of 10 digit-like templates that was shifted, scaled, sheared and "
        "blurred, plus noise. The task is to tell which of the 10 templates (classes 0-9) made the "
        "signal. Small enough to train in seconds on a CPU, hard enough that the model matters: "
        "the authors report test accuracy of about 32% for logistic regression, 68% for an MLP and 94% "
        "for a CNN."),
    "digits": (
        "Optical recognition of handwritten digits (UCI; the copy scikit-learn ships): 1797 images of "
        "8x8 pixels, each pixel a count 0-16, flattened to 64 features; 10 classes (the digits 0-9). "
        "Split here into 1437 training and 360 test images."),
    "regression": (
        "A synthetic house-price problem: 3 features on very different scales (floor area in m², number "
        "of rooms, distance to the centre in metres) and a price that is a linear function of them plus "
        "noise; 800 training and 200 test samples. The spreads of the features differ by a factor of "
        "thousands, so one learning rate cannot suit them all: notebook 01 shows plain gradient descent "
        "on the raw features, then on standardized ones."),
}


class Split(tuple):
    """The ``(x, y)`` pair of one part of a Dataset that also knows its name ("train" or "test").

    >>> data = load_dataset("digits")
    >>> x, y = data.test            # unpacks like any pair
    >>> data.test.name
    'test'
    """

    def __new__(cls, x: torch.Tensor, y: torch.Tensor, name: str) -> "Split":
        split = super().__new__(cls, (x, y))
        split.name = name
        return split

    def __repr__(self) -> str:
        return f"Split({self.name!r}: {len(self[0])} samples)"


class DataFileError(RuntimeError):
    """A shipped data file is missing or does not match its checksum."""


@dataclass(repr=False)
class Dataset:
    """Training and test tensors of one dataset, with its name and a description.

    ``x_*`` are float32 features of shape ``(N, D)``; ``y_*`` are int64 class labels ``(N,)``
    (``n_classes`` set) or float32 regression targets ``(N,)`` (``n_classes`` is None).
    ``data.train`` and ``data.test`` are the two parts as named ``(x, y)`` pairs.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int | None
    description: str

    @property
    def train(self) -> Split:
        """``(x_train, y_train)``, named "train": ``train(model, data.train, ...)``."""
        return Split(self.x_train, self.y_train, "train")

    @property
    def test(self) -> Split:
        """``(x_test, y_test)``, named "test": ``train(..., val_data=data.test)``, ``evaluate(model, data.test)``."""
        return Split(self.x_test, self.y_test, "test")

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def to(self, device: str | torch.device) -> "Dataset":
        """Return a copy whose four tensors live on ``device``."""
        moved = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_test", "y_test")}
        return Dataset(self.name, **moved, n_classes=self.n_classes, description=self.description)

    def __repr__(self) -> str:
        task = f"{self.n_classes} classes" if self.n_classes else "regression"
        return (f"Dataset({self.name!r}: {len(self.x_train)} train / {len(self.x_test)} test samples, "
                f"{self.n_features} features, {task})")


def _restore_hint() -> str:
    return ("restore it with `git checkout -- data/` (or re-clone the repository); "
            "to rebuild it, see data/README.md")


def _read_manifest(data_dir: Path) -> dict[str, str]:
    manifest = data_dir / "MANIFEST.sha256"
    if not manifest.is_file():
        raise DataFileError(f"the checksum manifest {manifest.name} is missing from the data folder; "
                            + _restore_hint())
    sums = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified_path(filename: str, data_dir: Path | None = None) -> Path:
    """Return the path of a shipped data file after checking it against the manifest."""
    data_dir = Path(data_dir or DATA_DIR)
    expected = _read_manifest(data_dir).get(filename)
    if expected is None:
        raise DataFileError(f"data/{filename} is not listed in data/MANIFEST.sha256; " + _restore_hint())
    path = data_dir / filename
    if not path.is_file():
        raise DataFileError(f"data/{filename} is missing; " + _restore_hint())
    actual = sha256_of(path)
    if actual != expected:
        raise DataFileError(f"data/{filename} is corrupted or changed: its SHA-256 is {actual[:12]}..., "
                            f"the manifest says {expected[:12]}...; " + _restore_hint())
    return path


def load_dataset(name: str, device: str | torch.device | None = None) -> Dataset:
    """Load a shipped dataset: "mnist1d", "digits" or "regression".

    Tensors are on the CPU unless ``device`` is given.

    >>> load_dataset("digits")
    Dataset('digits': 1437 train / 360 test samples, 64 features, 10 classes)
    """
    check_choice("name", name, DATASET_NAMES)
    path = verified_path(f"{name}.npz")
    with np.load(path, allow_pickle=False) as arrays:
        parts = {k: torch.from_numpy(np.ascontiguousarray(arrays[k]))
                 for k in ("x_train", "y_train", "x_test", "y_test")}
    classification = name != "regression"
    for k in ("x_train", "x_test"):
        parts[k] = parts[k].float()
    for k in ("y_train", "y_test"):
        parts[k] = parts[k].long() if classification else parts[k].float()
    n_classes = int(parts["y_train"].max()) + 1 if classification else None
    dataset = Dataset(name, **parts, n_classes=n_classes, description=DESCRIPTIONS[name])
    return dataset.to(device) if device is not None else dataset
