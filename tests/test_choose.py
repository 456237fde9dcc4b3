"""cu.choose_batch_size: a known answer for B_simple, the memory search, the recommendation rule, bad inputs.

The known answer: y = w*·x + ε with x ~ N(0, I_d), ε ~ N(0, σ²), the model w·x at w = 0 and the mean squared
error. Sample i's gradient is gᵢ = −2 yᵢ xᵢ, so G = E g = −2 w* and, by the Gaussian fourth moment
E[(w*·x)² |x|²] = |w*|² (d + 2), tr Σ = E|g|² − |G|² = 4 (|w*|² (d + 1) + σ² d):
B_simple = tr Σ / |G|² = d + 1 + σ² d / |w*|².
"""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

import course_utils as cu
from course_utils import choose
from course_utils.choose import (cpu_memory_limit, gpu_memory_limit, knee_of, noise_scale_estimates,
                                 predicted_times)

D, SIGMA = 10, 5.0
W_STAR = torch.ones(D) / math.sqrt(D)            # |w*| = 1
TRUE_TRACE = 4 * (1.0 * (D + 1) + SIGMA**2 * D)  # 1044
TRUE_G2 = 4.0
TRUE_B_SIMPLE = TRUE_TRACE / TRUE_G2              # 261


def regression(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g)
    return x, x @ W_STAR + SIGMA * torch.randn(n, generator=g)


def zero_model():
    model = nn.Linear(D, 1, bias=False)
    nn.init.zeros_(model.weight)
    return model


def test_the_trace_and_gradient_are_exact_on_the_sample():
    """At w = 0 the per-sample gradient is gᵢ = −2 yᵢ xᵢ: gradient_noise's tr Σ and |G|² are those of these rows."""
    x, y = regression(4000)
    noise = cu.gradient_noise(zero_model(), (x, y), [len(x)], draws=1)
    g = (-2 * y[:, None] * x).double()
    mean = g.mean(dim=0)
    assert noise.grad_norm_sq == pytest.approx(float(mean @ mean), rel=1e-9)
    assert noise.trace == pytest.approx(float(((g - mean) ** 2).sum(dim=1).mean()), rel=1e-9)


def test_the_closed_form_holds_for_the_distribution():
    """The formulas for tr Σ and |G|² themselves, on 400,000 samples (sampling error about 1 % and 2 %)."""
    x, y = regression(400_000, seed=5)
    g = (-2 * y[:, None] * x).double()
    mean = g.mean(dim=0)
    assert float(((g - mean) ** 2).sum(dim=1).mean()) == pytest.approx(TRUE_TRACE, rel=0.03)
    assert float(mean @ mean) == pytest.approx(TRUE_G2, rel=0.06)


def test_b_simple_is_within_10_percent_of_the_truth():
    x, y = regression(3 * 4096, seed=1)
    estimates = noise_scale_estimates(zero_model(), x, y, subsets=3, samples=4096)
    assert len(estimates) == 3
    assert sorted(estimates)[1] == pytest.approx(TRUE_B_SIMPLE, rel=0.10)


def test_the_bias_correction_matters_on_small_subsets():
    """|ḡ|² of n samples overestimates |G|² by tr Σ / n: at n = 256 that is B_simple/n ≈ 100 % too much."""
    x, y = regression(8 * 256, seed=2)
    estimates = noise_scale_estimates(zero_model(), x, y, subsets=8, samples=256)
    corrected = sorted(estimates)[4]
    assert corrected == pytest.approx(TRUE_B_SIMPLE, rel=0.35)
    naive = cu.noise_scale(zero_model(), (x[:256], y[:256]))
    assert naive < 0.7 * TRUE_B_SIMPLE


def test_the_whole_call_finds_b_simple_at_the_start():
    x, y = regression(3 * 4096, seed=3)
    choice = cu.choose_batch_size(zero_model, (x, y), device="cpu", time_budget=3, noise_samples=4096,
                                  progress=False)
    assert statistics_median(choice.b_simple_start) == pytest.approx(TRUE_B_SIMPLE, rel=0.10)
    assert choice.recommended in choice.speed.batch_sizes and choice.recommended & (choice.recommended - 1) == 0
    assert choice.predicted_time[choice.recommended] == 1.0
    assert choice.lr is not None and choice.tuning.best_lr == choice.lr


