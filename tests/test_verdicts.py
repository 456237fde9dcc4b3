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


def test_paired_interval_width_and_how_it_is_printed():
    # differences 1, 2, 3: mean 2, sd 1, half-width t(2) · 1 / √3 with t(2) = 4.303
    v = cu.compare([2.0, 4.0, 6.0], [1.0, 2.0, 3.0], names=("A", "B"), paired=True, digits=1)
    assert v.high - v.difference == pytest.approx(4.303 / math.sqrt(3))
    assert str(v) == "no difference detected at 3 seeds: A − B = +2.0 (95 % interval -0.5 to +4.5; paired, n = 3 seeds)"
    assert not v.detected


def test_welch_with_one_noiseless_side_uses_one_degree_of_freedom():
    # b has no spread, a has variance 2 over 2 runs: Welch's df is exactly 1, t = 12.706
    v = cu.compare([0.0, 2.0], [5.0, 5.0])
    assert v.high - v.difference == pytest.approx(12.706)
    assert v.words == "no difference detected at 2 seeds"


def test_two_noiseless_settings_differ_by_exactly_their_difference():
    v = cu.compare([1.0, 1.0], [2.0, 2.0])
    assert (v.low, v.difference, v.high) == (-1.0, -1.0, -1.0) and v.words == "A lower"


def test_unequal_numbers_of_seeds_are_named():
    assert cu.compare([1.0, 2.0, 3.0], [1.5, 2.5]).words == "no difference detected at 3 and 2 seeds"


def test_the_t_series_beyond_the_table():
    assert t_quantile_975(31) == pytest.approx(2.039513, abs=1.5e-4)   # the exact quantile, to 4 digits


@pytest.mark.parametrize("call, match", [
    (lambda: cu.compare([1.0, 2.0], [1.0]), "b needs at least 2 runs"),
    (lambda: cu.mean_and_spread([1.0]), "values needs at least 2 runs"),
    (lambda: t_quantile_975(0.5), "df must be at least 1"),
])
def test_each_message_names_its_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_higher_words_and_the_means_when_a_is_lower():
    v = cu.compare([0.50, 0.52, 0.51], [0.60, 0.61, 0.62], names=("once", "every epoch"), higher=True)
    assert v.words == "every epoch higher"
    assert v.mean_a == pytest.approx(0.51) and v.mean_b == pytest.approx(0.61)
