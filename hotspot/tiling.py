"""Tile plans with halos, and kernel density and Gi* computed tile by tile over national extents.

A :class:`TilePlan` cuts a :class:`~hotspot.grid.Grid` into square blocks of cells (tiles). Each tile
is computed from its own cells plus a **halo**: a margin at least as wide as the kernel bandwidth or
the Gi* distance band, so no tile sees an edge the full grid would not. Stitching the tiles gives the
**same numbers** as the untiled computation (the tests check 1e-9; in practice they agree bit for bit):

- **KDE** (:func:`tiled_kernel_density`): identical coordinates are merged once, globally; each tile
  then calls :func:`hotspot.kde.kernel_density` on a sub-grid aligned cell for cell with the full
  grid, with only the locations within ``bandwidth_m`` of the tile. A location farther away adds
  exactly nothing to the tile's cells, and the locations that remain are summed in the same order.
- **Gi*** (:func:`tiled_gi_star`): Gi* z of a cell uses the mean and standard deviation of *all*
  cells in the study area, which a tile cannot see. So pass 1 adds ``n``, ``sum x`` and ``sum x^2``
  over the tiles; pass 2 computes each tile's neighbourhood sums with the Gi* stencil kernel
  (:func:`hotspot.kernels.gistar.stencil_sums`) on the tile plus a halo of the band's reach in cells,
  then the analytic z from the published formula with the global statistics (module docstring of
  :mod:`hotspot.gistar`). Multiple-testing correction and bins are applied to the stitched p-values
  (Benjamini-Hochberg needs every p at once).

**Analytic inference only at national scale.** Tiled Gi* reports the analytic z and normal p;
permutation and exact conditional-randomisation p-values stay with the full-grid engine
:func:`hotspot.gistar.gi_star_grid`.

Engines: ``engine="local"`` runs the tiles one after another in this process (each tile's Numba
kernels use every core); ``engine="dask"`` runs one task per tile on a ``dask.distributed`` cluster
(see :mod:`hotspot.distributed` and ``docs/distributed.md``). Both engines compute each tile with
the same function on the same inputs and stitch in tile order, so they give identical results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hotspot.errors import HotspotInputError
from hotspot.grid import Grid
from hotspot.progress import resolve

DEFAULT_TILE_CELLS = 1024
"""Default tile side in cells (1024 x 1024 cells = 8 MB of float64 per tile)."""

ENGINES = ("local", "dask")
"""``engine`` choices for the tiled functions."""


@dataclass(frozen=True)
class Tile:
    """One tile of a plan: its own cells and the halo window around them (both clipped to the grid).

    Attributes
    ----------
    index : int
        Position in the plan (row-major over tiles); results are stitched in this order.
    row0, row1, col0, col1 : int
        The tile's own cells: rows ``row0:row1`` and columns ``col0:col1`` of the full grid.
    hrow0, hrow1, hcol0, hcol1 : int
        The halo window: the tile's cells plus up to ``halo_cells`` cells on each side, clipped to the grid.
    """

    index: int
    row0: int
    row1: int
    col0: int
    col1: int
    hrow0: int
    hrow1: int
    hcol0: int
    hcol1: int

    @property
    def window(self) -> tuple[slice, slice]:
        """Slices of the full grid's arrays covering the tile's own cells."""
        return slice(self.row0, self.row1), slice(self.col0, self.col1)

    @property
    def halo_window(self) -> tuple[slice, slice]:
        """Slices of the full grid's arrays covering the tile and its halo."""
        return slice(self.hrow0, self.hrow1), slice(self.hcol0, self.hcol1)

    @property
    def core_in_halo(self) -> tuple[slice, slice]:
        """Slices of a halo-window array covering the tile's own cells."""
        r = self.row0 - self.hrow0
        c = self.col0 - self.hcol0
        return slice(r, r + self.row1 - self.row0), slice(c, c + self.col1 - self.col0)

    def subgrid(self, grid: Grid) -> Grid:
        """The tile's own cells as a Grid aligned cell for cell with ``grid``."""
        return Grid(grid.xmin + self.col0 * grid.cell_size, grid.ymax - self.row0 * grid.cell_size,
                    grid.cell_size, self.col1 - self.col0, self.row1 - self.row0, grid.crs)


@dataclass(frozen=True)
class TilePlan:
    """A grid cut into tiles with halos.

    Attributes
    ----------
    grid : Grid
        The full grid.
    tile_cells : int
        Tile side in cells (edge tiles are smaller).
    halo_cells : int
        Halo width in cells on each side.
    tiles : tuple of Tile
        Row-major over tiles, north-west first.
    """

    grid: Grid
    tile_cells: int
    halo_cells: int
    tiles: tuple[Tile, ...]

    def __len__(self) -> int:
        return len(self.tiles)

    @property
    def halo_m(self) -> float:
        """Halo width in metres."""
        return self.halo_cells * self.grid.cell_size


