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
