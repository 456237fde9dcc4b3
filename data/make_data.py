#!/usr/bin/env python3
"""Regenerate the course datasets in data/ byte for byte.

Usage (from anywhere; outputs go next to this script):

    python data/make_data.py

Writes three .npz files, each holding exactly the arrays
``x_train, y_train, x_test, y_test`` (in that order), and rewrites
``MANIFEST.sha256`` in ``sha256sum`` format:

* ``mnist1d.npz``    -- MNIST-1D (Greydanus & Kobak), built locally by the
  ``mnist1d`` package from its templates (no download).
* ``digits.npz``     -- UCI optical digits 8x8, the copy bundled with
  scikit-learn, split 1437 / 360 with a fixed permutation.
* ``regression.npz`` -- synthetic house-price regression, 3 features on very
  different scales.

This is a generator only. Its dependencies (``data/requirements-generate.txt``)
are NOT runtime requirements of the course; install them in a separate
virtual environment. Byte-for-byte identity is only promised with the pinned
versions (and the same zlib), because float results and deflate output can
change between library versions.
"""

from __future__ import annotations

import hashlib
import io
import socket
import sys
import zipfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent
ARRAY_ORDER = ("x_train", "y_train", "x_test", "y_test")
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# Regression ground truth (documented in README.md).
REG_SEED = 2024
REG_N_TRAIN, REG_N_TEST = 800, 200
REG_INTERCEPT = 150.0          # thousands
REG_COEF_AREA = 3.0            # thousands per m^2
REG_COEF_ROOMS = 15.0          # thousands per room
REG_COEF_DISTANCE = -0.008     # thousands per metre (= -8 per km)
REG_NOISE_STD = 25.0           # thousands

# Digits split.
DIGITS_SEED = 0
DIGITS_N_TRAIN = 1437


