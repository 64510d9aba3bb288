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
    """

    records: Records
    boundaries: object | None = None
    features: dict = field(default_factory=dict)
    demo: object | None = None
    crs: str = "EPSG:27700"

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
) -> Study:
    """Read records (or the demo town), read boundaries, and apply every filter.

    Parameters
    ----------
    inputs : sequence of paths
        Record files, folders or zips; empty means the embedded demo town.
    boundaries : path, optional
        Area polygons; records farther than ``BOUNDARY_TOLERANCE_M`` (20 m) outside them are
        rejected as ``outside_study_area``. Default: no clipping (the demo clips to its outline).
    crime_types, date_from, date_to, hours, weekdays
        Filters, see :func:`hotspot.ingest.apply_filters`.
    crs : str, optional
        Projected CRS to work in (metres). Default: British National Grid in Great Britain,
        else the data's UTM zone.
    progress : callable, optional
        ``progress(stage, done, total)``.
    """
    from hotspot.ingest import apply_filters, read_records

    demo = None
    features: dict = {}
    if inputs:
        records = read_records(list(inputs), crs=crs, progress=progress)
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
    return Study(records=records, boundaries=areas, features=features, demo=demo, crs=records.crs)