def statistics_median(values):
    return sorted(values)[len(values) // 2]


# ---- the memory search ---------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 100_000))
def test_the_gpu_search_brackets_the_limit_within_one_bisection_step(limit):
    tried = []

    def fits(b):
        tried.append(b)
        return b <= limit

    low, high = gpu_memory_limit(fits, cap=1 << 20)
    assert low <= limit < high
    assert high - low <= max(1, low // 16)
    assert len(tried) <= 1 + 17 + choose.BISECTION_STEPS


def test_the_gpu_search_stops_at_the_cap_and_at_one():
    assert gpu_memory_limit(lambda b: True, cap=1000) == (1000, None)
    assert gpu_memory_limit(lambda b: False, cap=1000) == (0, 1)
    assert gpu_memory_limit(lambda b: b <= 100, cap=10_000) == (100, 104)


def test_the_cpu_limit_is_the_largest_power_of_two_within_the_budget():
    x, y = torch.zeros(4096, 40), torch.zeros(4096, dtype=torch.long)
    make = lambda: nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))  # noqa: E731
    fixed = sum(p.numel() * 4 for p in make().parameters()) * 2
    for budget in [fixed + 10_000, fixed + 300_000, 10**9]:
        b, per_sample = cpu_memory_limit(make, x, y, cap=4096, budget=budget, loss=nn.functional.cross_entropy,
                                         extra_state=0)
        measured = cu.saved_bytes(make(), x[:b], y[:b])
        assert per_sample == (cu.saved_bytes(make(), x[:16], y[:16]) - cu.saved_bytes(make(), x[:8], y[:8])) // 8
        assert fixed + measured <= budget + 64
        assert b == 4096 or fixed + per_sample * 2 * b > budget


def test_a_small_memory_budget_caps_the_batch_sizes_tried():
    data = cu.load_dataset("mnist1d")
    make = lambda: nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))  # noqa: E731
    choice = cu.choose_batch_size(make, data, device="cpu", memory_budget=2**20, time_budget=3, progress=False)
    assert choice.largest_fits < 2048 and choice.speed.batch_sizes[-1] == choice.largest_fits
    assert "1 MiB as asked" in choice.memory_note


# ---- the rule -------------------------------------------------------------------------------------------------
def test_knee_and_predicted_times_known_answers():
    assert knee_of([8, 16, 32, 64], [100.0, 170.0, 195.0, 200.0]) == 32
    assert knee_of([8, 16, 32, 64], [100.0, 170.0, 195.0, 200.0], fraction=0.99) == 64
    assert knee_of([8, 16], [5.0, 5.0]) == 8
    assert predicted_times([8, 16, 32], [80.0, 160.0, 200.0], b_noise=16.0) == {8: 1.5, 16: 1.0, 32: 1.2}


@settings(max_examples=100, deadline=None)
@given(b_noise=st.floats(1, 1e5), hardware=st.floats(1, 1e5))
def test_with_a_saturating_device_the_best_b_is_near_the_geometric_mean(b_noise, hardware):
    """r(B) = B / (B + B_hw): time ∝ (B + B_noise)(B + B_hw)/B is least at B = √(B_noise · B_hw)."""
    sizes = [2**k for k in range(0, 25)]
    times = predicted_times(sizes, [b / (b + hardware) for b in sizes], b_noise)
    best = min(sizes, key=lambda b: (times[b], b))
    optimum = math.sqrt(b_noise * hardware)
    assert optimum / 2 <= best <= optimum * 2 or best in (1, 2**24)


