"""scaled_lr gives the textbook rules; lr_schedule lists exactly the learning rates train uses."""
import math
import warnings

import pytest
import torch
from torch.optim.lr_scheduler import (CosineAnnealingLR, LambdaLR, LinearLR, OneCycleLR, ReduceLROnPlateau,
                                      SequentialLR, StepLR)

from course_utils import iterations_per_epoch, train
from course_utils.schedules import check_schedule_lengths, lr_schedule, scaled_lr


# --- scaled_lr ---------------------------------------------------------------------------------------

def test_scaled_lr_rules():
    assert scaled_lr(0.1, 16, 64) == 0.4
    assert scaled_lr(0.1, 16, 64, rule="linear") == 0.4
    assert scaled_lr(0.1, 16, 64, rule="sqrt") == 0.2
    assert scaled_lr(0.1, 16, 64, rule="none") == 0.1
    assert scaled_lr(0.4, 64, 16) == 0.1                      # scaling down too
    assert scaled_lr(0.1, 32, 32, rule="sqrt") == 0.1         # same batch, same lr
    assert scaled_lr(0.1, 1, 2, rule="sqrt") == pytest.approx(0.1 * math.sqrt(2), rel=1e-15)
    assert isinstance(scaled_lr(1, 1, 1), float)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(rule="square"), ValueError, ["rule", "'square'", "'linear'", "'sqrt'", "'none'"]),
    (dict(rule=None), ValueError, ["rule", "None"]),
    (dict(base_lr=0), ValueError, ["base_lr", "0"]),
    (dict(base_lr=-0.1), ValueError, ["base_lr", "-0.1"]),
    (dict(base_lr="0.1"), TypeError, ["base_lr", "'0.1'"]),
    (dict(base_batch_size=0), ValueError, ["base_batch_size", "0"]),
    (dict(base_batch_size=16.0), TypeError, ["base_batch_size", "16.0"]),
    (dict(batch_size=-4), ValueError, ["batch_size", "-4"]),
])
def test_scaled_lr_errors_name_argument_and_value(kwargs, error, words):
    args = dict(base_lr=0.1, base_batch_size=16, batch_size=64) | kwargs
    with pytest.raises(error) as info:
        scaled_lr(**args)
    for word in words:
        assert word in str(info.value)


# --- lr_schedule --------------------------------------------------------------------------------------

def no_warnings_schedule(factory, iterations, lr=0.1):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return lr_schedule(factory, iterations, lr=lr)


def test_constant_without_scheduler_steps():
    factory = lambda opt: LinearLR(opt, start_factor=1.0, total_iters=1)
    assert no_warnings_schedule(factory, 4, lr=0.3) == [0.3] * 4


def test_warmup_then_cosine_matches_formula():
    warm, T, base = 5, 12, 0.2
    factory = lambda opt: SequentialLR(opt, [LinearLR(opt, start_factor=0.1, total_iters=warm),
                                             CosineAnnealingLR(opt, T_max=T)], milestones=[warm])
    got = no_warnings_schedule(factory, warm + T + 1, lr=base)
    expected = [base * (0.1 + 0.9 * k / warm) if k < warm
                else base * (1 + math.cos(math.pi * (k - warm) / T)) / 2 for k in range(warm + T + 1)]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert got[warm] == pytest.approx(base) and got[warm + T] == pytest.approx(0.0, abs=1e-12)


def test_seed_003_one_cycle_per_iteration_peaks_at_pct_start():
    n, b, epochs = 100, 16, 10           # seed 003: OneCycleLR(opt, max_lr=0.1, steps_per_epoch=len(loader), epochs=10)
    per_epoch = iterations_per_epoch(n, b)
    total = epochs * per_epoch           # 70
    factory = lambda opt: OneCycleLR(opt, max_lr=0.1, steps_per_epoch=per_epoch, epochs=epochs)
    got = no_warnings_schedule(factory, total)
    assert len(got) == total
    # PyTorch ends the warm-up phase at step pct_start * total_steps - 1 (pct_start=0.3 by default):
    peak = round(0.3 * total) - 1        # 20: iteration 21 counting from 1
    assert max(got) == pytest.approx(0.1, rel=1e-12)
    assert got.index(max(got)) == peak
    assert got[0] == pytest.approx(0.1 / 25)                  # starts at max_lr / div_factor
    assert got[-1] == pytest.approx(0.1 / 25 / 1e4)           # ends at that / final_div_factor
    assert all(a < c for a, c in zip(got[:peak], got[1:peak + 1]))      # rises to the peak
    assert all(a > c for a, c in zip(got[peak:-1], got[peak + 1:]))     # then falls