def plan_tiles(grid: Grid, *, halo_m: float, tile_cells: int = DEFAULT_TILE_CELLS) -> TilePlan:
    """Cut ``grid`` into square tiles of ``tile_cells`` cells with a halo of at least ``halo_m`` metres.

    Parameters
    ----------
    grid : Grid
        The full grid (cell size in metres).
    halo_m : float
        Minimum halo width in metres on each side (>= 0); rounded up to whole cells.
    tile_cells : int, default 1024
        Tile side in cells (>= 1).

    Returns
    -------
    TilePlan
    """
    if not (isinstance(tile_cells, (int, np.integer)) and tile_cells >= 1):
        raise HotspotInputError(f"--tile-cells must be a whole number of cells, 1 or more; got {tile_cells}")
    if not (math.isfinite(halo_m) and halo_m >= 0):
        raise HotspotInputError(f"the tile halo must be a non-negative number of metres, got {halo_m}")
    halo = int(math.ceil(halo_m / grid.cell_size - 1e-9))
    tiles = []
    for r0 in range(0, grid.nrows, tile_cells):
        r1 = min(r0 + tile_cells, grid.nrows)
        for c0 in range(0, grid.ncols, tile_cells):
            c1 = min(c0 + tile_cells, grid.ncols)
            tiles.append(Tile(len(tiles), r0, r1, c0, c1, max(0, r0 - halo), min(grid.nrows, r1 + halo),
                              max(0, c0 - halo), min(grid.ncols, c1 + halo)))
    return TilePlan(grid, int(tile_cells), halo, tuple(tiles))


def check_engine(engine: str) -> str:
    """The engine name, or a one-line HotspotInputError naming the valid ones."""
    name = str(engine).lower()
    if name not in ENGINES:
        raise HotspotInputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return name


def run_tiles(func, payloads: list, *, engine: str = "local", scheduler: str | None = None, client=None,
              progress=None, stage: str = "tiles", args: tuple = (), combine=None) -> list:
    """``[func(p, *args) for p in payloads]`` on the chosen engine, in payload order, reporting progress per tile.

    Parameters
    ----------
    func : callable
        A module-level function (picklable) taking one payload.
    payloads : list
        One payload per tile.
    engine : {"local", "dask"}, default "local"
        Run here, one tile after another, or one Dask task per tile.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:8786``); default None: a local 2-worker cluster for the call.
        Ignored when ``client`` is given or ``engine="local"``.
    client : dask.distributed.Client, optional
        An existing client to run on (so one cluster serves several calls). Default None.
    progress : callable, optional
        ``progress(stage, tiles_done, n_tiles)``.
    stage : str
        The progress label.
    args : tuple
        Extra arguments passed to every call (small: sent with each task).
    combine : callable, optional
        Dask only: ``combine(a, b)`` reduces the results pairwise on the workers and a one-item
        list is returned (see :func:`hotspot.distributed.map_tiles`). Ignored locally.
    """
    engine = check_engine(engine)
    report = resolve(progress)
    if engine == "dask":
        from hotspot.distributed import map_tiles

        return map_tiles(func, payloads, scheduler=scheduler, client=client, progress=report, stage=stage, args=args,
                         combine=combine)
    out = []
    report(stage, 0, len(payloads))
    for i, payload in enumerate(payloads, 1):
        out.append(func(payload, *args))
        report(stage, i, len(payloads))
    return out


# --- kernel density ------------------------------------------------------------------------------


def _kde_tile(payload):
    """Density in ``units`` ("per-km2" or "per-cell"; NaN outside the mask) on one tile; the unit of work of both engines."""
    from hotspot.kde import kernel_density

    subgrid, x, y, w, mask, bandwidth_m, kernel, units = payload
    if x.size == 0:
        out = np.zeros(subgrid.shape)
    else:
        out = kernel_density(x, y, subgrid, bandwidth_m=bandwidth_m, kernel=kernel, weights=w, units=units,
                             mask=mask).surface
    if mask is not None:
        out[~mask] = np.nan
    return out


