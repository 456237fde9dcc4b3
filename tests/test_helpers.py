"""Widgets, quizzes and measuring helpers."""
import json

import pytest
import torch
from torch import nn

import course_utils as cu


def test_batch_size_choices_are_powers_of_two_then_n():
    assert cu.batch_size_choices(100) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert cu.batch_size_choices(64) == [1, 2, 4, 8, 16, 32, 64]
    assert cu.batch_size_choices(1) == [1]
    assert cu.batch_size_choices(1000, smallest=8)[:2] == [8, 16]
    with pytest.raises(ValueError, match="n_samples"):
        cu.batch_size_choices(0)


def test_sliders():
    slider = cu.batch_size_slider(1000, value=64)
    assert slider.value == 64 and slider.options[-1] == 1000
    with pytest.raises(ValueError, match="value=65"):
        cu.batch_size_slider(1000, value=65)
    lr = cu.lr_slider(0.1)
    assert lr.value == pytest.approx(0.1) and lr.min == pytest.approx(-4)
    with pytest.raises(ValueError, match="value=100"):
        cu.lr_slider(100)


def test_safe_callback_prints_one_line_instead_of_raising(capsys):
    @cu.safe
    def draw(batch_size):
        return 10 // batch_size

    assert draw(2) == 5
    assert draw(0) is None
    out = capsys.readouterr().out
    assert "ZeroDivisionError" in out and len(out.strip().splitlines()) == 1


def test_load_quiz_checks_the_format(tmp_path):
    good = [{"question": "How many iterations?", "type": "numeric",
             "answers": [{"type": "value", "value": 16, "correct": True, "feedback": "⌈1000/64⌉ = 16"}]}]
    path = tmp_path / "q.json"
    path.write_text(json.dumps(good))
    assert cu.load_quiz(path) == good
    bad = [dict(good[0], answers=[{"type": "value", "value": 15, "correct": False, "feedback": "no"}])]
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="no answer is marked correct"):
        cu.load_quiz(path)
    path.write_text(json.dumps([dict(good[0], type="essay")]))
    with pytest.raises(ValueError, match="type must be one of"):
        cu.load_quiz(path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        cu.load_quiz(tmp_path / "missing.json")


def test_one_cpu_thread_is_the_course_wide_policy(monkeypatch):
    assert torch.get_num_threads() == 1  # set by `import course_utils`
    monkeypatch.setenv("COURSE_THREADS", "2")
    try:
        assert cu.use_cpu_threads() == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("COURSE_THREADS", "many")
        with pytest.raises(ValueError, match="COURSE_THREADS must be a whole number.*'many'"):
            cu.use_cpu_threads()
        with pytest.raises(ValueError, match="threads must be a positive"):
            cu.use_cpu_threads(0)
    finally:
        monkeypatch.delenv("COURSE_THREADS")
        cu.use_cpu_threads()
    assert torch.get_num_threads() == 1


def test_activation_bytes_grow_linearly_with_batch_size():
    model = nn.Sequential(nn.Linear(10, 15), nn.ReLU(), nn.Linear(15, 10), nn.ReLU(), nn.Linear(10, 1))
    one = cu.activation_bytes(model, torch.zeros(1, 10))
    assert one == (15 + 15 + 10 + 10 + 1) * 4
    assert cu.activation_bytes(model, torch.zeros(100, 10)) == 100 * one


def test_median_seconds_runs_warmup_and_repeats():
    calls = []
    cu.median_seconds(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7



def test_median_seconds_is_the_median_of_the_clock_readings(monkeypatch):
    import course_utils.measuring as measuring
    readings = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])  # runs of 1, 3 and 2 seconds
    monkeypatch.setattr(measuring.time, "perf_counter", lambda: next(readings))
    assert cu.median_seconds(lambda: None, repeats=3, warmup=0, device="cpu") == 2.0
    with pytest.raises(ValueError, match="repeats"):
        cu.median_seconds(lambda: None, repeats=0)


def test_check_finite_counts_bad_values_and_accepts_huge_finite_ones():
    from course_utils.checks import check_finite
    check_finite("x", torch.tensor([3e38, 3e38]))  # the sum overflows, the values are fine
    check_finite("labels", torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="x contains 2 NaN or infinite"):
        check_finite("x", torch.tensor([1.0, float("nan"), float("-inf")]))
