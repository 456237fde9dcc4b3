"""The noisy quadratic model: exact step counts in closed form, against brute force, and its orderings."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course_utils as cu
from course_utils.noisy_quadratic import (NQMBest, nqm_best_steps, nqm_curvatures, nqm_loss, nqm_lr_grid,
                                          nqm_steps_to_target)


def closed_form_one_dim(lr, batch_size, target):
    """One coordinate, h = c = 1, E[θ²] = 1 at the start: m(t) = m∞ + (1 − m∞)·rᵗ, r = (1 − lr)²."""
    r = (1 - lr) ** 2
    floor = lr**2 / (batch_size * (1 - r))
    return math.ceil(math.log((target - floor) / (1 - floor)) / math.log(r))


@pytest.mark.parametrize("lr, batch_size, target", [(0.1, 1, 0.5), (0.01, 1, 0.1), (0.01, 16, 0.01),
                                                     (0.3, 4, 0.2), (0.001, 1024, 0.01)])
def test_one_dimension_closed_form(lr, batch_size, target):
    assert nqm_steps_to_target(lr, batch_size, dim=1, target=target) == closed_form_one_dim(lr, batch_size, target)


def test_small_lr_limit_without_noise():
    # r = (1 − lr)² ≈ e^(−2 lr): steps ≈ ln(1/target) / (2 lr)
    steps = nqm_steps_to_target(1e-4, 10**12, dim=1, target=0.01)
    assert steps == pytest.approx(math.log(100) / 2e-4, rel=1e-3)


def brute_force(lr, batch_size, dim, target, precondition, limit=20000):
    losses = nqm_loss(lr, batch_size, list(range(limit)), dim=dim, precondition=precondition)
    hits = np.nonzero(losses <= target)[0]
    return int(hits[0]) if hits.size else None


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(0.01, 1.9), batch_size=st.sampled_from([1, 4, 64, 1024]), dim=st.integers(1, 30),
       target=st.sampled_from([0.5, 0.1, 0.01]), precondition=st.sampled_from([0.0, 0.5]))
def test_bisection_equals_a_step_by_step_scan(lr, batch_size, dim, target, precondition):
    found = nqm_steps_to_target(lr, batch_size, dim=dim, target=target, precondition=precondition, max_steps=20000)
    assert found == brute_force(lr, batch_size, dim, target, precondition)


def test_loss_curve_matches_a_sampled_simulation():
    # the exact expectation against 4000 noisy runs of the model itself (a Monte-Carlo check)
    rng = np.random.default_rng(0)
    h = nqm_curvatures(5)
    lr, batch_size, runs = 0.3, 4, 4000
    theta = rng.choice([-1.0, 1.0], size=(runs, 5))            # E[θᵢ²] = 1
    for _ in range(20):
        noise = rng.standard_normal((runs, 5)) * np.sqrt(h / batch_size)
        theta = theta - lr * (h * theta + noise)
    simulated = (0.5 * (h * theta**2).sum(1)).mean() / (0.5 * h.sum())
    assert simulated == pytest.approx(nqm_loss(lr, batch_size, [20], dim=5)[0], rel=0.05)


def test_failures():
    assert nqm_steps_to_target(2.5, 64, dim=1) is None               # |1 − lr| > 1: diverges
    assert nqm_steps_to_target(0.1, 1, dim=1, target=0.05) is None   # the noise floor 0.053 is above it
    assert nqm_steps_to_target(1e-6, 64, dim=1, max_steps=100) is None
    assert nqm_steps_to_target(1.0, 10**9, dim=1, target=0.5) == 1


def test_more_samples_never_take_more_steps():
    lrs = nqm_lr_grid(1e-3, 1.9, 30)
    for precondition in (0.0, 0.5):
        steps = [nqm_best_steps(b, lrs, dim=200, precondition=precondition).steps for b in (1, 4, 16, 64, 256)]
        assert steps == sorted(steps, reverse=True)


def test_preconditioning_gains_from_larger_batches_longer():
    # Zhang et al.'s ordering: the preconditioned optimizer keeps cutting steps at batch sizes where SGD stops
    lrs = nqm_lr_grid(1e-4, 4.0, 60)
    sgd = [nqm_best_steps(b, lrs).steps for b in (256, 4096)]
    pre = [nqm_best_steps(b, lrs, precondition=0.5).steps for b in (256, 4096)]
    assert sgd[0] / sgd[1] < pre[0] / pre[1]


def test_best_steps_and_edges():
    assert nqm_best_steps(10**9, [0.1, 0.5, 1.0, 1.9], dim=1) == NQMBest(1, 1.0, None)
    assert nqm_best_steps(10**9, [0.1, 0.5], dim=1).edge == "largest"
    assert nqm_best_steps(10**9, [3.0, 5.0], dim=1) == NQMBest(None, None, None)
    assert cu.nqm_best_steps is nqm_best_steps


@pytest.mark.parametrize("call, message", [
    (lambda: nqm_steps_to_target(0.1, 0), "^batch_size must be a positive whole number"),
    (lambda: nqm_steps_to_target(0.0, 4), "^lr must be a finite number greater than 0"),
    (lambda: nqm_steps_to_target(0.1, 4, target=1.5), "^target must be a fraction.*got 1.5"),
    (lambda: nqm_steps_to_target(0.1, 4, precondition=2), r"^precondition must be a number from 0.*got 2"),
    (lambda: nqm_loss(0.1, 4, [-1]), "^steps must be a list of whole numbers"),
    (lambda: nqm_best_steps(4, [0.1]), "^lrs must be a list of at least 2"),
    (lambda: nqm_curvatures(0), "^dim must be a positive whole number"),
    (lambda: nqm_lr_grid(1.0, 0.1, 5), "^need count ≥ 2 and high > low"),
])
def test_errors_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
