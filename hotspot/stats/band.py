"""Automatic distance band for Gi*, in the spirit of ArcGIS Optimized Hot Spot Analysis.

Rule (documented, reported with the choice):

1. **Incremental spatial autocorrelation.** Global Moran's I (binary weights, self excluded) is
   computed at increasing distance bands and its z-score under randomisation (the ``z_rand`` of
   ``esda.Moran``) recorded. Grids: bands of 1, 2, 3, ... cell sizes up to 30 cells or a quarter of
   the grid's shorter side, whichever is smaller. Areas/points: from the distance that gives every
   observation at least one neighbour, in steps of the mean nearest-neighbour distance, 10 steps.
   The band is the **first peak**: the first band whose z is larger than both its neighbours' and
   at least 1.96 (significant clustering).
2. **Fallback** when no band peaks: the mean distance from each incident to its K-th nearest
   incident, K = 5 % of the incidents clamped to 3..30 (ArcGIS's fallback). Incidents are the
   non-empty cells' centres (grids) or the observations with a positive value (areas). The band is
   never smaller than one cell (grids) or the every-area-has-a-neighbour distance (areas).
"""

from __future__ import annotations

import numpy as np

from hotspot.core.errors import HotspotInputError

PEAK_MIN_Z = 1.96
"""A peak counts only when Moran's I z is at least this (clustering significant at 95 %)."""


def moran_z_rand(y: np.ndarray, lag: np.ndarray, k: np.ndarray) -> float:
    """Moran's I z-score under randomisation for symmetric binary weights (self excluded).

    ``y`` the values, ``lag`` the sum of neighbours' deviations from the mean, ``k`` neighbour counts
    (so ``S0 = sum k``, ``S1 = 2 S0``, ``S2 = 4 sum k^2``). Matches ``esda.Moran(...).z_rand`` with
    ``transformation="B"``. NaN when undefined (no neighbours or zero variance).
    """
    n = y.size
    z = y - y.mean()
    m2 = float(np.sum(z * z))
    s0 = float(np.sum(k))
    if n < 4 or s0 == 0 or m2 == 0:
        return float("nan")
    i_stat = n / s0 * float(np.sum(z * lag)) / m2
    s1 = 2.0 * s0
    s2 = 4.0 * float(np.sum(k.astype(np.float64) ** 2))
    ei = -1.0 / (n - 1)
    kurt = n * float(np.sum(z**4)) / m2**2
    a = n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s0 * s0)
    b = kurt * ((n * n - n) * s1 - 2 * n * s2 + 6 * s0 * s0)
    var = (a - b) / ((n - 1) * (n - 2) * (n - 3) * s0 * s0) - ei * ei
    if not var > 0:
        return float("nan")
    return (i_stat - ei) / np.sqrt(var)


def _first_peak(bands, zs):
    zs = np.asarray(zs, dtype=np.float64)
    for i in range(1, len(zs) - 1):
        if np.isfinite(zs[i]) and zs[i] >= PEAK_MIN_Z and zs[i] > zs[i - 1] and zs[i] > zs[i + 1]:
            return i
    return None


def _kth_nn_mean(xy: np.ndarray) -> tuple[float, int]:
    from scipy.spatial import cKDTree

    m = xy.shape[0]
    kk = int(np.clip(round(0.05 * m), 3, 30))
    kk = min(kk, m - 1)
    if kk < 1:
        return float("nan"), 0
    dist, _ = cKDTree(xy).query(xy, k=kk + 1)
    return float(dist[:, kk].mean()), kk


