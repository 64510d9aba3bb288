"""Means over backtest folds with confidence intervals, and paired comparisons of two methods' folds.

Folds of a rolling-origin backtest are treated as independent draws of a method's monthly
score (they are not quite: neighbouring months share most of their training data, so the
intervals are a little narrow). The interval of a mean is Student's t at ``level`` with n - 1
degrees of freedom; the paired comparison is the same interval on the per-fold differences,
with the two-sided paired t-test p-value and the number of folds won.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
"""Default confidence level of every interval."""


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval.

    Attributes
    ----------
    mean, low, high : float
        The mean and the interval's ends (NaN ends with fewer than 2 values).
    n : int
        Values the mean is over (NaN values left out).
    """

    mean: float
    low: float
    high: float
    n: int


def mean_interval(values, level: float = CONFIDENCE) -> Interval:
    """Mean of ``values`` (NaN left out) and its Student-t confidence interval at ``level``."""
    from scipy import special  # scipy.stats.t.ppf is special.stdtrit; importing scipy.stats costs 0.5 s

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    half = float(special.stdtrit(n - 1, 0.5 + level / 2)) * float(v.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class PairedComparison:
    """Method A against method B over the same folds.

    Attributes
    ----------
    difference : Interval
        Mean of A - B per fold and its confidence interval.
    ratio : float
        mean(A) / mean(B).
    p_value : float
        Two-sided paired t-test of a zero mean difference (NaN with fewer than 2 folds or no spread).
    wins : int
        Folds where A scored above B.
    n : int
        Folds compared (both finite).
    """

    difference: Interval
    ratio: float
    p_value: float
    wins: int
    n: int


def paired_comparison(a, b, level: float = CONFIDENCE) -> PairedComparison:
    """Compare per-fold scores ``a`` and ``b`` (same folds, same order); folds with a NaN are left out."""
    from scipy import special  # scipy.stats.t.sf(t, df) is special.stdtr(df, -t)

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a has {a.size} folds, b {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    d = a - b
    n = int(d.size)
    p = math.nan
    if n >= 2:
        sd = float(d.std(ddof=1))
        if sd > 0:
            t = float(d.mean()) / (sd / math.sqrt(n))
            p = float(2 * special.stdtr(n - 1, -abs(t)))
    ratio = float(a.mean() / b.mean()) if n and b.mean() != 0 else math.nan
    return PairedComparison(mean_interval(d, level), ratio, p, int((d > 0).sum()), n)
