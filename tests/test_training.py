"""The training loop's contract: what it records, and how it behaves when things go wrong."""
import math

import pytest
import torch
from torch import nn

import course_utils as cu
from course_utils import BatchTooLargeError, CheckpointError, History, evaluate, train


def mlp(seed=0, inputs=8, outputs=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, 16), nn.ReLU(), nn.Linear(16, outputs))


def toy_classification(n=100, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return x, y


def interrupt_at(call):
    """Cross-entropy that presses the stop button (KeyboardInterrupt) at its ``call``-th use."""
    calls = {"n": 0}

    def loss(output, target):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(output, target)

    return loss


def quiet(model, data, **kwargs):
    options = {"epochs": 2, "batch_size": 16, "lr": 0.1, "progress": False} | kwargs
    return train(model, data, **options)


def test_records_every_iteration_and_epoch():
    x, y = toy_classification(100)
    h = quiet(mlp(), (x, y), epochs=3, batch_size=32, val_data=(x, y))
    assert h.iterations_per_epoch == 4 and h.iterations == 12 and h.epochs == 3
    assert h.batch_size == [32, 32, 32, 4] * 3
    assert h.epoch == [1] * 4 + [2] * 4 + [3] * 4
    assert h.lr == [0.1] * 12
    assert all(b >= a for a, b in zip(h.time, h.time[1:]))
    assert len(h.val_loss) == len(h.val_accuracy) == 3
    assert not h.interrupted and not h.diverged


def test_epoch_loss_is_weighted_by_batch_size_not_a_mean_of_batch_means():
    x, y = toy_classification(100)
    h = quiet(mlp(), (x, y), epochs=1, batch_size=32)
    weighted = sum(l * b for l, b in zip(h.loss, h.batch_size)) / 100
    mean_of_means = sum(h.loss) / len(h.loss)
    assert h.epoch_loss[0] == pytest.approx(weighted, rel=1e-12)
    assert not math.isclose(h.epoch_loss[0], mean_of_means, rel_tol=1e-9)


def test_same_seed_same_history_bitwise():
    x, y = toy_classification(200)
    a = quiet(mlp(), (x, y), epochs=3, momentum=0.9)
    b = quiet(mlp(), (x, y), epochs=3, momentum=0.9)
    assert a.loss == b.loss and a.epoch_loss == b.epoch_loss
    c = quiet(mlp(), (x, y), epochs=3, momentum=0.9, seed=1)
    assert a.loss != c.loss  # the seed really changes the shuffling


def test_default_loss_mse_for_float_targets_and_one_output_unit():
    x = torch.randn(64, 8)
    y = x[:, 0] * 2.0
    model = mlp(outputs=1)
    h = quiet(model, (x, y), epochs=20, batch_size=16, lr=0.05)
    assert h.epoch_loss[-1] < h.epoch_loss[0] / 5
    result = evaluate(model, (x, y))
    assert result["accuracy"] is None and result["loss"] == pytest.approx(h.epoch_loss[-1], rel=0.5)


def test_accepts_a_dataset_and_evaluate_matches_manual_computation():
    data = cu.load_dataset("digits")
    model = mlp(inputs=64, outputs=10)
    h = quiet(model, data, epochs=1, batch_size=64, lr=0.01, val_data=data.test)
    assert h.val_name == "test" and quiet(mlp(), toy_classification(), val_data=toy_classification()).val_name == "validation"
    with pytest.raises(TypeError, match=r"whole Dataset.*val_data=data\.test"):
        quiet(model, data, val_data=data)
    with pytest.raises(TypeError, match=r"whole Dataset.*data=data\.test"):
        evaluate(model, data)
    assert evaluate(model, data.test) == evaluate(model, (data.x_test, data.y_test))
    with torch.no_grad():
        out = model(data.x_test)
        loss = nn.functional.cross_entropy(out, data.y_test).item()
        accuracy = (out.argmax(1) == data.y_test).float().mean().item()
    assert h.val_loss[0] == pytest.approx(loss, rel=1e-5)
    assert h.val_accuracy[0] == pytest.approx(accuracy)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_named_optimizers_learn(name):
    x, y = toy_classification(200)
    h = quiet(mlp(), (x, y), epochs=8, optimizer=name, lr=0.01 if name != "sgd" else 0.1)
    assert h.epoch_loss[-1] < h.epoch_loss[0]


def test_optimizer_function_and_scheduler_stepped_every_iteration():
    x, y = toy_classification(100)

    def warmup(opt):
        return torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5)

    h = quiet(mlp(), (x, y), epochs=2, batch_size=25, scheduler=warmup,
              optimizer=lambda p: torch.optim.SGD(p, lr=0.2))
    # lr of iteration k (0-based) is 0.2 * (0.1 + 0.9 * min(k, 5) / 5): per iteration, not per epoch
    expected = [0.2 * (0.1 + 0.9 * min(k, 5) / 5) for k in range(8)]
    assert h.lr == pytest.approx(expected)


