"""A study: the records, the study area and the risk features one command works on.

Every command starts here, so reading, filtering and clipping behave the same everywhere,
and with no input the embedded demo town stands in for real data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from hotspot.errors import HotspotInputError
from hotspot.progress import ProgressCallback
from hotspot.records import Records

MAIN_BODY_CELL_M = 5000.0
"""Cell side, metres, of the coarse grid that finds the main body of records when no boundaries are given."""
MAIN_BODY_MIN_SHARE = 1e-4
"""A coarse cell belongs to the main body when it holds at least this share of the records (and 3 records)."""

BOUNDARY_TOLERANCE_M = 20.0
"""Records within this many metres of the boundaries still count as inside.

ONS generalised boundaries (BGC) are simplified to 20 m and police.uk snap points sit on
boundary roads, so a strict point-in-polygon test would reject genuine records."""


@dataclass
class Study:
    """What a command analyses.

    Attributes
    ----------
    records : Records
        Kept crime records (metres in ``crs``) and the ledger of rejected rows.
    boundaries : GeoDataFrame or None
        Areas with ``area_code``, ``area_name``, ``geometry`` in ``crs``; None when not given.
    features : dict of str to GeoDataFrame
        Risk-feature layers (the demo's when running on the demo town).
    demo : DemoTown or None
        The demo town when no input was given.
    crs : str
        The projected CRS (metres) everything is in.
    notes : list of str
        What the reader should know about how the study was formed.
    """

    records: Records
    boundaries: object | None = None
    features: dict = field(default_factory=dict)
    demo: object | None = None
    crs: str = "EPSG:27700"
    notes: list = field(default_factory=list)

    @property
    def is_demo(self) -> bool:
        return self.demo is not None

    def study_area(self):
        """The study-area geometry: the union of the boundaries, the demo outline, or None."""
        if self.boundaries is not None:
            return self.boundaries.geometry.union_all()
        if self.demo is not None:
            return self.demo.outline
        return None


def load_study(
    inputs: Sequence[str | Path],
    *,
    boundaries: str | Path | None = None,
    crime_types: Sequence[str] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    hours: str | None = None,
    weekdays: str | Sequence[str] | None = None,
    crs: str | None = None,
    progress: ProgressCallback | None = None,
    reading: dict | None = None,
) -> Study:
    """Read records (or the demo town), read boundaries, and apply every filter.

    Parameters
    ----------
    inputs : sequence of paths
        Record files, folders or zips; empty means the embedded demo town.
    boundaries : path, optional
        Area polygons; records farther than ``BOUNDARY_TOLERANCE_M`` (20 m) outside them are
        rejected as ``outside_study_area``. Default: the main body of the records
        (:func:`main_body_mask`); records far from it are rejected as outside the study area.
    crime_types, date_from, date_to, hours, weekdays
        Filters, see :func:`hotspot.ingest.apply_filters`.
    crs : str, optional
        Projected CRS to work in (metres). Default: British National Grid in Great Britain,
        else the data's UTM zone.
    progress : callable, optional
        ``progress(stage, done, total)``.
    reading : dict, optional
        How to read input tables: keyword arguments for :func:`hotspot.ingest.read_records`
        (``lon_column``, ``x_column``, ``date_column``, ``input_crs``, ``layer``, ...).
    """
    from hotspot.ingest import apply_filters, read_records

    demo = None
    features: dict = {}
    if reading and not inputs:
        raise HotspotInputError(f"--{next(iter(reading)).replace('_', '-')} describes input tables, but no INPUT was given")
    if inputs:
        records = read_records(list(inputs), crs=crs, progress=progress, **(reading or {}))
    else:
        from boundaries.demo import demo_town

        demo = demo_town()
        records = demo.records()
        features = dict(demo.features)
        if crs is not None and crs.upper() != demo.crs:
            raise HotspotInputError(f"--crs {crs}: the demo town is in {demo.crs}; omit --crs when running on the demo")

    areas = None
    if boundaries is not None:
        from boundaries.load import read_boundaries

        areas = read_boundaries(boundaries, crs=records.crs)
    elif demo is not None:
        areas = demo.lsoas

    study_area = areas if boundaries is not None else None
    records = apply_filters(
        records, crime_types=crime_types, date_from=date_from, date_to=date_to, hours=hours,
        weekdays=weekdays, study_area=study_area, tolerance_m=BOUNDARY_TOLERANCE_M,
    )
    notes: list[str] = []
    if study_area is None and demo is None:
        records, n_far = _keep_main_body(records)
        if n_far:
            notes.append(
                f"{n_far:,} records lie far from the main body of the data (police.uk places some crimes a force "
                "records elsewhere in the country) and were rejected as outside the study area; give --boundaries "
                "to set the study area yourself"
            )
    return Study(records=records, boundaries=areas, features=features, demo=demo, crs=records.crs, notes=notes)


def main_body_mask(x, y, cell_m: float = MAIN_BODY_CELL_M, min_share: float = MAIN_BODY_MIN_SHARE, weights=None):
    """Which points belong to the main body of a point set.

    Points are counted on a coarse grid (``cell_m`` metres, default 5 km); cells holding at
    least ``min_share`` of the points (and at least 3) are occupied; the 8-connected cluster of
    occupied cells holding most points, grown by one cell, is the main body. Isolated records
    far away (a Bedfordshire crime located in Cornwall) fall outside it, while records just over
    a force boundary stay in. ``weights`` (records per point, for merged locations) count
    instead of points when given.
    """
    import numpy as np
    from scipy import ndimage

    from hotspot.grid import Grid

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return np.ones(0, dtype=bool)
    coarse = Grid.from_bounds(x.min(), y.min(), x.max(), y.max(), cell_m, max_cells=10**9)
    counts = coarse.count(x, y, weights)
    total = x.size if weights is None else float(np.sum(weights))
    occupied = counts >= max(3.0, min_share * total)
    if not occupied.any():
        return np.ones(x.size, dtype=bool)
    labels, n = ndimage.label(occupied, structure=np.ones((3, 3), dtype=int))
    mass = ndimage.sum(counts, labels, index=np.arange(1, n + 1))
    body = labels == (int(np.argmax(mass)) + 1)
    body = ndimage.binary_dilation(body, structure=np.ones((3, 3), dtype=bool))
    flat, on_grid = coarse.flat_index(x, y)
    keep = np.zeros(x.size, dtype=bool)
    keep[on_grid] = body.ravel()[flat[on_grid]]
    return keep


def _keep_main_body(records: Records) -> tuple[Records, int]:
    """Reject records outside the main body of the data as outside the study area."""
    frame = records.frame
    keep = main_body_mask(frame["x"].to_numpy(), frame["y"].to_numpy())
    n_far = int((~keep).sum())
    if n_far == 0:
        return records, 0
    far = frame.loc[~keep].copy()
    far.insert(0, "reason", "outside_study_area")
    return records.with_frame(frame.loc[keep], far), n_far