def tiled_kernel_density(
    x,
    y,
    grid: Grid,
    *,
    bandwidth_m: float | None = None,
    kernel: str = "quartic",
    weights=None,
    units: str = "per-km2",
    mask: np.ndarray | None = None,
    tile_cells: int = DEFAULT_TILE_CELLS,
    engine: str = "local",
    scheduler: str | None = None,
    client=None,
    progress=None,
):
    """Kernel density on ``grid`` computed tile by tile; equals :func:`hotspot.kde.kernel_density`.

    Parameters
    ----------
    x, y : array-like of float, shape (n,)
        Point coordinates in metres, in ``grid.crs``.
    grid : Grid
        Where to evaluate (cell size in metres).
    bandwidth_m : float, optional
        Search radius in metres (>= the cell size). Default None: the spatial Silverman rule
        (:func:`hotspot.kde.default_bandwidth`) on the merged locations.
    kernel : str, default "quartic"
        One of :data:`hotspot.kde.KERNELS`.
    weights : array-like of float, shape (n,), optional
        Non-negative weight per point. Default: 1 each.
    units : str, default "per-km2"
        One of :data:`hotspot.kde.UNITS`.
    mask : bool array (nrows, ncols), optional
        Cells to report; the rest are NaN. Default: every cell.
    tile_cells : int, default 1024
        Tile side in cells.
    engine : {"local", "dask"}, default "local"
        Where the tiles run (see :func:`run_tiles`).
    scheduler : str, optional
        Dask scheduler address for ``engine="dask"``; default None: a local 2-worker cluster.
    client : dask.distributed.Client, optional
        An existing Dask client (overrides ``scheduler``). Default None.
    progress : callable, optional
        ``progress("KDE tiles", tiles_done, n_tiles)``.

    Returns
    -------
    hotspot.kde.KernelDensity
        As the untiled function returns. Edge correction and the binned approximation are not
        available tile by tile (edge correction needs each point's kernel share over the whole
        mask); use :func:`hotspot.kde.kernel_density` for those.
    """
    from hotspot.kde import KernelDensity, aggregate_locations, check_options, default_bandwidth

    check_options(kernel=kernel, units=units, bandwidth_m=bandwidth_m)
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise HotspotInputError(f"x and y have different lengths ({x.size} and {y.size})")
    w = np.ones(x.size) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != x.shape:
        raise HotspotInputError(f"weights has {w.size} values for {x.size} points")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise HotspotInputError("a point has a missing or infinite coordinate; drop records without a location first")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise HotspotInputError("weights must be finite and not negative")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != grid.shape:
            raise HotspotInputError(f"the mask has shape {mask.shape} but the grid is {grid.shape}")
    keep = w > 0
    n_points = int(keep.sum())
    if n_points == 0:
        raise HotspotInputError("no points with positive weight to estimate a density from; check the input and the filters")
    lx, ly, lw = aggregate_locations(x[keep], y[keep], w[keep])
    if bandwidth_m is None:
        bandwidth_m, rule = default_bandwidth(lx, ly, lw)
    else:
        bandwidth_m, rule = float(bandwidth_m), "given"
    if bandwidth_m < grid.cell_size:
        raise HotspotInputError(
            f"bandwidth {bandwidth_m:,.1f} m is smaller than the {grid.cell_size:g} m cells; "
            "give a larger --bandwidth or a smaller --cell-size")
    plan = plan_tiles(grid, halo_m=bandwidth_m, tile_cells=tile_cells)
    # Fixed-factor units are computed inside the tiles exactly as kernel_density does; "relative"
    # needs the mean over every tile, so its tiles return per km2 and are rescaled after stitching.
    tile_units = "per-km2" if units == "relative" else units
    payloads = []
    for tile in plan.tiles:
        sub = tile.subgrid(grid)
        # Locations are sorted by y, so each tile's band of rows is one slice; x is then filtered.
        lo = np.searchsorted(ly, sub.ymin - bandwidth_m, side="left")
        hi = np.searchsorted(ly, sub.ymax + bandwidth_m, side="right")
        sel = (lx[lo:hi] >= sub.xmin - bandwidth_m) & (lx[lo:hi] <= sub.xmax + bandwidth_m)
        tmask = None if mask is None else np.ascontiguousarray(mask[tile.window])
        payloads.append((sub, lx[lo:hi][sel], ly[lo:hi][sel], lw[lo:hi][sel], tmask, bandwidth_m, kernel, tile_units))
    parts = run_tiles(_kde_tile, payloads, engine=engine, scheduler=scheduler, client=client, progress=progress,
                      stage="KDE tiles")
    surface = np.empty(grid.shape)
    for tile, part in zip(plan.tiles, parts):
        surface[tile.window] = part
    total_weight = float(lw.sum())
    factor = 1e6 if tile_units == "per-km2" else grid.cell_area_m2
    mass = float(np.nansum(surface)) / factor * grid.cell_area_m2 / total_weight
    if units == "relative":
        surface /= 1e6
        mean = float(np.nanmean(surface)) if (mask is None or mask.any()) else float("nan")
        if not mean > 0:
            raise HotspotInputError("the density is zero on every reported cell, so a relative surface is undefined; "
                                    "check the mask/boundaries and the bandwidth")
        factor = 1.0 / mean
        surface *= factor
    return KernelDensity(
        surface=surface, grid=grid, bandwidth_m=bandwidth_m, bandwidth_rule=rule, kernel=kernel, units=units,
        n_points=n_points, n_locations=int(lx.size), total_weight=total_weight, mass_on_grid=mass,
        per_m2_factor=factor, mask=mask,
    )


# --- Gi* -----------------------------------------------------------------------------------------


def _gistar_sums_tile(payload):
    """Pass 1 on one tile: (n, sum x, sum x^2) over its own in-mask cells (the halo is not counted)."""
    values, mask, core = payload[0], payload[1], payload[2]
    values, mask = values[core], mask[core]
    v = values.ravel() if mask.all() else values[mask]
    return int(v.size), float(v.sum()), float(np.dot(v, v))


