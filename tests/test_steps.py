"""steps_to_target and fit_steps at their edges: exact step counts, when a run stops, and the fit's intervals.

Most runs use y = w·x with w starting at 0 on samples x = 1, y = 2 (as in tests/test_speed.py): the loss is
(w − 2)², an SGD step multiplies w − 2 by (1 − 2·lr), so every step count is known in advance.
"""
import importlib
import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from torch import nn

from course_utils.batching import Batches
from course_utils.data import Dataset
from course_utils.plots import COLORS
from course_utils.seeding import new_model
from course_utils.steps import StepsToTarget, _mean_loss, fit_steps, steps_to_target
from test_speed import CountingLine

matplotlib.use("Agg")
steps_module = importlib.import_module("course_utils.steps")


Line = CountingLine   # y = w·x from w = 0, counting its forward passes: the model test_speed.py uses


ONES = (torch.ones(8, 1), torch.full((8,), 2.0))   # loss (w − 2)², 4.0 at the start


def run(*args, **kwargs) -> StepsToTarget:
    Line.calls = 0
    return steps_to_target(Line, *args, device="cpu", **kwargs)


# ---- when a run stops ----------------------------------------------------------------------------------------

def test_a_target_the_untrained_model_already_meets_needs_0_steps():
    result = run(ONES, [2], [0.5], target=4.0, max_steps=10)        # the start loss is exactly 4.0
    assert result.grid == {(2, 0.5): 0} and result.steps == [0] and result.examples == [0]
    assert Line.calls == 1                                            # the first evaluation only


def test_a_loss_equal_to_the_target_reaches_it():
    result = run(ONES, [2], [0.5], target=0.0, max_steps=10)          # lr = 0.5 lands on w = 2: loss exactly 0
    assert result.grid == {(2, 0.5): 1}


def test_the_run_stops_at_max_steps_exactly():
    result = run(ONES, [2], [0.05], target=1e-6, max_steps=3)
    assert result.grid == {(2, 0.05): None}
    assert Line.calls == 1 + 3 * 2              # the start, then 3 × (a training step + an evaluation)
    result = run(ONES, [2], [0.05], target=1e-6, max_steps=3, eval_every=2)
    assert result.grid == {(2, 0.05): None}
    assert Line.calls == 1 + 3 + 2              # evaluated after steps 2 and 3 (max_steps is always checked)


def test_eval_every_counts_in_multiples_and_the_last_step_may_be_short_of_one():
    # lr = 0.05: the loss 4·0.81^k is ≤ 0.1 from k = 18 on
    assert run(ONES, [2], [0.05], target=0.1, max_steps=100).grid == {(2, 0.05): 18}
    assert run(ONES, [2], [0.05], target=0.1, max_steps=100, eval_every=4).grid == {(2, 0.05): 20}
    assert run(ONES, [2], [0.05], target=0.1, max_steps=19, eval_every=4).grid == {(2, 0.05): 19}


TRAIN_2_EVAL_3 = dict(eval_data=(torch.ones(3, 1), torch.full((3,), 3.0)))   # evaluated on y = 3: (w − 3)²


def test_patience_counts_the_evaluations_after_the_last_new_lowest_loss():
    # lr = 0.5 puts w on 2 in one step and leaves it there: on y = 3 the loss goes 9 -> 1 (a new lowest),
    # then stays 1; patience 2 gives up after two more evaluations without a new lowest
    result = run(ONES, [2], [0.5], target=0.5, max_steps=100, patience=2, **TRAIN_2_EVAL_3)
    assert result.grid == {(2, 0.5): None}
    assert Line.calls == 1 + 3 * 2
    result = run(ONES, [2], [0.5], target=0.5, max_steps=100, patience=1, **TRAIN_2_EVAL_3)
    assert Line.calls == 1 + 2 * 2
    result = run(ONES, [2], [0.5], target=0.5, max_steps=6, **TRAIN_2_EVAL_3)    # no patience: to max_steps
    assert result.grid == {(2, 0.5): None} and Line.calls == 1 + 6 * 2


def test_eval_data_is_what_the_target_is_compared_with():
    # on the training data lr = 0.5 reaches loss 0 in one step; on y = 3 the loss never falls below 1
    assert run(ONES, [2], [0.5], target=0.5, max_steps=5, **TRAIN_2_EVAL_3).grid == {(2, 0.5): None}
    assert run(ONES, [2], [0.5], target=1.0, max_steps=5, **TRAIN_2_EVAL_3).grid == {(2, 0.5): 1}


