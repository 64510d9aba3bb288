"""Tile plans with halos, and kernel density and Gi* computed tile by tile over national extents.

A :class:`TilePlan` cuts a :class:`~hotspot.core.grid.Grid` into square blocks of cells (tiles). Each tile
is computed from its own cells plus a **halo**: a margin at least as wide as the kernel bandwidth or
the Gi* distance band, so no tile sees an edge the full grid would not. Stitching the tiles gives the
**same numbers** as the untiled computation (the tests check 1e-9; in practice they agree bit for bit):

- **KDE** (:func:`tiled_kernel_density`): identical coordinates are merged once, globally; each tile
  then calls :func:`hotspot.stats.kde.kernel_density` on a sub-grid aligned cell for cell with the full
  grid, with only the locations within ``bandwidth_m`` of the tile. A location farther away adds
  exactly nothing to the tile's cells, and the locations that remain are summed in the same order.
- **Gi*** (:func:`tiled_gi_star`): Gi* z of a cell uses the mean and standard deviation of *all*
  cells in the study area, which a tile cannot see. So pass 1 adds ``n``, ``sum x`` and ``sum x^2``
  over the tiles; pass 2 computes each tile's neighbourhood sums with the Gi* stencil kernel
  (:func:`hotspot.kernels.gistar.stencil_sums`) on the tile plus a halo of the band's reach in cells,
  then the analytic z from the published formula with the global statistics (module docstring of
  :mod:`hotspot.stats.gistar`). Multiple-testing correction and bins are applied to the stitched p-values
  (Benjamini-Hochberg needs every p at once).

**Inference at national scale.** Tiled Gi* reports the analytic z and normal p everywhere, and the
exact conditional-randomisation p (:mod:`hotspot.stats.gistar`) for the cells whose normal p could reach
a bin, so its bins are those of :func:`hotspot.stats.gistar.gi_star_grid`; permutations stay with the
full-grid engine.

Engines: ``engine="local"`` runs the tiles one after another in this process (each tile's Numba
kernels use every core); ``engine="dask"`` runs one task per tile on a ``dask.distributed`` cluster
(see :mod:`hotspot.scale.distributed` and ``docs/distributed.md``). Both engines compute each tile with
the same function on the same inputs and stitch in tile order, so they give identical results.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.scale.tiles import DEFAULT_TILE_CELLS, plan_tiles, run_tiles

# --- kernel density ------------------------------------------------------------------------------


def _kde_tile(payload):
    """Density in ``units`` ("per-km2" or "per-cell"; NaN outside the mask) on one tile; the unit of work of both engines."""
    from hotspot.stats.kde import kernel_density

    subgrid, x, y, w, mask, bandwidth_m, kernel, units = payload
    if x.size == 0:
        out = np.zeros(subgrid.shape)
    else:
        out = kernel_density(
            x, y, subgrid, bandwidth_m=bandwidth_m, kernel=kernel, weights=w, units=units, mask=mask
        ).surface
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
    """Kernel density on ``grid`` computed tile by tile; equals :func:`hotspot.stats.kde.kernel_density`.

    Parameters
    ----------
    x, y : array-like of float, shape (n,)
        Point coordinates in metres, in ``grid.crs``.
    grid : Grid
        Where to evaluate (cell size in metres).
    bandwidth_m : float, optional
        Search radius in metres (>= the cell size). Default None: the spatial Silverman rule
        (:func:`hotspot.stats.kde.default_bandwidth`) on the merged locations.
    kernel : str, default "quartic"
        One of :data:`hotspot.stats.kde.KERNELS`.
    weights : array-like of float, shape (n,), optional
        Non-negative weight per point. Default: 1 each.
    units : str, default "per-km2"
        One of :data:`hotspot.stats.kde.UNITS`.
    mask : bool array (nrows, ncols), optional
        Cells to report; the rest are NaN. Default: every cell.
    tile_cells : int, default 1024
        Tile side in cells.
    engine : {"local", "dask"}, default "local"
        Where the tiles run (see :func:`run_tiles`).
    scheduler : str, optional
        Dask scheduler address for ``engine="dask"``; default None: a local in-process cluster (:func:`hotspot.scale.distributed.dask_client`).
    client : dask.distributed.Client, optional
        An existing Dask client (overrides ``scheduler``). Default None.
    progress : callable, optional
        ``progress("KDE tiles", tiles_done, n_tiles)``.

    Returns
    -------
    hotspot.stats.kde.DensitySurface
        As the untiled function returns. Edge correction and the binned approximation are not
        available tile by tile (edge correction needs each point's kernel share over the whole
        mask); use :func:`hotspot.stats.kde.kernel_density` for those.
    """
    from hotspot.stats.kde import DensitySurface, aggregate_locations, check_options, default_bandwidth

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
        raise HotspotInputError(
            "no points with positive weight to estimate a density from; check the input and the filters"
        )
    lx, ly, lw = aggregate_locations(x[keep], y[keep], w[keep])
    if bandwidth_m is None:
        bandwidth_m, rule = default_bandwidth(lx, ly, lw)
    else:
        bandwidth_m, rule = float(bandwidth_m), "given"
    if bandwidth_m < grid.cell_size:
        raise HotspotInputError(
            f"bandwidth {bandwidth_m:,.1f} m is smaller than the {grid.cell_size:g} m cells; "
            "give a larger --bandwidth or a smaller --cell-size"
        )
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
    parts = run_tiles(
        _kde_tile, payloads, engine=engine, scheduler=scheduler, client=client, progress=progress, stage="KDE tiles"
    )
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
            raise HotspotInputError(
                "the density is zero on every reported cell, so a relative surface is undefined; "
                "check the mask/boundaries and the bandwidth"
            )
        factor = 1.0 / mean
        surface *= factor
    return DensitySurface(
        surface=surface,
        grid=grid,
        bandwidth_m=bandwidth_m,
        bandwidth_rule=rule,
        kernel=kernel,
        units=units,
        n_points=n_points,
        n_locations=int(lx.size),
        total_weight=total_weight,
        mass_on_grid=mass,
        per_m2_factor=factor,
        mask=mask,
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
    from hotspot.kernels.gistar import stencil_sums, two_sided_normal_p
    from hotspot.stats.gistar import analytic_z

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
        p = two_sided_normal_p(z)  # as the single grid's (hotspot.stats.gistar), so tiles agree with it
    else:
        # Zero variance: z = 0, p = 1 for every cell with neighbours (as hotspot.stats.gistar reports it).
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
    from hotspot.stats.multiple_testing import BIN_LEVELS, confidence_bins

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
    """Gi* on a grid computed tile by tile, binned like :func:`hotspot.stats.gistar.gi_star_grid`.

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
    hotspot.stats.gistar.GiStarResult
        With ``permutations = 0``. ``exact=True``: ``p_sim`` holds the exact p of the cells whose normal
        p is at most 0.10 (NaN elsewhere) and ``p_used = "max(p_sim, p)"``; ``exact=False`` (or counts
        that are not whole numbers): ``p_sim`` all NaN and ``p_used = "p"``.
    """
    from hotspot.stats.gistar import GiStarResult, _island_note
    from hotspot.stats.multiple_testing import adjust_pvalues, check_correction
    from hotspot.stats.weights import stencil_offsets

    correction = check_correction(correction)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise HotspotInputError(f"grid counts must be a 2-D (rows, columns) array, got shape {counts.shape}")
    mask = np.ones(counts.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != counts.shape:
        raise HotspotInputError(f"the mask {mask.shape} does not match the grid {counts.shape}")
    if band_m is None or not np.isfinite(band_m) or band_m < cell_size_m:
        raise HotspotInputError(
            f"--band ({band_m} m) must be at least the cell size ({cell_size_m:g} m) so cells have neighbours"
        )
    dr, dc = stencil_offsets(band_m, cell_size_m)
    reach = int(max(np.abs(dr).max(), np.abs(dc).max()))
    nrows, ncols = counts.shape
    grid = Grid(0.0, float(nrows) * cell_size_m, float(cell_size_m), ncols, nrows)
    plan = plan_tiles(grid, halo_m=reach * cell_size_m, tile_cells=tile_cells)

    if engine == "dask" and client is None:
        from hotspot.scale.distributed import dask_client

        with dask_client(scheduler) as own:
            return tiled_gi_star(
                counts,
                band_m,
                cell_size_m,
                mask=mask,
                correction=correction,
                band_rule=band_rule,
                exact=exact,
                tile_cells=tile_cells,
                engine=engine,
                client=own,
                progress=progress,
            )
    payloads = [(counts[t.halo_window], mask[t.halo_window], t.core_in_halo, dr, dc) for t in plan.tiles]
    if engine == "dask":
        from hotspot.scale.distributed import scatter_payloads

        # Both passes read the same tiles: send each to a worker once.
        payloads = scatter_payloads(client, payloads)
    sums = run_tiles(
        _gistar_sums_tile, payloads, engine=engine, client=client, progress=progress, stage="Gi* global sums"
    )
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
    # Same tolerance as hotspot.stats.gistar: cancellation leaves a tiny residue for constant input.
    zero_var = var <= 1e-14 * max(1.0, total2 / n)
    s = 0.0 if zero_var else math.sqrt(var)
    if zero_var:
        notes.append(
            "zero variance: every value is the same, so nothing can be hotter or colder than the rest; "
            "z = 0 and p = 1 everywhere"
        )

    parts = run_tiles(
        _gistar_tile,
        payloads,
        engine=engine,
        client=client,
        progress=progress,
        stage="Gi* tiles",
        args=(int(n), float(mean), float(s)),
    )
    del payloads  # scattered tiles are released with their last reference (see hotspot.scale.distributed.map_tiles)
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
        notes.append(
            f"{degenerate} observation(s) have every other observation as neighbour "
            "(the band covers the whole study area); their z is 0"
        )
    islands = np.flatnonzero((mask & (k == 0)).ravel())
    if islands.size:
        notes.insert(0, _island_note(int(islands.size), "cells"))
    if exact:
        tested, p_exact, null_method, p_used = _exact_where_significant(
            counts, mask, p, k, band_m, cell_size_m, zero_var, notes
        )
    else:
        tested, null_method, p_used = None, "none (analytic z only)", "p"
    p_sim = None
    p_bin = p
    if tested is not None:
        p_sim = np.full(counts.shape, np.nan)
        p_sim.reshape(-1)[tested] = p_exact
        p_bin = p.copy()
        p_bin.reshape(-1)[tested] = np.fmax(p.reshape(-1)[tested], p_exact)
        # Cells tested exactly leave the shared zero-lag groups: their p_bin is their own.
        zero_lag.reshape(-1)[tested] = False
    if correction == "fdr":
        p_adj = _fdr_adjust(p_bin, zero_lag, k)
    else:
        p_adj = adjust_pvalues(np.where(mask, p_bin, np.nan), correction)
    del zero_lag
    bins = _bins(z, p_adj)
    counts_out = np.where(mask, counts, np.nan)
    return GiStarResult(
        z=z,
        p=p,
        p_sim=np.broadcast_to(np.float64(np.nan), counts.shape) if p_sim is None else p_sim,
        p_adjusted=p_adj,
        bin=bins,
        correction=correction,
        p_used=p_used,
        null_method=null_method,
        p_sim_resolution=float("nan"),
        n_neighbours=k,
        islands=islands,
        notes=notes,
        counts=counts_out,
        band_m=float(band_m),
        band_rule=band_rule,
        weights_kind="band",
        n=int(n),
        permutations=0,
        seed=0,
        mask=mask,
    )


def _exact_where_significant(counts, mask, p, k, band_m, cell_size_m, zero_var, notes):
    """The exact randomisation p for the cells whose normal p could reach a bin (p <= 0.10), so the
    tiled Gi* bins by the same rule as :func:`hotspot.stats.gistar.gi_star_grid` (both p must agree).

    A cell whose normal p is above 0.10 has bin 0 whatever its exact p, and leaving its exact p out
    changes no corrected p at or below 0.10 (it ranks above all of them either way), so the bins are
    those of the full computation. Returns ``(cells, p_exact, null_method, p_used)``: the flat indices
    of the cells tested and their exact p, or ``(None, None, ...)`` when the counts are not integers or
    the exact table would be too large (then bins use the normal p, noted).
    """
    from hotspot.kernels.gistar import stencil_sums_at
    from hotspot.stats.gistar import _exact_plan, _exact_pvalues
    from hotspot.stats.multiple_testing import BIN_LEVELS
    from hotspot.stats.weights import stencil_offsets

    analytic = "none (analytic z only: tiled national-scale Gi*)"
    if zero_var:
        return None, None, analytic, "p"
    alpha = max(a for _, a in BIN_LEVELS)
    with np.errstate(invalid="ignore"):
        cells = np.flatnonzero((mask & (p <= alpha) & (k > 0)).ravel())
    if cells.size == 0:
        return None, None, analytic, "p"
    rows, cols = np.divmod(cells, counts.shape[1])
    y_all = counts.ravel() if mask.all() else counts[mask]
    dr, dc = stencil_offsets(band_m, cell_size_m)
    t, _ = stencil_sums_at(
        np.ascontiguousarray(counts, dtype=np.float64), np.ascontiguousarray(mask), rows, cols, dr, dc
    )
    kc = k.ravel()[cells].astype(np.int64)
    feasible, reason, k_max, s_max, shift = _exact_plan(y_all, kc, t)
    if not feasible:
        notes.append(f"exact per-class null not used ({reason}); bins use the normal p alone")
        return None, None, analytic, "p"
    p_exact = _exact_pvalues(counts.ravel()[cells], kc, t, k_max, s_max, shift, pool=y_all)
    return (
        cells,
        p_exact,
        (
            "exact conditional randomisation per (own value, neighbour count) class, for the cells "
            "whose normal p is at most 0.10 (the others cannot be binned)"
        ),
        "max(p_sim, p)",
    )


# --- outputs -------------------------------------------------------------------------------------


def gistar_places(result, grid: Grid, *, min_bin: int = 2):
    """Ranked hot places: groups of touching hot cells (8-neighbour) at ``bin >= min_bin``, busiest first.

    Parameters
    ----------
    result : hotspot.stats.gistar.GiStarResult
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
    return _ranked_places(result, grid, min_bin)[0]


