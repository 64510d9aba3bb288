"""How concentrated crime is across areas: the share in the top 20 % of areas, the Lorenz curve and the Gini coefficient.

Definitions
-----------
Lorenz curve
    Areas sorted from fewest to most records; ``lorenz_x[i]`` is the share of areas (i / n) and
    ``lorenz_y[i]`` the share of records they hold, from (0, 0) to (1, 1).
Gini coefficient
    Twice the area between the diagonal and the Lorenz curve (trapezoids), which equals the
    mean absolute difference over all ordered pairs divided by twice the mean:
    ``G = sum_i sum_j |c_i - c_j| / (2 n^2 mean(c))``. 0 when every area has the same count;
    (n - 1) / n when one area holds everything. Not corrected for small n.
top-20 % share
    ``1 - L(0.8)`` on the piecewise-linear Lorenz curve: the records in the busiest 20 % of
    areas. When 0.2 n is not a whole number the boundary area counts by its fraction (with 417
    LSOAs: the top 83 areas plus 0.4 of the 84th), so the figure does not jump with rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotspot.core.errors import HotspotInputError


@dataclass
class ConcentrationSummary:
    """Concentration of records across areas.

    Attributes
    ----------
    top20_share : float
        Share of records in the top ``top_share`` of areas (default 20 %), in [0, 1].
    gini : float
        Gini coefficient of the counts, in [0, (n - 1) / n]; NaN when there are no records.
    lorenz_x : ndarray, shape (n + 1,)
        Cumulative share of areas, 0 to 1, fewest records first.
    lorenz_y : ndarray, shape (n + 1,)
        Cumulative share of records at each ``lorenz_x``.
    n_areas : int
        Number of areas.
    total : float
        Total records.
    top_share : float
        The share of areas ``top20_share`` refers to (0.2 unless asked otherwise).
    """

    top20_share: float
    gini: float
    lorenz_x: np.ndarray
    lorenz_y: np.ndarray
    n_areas: int
    total: float
    top_share: float = 0.2

    def describe(self) -> str:
        """One line for reports, e.g. ``"top 20 % of 417 areas hold 52.1 % of records; Gini 0.46"``."""
        return (
            f"top {self.top_share:.0%} of {self.n_areas:,} areas hold {self.top20_share:.1%} of "
            f"{self.total:,.0f} records; Gini {self.gini:.3f}"
        )


def concentration(counts, top_share: float = 0.2) -> ConcentrationSummary:
    """Lorenz curve, Gini coefficient and top-area share of per-area counts.

    Parameters
    ----------
    counts : array-like of float, shape (n,)
        Records (or any non-negative amount) per area; NaN is not allowed.
    top_share : float, default 0.2
        Share of areas (busiest first) whose share of records is reported as ``top20_share``.

    Returns
    -------
    ConcentrationSummary
    """
    values = np.asarray(counts, dtype=np.float64).ravel()
    if values.size == 0:
        raise HotspotInputError("no areas to measure concentration over; check the boundaries")
    if np.any(~np.isfinite(values)) or np.any(values < 0):
        raise HotspotInputError("area counts must be finite and non-negative to measure concentration")
    if not (0 < top_share <= 1):
        raise ValueError(f"top_share must be in (0, 1], got {top_share}")
    n = values.size
    total = float(values.sum())
    x = np.arange(n + 1, dtype=np.float64) / n
    if total <= 0:
        return ConcentrationSummary(math.nan, math.nan, x, np.full(n + 1, math.nan), n, total, top_share)
    ordered = np.sort(values)
    y = np.concatenate([[0.0], np.cumsum(ordered) / total])
    y[-1] = 1.0
    # Trapezoid area under the Lorenz curve; G = 1 - 2 * area.
    gini = float(1.0 - np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1])))
    top = float(1.0 - np.interp(1.0 - top_share, x, y))
    return ConcentrationSummary(top, gini, x, y, n, total, top_share)
