"""Hot clusters on a Gi* grid: touching hot cells as ranked, named places, and the gistar command's map.

The clusters are what an analyst briefs from a Gi* grid; :func:`gistar_for_study` is the one call
``hotspot gistar`` makes on records (grid or area weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.stats.gistar import GiStarMap

if TYPE_CHECKING:
    from hotspot.ingest.study import Study


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
    (:func:`hotspot.places.rank.name_places`: the street and LSOA of the records inside, else of the nearest record).

    ``frame`` holds the records (``x``, ``y`` in the grid's CRS, ``location``, ``lsoa_name``, ``crime_type``).
    """
    from hotspot.core.naming import name_places

    places = gistar_places(result, grid, min_bin=min_bin)
    names = name_places(frame, places.geometry.values) if len(places) and len(frame) else []
    places.insert(1, "name", pd.Series(list(names) or [""] * len(places), index=places.index, dtype=object))
    return places


def gistar_for_study(
    study: Study,
    *,
    cell_size_m: float = 100.0,
    band_m: float | None = None,
    band_rule: str = "holdout",
    weights: str = "band",
    k: int = 8,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    all_cells: bool = False,
    progress=None,
) -> GiStarMap:
    """Gi* of a study's records: on its grid with a distance band (``weights="band"``: the cells, the
    rasters and the named hot clusters) or over its boundary areas (queen, rook, knn, centroid-band).

    Parameters as in :func:`hotspot.stats.gistar.gi_star_points`; ``all_cells`` keeps every study-area
    cell in the table, not only those holding records or binned hot/cold.
    """
    from hotspot.core.memory import BYTES_PER_CELL
    from hotspot.ingest.validate import check_parameters
    from hotspot.stats.gistar import PARAMETERS, gi_star_points

    check_parameters(PARAMETERS, cell_size_m=cell_size_m, band_m=band_m, band_rule=band_rule, weights=weights, k=k,
                     correction=correction)
    on_grid = weights == "band"
    grid, mask = study.grid(cell_size_m, bytes_per_cell=BYTES_PER_CELL["gistar"]) if on_grid else (None, None)
    frame, result = gi_star_points(study.records, grid=grid, mask=mask, cell_size_m=cell_size_m, band_m=band_m,
                                   band_rule_name=band_rule, boundaries=study.boundaries, weights=weights, k=k,
                                   permutations=permutations, seed=seed, correction=correction,
                                   cells="all" if all_cells else "needed", progress=progress)
    # Touching hot cells (95 % or more) as ranked, named clusters: the places an analyst briefs.
    places = named_gistar_places(result, grid, study.records.frame) if on_grid else None
    return GiStarMap(frame=frame, statistic=result, grid=grid, places=places, study_area=study.describe_area(),
                     study_area_km2=study.area_km2, all_cells=all_cells)
