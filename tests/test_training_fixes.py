"""What train, evaluate and the checkpoints must get right on every device and in a learner's own code.

Each test fails on the version of course_utils before issue 7 ("course_utils on every device").
"""
import gc
import random
import re
import weakref

import numpy as np
import pytest
import torch
from torch import nn

import course_utils as cu
import course_utils.history as history_module
from course_utils import BatchTooLargeError, CheckpointError, evaluate

from test_training import interrupt_at, mlp, quiet, toy_classification


# ---- global random state is the learner's ---------------------------------------------------------------
def test_train_leaves_python_numpy_and_torch_global_random_state_alone():
    x, y = toy_classification(60)
    model = mlp()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    quiet(model, (x, y), epochs=2, seed=0)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected
    # a random search around train draws a new value every trial
    random.seed(0)
    trials = []
    for _ in range(3):
        trials.append(10 ** random.uniform(-3, 0))
        quiet(mlp(), (x, y), epochs=1, lr=trials[-1])
    assert len(set(trials)) == 3


def test_the_seed_still_fixes_dropout_and_batch_order():
    x, y = toy_classification(80)

    def dropout_mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

    a = quiet(dropout_mlp(), (x, y), epochs=2, seed=3)
    torch.rand(5)  # global draws in between must not matter
    b = quiet(dropout_mlp(), (x, y), epochs=2, seed=3)
    assert a.loss == b.loss
    assert quiet(dropout_mlp(), (x, y), epochs=2, seed=4).loss != a.loss


# ---- the data never changes under the learner -----------------------------------------------------------
def test_in_place_layers_do_not_change_the_data():
    x, y = toy_classification(50)
    x_before = x.clone()
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(8, 3))
    evaluate(model, (x, y), batch_size=16)
    assert torch.equal(x, x_before)
    quiet(model, (x, y), epochs=1, shuffle=False)
    quiet(model, (x, y), epochs=1, shuffle=True)
    assert torch.equal(x, x_before)


# ---- optimizer functions and schedulers -------------------------------------------------------------------
def test_an_optimizer_function_may_use_the_parameters_twice():
    model = mlp()
    biases_before = [p.clone() for p in model.parameters() if p.dim() == 1]

    def two_groups(params):
        return torch.optim.SGD([{"params": [p for p in params if p.dim() > 1]},
                                {"params": [p for p in params if p.dim() == 1], "lr": 0.5}], lr=0.1)

    quiet(model, toy_classification(40), epochs=1, optimizer=two_groups)
    biases_after = [p for p in model.parameters() if p.dim() == 1]
    assert all(not torch.equal(a, b) for a, b in zip(biases_before, biases_after))


def test_reduce_lr_on_plateau_gets_a_clear_error():
    with pytest.raises(TypeError, match="ReduceLROnPlateau, which needs a metric"):
        quiet(mlp(), toy_classification(40), scheduler=lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt))


def step_lr(opt):
    return torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)


@pytest.mark.parametrize("first,second,word", [
    ({"scheduler": step_lr}, {}, "scheduler_used"),
    ({}, {"scheduler": step_lr}, "scheduler_used"),
    ({"optimizer": lambda p: torch.optim.SGD(p, lr=0.1)}, {"optimizer": lambda p: torch.optim.Adam(p, lr=0.1)},
     "optimizer_used"),
])
def test_resuming_with_another_scheduler_or_optimizer_function_is_refused(tmp_path, first, second, word):
    path = tmp_path / "run.pt"
    quiet(mlp(), toy_classification(40), epochs=1, checkpoint=path, **first)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=word):
        quiet(mlp(), toy_classification(40), epochs=2, checkpoint=path, **second)
    assert path.read_bytes() == before


# ---- checkpoints ---------------------------------------------------------------------------------------------
def test_checkpoints_are_read_onto_the_cpu(tmp_path, monkeypatch):
    # On a GPU, mapping everything to the device broke Generator.set_state (it needs a CPU ByteTensor).
    path = tmp_path / "run.pt"
    quiet(mlp(), toy_classification(40), epochs=1, checkpoint=path)
    places = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: places.append(k.get("map_location")) or real_load(*a, **k))
    quiet(mlp(), toy_classification(40), epochs=2, checkpoint=path)
    assert places == ["cpu"]


