"""save_checkpoint writes atomically, load_checkpoint refuses what it cannot use, resume_training restores all."""
import pickle

import pytest
import torch
from torch import nn

import course_utils.checkpoints as checkpoints
from course_utils.batching import Batches
from course_utils.checkpoints import (REQUIRED_KEYS, CheckpointError, load_checkpoint, resume_training,
                                      save_checkpoint, save_training)
from course_utils.history import History

CPU = torch.device("cpu")


class NotAWeight:
    """An object weights_only=True must refuse to unpickle."""


def parts(seed: int = 0, scheduler: bool = True):
    """A model, its optimizer, a scheduler (or None), batches and a history, as train builds them."""
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5) if scheduler else None
    batches = Batches(torch.randn(10, 3), torch.randint(0, 2, (10,)), batch_size=4, seed=seed)
    return model, optimizer, sched, batches


def trained_parts(seed: int = 0, scheduler: bool = True):
    """parts() after two updates, so that momentum, scheduler and shuffling all have a state."""
    model, optimizer, sched, batches = parts(seed, scheduler)
    for xb, yb in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
        if sched is not None:
            sched.step()
    history = History(epoch_iterations=[3])
    for k, loss in enumerate([0.9, 0.8, 0.7]):
        history.record(loss, lr=0.1, batch_size=4, epoch=1, seconds=float(k))
    history.end_epoch(0.8)
    return model, optimizer, sched, batches, history


CONFIG = {"lr": 0.1, "batch_size": 4, "momentum": 0.9}


def saved_run(path, scheduler: bool = True, epochs_done: int = 1, config=CONFIG):
    model, optimizer, sched, batches, history = trained_parts(scheduler=scheduler)
    save_training(path, epochs_done=epochs_done, config=config, model=model, optimizer=optimizer,
                  scheduler=sched, batches=batches, history=history, device=CPU)
    return model, optimizer, sched, batches, history


# ---- save_checkpoint / load_checkpoint -------------------------------------------------------------------------------

def test_save_then_load_gives_the_state_back_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "deeper" / "still deeper" / "run.pt"        # folders that do not exist yet
    save_checkpoint(path, {"epochs_done": 2, "model": {"w": torch.arange(3.0)}})
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.pt"]
    state = load_checkpoint(path)
    assert state["epochs_done"] == 2 and torch.equal(state["model"]["w"], torch.arange(3.0))
    save_checkpoint(str(path), {"epochs_done": 3, "model": {}})  # a str path, into a folder that exists
    assert load_checkpoint(str(path))["epochs_done"] == 3


def test_a_save_goes_through_a_temporary_file_that_a_failure_removes(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"epochs_done": 1, "model": {}})
    seen = []

    def crash(source, target):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        raise KeyboardInterrupt                           # even a stop button removes the half-written file

    monkeypatch.setattr(checkpoints.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epochs_done": 2, "model": {}})
    assert seen == [["run.pt", "run.pt.tmp"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
    assert load_checkpoint(path)["epochs_done"] == 1          # the old checkpoint is intact


def test_a_save_that_fails_before_the_temporary_file_exists_raises_its_own_error(tmp_path, monkeypatch):
    def refuse(state, target):
        raise pickle.PicklingError("cannot pickle this")

    monkeypatch.setattr(checkpoints.torch, "save", refuse)
    with pytest.raises(pickle.PicklingError, match="cannot pickle this"):
        save_checkpoint(tmp_path / "run.pt", {"epochs_done": 1})
    assert list(tmp_path.iterdir()) == []


def test_load_reads_onto_the_cpu_with_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"epochs_done": 1, "model": {}})
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "load", spy)
    load_checkpoint(path)
    assert calls == [{"map_location": "cpu", "weights_only": True}]


def test_a_file_with_arbitrary_objects_is_refused_unread(tmp_path):
    path = tmp_path / "run.pt"
    torch.save({"epochs_done": 1, "model": NotAWeight()}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"checkpoint='.*run\.pt' exists but cannot be read \(UnpicklingError: "):
        load_checkpoint(path)
    assert path.read_bytes() == before


def test_an_unreadable_file_names_the_path_the_error_and_what_to_do(tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint={str(path)!r} exists but cannot be read (")
    assert message.endswith("). It was left untouched: delete it to start training from scratch, "
                            "or pass another path.")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert path.read_bytes() == b"not a checkpoint"


def test_the_reading_error_is_cut_at_120_characters(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    path.write_bytes(b"x")

    def broken(*args, **kwargs):
        raise OSError("a" * 119 + "bc" + "d" * 50)

    monkeypatch.setattr(checkpoints.torch, "load", broken)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert f"(OSError: {'a' * 119}b). It was left untouched" in str(info.value)


def test_a_file_that_is_not_a_dict_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value) == (f"checkpoint={str(path)!r} is not a course_utils training checkpoint; it was left "
                               "untouched: delete it or pass another path.")


def test_missing_keys_are_all_named(tmp_path):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"config": {}})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)                               # by default: epochs_done and model
    assert str(info.value) == (
        f"checkpoint={str(path)!r} lacks epochs_done, model: it is not a complete course_utils training "
        "checkpoint (or comes from an older version); it was left untouched: delete it to start afresh, or "
        "pass another path.")
    save_checkpoint(path, {"model": {}})
    with pytest.raises(CheckpointError, match=r"lacks epochs_done: it is not"):
        load_checkpoint(path)
    assert load_checkpoint(path, required=("model",)) == {"model": {}}
    assert load_checkpoint(path, required=()) == {"model": {}}