def _ranked_places(result, grid: Grid, min_bin: int):
    """:func:`gistar_places`, the cells' place labels (0 = not hot) and each label's row in the ranked frame."""
    import geopandas as gpd

    from hotspot.kernels.places import label_touching

    if min_bin not in (1, 2, 3):
        raise HotspotInputError(f"min_bin must be 1, 2 or 3, got {min_bin}")
    hot = np.asarray(result.bin) >= min_bin
    # scipy.ndimage.label's groups and numbering, without importing scipy.ndimage (~0.05 s of a fresh gistar).
    labels, n = label_touching(np.ascontiguousarray(hot))
    columns = ["rank", "n_cells", "area_km2", "crimes", "share_of_crimes", "max_z", "mean_z"]
    if n == 0:
        empty = gpd.GeoDataFrame({c: pd.Series(dtype=float) for c in columns}, geometry=[], crs=grid.crs)
        return empty, labels, np.zeros(1, dtype=np.int64)
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
    outlines = _outlines(labels, hot, n, grid)
    all_counts = np.asarray(result.counts, dtype=np.float64)
    total = float(np.nansum(all_counts if result.mask is None else all_counts[np.asarray(result.mask)]))
    frame = pd.DataFrame(
        {
            "n_cells": n_cells,
            "area_km2": n_cells * grid.cell_area_m2 / 1e6,
            "crimes": crimes,
            "share_of_crimes": crimes / total if total > 0 else np.zeros(n),
            "max_z": zmax,
            "mean_z": zsum / n_cells,
        }
    )
    order = np.lexsort((-frame["max_z"].to_numpy(), -frame["crimes"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n + 1))
    # row_of_label[label] = the place's row in the ranked frame (label 0, not hot, maps to -1).
    row_of_label = np.full(n + 1, -1, dtype=np.int64)
    row_of_label[order + 1] = np.arange(n)
    return gpd.GeoDataFrame(frame, geometry=outlines[order], crs=grid.crs), labels, row_of_label


def _outlines(labels, hot, n, grid: Grid):
    """One polygon per label 1..n (touching cells dissolved), as an object array in label order."""
    import rasterio.features
    import shapely
    from affine import Affine

    # Traced within the hot cells' bounding box only: GDAL's polygonizer walks every cell it is given (Bedfordshire
    # at 100 m: the whole grid ~8 ms, the box ~3 ms; the same polygons).
    rows, cols = np.flatnonzero(hot.any(axis=1)), np.flatnonzero(hot.any(axis=0))
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    shapes = rasterio.features.shapes(
        labels[box].astype(np.int32),
        mask=hot[box],
        connectivity=8,
        transform=grid.transform @ Affine.translation(int(cols[0]), int(rows[0])),
    )
    parts: dict[int, list] = {}
    for geom, value in shapes:
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    outlines = np.empty(n, dtype=object)
    outlines[:] = [shapely.union_all(parts[i]) if len(parts[i]) > 1 else parts[i][0] for i in range(1, n + 1)]
    return outlines


def name_cell_places(
    x,
    y,
    location,
    lsoa_name,
    grid: Grid,
    labels: np.ndarray,
    row_of_label: np.ndarray,
    geometries,
    *,
    weights=None,
    nearest_from: str = "inside",
) -> list[str]:
    """Names of grid places (unions of whole cells) from located records, equal to
    :func:`hotspot.core.naming.name_places` on those records, without a point-in-polygon test per record.

    A record counts for the place whose cell holds it, except a record lying exactly on a place's outline,
    which ``name_places`` does not count (its "within" test): the few records within 1 micrometre of a
    grid line get that exact test. Records may be merged rows with a ``weights`` count each
    (streamed locations), so tallies are sums of weights rather than numbers of rows.

    Parameters
    ----------
    x, y : array of float
        Record coordinates, metres in the grid's CRS (NaN: not located).
    location, lsoa_name : array-like of str
        police.uk ``Location`` ("On or near ...") and ``LSOA name`` of each record (None/NaN/"" when absent).
    grid : Grid
        The grid of ``labels``.
    labels : int array, grid.shape
        Place label of each cell, 0 outside every place.
    row_of_label : int array
        Place (row of ``geometries``) of each label.
    geometries : sequence of shapely geometries
        The places' outlines, best first.
    weights : array of float, optional
        Records each row stands for. Default: 1.
    nearest_from : {"inside", "all"}, default "inside"
        Where a place holding no record finds the record nearest its centre: among the records in
        the places' cells (as a national run names them) or among all of them (the ``gistar`` command).
    """
    import pandas as pd
    import shapely

    from hotspot.core.naming import (
        POLICEUK_FACILITY_LABELS,
        disambiguate_names,
        nearest_point_rows,
        strip_on_or_near,
    )

    geometries = np.asarray(list(geometries), dtype=object)
    n_places = len(geometries)
    if n_places == 0:
        return []
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(x.size) if weights is None else np.asarray(weights, dtype=np.float64)
    located = np.isfinite(x) & np.isfinite(y)
    flat, on_grid = grid.flat_index(np.where(located, x, -1e18), np.where(located, y, -1e18))
    on_grid &= located
    place = np.full(x.size, -1, dtype=np.int64)
    place[on_grid] = row_of_label[labels.ravel()[flat[on_grid]]]
    inside = np.flatnonzero(place >= 0)
    # Records far from every grid line are strictly inside their cell, so inside their place's outline;
    # the rest could lie on the outline and take the polygon test name_places makes.
    xi, yi = x[inside], y[inside]
    size = grid.cell_size
    near = (np.abs((xi - grid.xmin) / size - np.round((xi - grid.xmin) / size)) * size < 1e-6) | (
        np.abs((grid.ymax - yi) / size - np.round((grid.ymax - yi) / size)) * size < 1e-6
    )
    if near.any():
        edge = inside[near]
        within = shapely.contains_xy(geometries[place[edge]], x[edge], y[edge])
        place[edge[~within]] = -1
    placed = np.flatnonzero(place >= 0)
    has_record = np.zeros(n_places, dtype=bool)
    has_record[place[placed]] = True
    empty = np.flatnonzero(~has_record)
    rows, row_place = placed, place[placed]
    if empty.size:
        pool = inside if nearest_from == "inside" else np.flatnonzero(located)
        if pool.size:
            centres = shapely.centroid(geometries[empty])
            nearest = nearest_point_rows(x[pool], y[pool], shapely.get_x(centres), shapely.get_y(centres))
            rows = np.concatenate([rows, pool[nearest]])
            row_place = np.concatenate([row_place, empty])
    if rows.size == 0:
        return disambiguate_names([f"Place {i + 1}" for i in range(n_places)])
    # Text is tallied by distinct value (a few thousand streets), not record by record.
    street_code, streets = _codes(location, rows, lambda u: strip_on_or_near(pd.Series(u, dtype=object)))
    area_code, areas = _codes(lsoa_name, rows, lambda u: pd.Series(u, dtype=object).fillna("").astype(str))
    weight = w[rows]
    facility = np.isin(streets, list(POLICEUK_FACILITY_LABELS))
    street_best = _weighted_mode(row_place, street_code, weight, streets, ~facility[street_code])
    facility_best = _weighted_mode(row_place, street_code, weight, streets, facility[street_code])
    area_best = _weighted_mode(row_place, area_code, weight, areas, np.ones(rows.size, dtype=bool))
    names = []
    for i in range(n_places):
        street, area = street_best.get(i, "") or facility_best.get(i, ""), area_best.get(i, "")
        names.append(f"{street}, {area}" if street and area else (street or area or f"Place {i + 1}"))
    return disambiguate_names(names)


def _codes(values, rows, clean):
    """(code per chosen row, cleaned text per code) of a text column: the cleaning runs once per distinct value."""
    import pandas as pd

    if values is None:
        return np.zeros(rows.size, dtype=np.int64), np.array([""], dtype=object)
    column = values.iloc[rows] if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object)[rows])
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    text = np.asarray(clean(np.append(uniques, None)), dtype=object)  # the last entry stands for a missing value
    codes = np.where(codes < 0, uniques.size, codes)
    # Different raw values can clean to the same text ("On or near X" and "X"): one code per cleaned text.
    merged, cleaned = pd.factorize(pd.Series(text, dtype=object))
    return merged[codes], np.asarray(cleaned, dtype=object)


