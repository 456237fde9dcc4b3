"""Bad inputs to the public helpers: each fails with a message that names the argument, the value and
what would work (or, where the input is valid after all, gives the right result)."""
import numpy as np
import pytest
import torch
from torch import nn

import course_utils as cu
import course_utils.training as training_module

from test_training import interrupt_at, mlp, quiet, toy_classification

torch.set_num_threads(1)


def regression(n=32, outputs=3):
    """A model with ``outputs`` output units and 1-D float targets (the broadcasting trap)."""
    torch.manual_seed(0)
    return nn.Linear(4, outputs), torch.randn(n, 4), torch.randn(n)


# ---- the default loss: model output and targets of different shapes ------------------------------------------
def test_mse_with_three_outputs_for_one_target_is_refused_in_train():
    model, x, y = regression()
    with pytest.raises(ValueError, match=r"output has shape \(B, 3\) but the targets y have shape \(B,\)"):
        quiet(model, (x, y))


def test_mse_with_three_outputs_for_one_target_is_refused_in_noise_scale():
    model, x, y = regression()
    with pytest.raises(ValueError, match=r"targets y .*nn.Linear\(100, 1\).*give y the shape \(B, 3\)"):
        cu.noise_scale(model, (x, y))


def test_one_output_unit_for_1d_targets_still_trains():
    model, x, y = regression(outputs=1)
    history = quiet(model, (x, y), epochs=1)
    assert history.iterations == 2 and not history.interrupted