def choose_band_grid(
    counts: np.ndarray, cell_size_m: float, mask: np.ndarray | None = None, *, max_cells: int = 30, progress=None
) -> tuple[float, str]:
    """Distance band (metres) for Gi* on a grid, and the sentence saying how it was chosen.

    Parameters
    ----------
    counts : array (nrows, ncols)
        Value per cell.
    cell_size_m : float
        Cell side, metres.
    mask : bool array or None
        Cells in the study area (default all).
    max_cells : int, default 30
        Largest band tried, in cell sizes (also capped at a quarter of the grid's shorter side).
    """
    from hotspot.core.progress import resolve
    from hotspot.stats.weights import grid_stencil_sums, stencil_ring_offsets

    progress = resolve(progress)
    counts = np.asarray(counts, dtype=np.float64)
    mask = np.ones(counts.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    y = counts[mask]
    if y.size < 4:
        raise HotspotInputError("too few cells in the study area to choose a distance band; give --band METRES")
    steps = int(max(2, min(max_cells, min(counts.shape) // 4)))
    dev = np.where(mask, counts - y.mean(), 0.0)
    lag = np.zeros(y.size)
    k = np.zeros(y.size, dtype=np.int64)
    bands, zs = [], []
    previous = 0.0
    for step in range(1, steps + 1):
        band = step * cell_size_m
        dr, dc = stencil_ring_offsets(previous, band, cell_size_m)
        ring_sum, ring_k = grid_stencil_sums(dev, mask, dr, dc)
        lag += ring_sum[mask]
        k += ring_k[mask]
        bands.append(band)
        zs.append(moran_z_rand(y, lag, k))
        previous = band
        progress("choosing the distance band", step, steps)
    peak = _first_peak(bands, zs)
    if peak is not None:
        return float(bands[peak]), (
            f"first peak of incremental spatial autocorrelation (Global Moran's I z = "
            f"{zs[peak]:.2f} at {bands[peak]:g} m; bands {bands[0]:g}-{bands[-1]:g} m "
            f"in {cell_size_m:g} m steps)"
        )
    rows, cols = np.nonzero(mask & (counts > 0))
    xy = np.column_stack([cols * cell_size_m, rows * cell_size_m]).astype(np.float64)
    dist, kk = _kth_nn_mean(xy) if xy.shape[0] >= 4 else (float("nan"), 0)
    band = cell_size_m if not np.isfinite(dist) else max(cell_size_m, float(np.round(dist)))
    return band, (
        f"no peak of incremental spatial autocorrelation in {bands[0]:g}-{bands[-1]:g} m; "
        f"fallback: mean distance to the {kk}th nearest non-empty cell ({band:g} m)"
    )


def choose_band_points(xy: np.ndarray, values: np.ndarray, *, steps: int = 10) -> tuple[float, str]:
    """Distance band (metres) between points/centroids ``xy`` (n, 2) carrying ``values``, and the rule used."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if n < 4:
        raise HotspotInputError("too few areas to choose a distance band; give --band METRES")
    tree = cKDTree(xy)
    nn, _ = tree.query(xy, k=2)
    start = float(nn[:, 1].max())
    inc = float(nn[:, 1].mean())
    bands = [start + i * inc for i in range(steps)]
    pairs = tree.query_pairs(r=bands[-1] * (1 + 1e-9), output_type="ndarray")
    d = np.linalg.norm(xy[pairs[:, 0]] - xy[pairs[:, 1]], axis=1)
    dev = y - y.mean()
    zs = []
    for band in bands:
        sel = pairs[d <= band * (1 + 1e-9)]
        lag = np.bincount(sel[:, 0], weights=dev[sel[:, 1]], minlength=n) + np.bincount(
            sel[:, 1], weights=dev[sel[:, 0]], minlength=n
        )
        k = np.bincount(sel[:, 0], minlength=n) + np.bincount(sel[:, 1], minlength=n)
        zs.append(moran_z_rand(y, lag, k))
    peak = _first_peak(bands, zs)
    if peak is not None:
        return float(bands[peak]), (
            f"first peak of incremental spatial autocorrelation (Global Moran's I z = "
            f"{zs[peak]:.2f} at {bands[peak]:.0f} m; {steps} bands from {start:.0f} m "
            f"in {inc:.0f} m steps)"
        )
    dist, kk = _kth_nn_mean(xy[y > 0]) if np.count_nonzero(y > 0) >= 4 else (float("nan"), 0)
    band = start if not np.isfinite(dist) else max(start, dist)
    return float(band), (
        f"no peak of incremental spatial autocorrelation; fallback: mean distance to the {kk}th "
        f"nearest area with crime, at least the {start:.0f} m that gives every area a neighbour "
        f"({band:.0f} m)"
    )


def choose_band(
    values: np.ndarray,
    *,
    cell_size_m: float | None = None,
    mask: np.ndarray | None = None,
    xy: np.ndarray | None = None,
    progress=None,
) -> tuple[float, str]:
    """Distance band in metres and the rule used: a grid when ``cell_size_m`` is given, else points ``xy``."""
    if cell_size_m is not None:
        return choose_band_grid(values, cell_size_m, mask, progress=progress)
    if xy is None:
        raise HotspotInputError("choose_band needs cell_size_m (grid) or xy (area centroids)")
    return choose_band_points(xy, values)