def test_one_cycle_exactly_as_long_as_iterations_works_and_one_more_is_a_clear_error():
    factory = lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=10)
    assert len(no_warnings_schedule(factory, 10)) == 10
    with pytest.raises(ValueError) as info:
        lr_schedule(factory, 11)
    message = str(info.value)
    assert "iterations=11" in message and "total_steps=10" in message
    assert "steps_per_epoch=iterations_per_epoch(N, B)" in message


def test_train_lr_history_equals_lr_schedule_for_one_cycle():
    n, b, epochs = 100, 16, 3
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)
    model = torch.nn.Linear(8, 3)
    factory = lambda opt: OneCycleLR(opt, max_lr=0.2, epochs=epochs, steps_per_epoch=iterations_per_epoch(n, b))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = train(model, (x, y), epochs=epochs, batch_size=b, lr=0.05, scheduler=factory, progress=False)
    assert history.iterations == epochs * iterations_per_epoch(n, b) == 21
    assert history.lr == lr_schedule(factory, epochs * iterations_per_epoch(n, b), lr=0.05)


def test_lr_is_the_optimizer_learning_rate_the_scheduler_starts_from():
    factory = lambda opt: LinearLR(opt, start_factor=0.5, total_iters=2)
    assert no_warnings_schedule(factory, 3, lr=1.0) == [0.5, 0.75, 1.0]


def test_global_random_state_untouched():
    state = torch.get_rng_state()
    lr_schedule(lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=5), 5)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("iterations, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                               (True, TypeError), ("10", TypeError)])
def test_bad_iterations(iterations, error):
    with pytest.raises(error, match="iterations"):
        lr_schedule(lambda opt: LinearLR(opt), iterations)


def test_bad_lr():
    with pytest.raises(ValueError, match="lr must be a finite number greater than 0.*got 0"):
        lr_schedule(lambda opt: LinearLR(opt), 5, lr=0)


def test_scheduler_that_is_not_a_function():
    with pytest.raises(TypeError, match="scheduler must be a function optimizer -> LRScheduler.*got 'cosine'"):
        lr_schedule("cosine", 10)


def test_factory_returning_something_else():
    with pytest.raises(TypeError, match="must return a torch.optim.lr_scheduler.LRScheduler.*returned SGD"):
        lr_schedule(lambda opt: opt, 10)
    with pytest.raises(TypeError, match="ReduceLROnPlateau.*validation loss"):
        lr_schedule(lambda opt: ReduceLROnPlateau(opt), 10)


def test_factory_using_another_optimizer():
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="on the optimizer it is given"):
        lr_schedule(lambda opt: LinearLR(other), 10)


# --- what the mutation run found unpinned ----------------------------------------------------------------

def test_scaled_lr_rule_defaults_to_linear_and_uses_the_ratio_of_the_two_batch_sizes():
    assert scaled_lr(0.3, base_batch_size=10, batch_size=40) == pytest.approx(1.2, rel=1e-15)
    assert scaled_lr(0.3, 10, 40, rule="sqrt") == pytest.approx(0.6, rel=1e-15)
    assert scaled_lr(0.3, 40, 10, rule="sqrt") == pytest.approx(0.15, rel=1e-15)
    assert scaled_lr(0.3, 10, 40, rule="none") == 0.3
    with pytest.raises(ValueError, match="rule must be one of 'linear', 'sqrt', 'none', got 'Linear'"):
        scaled_lr(0.3, 10, 40, rule="Linear")


def test_lr_schedule_lr_defaults_to_point_one():
    assert lr_schedule(lambda opt: LinearLR(opt, start_factor=0.5, total_iters=1), 2) == [0.05, 0.1]


@pytest.mark.parametrize("factory, message", [
    (lambda opt: CosineAnnealingLR(opt, T_max=0),
     "scheduler: CosineAnnealingLR was built with T_max=0, but T_max is the iterations from the largest learning "
     "rate down to the smallest and must be at least 1, e.g. CosineAnnealingLR(opt, T_max=iterations) for one "
     "half-cosine over the whole run"),
    (lambda opt: CosineAnnealingLR(opt, T_max=0.5),
     "scheduler: CosineAnnealingLR was built with T_max=0.5, but T_max is"),
    (lambda opt: StepLR(opt, step_size=0),
     "scheduler: StepLR was built with step_size=0, but step_size is the iterations between two drops of the "
     "learning rate and must be at least 1, e.g. StepLR(opt, step_size=100, gamma=0.5)"),
])
def test_a_length_of_zero_is_refused_before_stepping(factory, message):
    with pytest.raises(ValueError) as info:
        lr_schedule(factory, 3)
    assert str(info.value).startswith(message)


