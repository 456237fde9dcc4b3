"""Throughput and memory against batch size, steps to a target loss, and the S = S_min(1 + B_noise/B) fit."""
import math

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.memory import saved_bytes
from course_utils.steps import StepsToTarget, fit_steps, steps_to_target
from course_utils.throughput import Throughput, throughput

matplotlib.use("Agg")
torch.set_num_threads(1)


# ---- fit_steps ---------------------------------------------------------------------------------------------

def test_fit_steps_recovers_exact_parameters():
    sizes = [8, 16, 32, 64, 128, 256, 512]
    steps = [100 * (1 + 64 / b) for b in sizes]
    s_min, b_noise = fit_steps(sizes, steps)
    assert s_min == pytest.approx(100, rel=1e-9) and b_noise == pytest.approx(64, rel=1e-9)
    # entries that never reached the target (None) are left out of the fit
    s_min, b_noise = fit_steps(sizes + [1024], steps + [None])
    assert s_min == pytest.approx(100, rel=1e-9) and b_noise == pytest.approx(64, rel=1e-9)


def test_fit_steps_known_answer_s_min_100_b_noise_50():
    sizes = [4, 16, 64, 256, 1024]
    fit = fit_steps(sizes, [100 * (1 + 50 / b) for b in sizes])
    assert fit.s_min == pytest.approx(100, rel=1e-6) and fit.b_noise == pytest.approx(50, rel=1e-6)
    assert fit.s_min_interval == pytest.approx((100, 100), rel=1e-6)   # no scatter: zero-width intervals
    assert fit.b_noise_interval == pytest.approx((50, 50), rel=1e-6)
    s_min, b_noise = fit                                                 # unpacks like the old pair
    assert (s_min, b_noise) == (fit[0], fit[1]) == (fit.s_min, fit.b_noise) and len(fit) == 2


def test_fit_steps_weighs_every_batch_size_by_its_relative_error():
    sizes = [4, 16, 64, 256, 1024]
    steps = [100 * (1 + 50 / b) for b in sizes]
    steps[0] *= 1.1  # 10% off at the smallest batch: a least-squares fit in S would bend to it
    s_min, b_noise = fit_steps(sizes, steps)
    assert s_min == pytest.approx(100, rel=0.03) and b_noise == pytest.approx(50, rel=0.1)


def test_fit_steps_interval_covers_the_truth_under_multiplicative_noise():
    sizes = [4, 8, 16, 32, 64, 128, 256, 512, 1024]
    generator = np.random.default_rng(0)
    covered_s = covered_b = 0
    for _ in range(200):
        steps = [100 * (1 + 50 / b) * math.exp(0.1 * generator.standard_normal()) for b in sizes]
        fit = fit_steps(sizes, steps)
        covered_s += fit.s_min_interval[0] <= 100 <= fit.s_min_interval[1]
        covered_b += fit.b_noise_interval[0] <= 50 <= fit.b_noise_interval[1]
    assert covered_s >= 175 and covered_b >= 175   # 95% intervals: about 190 of 200
    fit = fit_steps(sizes, [100 * (1 + 50 / b) * math.exp(0.1 * generator.standard_normal()) for b in sizes])
    assert fit.s_min_interval[0] < 100 < fit.s_min_interval[1] and fit.b_noise_interval[0] < 50 < fit.b_noise_interval[1]
    assert "95% interval" in str(fit)
    two = fit_steps([8, 64], [300, 120])   # two points: a curve through both, no scatter left to measure
    assert math.isnan(two.s_min_interval[0]) and math.isnan(two.b_noise_interval[1])


def test_fit_steps_checks_its_inputs():
    with pytest.raises(ValueError, match="at least 2 different batch sizes"):
        fit_steps([8, 16], [300, None])
    with pytest.raises(ValueError, match="at least 2 different batch sizes"):
        fit_steps([8, 8], [300, 310])
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        fit_steps([8, 16, 32], [300, 200])
    with pytest.raises(ValueError, match="batch_sizes entry.*got 0"):
        fit_steps([0, 16], [300, 200])
    with pytest.raises(ValueError, match="steps entry.*got -5"):
        fit_steps([8, 16], [-5, 200])
    with pytest.raises(TypeError, match="steps must be a list"):
        fit_steps([8, 16], 300)
    with pytest.raises(ValueError, match="does not describe steps=.*never level off"):
        fit_steps([1, 2], [10, 1])  # falls faster than 1/B: no positive floor


# ---- saved_bytes ---------------------------------------------------------------------------------------------

