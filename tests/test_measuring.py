"""median_seconds and synchronize: which runs are timed, what is waited for, and the median of what.

A fake clock (``time.perf_counter`` replaced by a counter that the measured function advances) gives
exact answers without measuring real time; a fake ``torch.accelerator.synchronize`` records which device
was waited for, so the GPU path is checked on a CPU-only machine too.
"""
import time

import pytest
import torch

from course_utils.measuring import median_seconds, synchronize


class FakeClock:
    """``perf_counter`` that stands still until ``run`` advances it by the next duration in the list."""

    def __init__(self, durations):
        self.now = 1000.0
        self.durations = list(durations)
        self.calls = 0

    def perf_counter(self) -> float:
        return self.now

    def run(self) -> None:
        self.calls += 1
        self.now += self.durations.pop(0)


@pytest.fixture
def waits(monkeypatch):
    """The devices torch.accelerator.synchronize was called with, in order (the real one is not called)."""
    seen = []
    monkeypatch.setattr(torch.accelerator, "synchronize", lambda device=None: seen.append(device))
    return seen


def test_median_seconds_times_each_repeat_after_the_untimed_warmup(monkeypatch):
    clock = FakeClock([50.0, 70.0, 3.0, 1.0, 2.0])    # two warm-up runs (slow, not counted), then 3, 1, 2
    monkeypatch.setattr(time, "perf_counter", clock.perf_counter)
    assert median_seconds(clock.run, repeats=3, warmup=2) == 2.0
    assert clock.calls == 5


def test_median_seconds_defaults_to_one_warmup_and_five_repeats(monkeypatch):
    clock = FakeClock([99.0, 5.0, 1.0, 4.0, 2.0, 3.0])
    monkeypatch.setattr(time, "perf_counter", clock.perf_counter)
    assert median_seconds(clock.run) == 3.0            # the median of 5, 1, 4, 2, 3; the 99 was the warm-up
    assert clock.calls == 6


def test_median_seconds_with_no_warmup_and_an_even_number_of_repeats(monkeypatch):
    clock = FakeClock([1.0, 4.0])
    monkeypatch.setattr(time, "perf_counter", clock.perf_counter)
    assert median_seconds(clock.run, repeats=2, warmup=0) == 2.5


def test_median_seconds_on_the_real_clock_is_a_positive_number():
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=3, warmup=0, device="cpu") >= 0
    assert len(calls) == 3


def test_median_seconds_checks_its_arguments():
    with pytest.raises(ValueError, match=r"^repeats must be a positive whole number .*got 0$"):
        median_seconds(lambda: None, repeats=0)
    with pytest.raises(ValueError, match=r"^warmup must be 0 or more, got -1$"):
        median_seconds(lambda: None, warmup=-1)
    with pytest.raises(TypeError, match=r"^fn must be a function with no arguments, e.g. lambda: model\(x\); "
                                        r"got 3$"):
        median_seconds(3)


def test_synchronize_waits_for_the_device_that_times_are_measured_on(waits, monkeypatch):
    clock = FakeClock([1.0, 1.0, 1.0])
    monkeypatch.setattr(time, "perf_counter", clock.perf_counter)
    median_seconds(clock.run, repeats=2, warmup=1, device="meta")
    # before starting and before stopping the clock, for each of the 2 timed runs; not around the warm-up
    assert waits == [torch.device("meta")] * 4


def test_synchronize_does_nothing_on_the_cpu(waits):
    synchronize("cpu")
    synchronize(torch.device("cpu"))
    assert waits == []
    synchronize("meta")
    assert waits == [torch.device("meta")]


def test_synchronize_defaults_to_the_current_accelerator_if_there_is_one(waits, monkeypatch):
    monkeypatch.setattr(torch.accelerator, "current_accelerator",
                        lambda check_available=False: torch.device("meta"))   # stands for a GPU that is there
    synchronize()
    assert waits == [torch.device("meta")]


def test_synchronize_without_a_usable_accelerator_does_nothing(waits, monkeypatch):
    # A CUDA build of torch on a machine without a GPU: an accelerator is compiled in but not available,
    # and only check_available=True says so.
    monkeypatch.setattr(torch.accelerator, "current_accelerator",
                        lambda check_available=False: None if check_available else torch.device("meta"))
    synchronize()
    assert waits == []


def test_synchronize_with_no_argument_on_this_machine_returns(waits):
    if torch.accelerator.current_accelerator(check_available=True) is not None:
        pytest.skip("this machine has an accelerator")
    assert synchronize() is None
    assert waits == []
