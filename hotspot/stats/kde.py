"""Kernel density surfaces of crime points on a grid, evaluated exactly at every cell centre.

Kernels
-------
``bandwidth_m`` (h) is the **search radius**: the distance in metres beyond which a point adds
nothing, as in ArcGIS Kernel Density and the QGIS heatmap. It is not a standard deviation.
With d the distance in metres from a point to a cell centre and u = d / h, each kernel is zero
for d >= h and, for d < h, integrates to 1 over the plane (values are per square metre):

===============  ==========================================================================
kernel           K(d)
===============  ==========================================================================
quartic          3 / (pi h^2) * (1 - u^2)^2        (biweight; the default, as ArcGIS/QGIS)
epanechnikov     2 / (pi h^2) * (1 - u^2)
triangular       3 / (pi h^2) * (1 - u)
uniform          1 / (pi h^2)
gaussian         exp(-d^2 / (2 s^2)) / (2 pi s^2 (1 - exp(-4.5))) with s = h / 3: a Gaussian
                 with standard deviation h / 3, cut at h (3 s, where 98.9 % of its mass lies)
                 and rescaled so the truncated kernel still integrates to 1
===============  ==========================================================================

The surface at a cell centre is sum_j w_j K(d_j) over points j (weight 1 each unless
``weights`` is given). Identical coordinates are first merged into one location carrying the
summed weight (police.uk snaps every record to a limited set of anonymisation points), which
changes nothing in the result but the time taken.

The tests hold these formulas to a brute-force NumPy sum (relative error below 1e-10), not to
another tool: QGIS's heatmap has shipped a wrong constant in its scaled quartic output.

Matching other tools' bandwidths (used in the tests):

- scikit-learn ``KernelDensity``: ``epanechnikov``, ``tophat`` (our uniform) and ``linear``
  (our triangular) take the support radius, so ``bandwidth = h``; its ``gaussian`` takes the
  standard deviation, so ``bandwidth = h / 3`` (and it is not truncated).
- KDEpy: ``bw`` is the kernel's standard deviation per axis; its biweight reaches zero at
  ``bw * sqrt(7)``, so ``bw = h / sqrt(7)`` for our quartic.

How it is computed
------------------
Exactly, by default. The points are counting-sorted into the cells of the grid padded by the
bandwidth, and identical coordinates are merged within each cell. Bands of rows are then summed in
parallel, each by one thread in a fixed order (source row, cell, location), so the surface does not
depend on the thread count. A location in a sparse cell adds its kernel over the rows it reaches, a
fixed window of columns each (for the triangular and Gaussian kernels, whose columns cost a square root or a
product each, the 2 h / cell + 2 columns around the location, not the window rounded up to whole vectors).
For the quartic, Epanechnikov and uniform kernels, which are polynomials inside their support, a cell
of many locations is summed through nine moments of its locations:
every target inside all of the cell's kernels takes a polynomial of its offset, and only the targets at
the edge of the disk are summed location by location, with the exact cut. For the Gaussian, a crowded cell (or run
of cells) is summed row by row along its locations, from tables of their factors per column and row made
once for the run, with the exact cut. Either way the sum is the
formula's to rounding (the tests hold it to a brute-force sum); cost grows with distinct locations x
(bandwidth / cell size)^2, less where locations crowd into cells. ``binned=True`` instead spreads each
location's weight over the four nearest cell centres (linear binning) and convolves with the kernel
sampled at cell offsets by FFT: an approximation whose error is of the order of the cell size's share of
the bandwidth.

Units (``units``)
-----------------
``"per-km2"``: expected points per square kilometre (density per m^2 x 1e6);
``"per-cell"``: expected points in the cell (density x cell area), so the surface sums to the
number of points that fall on the grid; ``"relative"``: density divided by its mean over the
(masked) grid, so 1 is average and 3 is three times average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.progress import resolve

if TYPE_CHECKING:
    from hotspot.io.provenance import Provenance

KERNELS = ("quartic", "epanechnikov", "triangular", "uniform", "gaussian")
"""Kernel names accepted by :func:`kernel_density`."""

UNITS = ("per-km2", "per-cell", "relative")
"""Output units accepted by :func:`kernel_density`."""

MIN_EDGE_SHARE = 0.1
"""Edge correction never scales a point's weight by more than 1 / MIN_EDGE_SHARE (10x).