def test_gradient_accumulation_gives_the_same_update_as_the_whole_batch():
    # 100 samples in batches of 32: micro-batches of 11, 11, 10 and, in the ragged last batch of 4, of 2, 1, 1.
    # With unequal micro-batches only the weighting by each one's share gives the whole batch's gradient.
    x, y = toy_classification(100)
    a, b = mlp(), mlp()
    ha = quiet(a, (x, y), epochs=2, batch_size=32, grad_accum_steps=1)
    hb = quiet(b, (x, y), epochs=2, batch_size=32, grad_accum_steps=3)
    assert hb.batch_size == ha.batch_size == [32, 32, 32, 4] * 2
    assert hb.loss == pytest.approx(ha.loss, rel=1e-5)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    # the naive rule, loss / k for every micro-batch, does not: this test can tell them apart
    naive = mlp()
    opt = torch.optim.SGD(naive.parameters(), lr=0.1)
    xb, yb = x[:4], y[:4]
    for xm, ym in zip(xb.tensor_split(3), yb.tensor_split(3)):
        (nn.functional.cross_entropy(naive(xm), ym) / 3).backward()
    weighted = mlp()
    cu.train_step(weighted, xb, yb, nn.functional.cross_entropy, torch.optim.SGD(weighted.parameters(), lr=0.1),
                  grad_accum_steps=3)
    whole = mlp()
    cu.train_step(whole, xb, yb, nn.functional.cross_entropy, torch.optim.SGD(whole.parameters(), lr=0.1))
    opt.step()
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(weighted.parameters(), whole.parameters()))
    assert not all(torch.allclose(p, q, atol=1e-4) for p, q in zip(naive.parameters(), whole.parameters()))


def test_keyboard_interrupt_returns_history_so_far(capsys):
    x, y = toy_classification(100)
    model = mlp()
    h = quiet(model, (x, y), epochs=3, batch_size=32, loss=interrupt_at(6))
    assert h.interrupted and h.iterations == 5 and h.epochs == 1
    assert len(h.lr) == len(h.batch_size) == len(h.epoch) == len(h.time) == 5
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert evaluate(model, (x, y))["accuracy"] is not None  # the model is still usable
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "Interrupted" in printed[0]


def test_divergence_stops_with_a_message_not_an_exception(capsys, recwarn):
    x = torch.randn(64, 8) * 10
    y = x.sum(1) * 100
    h = quiet(mlp(outputs=1), (x, y), epochs=50, batch_size=8, lr=10.0)
    assert h.diverged and not h.interrupted
    assert not math.isfinite(h.loss[-1]) and all(math.isfinite(v) for v in h.loss[:-1])
    assert h.iterations < 50 * 8
    printed = capsys.readouterr().out
    assert "lr=10 is too large" in printed and "lr=1" in printed and len(printed.strip().splitlines()) == 1
    assert len(recwarn) == 0


class OutOfMemoryModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 3)

    def forward(self, x):
        if len(x) > 16:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.layer(x)


def test_out_of_memory_becomes_batch_too_large_error():
    x, y = toy_classification(100)
    with pytest.raises(BatchTooLargeError) as info:
        quiet(OutOfMemoryModel(), (x, y), batch_size=32)
    message = str(info.value)
    assert "batch_size=32" in message and "cpu" in message and "batch_size=16" in message
    # the notebook can go on: a smaller batch trains
    assert quiet(OutOfMemoryModel(), (x, y), batch_size=16).iterations == 14


def test_out_of_memory_frees_the_device_cache_with_the_generic_api(monkeypatch):
    import course_utils.training as training
    emptied = []
    monkeypatch.setattr(torch.accelerator, "empty_cache", lambda: emptied.append(True))
    monkeypatch.setattr(training, "accelerator_memory", lambda device: (1 * 2**30, 80 * 2**30))
    error = training.batch_too_large("batch_size", 512, torch.device("cuda"))
    assert emptied and "batch_size=512" in str(error) and "80.0 GiB" in str(error) and "batch_size=256" in str(error)


def test_checkpoint_resume_equals_one_uninterrupted_run_bitwise(tmp_path):
    x, y = toy_classification(120)

    def schedule(opt):
        return torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.7)

    whole = mlp()
    h_whole = quiet(whole, (x, y), epochs=4, momentum=0.9, scheduler=schedule, val_data=(x, y))
    path = tmp_path / "run.pt"
    first = mlp()
    quiet(first, (x, y), epochs=2, momentum=0.9, scheduler=schedule, val_data=(x, y), checkpoint=path)
    assert path.exists() and not (tmp_path / "run.pt.tmp").exists()
    resumed = mlp(seed=123)  # a fresh model: everything must come from the checkpoint
    h = quiet(resumed, (x, y), epochs=4, momentum=0.9, scheduler=schedule, val_data=(x, y), checkpoint=path)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    assert h.loss == h_whole.loss and h.lr == h_whole.lr and h.epoch_loss == h_whole.epoch_loss
    assert h.val_loss == h_whole.val_loss and h.epochs == 4


def test_checkpoint_is_loaded_with_weights_only(tmp_path, monkeypatch):
    x, y = toy_classification(40)
    path = tmp_path / "run.pt"
    quiet(mlp(), (x, y), epochs=1, checkpoint=path)
    seen = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("weights_only")) or real_load(*a, **k))
    quiet(mlp(), (x, y), epochs=2, checkpoint=path)
    assert seen == [True]