def test_a_checkpoint_with_missing_keys_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "run.pt"
    quiet(mlp(), toy_classification(40), epochs=1, checkpoint=path)
    state = torch.load(path, weights_only=True)
    del state["batches"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="lacks batches"):
        quiet(mlp(), toy_classification(40), epochs=2, checkpoint=path)


def test_a_checkpoint_of_another_model_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "run.pt"
    quiet(mlp(), toy_classification(40), epochs=1, checkpoint=path)
    other = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        quiet(other, toy_classification(40), epochs=2, checkpoint=path)


def test_a_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"

    def broken_save(state, file):
        with open(file, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        quiet(mlp(), toy_classification(40), epochs=1, checkpoint=path)
    assert list(tmp_path.iterdir()) == []


# ---- out of memory ---------------------------------------------------------------------------------------------
class ActivationsThenOutOfMemory(nn.Module):
    """Makes a big activation, keeps a weak reference to it, then fails like a GPU that is full."""

    def __init__(self, limit=16, message=None):
        super().__init__()
        self.layer = nn.Linear(8, 3)
        self.limit, self.message = limit, message
        self.activation = None

    def forward(self, x):
        if len(x) > self.limit:
            big = torch.zeros(len(x), 100_000)
            self.activation = weakref.ref(big)
            if self.message:
                raise RuntimeError(self.message)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.layer(x)


def test_out_of_memory_frees_the_failed_step_before_raising(monkeypatch):
    model = ActivationsThenOutOfMemory()
    alive_when_freeing = []
    real_collect = gc.collect

    def collect():
        real_collect()
        alive_when_freeing.append(model.activation() is not None)

    monkeypatch.setattr(gc, "collect", collect)  # the module that course_utils.devices.free_device_memory calls
    with pytest.raises(BatchTooLargeError) as info:
        quiet(model, toy_classification(100), batch_size=32)
    assert alive_when_freeing == [False]  # the traceback no longer held the activations when memory was freed
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert quiet(model, toy_classification(100), batch_size=16).iterations == 14  # halve B, go on


@pytest.mark.parametrize("message", ["CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
                                     "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
                                     "MPS backend out of memory (MPS allocated: 1.2 GB)"])
def test_allocation_failures_that_do_not_say_cuda_out_of_memory(message):
    with pytest.raises(BatchTooLargeError, match="batch_size=32"):
        quiet(ActivationsThenOutOfMemory(message=message), toy_classification(100), batch_size=32)
    with pytest.raises(RuntimeError, match="something else") as info:
        quiet(ActivationsThenOutOfMemory(message="something else"), toy_classification(100), batch_size=32)
    assert not isinstance(info.value, BatchTooLargeError)


def test_out_of_memory_in_evaluate_names_evaluates_batch_size():
    model = ActivationsThenOutOfMemory(limit=50)
    with pytest.raises(BatchTooLargeError, match="evaluate's batch_size=2048 .*evaluate's batch_size=1024"):
        evaluate(model, toy_classification(100))
    with pytest.raises(BatchTooLargeError, match="evaluate's batch_size=2048"):
        quiet(model, toy_classification(100), batch_size=16, val_data=toy_classification(100))
    assert evaluate(model, toy_classification(100), batch_size=50)["accuracy"] is not None


# ---- the stop button ----------------------------------------------------------------------------------------------
def test_stop_keeps_every_finished_iteration_even_while_losses_wait_on_the_gpu(monkeypatch, capsys):
    # Pretend every loss lives on a GPU: they wait in History's buffer and are copied every 0.5 s.
    monkeypatch.setattr(history_module, "FLUSH_SECONDS", 1e9)
    monkeypatch.setattr(history_module, "stays_on_device", lambda loss: isinstance(loss, torch.Tensor))
    x, y = toy_classification(100)
    whole = quiet(mlp(), (x, y), epochs=1, batch_size=10)
    stopped = quiet(mlp(), (x, y), epochs=1, batch_size=10, loss=interrupt_at(8))
    assert stopped.interrupted and stopped.iterations == 7
    assert stopped.loss == whole.loss[:7] and len(stopped.lr) == len(stopped.time) == 7


def test_stop_during_validation_keeps_the_per_epoch_lists_aligned(capsys):
    x, y = toy_classification(64)
    calls = {"eval": 0}

    def loss(output, target):
        if not torch.is_grad_enabled():  # evaluate runs under no_grad
            calls["eval"] += 1
            if calls["eval"] == 3:       # epoch 1 evaluates twice (val, train); this is epoch 2
                raise KeyboardInterrupt
        return nn.functional.cross_entropy(output, target)

    h = quiet(mlp(), (x, y), epochs=3, batch_size=16, loss=loss, val_data=(x, y), eval_train=True)
    assert h.interrupted and h.epochs == 1 and h.iterations == 8
    assert len(h.epoch_loss) == len(h.val_loss) == len(h.val_accuracy) == len(h.train_loss) == 1


# ---- plots of a stopped run -----------------------------------------------------------------------------------------
def test_a_partial_epoch_is_placed_by_its_iterations_and_keeps_its_boundary(capsys):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = quiet(mlp(), toy_classification(100), epochs=3, batch_size=25, loss=interrupt_at(7))
    assert h.iterations == 6 and h.epochs == 1 and h.epoch_iterations == [4, 4, 4]
    ax = h.plot(x="epoch")
    xs = ax.get_lines()[0].get_xdata()
    assert list(xs) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25, 1.5])  # epoch 2 is half done, not stretched
    assert [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"] == [1.0]
    plt.close("all")


# ---- a batch that grows --------------------------------------------------------------------------------------------
def test_batch_size_may_be_a_function_of_the_epoch():
    x, y = toy_classification(100)
    h = quiet(mlp(), (x, y), epochs=3, batch_size=lambda epoch: 25 * 2 ** (epoch - 1))
    assert h.epoch_iterations == [4, 2, 1] and h.iterations_per_epoch is None
    assert h.batch_size == [25] * 4 + [50] * 2 + [100]
    assert h.epoch == [1] * 4 + [2] * 2 + [3] and h.epochs == 3
    assert "1 to 4 per epoch" in repr(h)
    with pytest.raises(ValueError, match=r"batch_size\(2\) must be a positive"):
        quiet(mlp(), (x, y), epochs=3, batch_size=lambda epoch: 4 - 2 * epoch)


def test_a_growing_batch_resumes_exactly(tmp_path):
    x, y = toy_classification(100)
    grow = lambda epoch: 20 * epoch  # noqa: E731
    whole = mlp()
    h_whole = quiet(whole, (x, y), epochs=3, batch_size=grow)
    path = tmp_path / "run.pt"
    quiet(mlp(), (x, y), epochs=2, batch_size=grow, checkpoint=path)
    resumed = mlp(seed=9)
    h = quiet(resumed, (x, y), epochs=3, batch_size=grow, checkpoint=path)
    assert h.loss == h_whole.loss and h.epoch_iterations == [5, 3, 2]
    assert all(torch.equal(a, b) for a, b in zip(whole.parameters(), resumed.parameters()))
    with pytest.raises(CheckpointError, match="batch sizes"):
        quiet(mlp(), (x, y), epochs=3, batch_size=lambda epoch: 10 * epoch, checkpoint=path)


# ---- the end-of-epoch model on the training set ---------------------------------------------------------------------
def test_eval_train_measures_the_end_of_epoch_model_on_the_whole_training_set():
    x, y = toy_classification(100)
    model = mlp()
    h = quiet(model, (x, y), epochs=2, eval_train=True)
    assert len(h.train_loss) == len(h.train_accuracy) == 2
    assert h.train_loss[-1] == pytest.approx(evaluate(model, (x, y))["loss"], rel=1e-6)
    assert h.train_loss[-1] != h.epoch_loss[-1]  # the running mean during the epoch is another number


# ---- timing waits for the accelerator ---------------------------------------------------------------------------------
def test_timing_without_a_device_waits_for_the_current_accelerator(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: torch.device("cuda"))
    monkeypatch.setattr(torch.accelerator, "synchronize", lambda device=None: waited.append(str(device)))
    cu.synchronize()
    assert waited == ["cuda"]
    waited.clear()
    calls = []
    cu.median_seconds(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and waited == ["cuda"] * 6  # before and after each timed run
    waited.clear()
    cu.synchronize("cpu")
    assert waited == []


# ---- third round: what the mutation run of train() itself left ------------------------------------------------------

def test_out_of_memory_in_a_later_epoch_names_that_epochs_batch_size_and_drops_the_gradients():
    model = ActivationsThenOutOfMemory(limit=16)
    grow = lambda epoch: 8 * 2 ** (epoch - 1)  # noqa: E731 - 8, 16, then 32: too large at epoch 3
    with pytest.raises(BatchTooLargeError, match=r"batch_size=32 ") as info:
        quiet(model, toy_classification(100), epochs=3, batch_size=grow)
    assert "batch_size=8 " not in str(info.value)
    # epochs 1 and 2 left gradients in the model; the failed step's clean-up sets them to None, not to zeros
    assert [p.grad for p in model.parameters()] == [None, None]


class OutOfMemoryOnTheDevice(nn.Module):
    """A model that does not fit on the device at all: moving it there fails."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 3)

    def _apply(self, fn, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_before_the_first_batch_names_the_first_batch_size():
    grow = lambda epoch: 8 * 2 ** (epoch - 1)  # noqa: E731
    with pytest.raises(BatchTooLargeError, match=r"batch_size=8 "):
        quiet(OutOfMemoryOnTheDevice(), toy_classification(100), epochs=3, batch_size=grow)


def nan_at(call):
    """Cross-entropy that becomes NaN at its ``call``-th use (a run that diverges there)."""
    calls = {"n": 0}

    def loss(output, target):
        calls["n"] += 1
        value = nn.functional.cross_entropy(output, target)
        return value * float("nan") if calls["n"] == call else value

    return loss


def test_divergence_message_names_the_epoch_it_happened_in(capsys):
    # 100 samples, B = 32: 4 iterations per epoch, so the 5th is the first of epoch 2
    h = quiet(mlp(), toy_classification(100), epochs=3, batch_size=32, loss=nan_at(5))
    assert h.diverged and h.iterations == 5 and h.epoch == [1, 1, 1, 1, 2]
    assert capsys.readouterr().out.startswith("Stopped at iteration 5 (epoch 2): the loss became nan.")


class OutOfMemoryAtCall(nn.Module):
    """Fails like a full GPU at its ``call``-th forward pass, whatever the batch."""

    def __init__(self, call):
        super().__init__()
        self.layer = nn.Linear(8, 3)
        self.call, self.calls = call, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.call:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.layer(x)


def test_out_of_memory_between_accumulated_micro_batches_sets_the_gradients_to_none():
    # B = 32 as 2 micro-batches of 16: the first one's backward leaves gradients; the second forward fails
    model = OutOfMemoryAtCall(2)
    with pytest.raises(BatchTooLargeError, match=r"batch_size=32 "):
        quiet(model, toy_classification(100), epochs=1, batch_size=32, grad_accum_steps=2)
    assert [p.grad for p in model.parameters()] == [None, None], "freed, not kept as zeros"


def test_a_resumed_run_s_progress_bar_counts_the_iterations_already_done(tmp_path, capsys):
    # 100 samples, B = 32: 4 iterations per epoch; 2 epochs saved, then resumed to 4: the bar starts at 8 of 16
    x, y = toy_classification(100)
    path = tmp_path / "run.pt"
    quiet(mlp(), (x, y), epochs=2, batch_size=32, checkpoint=path)
    capsys.readouterr()
    quiet(mlp(), (x, y), epochs=4, batch_size=32, checkpoint=path, progress=True)
    counts = re.findall(r"(\d+)/16\b", capsys.readouterr().err)
    assert counts and counts[0] == "8" and counts[-1] == "16", counts
