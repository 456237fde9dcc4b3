"""The argument checks every helper uses: what they accept, what they return, and the exact messages.

The messages are what a learner reads after a typo, so they are pinned word for word here: each names the
argument, repeats the value it got and says what would work.
"""
import contextlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from course_utils.checks import (check_batch_sizes, check_bool, check_choice, check_features, check_finite,
                                 check_list, check_loss, check_make_model, check_module, check_momentum,
                                 check_non_negative_float, check_non_negative_int, check_positive_float,
                                 check_positive_int, check_tensor, check_trainable)


@contextlib.contextmanager
def raises_exactly(kind: type[Exception], message: str):
    """Like pytest.raises, but the whole message must be ``message`` (no more, no less)."""
    with pytest.raises(kind) as info:
        yield
    assert type(info.value) is kind
    assert str(info.value) == message


# ---- whole numbers -----------------------------------------------------------------------------------------

def test_check_positive_int_accepts_whole_numbers_from_1_and_returns_a_python_int():
    assert check_positive_int("batch_size", 1) == 1
    value = check_positive_int("batch_size", np.int64(32))
    assert value == 32 and type(value) is int


@given(st.integers(min_value=1, max_value=10**12))
def test_check_positive_int_returns_every_positive_int_unchanged(n):
    assert check_positive_int("n", n) == n


def test_check_positive_int_messages():
    with raises_exactly(ValueError, "batch_size must be a positive whole number (1, 2, 3, ...), got 0"):
        check_positive_int("batch_size", 0)
    with raises_exactly(ValueError, "batch_size must be a positive whole number (1, 2, 3, ...), got -3"):
        check_positive_int("batch_size", -3)
    with raises_exactly(TypeError, "batch_size must be a whole number (1, 2, 3, ...), got 2.0 of type float"):
        check_positive_int("batch_size", 2.0)
    with raises_exactly(TypeError, "epochs must be a whole number (1, 2, 3, ...), got True of type bool"):
        check_positive_int("epochs", True)  # a bool is an int to Python, not to a learner
    with raises_exactly(TypeError, "epochs must be a whole number (1, 2, 3, ...), got '3' of type str"):
        check_positive_int("epochs", "3")


def test_check_non_negative_int_accepts_0_and_returns_a_python_int():
    assert check_non_negative_int("seed", 0) == 0
    value = check_non_negative_int("seed", np.int32(7))
    assert value == 7 and type(value) is int
    with raises_exactly(ValueError, "seed must be 0 or more, got -1"):
        check_non_negative_int("seed", -1)
    with raises_exactly(TypeError, "seed must be a whole number (0, 1, 2, ...), got False of type bool"):
        check_non_negative_int("seed", False)
    with raises_exactly(TypeError, "seed must be a whole number (0, 1, 2, ...), got 0.5 of type float"):
        check_non_negative_int("seed", 0.5)


# ---- real numbers ------------------------------------------------------------------------------------------

def test_check_positive_float_accepts_finite_numbers_above_0_and_returns_a_float():
    value = check_positive_float("lr", 3)
    assert value == 3.0 and type(value) is float
    assert check_positive_float("lr", 0.5) == 0.5      # below 1 is fine
    assert check_positive_float("lr", 1e-300) == 1e-300
    assert type(check_positive_float("lr", np.float32(0.25))) is float


def test_check_positive_float_messages_and_the_default_example():
    for bad in (0, 0.0, -0.1, math.nan, math.inf, -math.inf):
        with raises_exactly(ValueError, f"lr must be a finite number greater than 0 (e.g. 0.1), got {bad!r}"):
            check_positive_float("lr", bad)
    with raises_exactly(ValueError, "steps entry must be a finite number greater than 0 (e.g. 300), got -5"):
        check_positive_float("steps entry", -5, example="300")
    with raises_exactly(TypeError, "lr must be a number greater than 0 (e.g. 0.1), got True of type bool"):
        check_positive_float("lr", True)
    with raises_exactly(TypeError, "lr must be a number greater than 0 (e.g. 0.01), got '0.1' of type str"):
        check_positive_float("lr", "0.1", example="0.01")