def test_corrupted_checkpoint_raises_and_is_not_overwritten(tmp_path):
    x, y = toy_classification(40)
    path = tmp_path / "run.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="run.pt"):
        quiet(mlp(), (x, y), epochs=2, checkpoint=path)
    assert path.read_bytes() == b"this is not a checkpoint"


def test_checkpoint_with_other_settings_is_refused(tmp_path):
    x, y = toy_classification(40)
    path = tmp_path / "run.pt"
    quiet(mlp(), (x, y), epochs=1, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="batch_size"):
        quiet(mlp(), (x, y), epochs=2, batch_size=8, checkpoint=path)
    assert path.read_bytes() == before


def test_progress_false_is_silent(capsys):
    x, y = toy_classification(40)
    quiet(mlp(), (x, y), epochs=1)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_shows_epoch_and_loss(capsys):
    x, y = toy_classification(40)
    train(mlp(), (x, y), epochs=2, batch_size=16, lr=0.1, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err and "6/6" in err


def test_zero_epochs_trains_nothing():
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    h = quiet(model, toy_classification(20), epochs=0)
    assert h.iterations == 0 and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


X, Y = torch.zeros(10, 8), torch.zeros(10, dtype=torch.long)


@pytest.mark.parametrize("kwargs,error,words", [
    ({"batch_size": 0}, ValueError, ["batch_size", "0", "positive"]),
    ({"batch_size": -5}, ValueError, ["batch_size", "-5"]),
    ({"batch_size": 3.0}, TypeError, ["batch_size", "3.0", "whole number"]),
    ({"batch_size": 11, "drop_last": True}, ValueError, ["batch_size=11", "drop_last", "<= 10"]),
    ({"epochs": -1}, ValueError, ["epochs", "-1"]),
    ({"epochs": 2.5}, TypeError, ["epochs", "2.5"]),
    ({"lr": 0}, ValueError, ["lr", "0", "greater than 0"]),
    ({"lr": -0.1}, ValueError, ["lr", "-0.1"]),
    ({"lr": float("nan")}, ValueError, ["lr", "nan"]),
    ({"lr": "0.1"}, TypeError, ["lr", "'0.1'"]),
    ({"momentum": -0.5}, ValueError, ["momentum", "-0.5"]),
    ({"optimizer": "sgdd"}, ValueError, ["optimizer", "'sgdd'", "'adam'"]),
    ({"optimizer": 3}, TypeError, ["optimizer", "3"]),
    ({"grad_accum_steps": 0}, ValueError, ["grad_accum_steps", "0"]),
    ({"grad_accum_steps": 5, "batch_size": 4}, ValueError, ["grad_accum_steps=5", "batch_size=4"]),
    ({"scheduler": "cosine"}, TypeError, ["scheduler", "'cosine'"]),
    ({"seed": -2}, ValueError, ["seed", "-2"]),
])
def test_bad_arguments_name_the_argument_the_value_and_what_works(kwargs, error, words):
    options = {"epochs": 1, "batch_size": 4, "lr": 0.1, "progress": False} | kwargs
    with pytest.raises(error) as info:
        train(mlp(), (X, Y), **options)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("data,error,words", [
    ((torch.zeros(10, 8), torch.zeros(9, dtype=torch.long)), ValueError, ["len(x)=10", "len(y)=9"]),
    ((torch.full((10, 8), float("nan")), torch.zeros(10, dtype=torch.long)), ValueError, ["NaN", "80"]),
    ([[1, 2]], TypeError, ["train_data", "(x, y) pair"]),
    ((torch.zeros(10, 8), [0] * 10), TypeError, ["train_data y", "torch.Tensor"]),
])
def test_bad_training_data(data, error, words):
    with pytest.raises(error) as info:
        train(mlp(), data, epochs=1, batch_size=4, lr=0.1, progress=False)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        train(lambda x: x, (X, Y), epochs=1, batch_size=4, lr=0.1)


def test_history_round_trips_and_plots_every_axis():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = quiet(mlp(), toy_classification(50), epochs=3, batch_size=16, val_data=toy_classification(20, seed=4))
    assert History.from_dict(h.to_dict()) == h
    for axis in ("iteration", "epoch", "time", "samples"):
        ax = h.plot(x=axis, smooth=3)
        lines = ax.get_lines()
        assert len(lines[0].get_xdata()) == h.iterations
        assert sum(1 for line in lines if line.get_linestyle() == ":") == 2  # boundaries between 3 epochs
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="'iteration', 'epoch', 'time', 'samples'"):
        h.plot(x="steps")
    assert h.plot(x="epoch").get_lines()[0].get_xdata()[-1] == pytest.approx(3.0)
    plt.close("all")


def test_notebook_progress_bar_is_redrawn_text_on_stdout_ending_in_its_final_state(capsys, monkeypatch):
    import course_utils.progress as progress
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    train(mlp(), toy_classification(40), epochs=2, batch_size=16, lr=0.1, progress=True)
    captured = capsys.readouterr()
    final = captured.out.replace("\r", "\n").strip().splitlines()[-1]
    assert captured.err == ""
    assert final.startswith("epoch 2/2: 100%|") and "| 6/6 [" in final and "loss=" in final
    assert ": :" not in captured.out