# ---- what learners pass ---------------------------------------------------------------------------------------------
def test_a_torch_dataset_adam_and_the_report():
    x, y = torch.randn(512, 6), torch.randint(0, 3, (512,))
    choice = cu.choose_batch_size(lambda: nn.Linear(6, 3), TensorDataset(x, y), optimizer="adam", device="cpu",
                                  time_budget=3, progress=False)
    assert choice.optimizer == "adam" and choice.n_samples == 512
    text = str(choice)
    assert text.startswith(f"recommended batch size B = {choice.recommended}, lr = ")
    assert all(f"- {reason}" in text for reason in choice.reasons) and len(choice.reasons) == 5
    table = choice.table()
    assert "recommended" in table and "knee" in table and len(table.splitlines()) == 2 + len(choice.speed.batch_sizes)
    fig = choice.plot()
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_the_progress_bar_counts_every_step(capsys):
    x, y = torch.randn(128, 4), torch.randint(0, 2, (128,))
    cu.choose_batch_size(lambda: nn.Linear(4, 2), (x, y), device="cpu", time_budget=1, progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err


# ---- bad inputs -----------------------------------------------------------------------------------------------------
PAIR = (torch.randn(64, 4), torch.randint(0, 2, (64,)))
LINEAR = lambda: nn.Linear(4, 2)  # noqa: E731


@pytest.mark.parametrize("kwargs, error, words", [
    ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of 'sgd', 'adam', got 'rmsprop'"),
    ({"knee_fraction": 1.5}, ValueError, "knee_fraction must be a share of the best samples per second"),
    ({"knee_fraction": 0}, ValueError, "knee_fraction"),
    ({"time_budget": 0}, ValueError, "time_budget"),
    ({"memory_budget": -1}, ValueError, "memory_budget"),
    ({"min_batch_size": 0}, ValueError, "min_batch_size"),
    ({"min_batch_size": 16, "max_batch_size": 8}, ValueError, "max_batch_size=8 is smaller than min_batch_size=16"),
    ({"noise_subsets": 40}, ValueError, "noise_subsets=40 needs at least 80 samples"),
    ({"device": "tpu"}, ValueError, "device must be None, 'cuda', 'mps', 'cpu'"),
    ({"seed": -1}, ValueError, "seed"),
    ({"progress": "yes"}, TypeError, "progress"),
])
def test_bad_settings_name_the_argument(kwargs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        cu.choose_batch_size(LINEAR, PAIR, **kwargs)


def test_bad_models_and_data_name_the_argument():
    with pytest.raises(TypeError, match="make_model must be a function that returns a new model"):
        cu.choose_batch_size(nn.Linear(4, 2), PAIR)
    with pytest.raises(TypeError, match="data must be an"):
        cu.choose_batch_size(LINEAR, [1, 2, 3])
    with pytest.raises(TypeError, match="not \\(x, y\\) pairs"):
        cu.choose_batch_size(LINEAR, TensorDataset(torch.randn(8, 4)))
    with pytest.raises(TypeError, match="data x holds integers"):
        cu.choose_batch_size(LINEAR, (torch.ones(8, 4, dtype=torch.long), torch.zeros(8, dtype=torch.long)))


# ---- on a GPU: the out-of-memory path (skipped without one, with the reason) ---------------------------------------
GPU = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else None


@pytest.mark.gpu
@pytest.mark.skipif(GPU is None, reason="no CUDA or MPS device on this machine (the GPU tests need one)")
def test_the_gpu_memory_search_finds_the_limit_and_recovers():
    width = 4096
    make = lambda: nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 2))  # noqa: E731
    x, y = torch.randn(4096, 8), torch.zeros(4096, dtype=torch.long)
    choice = cu.choose_batch_size(make, (x, y), device=GPU, max_batch_size=2**26, time_budget=20, progress=False,
                                  noise_samples=256)
    largest = choice.largest_fits
    assert largest > 4096 and "does not" in choice.memory_note
    too_large = int(choice.memory_note.split("and B = ")[1].split(" ")[0])
    assert too_large - largest <= max(1, largest // 16)        # within one bisection step
    xb = x[torch.arange(too_large) % len(x)]
    with pytest.raises(cu.BatchTooLargeError):
        cu.train(make(), (xb, y[torch.arange(too_large) % len(x)]), epochs=1, batch_size=too_large, lr=0.01,
                 device=GPU, progress=False)
    h = cu.train(make(), (x, y), epochs=1, batch_size=1024, lr=0.01, device=GPU, progress=False)  # recovered
    assert h.iterations == 4
