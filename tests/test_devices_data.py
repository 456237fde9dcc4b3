"""Devices, seeding and the shipped data."""
import shutil

import numpy as np
import pytest
import torch

import course_utils as cu
import course_utils.data as data_module


def test_pick_device_defaults_and_forcing(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert cu.pick_device().type == expected
    assert cu.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert cu.pick_device() == torch.device("cpu")


def test_pick_device_explains_bad_requests(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE.*'cuda', 'mps', 'cpu'.*'tpu'"):
        cu.pick_device()
    monkeypatch.delenv("COURSE_DEVICE")
    with pytest.raises(TypeError, match="prefer"):
        cu.pick_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device; available here: .*cpu"):
            cu.pick_device("cuda")


def test_describe_device_is_one_line():
    text = cu.describe_device("cpu")
    assert text.startswith("CPU: ") and "cores" in text and "\n" not in text


def test_seed_everything_repeats_all_generators():
    import random
    cu.seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    cu.seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    with pytest.raises(ValueError, match="seed"):
        cu.seed_everything(-1)


@pytest.mark.parametrize("name,n_train,n_test,features,classes", [
    ("mnist1d", 4000, 1000, 40, 10), ("digits", 1437, 360, 64, 10), ("regression", 800, 200, 3, None)])
def test_load_dataset_shapes_and_types(name, n_train, n_test, features, classes):
    ds = cu.load_dataset(name)
    assert ds.x_train.shape == (n_train, features) and ds.x_test.shape == (n_test, features)
    assert ds.y_train.shape == (n_train,) and ds.y_test.shape == (n_test,)
    assert ds.x_train.dtype == torch.float32
    assert ds.y_train.dtype == (torch.int64 if classes else torch.float32)
    assert ds.n_classes == classes and ds.name == name and len(ds.description) > 80
    if classes:
        assert set(ds.y_train.unique().tolist()) == set(range(classes))
    assert repr(ds).startswith(f"Dataset({name!r}")


def test_load_dataset_moves_to_device_and_rejects_unknown_names():
    assert cu.load_dataset("digits", device="cpu").x_train.device.type == "cpu"
    with pytest.raises(ValueError, match="'mnist1d', 'digits', 'regression'.*'mnist'"):
        cu.load_dataset("mnist")


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    for f in data_module.DATA_DIR.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    monkeypatch.setattr(data_module, "DATA_DIR", tmp_path)
    return tmp_path


def test_corrupted_file_is_refused_with_a_way_to_restore_it(data_copy):
    raw = bytearray((data_copy / "digits.npz").read_bytes())
    raw[100] ^= 0xFF
    (data_copy / "digits.npz").write_bytes(bytes(raw))
    with pytest.raises(cu.DataFileError, match=r"data/digits.npz is corrupted.*git checkout -- data/"):
        cu.load_dataset("digits")


def test_missing_file_is_named(data_copy):
    (data_copy / "mnist1d.npz").unlink()
    with pytest.raises(cu.DataFileError, match=r"data/mnist1d.npz is missing.*git checkout"):
        cu.load_dataset("mnist1d")


def test_missing_manifest_is_named(data_copy):
    (data_copy / "MANIFEST.sha256").unlink()
    with pytest.raises(cu.DataFileError, match="MANIFEST.sha256"):
        cu.load_dataset("regression")


def test_manifest_lists_every_data_file():
    listed = {line.split()[1] for line in (data_module.DATA_DIR / "MANIFEST.sha256").read_text().splitlines()}
    assert listed == {p.name for p in data_module.DATA_DIR.glob("*.npz")} == {
        "mnist1d.npz", "digits.npz", "regression.npz"}
