"""Verdicts with their uncertainty: compare two settings measured over several seeds.

One run is one draw: another seed, or another CPU's rounding, gives another number. So the course never
compares two single runs; it measures each setting over ``n`` seeds and lets a stated rule write the words.

**The rule** (the one place it is written down). Take the difference of the means, A − B, and its 95 %
confidence interval from Student's t distribution: Welch's interval for two independent sets of runs, the
paired interval when run k of A and run k of B share seed k (the same initial weights and batch order). If
the whole interval lies below 0, the verdict is "A lower"; above 0, "B lower"; if it contains 0, "no
difference detected at n seeds" — which is not "no difference": more seeds may still find one.
(``higher=True`` words it the other way round, for an accuracy.)

>>> small_batch = [0.30, 0.32, 0.31, 0.29, 0.33]
>>> large_batch = [0.40, 0.41, 0.39, 0.42, 0.38]
>>> verdict = compare(small_batch, large_batch, names=("B = 16", "B = 1024"))
>>> verdict.words
'B = 16 lower'
>>> print(verdict)
B = 16 lower: B = 16 − B = 1024 = -0.090 (95 % interval -0.113 to -0.067; Welch, n = 5 and 5 seeds)
>>> compare([1.0, 2.0, 3.0], [1.5, 2.5, 2.0]).words
'no difference detected at 3 seeds'
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Student's t, 97.5 % quantile (two-sided 95 %), for 1-30 degrees of freedom (standard table values).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_quantile_975(df: float) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (table to 30, then a series).

    >>> t_quantile_975(4), round(t_quantile_975(1000), 3)
    (2.776, 1.962)
    """
    if not df >= 1:
        raise ValueError(f"df must be at least 1 (two or more runs per setting), got {df!r}")
    if df <= 30:
        low, high = T_975[math.floor(df) - 1], T_975[min(math.ceil(df), 30) - 1]
        return low + (high - low) * (df - math.floor(df))  # Welch's df is fractional: interpolate
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _values(name: str, values: object) -> list[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a list of numbers, one per seed, e.g. [0.31, 0.29, 0.33], got {values!r}")
    out = [float(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]
    if len(out) < 2:
        raise ValueError(f"{name} needs at least 2 runs (seeds) to have a spread, got {len(out)}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} holds NaN or infinity: {out} (a diverged run? count it apart)")
    return out


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1 in the denominator).

    >>> mean_and_spread([1.0, 2.0, 3.0])
    (2.0, 1.0)
    """
    return _mean_and_spread(_values("values", values))


def _mean_and_spread(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@dataclass(frozen=True)
class Comparison:
    """Two settings compared over seeds: the difference of the means, its 95 % interval and the words."""

    names: tuple[str, str]
    mean_a: float
    mean_b: float
    difference: float
    low: float
    high: float
    n_a: int
    n_b: int
    paired: bool
    words: str
    digits: int = 3

    def __str__(self) -> str:
        d = self.digits
        how = f"paired, n = {self.n_a} seeds" if self.paired else f"Welch, n = {self.n_a} and {self.n_b} seeds"
        return (f"{self.words}: {self.names[0]} − {self.names[1]} = {self.difference:+.{d}f} "
                f"(95 % interval {self.low:+.{d}f} to {self.high:+.{d}f}; {how})")

    @property
    def detected(self) -> bool:
        """Whether the interval excludes 0 (the rule found a difference)."""
        return self.low > 0 or self.high < 0


def compare(a: Sequence[float], b: Sequence[float], names: tuple[str, str] = ("A", "B"), *,
            paired: bool = False, higher: bool = False, digits: int = 3) -> Comparison:
    """Compare the runs ``a`` and ``b`` (one number per seed) by the module's rule; see its docstring.

    ``paired=True`` when ``a[k]`` and ``b[k]`` used the same seed; ``higher=True`` words the verdict as
    "A higher" (for an accuracy); ``digits`` sets how the numbers are printed.

    >>> compare([0.61, 0.63, 0.60], [0.58, 0.59, 0.57], names=("every epoch", "once"), paired=True,
    ...         higher=True).words
    'every epoch higher'
    """
    a, b = _values("a", a), _values("b", b)
    if not (isinstance(names, tuple) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise TypeError(f"names must be two strings, e.g. ('B = 16', 'B = 1024'), got {names!r}")
    mean_a, spread_a = _mean_and_spread(a)
    mean_b, spread_b = _mean_and_spread(b)
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired=True needs one run of each per seed: a has {len(a)}, b has {len(b)}")
        difference, spread = _mean_and_spread([x - y for x, y in zip(a, b)])
        half = t_quantile_975(len(a) - 1) * spread / math.sqrt(len(a))
    else:
        difference = mean_a - mean_b
        va, vb = spread_a**2 / len(a), spread_b**2 / len(b)
        standard_error = math.sqrt(va + vb)
        # Welch-Satterthwaite degrees of freedom (equal spreads of zero: any df, the interval is a point)
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else len(a) + len(b) - 2
        half = t_quantile_975(max(df, 1.0)) * standard_error
    low, high = difference - half, difference + half
    if high < 0:    # A's mean is lower than B's
        words = f"{names[1]} higher" if higher else f"{names[0]} lower"
    elif low > 0:   # A's mean is higher
        words = f"{names[0]} higher" if higher else f"{names[1]} lower"
    else:
        n = len(a) if len(a) == len(b) else f"{len(a)} and {len(b)}"
        words = f"no difference detected at {n} seeds"
    return Comparison(names, mean_a, mean_b, difference, low, high, len(a), len(b), paired, words, digits)