def _weighted_mode(place, code, weight, text, use) -> dict[int, str]:
    """Per place, the non-empty text with the largest total weight (ties: the text that sorts first)."""
    valid = use & (text[code] != "")
    if not valid.any():
        return {}
    # One integer key per (place, text): tallied with bincount, then the best per place found by one lexsort
    # (a pandas groupby and sort per call took three times as long on a county's records).
    n_text = text.size
    key, inverse = np.unique(place[valid].astype(np.int64) * n_text + code[valid], return_inverse=True)
    total = np.bincount(inverse, weights=weight[valid], minlength=key.size)
    key_place, key_code = np.divmod(key, n_text)
    text_rank = np.empty(n_text, dtype=np.int64)
    text_rank[np.argsort(text.astype(str), kind="stable")] = np.arange(n_text)
    order = np.lexsort((text_rank[key_code], -total, key_place))
    first = order[np.r_[True, key_place[order][1:] != key_place[order][:-1]]]
    return dict(zip(key_place[first].tolist(), text[key_code[first]].tolist()))


def named_gistar_places(result, grid: Grid, frame, *, min_bin: int = 2):
    """:func:`gistar_places` with a ``name`` for each cluster, built as ranked places' names are
    (:func:`hotspot.core.naming.name_places`: the street and LSOA of the records inside, else of the nearest record).

    ``frame`` holds the records (``x``, ``y`` in the grid's CRS, ``location``, ``lsoa_name``).
    """
    places, labels, row_of_label = _ranked_places(result, grid, min_bin)
    names = []
    if len(places) and len(frame):
        names = name_cell_places(
            frame["x"].to_numpy(np.float64),
            frame["y"].to_numpy(np.float64),
            frame["location"] if "location" in frame else None,
            frame["lsoa_name"] if "lsoa_name" in frame else None,
            grid,
            labels,
            row_of_label,
            places.geometry.values,
            nearest_from="all",
        )
    places.insert(1, "name", pd.Series(list(names) or [""] * len(places), index=places.index, dtype=object))
    return places


