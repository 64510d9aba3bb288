"""Local Getis-Ord Gi* (the star form: each cell counts in its own neighbourhood) on grids and areas.

The statistic (Getis & Ord 1992; Ord & Getis 1995, the form ArcGIS reports) for observation ``i`` with
weights ``w_ij`` (``w_ii`` the self weight), ``n`` observations, mean ``xbar`` and
``S = sqrt(mean(x^2) - xbar^2)``::

    z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1))),
    W_i = sum_j w_ij,   S1_i = sum_j w_ij^2.

For binary weights this is exactly ``esda.G_Local(star=True, transform="B").Zs``. The analytic p is
two-sided normal. The pseudo p (``p_sim``) is two-sided conditional randomisation: ``x_i`` held fixed,
the neighbours' values drawn without replacement from the other ``n - 1``.

**Inference on grids.** With binary weights the null of cell ``i`` depends only on its own value and
its number of neighbours ``k_i``: ``x_i + (sum of k_i values drawn from the other n - 1)``. So instead of
per-cell permutations (whose 2/(R+1) floor makes Benjamini-Hochberg blind on 250,000 cells) we compute,
for integer values, the **exact** distribution of the sum of ``j`` draws without replacement from the
whole pool, once for every ``j <= k_max``, then remove each cell's own value in O(k) (see
``hotspot.kernels.gistar``). The table is built from the value histogram by Newton's identity on the
unit circle (:func:`_spectral_distribution`: a few FFTs, whatever the number of distinct values, so
20 million records cost what 100,000 do), or for pools not much larger than ``k_max^2`` by folding in
one value level at a time (:func:`hotspot.kernels.gistar.sum_distribution`). Both are checked against
exact integer arithmetic to 1e-13 (measured: a few 1e-15) and the p-values are exact up to that
floating-point error, far below any FDR threshold. Non-integer
values, non-binary weights, or a table too large fall back to conditional permutations from one table
of draws shared by every cell (as esda), drawn serially from the seed so the answer is the same on
any number of threads; with binary weights every cell's counts come from sorted prefix sums of the
table's rows (O(n log R) instead of O(n R k)). The result's ``null_method`` says which was used.

Degenerate inputs are reported in ``notes``, never divided by: islands (no neighbours) get NaN z/p and
bin 0; zero variance (e.g. all counts zero) gives z = 0, p = 1 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hotspot.core.assign import DEFAULT_TOLERANCE_M
from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve
from hotspot.ingest.validate import BAND_RULES, Parameter
from hotspot.stats.multiple_testing import CORRECTIONS, adjust_pvalues, bin_counts, check_correction, confidence_bins

if TYPE_CHECKING:
    import geopandas as gpd

    from hotspot.core.grid import Grid
    from hotspot.io.provenance import Provenance

NULL_METHODS = ("auto", "exact", "permutation")
"""``null`` choices: exact per-class null where possible (auto), force it (exact), or per-cell permutations."""

EXACT_MAX_CELLS = 40_000_000
"""Largest (k_max + 1) x (s_max + 1) table the exact null builds (about 320 MB of float64 per buffer)."""

BINNING_RULE = (
    "a cell or area is binned at a confidence level only when both its randomisation p (p_sim: the exact "
    "per-class null on counts, else permutations) and the normal p of its z (what ArcGIS bins on) reach that "
    "level after the multiple-testing correction"
)
"""How the -3..3 bins are drawn, in words (docs/methods.md explains why)."""

EXACT_RESOLUTION = 1e-12
"""Absolute floating-point accuracy of exact conditional-randomisation p-values."""


@dataclass(frozen=True)
class GiStarResult:
    """Gi* results as plain attributes (arrays 2-D ``(nrows, ncols)`` on grids, 1-D on areas).

    Attributes
    ----------
    z : float array
        Analytic Gi* z-score (unadjusted). NaN outside the mask and for islands.
    p : float array
        Two-sided normal p-value of ``z`` (unadjusted).
    p_sim : float array
        Two-sided conditional-randomisation pseudo p (unadjusted); NaN when ``permutations == 0``.
    p_adjusted : float array
        ``p_used`` after ``correction``: the p the bins were drawn from.
    bin : int8 array
        -3..3: cold/hot at 99/95/90 % confidence after correction (0 also outside the mask, islands).
    correction : str
        "fdr" (Benjamini-Hochberg), "bonferroni" or "none".
    p_used : str
        "p_sim" or "p": which unadjusted p was corrected into the bins.
    null_method : str
        How ``p_sim`` was obtained, in words.
    p_sim_resolution : float
        Smallest meaningful ``p_sim``: 2/(R+1) for R per-cell permutations, ~1e-12 for the exact null.
    n_neighbours : int array
        Neighbours of each cell/area, itself excluded (0 outside the mask).
    islands : int array
        Indices (flat row-major on grids) of observations with no neighbours.
    notes : list of str
        Everything unusual: islands, zero variance, fallbacks, the band choice.
    counts : float array
        The values analysed.
    band_m : float or None
        Distance band, metres (grids and centroid bands).
    band_rule : str
        How the band was chosen ("given" or the automatic rule's report).
    weights_kind : str
        "band" (grid stencil), "queen", "rook", "knn", "band (centroids)" or "custom".
    n : int
        Number of cells/areas analysed.
    permutations, seed : int
        Inference settings as given.
    mask : bool array or None
        Grid cells analysed (grids only).
    """

    z: np.ndarray
    p: np.ndarray
    p_sim: np.ndarray
    p_adjusted: np.ndarray
    bin: np.ndarray
    correction: str
    p_used: str
    null_method: str
    p_sim_resolution: float
    n_neighbours: np.ndarray
    islands: np.ndarray
    notes: list[str] = field(default_factory=list)
    counts: np.ndarray | None = None
    band_m: float | None = None
    band_rule: str = ""
    weights_kind: str = ""
    n: int = 0
    permutations: int = 0
    seed: int = 0
    mask: np.ndarray | None = None

    @property
    def bin_counts(self) -> dict[int, int]:
        """Cells/areas per bin -3..3 (cells outside the mask not counted)."""
        bins = self.bin if self.mask is None else self.bin[self.mask]
        return bin_counts(bins)

    def summary(self, width: int = 100) -> list[str]:
        """What was analysed, the band and its rule, hot/cold per level, which p; then the notes."""
        from hotspot.stats.multiple_testing import BIN_LABELS

        unit = "cells" if self.mask is not None else "areas"
        lines = [f"Gi* over {self.n:,} {unit} ({self.weights_kind} weights)"]
        if self.band_m is not None:
            lines.append(f"distance band {self.band_m:,.0f} m ({self.band_rule or 'given'})")
        names = {"fdr": "Benjamini-Hochberg FDR", "bonferroni": "Bonferroni", "none": "no correction"}
        lines.append(f"bins from {self.p_used} after {names[self.correction]}; p_sim: {self.null_method}")
        counts = self.bin_counts
        for b in (3, 2, 1, -1, -2, -3):
            lines.append(f"  {counts[b]:>8,}  {BIN_LABELS[b]}")
        lines.append(f"  {counts[0]:>8,}  {BIN_LABELS[0]}")
        lines.extend(self.notes)
        return lines


@dataclass(frozen=True)
class GiStarMap:
    """What ``hotspot gistar`` makes: Gi* as a table of features, with the grid's rasters and hot clusters.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        One row per cell, area or street segment (``count, gi_z, gi_p, gi_p_sim, gi_p_adjusted, gi_bin, ...``).
    statistic : GiStarResult
        The statistic's arrays and how it was made.
    grid : Grid or None
        The grid (grids only): the whole surface is then also written as rasters.
    places : geopandas.GeoDataFrame or None
        Touching hot cells as ranked, named clusters (grids only; :func:`hotspot.places.clusters.named_gistar_places`).
    study_area : str or None
        The study area in words; None for counts given per area.
    study_area_km2 : float or None
        Its area, km².
    unit : str
        What a row is, in words: "cells", "areas" or "street segments".
    all_cells : bool
        Whether ``frame`` holds every study-area cell, not only those with records or a hot/cold bin.
    """

    frame: gpd.GeoDataFrame
    statistic: GiStarResult
    grid: Grid | None = None
    places: gpd.GeoDataFrame | None = None
    study_area: str | None = None
    study_area_km2: float | None = None
    unit: str = ""
    all_cells: bool = False

    def write(self, path: str | Path, *, provenance: Provenance | None = None, progress=None) -> list[Path]:
        """GeoPackage layer ``gistar`` (and ``gistar_places``), the CSV beside it, and on grids the rasters
        ``<stem>_z.tif``, ``<stem>_p.tif`` and ``<stem>_bin.tif`` with QGIS styles."""
        from hotspot.io.outputs import write_csv, write_geopackage

        path = Path(path)
        layers = {"gistar": self.frame}
        if self.places is not None:
            layers["gistar_places"] = self.places
        styles = {"gistar": "gistar", "gistar_places": "ranked"}
        written = [
            write_geopackage(
                path,
                layers,
                styles={k: v for k, v in styles.items() if k in layers},
                provenance=provenance,
                progress=progress,
            ),
            write_csv(self.frame, path.with_suffix(".csv"), provenance=provenance),
        ]
        if self.grid is not None:
            from hotspot.io.surfaces import write_gistar_surfaces

            written.extend(
                write_gistar_surfaces(path.with_suffix(""), self.statistic, self.grid, provenance=provenance).values()
            )
        return written

    def summary(self, width: int = 100) -> list[str]:
        """The study area, the hot area on grids, the statistic's lines and what the layers hold."""
        lines = [] if self.study_area is None else [self.study_area]
        if self.grid is not None:
            cell_size = self.grid.cell_size
            hot_km2 = float((self.statistic.bin >= 1).sum()) * cell_size * cell_size / 1e6
            lines.append(
                f"hot cells (90 % or more) cover {hot_km2:,.2f} km2 ({hot_km2 / self.study_area_km2:.2%} of the "
                "study area)"
            )
        statistic = self.statistic.summary(width)
        if self.unit and self.unit not in ("cells", "areas"):
            statistic = [
                line.replace("areas", self.unit, 1) if line.startswith("Gi* over") or "no neighbours" in line else line
                for line in statistic
            ]
        lines.extend(statistic)
        if self.grid is not None:
            rows = (
                "every study-area cell"
                if self.all_cells
                else f"{len(self.frame):,} cells with records or a hot/cold bin"
            )
            lines.append(
                f"layer gistar: {rows}; layer gistar_places: {0 if self.places is None else len(self.places):,} named hot clusters"
            )
        return lines


# --- the statistic on flat arrays ------------------------------------------------------------------


def analytic_z(lag, wsum, w2sum, n, mean, s, islands):
    """Gi* z from the neighbourhood sums, given the global statistics of the study area.

    ``lag`` = sum_j w_ij x_j (self included), ``wsum`` = W_i, ``w2sum`` = S1_i (arrays); ``n``, ``mean``
    and ``s`` (> 0): the number of observations, their mean and standard deviation over the whole
    study area, which is what lets a tile of a larger grid compute exactly the z the full grid gives.
    ``islands``: boolean array of observations without neighbours (their z is left 0 here).
    Returns ``(z, degenerate)``; ``degenerate`` marks observations whose neighbourhood is every other
    observation (z = 0).
    """
    z = np.zeros(np.shape(lag))
    inner = (n * w2sum - wsum * wsum) / (n - 1)
    degenerate = (inner <= 1e-12 * np.maximum(w2sum, 1.0) * n) & ~islands
    ok = ~degenerate & ~islands
    z[ok] = (lag[ok] - mean * wsum[ok]) / (s * np.sqrt(inner[ok]))
    return z, degenerate


def _analytic(y, lag, wsum, w2sum, k, notes):
    """Gi* z and two-sided p from lag = sum_j w_ij y_j (self included), W_i, S1_i; islands (k == 0) NaN."""
    from hotspot.kernels.gistar import two_sided_normal_p  # not scipy (0.25-0.7 s to import) for one normal tail

    n = y.size
    mean = y.mean()
    var = float(np.mean(y * y) - mean * mean)
    # cancellation can leave a tiny negative or positive residue for constant input
    scale = max(1.0, float(np.mean(y * y)))
    z = np.zeros(n)
    islands = k == 0
    if var <= 1e-14 * scale:
        notes.append(
            f"zero variance: every value is {y[0]:g}, so nothing can be hotter or colder than the rest; "
            "z = 0 and p = 1 everywhere"
        )
    else:
        z, degenerate = analytic_z(lag, wsum, w2sum, n, mean, np.sqrt(var), islands)
        if degenerate.any():
            notes.append(
                f"{int(degenerate.sum())} observation(s) have every other observation as neighbour "
                "(the band covers the whole study area); their z is 0"
            )
    z[islands] = np.nan
    p = two_sided_normal_p(z)
    return z, p, var <= 1e-14 * scale


def _exact_plan(y, k, t_neigh=None):
    """(feasible, reason, k_max, s_max, shift) for the exact per-class null on values y with k neighbours.

    Tails are only ever read at or below the largest observed neighbour sum (upper tails are taken
    as 1 - lower), so the sum distribution is truncated there: ``s_max`` is that sum (a cell's
    neighbour sum never exceeds the sum of the ``k_max`` largest values, the table's natural end)."""
    from hotspot.kernels.gistar import integer_summary

    y = np.ascontiguousarray(y, dtype=np.float64)
    whole, lo, _ = integer_summary(y)
    if not whole:
        return False, "values are not all integers", 0, 0, 0.0
    n = y.size
    k_max = int(k.max()) if k.size else 0
    if k_max == 0:
        return False, "no observation has neighbours", 0, 0, 0.0
    if 2 * k_max > n:
        return False, f"neighbourhoods ({k_max}) exceed half the {n} observations", 0, 0, 0.0
    shift = float(lo)
    if t_neigh is not None and t_neigh.size:
        s_max = int(np.round(np.max(t_neigh - k * shift)))
    else:
        s_max = int(np.partition(y - shift, n - k_max)[n - k_max :].sum())
    if (k_max + 1) * (s_max + 1) > EXACT_MAX_CELLS:
        return (
            False,
            (f"the exact null table would need {(k_max + 1) * (s_max + 1):,} entries (limit {EXACT_MAX_CELLS:,})"),
            0,
            0,
            0.0,
        )
    return True, "", k_max, s_max, shift


SPECTRAL_MAX_GROWTH = 1e6
"""Largest error growth of the spectral recursion (see :func:`_newton_coefficients`) before the exact
null uses the level-by-level dynamic programme instead (pools not much larger than k_max squared)."""

_NEWTON_TAIL = 1e-20
_SPECTRAL_BLOCK_BYTES = 64 * 2**20


def _newton_coefficients(n: int, k_max: int):
    """``(coef, growth)``: the weights of Newton's identity for draws without replacement, truncated.

    ``coef[j, l - 1] = b_{j,l} = (n / j) prod_{i<l} (j - i) / (n - j + 1 + i)``, the weight of
    ``Q_{j-l} pi_l`` in ``Q_j`` (:func:`hotspot.kernels.gistar.newton_spectra`). The terms fall by a
    factor of at most ``j / (n - j)`` per ``l``, so when ``n >> k_max`` only a few matter: each row
    stops once the sum of the terms it leaves out is below 1e-20 (every ``|Q|`` and ``|pi|`` is at
    most 1 on the unit circle, so that is a bound on the error it adds). ``growth = prod_j sum_l
    b_{j,l}`` bounds how much an error in one row can grow by row ``k_max`` (about ``exp(k_max^2 /
    n)``).
    """
    b = np.zeros((k_max + 1, k_max))
    growth = 1.0
    width = 1
    for j in range(1, k_max + 1):
        row = np.empty(j)
        row[0] = n / (n - j + 1.0)
        for m in range(1, j):  # row[m] = b_{j,m+1}
            row[m] = row[m - 1] * (j - m) / (n - j + m + 1.0)
        tail = np.cumsum(row[::-1])[::-1]  # tail[m] = sum of the terms from m on
        keep = j
        for m in range(1, j):
            if tail[m] < _NEWTON_TAIL:
                keep = m
                break
        b[j, :keep] = row[:keep]
        growth *= float(row[:keep].sum())
        width = max(width, keep)
    return np.ascontiguousarray(b[:, :width]), growth


def _fast_length(m: int) -> int:
    """Smallest 2^a 3^b 5^c at least ``m``: a length the FFT handles at full speed."""
    best = 1 << max(0, (m - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = p35
            while q < m:
                q *= 2
            best = min(best, q)
            p35 *= 3
        p5 *= 5
    return best


def _spectral_distribution(hist, n, k_max, s_max, coef):
    """``H[s, j] = P(sum of j draws without replacement = s)`` for ``j <= k_max``, ``s <= s_max``, from the
    value histogram ``hist`` (clamped at ``s_max + 1``) by Newton's identity on the unit circle.

    The transform length exceeds the largest sum ``k_max`` clamped draws can reach, so nothing wraps
    round: the coefficients are exact up to floating-point error. Rows are made in blocks (a few
    transforms at a time) so memory stays ~64 MB whatever ``k_max``.
    """
    from hotspot.kernels import gistar as kg
    from hotspot.stats.weights import serial_work

    # Largest sum of k_max clamped values: the histogram read from the top down.
    above = np.cumsum(hist[::-1])  # values at or above each level, highest level first
    taken = np.diff(np.minimum(above, k_max), prepend=0)
    top = int(np.dot(taken, np.arange(hist.size - 1, -1, -1, dtype=np.int64)))
    n_fft = _fast_length(max(top + 1, hist.size))
    nf = n_fft // 2 + 1
    spec = np.fft.rfft(hist / float(n), n_fft)
    lags = coef.shape[1]
    block = int(max(1, min(k_max, _SPECTRAL_BLOCK_BYTES // (nf * 16))))
    Q = np.zeros((lags + block, nf), dtype=np.complex128)
    Q[lags - 1] = 1.0  # no draws: the sum is 0
    H = np.empty((s_max + 1, k_max + 1))
    H[:, 0] = 0.0
    H[0, 0] = 1.0
    j = 1
    while j <= k_max:
        rows = min(block, k_max - j + 1)
        kernel = kg.newton_spectra_serial if serial_work(float(nf) * rows * lags) else kg.newton_spectra
        kernel(spec, n_fft, coef[j : j + rows], Q[: lags + rows], lags)
        H[:, j : j + rows] = np.fft.irfft(Q[lags : lags + rows], n_fft, axis=1)[:, : s_max + 1].T
        Q[:lags] = Q[rows : rows + lags].copy()
        j += rows
    return H


def _sum_cdf(hist, n, k_max, s_max, method="auto"):
    """``(cdf, method)``: ``cdf[s, j] = P(sum of j draws without replacement from the pool <= s)``.

    ``hist`` is the pool's histogram of shifted values clamped at ``s_max + 1``
    (:func:`hotspot.kernels.gistar.clamped_histogram`). ``method``: "spectral" (Newton's identity on
    the unit circle, O(k_max (L + log N) N) for an N-point transform, whatever the number of distinct
    values), "levels" (the level-by-level dynamic programme, O(levels x k_max x s_max)), or "auto":
    spectral unless its error growth exceeds :data:`SPECTRAL_MAX_GROWTH`.
    """
    from hotspot.kernels.gistar import sum_distribution

    coef, growth = _newton_coefficients(int(n), int(k_max))
    if method == "auto":
        method = "spectral" if growth <= SPECTRAL_MAX_GROWTH else "levels"
    if method == "spectral":
        H = _spectral_distribution(hist, n, int(k_max), int(s_max), coef)
    else:
        levels = np.flatnonzero(hist).astype(np.int64)
        H = np.ascontiguousarray(sum_distribution(levels, hist[levels].astype(np.int64), int(k_max), int(s_max)).T)
    np.cumsum(H, axis=0, out=H)
    np.clip(H, 0.0, 1.0, out=H)
    return H, method


def _exact_pvalues(y, k, t_neigh, k_max, s_max, shift, pool=None, method="auto"):
    """Exact p of the cells with values ``y``, ``k`` neighbours and neighbour sums ``t_neigh``, the null drawn
    from ``pool`` (every observation; default ``y`` itself)."""
    from hotspot.kernels import gistar as kg
    from hotspot.kernels.gistar import clamped_histogram
    from hotspot.stats.weights import serial_work

    pool = np.ascontiguousarray(y if pool is None else pool, dtype=np.float64)
    cap = int(s_max) + 1
    hist = clamped_histogram(pool, float(shift), cap)
    cdf, _ = _sum_cdf(hist, pool.size, k_max, s_max, method)
    own = np.minimum(np.round(y - shift), cap).astype(np.int64)
    t = np.round(t_neigh - k * shift).astype(np.int64)
    k = k.astype(np.int64)
    kernel = kg.exact_tail_pvalues_serial if serial_work(float(k.sum())) else kg.exact_tail_pvalues
    p, _, _ = kernel(cdf, int(pool.size), own, k, t)
    return p


def permutation_table(n: int, k_max: int, permutations: int, seed: int) -> np.ndarray:
    """(permutations, k_max + 1) int64: each row ``k_max + 1`` distinct indices of ``0 .. n - 1`` in random order.

    Drawn once, serially, from ``seed`` (numpy's PCG64), so the p-values do not depend on the
    thread count. Every observation reads the same rows (esda's approach): observation ``i`` takes a
    row's first ``k`` entries with itself, if there, replaced by entry ``k``, a uniform ordered
    sample of ``k`` of the other ``n - 1`` observations (see
    :func:`hotspot.kernels.gistar.crand_pvalues_table`). So every observation's pseudo p is a valid
    Monte Carlo estimate, at the cost of correlation between observations' p-values, as in esda.
    """
    rng = np.random.default_rng(seed)
    width = k_max + 1
    # Independent uniform draws, and the rows that repeat an index drawn again without replacement:
    # either way a row is a uniform ordered sample of distinct indices, and with n >> k_max only a
    # few rows repeat, so the table costs one vectorised draw instead of one call per row.
    table = rng.integers(0, n, size=(permutations, width), dtype=np.int64)
    ordered = np.sort(table, axis=1)
    for r in np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1)):
        table[r] = rng.choice(n, size=width, replace=False, shuffle=True)
    return table


def _permutation_pvalues(y, indptr, data, self_w, lag, permutations, seed):
    """Pseudo p from one shared table of draws; ``data`` None means binary slot weights (the fast kernel)."""
    from hotspot.kernels.gistar import crand_binary_pvalues_table, crand_pvalues_table

    k = np.diff(indptr).astype(np.int64)
    k_max = min(int(k.max()) if k.size else 0, y.size - 1)
    table = permutation_table(y.size, k_max, int(permutations), int(seed))
    if data is None:
        p, _, _ = crand_binary_pvalues_table(y, k, self_w, lag, table)
    else:
        p, _, _ = crand_pvalues_table(y, indptr, data, self_w, lag, table)
    return p


def _infer(y, k, lag, t_neigh, binary, indptr, data, self_w, permutations, seed, null, notes, progress):
    """p_sim, null_method, resolution for flat inputs."""
    if null not in NULL_METHODS:
        raise HotspotInputError(f"null must be one of {', '.join(NULL_METHODS)}, got {null!r}")
    if permutations < 0:
        raise HotspotInputError(f"--permutations must be 0 or more, got {permutations}")
    if permutations == 0:
        return np.full(y.size, np.nan), "none (permutations = 0)", float("nan")
    if binary and null in ("auto", "exact"):
        feasible, reason, k_max, s_max, shift = _exact_plan(y, k, t_neigh)
        if feasible:
            progress("Gi* exact null", 0, 1)
            p = _exact_pvalues(y, k, t_neigh, k_max, s_max, shift)
            progress("Gi* exact null", 1, 1)
            return (
                p,
                (
                    "exact conditional randomisation per (own value, neighbour count) class "
                    "(binary weights, integer values)"
                ),
                EXACT_RESOLUTION,
            )
        if null == "exact":
            raise HotspotInputError(f"the exact Gi* null is not available here: {reason}; use null='permutation'")
        notes.append(f"exact per-class null not used ({reason}); fell back to {permutations} per-cell permutations")
    progress("Gi* permutations", 0, 1)
    p = _permutation_pvalues(y, indptr, None if binary else data, self_w, lag, permutations, seed)
    progress("Gi* permutations", 1, 1)
    return (
        p,
        (
            f"{permutations} conditional permutations per cell (one table of draws shared by every cell, "
            "seeded once, as esda)"
        ),
        2.0 / (permutations + 1),
    )


def _finish(z, p, p_sim, permutations, correction, zero_var, islands_mask):
    # Bins need both tests to agree (see BINNING_RULE): on zero-heavy counts the randomisation null
    # alone calls every empty neighbourhood a cold spot, and the normal p alone over-calls hot spots.
    p_used = "max(p_sim, p)" if permutations > 0 else "p"
    chosen = np.fmax(p_sim, p) if permutations > 0 else p
    if zero_var:
        chosen = np.where(islands_mask, np.nan, 1.0)
        p = np.where(islands_mask, np.nan, 1.0)
        if permutations > 0:
            p_sim = chosen.copy()
    p_adj = adjust_pvalues(chosen, correction)
    bins = confidence_bins(z, p_adj)
    return p, p_sim, p_adj, bins, p_used


def _island_note(count, what, labels=None):
    text = f"{count} {what} have no neighbours (islands): their z and p are empty (NaN) and their bin is 0"
    if labels is not None and len(labels):
        shown = ", ".join(str(x) for x in list(labels)[:10])
        text += f" ({shown}{', ...' if len(labels) > 10 else ''})"
    return text


# --- grids --------------------------------------------------------------------------------------------


def gi_star_grid(
    counts: np.ndarray,
    band_m: float | None,
    cell_size_m: float,
    *,
    mask: np.ndarray | None = None,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    null: str = "auto",
    band_rule: str = "given",
    progress=None,
) -> GiStarResult:
    """Gi* on a regular square grid with binary distance-band weights applied as a stencil.

    Parameters
    ----------
    counts : array (nrows, ncols)
        Value per cell (counts or rates), row 0 north.
    band_m : float or None
        Distance band, metres, between cell centres; cells exactly ``band_m`` away are neighbours.
        None chooses it by :func:`hotspot.stats.band.choose_band_grid` and reports the rule in ``band_rule``.
    cell_size_m : float
        Cell side, metres.
    mask : bool array (nrows, ncols) or None, default None
        Cells in the study area. Only these form the population (mean, variance, the permutation
        pool) and only these are neighbours. None: every cell.
    permutations : int, default 999
        0 disables the pseudo p (bins then use the analytic p). With integer values the exact
        per-class null is used instead of permutations (see the module docstring); otherwise this
        many per-cell permutations.
    seed : int, default 0
        Seed of the shared permutation table (same seed, same p on any thread count).
    correction : {"fdr", "bonferroni", "none"}, default "fdr"
        Multiple-testing correction applied before binning.
    null : {"auto", "exact", "permutation"}, default "auto"
        Force the exact per-class null or per-cell permutations.
    band_rule : str, default "given"
        Text reported as the band's provenance when ``band_m`` is given.
    progress : callable or None
        ``progress(stage, done, total)``.

    Returns
    -------
    GiStarResult with 2-D arrays.
    """
    from hotspot.stats.weights import grid_stencil_sums, stencil_offsets

    progress = resolve(progress)
    correction = check_correction(correction)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise HotspotInputError(f"grid counts must be a 2-D (rows, columns) array, got shape {counts.shape}")
    mask = np.ones(counts.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != counts.shape:
        raise HotspotInputError(f"the mask {mask.shape} does not match the grid {counts.shape}")
    if band_m is not None and (not np.isfinite(band_m) or band_m < cell_size_m):
        raise HotspotInputError(
            f"--band ({band_m} m) must be at least the cell size ({cell_size_m:g} m) so cells have neighbours"
        )
    if not np.all(np.isfinite(counts[mask])):
        raise HotspotInputError("grid counts contain NaN or infinite values inside the study area")
    n = int(mask.sum())
    if n < 3:
        raise HotspotInputError(f"Gi* needs at least 3 cells in the study area, got {n}; use a smaller --cell-size")
    if band_m is None:
        from hotspot.stats.band import choose_band_grid

        band_m, band_rule = choose_band_grid(counts, cell_size_m, mask, progress=progress)

    progress("Gi* stencil", 0, 1)
    dr, dc = stencil_offsets(band_m, cell_size_m)
    values = np.where(mask, counts, 0.0)
    t2, k2 = grid_stencil_sums(values, mask, dr, dc)
    progress("Gi* stencil", 1, 1)

    y = counts[mask]
    k = k2[mask]
    t = t2[mask]
    lag = y + t
    wsum = k + 1.0
    notes: list[str] = []
    z, p, zero_var = _analytic(y, lag, wsum, wsum, k, notes)
    islands_mask = k == 0
    flat_index = np.flatnonzero(mask.ravel())
    if islands_mask.any():
        notes.insert(0, _island_note(int(islands_mask.sum()), "cells"))

    indptr = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    if permutations > 0 and not zero_var:
        p_sim, null_method, resolution = _infer(
            y, k, lag, t, True, indptr, None, np.ones(n), permutations, seed, null, notes, progress
        )
    elif permutations > 0:
        p_sim, null_method, resolution = np.full(n, np.nan), "not needed (zero variance)", float("nan")
    else:
        p_sim, null_method, resolution = np.full(n, np.nan), "none (permutations = 0)", float("nan")
    p, p_sim, p_adj, bins, p_used = _finish(z, p, p_sim, permutations, correction, zero_var, islands_mask)

    def grid_of(a, fill=np.nan, dtype=np.float64):
        out = np.full(counts.shape, fill, dtype=dtype)
        out[mask] = a
        return out

    return GiStarResult(
        z=grid_of(z),
        p=grid_of(p),
        p_sim=grid_of(p_sim),
        p_adjusted=grid_of(p_adj),
        bin=grid_of(bins, 0, np.int8),
        correction=correction,
        p_used=p_used,
        null_method=null_method,
        p_sim_resolution=resolution,
        n_neighbours=grid_of(k, 0, np.int64),
        islands=flat_index[islands_mask],
        notes=notes,
        counts=grid_of(y),
        band_m=float(band_m),
        band_rule=band_rule,
        weights_kind="band",
        n=n,
        permutations=int(permutations),
        seed=int(seed),
        mask=mask,
    )


# --- areas --------------------------------------------------------------------------------------------


def gi_star_areas(
    values: np.ndarray,
    weights,
    *,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    null: str = "auto",
    self_weight: float | None = None,
    weights_kind: str = "custom",
    band_m: float | None = None,
    band_rule: str = "",
    progress=None,
) -> GiStarResult:
    """Gi* of one value per area with libpysal weights.

    Parameters
    ----------
    values : array (n,)
        Value per area (counts or rates) in the order of ``weights.id_order``.
    weights : libpysal.weights.W or hotspot.stats.weights.CSRWeights
        Weights used as given (no transform applied; pass binary weights for the usual Gi*).
    permutations : int, default 999
        As in :func:`gi_star_grid`; binary weights with integer values use the exact null.
    seed : int, default 0
        Seed of the per-area permutation streams.
    correction : {"fdr", "bonferroni", "none"}, default "fdr"
    null : {"auto", "exact", "permutation"}, default "auto"
    self_weight : float or None, default None
        Weight of an area on itself; None keeps the diagonal of ``weights`` or uses 1.
    weights_kind, band_m, band_rule : reported as given.
    progress : callable or None

    Returns
    -------
    GiStarResult with 1-D arrays in weights order; ``islands`` are positional indices.
    """
    import scipy.sparse as sp

    from hotspot.stats.weights import CSRWeights, csr_from_w

    progress = resolve(progress)
    correction = check_correction(correction)
    csr = weights if isinstance(weights, CSRWeights) else csr_from_w(weights, self_weight=self_weight)
    y = np.asarray(values, dtype=np.float64).ravel()
    n = csr.n
    if y.size != n:
        raise HotspotInputError(f"{y.size} values for {n} areas in the weights; they must align")
    if not np.all(np.isfinite(y)):
        raise HotspotInputError("the area values contain NaN or infinite values; fill or drop those areas")
    if n < 3:
        raise HotspotInputError(f"Gi* needs at least 3 areas, got {n}")
    off = sp.csr_matrix((csr.data, csr.indices, csr.indptr), shape=(n, n))
    t = off @ y
    lag = t + csr.self_weight * y
    wsum = np.asarray(off.sum(axis=1)).ravel() + csr.self_weight
    w2sum = np.asarray(off.multiply(off).sum(axis=1)).ravel() + csr.self_weight**2
    k = csr.cardinalities.astype(np.int64)
    notes: list[str] = []
    z, p, zero_var = _analytic(y, lag, wsum, w2sum, k, notes)
    islands_mask = k == 0
    if islands_mask.any():
        labels = [csr.ids[i] for i in np.flatnonzero(islands_mask)]
        notes.insert(0, _island_note(int(islands_mask.sum()), "areas", labels))
    if permutations > 0 and not zero_var:
        p_sim, null_method, resolution = _infer(
            y, k, lag, t, csr.binary, csr.indptr, csr.data, csr.self_weight, permutations, seed, null, notes, progress
        )
    else:
        p_sim = np.full(n, np.nan)
        null_method = "none (permutations = 0)" if permutations == 0 else "not needed (zero variance)"
        resolution = float("nan")
    p, p_sim, p_adj, bins, p_used = _finish(z, p, p_sim, permutations, correction, zero_var, islands_mask)
    return GiStarResult(
        z=z,
        p=p,
        p_sim=p_sim,
        p_adjusted=p_adj,
        bin=bins,
        correction=correction,
        p_used=p_used,
        null_method=null_method,
        p_sim_resolution=resolution,
        n_neighbours=k,
        islands=np.flatnonzero(islands_mask),
        notes=notes,
        counts=y,
        band_m=band_m,
        band_rule=band_rule,
        weights_kind=weights_kind,
        n=n,
        permutations=int(permutations),
        seed=int(seed),
    )


# --- high level: records in, layer out ------------------------------------------------------------------

CELL_CHOICES = ("needed", "all")
"""``cells`` for :func:`gi_star_points`: the cells holding records or binned hot/cold, or every study-area cell."""

GRID_WEIGHTS = ("band",)
AREA_KINDS = ("queen", "rook", "knn", "centroid-band")
WEIGHT_CHOICES = GRID_WEIGHTS + AREA_KINDS

PARAMETERS = (
    Parameter("cell_size_m", "--cell-size", "metres"),
    Parameter("band_m", "--band", "metres"),
    Parameter("band_rule", "--band-rule", "choice", BAND_RULES),
    Parameter("weights", "--weights", "choice", WEIGHT_CHOICES),
    Parameter("k", "--k", "count"),
    Parameter("correction", "--correction", "choice", CORRECTIONS),
)
"""Gi*'s parameters with the option each is typed as, checked in one place (:func:`hotspot.ingest.validate.check_parameters`)."""
"""``weights`` for :func:`gi_star_points`: "band" = grid stencil; the rest = areas from ``boundaries``."""

_JOIN_TOLERANCE_M = DEFAULT_TOLERANCE_M


def _result_columns(result: GiStarResult) -> dict[str, np.ndarray]:
    return {
        "count": result.counts,
        "gi_z": result.z,
        "gi_p": result.p,
        "gi_p_sim": result.p_sim,
        "gi_p_adjusted": result.p_adjusted,
        "gi_bin": result.bin,
        "gi_neighbours": result.n_neighbours,
    }


def _describe_columns(frame, result: GiStarResult):
    frame["gi_p_used"] = result.p_used
    frame["gi_correction"] = result.correction
    frame.attrs["gistar"] = {
        "p_used": result.p_used,
        "correction": result.correction,
        "null_method": result.null_method,
        "band_m": result.band_m,
        "band_rule": result.band_rule,
        "weights": result.weights_kind,
        "notes": list(result.notes),
    }
    return frame


def count_points_in_areas(records, areas) -> tuple[np.ndarray, int]:
    """Records (or their total ``weight``, harm, when they carry one) per polygon (row order of ``areas``) and
    how many matched no polygon, by :func:`hotspot.core.assign.assign_records` (the record's own LSOA code, else its
    position within 20 m)."""
    from hotspot.core.assign import assign_records, count_per_area

    if "weight" not in records.frame.columns:
        return count_per_area(records.frame, areas)
    index, _, _, _ = assign_records(records.frame, areas)
    ok = index >= 0
    weights = records.frame["weight"].to_numpy(np.float64)[ok]
    return np.bincount(index[ok], weights=weights, minlength=len(areas)).astype(np.float64), int((~ok).sum())


def gi_star_area_counts(
    values: np.ndarray,
    areas,
    *,
    weights: str = "queen",
    k: int = 8,
    band_m: float | None = None,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    progress=None,
):
    """Gi* of one value per polygon; returns ``(GeoDataFrame for layer "gistar", GiStarResult)``.

    Parameters
    ----------
    values : array (n,)
        Count or rate per row of ``areas``.
    areas : GeoDataFrame
        Polygons with ``area_code``/``area_name`` (if present) in a metre CRS.
    weights : {"queen", "rook", "knn", "centroid-band"}, default "queen"
        Binary neighbours: contiguity, ``k`` nearest centroids, or centroids within ``band_m`` metres
        (chosen by :func:`hotspot.stats.band.choose_band_points` when None).
    k : int, default 8
        Neighbours for "knn".
    band_m : float or None
        Centroid distance band, metres, for "centroid-band".
    permutations, seed, correction, progress : as in :func:`gi_star_grid`.
    """
    from hotspot.stats.weights import area_weights

    kind = str(weights).lower()
    if kind not in AREA_KINDS:
        raise HotspotInputError(f"area weights must be one of {', '.join(AREA_KINDS)}, got {weights!r}")
    values = np.asarray(values, dtype=np.float64)
    band_rule = ""
    if kind == "centroid-band":
        if band_m is None:
            from hotspot.stats.band import choose_band_points

            c = areas.geometry.centroid
            band_m, band_rule = choose_band_points(np.column_stack([c.x, c.y]), values)
        else:
            band_rule = "given"
    w = area_weights(areas, "band" if kind == "centroid-band" else kind, k=k, band_m=band_m)
    result = gi_star_areas(
        values,
        w,
        permutations=permutations,
        seed=seed,
        correction=correction,
        weights_kind=kind,
        band_m=band_m if kind == "centroid-band" else None,
        band_rule=band_rule,
        progress=progress,
    )
    frame = areas[[c for c in ("area_code", "area_name") if c in areas.columns] + ["geometry"]].copy()
    for name, column in _result_columns(result).items():
        frame[name] = column
    frame = frame[[c for c in frame.columns if c != "geometry"] + ["geometry"]]
    return _describe_columns(frame.reset_index(drop=True), result), result


def gi_star_points(
    records,
    *,
    grid=None,
    mask=None,
    cell_size_m: float = 100.0,
    band_m: float | None = None,
    band_rule_name: str = "holdout",
    boundaries=None,
    weights: str = "band",
    k: int = 8,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    cells: str = "all",
    progress=None,
):
    """Points to counts to Gi*: the call ``hotspot gistar`` and ``hotspot rank --method gistar`` use.

    Parameters
    ----------
    records : hotspot.core.records.Records
        Crime points, metres.
    grid : hotspot.core.grid.Grid or None
        Grid to count on (a study's :meth:`hotspot.ingest.study.Study.grid`); default a ``cell_size_m``
        grid over the boundaries, else over the points.
    mask : bool array or None
        Study-area cells of ``grid``; default the cells inside ``boundaries`` (or every cell).
    cell_size_m : float, default 100
        Cell side, metres (when ``grid`` is None).
    band_m : float or None, default None
        Distance band, metres; None chooses one by ``band_rule_name`` and reports the rule.
    band_rule_name : {"holdout", "moran"}, default "holdout"
        How a missing grid band is chosen: the street-level radius that best predicted the
        latest months (:func:`hotspot.stats.radius.choose_radius`), or the first peak of incremental
        spatial autocorrelation (:func:`hotspot.stats.band.choose_band_grid`, about 1 km on county data).
    boundaries : GeoDataFrame or None
        Study-area polygons. With ``weights="band"`` they mask the grid (cells whose centre is inside);
        with area weights they are the areas counted.
    weights : {"band", "queen", "rook", "knn", "centroid-band"}, default "band"
        "band": grid cells with a distance-band stencil. Otherwise areas (needs ``boundaries``).
    k : int, default 8
        Neighbours for "knn".
    permutations, seed, correction, progress : as in :func:`gi_star_grid`.
    cells : {"all", "needed"}, default "all"
        Grid cells in the frame: every cell of the study area, or only those an analyst needs
        (:data:`CELL_CHOICES`): cells holding records or binned hot/cold. The statistic is the same
        either way (every cell is in the population); the full surfaces are in the result's arrays.
        Ignored for area weights (every area is a row).

    Returns
    -------
    (GeoDataFrame, GiStarResult). The frame holds one row per grid cell in the study area (``cell_id,
    row, col``) or per area (``area_code, area_name``), with ``count, gi_z, gi_p, gi_p_sim,
    gi_p_adjusted, gi_bin, gi_neighbours, gi_p_used, gi_correction``.
    """
    from hotspot.core.grid import Grid

    kind = str(weights).lower()
    if kind not in WEIGHT_CHOICES:
        raise HotspotInputError(f"--weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    if cells not in CELL_CHOICES:
        raise HotspotInputError(f"cells must be one of {', '.join(CELL_CHOICES)}, got {cells!r}")
    xy = records.xy
    if kind in AREA_KINDS:
        if boundaries is None or len(boundaries) == 0:
            raise HotspotInputError(f"--weights {kind} counts points per area: give --boundaries PATH")
        counts, unmatched = count_points_in_areas(records, boundaries)
        frame, result = gi_star_area_counts(
            counts,
            boundaries,
            weights=kind,
            k=k,
            band_m=band_m,
            permutations=permutations,
            seed=seed,
            correction=correction,
            progress=progress,
        )
        if unmatched:
            note = f"{unmatched:,} records lie in no area (no matching LSOA code and more than 20 m outside all) and were not counted"
            result = replace(result, notes=[*result.notes, note])
            frame.attrs["gistar"]["notes"] = list(result.notes)
        return frame, result

    area = boundaries if boundaries is not None and len(boundaries) else None
    if grid is None:
        if area is None and len(records) == 0:
            raise HotspotInputError("no records to analyse; check the input and the filters")
        from hotspot.core.memory import BYTES_PER_CELL

        grid, mask = Grid.over_area(
            area, xy[:, 0], xy[:, 1], cell_size_m, crs=records.crs, bytes_per_cell=BYTES_PER_CELL["gistar"]
        )
    elif mask is None:
        mask = grid.mask_from_geometry(area) if area is not None else None
    if mask is None:
        mask = np.ones(grid.shape, bool)
    band_rule = "given"
    if band_m is None and band_rule_name == "holdout":
        from hotspot.stats.radius import choose_radius

        band_m, band_rule = choose_radius(records.frame, grid, mask)
        if band_m is None:
            band_rule = f"{band_rule}; incremental spatial autocorrelation instead"
    elif band_m is None and band_rule_name != "moran":
        raise HotspotInputError(f"--band-rule must be holdout or moran, got {band_rule_name!r}")
    # A ``weight`` column (harm per record, hotspot.stats.harm) makes each cell's value its total harm.
    harm = records.frame["weight"].to_numpy(np.float64) if "weight" in records.frame.columns else None
    counts = grid.count(xy[:, 0], xy[:, 1], harm)
    records_per_cell = counts if harm is None else grid.count(xy[:, 0], xy[:, 1])
    outside = int(len(records) - records_per_cell[mask].sum())
    result = gi_star_grid(
        counts,
        band_m,
        grid.cell_size,
        mask=mask,
        permutations=permutations,
        seed=seed,
        correction=correction,
        progress=progress,
        band_rule=band_rule,
    )
    notes = list(result.notes)
    if outside > 0:
        notes.append(f"{outside:,} records fall in grid cells outside the study area and were not counted")
    if harm is not None:
        notes.append("cell values are total harm (each record's weight), not counts")
    result = replace(
        result,
        notes=notes,
        band_rule=f"{band_rule}: {result.band_rule}" if band_rule != "given" and band_m is None else result.band_rule,
    )
    frame = grid.to_geodataframe(_result_columns(result), where=cells_needed(result) if cells == "needed" else mask)
    return _describe_columns(frame, result), result


def cells_needed(result: GiStarResult) -> np.ndarray:
    """Boolean grid of the study-area cells an analyst needs as features: holding records, or binned hot/cold.

    On a county grid about 7 % of the cells; the rest are empty and not significant, and are
    still in the raster surfaces (:func:`hotspot.io.surfaces.write_gistar_surfaces`).
    """
    if result.mask is None:
        raise HotspotInputError("cells_needed works on grid results (gi_star_grid)")
    counts = np.where(result.mask, result.counts, 0.0)
    return result.mask & ((counts != 0) | (result.bin != 0))


def area_values_from_table(path, areas, *, code_column: str = "area_code", value_column: str = "count") -> np.ndarray:
    """Values per row of ``areas`` from a CSV of counts per area code (``area_code,count`` by default).

    Areas missing from the table get 0 (stated in the error if none match); codes in the table that
    are not in ``areas`` raise a HotspotInputError naming the first few.
    """
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype={code_column: str})
    except FileNotFoundError:
        raise HotspotInputError(
            f"{path}: file not found; give a CSV with columns {code_column},{value_column}"
        ) from None
    missing = [c for c in (code_column, value_column) if c not in table.columns]
    if missing:
        raise HotspotInputError(f"{path}: needs columns {code_column} and {value_column}; missing {', '.join(missing)}")
    values = pd.to_numeric(table[value_column], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if bad.size:
        raise HotspotInputError(f"{path} row {bad[0] + 1}: {value_column} is not a number")
    if table[code_column].duplicated().any():
        dup = table.loc[table[code_column].duplicated(), code_column].iloc[0]
        raise HotspotInputError(f"{path}: area code {dup} appears more than once; give one row per area")
    lookup = dict(zip(table[code_column], values))
    codes = areas["area_code"].astype(str).tolist()
    unknown = sorted(set(lookup) - set(codes))
    if unknown:
        raise HotspotInputError(
            f"{path}: {len(unknown)} area code(s) not in the boundaries, e.g. {', '.join(unknown[:3])}; "
            "check the boundary file matches the table"
        )
    return np.array([float(lookup.get(c, 0.0)) for c in codes])