A point in a sliver of the mask may have only a few percent of its kernel inside; dividing by
that would paint a spike out of one record.
"""

_SERIAL_WORK = 2e7
"""Below about this many kernel evaluations one thread is faster than waking the others."""

_SERIAL_POINTS = 1_000_000
"""Below this many points, coordinates are merged on one thread."""

_BLOCK_WORK = 2e8
"""Kernel evaluations per progress report on big jobs (at most 20 reports)."""

UNIT_LABELS = {"per-km2": "records per km²", "per-cell": "records per cell", "relative": "x the grid mean"}
"""How a value of each of :data:`UNITS` reads after a number (``peak 12.5 records per km²``)."""

_SORT_CHUNK = 1 << 16
"""Points per chunk of the parallel counting sort (fixed, so the sort does not depend on the thread count)."""

_SERIAL_SORT_POINTS = 200_000
"""Below this many points, one thread sorts them into cells (a few milliseconds; waking the others costs more)."""

_BAND_ROWS_MIN, _BAND_ROWS_MAX = 8, 64
"""Output rows summed by one thread at a time; a band reads the locations of (rows + 2 reach) rows."""

_DENSE_MIN = 10
"""Fewest locations in a run of cells for the moment path: below this the window of columns per location and
row is cheaper (measured on uniform and clustered points, bandwidths of 1.5 to 10 cells)."""

_GAUSS_DENSE_MIN = 8
"""The same for the Gaussian kernel, whose runs are summed along their locations with tables of factors
(``_gauss_run``), not through moments (2 to 16 measured alike on 1 M uniform and clustered points, h 5 and 10 cells)."""

_RUN_COLS, _RUN_LOCS = 6, 40
"""Sparse cells of a row are summed through moments together, up to this many columns wide and until the
run holds this many locations: the wider the run, the wider the edge of its disk summed location by location."""

_UNIT_WORDS = {"per-km2": "per km2", "per-cell": "expected count per cell", "relative": "relative to the grid mean"}


@dataclass(frozen=True)
class DensitySurface:
    """A kernel density surface and how it was made (what :func:`kernel_density` returns).

    Attributes
    ----------
    surface : ndarray of float64, shape (nrows, ncols)
        The density in ``units``; row 0 is north; NaN outside ``mask``.
    grid : Grid
        The grid the surface lies on.
    bandwidth_m : float
        Search radius (kernel support) in metres.
    bandwidth_rule : str
        ``"given"`` or the rule and figures that chose the bandwidth.
    kernel : str
        One of :data:`KERNELS`.
    units : str
        One of :data:`UNITS`.
    n_points : int
        Points with positive weight that went in.
    n_locations : int
        Distinct coordinates after merging identical ones.
    total_weight : float
        Sum of the weights (the number of points when unweighted).
    mass_on_grid : float
        Share of ``total_weight`` the surface carries on the (unmasked) cells: the sum of the
        expected counts per cell divided by ``total_weight``. Below 1 by the mass that falls
        outside the grid or the mask (with ``edge_correction``, 1 up to the kernel's
        cell-centre discretisation, as for a point far from any edge).
    edge_correction : bool
        Whether weights were divided by the share of each point's kernel inside the mask.
    binned : bool
        Whether the surface came from linear binning and FFT convolution instead of exact sums.
    per_m2_factor : float
        ``surface / per_m2_factor`` is the density per square metre (undoes ``units``).
    mask : ndarray of bool or None
        The cells reported (as given), or None for all.
    """

    surface: np.ndarray
    grid: Grid
    bandwidth_m: float
    bandwidth_rule: str
    kernel: str
    units: str
    n_points: int
    n_locations: int
    total_weight: float
    mass_on_grid: float
    edge_correction: bool = False
    binned: bool = False
    per_m2_factor: float = 1e6
    mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def description(self) -> str:
        """One line for the GeoTIFF band and reports, e.g. ``"quartic kernel density, bandwidth 500 m, per km2"``."""
        text = f"{self.kernel} kernel density, bandwidth {self.bandwidth_m:,.0f} m, {_UNIT_WORDS[self.units]}"
        if self.edge_correction:
            text += ", edge-corrected"
        if self.binned:
            text += ", binned"
        return text

    def expected_count(self) -> np.ndarray:
        """Expected number of points (or weight) in each cell, shape ``(nrows, ncols)``; NaN outside the mask."""
        return self.surface / self.per_m2_factor * self.grid.cell_area_m2

    def to_geotiff(self, path: str | Path, *, provenance=None, style: str | None = "raster_ramp") -> Path:
        """Write the surface as a cloud-optimised GeoTIFF (nodata -9999) with the description and parameters as tags.

        ``style`` (default ``"raster_ramp"``) writes a QGIS ``.qml`` colour-ramp sidecar; ``provenance``
        (a :class:`hotspot.io.provenance.Provenance`) is stored as a tag.
        """
        from hotspot.io.outputs import write_geotiff

        tags = {
            "kernel": self.kernel,
            "bandwidth_m": f"{self.bandwidth_m:.6g}",
            "bandwidth_rule": self.bandwidth_rule,
            "units": self.units,
            "n_points": str(self.n_points),
            "n_locations": str(self.n_locations),
            "total_weight": f"{self.total_weight:.10g}",
            "mass_on_grid": f"{self.mass_on_grid:.6f}",
            "edge_correction": str(self.edge_correction),
            "binned": str(self.binned),
        }
        return write_geotiff(
            path,
            self.surface,
            self.grid,
            nodata=-9999.0,
            description=self.description,
            tags=tags,
            style=style,
            provenance=provenance,
        )

    def write(self, path: str | Path, *, provenance: Provenance | None = None) -> list[Path]:
        """Every format of the surface: the GeoTIFF (:meth:`to_geotiff`) with its QGIS style."""
        return [self.to_geotiff(path, provenance=provenance)]

    def summary(self, width: int = 100) -> list[str]:
        """The bandwidth and its rule, the grid, and the surface's peak and mass on the mapped cells."""
        with np.errstate(invalid="ignore"):
            peak = float(np.nanmax(self.surface)) if np.isfinite(self.surface).any() else float("nan")
        return [
            f"bandwidth {self.bandwidth_m:,.0f} m ({self.bandwidth_rule})",
            f"grid {self.grid.nrows:,} rows x {self.grid.ncols:,} columns of {self.grid.cell_size:g} m cells; "
            f"{self.n_points:,} crimes at {self.n_locations:,} distinct locations",
            f"{self.description}; peak {peak:,.4g} {UNIT_LABELS[self.units]}; "
            f"{self.mass_on_grid:.1%} of the kernel mass lies on the mapped cells",
        ]