def test_saved_bytes_counts_what_autograd_keeps_for_a_small_mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def expected(b: int) -> int:
        # Found with torch.autograd.graph.saved_tensors_hooks (torch 2.13, CPU); the tensors saved are
        return (b * 8 * 4      # x, float32 (B, 8): the first Linear's input, kept for its weight gradient
                + b * 16 * 4   # the ReLU output (B, 16): saved by the ReLU and, as its input, by the second
                               # Linear — one storage, counted once
                + b * 3 * 4    # the log-softmax output (B, 3), saved by cross-entropy
                + b * 8        # the int64 labels (B,), saved by the negative log-likelihood
                + 4)           # a float32 scalar (the total class weight), saved by the negative log-likelihood
        # Not counted: the second Linear's transposed weight (16, 3), which it saves too — a parameter.

    for b in (5, 64):
        x, y = torch.randn(b, 8), torch.randint(0, 3, (b,))
        assert saved_bytes(model, x, y) == expected(b) == 116 * b + 4
    # affine in B: each extra sample adds the same number of bytes
    sizes = [saved_bytes(model, torch.randn(b, 8), torch.randint(0, 3, (b,))) for b in (10, 20, 30)]
    assert sizes[2] - sizes[1] == sizes[1] - sizes[0] == 10 * 116


def test_saved_bytes_counts_a_slice_of_a_larger_tensor_by_what_it_reaches_and_changes_nothing():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = torch.randn(100, 8), torch.randint(0, 3, (100,))
    assert saved_bytes(model, x[10:15], y[10:15]) == 116 * 5 + 4  # not the whole 100-sample storage
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        saved_bytes(lambda t: t, x, y)
    with pytest.raises(ValueError, match=r"len\(x\)=100 and len\(y\)=3"):
        saved_bytes(model, x, y[:3])


# ---- throughput ------------------------------------------------------------------------------------------------

def small_data(n: int = 32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def make_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def test_throughput_on_the_cpu_is_well_formed():
    state = torch.get_rng_state()
    result = throughput(make_mlp, small_data(8), [16, 1, 4], device="cpu", repeats=2)  # 16 > N: data repeated
    assert torch.equal(torch.get_rng_state(), state)
    assert isinstance(result, Throughput)
    assert result.batch_sizes == [1, 4, 16] and result.out_of_memory == [False] * 3
    assert result.device == "cpu" and result.memory_kind == "saved for backward"
    assert all(s > 0 for s in result.seconds_per_iteration)
    for b, s, rate in zip(result.batch_sizes, result.seconds_per_iteration, result.samples_per_second):
        assert rate == pytest.approx(b / s)
    assert result.memory_bytes == [116 * b + 4 for b in (1, 4, 16)]
    rows = result.rows()
    assert [r["batch_size"] for r in rows] == [1, 4, 16]
    assert "samples / s" in result.table() and len(result.table().splitlines()) == 5
    fig = result.plot()
    assert len(fig.axes) == 3 and "cpu" in fig.get_suptitle()
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    matplotlib.pyplot.close("all")


class RunsOutOfMemory(nn.Module):
    """Behaves as if a batch of more than 8 samples did not fit on the device."""

    seen: list[int] = []

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 3)
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        RunsOutOfMemory.seen.append(len(x))
        if len(x) > 8:
            raise self.error
        return self.linear(x)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("MPS backend out of memory")])
def test_a_batch_that_does_not_fit_is_reported_and_larger_ones_are_not_tried(error):
    RunsOutOfMemory.seen = []
    result = throughput(lambda: RunsOutOfMemory(error), small_data(), [4, 8, 16, 32, 64], device="cpu",
                        repeats=1, warmup=0)
    assert result.batch_sizes == [4, 8, 16]
    assert result.out_of_memory == [False, False, True]
    assert result.seconds_per_iteration[2] is None and result.memory_bytes[2] is None
    assert result.samples_per_second[2] is None
    assert max(RunsOutOfMemory.seen) == 16  # 32 and 64 were never attempted
    assert "out of memory" in result.table()
    result.plot()
    matplotlib.pyplot.close("all")


def test_throughput_lets_other_errors_through_and_checks_its_arguments():
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        throughput(lambda: nn.Linear(5, 3), small_data(), [4], device="cpu", repeats=1)
    with pytest.raises(TypeError, match="make_model must be a function"):
        throughput(make_mlp(), small_data(), [4], device="cpu")
    with pytest.raises(TypeError, match="make_model must return a torch.nn.Module"):
        throughput(lambda: "model", small_data(), [4], device="cpu")
    with pytest.raises(ValueError, match="batch_sizes entry.*got 0"):
        throughput(make_mlp, small_data(), [0, 4], device="cpu")
    with pytest.raises(ValueError, match="repeats.*got 0"):
        throughput(make_mlp, small_data(), [4], device="cpu", repeats=0)


# ---- steps_to_target -------------------------------------------------------------------------------------

class CountingLine(nn.Linear):
    """y = w·x with w starting at 0; counts its forward passes."""

    calls = 0

    def __init__(self) -> None:
        super().__init__(1, 1, bias=False)
        nn.init.zeros_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        CountingLine.calls += 1
        return super().forward(x)


