"""The Mann-Kendall trend test, vectorised over many series (one per location of a cube).

For a series ``x_1 .. x_n``: ``S = sum_{i<j} sign(x_j - x_i)``; under no trend ``E[S] = 0`` and
``Var(S) = (n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)) / 18`` over groups of ``t_g`` tied values;
``z = (S - sign(S)) / sqrt(Var S)`` (continuity correction) and p is two-sided normal. This is the
test ArcGIS applies to each location's Gi* z-scores, and the "original test" of pymannkendall.
``tau = S / (n(n-1)/2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotspot.core.errors import HotspotInputError


@dataclass(frozen=True)
class MannKendall:
    """Mann-Kendall results, one entry per series.

    Attributes
    ----------
    s, var_s, z, p, tau : float arrays (m,)
        The statistic, its no-trend variance (tie-corrected), the continuity-corrected z, the
        two-sided p and Kendall's tau-a. Series with NaN or no variance: z = 0, p = 1.
    """

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray
    tau: np.ndarray


def mann_kendall(series) -> MannKendall:
    """Mann-Kendall test of each row of ``series`` ((m, n): m series of n evenly spaced steps, or (n,))."""
    from hotspot.kernels.spacetime import mann_kendall as kernel

    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise HotspotInputError(f"Mann-Kendall needs series as a (series, steps) array, got shape {x.shape}")
    s, var, z, p, tau = kernel(np.ascontiguousarray(x))
    return MannKendall(s=s, var_s=var, z=z, p=p, tau=tau)