def gistar_layers(result, grid: Grid, *, min_bin: int = 2, records=None) -> dict:
    """GeoPackage layers for a national Gi*: ``gistar_cells`` (every cell with a non-zero bin, hot or
    cold) and ``gistar_places`` (:func:`gistar_places`). Write them with :func:`hotspot.io.outputs.write_geopackage`.

    ``records`` (optional): located records or merged rows of them (``x``, ``y``, ``location``, ``lsoa_name``,
    ``weight``; :attr:`hotspot.scale.stream.StreamedLocations.text`) to name the places from
    (:func:`name_cell_places`; a place holding none takes the nearest record in a hot cell).
    """
    significant = np.asarray(result.bin) != 0
    cells = grid.to_geodataframe(
        {
            "count": result.counts,
            "gi_z": result.z,
            "gi_p": result.p,
            "gi_p_adjusted": result.p_adjusted,
            "gi_bin": result.bin,
            "gi_neighbours": result.n_neighbours,
        },
        where=significant,
    )
    places, labels, row_of_label = _ranked_places(result, grid, min_bin)
    if records is not None and len(places):
        names = name_cell_places(
            records["x"].to_numpy(np.float64),
            records["y"].to_numpy(np.float64),
            records["location"],
            records["lsoa_name"],
            grid,
            labels,
            row_of_label,
            places.geometry.values,
            weights=records["weight"].to_numpy(np.float64) if "weight" in records else None,
            nearest_from="inside",
        )
        places.insert(1, "name", names)
    return {"gistar_cells": cells, "gistar_places": places}
