"""sharpness finds the largest Hessian eigenvalue of the mean training loss, and changes nothing."""
import warnings

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from course_utils.data import Dataset
from course_utils.sharpness import sharpness


def tiny_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def tiny_data(n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randint(0, 2, (n,), generator=g)


def full_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The P × P Hessian of the mean cross-entropy over the flattened parameters, built in one piece."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(theta):
        params = {n: t.view(s) for n, t, s in zip(names, theta.split(sizes), shapes)}
        return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(loss_of, flat)  # reverse-over-reverse: no forward-AD warnings


def test_matches_the_full_hessian_of_a_small_mlp():
    model, (x, y) = tiny_mlp(), tiny_data()
    eigenvalues = torch.linalg.eigvalsh(full_hessian(model, x, y))
    top = eigenvalues[eigenvalues.abs().argmax()]
    assert top > 0 and eigenvalues.abs().sort().values[-2] < 0.9 * top  # well separated: converges
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = sharpness(model, (x, y), iterations=200)
    assert got == pytest.approx(float(top), rel=1e-3)


def test_batch_size_does_not_change_the_answer():
    model, (x, y) = tiny_mlp(1), tiny_data(seed=1)
    whole = sharpness(model, (x, y), iterations=30, batch_size=1024)
    assert sharpness(model, (x, y), iterations=30, batch_size=7) == pytest.approx(whole, rel=1e-10)
    assert sharpness(model, (x, y), iterations=30, batch_size=1) == pytest.approx(whole, rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 30), d=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_linear_regression_eigenvalue_is_two_over_n_xtx(n, d, seed):
    # loss = mean_i (w·x_i + b − y_i)²: the Hessian over (w, b) is 2/N · AᵀA with A = [X, 1]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.rand(d, generator=g, dtype=torch.float64).mul(3)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    a = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    eigenvalues = torch.linalg.eigvalsh(2 / n * a.T @ a)
    assume(eigenvalues[-1] > 1e-6)
    assume(eigenvalues[-2] < 0.8 * eigenvalues[-1])  # separated: 100 iterations converge to ~1e-19
    model = nn.Linear(d, 1).double()
    assert sharpness(model, (x, y), iterations=100) == pytest.approx(float(eigenvalues[-1]), rel=1e-8)


def test_one_parameter_exact():
    x, y = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 5.0])
    assert sharpness(nn.Linear(1, 1, bias=False), (x, y), iterations=1) == pytest.approx(10.0)  # 2·mean(x²)


def test_dataset_uses_the_train_split():
    model, (x, y) = tiny_mlp(), tiny_data()
    x_test, y_test = tiny_data(10, seed=5)
    data = Dataset("tiny", x, y, x_test, y_test, n_classes=2, description="test")
    assert sharpness(model, data, iterations=10) == sharpness(model, (x, y), iterations=10)


def test_seed_decides_the_start_and_custom_loss_is_used():
    model, (x, y) = tiny_mlp(), tiny_data()
    assert sharpness(model, (x, y), iterations=3, seed=1) == sharpness(model, (x, y), iterations=3, seed=1)
    assert sharpness(model, (x, y), iterations=3, seed=1) != sharpness(model, (x, y), iterations=3, seed=2)
    doubled = lambda out, target: 2 * nn.functional.cross_entropy(out, target)
    assert sharpness(model, (x, y), iterations=20, loss=doubled) == pytest.approx(
        2 * sharpness(model, (x, y), iterations=20), rel=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_model_grads_mode_and_random_state_unchanged(training):
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    nn.functional.cross_entropy(model(x), y).backward()  # some .grad to keep
    model.train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    sharpness(model, (x, y), iterations=3)
    assert model.training is training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm stats too
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert torch.equal(rng, torch.get_rng_state())


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(iterations=0), ValueError, ["iterations", "0"]),
    (dict(iterations=2.0), TypeError, ["iterations", "2.0"]),
    (dict(batch_size=0), ValueError, ["batch_size", "0"]),
    (dict(seed=-1), ValueError, ["seed", "-1"]),
    (dict(loss="mse"), TypeError, ["loss", "'mse'"]),
])
def test_bad_arguments(kwargs, error, words):
    model, data = tiny_mlp(), tiny_data()
    with pytest.raises(error) as info:
        sharpness(model, data, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_bad_model_and_data():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module.*got str"):
        sharpness("mlp", tiny_data())
    with pytest.raises(TypeError, match="data must be an \\(x, y\\) pair"):
        sharpness(tiny_mlp(), [1, 2, 3])
    frozen = nn.Linear(3, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="model has no trainable parameters"):
        sharpness(frozen, (torch.randn(4, 3), torch.randint(0, 2, (4,))))


def close_eigenvalues(n: int = 20):
    """Linear regression whose two Hessian eigenvalues (1.66 and 2.24 for n = 20) are close: power iteration is
    still moving after 20 steps, so the number of steps and the start show in the last digits."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.97], dtype=torch.float64)
    return nn.Linear(2, 1, bias=False).double(), (x, torch.randn(n, generator=g, dtype=torch.float64))


def test_defaults_are_20_iterations_from_seed_0():
    model, data = close_eigenvalues()
    default = sharpness(model, data)
    assert default == sharpness(model, data, iterations=20, seed=0, batch_size=1024)
    assert default != sharpness(model, data, iterations=21)
    assert default != sharpness(model, data, seed=1)
    eigenvalues = torch.linalg.eigvalsh(2 / 20 * data[0].T @ data[0])
    assert default == pytest.approx(float(eigenvalues[-1]), rel=1e-6)


def test_the_default_batch_is_1024_samples():
    model, data = close_eigenvalues(n=1030)  # the batches' sums round differently for other batch sizes
    default = sharpness(model, data, iterations=1)
    assert default == sharpness(model, data, iterations=1, batch_size=1024)
    assert default != sharpness(model, data, iterations=1, batch_size=1025)


def test_a_loss_with_no_curvature_has_sharpness_zero():
    x, y = torch.randn(10, 3), torch.randn(10)
    assert sharpness(nn.Linear(3, 1), (x, y), loss=lambda out, target: out.mean()) == 0.0


def test_data_of_another_type_than_the_model_is_named():
    with pytest.raises(TypeError, match=r"^data x holds torch.float32 numbers but the model's parameters are "
                                        r"torch.float64"):
        sharpness(tiny_mlp(), (torch.randn(5, 3), torch.randint(0, 2, (5,))))


def test_one_step_of_power_iteration_from_the_seeded_start_in_the_models_dtype():
    model, (x, y) = close_eigenvalues()
    hessian = 2 / len(x) * x.T @ x                       # loss = mean((w·x − y)²)
    start = torch.randn(2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    v = hessian @ (start / start.norm())
    v = v / v.norm()
    expected = float(v @ hessian @ v)
    assert sharpness(model, (x, y), iterations=1, seed=3) == pytest.approx(expected, rel=1e-13, abs=0)
    assert abs(expected - float(torch.linalg.eigvalsh(hessian)[-1])) > 1e-3   # one step is not converged yet


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(iterations=0), ValueError, r"^iterations must be .*got 0$"),
    (dict(seed=-1), ValueError, r"^seed must be 0 or more, got -1"),
    (dict(batch_size=0), ValueError, r"^batch_size must be .*got 0$"),
])
def test_messages_start_with_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        sharpness(tiny_mlp(), tiny_data(), **kwargs)