# ---- the helpers, one by one (what the mutation run found unpinned) --------------------------------------------------
import course_utils.training as training  # noqa: E402
from course_utils.data import Dataset  # noqa: E402


def a_dataset(n=12):
    x, y = toy_classification(n)
    return Dataset("toy", x, y, x[:4], y[:4], n_classes=3, description="a toy")


def test_as_pair_takes_a_pair_a_list_or_the_train_split_of_a_dataset():
    x, y = toy_classification(12)
    assert training.as_pair((x, y), "data")[0] is x
    got = training.as_pair([x, y], "data")
    assert got[0] is x and got[1] is y
    data = a_dataset()
    got = training.as_pair(data, "train_data")
    assert got[0] is data.x_train and got[1] is data.y_train
    assert training.as_pair(data, "train_data", split="train")[0] is data.x_train


def test_as_pair_refusals_name_the_argument():
    x, y = toy_classification(12)
    data = a_dataset()
    with pytest.raises(TypeError) as info:
        training.as_pair(data, "val_data", split="test")
    assert str(info.value) == (f"val_data={data!r} is a whole Dataset: say which part you mean, e.g. "
                               "val_data=data.test (the held-out test split) or val_data=(x_val, y_val)")
    with pytest.raises(TypeError) as info:
        training.as_pair((x, y, y), "val_data")
    assert str(info.value) == ("val_data must be an (x, y) pair of tensors or a Dataset from load_dataset(...), "
                               "got tuple")
    with pytest.raises(TypeError, match="^val_data x must be a torch.Tensor"):
        training.as_pair(([1.0], y), "val_data")
    with pytest.raises(TypeError, match="^val_data y must be a torch.Tensor"):
        training.as_pair((x, [1]), "val_data")
    with pytest.raises(ValueError) as info:
        training.as_pair((x, y[:5]), "val_data")
    assert str(info.value) == ("val_data: x and y must have the same number of samples, got len(x)=12 "
                               "and len(y)=5")
    with pytest.raises(ValueError) as info:
        training.as_pair((x[:0], y[:0]), "val_data")
    assert str(info.value) == "val_data has no samples; give at least one (x, y) pair"
    with pytest.raises(ValueError, match="^val_data x contains 1 NaN"):
        training.as_pair((torch.where(torch.arange(12)[:, None] * 8 + torch.arange(8) == 5, math.nan, x), y),
                         "val_data")
    with pytest.raises(ValueError, match="^val_data y contains 2 NaN"):
        training.as_pair((x, torch.tensor([math.nan, 1.0, -math.inf] + [0.0] * 9)), "val_data")


def test_mse_squeezes_one_output_unit_and_refuses_any_other_shape():
    target = torch.tensor([1.0, 2.0, 4.0])
    assert float(training._mse(torch.tensor([[1.0], [2.0], [2.0]]), target)) == pytest.approx(4 / 3)
    assert float(training._mse(torch.tensor([1.0, 3.0, 4.0]), target)) == pytest.approx(1 / 3)
    assert float(training._mse(torch.zeros(3, 2, 1), torch.ones(3, 2))) == 1.0   # (N, k, 1) for (N, k) too
    with pytest.raises(ValueError) as info:
        training._mse(torch.zeros(3, 3), target)
    assert str(info.value) == (
        "the model's output has shape (B, 3) but the targets y have shape (B,), and the default loss for float "
        "targets (mean squared error) needs them to match: for regression (one number per sample) make the model "
        "end in one output unit, e.g. nn.Linear(100, 1); or give y the shape (B, 3); or for 3 classes give y as "
        "integer class labels, y.long(), to train with cross-entropy")
    with pytest.raises(ValueError) as info:
        training._mse(torch.zeros(3, 2), torch.zeros(3, 5))
    assert str(info.value).endswith("needs them to match: give y the shape (B, 2)")
    with pytest.raises(ValueError) as info:
        training._mse(torch.zeros(3, 2, 4), target)
    assert str(info.value).endswith("nn.Linear(100, 1); or give y the shape (B, 2, 4)")
    with pytest.raises(ValueError, match=r"output has shape \(B,\) but the targets y have shape \(B, 1\)"):
        training._mse(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"output has shape \(B, 2\) but the targets y have shape \(B, 2, 1\)"):
        training._mse(torch.zeros(3, 2), torch.zeros(3, 2, 1))


def test_default_loss_by_target_type():
    assert training.default_loss(torch.zeros(2)) is training._mse
    assert training.default_loss(torch.zeros(2, dtype=torch.long)) is nn.functional.cross_entropy


def test_make_optimizer_builds_each_name_with_its_settings():
    params = list(nn.Linear(2, 1).parameters())
    sgd = training.make_optimizer(iter(params), "sgd", lr=0.5)
    assert type(sgd) is torch.optim.SGD and sgd.defaults["lr"] == 0.5
    assert sgd.defaults["momentum"] == 0.0 and sgd.defaults["weight_decay"] == 0.0
    sgd = training.make_optimizer(params, "sgd", lr=0.5, momentum=0.9, weight_decay=0.01)
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 0.01
    assert len(sgd.param_groups[0]["params"]) == 2
    adam = training.make_optimizer(params, "adam", lr=0.01, weight_decay=0.1)
    assert type(adam) is torch.optim.Adam and adam.defaults["lr"] == 0.01 and adam.defaults["weight_decay"] == 0.1
    adamw = training.make_optimizer(params, "adamw", lr=0.01)
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["weight_decay"] == 0.0   # not AdamW's own 0.01
    made = torch.optim.SGD(params, lr=1.0)
    assert training.make_optimizer(params, lambda p: made, lr=0.1) is made


