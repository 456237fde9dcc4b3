"""Adam's batch-size scaling: half-lives are arithmetic, β^(B/B₀) keeps them in samples, the √ rule's numbers."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import course_utils as cu
from course_utils.adam_scaling import AdamSettings, adam_scaled, half_life, half_life_samples, scale_beta


def test_half_life_known_answers():
    assert half_life(0.5) == 1.0                       # half the weight after one step
    assert half_life(0.25) == 0.5
    assert half_life(math.sqrt(0.5)) == pytest.approx(2.0, rel=1e-15)
    assert half_life(0.999) == pytest.approx(692.8005, abs=1e-4)   # ln 0.5 / ln 0.999
    assert half_life(0.95) == pytest.approx(13.5134, abs=1e-4)


def test_half_life_in_samples_is_batch_size_times_steps():
    assert half_life_samples(0.5, 64) == 64.0
    assert half_life_samples(0.999, 1) == half_life(0.999)
    assert half_life_samples(0.95, 256) == pytest.approx(3459.4, abs=0.1)


@settings(max_examples=60, deadline=None)
@given(beta=st.floats(0.5, 0.99999), base=st.integers(1, 4096), new=st.integers(1, 4096))
def test_scale_beta_keeps_the_half_life_in_samples(beta, base, new):
    scaled = scale_beta(beta, base, new)
    if 0 < scaled < 1:
        assert half_life_samples(scaled, new) == pytest.approx(half_life_samples(beta, base), rel=1e-6)
    assert scale_beta(beta, base, base) == beta


def test_scale_beta_direction():
    assert scale_beta(0.95, 256, 1) > 0.95 > scale_beta(0.95, 1, 256)
    assert scale_beta(0.9, 1, 2) == 0.9**2
    assert scale_beta(0.999, 4, 1) == 0.999**0.25


def test_adam_scaled_known_answers():
    assert adam_scaled(1e-3, 64, 256) == AdamSettings(lr=0.002, betas=(0.6, 0.996), eps=5e-09)
    assert adam_scaled(0.01, 256, 64, betas=(0.9, 0.99)) == AdamSettings(0.005, (0.975, 0.9975), 2e-08)
    assert adam_scaled(0.01, 32, 32, betas=(0.8, 0.95), eps=1e-6) == AdamSettings(0.01, (0.8, 0.95), 1e-6)
    assert cu.adam_scaled is adam_scaled


@settings(max_examples=60, deadline=None)
@given(lr=st.floats(1e-5, 1.0), base=st.integers(1, 1024), factor=st.sampled_from([0.25, 0.5, 1, 2, 4, 8]))
def test_adam_scaled_sqrt_and_first_order_beta(lr, base, factor):
    new = max(1, int(base * factor))
    kappa = new / base
    s = adam_scaled(lr, base, new, betas=(0.9, 0.999))
    assert s.lr == pytest.approx(lr * math.sqrt(kappa), rel=1e-9)
    assert 1 - s.betas[1] == pytest.approx(kappa * 0.001, rel=1e-9)
    assert s.eps == pytest.approx(1e-8 / math.sqrt(kappa), rel=1e-9)
    # to first order in 1 − β, Malladi's κ(1 − β) is Marek's β^κ
    assert s.betas[1] == pytest.approx(scale_beta(0.999, base, new), abs=max(kappa, kappa**2) * 1e-6)


def test_adam_scaled_refuses_a_beta_past_zero():
    with pytest.raises(ValueError, match=r"^batch_size 256 is 16 times base_batch_size 16.*1 − β₁ = 16"):
        adam_scaled(0.01, 16, 256)
    with pytest.raises(ValueError, match="1 − β₂"):
        adam_scaled(0.01, 1, 200, betas=(0.999, 0.99))


@pytest.mark.parametrize("call, message", [
    (lambda: half_life(1.0), "^beta must be a number strictly between 0 and 1.*got 1.0"),
    (lambda: half_life(0), "^beta must be"),
    (lambda: half_life(True), "^beta must be"),
    (lambda: half_life_samples(0.9, 0), "^batch_size must be a positive whole number"),
    (lambda: scale_beta(0.9, 0, 4), "^base_batch_size must be"),
    (lambda: scale_beta(1.5, 1, 4), "^beta must be.*got 1.5"),
    (lambda: adam_scaled(-1.0, 1, 2), "^lr must be a finite number greater than 0"),
    (lambda: adam_scaled(0.1, 1, 2, betas=(0.9, 1.0)), r"^betas\[1\] must be.*got 1.0"),
    (lambda: adam_scaled(0.1, 1, 2, eps=0.0), "^eps must be"),
])
def test_errors_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_betas_must_be_a_pair():
    with pytest.raises(TypeError, match=r"^betas must be a pair"):
        adam_scaled(0.1, 1, 2, betas=[0.9, 0.999])