def test_check_non_negative_float_accepts_0_and_rejects_negative_and_non_finite():
    value = check_non_negative_float("weight_decay", 0)
    assert value == 0.0 and type(value) is float
    assert check_non_negative_float("weight_decay", 2.5) == 2.5
    for bad in (-1e-9, math.nan, math.inf):
        with raises_exactly(ValueError, f"weight_decay must be a finite number ≥ 0, got {bad!r}"):
            check_non_negative_float("weight_decay", bad)
    with raises_exactly(TypeError, "weight_decay must be a number ≥ 0, got False of type bool"):
        check_non_negative_float("weight_decay", False)
    with raises_exactly(TypeError, "weight_decay must be a number ≥ 0, got None of type NoneType"):
        check_non_negative_float("weight_decay", None)


def test_check_momentum_accepts_0_up_to_but_not_1():
    assert check_momentum(0) == 0.0 and type(check_momentum(0)) is float
    assert check_momentum(0.9) == 0.9
    assert check_momentum(0.999) == 0.999
    for bad in (1, 1.0, 1.5):
        with raises_exactly(ValueError, "momentum must be at least 0 and below 1 (e.g. 0.9: each update keeps 90% "
                                        f"of the previous one); with {float(bad)!r} old updates never fade and "
                                        f"training does not settle, got momentum={float(bad)!r}"):
            check_momentum(bad)
    with raises_exactly(ValueError, "momentum must be a finite number ≥ 0, got -0.5"):
        check_momentum(-0.5)


def test_check_bool():
    assert check_bool("shuffle", True) is True and check_bool("shuffle", False) is False
    with raises_exactly(TypeError, "shuffle must be True or False, got 1"):
        check_bool("shuffle", 1)
    with raises_exactly(TypeError, "shuffle must be True or False, got 'yes'"):
        check_bool("shuffle", "yes")


# ---- tensors and models ------------------------------------------------------------------------------------

def test_check_tensor():
    x = torch.zeros(3)
    assert check_tensor("x", x) is x                     # 1-d is enough
    assert check_tensor("x", torch.zeros(2, 2)) is not None
    with raises_exactly(TypeError, "x must be a torch.Tensor (try torch.as_tensor(...)), got list"):
        check_tensor("x", [1.0, 2.0])
    with raises_exactly(ValueError, "y must have a first (sample) dimension, got a 0-d tensor tensor(5.)"):
        check_tensor("y", torch.tensor(5.0))


def test_check_finite_counts_the_bad_values():
    check_finite("x", torch.tensor([1.0, 2.0]))
    check_finite("y", torch.tensor([1, 2, 3]))               # integers cannot be NaN
    check_finite("x", torch.tensor([3e38, 3e38, -1.0]))      # the sum overflows, but every value is finite
    tail = ("NaN or infinite value(s); clean or drop those samples before training "
            "(e.g. x[torch.isfinite(x).all(dim=1)])")
    with raises_exactly(ValueError, "x contains 1 " + tail):
        check_finite("x", torch.tensor([1.0, math.nan, 2.0, 3.0]))
    with raises_exactly(ValueError, "x_train contains 3 " + tail):
        check_finite("x_train", torch.tensor([[math.inf, 1.0], [-math.inf, math.nan]]))


def test_check_finite_on_clean_data_looks_at_one_sum_not_at_every_value(monkeypatch):
    # The fast path: clean data (the usual case, called on every dataset before training) costs one reduction,
    # not a mask as large as the data; the mask is made only when the sum is not finite.
    shapes = []
    isfinite = torch.isfinite
    monkeypatch.setattr(torch, "isfinite", lambda t: shapes.append(tuple(t.shape)) or isfinite(t))
    check_finite("x", torch.ones(1000, 3))
    assert shapes == [()]
    shapes.clear()
    check_finite("x", torch.tensor([[3e38], [3e38]]))        # the sum overflows: then every value is looked at
    assert shapes == [(), (2, 1)]


def test_check_module_and_check_loss():
    model = nn.Linear(2, 1)
    assert check_module("model", model) is model
    with raises_exactly(TypeError, "model must be a torch.nn.Module (e.g. nn.Linear(40, 10)), got function"):
        check_module("model", lambda x: x)
    assert check_loss(None) is None
    assert check_loss(nn.functional.mse_loss) is nn.functional.mse_loss
    with raises_exactly(TypeError, "loss must be None or a function (output, target) -> mean loss of the batch, "
                                   "got 'mse'"):
        check_loss("mse")


