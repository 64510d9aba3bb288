"""Space-time Getis-Ord Gi*: one z-score per (time slice, location) of a space-time cube.

The neighbourhood of bin ``(t, i)`` is every location ``j`` within the spatial neighbourhood of ``i``
(itself included: the star form) in slices ``t - time_window .. t``, as ArcGIS's space-time Gi* does
(it looks back in time only, so a slice is never judged by its future). Weights are binary. The
population is the whole cube: ``n`` = locations x slices, ``xbar`` and ``S`` over every bin, and::

    z = (sum_nbrs x - xbar k) / (S sqrt((n k - k^2) / (n - 1))),   k = bins in the neighbourhood

which is :func:`hotspot.stats.gistar.analytic_z` with ``W = S1 = k``; with ``time_window = 0`` it is the
ordinary Gi* of each slice against the whole cube's mean and variance. p is two-sided normal and the
bins (-3..3) are drawn after the chosen correction over every bin of the cube. On grids the spatial
sums reuse the Gi* stencil kernel (:func:`hotspot.kernels.gistar.stencil_sums`) slice by slice; the
window over time is a cumulative sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve
from hotspot.stats.multiple_testing import adjust_pvalues, check_correction, confidence_bins

DEFAULT_TIME_WINDOW = 1
"""Slices before the current one in each bin's neighbourhood (ArcGIS's default neighbourhood time step)."""


@dataclass(frozen=True)
class SpaceTimeGiStar:
    """Space-time Gi* of every bin; arrays have the cube's shape ``(n_slices, ...)``.

    Attributes
    ----------
    z, p, p_adjusted : float arrays
        z-score, two-sided normal p and the corrected p (NaN outside the study area).
    bin : int8 array
        -3..3 hot/cold at 99/95/90 % after correction.
    n_neighbours : int array
        Bins in each neighbourhood, the bin itself included.
    band_m : float or None
        Spatial distance band, metres (grids and centroid bands); None for contiguity weights.
    time_window : int
        Earlier slices in each neighbourhood.
    correction : str
        "fdr", "bonferroni" or "none".
    n : int
        Bins in the population (locations x slices).
    mean, std : float
        Mean and standard deviation of every bin's count.
    notes : list of str
    """

    z: np.ndarray
    p: np.ndarray
    p_adjusted: np.ndarray
    bin: np.ndarray
    n_neighbours: np.ndarray
    band_m: float | None
    time_window: int
    correction: str
    n: int
    mean: float
    std: float
    notes: list = field(default_factory=list)


def _window_sum(a: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``a[t - window .. t]`` along axis 0 (fewer slices at the start)."""
    c = np.cumsum(a, axis=0)
    out = c.copy()
    if window + 1 < a.shape[0]:
        out[window + 1 :] -= c[: a.shape[0] - window - 1]
    return out


def _spatial_sums_grid(counts, mask, band_m, cell_size_m, progress):
    """Per slice: sum over the spatial neighbourhood (self included) and its size, on the grid."""
    from hotspot.stats.weights import grid_stencil_sums, stencil_offsets

    dr, dc = stencil_offsets(band_m, cell_size_m)
    sums = np.empty_like(counts)
    k = None
    for t in range(counts.shape[0]):  # one stencil pass per slice; the kernel loops over cells
        s, k2 = grid_stencil_sums(np.where(mask, counts[t], 0.0), mask, dr, dc)
        sums[t] = s + counts[t]
        k = k2 + 1
        progress("space-time Gi*: slices", t + 1, counts.shape[0])
    return sums, np.broadcast_to(k, counts.shape).astype(np.float64)


