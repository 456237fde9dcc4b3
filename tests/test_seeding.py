"""seed_everything, private_torch_seed and new_model: repeatable numbers, and the global state left alone.

The GPU branch of ``private_torch_seed`` is checked here with torch's ``fork_rng`` and the CUDA / MPS
seeding functions replaced by recorders (this machine has no GPU); tests/test_gpu.py runs the real thing.
"""
import contextlib
import random

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.seeding import new_model, private_torch_seed, seed_everything


def draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_seeds_python_numpy_and_torch_each_with_the_seed():
    seed_everything(123)
    got = draws()
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    assert got == draws()


def test_seed_everything_takes_seeds_beyond_numpys_range_modulo_2_to_the_32():
    seed_everything(2**32 + 5)
    got = draws()
    random.seed(2**32 + 5)
    np.random.seed(5)
    torch.manual_seed(2**32 + 5)
    assert got == draws()
    seed_everything(100)               # below 2**32 the seed is NumPy's as it is
    first = float(np.random.rand())
    np.random.seed(100)
    assert first == float(np.random.rand())


def test_seed_everything_checks_the_seed():
    with pytest.raises(ValueError, match=r"^seed must be 0 or more, got -1$"):
        seed_everything(-1)
    with pytest.raises(TypeError, match=r"^seed must be a whole number"):
        seed_everything(1.5)


def test_private_torch_seed_repeats_inside_and_leaves_the_global_state_as_it_was():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    with private_torch_seed(7):
        inside = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(7)
    assert torch.equal(inside, torch.rand(3))
    with private_torch_seed(7, "cpu"):
        assert torch.equal(torch.rand(3), inside)
    with private_torch_seed(8, torch.device("cpu")):
        assert not torch.equal(torch.rand(3), inside)
    with pytest.raises(ValueError, match=r"^seed must be 0 or more, got -2$"):
        with private_torch_seed(-2):
            pass


@pytest.fixture
def recorded(monkeypatch):
    """What private_torch_seed asks of torch's fork_rng and of the CUDA / MPS seeding functions."""
    calls = []

    @contextlib.contextmanager
    def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type="cuda"):
        calls.append(("fork_rng", list(devices), device_type))
        state = torch.get_rng_state()
        try:
            yield
        finally:
            torch.set_rng_state(state)

    monkeypatch.setattr(torch.random, "fork_rng", fork_rng)
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(("cuda", seed)))
    monkeypatch.setattr(torch.mps, "manual_seed", lambda seed: calls.append(("mps", seed)))
    return calls


def test_private_torch_seed_on_the_cpu_forks_only_the_cpu_generator(recorded):
    with private_torch_seed(3):
        pass
    with private_torch_seed(3, "meta"):     # not a GPU: nothing of it to fork or seed
        pass
    assert recorded == [("fork_rng", [], None), ("fork_rng", [], None)]


@pytest.mark.parametrize("kind", ["cuda", "mps"])
def test_private_torch_seed_forks_and_seeds_the_gpu_too(recorded, kind):
    torch.manual_seed(0)
    state = torch.get_rng_state()
    recorded.clear()                      # torch.manual_seed seeds the GPUs too (here: the recorders)
    with private_torch_seed(11, f"{kind}:0"):
        inside = torch.rand(2)
    assert recorded == [("fork_rng", [torch.device(f"{kind}:0")], kind), (kind, 11)]
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(11)
    assert torch.equal(inside, torch.rand(2))


def test_new_model_is_the_same_for_the_same_seed_and_leaves_the_global_state_alone():
    state = torch.get_rng_state()
    a = new_model(lambda: nn.Linear(3, 2), seed=4)
    b = new_model(lambda: nn.Linear(3, 2), 4)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.weight, b.weight) and a.weight.device.type == "cpu"
    torch.manual_seed(4)
    assert torch.equal(a.weight, nn.Linear(3, 2).weight)
    assert not torch.equal(new_model(lambda: nn.Linear(3, 2), seed=5).weight, a.weight)


def test_new_model_moves_the_model_to_the_device():
    model = new_model(lambda: nn.Linear(3, 2), 0, "meta")   # "meta": a device without memory, on any machine
    assert model.weight.device.type == "meta"
    model = new_model(lambda: nn.Linear(3, 2), 0, torch.device("meta"))
    assert model.bias.device == torch.device("meta")


def test_new_model_refuses_what_is_not_a_trainable_model():
    with pytest.raises(TypeError, match=r"^make_model must return a torch.nn.Module, it returned str$"):
        new_model(lambda: "model", 0)
    with pytest.raises(ValueError, match=r"^the model that make_model returns has no trainable parameters"):
        new_model(lambda: nn.ReLU(), 0)
    with pytest.raises(ValueError, match=r"^seed must be 0 or more, got -1$"):
        new_model(lambda: nn.Linear(1, 1), -1)
