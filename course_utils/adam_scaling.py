"""Adam's hyper-parameters when the batch size changes: the √ rule, and β's memory counted in samples.

SGD's linear rule (``scaled_lr``) keeps lr/B fixed. For Adam the update is divided by the root of a running
mean of squared gradients, so a gradient that is √κ times less noisy (batch κ times larger) does not make the
step κ times more useful. Malladi et al. 2022, "On the SDEs and Scaling Rules for Adaptive Gradient
Algorithms" (arXiv:2205.10287) derive the rule that keeps Adam's stochastic differential equation the same
when B grows by κ = B/B₀:

    lr → lr·√κ,    1 − β₁ → κ·(1 − β₁),    1 − β₂ → κ·(1 − β₂),    ε → ε/√κ.

An exponential average with factor β forgets half of what it holds in ``half_life(β) = ln ½ / ln β`` steps,
which is B times that in *samples*. Marek et al. 2025 (arXiv:2507.07101) keep β₂'s half-life fixed in samples,
β₂ → β₂^κ (``scale_beta``); to first order in 1 − β this is Malladi's κ·(1 − β) again.

>>> round(half_life(0.999), 1), round(half_life_samples(0.999, batch_size=256))   # steps, samples
(692.8, 177357)
>>> round(scale_beta(0.95, base_batch_size=256, batch_size=1), 6)    # same half-life in samples at B = 1
0.9998
>>> adam_scaled(1e-3, base_batch_size=64, batch_size=256)           # κ = 4: lr × 2, 1 − β × 4, ε ÷ 2
AdamSettings(lr=0.002, betas=(0.6, 0.996), eps=5e-09)
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

from .checks import check_positive_float, check_positive_int


class AdamSettings(NamedTuple):
    """Adam's learning rate, (β₁, β₂) and ε, as ``torch.optim.Adam(params, **settings._asdict())`` takes them."""

    lr: float
    betas: tuple[float, float]
    eps: float


def _check_beta(name: str, beta: object) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 < beta < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1 (an averaging factor such as 0.9 "
                         f"or 0.999), got {beta!r}")
    return float(beta)


def half_life(beta: float) -> float:
    """Steps after which an exponential average with factor ``beta`` keeps half the weight of a past value.

    ln ½ / ln β: 6.6 steps for β₁ = 0.9, 693 for β₂ = 0.999.

    >>> round(half_life(0.9), 2), round(half_life(0.5), 2)
    (6.58, 1.0)
    """
    beta = _check_beta("beta", beta)
    return math.log(0.5) / math.log(beta)


def half_life_samples(beta: float, batch_size: int) -> float:
    """The half-life of ``beta``'s average counted in samples: ``batch_size`` × ``half_life(beta)``.

    >>> round(half_life_samples(0.95, 256)), round(half_life_samples(0.95, 1), 1)
    (3459, 13.5)
    """
    batch_size = check_positive_int("batch_size", batch_size)
    return batch_size * half_life(beta)


def scale_beta(beta: float, base_batch_size: int, batch_size: int) -> float:
    """The factor that keeps ``beta``'s half-life in samples when B₀ becomes B: β^(B/B₀) (Marek et al. 2025).

    A smaller batch takes more steps per sample, so β moves towards 1; a larger batch moves it away.

    >>> scale_beta(0.99, 1, 2) == 0.99 ** 2, round(scale_beta(0.999, 4, 1), 6)
    (True, 0.99975)
    >>> half_life_samples(scale_beta(0.95, 256, 4), 4) == half_life_samples(0.95, 256)   # up to rounding
    False
    >>> math.isclose(half_life_samples(scale_beta(0.95, 256, 4), 4), half_life_samples(0.95, 256))
    True
    """
    beta = _check_beta("beta", beta)
    base_batch_size = check_positive_int("base_batch_size", base_batch_size)
    batch_size = check_positive_int("batch_size", batch_size)
    return beta ** (batch_size / base_batch_size)


def adam_scaled(lr: float, base_batch_size: int, batch_size: int, betas: tuple[float, float] = (0.9, 0.999),
                eps: float = 1e-8) -> AdamSettings:
    """Adam's settings at ``batch_size`` from settings tuned at ``base_batch_size``: Malladi et al.'s √ rule.

    With κ = B/B₀: lr·√κ, 1 − β → κ·(1 − β) for both betas, ε/√κ (arXiv:2205.10287, the SDE scaling rule).
    A rule gives a starting point; re-tune near it. It needs κ·(1 − β) < 1, so it cannot grow B without
    bound: β₁ = 0.9 allows κ < 10, and beyond that the rule is refused (name a smaller batch size).

    >>> adam_scaled(0.01, 256, 64, betas=(0.9, 0.99), eps=1e-8)        # κ = 1/4
    AdamSettings(lr=0.005, betas=(0.975, 0.9975), eps=2e-08)
    >>> adam_scaled(0.01, 16, 256)
    Traceback (most recent call last):
    ...
    ValueError: batch_size 256 is 16 times base_batch_size 16, and the √ rule's 1 − β₁ = 16 × (1 − 0.9) = 1.6 is not below 1; scale by less than 10×, or choose β₁ yourself
    """
    lr = check_positive_float("lr", lr, example="1e-3")
    base_batch_size = check_positive_int("base_batch_size", base_batch_size)
    batch_size = check_positive_int("batch_size", batch_size)
    if not (isinstance(betas, tuple) and len(betas) == 2):
        raise TypeError(f"betas must be a pair (β₁, β₂) such as (0.9, 0.999), got {betas!r}")
    beta1, beta2 = _check_beta("betas[0]", betas[0]), _check_beta("betas[1]", betas[1])
    eps = check_positive_float("eps", eps, example="1e-8")
    kappa = batch_size / base_batch_size
    new = []
    for index, beta in ((1, beta1), (2, beta2)):
        one_minus = kappa * (1 - beta)
        if one_minus >= 1:
            raise ValueError(f"batch_size {batch_size} is {kappa:g} times base_batch_size {base_batch_size}, and "
                             f"the √ rule's 1 − β{'₁' if index == 1 else '₂'} = {kappa:g} × (1 − {beta:g}) = "
                             f"{one_minus:.3g} is not below 1; scale by less than {1 / (1 - beta):.3g}×, or "
                             f"choose β{'₁' if index == 1 else '₂'} yourself")
        new.append(_tidy(1 - one_minus))
    return AdamSettings(lr=_tidy(lr * math.sqrt(kappa)), betas=(new[0], new[1]), eps=_tidy(eps / math.sqrt(kappa)))


def _tidy(value: float) -> float:
    """Round away float noise (1 − 4 × 0.1 = 0.6000000000000001) to 12 significant digits."""
    return float(f"{value:.12g}")
