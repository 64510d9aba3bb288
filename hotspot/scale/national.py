"""The national run: stream a national extract, then tiled KDE and tiled Gi*, named hot places and
the files, in one call (what ``hotspot national`` runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.ingest.validate import Parameter, check_parameters
from hotspot.scale.tiles import DEFAULT_TILE_CELLS, check_engine
from hotspot.scale.tiling import gistar_layers, tiled_gi_star, tiled_kernel_density
from hotspot.stats.kde import KERNELS
from hotspot.stats.multiple_testing import CORRECTIONS

if TYPE_CHECKING:
    import geopandas as gpd

    from hotspot.io.provenance import Provenance
    from hotspot.scale.stream import StreamedLocations
    from hotspot.stats.gistar import GiStarResult
    from hotspot.stats.kde import DensitySurface


PARAMETERS = (
    Parameter("cell_size_m", "--cell-size", "metres"),
    Parameter("bandwidth_m", "--bandwidth", "metres"),
    Parameter("band_m", "--band", "metres"),
    Parameter("kernel", "--kernel", "choice", KERNELS),
    Parameter("correction", "--correction", "choice", CORRECTIONS),
)
"""What :func:`run_national` takes, checked in one place."""


@dataclass(frozen=True)
class NationalResult:
    """What :func:`run_national` computed; :meth:`write` writes it.

    Attributes
    ----------
    locations : hotspot.scale.stream.StreamedLocations
        Distinct locations with record counts, and the rejected-row ledger.
    grid : Grid
        The grid over the records' extent.
    engine : str
        Where it ran: "local" or "dask".
    kde : hotspot.stats.kde.DensitySurface or None
        The tiled density surface (None when skipped).
    gistar : hotspot.stats.gistar.GiStarResult or None
        The tiled analytic Gi* (None when skipped).
    gistar_layers : dict of str to GeoDataFrame
        ``gistar_cells`` (every cell with a non-zero bin) and ``gistar_places`` (ranked, named hot places);
        empty when Gi* was skipped.
    seconds : dict of str to float
        Wall time of each stage.
    """

    locations: StreamedLocations
    grid: Grid
    engine: str
    kde: DensitySurface | None = None
    gistar: GiStarResult | None = None
    gistar_layers: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    @property
    def places(self) -> gpd.GeoDataFrame | None:
        """Ranked, named hot places (touching cells at the chosen confidence), or None without Gi*."""
        return self.gistar_layers.get("gistar_places")

    def write(self, path: str | Path, *, provenance: Provenance | None = None) -> list[Path]:
        """Into the folder ``path``: ``kde.tif`` (COG) and ``gistar.gpkg`` (layers ``gistar_cells``, ``gistar_places``)."""
        from hotspot.io.outputs import write_geopackage, write_geotiff
        from hotspot.io.styles import default_styles

        out_dir = Path(path)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        if self.kde is not None:
            k = self.kde
            tags = {
                "kernel": k.kernel,
                "bandwidth_m": f"{k.bandwidth_m:.6g}",
                "units": k.units,
                "n_points": str(k.n_points),
                "n_locations": str(k.n_locations),
                "tiles": "tiled, halo >= bandwidth",
            }
            written.append(
                write_geotiff(
                    out_dir / "kde.tif",
                    k.surface,
                    self.grid,
                    nodata=-9999.0,
                    description=k.description,
                    tags=tags,
                    style="raster_ramp",
                    provenance=provenance,
                )
            )
        if self.gistar_layers:
            written.append(
                write_geopackage(
                    out_dir / "gistar.gpkg",
                    self.gistar_layers,
                    styles=default_styles(self.gistar_layers),
                    provenance=provenance,
                )
            )
        return written

    def summary(self, width: int = 100) -> list[str]:
        """Records and locations read, the grid, Gi*'s lines and hot places, and the time of each stage."""
        locs = self.locations
        dropped = ", ".join(f"{n:,} {r.replace('_', ' ')}" for r, n in locs.rejected.items() if n)
        lines = [
            f"{locs.n_records:,} records from {len(locs.sources):,} files at {locs.n_locations:,} distinct "
            f"locations" + (f"; dropped {dropped}" if dropped else ""),
            *locs.notes,
            f"grid {self.grid.nrows:,} x {self.grid.ncols:,} cells of {self.grid.cell_size:g} m; engine {self.engine}",
        ]
        if self.gistar is not None:
            lines.extend(self.gistar.summary(width))
            lines.append(f"{len(self.places):,} hot places (touching cells at the chosen confidence)")
        lines.append("; ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()))
        return lines


def run_national(
    inputs,
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
    date_from: str | None = None,
    date_to: str | None = None,
    tile_cells: int = DEFAULT_TILE_CELLS,
    engine: str = "local",
    scheduler: str | None = None,
    n_workers: int = 2,
    processes: bool = False,
    progress=None,
) -> NationalResult:
    """Many police.uk archives to a national KDE surface and Gi* cells and places (:meth:`NationalResult.write`).

    Parameters
    ----------
    inputs : sequence of path
        police.uk street CSVs, folders or zips (streamed; :func:`hotspot.scale.stream.stream_locations`).
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
    date_from, date_to : str, optional
        First and last month kept, ``YYYY-MM``. Default: all.
    tile_cells : int, default 1024
        Tile side in cells.
    engine : {"local", "dask"}, default "local"
        ``"dask"`` runs ingest groups and tiles as Dask tasks on ``scheduler`` or, when None,
        on a local cluster (see ``processes``).
    scheduler : str, optional
        Dask scheduler address, e.g. ``tcp://10.0.0.5:8786``. Default None: a local cluster.
    n_workers : int, default 2
        Worker processes of the local Dask cluster with ``processes=True`` (ignored otherwise).
    processes : bool, default False
        Local Dask cluster only. False (default): one worker thread in this process whose tasks use every
        core (:func:`hotspot.scale.distributed.dask_client`): no pickling between processes, no second copy
        of the imports, the same file groups as the local engine; on one machine the fastest Dask run.
        True: ``n_workers`` single-threaded worker processes, one task per file (a cluster rehearsed on
        one machine; 2.1-2.7x the local engine's time on 2 cores).
    progress : callable, optional
        ``progress(stage, done, total)`` per file group and per tile.
    """
    import time
    from contextlib import nullcontext

    from hotspot.scale.distributed import dask_client, in_process
    from hotspot.scale.stream import stream_locations
    from hotspot.stats.kde import check_options

    engine = check_engine(engine)
    check_parameters(
        PARAMETERS,
        cell_size_m=cell_size_m,
        bandwidth_m=bandwidth_m,
        band_m=band_m,
        kernel=kernel,
        correction=correction,
    )
    check_options(kernel=kernel, bandwidth_m=bandwidth_m)
    if not (kde or gistar):
        raise HotspotInputError("nothing to do: both the KDE and Gi* were switched off")
    if gistar and not (math.isfinite(band_m) and band_m >= cell_size_m):
        raise HotspotInputError(f"--band ({band_m} m) must be at least the cell size ({cell_size_m:g} m)")
    if scheduler and processes:
        raise HotspotInputError(
            "--processes starts a local Dask cluster; with --scheduler the cluster's workers are used"
        )
    seconds: dict[str, float] = {}
    if engine == "dask":
        context = dask_client(scheduler, n_workers=n_workers, processes=processes)
    else:
        context = nullcontext(None)
    density = statistic = None
    with context as client:
        # One task per file lets several workers read at once; the in-process worker reads one group at a
        # time either way, so it takes the local engine's groups (fewer partial aggregates to merge).
        spread = client is not None and not in_process(client)
        t = time.perf_counter()
        locs = stream_locations(
            inputs,
            crime_types=crime_types,
            date_from=date_from,
            date_to=date_to,
            engine=engine,
            client=client,
            files_per_task=1 if spread else 4,
            progress=progress,
            with_text=gistar,
        )
        seconds["ingest"] = time.perf_counter() - t
        # Every record ingest accepted is kept: the single-force main-body rule dropped 13.5 M of 20 M
        # records of an England and Wales extract, whose forces form many separate bodies.
        pad = max(bandwidth_m if kde else 0.0, band_m if gistar else 0.0)
        from hotspot.core.memory import BYTES_PER_CELL

        grid = Grid.from_bounds(
            locs.x.min(),
            locs.y.min(),
            locs.x.max(),
            locs.y.max(),
            cell_size_m,
            crs=locs.crs,
            pad_m=pad,
            bytes_per_cell=BYTES_PER_CELL["national"],
        )
        if kde:
            t = time.perf_counter()
            density = tiled_kernel_density(
                locs.x,
                locs.y,
                grid,
                weights=locs.weight,
                bandwidth_m=bandwidth_m,
                kernel=kernel,
                tile_cells=tile_cells,
                engine=engine,
                client=client,
                progress=progress,
            )
            seconds["KDE"] = time.perf_counter() - t
        if gistar:
            t = time.perf_counter()
            counts = grid.count(locs.x, locs.y, locs.weight)
            statistic = tiled_gi_star(
                counts,
                band_m,
                cell_size_m,
                correction=correction,
                tile_cells=tile_cells,
                engine=engine,
                client=client,
                progress=progress,
            )
            seconds["Gi*"] = time.perf_counter() - t
    layers = {}
    if gistar:
        t = time.perf_counter()
        # The streamed locations carry each location's street and LSOA name: the hot places are named from
        # those tallies, with no second pass over the files.
        layers = gistar_layers(statistic, grid, min_bin=min_bin, records=locs.text)
        seconds["Gi* places"] = time.perf_counter() - t
    return NationalResult(
        locations=locs, grid=grid, engine=engine, kde=density, gistar=statistic, gistar_layers=layers, seconds=seconds
    )