def test_ties_between_learning_rates_go_to_the_first_listed():
    # after one step lr = 0.3 has loss 4·0.4² = 0.64 and lr = 0.5 has 0: both reach 1.0 in one step
    result = run(ONES, [2], [0.3, 0.5], target=1.0, max_steps=10)
    assert result.grid == {(2, 0.3): 1, (2, 0.5): 1} and result.best_lr == [0.3]
    result = run(ONES, [2], [0.5, 0.3], target=1.0, max_steps=10)
    assert result.best_lr == [0.5]
    # a later learning rate that needs fewer steps wins
    result = run(ONES, [2], [0.05, 0.3], target=0.1, max_steps=100)
    assert result.grid == {(2, 0.05): 18, (2, 0.3): 3} and result.steps == [3] and result.best_lr == [0.3]


def test_the_result_records_the_target_and_max_steps_and_examples_are_b_times_steps():
    result = run(ONES, [3, 5], [0.05], target=1, max_steps=40)
    assert result.target == 1.0 and type(result.target) is float and result.max_steps == 40
    assert result.steps == [7, 7] and result.examples == [21, 35]   # 4·0.81^7 = 0.8 ≤ 1 and result.batch_sizes == [3, 5]


def test_momentum_is_the_heavy_ball_of_torch_sgd():
    def heavy_ball(lr, momentum, target):      # the same run in float64: v ← μ·v + g, w ← w − lr·v
        w = v = 0.0
        for step in range(1, 1000):
            v = momentum * v + 2 * (w - 2)
            w -= lr * v
            if (w - 2) ** 2 <= target:
                return step
    assert run(ONES, [2], [0.05], target=0.01, max_steps=500, momentum=0.5).grid == {
        (2, 0.05): heavy_ball(0.05, 0.5, 0.01)}
    assert heavy_ball(0.05, 0.5, 0.01) < heavy_ball(0.05, 0.0, 0.01) == 29
    assert run(ONES, [2], [0.05], target=0.01, max_steps=500).grid == {(2, 0.05): 29}


def test_the_loss_given_is_the_one_trained_and_measured():
    mean_abs = lambda out, target: (out.squeeze(1) - target).abs().mean()  # noqa: E731
    # its gradient is −1 while w < 2: lr = 0.5 moves w by 0.5 per step, reaching w = 2 (loss 0) at step 4
    assert run(ONES, [2], [0.5], target=0.0, max_steps=10, loss=mean_abs).grid == {(2, 0.5): 4}


def test_the_seed_starts_the_model_and_the_batch_order():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(12, generator=g)
    make = lambda: nn.Linear(3, 1)  # noqa: E731

    def reference(b, lr, seed, max_steps=200):   # the procedure the docstring describes, written out
        model = new_model(make, seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        mse = lambda: float(((model(x).squeeze(1) - y) ** 2).mean())  # noqa: E731
        step = 0
        for xb, yb in iter_epochs(b, seed):
            optimizer.zero_grad()
            ((model(xb).squeeze(1) - yb) ** 2).mean().backward()
            optimizer.step()
            step += 1
            with torch.no_grad():
                if mse() <= 0.1:
                    return step
            if step >= max_steps:
                return None

    def iter_epochs(b, seed):
        batches = Batches(x, y, batch_size=b, seed=seed)
        while True:
            yield from batches

    for seed in (0, 2):
        result = steps_to_target(make, (x, y), [2], [0.1], target=0.1, max_steps=200, seed=seed, device="cpu")
        assert result.grid == {(2, 0.1): reference(2, 0.1, seed)}
    assert reference(2, 0.1, 0) == 23 and reference(2, 0.1, 2) == 18


# ---- the mean loss of the evaluation ---------------------------------------------------------------------------

def test_mean_loss_weighs_each_chunk_by_its_size_and_restores_the_mode():
    model = nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5))
    x, y = torch.randn(10, 2), torch.randn(10, 1)
    model.eval()
    with torch.no_grad():
        exact = float(nn.functional.mse_loss(model(x), y))
    model.train()
    assert _mean_loss(model, x, y, nn.functional.mse_loss, chunk=3) == pytest.approx(exact, rel=1e-6)
    assert _mean_loss(model, x, y, nn.functional.mse_loss) == pytest.approx(exact, rel=1e-6)
    assert model.training                                     # dropout was off for the evaluation, and is on again
    model.eval()
    assert _mean_loss(model, x, y, nn.functional.mse_loss, chunk=4) == pytest.approx(exact, rel=1e-6)
    assert not model.training