def test_make_optimizer_refusals():
    params = list(nn.Linear(2, 1).parameters())
    with pytest.raises(ValueError) as info:
        training.make_optimizer(params, "adam", lr=0.01, momentum=0.9)
    assert str(info.value) == "momentum=0.9 applies to optimizer='sgd' only; Adam has its own betas"
    with pytest.raises(ValueError, match="^momentum=0.5 applies"):
        training.make_optimizer(params, "adamw", lr=0.01, momentum=0.5)
    with pytest.raises(TypeError) as info:
        training.make_optimizer(params, lambda p: 3, lr=0.01)
    assert str(info.value) == ("optimizer, when a function, must return a torch.optim.Optimizer, e.g. "
                               "lambda p: torch.optim.SGD(p, lr=0.1); it returned int")
    with pytest.raises(ValueError) as info:
        training.make_optimizer(params, "rmsprop", lr=0.01)
    assert str(info.value) == ("optimizer must be one of 'sgd', 'adam', 'adamw' or a function params -> Optimizer, "
                               "got 'rmsprop'")


@pytest.mark.parametrize("message", ["CUDA out of memory. Tried to allocate 2 GiB", "CUBLAS_STATUS_ALLOC_FAILED",
                                     "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
                                     "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE", "MPS backend: Failed to allocate"])
def test_each_allocation_failure_is_out_of_memory(message):
    assert training.is_out_of_memory(RuntimeError(message))
    assert not training.is_out_of_memory(ValueError(message))      # only a RuntimeError says so


def test_other_errors_are_not_out_of_memory():
    assert training.is_out_of_memory(torch.OutOfMemoryError("anything"))
    assert not training.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_batch_too_large_says_the_memory_and_half_the_batch(monkeypatch):
    monkeypatch.setattr(training, "accelerator_memory", lambda device: (int(2.5 * 2**30), 16 * 2**30))
    monkeypatch.setattr(training, "free_device_memory", lambda device: None)
    error = training.batch_too_large("batch_size", 1, torch.device("cuda"))
    assert isinstance(error, training.BatchTooLargeError)
    assert str(error) == ("batch_size=1 does not fit in the memory of the cuda device (16.0 GiB in all, 2.5 GiB "
                          "free after emptying the cache). Try batch_size=1, or keep the batch and split it with "
                          "grad_accum_steps=2.")
    error = training.batch_too_large("evaluate's batch_size", 2048, torch.device("cuda"))
    assert str(error).endswith("free after emptying the cache). Try evaluate's batch_size=1024.")
    monkeypatch.setattr(training, "accelerator_memory", lambda device: None)
    monkeypatch.setattr(training, "describe_device", lambda device: "CPU: 2 cores")
    assert str(training.batch_too_large("batch_size", 9, torch.device("cpu"))).startswith(
        "batch_size=9 does not fit in the memory of the cpu device (CPU: 2 cores). Try batch_size=4, or")


def test_evaluate_means_over_samples_and_restores_the_mode():
    model = mlp()
    model.train()
    x, y = toy_classification(7)
    result = evaluate(model, (x, y), batch_size=3)
    out = model(x).detach()
    assert result["loss"] == pytest.approx(float(nn.functional.cross_entropy(out, y)), rel=1e-6)
    assert result["accuracy"] == int((out.argmax(1) == y).sum()) / 7
    assert model.training
    model.eval()
    evaluate(model, (x, y))
    assert not model.training
    floats = evaluate(mlp(outputs=1), (x, y.float()), device="cpu")
    assert floats["accuracy"] is None
    assert floats["loss"] == pytest.approx(float(training._mse(mlp(outputs=1)(x).detach(), y.float())), rel=1e-6)