# ---- per_sample_grads ----------------------------------------------------------------------------------------
def test_per_sample_grads_refuses_nan_data():
    x, y = toy_classification(10)
    x[3, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^x contains 1 NaN"):
        cu.per_sample_grads(mlp(), x, y)


def test_per_sample_grads_names_both_dtypes_for_float64_data_and_a_float32_model():
    x, y = toy_classification(10)
    with pytest.raises(TypeError, match=r"^x holds torch.float64 .*parameters are torch.float32.*x.to\(torch.float32\)"):
        cu.per_sample_grads(mlp(), x.double(), y)


def test_per_sample_grads_refuses_dropout_in_training_mode_and_works_in_eval_mode():
    x, y = toy_classification(10)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    with pytest.raises(ValueError, match=r"^model is in training mode and has Dropout.*model.eval\(\)") as error:
        cu.per_sample_grads(model, x, y)
    assert "vmap" not in str(error.value) and "randomness" not in str(error.value)
    assert cu.per_sample_grads(model.eval(), x, y).shape == (10, 8 * 16 + 16 + 16 * 3 + 3)


def test_per_sample_grads_refuses_a_loss_that_does_not_return_the_batch_mean():
    x, y = toy_classification(10)
    with pytest.raises(ValueError, match=r"^loss must return the mean loss of the batch.*reduction='mean'") as error:
        cu.per_sample_grads(mlp(), x, y, loss=nn.CrossEntropyLoss(reduction="none"))
    assert "vmap" not in str(error.value) and "grad(" not in str(error.value)


# ---- steps_to_target and fit_steps -----------------------------------------------------------------------------
ONES = (torch.ones(8, 1), torch.full((8,), 2.0))


def test_steps_to_target_refuses_momentum_of_one_or_more():
    with pytest.raises(ValueError, match=r"^momentum must be at least 0 and below 1.*got momentum=1.5"):
        cu.steps_to_target(lambda: nn.Linear(1, 1), ONES, [2], [0.1], target=0.1, max_steps=10, momentum=1.5,
                           device="cpu")
    with pytest.raises(ValueError, match=r"^momentum must be at least 0 and below 1"):
        quiet(mlp(), toy_classification(), momentum=1.0)


def test_a_target_the_untrained_model_meets_gives_0_steps_and_fit_steps_says_lower_the_target():
    result = cu.steps_to_target(lambda: nn.Linear(1, 1), ONES, [1, 2, 4], [0.1], target=100.0, max_steps=10,
                                device="cpu")
    assert result.steps == [0, 0, 0]
    with pytest.raises(ValueError, match=r"^steps must be ≥ 1 for every batch size, got 0 .*choose a lower target"):
        cu.fit_steps(result.batch_sizes, result.steps)


# ---- memory, parameters, features, schedules, devices ------------------------------------------------------------
def test_saved_bytes_refuses_an_empty_batch():
    with pytest.raises(ValueError, match=r"^x is an empty batch \(shape \(0, 8\)\).*at least one sample"):
        cu.saved_bytes(mlp(), torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("helper", ["train", "steps_to_target", "throughput"])
def test_a_model_without_trainable_parameters_is_refused(helper):
    data = toy_classification(16)
    with pytest.raises(ValueError, match=r"model.* has no trainable parameters \(none with requires_grad=True\)"):
        if helper == "train":
            quiet(nn.ReLU(), data)
        elif helper == "steps_to_target":
            cu.steps_to_target(nn.ReLU, data, [4], [0.1], target=0.1, max_steps=5, device="cpu")
        else:
            cu.throughput(nn.ReLU, data, [4], device="cpu")


def test_integer_features_are_refused_with_the_fix():
    x, y = toy_classification(16)
    with pytest.raises(TypeError, match=r"^train_data x holds integers \(torch.int64\); .*x.float\(\)"):
        quiet(mlp(), (x.round().long(), y))
    with pytest.raises(TypeError, match=r"^x holds integers \(torch.int64\)"):
        cu.saved_bytes(mlp(), x.long(), y)


def test_a_cosine_schedule_of_zero_iterations_names_t_max():
    cosine = lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=0)  # noqa: E731
    with pytest.raises(ValueError, match=r"^scheduler: CosineAnnealingLR was built with T_max=0.*at least 1"):
        cu.lr_schedule(cosine, iterations=5)
    with pytest.raises(ValueError, match=r"^scheduler: CosineAnnealingLR was built with T_max=0"):
        quiet(mlp(), toy_classification(), scheduler=cosine)


def test_throughput_names_its_own_device_argument():
    with pytest.raises(ValueError, match=r"^device must be None, 'cuda', 'mps', 'cpu'.*got 'tpu'") as error:
        cu.throughput(mlp, toy_classification(16), [4], device="tpu")
    assert "prefer" not in str(error.value)


# ---- batch sizes as NumPy arrays (and other sequences) ------------------------------------------------------------
@pytest.mark.parametrize("sizes", [np.array([8, 2, 8]), torch.tensor([8, 2]), (2, 8), range(2, 9, 6),
                                   [np.int64(8), np.int32(2)]])
def test_batch_sizes_may_be_any_list_like_of_whole_numbers_and_are_sorted_and_unique(sizes):
    data = toy_classification(16)
    assert cu.throughput(mlp, data, sizes, device="cpu", repeats=1, warmup=0).batch_sizes == [2, 8]
    assert cu.steps_to_target(mlp, data, sizes, [0.1], target=1e-9, max_steps=2, device="cpu").batch_sizes == [2, 8]
    assert cu.gradient_noise(mlp(), data, sizes, draws=4).batch_sizes == [2, 8]


def test_fit_steps_accepts_numpy_arrays():
    sizes = np.array([8, 32, 128, 512])
    fit = cu.fit_steps(sizes, 100 * (1 + 50 / sizes))
    assert fit.s_min == pytest.approx(100, rel=1e-6) and fit.b_noise == pytest.approx(50, rel=1e-6)


def test_batch_sizes_that_are_not_whole_numbers_say_so():
    with pytest.raises(TypeError, match=r"^batch_sizes must hold whole numbers, got an array of float64"):
        cu.throughput(mlp, toy_classification(16), np.array([2.0, 8.0]), device="cpu")
    with pytest.raises(ValueError, match=r"^batch_sizes must be between 1 and the number of samples N = 16"):
        cu.gradient_noise(mlp(), toy_classification(16), np.array([4, 32]))


# ---- the stop button during the set-up of train ------------------------------------------------------------------
def press_stop(*args, **kwargs):
    raise KeyboardInterrupt


def first_call_stops(function):
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return function(*args, **kwargs)

    return wrapped


@pytest.mark.parametrize("where", ["moving the model", "making the optimizer", "making the progress bar",
                                   "the first batch", "the first forward pass", "the first loss",
                                   "the scheduler"])
def test_the_stop_button_during_set_up_returns_an_interrupted_history(where, monkeypatch, capsys):
    x, y = toy_classification(64)
    model, options = mlp(), {}
    if where == "moving the model":
        monkeypatch.setattr(model, "to", press_stop)
    elif where == "making the optimizer":
        monkeypatch.setattr(training_module, "make_optimizer", press_stop)
    elif where == "making the progress bar":
        monkeypatch.setattr(training_module, "progress_bar", press_stop)
    elif where == "the first batch":
        monkeypatch.setattr(cu.Batches, "__iter__", press_stop)
    elif where == "the first forward pass":
        monkeypatch.setattr(model, "forward", first_call_stops(model.forward))
    elif where == "the first loss":
        options["loss"] = interrupt_at(1)
    else:
        options["scheduler"] = press_stop
    history = quiet(model, (x, y), epochs=2, batch_size=16, **options)
    assert isinstance(history, cu.History) and history.interrupted
    assert history.iterations == 0 and history.epochs == 0 and history.epoch_iterations == [4, 4]
    assert "Interrupted after 0 iterations" in capsys.readouterr().out


def test_the_stop_button_on_a_slow_machine_before_the_first_iteration(monkeypatch, capsys):
    """The set-up takes seconds on a loaded machine: a stop that lands in it is still a clean stop."""
    x, y = toy_classification(64)
    real = training_module.make_optimizer

    def slow_then_stopped(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt  # the learner pressed stop while the set-up was still going on

    monkeypatch.setattr(training_module, "make_optimizer", slow_then_stopped)
    history = quiet(mlp(), (x, y), progress=True)
    assert history.interrupted and history.iterations == 0
