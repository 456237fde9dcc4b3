"""The verdict rule (course_utils/verdicts.py): known answers, coverage, words, and bad inputs."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import course_utils as cu
from course_utils.verdicts import t_quantile_975


def test_welch_interval_matches_a_hand_calculation():
    # means 2 and 6.1667; variances 1 and 1.5833; se = 0.9280; Welch df = 3.806 -> t = 2.855 (interpolated)
    v = cu.compare([1, 2, 3], [5, 6, 7.5])
    assert v.difference == pytest.approx(-25 / 6)
    assert v.high - v.difference == pytest.approx(2.855 * math.sqrt(1 / 3 + 1.58333 / 3), rel=1e-3)
    assert v.words == "A lower" and v.detected


def test_paired_runs_with_a_known_difference():
    base = [0.3, 0.7, 0.1, 0.9, 0.5]
    v = cu.compare([x + 0.25 for x in base], base, names=("small B", "large B"), paired=True)
    assert v.difference == pytest.approx(0.25)
    assert v.low == pytest.approx(0.25) and v.high == pytest.approx(0.25)   # no spread in the differences
    assert v.words == "large B lower"
    assert cu.compare([x + 0.25 for x in base], base, names=("small B", "large B"), paired=True,
                      higher=True).words == "small B higher"
    # unpaired, the same data: the spread between seeds hides the difference
    assert cu.compare([x + 0.25 for x in base], base).words == "no difference detected at 5 seeds"


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=12), st.floats(-10, 10))
def test_the_words_follow_the_interval(values, shift):
    v = cu.compare([x + shift for x in values], values, paired=True)
    if v.high < 0:
        assert v.words == "A lower"
    elif v.low > 0:
        assert v.words == "B lower"
    else:
        assert v.words == f"no difference detected at {len(values)} seeds"
    assert v.low <= v.difference <= v.high


def test_the_interval_covers_the_true_difference_95_times_in_100():
    rng = np.random.default_rng(0)
    trials, covered = 2000, 0
    for _ in range(trials):
        a, b = rng.normal(1.0, 1.0, 5), rng.normal(0.0, 2.0, 7)
        v = cu.compare(a, b)
        covered += v.low <= 1.0 <= v.high
    assert 0.935 <= covered / trials <= 0.965


def test_t_quantiles():
    assert t_quantile_975(1) == 12.706 and t_quantile_975(30) == 2.042
    assert t_quantile_975(2.5) == pytest.approx((4.303 + 3.182) / 2)
    assert t_quantile_975(60) == pytest.approx(2.000, abs=2e-3)
    qs = [t_quantile_975(df) for df in range(1, 200)]
    assert all(x > y for x, y in zip(qs, qs[1:])) and qs[-1] > 1.96


@pytest.mark.parametrize("a, b, kwargs, error, match", [
    ([1.0], [1.0, 2.0], {}, ValueError, "a needs at least 2 runs"),
    ([1.0, float("nan")], [1.0, 2.0], {}, ValueError, "a holds NaN"),
    ("0.3 0.4", [1.0, 2.0], {}, TypeError, "a must be a list of numbers"),
    ([1.0, 2.0], [1.0, 2.0, 3.0], {"paired": True}, ValueError, "paired=True needs one run of each"),
    ([1.0, 2.0], [1.0, 2.0], {"names": "AB"}, TypeError, "names must be two strings"),
])
def test_bad_inputs_say_what_would_work(a, b, kwargs, error, match):
    with pytest.raises(error, match=match):
        cu.compare(a, b, **kwargs)
