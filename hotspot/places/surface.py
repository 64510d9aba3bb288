"""Hotspot areas from a density surface: the highest cells dissolved into polygons, ranked by the points they hold."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.stats.kde import DensitySurface

if TYPE_CHECKING:
    import geopandas as gpd

    from hotspot.ingest.study import Study
    from hotspot.io.provenance import Provenance

COLUMNS = (
    "rank",
    "hotspot_id",
    "name",
    "area_m2",
    "n_points",
    "share_of_points",
    "peak_value",
    "mean_value",
    "geometry",
)


def surface_hotspots(
    density,
    *,
    area_share: float | None = 0.05,
    threshold: float | None = None,
    x=None,
    y=None,
    weights=None,
    records=None,
):
    """Dissolve the highest cells of a surface into hotspot polygons, ranked by the points inside.

    Parameters
    ----------
    density : hotspot.stats.kde.DensitySurface
        The surface (NaN cells are outside the study area and never selected).
    area_share : float, default 0.05
        Select the cells in the top ``area_share`` of the reported cells by value (0.05 = the
        highest 5 % of cells, i.e. 5 % of the mapped area). Cells tied with the cut-off value
        are all kept, and cells with zero density never are. Ignored when ``threshold`` is given.
    threshold : float, optional
        Instead of ``area_share``: select cells whose value is at least this, in the surface's
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
    elif area_share is not None:
        area_share = float(area_share)
        if not (0.0 < area_share <= 1.0):
            raise HotspotInputError(
                f"--hotspot-share must be above 0 and at most 1 (0.05 = top 5 % of cells), got {area_share}"
            )
        values = surface[valid]
        if values.size == 0:
            raise HotspotInputError("the surface has no cells inside the study area, so there are no hotspots to draw")
        n_selected = max(1, int(math.ceil(area_share * values.size)))
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
    for geom, value in rasterio.features.shapes(
        labels.astype(np.int32), mask=labels > 0, connectivity=4, transform=grid.transform
    ):
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


@dataclass(frozen=True)
class DensityMap:
    """What ``hotspot kde`` makes: a study's density surface and, when asked, its hotspot polygons.

    Attributes
    ----------
    density : hotspot.stats.kde.DensitySurface
        The surface on the study grid.
    hotspots : geopandas.GeoDataFrame or None
        :func:`surface_hotspots` of the highest ``area_share`` of cells (None when not asked for).
    area_share : float or None
        Share of the mapped cells drawn as hotspots.
    study_area : str
        The study area in words (:meth:`hotspot.ingest.study.Study.describe_area`).
    study_area_km2 : float
        Its area, km².
    """

    density: DensitySurface
    hotspots: gpd.GeoDataFrame | None
    area_share: float | None
    study_area: str
    study_area_km2: float

    def write(self, path: str | Path, *, provenance: Provenance | None = None) -> list[Path]:
        """The GeoTIFF at ``path`` and, with hotspots, layer ``kde_hotspots`` of a GeoPackage beside it."""
        from hotspot.io.outputs import write_geopackage

        path = Path(path)
        written = self.density.write(path, provenance=provenance)
        if self.hotspots is not None:
            written.append(
                write_geopackage(
                    path.with_suffix(".gpkg"),
                    {"kde_hotspots": self.hotspots},
                    styles={"kde_hotspots": "kde_hotspots"},
                    provenance=provenance,
                )
            )
        return written

    def summary(self, width: int = 100) -> list[str]:
        """The surface's lines with the study area, then the hotspots, largest share of crimes first."""
        from hotspot.core.result import PRINTED_ROWS

        first, *rest = self.density.summary(width)
        lines = [first, self.study_area, *rest]
        if self.hotspots is None:
            return lines
        spots = self.hotspots
        covered_km2 = float(spots["area_m2"].sum()) / 1e6
        lines.append(
            f"{len(spots):,} hotspot polygon(s) in the top {self.area_share:.1%} of cells cover "
            f"{covered_km2:,.2f} km2 ({covered_km2 / self.study_area_km2:.2%} of the study area) and hold "
            f"{spots['share_of_points'].sum():.1%} of the crimes"
        )
        for spot in spots.head(PRINTED_ROWS).itertuples():
            line = (
                f"  {spot.rank:>3}. {spot.name}: {spot.area_m2 / 1e6:,.2f} km², {spot.n_points:,.0f} records "
                f"({spot.share_of_points:.1%})"
            )
            lines.append(line if len(line) <= width else line[: width - 1] + "…")
        if len(spots) > PRINTED_ROWS:
            lines.append(f"  ... and {len(spots) - PRINTED_ROWS:,} more in the kde_hotspots layer")
        return lines


def density_map_for_study(study: Study, *, area_share: float | None = None, progress=None, **options) -> DensityMap:
    """The kde command in one call: :func:`hotspot.stats.density.density_for_study` with ``options``
    (``cell_size_m``, ``bandwidth_m``, ``bandwidth_rule``, ``kernel``, ``units``, ``edge_correction``,
    ``binned``), and with ``area_share`` the hotspots covering that share of the cells, named from the records."""
    from hotspot.ingest.validate import check_share
    from hotspot.stats.density import density_for_study

    check_share(area_share, "--hotspot-share")
    density = density_for_study(study, progress=progress, **options)
    hotspots = None
    if area_share is not None:
        frame = study.records.frame
        hotspots = surface_hotspots(
            density, area_share=area_share, x=frame["x"].to_numpy(), y=frame["y"].to_numpy(), records=frame
        )
    return DensityMap(
        density=density,
        hotspots=hotspots,
        area_share=area_share,
        study_area=study.describe_area(),
        study_area_km2=study.area_km2,
    )