# ---- the GPU random state ---------------------------------------------------------------------------------------------

def test_the_gpu_random_state_of_each_kind_of_device(monkeypatch):
    cuda_state, mps_state = torch.tensor([1], dtype=torch.uint8), torch.tensor([2], dtype=torch.uint8)
    calls = []
    monkeypatch.setattr(checkpoints.torch.cuda, "get_rng_state", lambda device: (calls.append(device), cuda_state)[1])
    monkeypatch.setattr(checkpoints.torch.mps, "get_rng_state", lambda: mps_state)
    monkeypatch.setattr(checkpoints.torch.cuda, "set_rng_state", lambda state, device: calls.append(("cuda", state, device)))
    monkeypatch.setattr(checkpoints.torch.mps, "set_rng_state", lambda state: calls.append(("mps", state)))
    cuda = torch.device("cuda", 1)
    assert checkpoints._gpu_rng_state(cuda) is cuda_state and calls == [cuda]
    assert checkpoints._gpu_rng_state(torch.device("mps")) is mps_state
    assert checkpoints._gpu_rng_state(CPU) is None
    calls.clear()
    checkpoints._set_gpu_rng_state(cuda, cuda_state)
    checkpoints._set_gpu_rng_state(torch.device("mps"), mps_state)
    checkpoints._set_gpu_rng_state(CPU, cuda_state)            # nothing to set on the CPU
    checkpoints._set_gpu_rng_state(cuda, None)                 # saved on the CPU: nothing to set
    assert calls == [("cuda", cuda_state, cuda), ("mps", mps_state)]


# ---- save_training / resume_training --------------------------------------------------------------------------------

def test_save_training_writes_every_required_key(tmp_path):
    path = tmp_path / "run.pt"
    model, optimizer, sched, batches, history = saved_run(path, epochs_done=3)
    state = load_checkpoint(path, required=REQUIRED_KEYS)
    assert set(state) == set(REQUIRED_KEYS) == {"epochs_done", "config", "model", "optimizer", "scheduler",
                                                "batches", "torch_rng", "gpu_rng", "history"}
    assert state["epochs_done"] == 3 and state["config"] == CONFIG and state["gpu_rng"] is None
    assert all(torch.equal(state["model"][k], v) for k, v in model.state_dict().items())
    assert state["scheduler"] == sched.state_dict() and state["scheduler"]["last_epoch"] == 3
    assert state["batches"]["seed"] == 0 and torch.equal(state["batches"]["generator"], batches.generator.get_state())
    assert torch.equal(state["torch_rng"], torch.get_rng_state())
    assert state["history"] == history.to_dict()
    saved_run(path, scheduler=False)
    assert load_checkpoint(path, required=REQUIRED_KEYS)["scheduler"] is None


@pytest.mark.parametrize("scheduler", [True, False])
def test_resume_restores_model_optimizer_scheduler_batches_and_random_state(tmp_path, scheduler):
    path = tmp_path / "run.pt"
    model, optimizer, sched, batches, history = saved_run(path, scheduler=scheduler, epochs_done=2)
    rng = torch.get_rng_state()
    torch.manual_seed(99)                                      # moved on since the save
    fresh_model, fresh_optimizer, fresh_sched, _ = parts(seed=5, scheduler=scheduler)
    fresh_batches = Batches(batches.x, batches.y, batch_size=4, seed=7)
    saved_history, epochs_done = resume_training(path, config=dict(CONFIG), epochs=2, model=fresh_model,
                                                 optimizer=fresh_optimizer, scheduler=fresh_sched,
                                                 batches=fresh_batches, device=CPU)
    assert epochs_done == 2 and saved_history == history.to_dict()
    assert all(torch.equal(a, b) for a, b in zip(fresh_model.parameters(), model.parameters()))
    assert str(fresh_optimizer.state_dict()) == str(optimizer.state_dict())
    if scheduler:
        assert fresh_sched.state_dict() == sched.state_dict()
    assert fresh_batches.seed == 0 and [yb.tolist() for _, yb in fresh_batches] == [yb.tolist() for _, yb in batches]
    assert torch.equal(torch.get_rng_state(), rng)


def test_resume_with_other_settings_names_each_difference(tmp_path):
    path = tmp_path / "run.pt"
    saved_run(path, config={"lr": 0.1, "batch_size": 4, "seed": 0})
    model, optimizer, sched, batches = parts()
    with pytest.raises(CheckpointError) as info:
        resume_training(path, config={"lr": 0.1, "batch_size": 8, "momentum": 0.9}, epochs=2, model=model,
                        optimizer=optimizer, scheduler=sched, batches=batches, device=CPU)
    assert str(info.value) == (
        f"checkpoint={str(path)!r} was made with other settings (batch_size: checkpoint 4, now 8, "
        "momentum: checkpoint None, now 0.9, seed: checkpoint 0, now None); use the same settings to resume, "
        "or another path to start afresh")
    before = [p.detach().clone() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))   # nothing was loaded


