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


# ---- devices: which one is picked, said how -------------------------------------------------------------------
# The GPU paths are checked on any machine by telling torch that a CUDA or MPS device is there (the choice
# only builds torch.device objects, which needs no GPU); tests/test_gpu.py runs them on a real one.

import importlib  # noqa: E402

devices_module = importlib.import_module("course_utils.devices")


@pytest.fixture
def gpus(monkeypatch):
    """Pretend which GPUs exist: gpus("cuda"), gpus("mps"), gpus("cuda", "mps"), gpus() for none."""
    monkeypatch.delenv("COURSE_DEVICE", raising=False)

    def pretend(*kinds):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: "cuda" in kinds)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: "mps" in kinds)
    pretend()
    return pretend


def test_pick_device_prefers_cuda_then_mps_then_cpu(gpus):
    gpus("cuda", "mps")
    assert cu.pick_device() == torch.device("cuda")
    gpus("mps")
    assert cu.pick_device() == torch.device("mps")
    assert cu.pick_device("cpu") == torch.device("cpu")
    gpus()
    assert cu.pick_device() == torch.device("cpu")
    assert cu.pick_device(torch.device("cpu")) == torch.device("cpu")
    assert cu.pick_device("cpu:0") == torch.device("cpu", 0)
    gpus("cuda")
    assert cu.pick_device("cuda:1") == torch.device("cuda", 1)


def test_an_explicit_choice_wins_over_course_device(gpus, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "mps")          # not there: only asking for it would fail
    assert cu.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", " CPU ")         # spaces and capitals are forgiven
    assert cu.pick_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "")              # empty: as if unset
    gpus("mps")
    assert cu.pick_device() == torch.device("mps")


def test_pick_device_calls_its_argument_prefer_in_messages(gpus):
    with pytest.raises(ValueError) as info:
        cu.pick_device("tpu")
    assert str(info.value) == "prefer must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 'tpu'"


def test_choose_device_messages(gpus, monkeypatch):
    with pytest.raises(ValueError) as info:
        devices_module.choose_device("device", "tpu")
    assert str(info.value) == "device must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 'tpu'"
    with pytest.raises(TypeError) as info:
        devices_module.choose_device("device", 0)
    assert str(info.value) == "device must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 0"
    gpus("mps")
    with pytest.raises(ValueError) as info:
        devices_module.choose_device("device", "cuda:0")
    assert str(info.value) == ("device asks for 'cuda:0', but this machine has no CUDA device; "
                               "available here: mps, cpu")
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    with pytest.raises(ValueError) as info:
        devices_module.choose_device("device", None)
    assert str(info.value) == "the environment variable COURSE_DEVICE must be one of 'cuda', 'mps', 'cpu', got 'gpu'"
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError) as info:
        devices_module.choose_device("device", None)
    assert str(info.value) == ("the environment variable COURSE_DEVICE asks for 'cuda', but this machine has no CUDA "
                               "device; available here: mps, cpu")


def test_accelerator_memory_asks_torch_for_a_gpu_and_never_for_the_cpu(monkeypatch):
    asked = []
    monkeypatch.setattr(torch.accelerator, "get_memory_info", lambda d: asked.append(d) or [3, 8], raising=False)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d: asked.append(d) or (5, 9))
    assert devices_module.accelerator_memory(torch.device("cpu")) is None and asked == []
    assert devices_module.accelerator_memory(torch.device("cuda", 1)) == (3, 8)
    assert asked == [torch.device("cuda", 1)]
    monkeypatch.delattr(torch.accelerator, "get_memory_info")   # an older torch: CUDA's own call
    assert devices_module.accelerator_memory(torch.device("cuda", 2)) == (5, 9)
    assert asked == [torch.device("cuda", 1), torch.device("cuda", 2)]
    assert devices_module.accelerator_memory(torch.device("mps")) is None     # ... and nothing for the others
    for error in (RuntimeError("no device"), ValueError("unsupported")):
        def fail(d, error=error):
            raise error
        monkeypatch.setattr(torch.accelerator, "get_memory_info", fail, raising=False)
        assert devices_module.accelerator_memory(torch.device("cuda")) is None


def test_free_device_memory_empties_the_cache_of_a_gpu_only(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.accelerator, "empty_cache", lambda: emptied.append(True))
    devices_module.free_device_memory(torch.device("cpu"))
    assert emptied == []
    devices_module.free_device_memory(torch.device("meta"))
    assert emptied == [True]


def test_system_memory_is_pages_times_page_size_in_gib(monkeypatch):
    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 3 * 2**18}
    monkeypatch.setattr(devices_module.os, "sysconf", lambda name: sizes[name])
    assert devices_module._system_memory_gib() == 3.0
    for error in (ValueError, OSError, AttributeError):
        def fail(name, error=error):
            raise error(name)
        monkeypatch.setattr(devices_module.os, "sysconf", fail)
        assert devices_module._system_memory_gib() is None


