"""tune_lr: known answers (a quadratic whose best learning rate is known), the edge rule, failures, seeds."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.tuning import Tuning, tune_lr


def gd_final_loss(lr, seed, curvature=4.0, steps=10):
    """Gradient descent on ½·a·w² from w = 1: the loss after `steps` steps; the best lr is exactly 1/a."""
    return 0.5 * curvature * (1 - curvature * lr) ** (2 * steps)


def log_bowl(best):
    return lambda lr, seed: (math.log(lr) - math.log(best)) ** 2


def test_quadratic_best_lr_is_found_inside_the_grid():
    tuning = tune_lr(gd_final_loss, [0.01, 0.03, 0.1], seeds=2)
    assert tuning.edge is None
    assert tuning.best_lr == 0.246          # 1/a = 0.25, refined to within ×√2 on a 3-digit grid
    assert abs(math.log(tuning.best_lr / 0.25)) < math.log(math.sqrt(2))
    assert tuning.spacing <= math.sqrt(2)
    assert tuning.lrs == sorted(tuning.runs) and tuning.lrs[0] == 0.01
    assert tune_lr(gd_final_loss, [0.1, 0.3]).seeds == [0, 1, 2]          # 3 seeds by default
    assert str(tuning) == ("best lr = 0.246 (loss 2.42e-36 ± 0 over 2 seeds; lr 0.01 to 1.11, 9 tried; "
                           "neighbours within ×1.35)")


def test_the_grid_grows_past_an_end_and_says_so_when_it_may_not_grow_enough():
    few = tune_lr(log_bowl(1.0), [0.001, 0.003], seeds=1, max_extend=2)
    assert few.lrs == [0.001, 0.003, 0.009, 0.027]
    assert few.best_lr == 0.027 and few.edge == "largest" and few.spacing == math.inf
    assert "it is the largest tried, so the best may lie beyond the grid" in str(few)
    enough = tune_lr(log_bowl(1.0), [0.001, 0.003], seeds=1, max_extend=10)
    assert enough.edge is None and abs(math.log(enough.best_lr)) <= math.log(math.sqrt(2))
    low = tune_lr(log_bowl(1e-4), [0.1, 1.0], seeds=1, max_extend=1)
    assert low.lrs == [0.01, 0.1, 1.0] and low.best_lr == 0.01 and low.edge == "smallest"
    assert "it is the smallest tried" in str(low)


def test_no_extension_and_no_refinement_when_told_not_to():
    tuning = tune_lr(log_bowl(0.1), [0.01, 0.1, 1.0], seeds=1, max_extend=0, max_rounds=0)
    assert tuning.lrs == [0.01, 0.1, 1.0] and tuning.best_lr == 0.1 and tuning.spacing == 10


def test_a_learning_rate_where_any_seed_failed_cannot_be_best():
    def measure(lr, seed):   # lower is better up to lr = 0.5; above, seed 1 diverges
        if lr > 0.5 and seed == 1:
            return math.nan
        return -lr
    tuning = tune_lr(measure, [0.1, 0.3, 1.0, 3.0], seeds=2, max_rounds=0)
    assert tuning.best_lr == 0.3 and tuning.edge is None
    assert tuning.scores[1.0] == math.inf and math.isnan(tuning.runs[1.0][1])
    none_ok = tune_lr(lambda lr, seed: None, [0.1, 1.0], seeds=2)
    assert none_ok.best_lr is None and none_ok.edge is None and none_ok.best_runs == []
    assert none_ok.lrs == [0.1, 1.0]        # nothing to extend towards
    assert str(none_ok) == "no learning rate worked on every seed (lr 0.1 to 1, 2 tried)"
    with pytest.raises(ValueError, match="no learning rate worked"):
        none_ok.remeasure([5, 6])


def test_seeds_the_mean_decides_and_the_spread_is_reported():
    noise = {0: -0.2, 1: 0.0, 2: 0.2}
    tuning = tune_lr(lambda lr, seed: (math.log10(lr) + 1) ** 2 + 1 + noise[seed], [0.01, 0.1, 1.0], seeds=3)
    assert tuning.best_lr == 0.1 and tuning.seeds == [0, 1, 2]
    assert tuning.best_runs == pytest.approx([0.8, 1.0, 1.2])
    assert "(loss 1 ± 0.2 over 3 seeds;" in str(tuning)
    assert tune_lr(lambda lr, seed: lr, [1.0, 2.0], seeds=[7, 9], max_extend=0).seeds == [7, 9]


def test_higher_is_better_for_an_accuracy():
    accuracy = lambda lr, seed: 1 - (math.log10(lr) - math.log10(0.3)) ** 2
    tuning = tune_lr(accuracy, [0.01, 0.1, 1.0], seeds=1, higher=True, quantity="accuracy")
    assert tuning.edge is None and abs(math.log(tuning.best_lr / 0.3)) <= math.log(math.sqrt(2))
    assert tuning.scores[tuning.best_lr] == -accuracy(tuning.best_lr, 0)
    assert str(tuning).startswith(f"best lr = {tuning.best_lr:.3g} (accuracy")


def test_ties_go_to_the_smaller_learning_rate():
    assert tune_lr(lambda lr, seed: 1.0, [0.1, 1.0, 10.0], seeds=1, max_extend=0).best_lr == 0.1
    flat_top = lambda lr, seed: 0.0 if 0.1 <= lr <= 1.0 else 1.0
    assert tune_lr(flat_top, [0.01, 0.1, 1.0, 10.0], seeds=1, max_rounds=0).best_lr == 0.1


def test_finer_sets_how_close_the_neighbours_end_up():
    coarse = tune_lr(log_bowl(0.2), [0.01, 0.1, 1.0], seeds=1, finer=3.5)
    fine = tune_lr(log_bowl(0.2), [0.01, 0.1, 1.0], seeds=1, finer=1.1)
    assert coarse.spacing <= 3.5 < 3.2 * 3.5 and fine.spacing <= 1.1
    assert len(fine.lrs) > len(coarse.lrs)
    assert abs(math.log(fine.best_lr / 0.2)) <= math.log(1.1)


def test_remeasure_runs_the_best_lr_on_other_seeds():
    seen = []
    def measure(lr, seed):
        seen.append((lr, seed))
        return (lr - 1) ** 2 + seed
    tuning = tune_lr(measure, [0.5, 1.0, 2.0], seeds=2, max_rounds=0)
    seen.clear()
    assert tuning.remeasure([10, 11]) == [10.0, 11.0]
    assert seen == [(1.0, 10), (1.0, 11)]


def test_every_learning_rate_is_measured_once_per_seed():
    calls = {}
    def measure(lr, seed):
        calls[(lr, seed)] = calls.get((lr, seed), 0) + 1
        return (math.log(lr) - 1) ** 2
    tuning = tune_lr(measure, [0.1, 1.0, 10.0], seeds=2)
    assert set(calls.values()) == {1}
    assert {lr for lr, _ in calls} == set(tuning.lrs)


@settings(max_examples=40, deadline=None)
@given(best=st.floats(1e-4, 10.0), start=st.floats(1e-4, 10.0), ratio=st.sampled_from([2.0, 3.0, 10.0]))
def test_the_best_of_a_log_bowl_is_found_within_finer(best, start, ratio):
    tuning = tune_lr(log_bowl(best), [start, start * ratio], seeds=1, max_extend=20, max_rounds=20)
    assert tuning.edge is None
    assert tuning.spacing <= math.sqrt(2) * 1.01                      # 3-digit rounding of grid points
    assert abs(math.log(tuning.best_lr / best)) <= math.log(math.sqrt(2)) * 1.01


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(measure="loss"), TypeError, r"measure must be a function measure\(lr, seed\)"),
    (dict(lrs=[0.1]), ValueError, r"lrs needs at least 2 different learning rates.*got \[0.1\]"),
    (dict(lrs=[0.1, 0.1]), ValueError, r"lrs needs at least 2 different"),
    (dict(lrs=[0.1, -1.0]), ValueError, r"lrs entry"),
    (dict(seeds=0), ValueError, r"seeds"),
    (dict(seeds=[0, 0]), ValueError, r"seeds must be different from each other, got \[0, 0\]"),
    (dict(seeds=[0, -1]), ValueError, r"seeds must be whole numbers ≥ 0.*got -1"),
    (dict(seeds=[0, 1.5]), ValueError, r"seeds must be whole numbers"),
    (dict(finer=1.0), ValueError, r"finer must be a factor above 1.*got 1.0"),
    (dict(finer=0.0), ValueError, r"finer"),
    (dict(max_extend=-1), ValueError, r"max_extend must be 0 or more, got -1"),
    (dict(max_rounds=1.5), TypeError, r"max_rounds must be a whole number \(0, 1, 2, ...\), got 1.5"),
    (dict(measure=lambda lr, seed: "low"), TypeError,
     r"measure\(lr, seed\) must return a number \(or None for a failed run\), got 'low' at lr=0.1, seed=0"),
])
def test_bad_inputs_say_what_would_work(kwargs, error, words):
    arguments = dict(measure=lambda lr, seed: lr, lrs=[0.1, 1.0], seeds=2) | kwargs
    with pytest.raises(error, match=words):
        tune_lr(**arguments)


def test_the_plot_marks_failed_learning_rates_and_the_best():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tuning = tune_lr(lambda lr, seed: None if lr > 1 else (lr - 0.5) ** 2 + seed, [0.1, 1.0, 10.0], seeds=2)
    fig, ax = plt.subplots()
    tuning.plot(ax, label="B = 64")
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "loss"
    failed = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(failed) == 1 and list(failed[0].get_xdata()) == [lr for lr in tuning.lrs if lr > 1]
    best = [line for line in ax.lines if line.get_marker() == "o"]
    assert list(best[0].get_xdata()) == [tuning.best_lr]
    plt.close(fig)
    assert isinstance(tuning, Tuning)


def test_the_plot_of_an_accuracy_shows_the_accuracy_not_its_negative():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from course_utils.plots import COLORS
    accuracy = lambda lr, seed: 0.9 - (math.log10(lr) + 1) ** 2 / 10 + seed / 100
    tuning = tune_lr(accuracy, [0.01, 0.1, 1.0], seeds=2, higher=True, max_rounds=0)
    assert tuning.means == {lr: pytest.approx(accuracy(lr, 0) + 0.005) for lr in tuning.lrs}
    fig, ax = plt.subplots()
    tuning.plot(ax, label="B = 8")
    curve, *dots = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert list(curve.get_ydata()) == pytest.approx([tuning.means[lr] for lr in tuning.lrs])
    assert curve.get_label() == "B = 8" and curve.get_color() == COLORS["blue"]
    seeds = [line for line in ax.lines if line.get_marker() == "."]
    assert len(seeds) == 3 and all(len(line.get_ydata()) == 2 for line in seeds)
    assert list(seeds[0].get_ydata()) == pytest.approx([accuracy(0.01, 0), accuracy(0.01, 1)])
    [best] = [line for line in ax.lines if line.get_marker() == "o"]
    assert list(best.get_ydata()) == pytest.approx([tuning.means[0.1]]) and best.get_markerfacecolor() == "none"
    plt.close(fig)
    fig, ax = plt.subplots()
    tuning.plot(ax, color="#123456")
    assert {line.get_color() for line in ax.lines} == {"#123456"}
    plt.close(fig)


def test_the_printed_form_follows_digits_and_seeds():
    one = tune_lr(lambda lr, seed: (lr - 0.3) ** 2 + 0.012345, [0.1, 0.3, 1.0], seeds=1, max_rounds=0, digits=2)
    assert str(one) == ("best lr = 0.3 (loss 0.012 ± 0 over 1 seed; lr 0.1 to 1, 3 tried; "
                        "neighbours within ×3.33)")
    two = tune_lr(lambda lr, seed: 1.23456 + seed * 0.1, [0.1, 1.0], seeds=[0, 2], max_extend=0, digits=4,
                  quantity="steps")
    assert str(two) == ("best lr = 0.1 (steps 1.335 ± 0.141 over 2 seeds; lr 0.1 to 1, 2 tried): it is the "
                        "smallest tried, so the best may lie beyond the grid")


def test_remeasure_checks_its_seeds_and_keeps_failures():
    tuning = tune_lr(lambda lr, seed: None if seed == 7 else lr, [1.0, 2.0], seeds=2, max_extend=0)
    assert tuning.remeasure([5, 7]) == [1.0, None]
    with pytest.raises(ValueError, match=r"seeds must be different from each other"):
        tuning.remeasure([5, 5])
    with pytest.raises(ValueError, match=r"seeds must be whole numbers ≥ 0"):
        tuning.remeasure([-1])
    failed = tune_lr(lambda lr, seed: None, [1.0, 2.0], seeds=1, max_extend=0)
    with pytest.raises(ValueError, match=r"^no learning rate worked on every seed, so there is no best one to "
                                         r"remeasure; try a wider grid of learning rates$"):
        failed.remeasure([3])


def test_refinement_follows_each_side_of_the_best_and_stops_at_finer_exactly():
    lopsided = tune_lr(log_bowl(1.0), [0.1, 1.0, 1.1], seeds=1, max_extend=0, max_rounds=1)
    assert lopsided.lrs == [0.1, 0.316, 1.0, 1.05, 1.1]      # the wide left gap is split, and the right one
    small = tune_lr(log_bowl(0.01), [0.0095, 0.01, 0.1], seeds=1, max_extend=0, max_rounds=1)
    assert small.lrs == [0.0095, 0.00975, 0.01, 0.0316, 0.1]   # a wide right gap below lr = 1, split too
    exact = tune_lr(log_bowl(1.0), [0.5, 1.0, 2.0], seeds=1, max_extend=0, finer=2.0)
    assert exact.lrs == [0.5, 1.0, 2.0] and exact.spacing == 2.0 and exact.finer == 2.0
    just_over = tune_lr(log_bowl(1.0), [0.5, 1.0, 2.01], seeds=1, max_extend=0, finer=2.0, max_rounds=1)
    assert just_over.lrs == [0.5, 0.707, 1.0, 1.42, 2.01]


def test_the_default_limits_on_growing_and_refining():
    far = tune_lr(log_bowl(1000.0), [0.001, 0.01], seeds=1)      # 3 extensions by default, then it says so
    assert far.lrs == [0.001, 0.01, 0.1, 1.0, 10.0] and far.edge == "largest"
    low = tune_lr(log_bowl(1e-9), [1.0, 10.0], seeds=1, max_extend=2)
    assert low.lrs == [0.01, 0.1, 1.0, 10.0] and low.edge == "smallest"
    bowl = tune_lr(log_bowl(0.3), [0.01, 0.3, 9.0], seeds=1, max_extend=0, finer=1.001)   # 6 rounds by default
    assert len(bowl.lrs) == 3 + 2 * 6 and bowl.best_lr == 0.3
    one = tune_lr(log_bowl(0.3), [0.01, 0.3, 9.0], seeds=1, max_extend=0, finer=1.001, max_rounds=1)
    assert one.lrs == [0.01, 0.0548, 0.3, 1.64, 9.0]


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(seeds="abc"), TypeError, r"seeds must be a number of seeds or a list of seeds, e.g. 3 or \[0, 1, 2\]"),
    (dict(seeds=0), ValueError, r"^seeds must be"),
    (dict(lrs="fast"), TypeError, r"lrs must be a list of at least 2 learning rates, e.g. \[0.01, 0.1, 1.0\]"),
    (dict(lrs=[0.1, -1.0]), ValueError, r"^lrs entry must be"),
    (dict(finer=-1.0), ValueError, r"^finer must be .*1.41 \(×√2\)"),
])
def test_messages_name_the_argument_and_an_example(kwargs, error, words):
    arguments = dict(measure=lambda lr, seed: lr, lrs=[0.1, 1.0], seeds=2) | kwargs
    with pytest.raises(error, match=words):
        tune_lr(**arguments)