def test_check_make_model_wants_a_function_not_a_model():
    def make():
        return nn.Linear(2, 1)
    assert check_make_model(make) is make
    assert check_make_model(nn.Linear) is nn.Linear        # a class is a function that makes a model
    with raises_exactly(TypeError, "make_model must be a function that returns a new model, e.g. "
                                   "lambda: nn.Linear(40, 10), got Linear(in_features=2, out_features=1, bias=True)"):
        check_make_model(nn.Linear(2, 1))
    with raises_exactly(TypeError, "make_model must be a function that returns a new model, e.g. "
                                   "lambda: nn.Linear(40, 10), got 3"):
        check_make_model(3)


def test_check_trainable_returns_the_trainable_parameters_by_name():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    model[0].weight.requires_grad_(False)
    params = check_trainable("model", model)
    assert list(params) == ["0.bias", "1.weight", "1.bias"]
    assert params["1.weight"] is model[1].weight
    frozen = nn.Linear(1, 1).requires_grad_(False)
    with raises_exactly(ValueError, "model has no trainable parameters (none with requires_grad=True), so there is "
                                    "nothing to train and no gradient to take; use a model with parameters, e.g. "
                                    "nn.Linear(40, 10), or unfreeze them with p.requires_grad_(True); "
                                    "got Linear(in_features=1, out_features=1, bias=True)"):
        check_trainable("model", frozen)


def test_check_features_names_the_tensor_and_the_conversion():
    linear = nn.Linear(2, 1)
    check_features("x", torch.zeros(3, 2), linear)                        # float32 for a float32 model
    check_features("x", torch.zeros(3, 2, dtype=torch.float64), linear.double())
    check_features("x", torch.zeros(3, 2), nn.ReLU())                      # no parameters: nothing to match
    check_features("x", torch.tensor([[1, 2]]), nn.Sequential(nn.Embedding(5, 2), nn.Flatten()))
    check_features("x", torch.tensor([[1, 2]]), nn.EmbeddingBag(5, 2))
    with raises_exactly(TypeError, "x holds integers (torch.int64); models need floating-point features: x.float()"):
        check_features("x", torch.tensor([[1, 2]]), linear)
    with raises_exactly(TypeError, "data x holds True/False values (torch.bool); models need floating-point "
                                   "features: x.float()"):
        check_features("data x", torch.tensor([[True, False]]), linear)
    with raises_exactly(TypeError, "x holds torch.float64 numbers but the model's parameters are torch.float32: "
                                   "they must be the same type; convert the data with x.to(torch.float32) "
                                   "(x.float() for float32), or the model with model.to(torch.float64)"):
        check_features("x", torch.zeros(3, 2, dtype=torch.float64), nn.Linear(2, 1))
    with raises_exactly(TypeError, "x holds torch.complex64 numbers but the model's parameters are torch.float32: "
                                   "they must be the same type; convert the data with x.to(torch.float32) "
                                   "(x.float() for float32), or the model with model.to(torch.complex64)"):
        check_features("x", torch.zeros(3, 2, dtype=torch.complex64), nn.Linear(2, 1))


# ---- choices and lists -------------------------------------------------------------------------------------

def test_check_choice():
    assert check_choice("name", "digits", ("mnist1d", "digits")) == "digits"
    with raises_exactly(ValueError, "name must be one of 'mnist1d', 'digits', got 'mnist'"):
        check_choice("name", "mnist", ("mnist1d", "digits"))
    with raises_exactly(ValueError, "name must be one of 'mnist1d', 'digits', got 3"):
        check_choice("name", 3, ("mnist1d", "digits"))


def test_check_list_accepts_sequences_and_1d_arrays_as_python_lists():
    assert check_list("lrs", (0.1, 1.0), what="w", example="e") == [0.1, 1.0]
    assert check_list("lrs", [5], what="w", example="e") == [5]         # one entry is enough
    assert check_list("b", range(1, 4), what="w", example="e") == [1, 2, 3]
    values = check_list("b", np.array([4, 16]), what="w", example="e")
    assert values == [4, 16] and all(type(v) is int for v in values)
    values = check_list("b", torch.tensor([2, 8]), what="w", example="e")
    assert values == [2, 8] and all(type(v) is int for v in values)