def test_mean_loss_never_evaluates_more_than_8192_samples_at_once():
    sizes = []

    def loss(out, target):
        sizes.append(len(out))
        return nn.functional.mse_loss(out, target)

    x, y = torch.zeros(8200, 1), torch.ones(8200, 1)
    assert _mean_loss(nn.Linear(1, 1, bias=False), x, y, loss) == 1.0
    assert sizes == [8192, 8]


# ---- checks ------------------------------------------------------------------------------------------------

def test_steps_to_target_messages_name_the_argument():
    ok = dict(target=0.1, max_steps=10, device="cpu")
    with pytest.raises(TypeError, match=r"^lrs must be a non-empty list of learning rates, e.g. \[0.01, 0.1, 1.0\], "
                                        r"got an empty one$"):
        steps_to_target(Line, ONES, [2], (), **ok)
    with pytest.raises(ValueError, match=r"^lrs entry must be a finite number greater than 0 \(e.g. 0.1\), got 0.0$"):
        steps_to_target(Line, ONES, [2], np.array([0.1, 0]), **ok)
    with pytest.raises(TypeError, match=r"^target must be a number \(the loss to reach, e.g. 0.5\), got True$"):
        steps_to_target(Line, ONES, [2], [0.1], target=True, max_steps=10)
    with pytest.raises(ValueError, match=r"^target must be a finite number \(the loss to reach, e.g. 0.5\), got inf$"):
        steps_to_target(Line, ONES, [2], [0.1], target=math.inf, max_steps=10)
    with pytest.raises(ValueError, match=r"^max_steps must be a positive whole number"):
        steps_to_target(Line, ONES, [2], [0.1], target=0.1, max_steps=-1)
    with pytest.raises(ValueError, match=r"^seed must be 0 or more, got -1$"):
        steps_to_target(Line, ONES, [2], [0.1], seed=-1, **ok)
    with pytest.raises(ValueError, match=r"^eval_every must be a positive whole number"):
        steps_to_target(Line, ONES, [2], [0.1], eval_every=-2, **ok)
    with pytest.raises(ValueError, match=r"^patience must be a positive whole number \(1, 2, 3, ...\), got -1$"):
        steps_to_target(Line, ONES, [2], [0.1], patience=-1, **ok)
    with pytest.raises(ValueError, match=r"^momentum must be at least 0 and below 1"):
        steps_to_target(Line, ONES, [2], [0.1], momentum=1.0, **ok)
    with pytest.raises(TypeError, match=r"^loss must be None or a function"):
        steps_to_target(Line, ONES, [2], [0.1], loss="mse", **ok)
    with pytest.raises(TypeError, match=r"^data must be an \(x, y\) pair"):
        steps_to_target(Line, "ones", [2], [0.1], **ok)
    with pytest.raises(TypeError, match=r"^batch_sizes must be a non-empty list"):
        steps_to_target(Line, ONES, 2, [0.1], **ok)
    with pytest.raises(ValueError, match=r"^device must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 'tpu'$"):
        steps_to_target(Line, ONES, [2], [0.1], target=0.1, max_steps=10, device="tpu")
    with pytest.raises(TypeError, match=r"^data x holds integers"):
        steps_to_target(Line, (ONES[0].long(), ONES[1]), [2], [0.1], **ok)
    dataset = Dataset("ones", ONES[0], ONES[1], ONES[0], ONES[1], n_classes=None, description="")
    with pytest.raises(TypeError, match=r"^eval_data=.* is a whole Dataset: say which part you mean"):
        steps_to_target(Line, dataset, [2], [0.1], eval_data=dataset, **ok)
    assert steps_to_target(Line, dataset, [2], [0.5], eval_data=dataset.test, **ok).grid == {(2, 0.5): 1}