def _gistar_tile(payload, n, mean, s):
    """Pass 2 on one tile: z, two-sided p, neighbour counts and the zero-lag flag of its own cells.

    ``n``, ``mean``, ``s``: in-mask cells, their mean and standard deviation over the whole grid (pass 1).
    """
    from scipy import special

    from hotspot.gistar import analytic_z
    from hotspot.kernels.gistar import stencil_sums

    values, mask, core, dr, dc = payload
    values = np.ascontiguousarray(values, dtype=np.float64)
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    # The halo window holds every neighbour of the tile's own cells, so its stencil sums there are
    # the full grid's; the halo cells' own sums are incomplete and are cut away.
    sums, counts = stencil_sums(values, mask, dr, dc)
    own = (core[0], core[1])
    inside = mask[own]
    neighbours = counts[own]
    lag = values[own] + sums[own]
    islands = inside & (neighbours == 0)
    tested = inside & ~islands
    # The smallest integer type that holds every neighbour count: less to send back from workers.
    k = neighbours.astype(np.uint8 if dr.size < 256 else np.int32)
    zero_lag = tested & (lag == 0.0)
    if s > 0:
        z, degenerate = analytic_z(lag, neighbours + 1.0, neighbours + 1.0, int(n), float(mean), float(s), ~tested)
        n_degenerate = int(np.count_nonzero(degenerate))
        z[~tested] = np.nan
        # 2 * norm.sf(|z|) is 2 * ndtr(-|z|) in scipy; calling ndtr skips its argument checks.
        p = 2.0 * special.ndtr(-np.abs(z))
    else:
        # Zero variance: z = 0, p = 1 for every cell with neighbours (as hotspot.gistar reports it).
        z = np.where(tested, 0.0, np.nan)
        p = np.where(tested, 1.0, np.nan)
        n_degenerate = 0
    # Cells whose neighbourhood sum is exactly 0 have a p that depends on k alone; the correction
    # sorts them as a handful of (value, multiplicity) pairs instead of one by one.
    return z, p, k, zero_lag, n_degenerate