def test_resume_with_a_setting_only_the_checkpoint_has_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    saved_run(path, config={"lr": 0.1, "seed": 0})
    model, optimizer, sched, batches = parts()
    with pytest.raises(CheckpointError, match=r"\(seed: checkpoint 0, now None\)"):
        resume_training(path, config={"lr": 0.1}, epochs=2, model=model, optimizer=optimizer, scheduler=sched,
                        batches=batches, device=CPU)


def test_resume_for_as_many_epochs_as_saved_works_and_fewer_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    saved_run(path, epochs_done=3)
    model, optimizer, sched, batches = parts()
    assert resume_training(path, config=CONFIG, epochs=3, model=model, optimizer=optimizer, scheduler=sched,
                           batches=batches, device=CPU)[1] == 3
    with pytest.raises(ValueError) as info:
        resume_training(path, config=CONFIG, epochs=2, model=model, optimizer=optimizer, scheduler=sched,
                        batches=batches, device=CPU)
    assert str(info.value) == f"checkpoint={str(path)!r} already holds 3 epochs; ask for epochs >= 3 (got epochs=2)"


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_resume_refuses_a_checkpoint_that_lacks_a_key(tmp_path, key):
    path = tmp_path / "run.pt"
    saved_run(path)
    state = torch.load(path, weights_only=True)
    del state[key]
    torch.save(state, path)
    model, optimizer, sched, batches = parts()
    with pytest.raises(CheckpointError, match=f"lacks {key}: it is not a complete"):
        resume_training(path, config=CONFIG, epochs=2, model=model, optimizer=optimizer, scheduler=sched,
                        batches=batches, device=CPU)


def test_resume_into_another_model_is_a_checkpoint_error_with_the_cause_cut_at_160(tmp_path):
    path = tmp_path / "run.pt"
    saved_run(path)
    other = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    _, _, sched, batches = parts()
    with pytest.raises(CheckpointError) as info:
        resume_training(path, config=CONFIG, epochs=2, model=other, optimizer=optimizer, scheduler=sched,
                        batches=batches, device=CPU)
    message = str(info.value)
    assert message.startswith(f"checkpoint={str(path)!r} does not fit this model or optimizer (RuntimeError: "
                              "Error(s) in loading state_dict for Linear:")
    cause = message[message.index("(RuntimeError: ") + len("(RuntimeError: "):message.index("); it was left")]
    assert len(cause) == 160
    assert message.endswith("); it was left untouched: pass another path to start afresh")
    assert info.value.__suppress_context__


@pytest.mark.parametrize("broken, error", [
    ("optimizer", "ValueError"),       # a state_dict of another optimizer
    ("scheduler", "TypeError"),        # not a dict
    ("batches", "KeyError"),
    ("torch_rng", "TypeError"),        # not a tensor
])
def test_each_state_that_does_not_fit_is_a_checkpoint_error(tmp_path, broken, error):
    path = tmp_path / "run.pt"
    saved_run(path)
    state = torch.load(path, weights_only=True)
    state[broken] = {"optimizer": {"state": {}, "param_groups": []}, "scheduler": [1], "batches": {},
                     "torch_rng": [1, 2]}[broken]
    torch.save(state, path)
    model, optimizer, sched, batches = parts()
    with pytest.raises(CheckpointError, match=rf"does not fit this model or optimizer \({error}: "):
        resume_training(path, config=CONFIG, epochs=2, model=model, optimizer=optimizer, scheduler=sched,
                        batches=batches, device=CPU)


def test_a_run_on_a_gpu_saves_and_restores_that_gpu_random_state(tmp_path, monkeypatch):
    # No GPU here: stand-ins for torch.cuda's random-state functions record what train would do on one.
    gpu_state = torch.arange(8, dtype=torch.uint8)
    restored = []
    monkeypatch.setattr(checkpoints.torch.cuda, "get_rng_state", lambda device: gpu_state)
    monkeypatch.setattr(checkpoints.torch.cuda, "set_rng_state", lambda state, device: restored.append((state, device)))
    cuda = torch.device("cuda", 0)
    path = tmp_path / "run.pt"
    model, optimizer, sched, batches, history = trained_parts()
    save_training(path, epochs_done=1, config=CONFIG, model=model, optimizer=optimizer, scheduler=sched,
                  batches=batches, history=history, device=cuda)
    assert torch.equal(load_checkpoint(path, required=REQUIRED_KEYS)["gpu_rng"], gpu_state)
    model, optimizer, sched, batches = parts()
    resume_training(path, config=CONFIG, epochs=2, model=model, optimizer=optimizer, scheduler=sched,
                    batches=batches, device=cuda)
    assert len(restored) == 1 and torch.equal(restored[0][0], gpu_state) and restored[0][1] == cuda