# --------------------------------------------------------------------------
# Deterministic .npz writer
# --------------------------------------------------------------------------
def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz that ``numpy.load`` reads, with no timestamps in it.

    ``numpy.savez*`` stamp the current time into every zip entry, so the
    archive is assembled by hand: fixed entry order, fixed date, fixed
    permissions, fixed creator system, fixed compression level.
    """
    if tuple(arrays) != ARRAY_ORDER:
        raise ValueError(f"arrays must be exactly {ARRAY_ORDER}, got {tuple(arrays)}")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ARRAY_ORDER:
            buf = io.BytesIO()
            np.lib.format.write_array(
                buf, np.ascontiguousarray(arrays[name]), allow_pickle=False
            )
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # "Unix", whatever OS runs this script
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def no_network():
    """Fail loudly if anything inside tries to open a network connection."""

    def refuse(*_args, **_kwargs):
        raise RuntimeError("make_data.py must not touch the network")

    saved = socket.socket.connect, socket.create_connection
    socket.socket.connect = refuse
    socket.create_connection = refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection = saved


# --------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------
def make_mnist1d() -> dict[str, np.ndarray]:
    # make_dataset builds the data from the 10 templates shipped in the
    # package (seed 42 in the default args); get_dataset() would try to
    # download a pickle, make_dataset() never does.
    from mnist1d.data import get_dataset_args, make_dataset

    with no_network():
        d = make_dataset(get_dataset_args())
    out = {
        "x_train": np.asarray(d["x"], dtype=np.float32),
        "y_train": np.asarray(d["y"], dtype=np.int64),
        "x_test": np.asarray(d["x_test"], dtype=np.float32),
        "y_test": np.asarray(d["y_test"], dtype=np.int64),
    }
    assert out["x_train"].shape == (4000, 40) and out["x_test"].shape == (1000, 40)
    assert out["y_train"].shape == (4000,) and out["y_test"].shape == (1000,)
    assert set(np.unique(out["y_train"])) == set(range(10))
    return out


def make_digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    with no_network():
        bunch = load_digits()  # bundled with scikit-learn, no download
    x, y = bunch.data, bunch.target
    assert x.shape == (1797, 64) and y.shape == (1797,)
    x_u8 = x.astype(np.uint8)
    assert np.array_equal(x_u8, x), "digits pixels are not integers in 0..16"
    assert x_u8.min() == 0 and x_u8.max() == 16

    perm = np.random.default_rng(DIGITS_SEED).permutation(len(y))
    tr, te = perm[:DIGITS_N_TRAIN], perm[DIGITS_N_TRAIN:]
    return {
        "x_train": x_u8[tr],
        "y_train": y[tr].astype(np.int64),
        "x_test": x_u8[te],
        "y_test": y[te].astype(np.int64),
    }


def make_regression() -> dict[str, np.ndarray]:
    """House-price-like linear regression with badly scaled features.

    Columns of x: floor area [m^2], number of rooms, distance to the city
    centre [m]. Target: price in thousands.
    """
    rng = np.random.default_rng(REG_SEED)
    n = REG_N_TRAIN + REG_N_TEST

    area = rng.uniform(40.0, 250.0, size=n)
    # Bigger flats tend to have more rooms: roughly one room per 40 m^2.
    rooms = np.clip(np.rint(area / 40.0 + rng.normal(0.0, 0.7, size=n)), 1, 7)
    distance = rng.uniform(200.0, 20000.0, size=n)
    noise = rng.normal(0.0, REG_NOISE_STD, size=n)

    x = np.stack([area, rooms, distance], axis=1).astype(np.float32)
    # The linear law is applied to the stored float32 features (in float64),
    # so it holds exactly for the data a student sees, up to the noise.
    xf = x.astype(np.float64)
    price = (
        REG_INTERCEPT
        + REG_COEF_AREA * xf[:, 0]
        + REG_COEF_ROOMS * xf[:, 1]
        + REG_COEF_DISTANCE * xf[:, 2]
        + noise
    )
    y = price.astype(np.float32)

    return {
        "x_train": x[:REG_N_TRAIN],
        "y_train": y[:REG_N_TRAIN],
        "x_test": x[REG_N_TRAIN:],
        "y_test": y[REG_N_TRAIN:],
    }


DATASETS = {
    "mnist1d.npz": make_mnist1d,
    "digits.npz": make_digits,
    "regression.npz": make_regression,
}


# --------------------------------------------------------------------------
# Version check and main
# --------------------------------------------------------------------------
def check_versions() -> None:
    """Warn (do not fail) when installed versions differ from the pins."""
    req = DATA_DIR / "requirements-generate.txt"
    if not req.exists():
        return
    for line in req.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" not in line:
            continue
        name, want = (s.strip() for s in line.split("==", 1))
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have != want:
            print(
                f"warning: {name} {have} installed, {want} pinned; "
                "output may not match MANIFEST.sha256 byte for byte",
                file=sys.stderr,
            )


def main() -> int:
    check_versions()
    hashes = {}
    for fname, build in DATASETS.items():
        arrays = build()
        path = DATA_DIR / fname
        write_npz(path, arrays)

        # Read it back and compare with what was meant to be written.
        with np.load(path, allow_pickle=False) as z:
            assert list(z.files) == list(ARRAY_ORDER), z.files
            for k in ARRAY_ORDER:
                assert z[k].dtype == arrays[k].dtype and np.array_equal(z[k], arrays[k])

        hashes[fname] = sha256_of(path)
        desc = ", ".join(f"{k} {arrays[k].shape} {arrays[k].dtype}" for k in ARRAY_ORDER)
        print(f"{fname}: {path.stat().st_size} bytes  sha256 {hashes[fname]}\n  {desc}")

    manifest = "".join(f"{hashes[f]}  {f}\n" for f in sorted(hashes))
    (DATA_DIR / "MANIFEST.sha256").write_text(manifest, encoding="ascii", newline="\n")
    print("wrote MANIFEST.sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main())