def test_evaluate_refuses_a_whole_dataset_and_names_its_arguments():
    with pytest.raises(TypeError, match="^data=.* is a whole Dataset"):
        evaluate(mlp(), a_dataset())
    with pytest.raises(ValueError, match="^batch_size must be"):
        evaluate(mlp(), toy_classification(4), batch_size=0)
    with pytest.raises(TypeError, match="^data x holds integers"):
        evaluate(mlp(), (torch.zeros(4, 8, dtype=torch.long), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(TypeError, match="^loss"):
        evaluate(mlp(), toy_classification(4), loss="mse")


class Sum(nn.Module):
    """A model without parameters."""

    def forward(self, x):
        return x[:, :3]


def test_evaluate_a_model_without_parameters_runs_on_the_cpu():
    x, y = toy_classification(5)
    assert training._model_device(Sum()) == torch.device("cpu")
    assert evaluate(Sum(), (x, y))["loss"] == pytest.approx(float(nn.functional.cross_entropy(x[:, :3], y)))


def test_evaluate_default_batch_is_2048_samples(monkeypatch):
    sizes = []
    model = mlp()
    model.register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    evaluate(model, toy_classification(2100))
    assert sizes == [2048, 52]


def test_train_step_returns_the_detached_mean_loss_and_steps_the_scheduler():
    model = mlp()
    x, y = toy_classification(10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    expected = float(nn.functional.cross_entropy(model(x), y).detach())
    loss = training.train_step(model, x, y, nn.functional.cross_entropy, opt, sched)
    assert float(loss) == pytest.approx(expected) and not loss.requires_grad and loss.dim() == 0
    assert opt.param_groups[0]["lr"] == 0.05
    loss = training.train_step(model, x, y, nn.functional.cross_entropy, opt, sched, grad_accum_steps=3)
    assert not loss.requires_grad and opt.param_groups[0]["lr"] == 0.025


def test_gradient_accumulation_returns_the_whole_batch_loss_and_skips_empty_micro_batches():
    x, y = toy_classification(3)
    model = mlp()
    expected = float(nn.functional.cross_entropy(model(x), y).detach())
    opt = torch.optim.SGD(model.parameters(), lr=0.0 + 1e-12)
    loss = training.train_step(model, x, y, nn.functional.cross_entropy, opt, grad_accum_steps=5)  # 2 are empty
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_check_batch_size_per_epoch():
    assert training._check_batch_size(4, 3, 10, False, 1) == [4, 4, 4]
    assert training._check_batch_size(lambda e: 2 * e, 3, 10, False, 2) == [2, 4, 6]
    assert training._check_batch_size(10, 1, 10, True, 10) == [10]                 # B = N with drop_last
    assert training._check_batch_size(lambda e: 11, 0, 10, True, 1) == []


def test_check_batch_size_messages_name_the_epoch_of_a_function():
    with pytest.raises(ValueError) as info:
        training._check_batch_size(lambda e: 4 - 2 * e, 3, 10, False, 1)
    assert str(info.value).startswith("batch_size(2) must be")
    assert str(info.value).endswith("got 0; batch_size, when a function, maps the epoch (1, 2, ...) to a batch "
                                    "size, e.g. lambda epoch: 32 * 2 ** ((epoch - 1) // 5)")
    with pytest.raises(TypeError, match=r"^batch_size\(1\) must be a whole number.*got 2.5 of type float; batch_size, when a"):
        training._check_batch_size(lambda e: 2.5, 3, 10, False, 1)
    with pytest.raises(ValueError) as info:
        training._check_batch_size(lambda e: 8 * e, 3, 10, True, 1)
    assert str(info.value) == ("batch_size(2)=16 is larger than the 10 samples, so with drop_last=True an epoch "
                               "has no batch at all; use batch_size(2) <= 10 or drop_last=False")
    with pytest.raises(ValueError) as info:
        training._check_batch_size(11, 2, 10, True, 1)
    assert str(info.value) == ("batch_size=11 is larger than the 10 samples, so with drop_last=True an epoch "
                               "has no batch at all; use batch_size <= 10 or drop_last=False")
    with pytest.raises(ValueError) as info:
        training._check_batch_size(lambda e: 5 - e, 3, 10, False, 4)
    assert str(info.value) == ("grad_accum_steps=4 splits each batch into that many micro-batches, so it must be "
                               "at most batch_size(2)=3")
    assert training._check_batch_size(lambda e: 5 - e, 1, 10, False, 4) == [4]


def test_make_scheduler_refusals_and_describe():
    opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
    assert training._make_scheduler(None, opt) is None
    with pytest.raises(TypeError) as info:
        training._make_scheduler(lambda o: 3, opt)
    assert str(info.value) == "scheduler must return an LRScheduler (something with .step()), got int"
    with pytest.raises(TypeError, match=r"^scheduler returned ReduceLROnPlateau, which needs a metric at every step"):
        training._make_scheduler(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o), opt)
    with pytest.raises(ValueError, match=r"^scheduler: StepLR was built with step_size=0"):
        training._make_scheduler(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=0), opt)
    sched = training._make_scheduler(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3), opt)
    described = training._describe(opt, sched)
    assert described["scheduler_used"] == "StepLR"
    assert described["optimizer_used"].startswith("SGD({'lr': 0.1, 'momentum': 0.9, 'dampening': 0")
    assert "'params'" not in described["optimizer_used"]
    assert training._describe(opt, None)["scheduler_used"] is None


def test_train_reports_how_it_stopped(capsys):
    x, y = toy_classification(100)
    h = quiet(mlp(), (x, y), epochs=3, batch_size=32, loss=interrupt_at(6))
    assert capsys.readouterr().out == ("Interrupted after 5 iterations (1 full epochs): the model keeps what it "
                                       "learned so far; the returned History has interrupted=True.\n")
    assert h.val_name == "validation"
    bad = torch.randn(64, 8) * 10
    h = quiet(mlp(outputs=1), (bad, bad.sum(1) * 100), epochs=50, batch_size=8, lr=10.0)
    assert capsys.readouterr().out == (f"Stopped at iteration {h.iterations} (epoch {h.epoch[-1]}): the loss became "
                                       f"{h.loss[-1]}. The learning rate lr=10 is too large here: try lr=1.\n")