def test_check_list_messages():
    what, example = "a list of step counts", "[900, 300]"
    with raises_exactly(ValueError, "steps must be a list of step counts, one number per entry (e.g. [900, 300]), "
                                    "got an array of shape (2, 2)"):
        check_list("steps", np.zeros((2, 2)), what=what, example=example)
    with raises_exactly(ValueError, "steps must be a list of step counts, one number per entry (e.g. [900, 300]), "
                                    "got an array of shape ()"):
        check_list("steps", torch.tensor(3), what=what, example=example)
    for bad in ("900", b"900", 900, {900: 1}):
        with raises_exactly(TypeError, f"steps must be a list of step counts, e.g. [900, 300], got {bad!r}"):
            check_list("steps", bad, what=what, example=example)
    for empty in ([], (), np.array([])):
        with raises_exactly(TypeError, "steps must be a list of step counts, e.g. [900, 300], got an empty one"):
            check_list("steps", empty, what=what, example=example)


def test_check_batch_sizes_sorts_and_removes_repeats():
    assert check_batch_sizes("batch_sizes", [64, 4, 16, 4]) == [4, 16, 64]
    assert check_batch_sizes("batch_sizes", [7]) == [7]
    assert check_batch_sizes("batch_sizes", range(3, 0, -1)) == [1, 2, 3]
    assert check_batch_sizes("batch_sizes", np.array([8, 2], dtype=np.int32)) == [2, 8]
    assert check_batch_sizes("batch_sizes", torch.tensor([8, 2])) == [2, 8]
    assert check_batch_sizes("batch_sizes", torch.tensor([3], dtype=torch.uint8)) == [3]
    assert check_batch_sizes("batch_sizes", [1, 4, 10], at_most=10) == [1, 4, 10]   # N itself is allowed


@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=20))
def test_check_batch_sizes_is_the_sorted_set(sizes):
    assert check_batch_sizes("b", sizes) == sorted(set(sizes))
    assert check_batch_sizes("b", sizes, at_most=max(sizes)) == sorted(set(sizes))


def test_check_batch_sizes_messages():
    with raises_exactly(ValueError, "batch_sizes must be between 1 and the number of samples N = 10, got [11, 20] "
                                    "in batch_sizes=[20, 1, 11, 2]"):
        check_batch_sizes("batch_sizes", [20, 1, 11, 2], at_most=10)
    with raises_exactly(ValueError, "batch_sizes must be between 1 and the number of samples N = 10, got [11] "
                                    "in batch_sizes=[1, 10, 11]"):
        check_batch_sizes("batch_sizes", [1, 10, 11], at_most=10)
    with raises_exactly(ValueError, "sizes entry must be a positive whole number (1, 2, 3, ...), got 0"):
        check_batch_sizes("sizes", [4, 0])
    with raises_exactly(TypeError, "sizes entry must be a whole number (1, 2, 3, ...), got 4.5 of type float"):
        check_batch_sizes("sizes", [4.5])
    tail = "; convert it, e.g. np.array([1, 4, 16]) or sizes.astype(int)"
    with raises_exactly(TypeError, "sizes must hold whole numbers, got an array of float64 [1.0, 4.0]" + tail):
        check_batch_sizes("sizes", np.array([1.0, 4.0]))
    with raises_exactly(TypeError, "sizes must hold whole numbers, got an array of torch.float32 [2.0]" + tail):
        check_batch_sizes("sizes", torch.tensor([2.0]))
    with raises_exactly(TypeError, "sizes must hold whole numbers, got an array of torch.complex64 [(2+0j)]" + tail):
        check_batch_sizes("sizes", torch.tensor([2 + 0j]))
    with raises_exactly(TypeError, "sizes must hold whole numbers, got an array of torch.bool [True]" + tail):
        check_batch_sizes("sizes", torch.tensor([True]))
    # a float array of the wrong shape, or an empty one, is reported as such rather than as floats
    with raises_exactly(ValueError, "sizes must be a non-empty list of whole numbers, one number per entry "
                                    "(e.g. [1, 4, 16]), got an array of shape (1, 2)"):
        check_batch_sizes("sizes", np.array([[1.0, 2.0]]))
    with raises_exactly(TypeError, "sizes must be a non-empty list of whole numbers, e.g. [1, 4, 16], "
                                   "got an empty one"):
        check_batch_sizes("sizes", np.array([], dtype=float))
    with raises_exactly(TypeError, "sizes must be a non-empty list of whole numbers, e.g. [1, 4, 16], got 16"):
        check_batch_sizes("sizes", 16)