# ---- the plot ------------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:No artists with labels found")  # the empty plot: nothing reached
def test_plot_draws_the_measured_steps_and_perfect_scaling_through_the_first_reached():
    result = StepsToTarget(batch_sizes=[2, 4, 8, 32], steps=[None, 0, 300, 100], best_lr=[None, 0.1, 0.1, 0.2],
                           examples=[None, 0, 2400, 3200], target=0.25, max_steps=1000)
    with matplotlib.rc_context({"lines.linewidth": 3.0}):   # the dashed line is thinner whatever the style says
        fig, given = plt.subplots()
        ax = result.plot(given)
    try:
        assert ax is given
        ideal, measured = ax.get_lines()
        assert list(ideal.get_xdata()) == [8.0, 32.0] and list(ideal.get_ydata()) == [300.0, 75.0]
        assert ideal.get_linestyle() == "--" and ideal.get_linewidth() == 1.5
        assert to_hex(ideal.get_color()) == COLORS["black"].lower()
        assert list(measured.get_xdata()) == [8, 32] and list(measured.get_ydata()) == [300, 100]
        assert measured.get_linewidth() == 3.0
        assert measured.get_marker() == "o" and to_hex(measured.get_color()) == COLORS["blue"].lower()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["perfect scaling: steps ∝ 1/B",
                                                                      "measured (best lr per B)"]
        assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
        assert ax.get_yscale() == "log" and ax.yaxis.get_transform().base == 10
        assert ax.get_xlabel() == "batch size B (log₂ scale)"
        assert ax.get_ylabel() == "steps to reach the target (log scale)"
        assert ax.get_title() == "Steps to loss ≤ 0.25"
    finally:
        plt.close(fig)
    ax = StepsToTarget(batch_sizes=[2], steps=[None], best_lr=[None], examples=[None], target=1e-3).plot()
    assert ax.get_lines() == [] and ax.get_title() == "Steps to loss ≤ 0.001"
    plt.close("all")


# ---- fit_steps ---------------------------------------------------------------------------------------------

def test_fit_steps_messages():
    with pytest.raises(TypeError, match=r"^batch_sizes must be a list of batch sizes, e.g. \[16, 64, 256\], "
                                        r"got an empty one$"):
        fit_steps([], [])
    with pytest.raises(TypeError, match=r"^steps must be a list of step counts \(None where the target was not "
                                        r"reached\), e.g. \[900, 300, 150\], got 300$"):
        fit_steps([8, 16], 300)
    with pytest.raises(ValueError, match=r"^steps must be ≥ 1 for every batch size, got 0 at batch size 16: 0 means "
                                         r"the untrained model already met the target, so there is nothing to "
                                         r"count; choose a lower target \(one the untrained model does not reach\)$"):
        fit_steps([8, 16, 32], [300, 0, 100])
    with pytest.raises(TypeError, match=r"^steps entry must be a number greater than 0 \(e.g. 300\), got False"):
        fit_steps([8, 16, 32], [300, False, 100])
    with pytest.raises(ValueError, match=r"^steps entry must be a finite number greater than 0 \(e.g. 300\), "
                                         r"got -1$"):
        fit_steps([8, 16, 32], [300, 0.5, -1])
    with pytest.raises(ValueError, match=r"^batch_sizes entry must be a positive whole number"):
        fit_steps([8, -16], [300, 100])


def test_fit_steps_leaves_out_nan_and_none_entries_but_needs_two_batch_sizes():
    sizes = [4, 16, 64, 256]
    steps = [100 * (1 + 50 / b) for b in sizes]
    fit = fit_steps(sizes + [8, 1024], steps + [math.nan, None])
    assert fit.s_min == pytest.approx(100, rel=1e-9) and fit.b_noise == pytest.approx(50, rel=1e-9)
    fit = fit_steps([4, 8, 32, 16, 64, 256], steps[:1] + [None, math.nan] + steps[1:])  # gaps after the first
    assert fit.s_min == pytest.approx(100, rel=1e-9) and fit.b_noise == pytest.approx(50, rel=1e-9)
    fit = fit_steps(np.array(sizes), np.array(steps))
    assert fit.s_min == pytest.approx(100, rel=1e-9)
    with pytest.raises(ValueError, match=r"^fit_steps needs steps for at least 2 different batch sizes \(None "
                                         r"entries are left out\), got batch_sizes=\[4, 16\], steps=\[300, nan\]$"):
        fit_steps([4, 16], [300, math.nan])


def test_fit_steps_with_three_points_has_intervals():
    fit = fit_steps([4, 16, 64], [100 * (1 + 50 / b) for b in (4, 16, 64)])
    assert fit.s_min == pytest.approx(100, rel=1e-9) and fit.b_noise == pytest.approx(50, rel=1e-9)
    assert fit.s_min_interval == pytest.approx((100, 100), rel=1e-6)   # n − 2 = 1 degree of freedom, no scatter