# ---- second round: what the mutation run of the helpers left ------------------------------------------------------

def forward_sizes(model):
    """Record the batch size of every forward pass of ``model``."""
    sizes = []
    model.register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    return sizes


def test_train_step_runs_one_forward_pass_unless_asked_to_accumulate():
    x, y = toy_classification(10)
    model = mlp()
    sizes = forward_sizes(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    training.train_step(model, x, y, nn.functional.cross_entropy, opt)
    training.train_step(model, x, y, nn.functional.cross_entropy, opt, grad_accum_steps=2)
    training.train_step(model, x, y, nn.functional.cross_entropy, opt, None, 3)
    assert sizes == [10, 5, 5, 4, 3, 3]


def test_train_epoch_and_train_pass_grad_accum_steps_down():
    x, y = toy_classification(12)
    model = mlp()
    sizes = forward_sizes(model)
    history = History(epoch_iterations=[2])
    training.train_epoch(model, cu.Batches(x, y, 6, shuffle=False), nn.functional.cross_entropy,
                         torch.optim.SGD(model.parameters(), lr=0.1), history=history, epoch=1)
    assert sizes == [6, 6] and history.batch_size == [6, 6] and history.epoch == [1, 1]
    sizes.clear()
    quiet(model, (x, y), epochs=1, batch_size=6, grad_accum_steps=3)
    assert sizes == [2, 2, 2, 2, 2, 2]


def test_train_step_sets_the_old_gradients_to_none():
    model = mlp()
    unused = nn.Parameter(torch.ones(3))
    unused.grad = torch.ones(3)
    opt = torch.optim.SGD([*model.parameters(), unused], lr=0.1, momentum=0.9, weight_decay=0.1)
    training.train_step(model, *toy_classification(10), nn.functional.cross_entropy, opt)
    assert unused.grad is None and torch.equal(unused, torch.ones(3))   # skipped: no decay, no momentum


def test_model_device_is_the_first_parameters_device():
    assert training._model_device(nn.Linear(2, 2, device="meta")) == torch.device("meta")
    assert training._model_device(nn.Linear(2, 2)) == torch.device("cpu")


def test_batch_too_large_describes_the_device_it_was_given(monkeypatch):
    described = []
    monkeypatch.setattr(training, "accelerator_memory", lambda device: None)
    monkeypatch.setattr(training, "free_device_memory", lambda device: None)
    monkeypatch.setattr(training, "describe_device", lambda device: described.append(device) or "a device")
    device = torch.device("cpu")
    assert "(a device)" in str(training.batch_too_large("batch_size", 8, device)) and described == [device]


def test_check_batch_size_names_a_fixed_batch_size():
    with pytest.raises(ValueError, match=r"^batch_size must be a positive.*got 0$"):
        training._check_batch_size(0, 2, 10, False, 1)
    with pytest.raises(TypeError, match=r"^batch_size must be a whole number.*got 2.5"):
        training._check_batch_size(2.5, 2, 10, False, 1)


def test_reduce_lr_on_plateau_message_whole():
    opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    with pytest.raises(TypeError) as info:
        training._make_scheduler(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o), opt)
    assert str(info.value) == ("scheduler returned ReduceLROnPlateau, which needs a metric at every step; train "
                               "steps its scheduler every iteration without one. Use a schedule of the iteration "
                               "count (LinearLR, CosineAnnealingLR, OneCycleLR, ...), or write the loop by hand and "
                               "call scheduler.step(val_loss) once per epoch")


# ---- train() itself: what the mutation run of train left ----------------------------------------------------------
from course_utils.checkpoints import load_checkpoint  # noqa: E402

@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": -1}, ValueError, r"^epochs must be 0 or more, got -1"),
    ({"batch_size": 0}, ValueError, r"^batch_size must be a positive"),
    ({"lr": 0}, ValueError, r"^lr must be a finite number greater than 0"),
    ({"weight_decay": -1}, ValueError, r"^weight_decay must be a finite number ≥ 0, got -1$"),
    ({"grad_accum_steps": 0}, ValueError, r"^grad_accum_steps must be a positive"),
    ({"loss": "mse"}, TypeError, r"^loss must be None or a function"),
    ({"seed": -1}, ValueError, r"^seed must be 0 or more, got -1"),
    ({"progress": "yes"}, TypeError, r"^progress must be True or False, got 'yes'$"),
    ({"eval_train": 1}, TypeError, r"^eval_train must be True or False, got 1$"),
    ({"shuffle": None}, TypeError, r"^shuffle must be True or False, got None$"),
    ({"drop_last": "no"}, TypeError, r"^drop_last must be True or False, got 'no'$"),
    ({"device": "tpu"}, ValueError, r"^device must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 'tpu'$"),
    ({"val_data": (torch.zeros(3, 8, dtype=torch.long), torch.zeros(3, dtype=torch.long))}, TypeError,
     r"^val_data x holds integers \(torch.int64\)"),
    ({"scheduler": "cosine"}, TypeError,
     r"^scheduler must be a function optimizer -> LRScheduler, e\.g\. lambda opt: "
     r"torch\.optim\.lr_scheduler\.LinearLR\(opt, 0\.1, total_iters=100\); got 'cosine'$"),
])
def test_train_messages_start_with_the_argument(kwargs, error, message):
    options = {"epochs": 1, "batch_size": 4, "lr": 0.1, "progress": False} | kwargs
    with pytest.raises(error, match=message):
        train(mlp(), (X, Y), **options)