def space_time_gi_star(
    cube,
    *,
    band_m: float | None = None,
    weights=None,
    time_window: int = DEFAULT_TIME_WINDOW,
    correction: str = "fdr",
    progress=None,
) -> SpaceTimeGiStar:
    """Gi* of every bin of a space-time cube with a neighbourhood in space and in time.

    Parameters
    ----------
    cube : hotspot.spacetime.cube.SpaceTimeCube
        Counts per slice and location.
    band_m : float
        Spatial distance band, metres, between cell centres (grid cubes; required there).
    weights : libpysal.weights.W or hotspot.stats.weights.CSRWeights, optional
        Binary spatial weights between the areas (area cubes; required there), in area order.
    time_window : int, default 1
        How many earlier slices belong to each bin's neighbourhood (0: the slice alone).
    correction : {"fdr", "bonferroni", "none"}, default "fdr"
        Multiple-testing correction over every bin of the cube before the -3..3 bins.
    progress : callable or None
        ``progress(stage, done, total)``.
    """
    progress = resolve(progress)
    correction = check_correction(correction)
    if time_window < 0 or int(time_window) != time_window:
        raise HotspotInputError(f"--time-window must be a whole number of slices, 0 or more; got {time_window}")
    time_window = int(time_window)
    counts = np.asarray(cube.counts, dtype=np.float64)
    notes: list[str] = []
    if cube.on_grid:
        if band_m is None:
            raise HotspotInputError("space-time Gi* on a grid needs a distance band (--band, metres)")
        if not np.isfinite(band_m) or band_m < cube.grid.cell_size:
            raise HotspotInputError(f"--band ({band_m} m) must be at least the cell size ({cube.grid.cell_size:g} m)")
        mask = cube.mask
        sums, k = _spatial_sums_grid(counts, mask, float(band_m), cube.grid.cell_size, progress)
        inside = np.broadcast_to(mask, counts.shape)
    else:
        import scipy.sparse as sp

        from hotspot.stats.weights import CSRWeights, csr_from_w

        if weights is None:
            raise HotspotInputError("space-time Gi* on areas needs spatial weights between the areas")
        csr = weights if isinstance(weights, CSRWeights) else csr_from_w(weights, self_weight=1.0)
        if csr.n != counts.shape[1]:
            raise HotspotInputError(f"{csr.n} areas in the weights but {counts.shape[1]} in the cube; they must align")
        off = sp.csr_matrix((np.ones_like(csr.data), csr.indices, csr.indptr), shape=(csr.n, csr.n))
        sums = np.asarray((off @ counts.T).T) + counts
        k = np.broadcast_to(csr.cardinalities.astype(np.float64) + 1.0, counts.shape).astype(np.float64)
        inside = np.ones(counts.shape, dtype=bool)
        progress("space-time Gi*: slices", counts.shape[0], counts.shape[0])
    lag = _window_sum(sums, time_window)
    kk = _window_sum(k, time_window)
    y = counts[inside]
    n = int(y.size)
    if n < 3:
        raise HotspotInputError(f"space-time Gi* needs at least 3 bins, got {n}")
    mean = float(y.mean())
    var = float(np.mean(y * y) - mean * mean)
    z = np.full(counts.shape, np.nan)
    if var <= 1e-14 * max(1.0, float(np.mean(y * y))):
        notes.append("zero variance: every bin holds the same count, so nothing is hotter or colder; z = 0 everywhere")
        z[inside] = 0.0
    else:
        from hotspot.stats.gistar import analytic_z

        kin = kk[inside]
        zin, degenerate = analytic_z(lag[inside], kin, kin, n, mean, np.sqrt(var), np.zeros(n, dtype=bool))
        if degenerate.any():
            notes.append(f"{int(degenerate.sum()):,} bins have the whole cube as neighbourhood; their z is 0")
        z[inside] = zin
    from scipy import stats

    p = np.where(np.isfinite(z), 2.0 * stats.norm.sf(np.abs(np.nan_to_num(z))), np.nan)
    p_adj = adjust_pvalues(p, correction)
    bins = confidence_bins(z, p_adj)
    return SpaceTimeGiStar(
        z=z,
        p=p,
        p_adjusted=p_adj,
        bin=bins,
        n_neighbours=np.where(inside, kk, 0).astype(np.int64),
        band_m=None if band_m is None else float(band_m),
        time_window=time_window,
        correction=correction,
        n=n,
        mean=mean,
        std=float(np.sqrt(max(var, 0.0))),
        notes=notes,
    )