def test_fit_steps_refuses_steps_that_grow_much_faster_than_the_model_allows():
    with pytest.raises(ValueError, match=r"^S = S_min·\(1 \+ B_noise/B\) does not describe steps=\[1, 10000000, 10000000\]: "
                                         r"the smallest batch size needs far fewer steps than the others \(check the "
                                         r"runs that reached the target\)$"):
        fit_steps([1, 2, 4], [1, 10**7, 10**7])   # B_noise would have to be −1 + e^−16
    with pytest.raises(ValueError, match=r"^S = S_min·\(1 \+ B_noise/B\) does not describe steps=\[100, 25, 6\]: they "
                                         r"fall as fast as 1/B \(perfect scaling\) or faster up to the largest batch "
                                         r"size, so they never level off at a positive floor S_min \(measure larger "
                                         r"batch sizes, or check the runs that reached the target\)$"):
        fit_steps([1, 4, 16], [100, 25, 6])


def test_fit_steps_minimises_the_log_misfit_and_its_intervals_are_t_times_the_standard_errors():
    sizes = np.array([4.0, 16.0, 64.0, 256.0, 1024.0])
    steps = 100 * (1 + 50 / sizes) * np.array([1.05, 0.97, 1.02, 0.99, 1.01])
    fit = fit_steps(sizes.astype(int), steps)

    def misfit(log_s_min, b_noise):
        return float(((np.log(steps) - log_s_min - np.log1p(b_noise / sizes)) ** 2).sum())

    # a minimum: moving either parameter a little raises the misfit
    best = misfit(math.log(fit.s_min), fit.b_noise)
    for d_log, d_b in ((1e-4, 0), (-1e-4, 0), (0, 1e-3 * fit.b_noise), (0, -1e-3 * fit.b_noise)):
        assert misfit(math.log(fit.s_min) + d_log, fit.b_noise + d_b) > best
    # the intervals: Student's t (3 degrees of freedom) times the standard errors from σ²(JᵀJ)⁻¹, with J the
    # slopes of log S taken here by finite differences
    h = 1e-6 * fit.b_noise
    slope_b = (np.log1p((fit.b_noise + h) / sizes) - np.log1p((fit.b_noise - h) / sizes)) / (2 * h)
    jacobian = np.column_stack([np.ones(5), slope_b])
    covariance = best / (5 - 2) * np.linalg.inv(jacobian.T @ jacobian)
    t3 = 3.182     # the 97.5% quantile of Student's t with 3 degrees of freedom, as the course's table has it
    half_log, half_b = t3 * math.sqrt(covariance[0, 0]), t3 * math.sqrt(covariance[1, 1])
    assert fit.s_min_interval == pytest.approx((fit.s_min * math.exp(-half_log), fit.s_min * math.exp(half_log)),
                                               rel=1e-6)
    assert fit.b_noise_interval == pytest.approx((fit.b_noise - half_b, fit.b_noise + half_b), rel=1e-6)
    assert str(fit) == (f"S_min = {fit.s_min:.4g} (95% interval {fit.s_min_interval[0]:.4g} to "
                        f"{fit.s_min_interval[1]:.4g}), B_noise = {fit.b_noise:.4g} (95% interval "
                        f"{fit.b_noise_interval[0]:.4g} to {fit.b_noise_interval[1]:.4g})")
    assert list(fit) == [fit.s_min, fit.b_noise] and len(fit) == 2 and fit[1] == fit.b_noise


def test_fit_steps_finds_a_negative_b_noise_when_steps_grow_with_b():
    sizes = [8, 16, 32, 64]
    fit = fit_steps(sizes, [200 * (1 - 4 / b) for b in sizes])
    assert fit.s_min == pytest.approx(200, rel=1e-9) and fit.b_noise == pytest.approx(-4, rel=1e-9)
    # B_noise + smallest B below 1: the search variable u = log(B_noise + smallest B) is negative there
    fit = fit_steps([1, 2, 4, 8], [100 * (1 - 0.5 / b) for b in (1, 2, 4, 8)])
    assert fit.s_min == pytest.approx(100, rel=1e-9) and fit.b_noise == pytest.approx(-0.5, rel=1e-9)