def test_a_frozen_model_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^model has no trainable parameters"):
        train(mlp().requires_grad_(False), (X, Y), epochs=1, batch_size=4, lr=0.1, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_the_device_asked_for_is_the_one_used():
    with pytest.raises(ValueError, match=r"^device asks for 'cuda', but this machine has no CUDA device"):
        train(mlp(), (X, Y), epochs=1, batch_size=4, lr=0.1, progress=False, device="cuda")


@pytest.mark.parametrize("options", [
    {"momentum": 0.9, "weight_decay": 0.01, "shuffle": True},
    {"momentum": 0.0, "weight_decay": 0.1, "shuffle": False},
])
def test_train_is_the_loop_written_by_hand_bitwise(options):
    x, y = toy_classification(50)
    trained = mlp()
    quiet(trained, (x, y), epochs=2, batch_size=16, lr=0.1, seed=3, **options)
    by_hand = mlp()
    opt = torch.optim.SGD(by_hand.parameters(), lr=0.1, momentum=options["momentum"],
                          weight_decay=options["weight_decay"])
    batches = cu.Batches(x, y, 16, shuffle=options["shuffle"], seed=3)
    for epoch in range(2):
        for xb, yb in batches:
            opt.zero_grad()
            nn.functional.cross_entropy(by_hand(xb), yb).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(trained.parameters(), by_hand.parameters()))


def test_the_checkpoint_remembers_every_setting(tmp_path):
    path = tmp_path / "run.pt"
    quiet(mlp(), toy_classification(20), epochs=1, batch_size=8, lr=0.05, momentum=0.5, weight_decay=0.01,
          grad_accum_steps=2, seed=4, shuffle=False, drop_last=True, checkpoint=path)
    config = load_checkpoint(path)["config"]
    assert {k: v for k, v in config.items() if k != "optimizer_used"} == {
        "n_samples": 20, "batch_size": 8, "lr": 0.05, "optimizer": "sgd", "momentum": 0.5, "weight_decay": 0.01,
        "grad_accum_steps": 2, "seed": 4, "shuffle": False, "drop_last": True, "scheduler_used": None}
    assert config["optimizer_used"].startswith("SGD({'lr': 0.05, 'momentum': 0.5")
    quiet(mlp(), toy_classification(20), epochs=1, batch_size=lambda epoch: 8, optimizer=lambda p: torch.optim.SGD(
        p, lr=0.1), checkpoint=tmp_path / "functions.pt")
    config = load_checkpoint(tmp_path / "functions.pt")["config"]
    assert config["batch_size"] == "function" and config["optimizer"] == "function"


def test_time_counts_from_the_start_of_training_and_goes_on_after_a_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(training.time, "perf_counter", lambda: 1000.0)    # a clock that does not move
    path = tmp_path / "run.pt"
    h = quiet(mlp(), toy_classification(20), epochs=1, batch_size=8, checkpoint=path)
    assert h.time == [0.0, 0.0, 0.0]
    state = load_checkpoint(path)
    state["history"]["time"] = [0.5, 1.0, 2.5]                            # as if the first epoch took 2.5 s
    torch.save(state, path)
    h = quiet(mlp(), toy_classification(20), epochs=2, batch_size=8, checkpoint=path)
    assert h.time == [0.5, 1.0, 2.5, 2.5, 2.5, 2.5]


def test_drop_last_decides_the_iterations_of_each_epoch():
    h = quiet(mlp(), toy_classification(10), epochs=2, batch_size=4, drop_last=True)
    assert h.epoch_iterations == [2, 2] and h.iterations == 4 and h.batch_size == [4, 4, 4, 4]


def test_a_growing_batch_too_large_for_drop_last_is_refused_before_training():
    model = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"^batch_size\(2\)=16 is larger than the 10 samples"):
        quiet(model, toy_classification(10), epochs=2, batch_size=lambda epoch: 8 * epoch, drop_last=True)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_zero_epochs_of_a_single_sample_with_drop_last():
    h = quiet(mlp(), toy_classification(1), epochs=0, batch_size=1, drop_last=True)
    assert h.iterations == 0 and h.epoch_iterations == []


def test_the_progress_bar_is_on_by_default(capsys):
    train(mlp(), toy_classification(20), epochs=1, batch_size=8, lr=0.1)
    assert "epoch 1/1" in capsys.readouterr().err


def test_resuming_with_another_batch_size_function_says_the_sizes_it_was_trained_with(tmp_path):
    x, y = toy_classification(100)
    path = tmp_path / "run.pt"
    quiet(mlp(), (x, y), epochs=2, batch_size=lambda epoch: 20 * epoch, checkpoint=path)
    with pytest.raises(CheckpointError) as info:
        quiet(mlp(), (x, y), epochs=3, batch_size=lambda epoch: 10 * epoch, checkpoint=path)
    assert str(info.value) == (f"checkpoint={str(path)!r} was trained with batch sizes [20, 40] in its epochs; use "
                               "the same batch_size function to resume")
