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