def test_a_length_of_one_is_allowed_and_a_bool_is_not_a_length():
    assert lr_schedule(lambda opt: StepLR(opt, step_size=1, gamma=0.5), 3, lr=1.0) == [1.0, 0.5, 0.25]
    assert lr_schedule(lambda opt: CosineAnnealingLR(opt, T_max=1), 2, lr=1.0) == pytest.approx([1.0, 0.0])
    sched = LambdaLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), lambda k: 1.0)
    sched.T_max, sched.step_size = False, 0.0 + 1   # a flag, not a number of iterations; a float length >= 1
    check_schedule_lengths(sched)


def test_a_division_by_zero_while_stepping_names_the_iteration():
    with pytest.raises(ValueError) as info:
        lr_schedule(lambda opt: LambdaLR(opt, lambda k: 1 / (2 - k)), 4)
    assert str(info.value) == ("scheduler: LambdaLR divided by zero at iteration 2: one of the lengths it was built "
                               "with (a number of iterations) is 0; make every length at least 1")
    assert info.value.__suppress_context__


def test_a_schedule_too_short_names_its_length_and_what_to_build():
    with pytest.raises(ValueError) as info:
        lr_schedule(lambda opt: OneCycleLR(opt, max_lr=0.1, total_steps=4), 6)
    assert str(info.value) == (
        "the schedule is shorter than iterations=6: OneCycleLR was built for total_steps=4 iterations, and the "
        "step after iteration 5 goes past its end. Build it for the whole run, e.g. OneCycleLR(opt, max_lr=0.1, "
        "epochs=E, steps_per_epoch=iterations_per_epoch(N, B)) with E * iterations_per_epoch(N, B) = 6, or ask "
        "for iterations <= 4")
    assert info.value.__suppress_context__


class Failing(LambdaLR):
    """A scheduler whose step raises a ValueError of its own."""

    def __init__(self, optimizer, message, total_steps=None):
        self.message = message
        if total_steps is not None:
            self.total_steps = total_steps
        super().__init__(optimizer, lambda k: 1.0)

    def step(self, epoch=None):
        if self.last_epoch >= 1:
            raise ValueError(self.message)
        super().step()


@pytest.mark.parametrize("total_steps, message", [
    (None, "Tried to step 3 times. The specified number of total steps is 2"),  # no total_steps attribute
    (10, "something else went wrong"),                                          # not about total steps
])
def test_other_value_errors_while_stepping_pass_through_unchanged(total_steps, message):
    with pytest.raises(ValueError) as info:
        lr_schedule(lambda opt: Failing(opt, message, total_steps), 5)
    assert str(info.value) == message


def test_other_errors_name_what_was_passed():
    with pytest.raises(TypeError) as info:
        lr_schedule(lambda opt: opt, 10)
    assert str(info.value) == ("scheduler must return a torch.optim.lr_scheduler.LRScheduler built on the optimizer "
                               "it is given, e.g. lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 0.1, "
                               "total_iters=100); it returned SGD")
    with pytest.raises(TypeError) as info:
        lr_schedule(3, 10)
    assert str(info.value) == ("scheduler must be a function optimizer -> LRScheduler, e.g. lambda opt: "
                               "torch.optim.lr_scheduler.LinearLR(opt, 0.1, total_iters=100); got 3")
    with pytest.raises(TypeError) as info:
        lr_schedule(lambda opt: ReduceLROnPlateau(opt), 10)
    assert str(info.value) == ("scheduler returned a ReduceLROnPlateau, whose learning rate depends on the "
                               "validation loss of a real run, so it cannot be listed in advance; pass a "
                               "scheduler that follows a fixed plan (LinearLR, CosineAnnealingLR, OneCycleLR, ...)")
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError) as info:
        lr_schedule(lambda opt: LinearLR(other), 10)
    assert str(info.value) == ("scheduler must build its LRScheduler on the optimizer it is given (lambda opt: "
                               "SomeLR(opt, ...)), not on another optimizer")


@pytest.mark.parametrize("kwargs, message", [
    (dict(base_lr=0), r"^base_lr must be a finite number greater than 0.*got 0$"),
    (dict(base_batch_size=0), r"^base_batch_size must be .*got 0$"),
    (dict(batch_size=0), r"^batch_size must be .*got 0$"),
])
def test_scaled_lr_messages_start_with_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scaled_lr(**(dict(base_lr=0.1, base_batch_size=16, batch_size=64) | kwargs))


def test_lr_schedule_messages_start_with_the_argument():
    with pytest.raises(ValueError, match=r"^iterations must be .*got 0$"):
        lr_schedule(lambda opt: LinearLR(opt), 0)
    with pytest.raises(ValueError, match=r"^lr must be a finite number greater than 0.*got -1"):
        lr_schedule(lambda opt: LinearLR(opt), 3, lr=-1)