@pytest.fixture
def machine(gpus, monkeypatch):
    """A 4-core machine with 16 GiB and 1 PyTorch thread, GPUs as ``gpus(...)`` says."""
    monkeypatch.setattr(devices_module, "_system_memory_gib", lambda: 16.0)
    monkeypatch.setattr(devices_module.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    return gpus


def test_describe_device_on_the_cpu(machine, monkeypatch):
    assert cu.describe_device("cpu") == ("CPU: 4 cores, 16.0 GiB memory, 1 PyTorch thread (no CUDA or MPS GPU "
                                         "found, so the course trains on the CPU)")
    assert cu.describe_device() == cu.describe_device("cpu")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(devices_module, "_system_memory_gib", lambda: None)
    machine("mps")
    assert cu.describe_device("cpu") == "CPU: 4 cores, 2 PyTorch threads (a GPU is present but CPU was asked for)"
    machine("cuda")
    assert cu.describe_device("cpu").endswith(" (a GPU is present but CPU was asked for)")
    with pytest.raises(ValueError, match=r"^device must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 'tpu'$"):
        cu.describe_device("tpu")


def test_describe_device_on_a_gpu(machine, monkeypatch):
    class Properties:
        name = "Tensor Card 9000"
        total_memory = 24 * 2**30
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: asked.append(d) or Properties())
    machine("cuda")
    assert cu.describe_device() == "CUDA GPU: Tensor Card 9000, 24.0 GiB memory"
    assert asked == [torch.device("cuda")]
    machine("mps")
    assert cu.describe_device("mps") == "Apple MPS GPU, sharing 16.0 GiB memory with the CPU"
    monkeypatch.setattr(devices_module, "_system_memory_gib", lambda: None)
    assert cu.describe_device("mps") == "Apple MPS GPU"


@pytest.fixture
def threads(monkeypatch):
    """torch's thread count, restored afterwards; COURSE_THREADS unset."""
    before = torch.get_num_threads()
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    yield
    torch.set_num_threads(before)


def test_use_cpu_threads_sets_the_number_asked_for_or_the_default_1(threads, monkeypatch):
    assert cu.use_cpu_threads(2) == 2 and torch.get_num_threads() == 2
    assert cu.use_cpu_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("COURSE_THREADS", " 2 ")
    assert cu.use_cpu_threads() == 2 and torch.get_num_threads() == 2
    assert cu.use_cpu_threads(1) == 1 and torch.get_num_threads() == 1     # an argument wins
    monkeypatch.setenv("COURSE_THREADS", "")
    assert cu.use_cpu_threads() == 1


def test_use_cpu_threads_messages(threads, monkeypatch):
    with pytest.raises(ValueError, match=r"^threads must be a positive whole number \(1, 2, 3, ...\), got 0$"):
        cu.use_cpu_threads(0)
    monkeypatch.setenv("COURSE_THREADS", "four")
    with pytest.raises(ValueError) as info:
        cu.use_cpu_threads()
    assert str(info.value) == "the environment variable COURSE_THREADS must be a whole number such as 1 or 4, got 'four'"
    assert info.value.__suppress_context__
    monkeypatch.setenv("COURSE_THREADS", "0")
    with pytest.raises(ValueError) as info:
        cu.use_cpu_threads()
    assert str(info.value) == ("the environment variable COURSE_THREADS must be a positive whole number "
                               "(1, 2, 3, ...), got 0")


# ---- data: the Dataset object, the manifest, the checksums ------------------------------------------------------

def test_dataset_parts_are_named_pairs_and_repr_says_what_it_holds():
    ds = cu.load_dataset("digits")
    x, y = ds.train
    assert x is ds.x_train and y is ds.y_train and ds.train.name == "train"
    x, y = ds.test
    assert x is ds.x_test and y is ds.y_test and ds.test.name == "test"
    assert repr(ds.test) == "Split('test': 360 samples)"
    assert ds.n_features == 64
    assert repr(ds) == "Dataset('digits': 1437 train / 360 test samples, 64 features, 10 classes)"
    assert repr(cu.load_dataset("regression")) == ("Dataset('regression': 800 train / 200 test samples, 3 features, "
                                                   "regression)")
    assert cu.load_dataset("mnist1d").n_classes == 10


