"""Hotspot areas from a density surface: the highest cells dissolved into polygons, ranked by the points they hold."""

from __future__ import annotations

import math

import numpy as np

from hotspot.core.errors import HotspotInputError

COLUMNS = ("rank", "hotspot_id", "name", "area_m2", "n_points", "share_of_points", "peak_value", "mean_value", "geometry")


def surface_hotspots(
    density,
    *,
    top_share: float | None = 0.05,
    threshold: float | None = None,
    x=None,
    y=None,
    weights=None,
    records=None,
):
    """Dissolve the highest cells of a surface into hotspot polygons, ranked by the points inside.

    Parameters
    ----------
    density : hotspot.stats.kde.KernelDensity
        The surface (NaN cells are outside the study area and never selected).
    top_share : float, default 0.05
        Select the cells in the top ``top_share`` of the reported cells by value (0.05 = the
        highest 5 % of cells, i.e. 5 % of the mapped area). Cells tied with the cut-off value
        are all kept, and cells with zero density never are. Ignored when ``threshold`` is given.
    threshold : float, optional
        Instead of ``top_share``: select cells whose value is at least this, in the surface's
        units (e.g. per km2).
    x, y : array-like of float, optional
        The points (metres, in the surface's CRS) to count in each hotspot; a point counts
        in the hotspot holding its cell. Default: the surface's own expected counts (the
        kernel-smoothed number of points on the hotspot's cells).
    weights : array-like of float, optional
        Weight per point when counting ``x, y``. Default: 1 each.
    records : DataFrame, optional
        The study's records (``study.records.frame``) to name each hotspot after, as ranked places are named
        (:func:`hotspot.places.rank.name_places`: its main street and LSOA). Default: "Hotspot <rank>".

    Returns
    -------
    geopandas.GeoDataFrame
        One row per hotspot (edge-connected selected cells), in the surface's CRS, with ``rank`` and
        ``hotspot_id`` (both 1 = first), ``name``, ``area_m2``, ``n_points`` (weight of the points inside),
        ``share_of_points`` (``n_points`` over all points given, 0 to 1), ``peak_value`` and
        ``mean_value`` (surface units) and ``geometry``, ranked by ``n_points`` then ``peak_value``.
    """
    import geopandas as gpd
    import rasterio.features
    import shapely
    from scipy import ndimage
    from shapely.geometry import shape

    grid = density.grid
    surface = np.asarray(density.surface, dtype=np.float64)
    valid = np.isfinite(surface)
    if threshold is not None:
        threshold = float(threshold)
        if not math.isfinite(threshold):
            raise HotspotInputError(f"the hotspot threshold must be a number in {density.units}, got {threshold}")
        cutoff = threshold
    elif top_share is not None:
        top_share = float(top_share)
        if not (0.0 < top_share <= 1.0):
            raise HotspotInputError(f"--hotspot-share must be above 0 and at most 1 (0.05 = top 5 % of cells), got {top_share}")
        values = surface[valid]
        if values.size == 0:
            raise HotspotInputError("the surface has no cells inside the study area, so there are no hotspots to draw")
        n_selected = max(1, int(math.ceil(top_share * values.size)))
        cutoff = float(np.partition(values, values.size - n_selected)[values.size - n_selected])
    else:
        raise HotspotInputError("give a hotspot share (e.g. 0.05) or a density threshold")
    selected = valid & (surface >= cutoff) & (surface > 0)

    labels, n_labels = ndimage.label(selected)
    empty = gpd.GeoDataFrame({c: [] for c in COLUMNS[:-1]}, geometry=[], crs=grid.crs)
    if n_labels == 0:
        return empty
    index = np.arange(1, n_labels + 1)

    if x is not None and y is not None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        w = np.ones(x.size) if weights is None else np.asarray(weights, dtype=np.float64)
        if x.shape != y.shape or w.shape != x.shape:
            raise HotspotInputError(f"x, y and weights have different lengths ({x.size}, {y.size}, {w.size})")
        row, col, inside = grid.cell_index(x, y)
        point_label = np.zeros(x.size, dtype=np.int64)
        point_label[inside] = labels[row[inside], col[inside]]
        n_points = np.bincount(point_label, weights=w, minlength=n_labels + 1)[1:]
        total = float(w.sum())
    else:
        expected = np.where(valid, density.expected_count(), 0.0)
        n_points = np.asarray(ndimage.sum(expected, labels, index), dtype=np.float64)
        total = float(density.total_weight)

    n_cells = np.bincount(labels.ravel(), minlength=n_labels + 1)[1:]
    peak = np.asarray(ndimage.maximum(surface, labels, index), dtype=np.float64)
    mean = np.asarray(ndimage.mean(surface, labels, index), dtype=np.float64)

    parts: dict[int, list] = {}
    for geom, value in rasterio.features.shapes(labels.astype(np.int32), mask=labels > 0, connectivity=4,
                                                transform=grid.transform):
        parts.setdefault(int(value), []).append(shape(geom))
    geometry = [parts[i][0] if len(parts[i]) == 1 else shapely.union_all(parts[i]) for i in index]

    frame = gpd.GeoDataFrame(
        {
            "area_m2": n_cells * grid.cell_area_m2,
            "n_points": n_points,
            "share_of_points": n_points / total if total > 0 else np.full(n_labels, np.nan),
            "peak_value": peak,
            "mean_value": mean,
        },
        geometry=geometry,
        crs=grid.crs,
    )
    frame = frame.sort_values(["n_points", "peak_value"], ascending=False, kind="stable").reset_index(drop=True)
    frame.insert(0, "hotspot_id", np.arange(1, n_labels + 1))
    frame.insert(0, "rank", np.arange(1, n_labels + 1))
    if records is not None and len(records):
        from hotspot.core.naming import name_places

        names = name_places(records, frame.geometry)
    else:
        names = [f"Hotspot {i}" for i in range(1, n_labels + 1)]
    frame.insert(2, "name", names)
    return frame
