"""The national run: stream a national extract, then tiled KDE and tiled Gi*, named hot places and
the files, in one call (what ``hotspot national`` runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.scale.tiles import DEFAULT_TILE_CELLS, check_engine
from hotspot.scale.tiling import gistar_layers, tiled_gi_star, tiled_kernel_density


@dataclass
class NationalResult:
    """What :func:`run_national` computed and wrote.

    Attributes
    ----------
    locations : hotspot.scale.stream.StreamedLocations
        Distinct locations with record counts, and the rejected-row ledger.
    grid : Grid
        The grid over the records' extent.
    kde : hotspot.stats.kde.KernelDensity or None
        The tiled density surface (None when skipped).
    gistar : hotspot.stats.gistar.GiStarResult or None
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
        police.uk street CSVs, folders or zips (streamed; :func:`hotspot.scale.stream.stream_locations`).
    out_dir : path
        Folder for ``kde.tif`` and ``gistar.gpkg`` (created if missing).
    cell_size_m : float, default 100
        Grid cell side, metres.
    bandwidth_m : float, default 500
        KDE search radius, metres.
    kernel : str, default "quartic"
        KDE kernel (:data:`hotspot.stats.kde.KERNELS`); density per km2.
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
    provenance : hotspot.io.provenance.Provenance, optional
        Stored in the outputs. Default None.
    progress : callable, optional
        ``progress(stage, done, total)`` per file group and per tile.
    """
    import time
    from contextlib import nullcontext
    from pathlib import Path

    from hotspot.stats.kde import check_options
    from hotspot.io.outputs import write_geopackage
    from hotspot.scale.stream import stream_locations

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
        from hotspot.scale.distributed import dask_client

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
        from hotspot.core.memory import BYTES_PER_CELL

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
        from hotspot.io.outputs import write_geotiff

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
            from hotspot.core.naming import name_places
            from hotspot.scale.stream import records_in_cells

            # The streamed locations carry no text; a narrow second pass reads the rows in the hot cells to name them.
            inside = records_in_cells(inputs, grid, np.asarray(result.gistar.bin) >= min_bin, crime_types=crime_types,
                                      month_from=month_from, month_to=month_to)
            places.insert(1, "name", name_places(inside, places.geometry.values) if len(inside) else
                          [f"Place {r}" for r in places["rank"]])
        result.places = places
        from hotspot.io.styles import default_styles

        paths["gistar"] = write_geopackage(out_dir / "gistar.gpkg", layers, styles=default_styles(layers),
                                           provenance=provenance)
        seconds["write GeoPackage"] = time.perf_counter() - t
    return result
