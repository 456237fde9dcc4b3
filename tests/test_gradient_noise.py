"""Per-sample gradients, the gradient noise scale, and mini-batch gradient noise against batch size."""
import math

import pytest
import torch
from hypothesis import assume, given, settings, strategies as st
from torch import nn

from course_utils.gradient_noise import GradientNoise, gradient_noise, noise_scale, per_sample_grads
from course_utils.training import default_loss

torch.set_num_threads(1)


def mlp(n_in: int, n_hidden: int, n_out: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_out))


def grads_one_by_one(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The plain autograd way: a backward pass per sample, each on a batch of one."""
    loss_fn = default_loss(y)
    rows = []
    for i in range(len(x)):
        model.zero_grad()
        loss_fn(model(x[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    model.zero_grad(set_to_none=True)
    return torch.stack(rows)


def classification(n: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_per_sample_grads_match_a_backward_pass_per_sample_for_class_labels():
    model = mlp(5, 7, 3)
    x, y = classification()
    fast = per_sample_grads(model, x, y)
    assert fast.shape == (12, sum(p.numel() for p in model.parameters()))
    torch.testing.assert_close(fast, grads_one_by_one(model, x, y), rtol=1e-5, atol=1e-6)


def test_per_sample_grads_match_for_float_targets_and_one_output():
    model = mlp(4, 6, 1)  # output (N, 1), targets (N,): the default MSE squeezes the output
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(9, 4, generator=g), torch.randn(9, generator=g)
    torch.testing.assert_close(per_sample_grads(model, x, y), grads_one_by_one(model, x, y), rtol=1e-5, atol=1e-6)


def test_chunks_give_the_same_rows_and_the_model_is_left_alone():
    model = mlp(5, 7, 3)
    model.eval()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = classification(n=11)
    whole = per_sample_grads(model, x, y, chunk_size=512)
    torch.testing.assert_close(per_sample_grads(model, x, y, chunk_size=3), whole, rtol=1e-6, atol=1e-7)
    assert not model.training
    for p, old in zip(model.parameters(), before):
        assert torch.equal(p, old) and torch.equal(p.grad, torch.full_like(p, 7.0))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 10), n_in=st.integers(1, 4), n_hidden=st.integers(1, 5), n_out=st.integers(1, 4),
       regression=st.booleans(), seed=st.integers(0, 2**16))
def test_mean_of_per_sample_grads_is_the_gradient_of_the_mean_loss(n, n_in, n_hidden, n_out, regression, seed):
    assume(n_out == 1 or not regression)  # float targets: one output unit, targets of shape (N,)
    assume(n_out >= 2 or regression)      # class labels need at least two classes
    model = mlp(n_in, n_hidden, n_out, seed=seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=g)
    y = torch.randn(n, generator=g) if regression else torch.randint(0, n_out, (n,), generator=g)
    model.zero_grad()
    default_loss(y)(model(x), y).backward()
    full = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(per_sample_grads(model, x, y, chunk_size=4).mean(dim=0), full,
                               rtol=1e-4, atol=1e-6)


def test_noise_scale_equals_trace_of_the_explicit_covariance_over_the_squared_mean_gradient():
    model = mlp(4, 6, 3)  # P = 4·6 + 6 + 6·3 + 3 = 51
    x, y = torch.randn(20, 4, generator=torch.Generator().manual_seed(3)), torch.arange(20) % 3
    g = grads_one_by_one(model, x, y).double()
    mean = g.mean(dim=0)
    sigma = (g - mean).T @ (g - mean) / len(g)  # the P × P covariance, built on purpose here
    expected = float(torch.trace(sigma) / (mean @ mean))
    assert noise_scale(model, (x, y)) == pytest.approx(expected, rel=1e-5)


def test_gradient_noise_prediction_is_the_finite_population_formula():
    model = mlp(4, 5, 3)
    x, y = classification(n=30)[0][:, :4], classification(n=30)[1]
    result = gradient_noise(model, (x, y), [1, 3, 10, 30], draws=20)
    g = grads_one_by_one(model, x, y).double()
    mean = g.mean(dim=0)
    trace = float(((g - mean) ** 2).sum(dim=1).mean())
    n = 30
    assert isinstance(result, GradientNoise)
    assert result.n_samples == n and result.batch_sizes == [1, 3, 10, 30]
    assert result.trace == pytest.approx(trace, rel=1e-5)
    assert result.grad_norm_sq == pytest.approx(float(mean @ mean), rel=1e-5)
    assert result.predicted == pytest.approx([trace / b * (n - b) / (n - 1) for b in (1, 3, 10, 30)], rel=1e-5)
    assert result.noise_scale == pytest.approx(trace / float(mean @ mean), rel=1e-5)


def test_measured_noise_matches_the_without_replacement_variance_and_is_zero_at_b_equals_n():
    model = mlp(4, 5, 3)
    x, y = classification(n=40)[0][:, :4], classification(n=40)[1]
    result = gradient_noise(model, (x, y), [1, 5, 20, 39, 40], draws=4000, seed=1)
    for b, measured, predicted in zip(result.batch_sizes[:-1], result.measured, result.predicted):
        assert measured == pytest.approx(predicted, rel=0.05), f"B={b}"
    assert result.predicted[-1] == 0.0
    assert result.measured[-1] <= 1e-12 * result.trace  # B = N: the batch is all the data, g_B = G


def test_the_plot_draws_and_leaves_b_equals_n_off_the_log_axes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    model = mlp(4, 5, 3)
    x, y = classification(n=16)[0][:, :4], classification(n=16)[1]
    ax = gradient_noise(model, (x, y), [1, 4, 16], draws=10).plot()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    (points,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert list(points.get_xdata()) == [1, 4]
    assert any("B = N = 16" in text.get_text() for text in ax.texts)
    plt.close("all")


def test_bad_arguments_name_the_argument():
    model = mlp(4, 5, 3)
    x, y = classification(n=10)[0][:, :4], classification(n=10)[1]
    with pytest.raises(ValueError, match=r"batch_sizes.*N = 10.*\[11\]"):
        gradient_noise(model, (x, y), [2, 11])
    with pytest.raises(ValueError, match="batch_sizes entry.*got 0"):
        gradient_noise(model, (x, y), [0, 2])
    with pytest.raises(TypeError, match="batch_sizes must be a non-empty list"):
        gradient_noise(model, (x, y), 4)
    with pytest.raises(ValueError, match="draws.*got 0"):
        gradient_noise(model, (x, y), [2], draws=0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module.*function"):
        gradient_noise(lambda t: t, (x, y), [2])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        noise_scale("mlp", (x, y))
    with pytest.raises(ValueError, match="chunk_size.*got 0"):
        per_sample_grads(model, x, y, chunk_size=0)
    with pytest.raises(ValueError, match=r"len\(x\)=10 and len\(y\)=9"):
        per_sample_grads(model, x, y[:9])
    with pytest.raises(ValueError, match="no trainable parameters"):
        per_sample_grads(nn.ReLU(), x, y)
    with pytest.raises(ValueError, match="at least 2 samples"):
        gradient_noise(model, (x[:1], y[:1]), [1])
    assert math.isfinite(noise_scale(model, (x, y)))


# ---- exact answers: data whose deviations all have the same length -------------------------------------------------
# A bias-free Linear(1, 1) at w = 0 with x = 1 has gᵢ = 2(w·xᵢ − yᵢ)xᵢ = −2yᵢ under the mean squared error.

def line_at_zero() -> nn.Module:
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    return model


def test_two_samples_with_opposite_gradients_have_an_infinite_noise_scale():
    x, y = torch.ones(2, 1), torch.tensor([1.0, -1.0])       # g = −2, +2: G = 0, tr Σ = 4
    assert per_sample_grads(line_at_zero(), x, y).tolist() == [[-2.0], [2.0]]
    assert noise_scale(line_at_zero(), (x, y)) == math.inf
    result = gradient_noise(line_at_zero(), (x, y), [1, 2])
    assert result.trace == 4.0 and result.grad_norm_sq == 0.0 and result.noise_scale == math.inf
    assert result.measured == [4.0, 0.0] and result.predicted == [4.0, 0.0]


def test_every_batch_of_one_or_of_n_minus_one_has_the_same_error_and_every_draw_counts():
    x, y = torch.ones(4, 1), torch.tensor([0.0, 0.0, 1.0, 1.0])   # g = 0, 0, −2, −2: G = −1, deviations ±1
    result = gradient_noise(line_at_zero(), (x, y), [3, 1, 4], draws=300)   # 300 draws: two groups of 256 and 44
    assert result.batch_sizes == [1, 3, 4] and result.n_samples == 4 and result.draws == 300
    assert result.trace == 1.0 and result.grad_norm_sq == 1.0 and result.noise_scale == 1.0
    assert result.measured[0] == 1.0                              # |gᵢ − G|² = 1 for every i
    assert result.measured[1] == pytest.approx(1 / 9, rel=1e-12)  # g_B − G = −(the one left out)/3
    assert result.measured[2] < 1e-30
    assert result.predicted == pytest.approx([1.0, 1 / 9, 0.0], rel=1e-15)
    assert noise_scale(line_at_zero(), (x, y)) == 1.0


def test_defaults_two_hundred_draws_seed_zero_and_the_default_loss():
    model, (x, y) = mlp(4, 5, 3), classification(n=20)
    x = x[:, :4]
    default = gradient_noise(model, (x, y), [2, 5])
    assert default.draws == 200
    assert default == gradient_noise(model, (x, y), [2, 5], draws=200, seed=0, loss=nn.functional.cross_entropy)
    assert default.measured != gradient_noise(model, (x, y), [2, 5], seed=1).measured
    assert gradient_noise(model, (x, y), [2], draws=1).draws == 1


def test_a_dataset_gives_its_train_split():
    from course_utils.data import Dataset
    model, (x, y) = mlp(4, 5, 3), classification(n=20)
    x = x[:, :4]
    data = Dataset("tiny", x, y, x[:3], y[:3], n_classes=3, description="test")
    assert gradient_noise(model, data, [2, 5], draws=10) == gradient_noise(model, (x, y), [2, 5], draws=10)
    assert noise_scale(model, data) == noise_scale(model, (x, y))


# ---- refusals ---------------------------------------------------------------------------------------------------------

class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x):
        return self.linear(x) + torch.rand_like(x)


class Broken(nn.Linear):
    def forward(self, x):
        raise RuntimeError("a bug in forward")


def test_random_numbers_in_forward_and_random_layers_in_training_mode_are_refused():
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError) as info:
        per_sample_grads(Noisy(), x, y)
    assert str(info.value) == ("model draws random numbers in its forward pass (a random layer in training mode), "
                               "so the per-sample gradients would each see a different network; call "
                               "model.eval() first")
    with pytest.raises(RuntimeError, match="^a bug in forward$"):
        per_sample_grads(Broken(2, 2), x, y)
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.BatchNorm1d(3), nn.Linear(3, 2))
    with pytest.raises(ValueError) as info:
        per_sample_grads(model, x, y)
    assert str(info.value) == (
        "model is in training mode and has BatchNorm1d, Dropout layers: in training mode each sample would get its "
        "own random dropout mask, and batch norm would normalize each sample by itself, so the per-sample gradients "
        "would not belong to one fixed network. Call model.eval() first (and model.train() afterwards to go on "
        "training)")
    with pytest.raises(ValueError, match="has Dropout layers"):
        per_sample_grads(nn.Sequential(nn.Linear(2, 2), nn.Dropout()), x, y)
    model.eval()
    assert per_sample_grads(model, x, y).shape == (4, 2 * 3 + 3 + 3 + 3 + 3 * 2 + 2)


def test_a_loss_that_is_not_one_number_is_refused():
    x, y = torch.randn(3, 2), torch.tensor([0, 1, 0])
    per_sample = lambda out, target: nn.functional.cross_entropy(out, target, reduction="none")
    with pytest.raises(ValueError) as info:
        per_sample_grads(nn.Linear(2, 2), x, y, per_sample)
    assert str(info.value) == ("loss must return the mean loss of the batch, a single number (a 0-d tensor), but "
                               "it returned (1,) for a batch of one sample; if it is e.g. "
                               "nn.CrossEntropyLoss(reduction='none'), use reduction='mean' (the default)")
    with pytest.raises(ValueError, match="but it returned float for a batch of one sample"):
        per_sample_grads(nn.Linear(2, 2), x, y, lambda out, target: 1.0)
    with pytest.raises(TypeError, match="loss"):
        noise_scale(nn.Linear(2, 2), (x, y), loss="mse")
    with pytest.raises(TypeError, match="loss"):
        gradient_noise(nn.Linear(2, 2), (x, y), [1], loss="mse")


def test_non_finite_or_wrongly_typed_data_is_named():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="^x contains 1 NaN"):
        per_sample_grads(model, torch.tensor([[1.0, float("nan")]]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="^y contains 1 NaN"):
        per_sample_grads(model, torch.tensor([[1.0, 2.0]]), torch.tensor([float("inf")]))
    with pytest.raises(TypeError, match="^x holds integers"):
        per_sample_grads(model, torch.tensor([[1, 2]]), torch.tensor([0.0]))
    with pytest.raises(TypeError, match="^x must be a torch.Tensor"):
        per_sample_grads(model, [[1.0, 2.0]], torch.tensor([0.0]))
    with pytest.raises(TypeError, match="^y must be a torch.Tensor"):
        per_sample_grads(model, torch.tensor([[1.0, 2.0]]), [0.0])
    with pytest.raises(ValueError, match=r"^x and y must have the same number of samples, got len\(x\)=1 and len\(y\)=2$"):
        per_sample_grads(model, torch.tensor([[1.0, 2.0]]), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="^seed must be 0 or more, got -1"):
        gradient_noise(model, (torch.randn(3, 2), torch.randn(3)), [1], seed=-1)
    with pytest.raises(ValueError, match="^data must hold at least 2 samples to have gradient noise, got 1$"):
        gradient_noise(model, (torch.randn(1, 2), torch.randn(1)), [1])
    with pytest.raises(TypeError, match="^model must be a torch.nn.Module"):
        per_sample_grads("model", torch.randn(3, 2), torch.randn(3))
    with pytest.raises(ValueError, match="^model has no trainable parameters"):
        noise_scale(nn.Linear(2, 1).requires_grad_(False), (torch.randn(3, 2), torch.randn(3)))


def test_per_sample_grads_default_chunk_covers_more_than_one_chunk_and_stays_on_the_model():
    model = nn.Linear(2, 1)
    x, y = torch.randn(600, 2, generator=torch.Generator().manual_seed(0)), torch.zeros(600)
    rows = per_sample_grads(model, x, y)
    assert rows.shape == (600, 3) and rows.dtype == torch.float32
    torch.testing.assert_close(rows, per_sample_grads(model, x, y, chunk_size=600), rtol=0, atol=0)
    residual = (model(x).squeeze(1) - y).detach()
    torch.testing.assert_close(rows, torch.cat([2 * residual[:, None] * x, 2 * residual[:, None]], dim=1))


# ---- the plot ----------------------------------------------------------------------------------------------------------

def made_up(batch_sizes, measured, n):
    return GradientNoise(batch_sizes=batch_sizes, measured=measured, predicted=[0.0] * len(batch_sizes), trace=8.0,
                         grad_norm_sq=2.0, n_samples=n, draws=50)


def test_the_plot_lines_are_the_two_formulas_over_the_batch_sizes_below_n():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from course_utils.plots import COLORS
    from course_utils.plots import COURSE_STYLE
    with matplotlib.rc_context(COURSE_STYLE):             # its lines are 2.5 wide: the dotted one stays at 1.5
        _, given_ax = plt.subplots()
        ax = made_up([1, 4, 16], [7.5, 1.6, 0.00012345], n=16).plot(given_ax)
    assert ax is given_ax
    replacement, without, points = ax.get_lines()
    curve = np.geomspace(1, 4, 200)
    assert replacement.get_label() == "tr Σ / B (with replacement)" and replacement.get_linestyle() == ":"
    assert replacement.get_color() == COLORS["black"] and replacement.get_linewidth() == 1.5
    np.testing.assert_allclose(replacement.get_xdata(), curve, rtol=1e-15)
    np.testing.assert_allclose(replacement.get_ydata(), 8.0 / curve, rtol=1e-15)
    assert without.get_label() == "tr Σ / B · (N − B)/(N − 1)" and without.get_color() == COLORS["blue"]
    np.testing.assert_allclose(without.get_xdata(), curve, rtol=1e-15)
    np.testing.assert_allclose(without.get_ydata(), 8.0 / curve * (16 - curve) / 15, rtol=1e-15)
    assert points.get_label() == "measured (mean of 50 batches)" and points.get_color() == COLORS["vermillion"]
    assert list(points.get_xdata()) == [1, 4] and list(points.get_ydata()) == [7.5, 1.6]
    assert [t.get_text() for t in ax.texts] == ["B = N = 16: measured 1.2e-04, predicted 0\n"
                                                "(0 cannot be drawn on a log axis)"]
    assert ax.texts[0].get_position() == (0.02, 0.04) and ax.texts[0].get_fontsize() == COURSE_STYLE["font.size"]
    assert ax.texts[0].get_transform() is ax.transAxes
    assert ax.get_xlabel() == "batch size B (log scale)" and ax.get_ylabel() == "E |g_B − G|²  (log scale)"
    assert ax.get_title() == "Mini-batch gradient noise, N = 16"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "tr Σ / B (with replacement)", "tr Σ / B · (N − B)/(N − 1)", "measured (mean of 50 batches)"]
    plt.close("all")


def test_the_plot_of_one_batch_size_below_n_and_of_none():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = made_up([4], [1.6], n=16).plot()
    replacement, without, points = ax.get_lines()
    assert list(replacement.get_xdata()) == [4.0] and list(replacement.get_ydata()) == [2.0]
    assert list(without.get_ydata()) == [2.0 * 12 / 15] and list(points.get_xdata()) == [4]
    assert len(ax.texts) == 0 and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no "No artists with labels" warning for the learner
        ax = made_up([16], [0.0], n=16).plot()
    assert len(ax.get_lines()) == 0 and len(ax.texts) == 1 and ax.get_legend() is None
    assert made_up([4], [1.6], n=16).plot().get_legend() is not None
    plt.close("all")


def test_a_loss_of_ones_own_is_used_everywhere():
    x, y = torch.ones(4, 1), torch.tensor([0.0, 0.0, 1.0, 1.0])
    tilted = lambda out, target: ((out.squeeze(-1) - target) ** 2).mean() + out.mean()   # gᵢ = 1 − 2yᵢ
    assert per_sample_grads(line_at_zero(), x, y, tilted).tolist() == [[1.0], [1.0], [-1.0], [-1.0]]
    assert noise_scale(line_at_zero(), (x, y), loss=tilted) == math.inf                   # G = 0
    result = gradient_noise(line_at_zero(), (x, y), [1, 4], draws=10, loss=tilted)
    assert result.trace == 1.0 and result.grad_norm_sq == 0.0 and result.measured == [1.0, 0.0]
    with pytest.raises(TypeError, match="^loss must be None or a function .*got 'mse'$"):
        per_sample_grads(line_at_zero(), x, y, "mse")


def test_each_function_names_its_data_argument():
    for call in (lambda: noise_scale(line_at_zero(), [1, 2, 3]),
                 lambda: gradient_noise(line_at_zero(), [1, 2, 3], [1])):
        with pytest.raises(TypeError, match=r"^data must be an \(x, y\) pair of tensors"):
            call()
    with pytest.raises(ValueError, match=r"^draws must be .*got 0$"):
        gradient_noise(line_at_zero(), (torch.ones(4, 1), torch.zeros(4)), [1], draws=0)


def test_chunk_size_is_named_at_the_start_of_its_message():
    with pytest.raises(ValueError, match=r"^chunk_size must be .*got 0$"):
        per_sample_grads(line_at_zero(), torch.ones(4, 1), torch.zeros(4), chunk_size=0)