def test_dataset_to_moves_all_four_tensors_and_keeps_the_rest():
    ds = cu.load_dataset("regression")
    moved = ds.to("meta")                          # a device without memory, on any machine
    assert {getattr(moved, k).device.type for k in ("x_train", "y_train", "x_test", "y_test")} == {"meta"}
    assert (moved.name, moved.n_classes, moved.description) == ("regression", None, ds.description)
    assert moved.x_train.shape == ds.x_train.shape and moved.y_test.dtype == torch.float32
    digits = cu.load_dataset("digits", device="meta")
    assert digits.x_test.device.type == "meta" and digits.n_classes == 10 and digits.name == "digits"
    assert cu.load_dataset("digits", device=None).x_test.device.type == "cpu"
    assert cu.load_dataset("digits").n_classes == 10


def test_load_dataset_names_the_choices():
    with pytest.raises(ValueError) as info:
        cu.load_dataset("MNIST1D")
    assert str(info.value) == "name must be one of 'mnist1d', 'digits', 'regression', got 'MNIST1D'"


HINT = "restore it with `git checkout -- data/` (or re-clone the repository); to rebuild it, see data/README.md"


def test_data_file_errors_say_what_is_wrong_and_how_to_restore(data_copy):
    digest = data_module.sha256_of(data_copy / "digits.npz")
    raw = bytearray((data_copy / "digits.npz").read_bytes())
    raw[100] ^= 0xFF
    (data_copy / "digits.npz").write_bytes(bytes(raw))
    actual = data_module.sha256_of(data_copy / "digits.npz")
    with pytest.raises(cu.DataFileError) as info:
        cu.load_dataset("digits")
    assert str(info.value) == (f"data/digits.npz is corrupted or changed: its SHA-256 is {actual[:12]}..., the "
                               f"manifest says {digest[:12]}...; " + HINT)
    (data_copy / "mnist1d.npz").unlink()
    with pytest.raises(cu.DataFileError) as info:
        cu.load_dataset("mnist1d")
    assert str(info.value) == "data/mnist1d.npz is missing; " + HINT
    with pytest.raises(cu.DataFileError) as info:
        data_module.verified_path("other.npz")
    assert str(info.value) == "data/other.npz is not listed in data/MANIFEST.sha256; " + HINT
    (data_copy / "MANIFEST.sha256").unlink()
    with pytest.raises(cu.DataFileError) as info:
        cu.load_dataset("regression")
    assert str(info.value) == "the checksum manifest MANIFEST.sha256 is missing from the data folder; " + HINT


def test_sha256_of_a_known_file(tmp_path):
    (tmp_path / "abc.txt").write_bytes(b"abc")
    assert data_module.sha256_of(tmp_path / "abc.txt") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")   # FIPS 180-2's example
    assert data_module.sha256_of(str(tmp_path / "abc.txt")).startswith("ba7816bf")


def test_verified_path_reads_the_manifest_of_the_folder_it_is_given(tmp_path):
    (tmp_path / "my data.bin").write_bytes(b"abc")
    (tmp_path / "Xray.bin").write_bytes(b"xyz")
    abc, xyz = data_module.sha256_of(tmp_path / "my data.bin"), data_module.sha256_of(tmp_path / "Xray.bin")
    # sha256sum's format: "<digest>  <name>", or "<digest> *<name>" in binary mode; blank lines are ignored
    (tmp_path / "MANIFEST.sha256").write_text(f"{abc}  my data.bin\n\n{xyz} *Xray.bin\n")
    assert data_module.verified_path("my data.bin", tmp_path) == tmp_path / "my data.bin"
    assert data_module.verified_path("Xray.bin", data_dir=str(tmp_path)) == tmp_path / "Xray.bin"
    with pytest.raises(cu.DataFileError, match="^data/digits.npz is not listed"):
        data_module.verified_path("digits.npz", tmp_path)
    assert data_module.verified_path("digits.npz") == data_module.DATA_DIR / "digits.npz"   # default folder


def test_a_data_file_holding_pickled_objects_is_refused_even_with_a_matching_checksum(data_copy):
    # Loading a pickle can run code: the arrays are read with allow_pickle=False, so a replaced file (and a
    # manifest updated to match it) cannot smuggle objects in.
    arrays = {k: np.zeros((2, 2)) for k in ("x_train", "x_test")}
    arrays.update(y_train=np.array([{"not": "a label"}, 1], dtype=object), y_test=np.zeros(2, dtype=np.int64))
    np.savez(data_copy / "digits.npz", **arrays)
    manifest = data_copy / "MANIFEST.sha256"
    lines = [line for line in manifest.read_text().splitlines() if not line.endswith("digits.npz")]
    manifest.write_text("\n".join(lines + [f"{data_module.sha256_of(data_copy / 'digits.npz')}  digits.npz"]) + "\n")
    with pytest.raises(ValueError, match="allow_pickle=False"):
        cu.load_dataset("digits")
