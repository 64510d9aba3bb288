"""Tile plans with halos, and the engine that runs one function per tile, here or on Dask.

A :class:`TilePlan` cuts a :class:`~hotspot.core.grid.Grid` into square blocks of cells (tiles). Each tile
is computed from its own cells plus a **halo**: a margin at least as wide as the kernel bandwidth or
the Gi* distance band, so no tile sees an edge the full grid would not. :func:`run_tiles` maps a
function over per-tile payloads with ``engine="local"`` (in this process, in order) or
``engine="dask"`` (one task per tile; :mod:`hotspot.scale.distributed`); both return results in
payload order, so the stitched answers are identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.progress import resolve

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
        return Grid(
            grid.xmin + self.col0 * grid.cell_size,
            grid.ymax - self.row0 * grid.cell_size,
            grid.cell_size,
            self.col1 - self.col0,
            self.row1 - self.row0,
            grid.crs,
        )


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
            tiles.append(
                Tile(
                    len(tiles),
                    r0,
                    r1,
                    c0,
                    c1,
                    max(0, r0 - halo),
                    min(grid.nrows, r1 + halo),
                    max(0, c0 - halo),
                    min(grid.ncols, c1 + halo),
                )
            )
    return TilePlan(grid, int(tile_cells), halo, tuple(tiles))


def check_engine(engine: str) -> str:
    """The engine name, or a one-line HotspotInputError naming the valid ones."""
    name = str(engine).lower()
    if name not in ENGINES:
        raise HotspotInputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return name


def run_tiles(
    func,
    payloads: list,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    client=None,
    progress=None,
    stage: str = "tiles",
    args: tuple = (),
    combine=None,
) -> list:
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
        Dask scheduler address (``tcp://host:8786``); default None: a local in-process cluster for the call.
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
        list is returned (see :func:`hotspot.scale.distributed.map_tiles`). Ignored locally.
    """
    engine = check_engine(engine)
    progress = resolve(progress)
    if engine == "dask":
        from hotspot.scale.distributed import map_tiles

        return map_tiles(
            func,
            payloads,
            scheduler=scheduler,
            client=client,
            progress=progress,
            stage=stage,
            args=args,
            combine=combine,
        )
    out = []
    progress(stage, 0, len(payloads))
    for i, payload in enumerate(payloads, 1):
        out.append(func(payload, *args))
        progress(stage, i, len(payloads))
    return out