def _fdr_adjust(p: np.ndarray, zero_lag: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p, equal to ``adjust_pvalues(p, "fdr")`` with fewer values sorted.

    ``p`` is NaN where untested. Cells flagged ``zero_lag`` share one p per neighbour count ``k``,
    so they enter the sort as one value with a multiplicity. The arithmetic is scipy's
    (``p_(r) * (m / r)``, then a running minimum from the largest rank, clipped to [0, 1]); a run
    of tied values takes the value at its last rank either way, so the result is identical.
    """
    flat_p = p.ravel()
    finite = np.isfinite(flat_p)
    m = int(np.count_nonzero(finite))
    if m == 0:
        return np.full(p.shape, np.nan)
    zl = zero_lag.ravel()
    flat_k = k.ravel()
    rest = np.flatnonzero(finite & ~zl)
    kz = flat_k[zl]
    mult = np.bincount(kz) if kz.size else np.zeros(0, dtype=np.int64)
    pk = np.full(mult.size, np.nan)
    pk[kz] = flat_p[zl]
    present = np.flatnonzero(mult > 0)
    rest_p = flat_p[rest]
    order = np.argsort(rest_p, kind="stable")
    a = np.clip(rest_p[order], 0.0, 1.0)
    b = np.clip(pk[present], 0.0, 1.0)
    b_order = np.argsort(b, kind="stable")
    b, b_mult, b_k = b[b_order], mult[present][b_order], present[b_order]
    # Merge: each shared value goes after the equal individual values (ties end at the same rank).
    pos = np.searchsorted(a, b, side="right") + np.arange(b.size)
    values = np.empty(a.size + b.size)
    weights = np.ones(a.size + b.size, dtype=np.int64)
    is_b = np.zeros(a.size + b.size, dtype=bool)
    is_b[pos] = True
    values[is_b] = b
    values[~is_b] = a
    weights[is_b] = b_mult
    rank = np.cumsum(weights).astype(np.float64)
    adjusted = values * (m / rank)
    np.minimum.accumulate(adjusted[::-1], out=adjusted[::-1])
    adjusted = np.clip(adjusted, 0.0, 1.0)
    # Zero-lag cells by a gather on k, everything else NaN, then the individually sorted cells.
    by_k = np.full(max(mult.size, 1), np.nan)
    by_k[b_k] = adjusted[is_b]
    out = np.where(zl, by_k[np.minimum(flat_k, by_k.size - 1)], np.nan)
    out[rest[order]] = adjusted[~is_b]
    return out.reshape(p.shape)


def _bins(z: np.ndarray, p_adjusted: np.ndarray) -> np.ndarray:
    """``confidence_bins`` evaluated only where a bin can be non-zero (adjusted p at most 0.10)."""
    from hotspot.multiple_testing import BIN_LEVELS, confidence_bins

    bins = np.zeros(z.shape, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero(p_adjusted.ravel() <= max(alpha for _, alpha in BIN_LEVELS))
    bins.reshape(-1)[candidates] = confidence_bins(z.ravel()[candidates], p_adjusted.ravel()[candidates])
    return bins


def tiled_gi_star(
    counts: np.ndarray,
    band_m: float,
    cell_size_m: float,
    *,
    mask: np.ndarray | None = None,
    correction: str = "fdr",
    band_rule: str = "given",
    exact: bool = True,
    tile_cells: int = DEFAULT_TILE_CELLS,
    engine: str = "local",
    scheduler: str | None = None,
    client=None,
    progress=None,
):
    """Gi* on a grid computed tile by tile, binned like :func:`hotspot.gistar.gi_star_grid`.

    With ``exact=True`` (default) the bins equal ``gi_star_grid``'s (the exact randomisation p is
    computed for the cells whose normal p could reach a bin, and both must agree); with
    ``exact=False`` the result equals ``gi_star_grid(..., permutations=0)`` (normal p only).

    Parameters
    ----------
    counts : array (nrows, ncols)
        Value per cell (counts or rates), row 0 north.
    band_m : float
        Distance band in metres between cell centres (>= ``cell_size_m``); binary weights.
    cell_size_m : float
        Cell side in metres.
    mask : bool array (nrows, ncols), optional
        Cells in the study area (the population and the only neighbours). Default: every cell.
    correction : {"fdr", "bonferroni", "none"}, default "fdr"
        Multiple-testing correction of the normal p-values before binning, over all cells.
    band_rule : str, default "given"
        Text reported as the band's provenance.
    tile_cells : int, default 1024
        Tile side in cells; the halo is the band's reach in whole cells.
    engine, scheduler, client : as in :func:`tiled_kernel_density`.
    progress : callable, optional
        ``progress(stage, tiles_done, n_tiles)`` for "Gi* global sums" and "Gi* tiles".

    Returns
    -------
    hotspot.gistar.GiStarResult
        With ``permutations = 0``, ``p_used = "p"`` and ``p_sim`` all NaN: analytic inference only.
    """
    from hotspot.gistar import GiStarResult, _island_note
    from hotspot.multiple_testing import adjust_pvalues, check_correction
    from hotspot.weights import stencil_offsets

    correction = check_correction(correction)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise HotspotInputError(f"grid counts must be a 2-D (rows, columns) array, got shape {counts.shape}")
    mask = np.ones(counts.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != counts.shape:
        raise HotspotInputError(f"the mask {mask.shape} does not match the grid {counts.shape}")
    if band_m is None or not np.isfinite(band_m) or band_m < cell_size_m:
        raise HotspotInputError(f"--band ({band_m} m) must be at least the cell size ({cell_size_m:g} m) "
                                "so cells have neighbours")
    dr, dc = stencil_offsets(band_m, cell_size_m)
    reach = int(max(np.abs(dr).max(), np.abs(dc).max()))
    nrows, ncols = counts.shape
    grid = Grid(0.0, float(nrows) * cell_size_m, float(cell_size_m), ncols, nrows)
    plan = plan_tiles(grid, halo_m=reach * cell_size_m, tile_cells=tile_cells)

    if engine == "dask" and client is None:
        from hotspot.distributed import dask_client

        with dask_client(scheduler) as own:
            return tiled_gi_star(counts, band_m, cell_size_m, mask=mask, correction=correction, band_rule=band_rule,
                                 exact=exact, tile_cells=tile_cells, engine=engine, client=own, progress=progress)
    payloads = [(counts[t.halo_window], mask[t.halo_window], t.core_in_halo, dr, dc) for t in plan.tiles]
    if engine == "dask":
        from hotspot.distributed import scatter_payloads

        # Both passes read the same tiles: send each to a worker once.
        payloads = scatter_payloads(client, payloads)
    sums = run_tiles(_gistar_sums_tile, payloads, engine=engine, client=client, progress=progress,
                     stage="Gi* global sums")
    n = sum(s[0] for s in sums)
    if n < 3:
        raise HotspotInputError(f"Gi* needs at least 3 cells in the study area, got {n}; use a smaller --cell-size")
    total = math.fsum(s[1] for s in sums)
    total2 = math.fsum(s[2] for s in sums)
    if not (math.isfinite(total) and math.isfinite(total2)):
        raise HotspotInputError("grid counts contain NaN or infinite values inside the study area")
    mean = total / n
    var = total2 / n - mean * mean
    notes: list[str] = []
    # Same tolerance as hotspot.gistar: cancellation leaves a tiny residue for constant input.
    zero_var = var <= 1e-14 * max(1.0, total2 / n)
    s = 0.0 if zero_var else math.sqrt(var)
    if zero_var:
        notes.append("zero variance: every value is the same, so nothing can be hotter or colder than the rest; "
                     "z = 0 and p = 1 everywhere")

    parts = run_tiles(_gistar_tile, payloads, engine=engine, client=client, progress=progress, stage="Gi* tiles",
                      args=(int(n), float(mean), float(s)))
    del payloads  # scattered tiles are released with their last reference (see hotspot.distributed.map_tiles)
    z = np.empty(counts.shape)
    p = np.empty(counts.shape)
    k = np.empty(counts.shape, dtype=np.int32)
    zero_lag = np.empty(counts.shape, dtype=bool)
    degenerate = 0
    for tile, (tz, tp, tk, tzl, td) in zip(plan.tiles, parts):
        z[tile.window] = tz
        p[tile.window] = tp
        k[tile.window] = tk
        zero_lag[tile.window] = tzl
        degenerate += td
    del parts
    if degenerate:
        notes.append(f"{degenerate} observation(s) have every other observation as neighbour "
                     "(the band covers the whole study area); their z is 0")
    islands = np.flatnonzero((mask & (k == 0)).ravel())
    if islands.size:
        notes.insert(0, _island_note(int(islands.size), "cells"))
    if exact:
        p_sim, null_method, p_used = _exact_where_significant(counts, mask, z, p, k, band_m, cell_size_m, zero_var, notes)
    else:
        p_sim, null_method, p_used = None, "none (analytic z only)", "p"
    p_bin = p if p_sim is None else np.fmax(p, np.where(np.isnan(p_sim), p, p_sim))
    if correction == "fdr" and p_sim is None:
        p_adj = _fdr_adjust(p, zero_lag, k)
    else:
        p_adj = adjust_pvalues(np.where(mask, p_bin, np.nan), correction)
    del zero_lag
    bins = _bins(z, p_adj)
    counts_out = np.where(mask, counts, np.nan)
    return GiStarResult(
        z=z, p=p, p_sim=np.broadcast_to(np.float64(np.nan), counts.shape) if p_sim is None else p_sim,
        p_adjusted=p_adj, bin=bins, correction=correction, p_used=p_used, null_method=null_method,
        p_sim_resolution=float("nan"), n_neighbours=k, islands=islands, notes=notes, counts=counts_out,
        band_m=float(band_m), band_rule=band_rule, weights_kind="band", n=int(n), permutations=0, seed=0, mask=mask,
    )


def _exact_where_significant(counts, mask, z, p, k, band_m, cell_size_m, zero_var, notes):
    """The exact randomisation p for the cells whose normal p could reach a bin (p <= 0.10), so the
    tiled Gi* bins by the same rule as :func:`hotspot.gistar.gi_star_grid` (both p must agree).

    A cell whose normal p is above 0.10 has bin 0 whatever its exact p, and leaving its exact p out
    changes no corrected p at or below 0.10 (it ranks above all of them either way), so the bins are
    those of the full computation. Returns ``(p_sim or None, null_method, p_used)``; None when the
    counts are not integers or the exact table would be too large (then bins use the normal p, noted).
    """
    from hotspot.gistar import _exact_plan, _exact_pvalues
    from hotspot.kernels.gistar import stencil_sums
    from hotspot.multiple_testing import BIN_LEVELS
    from hotspot.weights import stencil_offsets

    analytic = "none (analytic z only: tiled national-scale Gi*)"
    if zero_var:
        return None, analytic, "p"
    alpha = max(a for _, a in BIN_LEVELS)
    candidates = mask & np.isfinite(p) & (p <= alpha) & (k > 0)
    if not candidates.any():
        return None, analytic, "p"
    y_all = counts[mask]
    dr, dc = stencil_offsets(band_m, cell_size_m)
    rows, cols = np.nonzero(candidates)
    r0, r1 = max(0, rows.min() - int(np.abs(dr).max())), rows.max() + int(np.abs(dr).max()) + 1
    c0, c1 = max(0, cols.min() - int(np.abs(dc).max())), cols.max() + int(np.abs(dc).max()) + 1
    window = (slice(r0, r1), slice(c0, c1))
    t2, _ = stencil_sums(np.where(mask[window], counts[window], 0.0), mask[window], dr, dc)
    t = t2[candidates[window]]
    kc = k[candidates].astype(np.int64)
    feasible, reason, k_max, s_max, shift = _exact_plan(y_all, kc, t)
    if not feasible:
        notes.append(f"exact per-class null not used ({reason}); bins use the normal p alone")
        return None, analytic, "p"
    p_exact = _exact_pvalues_subset(y_all, counts[candidates], kc, t, k_max, s_max, shift)
    p_sim = np.full(counts.shape, np.nan)
    p_sim[candidates] = p_exact
    return p_sim, ("exact conditional randomisation per (own value, neighbour count) class, for the cells whose "
                   "normal p is at most 0.10 (the others cannot be binned)"), "max(p_sim, p)"


def _exact_pvalues_subset(y_all, y, k, t, k_max, s_max, shift):
    """Exact p for cells with values ``y``, neighbour counts ``k`` and neighbour sums ``t``, the null drawn
    from the histogram of ``y_all`` (every study-area cell)."""
    from hotspot.kernels.gistar import exact_binary_pvalues, sum_distribution

    levels, mult = np.unique(np.round(y_all - shift).astype(np.int64), return_counts=True)
    H = sum_distribution(levels, mult.astype(np.int64), int(k_max), int(s_max))
    own = np.searchsorted(levels, np.round(y - shift).astype(np.int64)).astype(np.int64)
    tt = np.round(t - k * shift).astype(np.int64)
    p, _, _ = exact_binary_pvalues(levels, H, int(y_all.size), own, k, tt)
    return p


# --- outputs -------------------------------------------------------------------------------------


def gistar_places(result, grid: Grid, *, min_bin: int = 2):
    """Ranked hot places: groups of touching hot cells (8-neighbour) at ``bin >= min_bin``, busiest first.

    Parameters
    ----------
    result : hotspot.gistar.GiStarResult
        Grid Gi* (tiled or not), arrays ``grid.shape``.
    grid : Grid
        The grid the result lies on.
    min_bin : int, default 2
        Lowest confidence bin counted as hot: 1, 2 or 3 (90, 95, 99 % after correction).

    Returns
    -------
    GeoDataFrame with ``rank, n_cells, area_km2, crimes, share_of_crimes, max_z, mean_z`` and the
    place's outline (cells dissolved), ranked by ``crimes`` (then ``max_z``).
    """
    import geopandas as gpd
    import pandas as pd
    import rasterio.features
    import shapely
    from scipy import ndimage

    if min_bin not in (1, 2, 3):
        raise HotspotInputError(f"min_bin must be 1, 2 or 3, got {min_bin}")
    hot = np.asarray(result.bin) >= min_bin
    labels, n = ndimage.label(hot, structure=np.ones((3, 3), dtype=bool))
    columns = ["rank", "n_cells", "area_km2", "crimes", "share_of_crimes", "max_z", "mean_z"]
    if n == 0:
        return gpd.GeoDataFrame({c: pd.Series(dtype=float) for c in columns}, geometry=[], crs=grid.crs)
    # Statistics over the hot cells only (a few percent of a national grid).
    cells = np.flatnonzero(hot.ravel())
    lab = labels.ravel()[cells]
    counts = np.nan_to_num(np.asarray(result.counts, dtype=np.float64).ravel()[cells])
    z = np.nan_to_num(np.asarray(result.z, dtype=np.float64).ravel()[cells])
    n_cells = np.bincount(lab, minlength=n + 1)[1:]
    crimes = np.bincount(lab, weights=counts, minlength=n + 1)[1:]
    zsum = np.bincount(lab, weights=z, minlength=n + 1)[1:]
    zmax = np.full(n + 1, -np.inf)
    np.maximum.at(zmax, lab, z)
    zmax = zmax[1:]
    index = np.arange(1, n + 1)
    shapes = rasterio.features.shapes(labels.astype(np.int32), mask=hot, connectivity=8, transform=grid.transform)
    parts: dict[int, list] = {}
    for geom, value in shapes:
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    outlines = [shapely.union_all(parts[i]) if len(parts[i]) > 1 else parts[i][0] for i in index]
    all_counts = np.asarray(result.counts, dtype=np.float64)
    total = float(np.nansum(all_counts if result.mask is None else all_counts[np.asarray(result.mask)]))
    frame = pd.DataFrame({
        "n_cells": n_cells, "area_km2": n_cells * grid.cell_area_m2 / 1e6, "crimes": crimes,
        "share_of_crimes": crimes / total if total > 0 else np.zeros(n), "max_z": zmax, "mean_z": zsum / n_cells,
    })
    order = np.lexsort((-frame["max_z"].to_numpy(), -frame["crimes"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n + 1))
    return gpd.GeoDataFrame(frame, geometry=[outlines[i] for i in order], crs=grid.crs)


def named_gistar_places(result, grid: Grid, frame, *, min_bin: int = 2):
    """:func:`gistar_places` with a ``name`` for each cluster, built as ranked places' names are
    (:func:`hotspot.rank.name_places`: the street and LSOA of the records inside, else of the nearest record).

    ``frame`` holds the records (``x``, ``y`` in the grid's CRS, ``location``, ``lsoa_name``, ``crime_type``).
    """
    from hotspot.rank import name_places

    places = gistar_places(result, grid, min_bin=min_bin)
    names = name_places(frame, places.geometry.values) if len(places) and len(frame) else []
    places.insert(1, "name", pd.Series(list(names) or [""] * len(places), index=places.index, dtype=object))
    return places


def gistar_layers(result, grid: Grid, *, min_bin: int = 2) -> dict:
    """GeoPackage layers for a national Gi*: ``gistar_cells`` (every cell with a non-zero bin, hot or
    cold) and ``gistar_places`` (:func:`gistar_places`). Write them with :func:`hotspot.outputs.write_geopackage`.
    """
    significant = np.asarray(result.bin) != 0
    cells = grid.to_geodataframe({
        "count": result.counts, "gi_z": result.z, "gi_p": result.p, "gi_p_adjusted": result.p_adjusted,
        "gi_bin": result.bin, "gi_neighbours": result.n_neighbours,
    }, where=significant)
    return {"gistar_cells": cells, "gistar_places": gistar_places(result, grid, min_bin=min_bin)}


# --- the national run: stream, KDE, Gi*, outputs ----------------------------------------------


@dataclass
class NationalResult:
    """What :func:`run_national` computed and wrote.

    Attributes
    ----------
    locations : hotspot.stream.StreamedLocations
        Distinct locations with record counts, and the rejected-row ledger.
    grid : Grid
        The grid over the records' extent.
    kde : hotspot.kde.KernelDensity or None
        The tiled density surface (None when skipped).
    gistar : hotspot.gistar.GiStarResult or None
        The tiled analytic Gi* (None when skipped).
    places : GeoDataFrame or None
        Ranked hot places (:func:`gistar_places`).
    paths : dict of str to Path
        Files written: ``"kde"`` (COG), ``"gistar"`` (GeoPackage with ``gistar_cells`` and ``gistar_places``).
    seconds : dict of str to float
        Wall time of each stage.
    """

    locations: object
    grid: Grid
    kde: object = None
    gistar: object = None
    places: object = None
    paths: dict = None
    seconds: dict = None


def run_national(
    inputs,
    out_dir,
    *,
    cell_size_m: float = 100.0,
    bandwidth_m: float = 500.0,
    kernel: str = "quartic",
    band_m: float = 300.0,
    correction: str = "fdr",
    min_bin: int = 2,
    kde: bool = True,
    gistar: bool = True,
    crime_types=None,
    month_from: str | None = None,
    month_to: str | None = None,
    tile_cells: int = DEFAULT_TILE_CELLS,
    engine: str = "local",
    scheduler: str | None = None,
    n_workers: int = 2,
    provenance=None,
    progress=None,
) -> NationalResult:
    """Many police.uk archives to a national KDE surface (COG) and Gi* cells and places (GeoPackage).

    Parameters
    ----------
    inputs : sequence of path
        police.uk street CSVs, folders or zips (streamed; :func:`hotspot.stream.stream_locations`).
    out_dir : path
        Folder for ``kde.tif`` and ``gistar.gpkg`` (created if missing).
    cell_size_m : float, default 100
        Grid cell side, metres.
    bandwidth_m : float, default 500
        KDE search radius, metres.
    kernel : str, default "quartic"
        KDE kernel (:data:`hotspot.kde.KERNELS`); density per km2.
    band_m : float, default 300
        Gi* distance band, metres (analytic z only at national scale).
    correction : {"fdr", "bonferroni", "none"}, default "fdr"
        Gi* multiple-testing correction.
    min_bin : int, default 2
        Lowest Gi* bin that makes a cell part of a hot place (2 = 95 % after correction).
    kde, gistar : bool, default True
        Which analyses to run.
    crime_types : sequence of str, optional
        Keep only these police.uk crime types. Default: all.
    month_from, month_to : str, optional
        First and last month kept, ``YYYY-MM``. Default: all.
    tile_cells : int, default 1024
        Tile side in cells.
    engine : {"local", "dask"}, default "local"
        ``"dask"`` runs ingest groups and tiles as Dask tasks on ``scheduler`` or, when None,
        on a local cluster of ``n_workers`` single-threaded workers.
    scheduler : str, optional
        Dask scheduler address, e.g. ``tcp://10.0.0.5:8786``. Default None.
    n_workers : int, default 2
        Workers of the local Dask cluster (ignored with ``scheduler``).
    provenance : hotspot.provenance.Provenance, optional
        Stored in the outputs. Default None.
    progress : callable, optional
        ``progress(stage, done, total)`` per file group and per tile.
    """
    import time
    from contextlib import nullcontext
    from pathlib import Path

    from hotspot.kde import check_options
    from hotspot.outputs import write_geopackage
    from hotspot.stream import stream_locations

    engine = check_engine(engine)
    check_options(kernel=kernel, bandwidth_m=bandwidth_m)
    if not (kde or gistar):
        raise HotspotInputError("nothing to do: both the KDE and Gi* were switched off")
    if gistar and not (math.isfinite(band_m) and band_m >= cell_size_m):
        raise HotspotInputError(f"--band ({band_m} m) must be at least the cell size ({cell_size_m:g} m)")
    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}
    paths: dict = {}
    if engine == "dask":
        from hotspot.distributed import dask_client

        context = dask_client(scheduler, n_workers=n_workers)
    else:
        context = nullcontext(None)
    with context as client:
        t = time.perf_counter()
        locs = stream_locations(inputs, crime_types=crime_types, month_from=month_from, month_to=month_to,
                                engine=engine, client=client, files_per_task=1 if engine == "dask" else 4,
                                progress=progress)
        seconds["ingest"] = time.perf_counter() - t
        # Every record ingest accepted is kept: the single-force main-body rule dropped 13.5 M of 20 M
        # records of an England and Wales extract, whose forces form many separate bodies.
        pad = max(bandwidth_m if kde else 0.0, band_m if gistar else 0.0)
        from hotspot.memory import BYTES_PER_CELL

        grid = Grid.from_bounds(locs.x.min(), locs.y.min(), locs.x.max(), locs.y.max(), cell_size_m,
                                crs=locs.crs, pad_m=pad, bytes_per_cell=BYTES_PER_CELL["national"])
        result = NationalResult(locations=locs, grid=grid, paths=paths, seconds=seconds)
        if kde:
            t = time.perf_counter()
            result.kde = tiled_kernel_density(locs.x, locs.y, grid, weights=locs.weight, bandwidth_m=bandwidth_m,
                                              kernel=kernel, tile_cells=tile_cells, engine=engine, client=client,
                                              progress=progress)
            seconds["KDE"] = time.perf_counter() - t
        if gistar:
            t = time.perf_counter()
            counts = grid.count(locs.x, locs.y, locs.weight)
            result.gistar = tiled_gi_star(counts, band_m, cell_size_m, correction=correction, tile_cells=tile_cells,
                                          engine=engine, client=client, progress=progress)
            seconds["Gi*"] = time.perf_counter() - t
    out_dir.mkdir(parents=True, exist_ok=True)
    if kde:
        from hotspot.outputs import write_geotiff

        t = time.perf_counter()
        k = result.kde
        tags = {"kernel": k.kernel, "bandwidth_m": f"{k.bandwidth_m:.6g}", "units": k.units,
                "n_points": str(k.n_points), "n_locations": str(k.n_locations), "tiles": "tiled, halo >= bandwidth"}
        paths["kde"] = write_geotiff(out_dir / "kde.tif", k.surface, grid, nodata=-9999.0, description=k.description,
                                     tags=tags, style="raster_ramp", provenance=provenance)
        seconds["write COG"] = time.perf_counter() - t
    if gistar:
        t = time.perf_counter()
        layers = gistar_layers(result.gistar, grid, min_bin=min_bin)
        places = layers["gistar_places"]
        if len(places):
            from hotspot.rank import name_places
            from hotspot.stream import records_in_cells

            # The streamed locations carry no text; a narrow second pass reads the rows in the hot cells to name them.
            inside = records_in_cells(inputs, grid, np.asarray(result.gistar.bin) >= min_bin, crime_types=crime_types,
                                      month_from=month_from, month_to=month_to)
            places.insert(1, "name", name_places(inside, places.geometry.values) if len(inside) else
                          [f"Place {r}" for r in places["rank"]])
        result.places = places
        from hotspot.styles import default_styles

        paths["gistar"] = write_geopackage(out_dir / "gistar.gpkg", layers, styles=default_styles(layers),
                                           provenance=provenance)
        seconds["write GeoPackage"] = time.perf_counter() - t
    return result