# Every sample is x = 1, y = 2, so the loss is (w − 2)² whatever the batch, its gradient 2(w − 2), and an
# SGD step multiplies w − 2 by (1 − 2·lr): lr = 0.5 lands on w = 2 in one step, lr = 0.05 shrinks the loss
# by 0.81 per step, lr = 1.5 doubles |w − 2| every step (it diverges).
ONES = (torch.ones(8, 1), torch.full((8,), 2.0))


def steps_for_factor(loss0: float, factor: float, target: float) -> int:
    return next(k for k in range(1, 10_000) if loss0 * factor ** k <= target)


def test_steps_to_target_picks_the_learning_rate_that_gets_there_first():
    CountingLine.calls = 0
    state = torch.get_rng_state()
    result = steps_to_target(CountingLine, ONES, [4, 1], [0.05, 0.5, 1.5], target=1e-6, max_steps=100_000,
                             device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    assert isinstance(result, StepsToTarget)
    slow = steps_for_factor(4.0, 0.81, 1e-6)  # 73
    assert result.batch_sizes == [1, 4]
    assert result.steps == [1, 1] and result.best_lr == [0.5, 0.5] and result.examples == [1, 4]
    assert result.grid == {(1, 0.05): slow, (1, 0.5): 1, (1, 1.5): None,
                           (4, 0.05): slow, (4, 0.5): 1, (4, 1.5): None}
    assert CountingLine.calls < 1000  # lr=1.5 stopped when its loss became infinite, far before max_steps


def test_eval_every_rounds_the_steps_up_and_an_unreachable_target_gives_none():
    result = steps_to_target(CountingLine, ONES, [2], [0.05, 0.5], target=1e-6, max_steps=500, eval_every=5,
                             device="cpu")
    assert result.grid == {(2, 0.05): 75, (2, 0.5): 5}
    result = steps_to_target(CountingLine, ONES, [2], [0.05], target=1e-6, max_steps=50, device="cpu")
    assert result.steps == [None] and result.best_lr == [None] and result.examples == [None]
    result = steps_to_target(CountingLine, ONES, [2], [0.5], target=-1.0, max_steps=20, device="cpu")
    assert result.steps == [None]  # a squared error is never below 0
    ax = steps_to_target(CountingLine, ONES, [1, 2], [0.05], target=1e-6, max_steps=500, device="cpu",
                         eval_data=(torch.ones(3, 1), torch.full((3,), 2.0))).plot()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    matplotlib.pyplot.close("all")


def test_patience_gives_up_a_stalled_run_and_leaves_a_converging_one_alone():
    # lr = 1 multiplies w − 2 by −1: w jumps between 0 and 4, the loss stays 4 and never reaches a new lowest
    CountingLine.calls = 0
    result = steps_to_target(CountingLine, ONES, [2], [1.0], target=1e-6, max_steps=1000, patience=3,
                             device="cpu")
    assert result.grid == {(2, 1.0): None}
    assert CountingLine.calls == 1 + 3 * 2  # the first evaluation, then 3 steps of (update + evaluation)
    # a loss that falls at every evaluation is never given up: the same answer as without patience
    result = steps_to_target(CountingLine, ONES, [2], [0.05], target=1e-6, max_steps=1000, patience=1,
                             device="cpu")
    assert result.grid == {(2, 0.05): steps_for_factor(4.0, 0.81, 1e-6)}
    with pytest.raises(ValueError, match="patience.*got 0"):
        steps_to_target(CountingLine, ONES, [2], [0.05], target=1e-6, max_steps=10, patience=0, device="cpu")


def test_steps_to_target_checks_its_arguments():
    ok = dict(target=0.1, max_steps=10, device="cpu")
    with pytest.raises(TypeError, match="lrs must be a non-empty list"):
        steps_to_target(CountingLine, ONES, [2], [], **ok)
    with pytest.raises(ValueError, match="lrs entry.*got -0.1"):
        steps_to_target(CountingLine, ONES, [2], [-0.1], **ok)
    with pytest.raises(ValueError, match="max_steps.*got 0"):
        steps_to_target(CountingLine, ONES, [2], [0.1], target=0.1, max_steps=0)
    with pytest.raises(ValueError, match="target must be a finite number.*nan"):
        steps_to_target(CountingLine, ONES, [2], [0.1], target=math.nan, max_steps=10)
    with pytest.raises(ValueError, match="eval_every.*got 0"):
        steps_to_target(CountingLine, ONES, [2], [0.1], eval_every=0, **ok)
    with pytest.raises(ValueError, match="batch_sizes entry.*got 0"):
        steps_to_target(CountingLine, ONES, [0], [0.1], **ok)
    with pytest.raises(TypeError, match="make_model must be a function"):
        steps_to_target(CountingLine(), ONES, [2], [0.1], **ok)
    with pytest.raises(TypeError, match="target must be a number"):
        steps_to_target(CountingLine, ONES, [2], [0.1], target="0.1", max_steps=10)
    with pytest.raises(TypeError, match="eval_data must be an"):
        steps_to_target(CountingLine, ONES, [2], [0.1], eval_data="test", **ok)