def aggregate_locations(x, y, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge points with identical coordinates into locations carrying the summed weight.

    Coordinates are compared exactly (police.uk snap points project to bit-identical metres),
    so the merge never moves a point; weights of identical points are summed in input order.
    Returns ``(x, y, weight)`` sorted by y then x.
    """
    # Contiguous and writeable: pandas hands out read-only arrays, which Numba would compile for anew.
    x = np.require(x, np.float64, ["C", "W"])
    y = np.require(y, np.float64, ["C", "W"])
    w = np.ones(x.shape[0]) if weights is None else np.require(weights, np.float64, ["C", "W"])
    if x.size == 0:
        return x, y, w
    from hotspot.kernels import kde as kk

    # Bands of about 256 points: small enough that each band's sort stays in cache.
    nbands = int(max(1, min(x.size // 256, 1 << 22)))
    merge = kk.merge_identical if x.size >= _SERIAL_POINTS else kk.merge_identical_serial
    return merge(x, y, w, nbands)


def default_bandwidth(x, y, weights=None) -> tuple[float, str]:
    """The search radius ArcGIS Kernel Density uses when none is given (a spatial Silverman rule).

    ``h = 0.9 * min(SD, sqrt(1 / ln 2) * Dm) * n ** -0.2`` where SD is the standard distance
    (metres) of the points about their weighted mean centre, Dm the weighted median distance
    (metres) from that centre, and n the total weight (the number of points when unweighted).

    Parameters
    ----------
    x, y : array-like of float
        Point coordinates in metres (projected CRS).
    weights : array-like of float, optional
        Non-negative weight per point. Default: 1 each.

    Returns
    -------
    bandwidth_m : float
        The search radius in metres.
    rule_text : str
        The rule with its figures, for reports.
    """
    x, y, w = _validated_points(x, y, weights)
    n = float(w.sum())
    if n <= 0:
        raise HotspotInputError("no points to choose a bandwidth from; check the input and the filters")
    cx = float(np.dot(w, x) / n)
    cy = float(np.dot(w, y) / n)
    d = np.hypot(x - cx, y - cy)
    sd = math.sqrt(float(np.dot(w, d * d) / n))
    order = np.argsort(d, kind="stable")
    cum = np.cumsum(w[order])
    dm = float(d[order][np.searchsorted(cum, 0.5 * n)])
    spread = min(sd, math.sqrt(1.0 / math.log(2.0)) * dm)
    h = 0.9 * spread * n**-0.2
    if not h > 0:
        raise HotspotInputError(
            "the points all share one location, so no bandwidth can be chosen; give --bandwidth in metres"
        )
    text = (
        f"spatial Silverman rule (as ArcGIS Kernel Density): 0.9 x min(standard distance {sd:,.0f} m, "
        f"sqrt(1/ln 2) x median distance {dm:,.0f} m) x n^-0.2 with n = {n:,.0f} -> {h:,.0f} m"
    )
    return float(h), text


def check_options(*, kernel: str = "quartic", units: str = "per-km2", bandwidth_m: float | None = None) -> None:
    """Raise :class:`HotspotInputError` for an unknown kernel or unit, or a bandwidth (metres) that is not positive.

    Cheap, so the CLI can call it before reading any data.
    """
    if kernel not in KERNELS:
        raise HotspotInputError(f"--kernel must be one of {', '.join(KERNELS)}; got {kernel!r}")
    if units not in UNITS:
        raise HotspotInputError(f"--units must be one of {', '.join(UNITS)}; got {units!r}")
    if bandwidth_m is not None and not (math.isfinite(float(bandwidth_m)) and float(bandwidth_m) > 0):
        raise HotspotInputError(f"--bandwidth must be a positive number of metres, got {bandwidth_m}")


def kernel_density(
    x,
    y,
    grid: Grid,
    *,
    bandwidth_m: float | None = None,
    kernel: str = "quartic",
    weights: np.ndarray | None = None,
    units: str = "per-km2",
    mask: np.ndarray | None = None,
    edge_correction: bool = False,
    binned: bool = False,
    progress=None,
) -> DensitySurface:
    """Kernel density of (weighted) points at every cell centre of ``grid``.

    Parameters
    ----------
    x, y : array-like of float, shape (n,)
        Point coordinates in metres, in ``grid.crs``. Points off the grid still count where
        their kernel reaches it.
    grid : Grid
        Where to evaluate; cell size in metres.
    bandwidth_m : float, optional
        Search radius (kernel support) in metres, at least ``grid.cell_size``. Default: the
        spatial Silverman rule of :func:`default_bandwidth` (raised to one cell if smaller),
        reported in ``bandwidth_rule``.
    kernel : str, default "quartic"
        One of :data:`KERNELS`; formulas in the module docstring.
    weights : array-like of float, shape (n,), optional
        Non-negative weight per point (e.g. harm scores). Default: 1 each.
    units : str, default "per-km2"
        One of :data:`UNITS`: per square kilometre, expected count per cell, or relative to the
        mean over the (masked) grid.
    mask : ndarray of bool, shape (nrows, ncols), optional
        Cells to report; the rest are NaN. Default: every cell.
    edge_correction : bool, default False
        Divide each point's weight by the share of its kernel that falls on reported cells
        (cells of the grid inside ``mask``), so points near the edge of the study area are not
        under-counted and the reported cells carry the full weight. The share is the
        kernel's sum over reported cell centres divided by its sum over all cell centres of
        the lattice (so it is exactly 1 away from edges), floored at :data:`MIN_EDGE_SHARE`.
    binned : bool, default False
        Approximate: bin points linearly to cell centres, then convolve with the kernel by FFT
        (``scipy.signal.fftconvolve``). Faster for millions of distinct locations; the exact
        sum is the default.
    progress : callable, optional
        ``progress(stage, done, total)`` callback.

    Returns
    -------
    DensitySurface
    """
    check_options(kernel=kernel, units=units, bandwidth_m=bandwidth_m)
    # Unweighted points stay without a weight array: on millions of points, making and moving one costs time.
    x, y, w = _validated_points(x, y, weights, ones=False)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != grid.shape:
            raise HotspotInputError(f"the mask has shape {mask.shape} but the grid is {grid.shape}")
    if w is not None:
        keep = w > 0
        if not keep.all():
            x, y, w = x[keep], y[keep], w[keep]
    n_points = int(x.size)
    if n_points == 0:
        raise HotspotInputError(
            "no points with positive weight to estimate a density from; check the input and the filters"
        )
    bandwidth_m, rule = _choose_bandwidth(x, y, w, bandwidth_m, grid.cell_size)
    if bandwidth_m < grid.cell_size:
        raise HotspotInputError(
            f"bandwidth {bandwidth_m:,.1f} m is smaller than the {grid.cell_size:g} m cells, so each point would touch "
            "one or two cells; give a larger --bandwidth or a smaller --cell-size"
        )
    progress = resolve(progress)
    from hotspot.kernels import kde as kk

    code = kk.KERNEL_CODES[kernel]
    progress("merging identical coordinates", 0, 1)
    if binned:
        lx, ly, lw = aggregate_locations(x, y, w)
        n_locations = int(lx.size)
    else:
        cells = _sort_into_cells(x, y, w, grid, bandwidth_m)
        n_locations = cells.n_locations
    progress("merging identical coordinates", 1, 1)
    total_weight = float(w.sum()) if w is not None else float(n_points)
    report_mask = mask if mask is not None else np.ones(grid.shape, dtype=bool)
    if edge_correction:
        inside = np.require(report_mask, np.bool_, ["C", "W"])
        if binned:
            share = kk.kernel_share_inside(lx, ly, inside, grid.xmin, grid.ymax, grid.cell_size, bandwidth_m, code)
            lw = lw / np.maximum(share, MIN_EDGE_SHARE)
            lw[share <= 0] = 0.0
        else:
            at = cells.positions()
            share = kk.kernel_share_inside(
                cells.x[at], cells.y[at], inside, grid.xmin, grid.ymax, grid.cell_size, bandwidth_m, code
            )
            scaled = cells.w[at] / np.maximum(share, MIN_EDGE_SHARE)
            scaled[share <= 0] = 0.0
            cells.w[at] = scaled
    if binned:
        density = _binned_density(lx, ly, lw, grid, bandwidth_m, code)
    else:
        density = _exact_density(cells, grid, bandwidth_m, code, progress)
    density[~report_mask] = np.nan
    mass = float(np.nansum(density)) * grid.cell_area_m2 / total_weight
    if units == "per-km2":
        factor = 1e6
    elif units == "per-cell":
        factor = grid.cell_area_m2
    else:
        mean = float(np.nanmean(density)) if report_mask.any() else float("nan")
        if not mean > 0:
            raise HotspotInputError(
                "the density is zero on every reported cell, so a relative surface is undefined; "
                "check the mask/boundaries and the bandwidth"
            )
        factor = 1.0 / mean
    return DensitySurface(
        surface=density * factor,
        grid=grid,
        bandwidth_m=bandwidth_m,
        bandwidth_rule=rule,
        kernel=kernel,
        units=units,
        n_points=n_points,
        n_locations=n_locations,
        total_weight=total_weight,
        mass_on_grid=mass,
        edge_correction=edge_correction,
        binned=binned,
        per_m2_factor=factor,
        mask=mask,
    )


def kernel_stencil(bandwidth_m: float, cell_size_m: float, kernel: str = "quartic") -> np.ndarray:
    """The kernel's density per m² at whole-cell offsets within ``bandwidth_m`` metres, shape (2r+1, 2r+1).

    The one sampled kernel that binned smoothers (forecast baselines, the ``combined`` layer)
    share with :func:`kernel_density`, so "quartic" means the same formula everywhere. Offsets
    are multiples of ``cell_size_m`` metres; callers scale it (x cell area for expected counts,
    / sum for weights summing to 1).
    """
    from hotspot.kernels import kde as kk

    check_options(kernel=kernel, bandwidth_m=bandwidth_m)
    r = int(math.ceil(bandwidth_m / cell_size_m))
    offsets = np.arange(-r, r + 1) * float(cell_size_m)
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    return kk.kernel_values(np.ascontiguousarray(d2), float(bandwidth_m) ** 2, kk.KERNEL_CODES[kernel])


# --- internals -----------------------------------------------------------------------------------


def _choose_bandwidth(x, y, w, bandwidth_m, cell_size_m) -> tuple[float, str]:
    """The given bandwidth (metres) as is, or the default rule's, raised to one cell if it comes out smaller."""
    if bandwidth_m is not None:
        return float(bandwidth_m), "given"
    h, rule = default_bandwidth(x, y, w)
    if h < cell_size_m:
        return float(cell_size_m), f"{rule}, raised to the {cell_size_m:g} m cell size"
    return h, rule


def _validated_points(x, y, weights, ones: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Coordinates and weights as float64 arrays, checked; without ``weights``, 1 each (None if not ``ones``)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise HotspotInputError(f"x and y have different lengths ({x.size} and {y.size})")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        bad = int(np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[0])
        raise HotspotInputError(
            f"point {bad} has a missing or infinite coordinate; drop records without a location first"
        )
    if weights is None:
        w = np.ones(x.size) if ones else None
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != x.shape:
            raise HotspotInputError(f"weights has {w.size} values for {x.size} points")
        if not (np.isfinite(w).all() and (w >= 0).all()):
            bad = int(np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[0])
            raise HotspotInputError(f"weight of point {bad} is {w[bad]}; weights must be finite and not negative")
    return x, y, w


@dataclass
class _Cells:
    """Points sorted into the cells of the grid padded by the kernels' reach, identical coordinates merged.

    Row r of the padded lattice holds ``nloc[r]`` locations at ``x, y, w[row_start[r]:]`` in ``ncell[r]``
    cells listed at ``cell_col, cell_cnt[row_start[r]:]`` (column, locations), west to east; the slots
    after them up to ``row_start[r + 1]`` are unused. See :mod:`hotspot.kernels.kde`.
    """

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    row_start: np.ndarray
    nloc: np.ndarray
    ncell: np.ndarray
    cell_col: np.ndarray
    cell_cnt: np.ndarray
    x0: float
    y0: float
    pad: int
    reach: int
    n_locations: int

    def positions(self) -> np.ndarray:
        """Indices of the locations in ``x, y, w``."""
        before = np.cumsum(self.nloc) - self.nloc
        return np.arange(int(self.nloc.sum()), dtype=np.int64) + np.repeat(self.row_start[:-1] - before, self.nloc)


def _sort_into_cells(x, y, w, grid: Grid, h: float) -> _Cells:
    """Counting-sort the points (metres) into rows, then cells, of ``grid`` padded by the kernel's reach, merging duplicates.

    ``w`` is the weight per point, or None for 1 each.
    """
    from hotspot.kernels import kde as kk

    # Contiguous and writeable: pandas hands out read-only arrays, which Numba would compile for anew.
    x = np.require(x, np.float64, ["C", "W"])
    y = np.require(y, np.float64, ["C", "W"])
    w = None if w is None else np.require(w, np.float64, ["C", "W"])
    cell = grid.cell_size
    # A point more than h + half a cell from a cell's centre row or column cannot reach it.
    reach = int(h / cell + 0.5) + 1
    pad = reach
    x0 = grid.xmin - pad * cell
    y0 = grid.ymax + pad * cell
    nrows = grid.nrows + 2 * pad
    ncols = grid.ncols + 2 * pad
    serial = x.size < _SERIAL_SORT_POINTS
    counts = (kk.count_rows_serial if serial else kk.count_rows)(x, y, x0, y0, 1.0 / cell, nrows, ncols, _SORT_CHUNK)
    totals = counts.sum(axis=0)
    row_start = np.zeros(nrows + 1, dtype=np.int64)
    np.cumsum(totals[:nrows], out=row_start[1:])
    offsets = np.cumsum(counts, axis=0) - counts
    offsets[:, :nrows] += row_start[:-1]
    # Allocated by NumPy, not inside Numba: NumPy asks the kernel for huge pages on big arrays, which makes
    # the scattered writes of the sort several times faster.
    n_on, n_off = int(row_start[-1]), int(totals[nrows])
    rx, ry, rw = np.empty(n_on), np.empty(n_on), np.empty(n_on)
    ox, oy = np.empty(n_off), np.empty(n_off)
    weighted = w is not None
    (kk.fill_rows_serial if serial else kk.fill_rows)(
        x, y, w if weighted else np.empty(0), x0, y0, 1.0 / cell, nrows, ncols, _SORT_CHUNK, offsets, rx, ry, rw, ox, oy
    )
    cell_col = np.zeros(n_on, dtype=np.int32)
    cell_cnt = np.zeros(n_on, dtype=np.int32)
    nloc = np.zeros(nrows, dtype=np.int64)
    ncell = np.zeros(nrows, dtype=np.int64)
    if serial:
        kk.cells_of_rows_serial(rx, ry, rw, weighted, row_start, x0, 1.0 / cell, ncols, cell_col, cell_cnt, nloc, ncell)
    else:
        import numba

        # Rows through a town centre hold far more points than rural ones: hand rows out one at a time.
        previous = numba.set_parallel_chunksize(1)
        try:
            kk.cells_of_rows(rx, ry, rw, weighted, row_start, x0, 1.0 / cell, ncols, cell_col, cell_cnt, nloc, ncell)
        finally:
            numba.set_parallel_chunksize(previous)
    # Points whose kernels cannot reach the grid still count as locations.
    n_locations = int(nloc.sum()) + (int(aggregate_locations(ox, oy)[0].size) if n_off else 0)
    return _Cells(rx, ry, rw, row_start, nloc, ncell, cell_col, cell_cnt, x0, y0, pad, reach, n_locations)


def _exact_density(cells: _Cells, grid: Grid, h: float, code: int, report) -> np.ndarray:
    import numba

    from hotspot.kernels import kde as kk

    reach = cells.reach
    # Columns summed per location and row: the kernel's 2 reach + 1, rounded up to what one vector loop
    # covers without a scalar tail (8 or 16 doubles, then whole multiples of 32).
    span = 2 * reach + 1
    window = 8 if span <= 8 else 16 if span <= 16 else -(-span // 32) * 32
    out = np.empty(grid.shape)
    norm = kk.kernel_norm(h * h, code)
    # Rough cost, to pick one thread for small jobs and to size progress blocks: each parallel call
    # costs a thread wake-up, which on a busy machine can be milliseconds.
    work = float(cells.n_locations) * span * window
    threads = 1 if work < _SERIAL_WORK else numba.get_num_threads()
    # Bands short enough for several per thread (crime clusters make some bands far costlier than others),
    # long enough that a band does not reread the rows within the kernel's reach of it too often. Band
    # boundaries do not change any cell's order of summation, so the surface does not depend on them.
    # Rounded up, so the bands come out a whole multiple of the threads where the cap allows (471 rows on
    # 2 threads: 8 bands of 59 rows, not 9 of 58, whose odd one out left a thread idle).
    band_rows = int(min(_BAND_ROWS_MAX, max(_BAND_ROWS_MIN, -(-grid.nrows // (4 * threads)))))
    n_bands = -(-grid.nrows // band_rows)
    args = (
        cells.x,
        cells.y,
        cells.w,
        cells.row_start,
        cells.ncell,
        cells.cell_col,
        cells.cell_cnt,
        cells.x0,
        cells.y0,
        grid.cell_size,
        cells.pad,
        reach,
        h,
        code,
        _dense_min(code),
        _RUN_COLS,
        _RUN_LOCS,
        window,
        norm,
    )
    if threads == 1:
        kk.density_bands_serial(out, band_rows, 0, n_bands, *args)
        return out
    n_blocks = int(min(20, max(1, work // _BLOCK_WORK), max(1, n_bands // threads)))
    # Each block (one parallel call, waited for before the next) a whole multiple of the threads in bands, so
    # no thread idles at the end of every block for want of a band.
    per_block = threads * -(-n_bands // (n_blocks * threads))
    bounds = list(range(0, n_bands, per_block)) + [n_bands]
    previous = numba.set_parallel_chunksize(1)
    try:
        for first, last in zip(bounds[:-1], bounds[1:]):
            kk.density_bands(out, band_rows, int(first), int(last), *args)
            report("kernel density", min(grid.nrows, int(last) * band_rows), grid.nrows)
    finally:
        numba.set_parallel_chunksize(previous)
    return out


def _dense_min(code: int) -> int:
    """Fewest locations in a cell for summing it through its moments rather than location by location.

    Only the quartic, Epanechnikov and uniform kernels are polynomials inside their support; the Gaussian's runs
    are summed along their locations instead. The triangular kernel stays location by location: its cost is a
    square root per target and location either way.
    """
    from hotspot.kernels import kde as kk

    if code == kk.GAUSSIAN:
        return _GAUSS_DENSE_MIN
    if code not in (kk.QUARTIC, kk.EPANECHNIKOV, kk.UNIFORM):
        return int(np.iinfo(np.int32).max)
    return _DENSE_MIN


def _kernel_stencil(h: float, cell: float, code: int) -> np.ndarray:
    """The kernel sampled at whole-cell offsets, per m^2, shape (2r+1, 2r+1), rescaled to unit mass.

    Centred on a lattice point, the samples' sum misses the kernel's mass by a few percent for
    the uniform kernel (lattice points exactly on the circle are cut), so the stencil is scaled
    to sum to 1 / cell area: binned surfaces then carry the total weight like exact ones.
    """
    from hotspot.kernels import kde as kk

    r = int(math.ceil(h / cell))
    offsets = np.arange(-r, r + 1) * cell
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    stencil = kk.kernel_values(np.ascontiguousarray(d2), h * h, code)
    return stencil / (stencil.sum() * cell * cell)


def _binned_density(lx, ly, lw, grid: Grid, h: float, code: int) -> np.ndarray:
    from scipy.signal import fftconvolve

    from hotspot.kernels import kde as kk

    r = int(math.ceil(h / grid.cell_size)) + 1
    binned = kk.linear_binning(
        lx,
        ly,
        lw,
        grid.xmin - r * grid.cell_size,
        grid.ymax + r * grid.cell_size,
        grid.cell_size,
        grid.nrows + 2 * r,
        grid.ncols + 2 * r,
    )
    smooth = fftconvolve(binned, _kernel_stencil(h, grid.cell_size, code), mode="same")
    out = smooth[r : r + grid.nrows, r : r + grid.ncols]
    # FFT round-off leaves tiny negative values where the true sum is zero.
    return np.clip(out, 0.0, None)
