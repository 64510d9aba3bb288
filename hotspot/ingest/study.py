"""A study: the records, the study area and the risk features one command works on.

Every command starts here, so reading, filtering and clipping behave the same everywhere,
and with no input the embedded demo town stands in for real data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hotspot.core.assign import DEFAULT_TOLERANCE_M
from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import ProgressCallback
from hotspot.core.records import Records

MAIN_BODY_CELL_M = 5000.0
"""Cell side, metres, of the coarse grid that finds the main body of records when no boundaries are given."""
MAIN_BODY_MIN_SHARE = 1e-4
"""A coarse cell belongs to the main body when it holds at least this share of the records (and 3 records)."""

BOUNDARY_TOLERANCE_M = DEFAULT_TOLERANCE_M
"""Records within this many metres of the boundaries still count as inside.

ONS generalised boundaries (BGC) are simplified to 20 m and police.uk snap points sit on
boundary roads, so a strict point-in-polygon test would reject genuine records."""

AREA_CELL_M = 200.0
"""Cell side, metres, of the raster that outlines the study area when no boundaries are given."""
AREA_CLOSING_M = 2000.0
"""Radius, metres, of the morphological closing that joins the cells holding records into one area.

Gaps narrower than about twice this (fields between villages) become part of the study area;
the outer edge does not grow. On the shared Bedfordshire data this gives 1,051 km2 for the
1,235 km2 county (99.5 % of it inside the county); on the City of London 3.5 km2 for 2.9 km2."""
FORCE_AREA_MIN_RELATIVE = 0.05
"""An LSOA's local authority is part of the force area when it holds at least this share of the
records of the busiest local authority (police.uk names every LSOA "<local authority> <code>")."""

DEFAULT_CELL_SIZE_M = 100.0
"""Default grid cell side, metres, for every command: street-level places a patrol can cover."""


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
    area : shapely geometry or None
        The study area every grid, budget and share refers to: the union of the boundaries, the
        demo town's outline, or the main body of the records (:func:`study_area_from_records`).
    area_rule : str
        How ``area`` was formed, in words.
    """

    records: Records
    boundaries: object | None = None
    features: dict = field(default_factory=dict)
    demo: object | None = None
    crs: str = "EPSG:27700"
    notes: list = field(default_factory=list)
    area: object | None = None
    area_rule: str = ""

    @property
    def is_demo(self) -> bool:
        return self.demo is not None

    def study_area(self):
        """The study-area geometry (see ``area``); the boundaries' union when only those were set."""
        if self.area is not None:
            return self.area
        if self.boundaries is not None:
            return self.boundaries.geometry.union_all()
        if self.demo is not None:
            return self.demo.outline
        return None

    @property
    def area_km2(self) -> float:
        """Size of the study area, km2 (NaN when there is none)."""
        area = self.study_area()
        return float(area.area) / 1e6 if area is not None else float("nan")

    def grid(
        self, cell_size_m: float = DEFAULT_CELL_SIZE_M, *, pad_m: float = 0.0, bytes_per_cell: float | None = None
    ):
        """The grid every command analyses this study on, and its study-area mask.

        One rule for every command: a ``cell_size_m`` (metres) grid over the study area, grown
        to hold every kept record (records within the boundary tolerance sit just outside), padded by
        ``pad_m`` metres; the mask holds cells whose centre is inside the study area plus any
        cell holding a record. Returns ``(Grid, mask)``. ``bytes_per_cell``: the analysis's working
        memory per cell, checked against the memory available (see :meth:`hotspot.core.grid.Grid.from_bounds`).
        """
        import numpy as np

        from hotspot.core.grid import Grid

        frame = self.records.frame
        x = frame["x"].to_numpy(np.float64)
        y = frame["y"].to_numpy(np.float64)
        area = self.study_area()
        if area is None:
            if x.size == 0:
                raise HotspotInputError("no records to build a grid over; check the input and the filters")
            grid = Grid.from_points(x, y, cell_size_m, crs=self.crs, pad_m=pad_m, bytes_per_cell=bytes_per_cell)
            return grid, np.ones(grid.shape, dtype=bool)
        xmin, ymin, xmax, ymax = area.bounds
        if x.size:
            xmin, ymin = min(xmin, float(x.min())), min(ymin, float(y.min()))
            xmax, ymax = max(xmax, float(x.max())), max(ymax, float(y.max()))
        grid = Grid.from_bounds(
            xmin, ymin, xmax, ymax, cell_size_m, crs=self.crs, pad_m=pad_m, bytes_per_cell=bytes_per_cell
        )
        mask = _area_mask(grid, area)
        if x.size:
            mask |= grid.count(x, y) > 0
        return grid, mask

    def out_of_area(self) -> int:
        """Records placed outside the force or study area (rejected as such) that the kept records' filters
        would otherwise have kept: the same crime types and months. Needs assessments report these on their own line."""
        rejected = self.records.rejected
        if rejected is None or len(rejected) == 0 or "reason" not in rejected:
            return 0
        out = rejected[rejected["reason"].isin(("outside_force_area", "outside_study_area"))]
        frame = self.records.frame
        for column in ("crime_type", "month"):
            if column in out and column in frame and len(frame):
                out = out[out[column].isin(frame[column].unique())]
        return int(len(out))

    def describe_area(self) -> str:
        """One line: what the study area is and how big, e.g. ``"study area: the boundaries (1,235.3 km2)"``."""
        if self.study_area() is None:
            return "study area: the records' extent"
        return f"study area: {self.area_rule or 'the boundaries'} ({self.area_km2:,.1f} km2)"


def _area_mask(grid, area):
    """``grid.mask_from_geometry(area)``, kept in the parsed-input cache: every command on the same study asks for
    the same mask (Bedfordshire at 100 m: two GDAL rasterisations and the outline's exact test, ~7-14 ms; read
    back ~0.2 ms)."""
    import shapely

    from hotspot.ingest.cache import load_mask, mask_key, store_mask

    key = mask_key(shapely.to_wkb(area), grid)
    mask = load_mask(key, grid.shape)
    if mask is None:
        mask = grid.mask_from_geometry(area)
        store_mask(key, mask)
    return mask


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
    demo=None,
) -> Study:
    """Read records (or a demo scenario's), form the study area, and apply every filter.

    The study area is the same for every crime type, period and time window of a run, because it
    is formed from all the records read, before any filter:

    - with ``boundaries``: their union; records farther than ``BOUNDARY_TOLERANCE_M`` (20 m)
      outside are rejected as ``outside_study_area``;
    - on the demo town: its outline;
    - otherwise the main body of the records (:func:`study_area_from_records`): records placed in
      another force's local authority are rejected as ``outside_force_area`` and records far from
      the main body as ``outside_study_area``.

    Parameters
    ----------
    inputs : sequence of paths
        Record files, folders or zips; empty means the embedded demo town.
    boundaries : path, optional
        Area polygons (LSOAs, wards, a force outline).
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
    demo : demo scenario, optional
        What stands in when no input is given: an object with ``records()``, ``features``,
        ``lsoas``, ``outline`` and ``crs``, such as :func:`boundaries.demo.town.demo_town`'s. The
        demo is passed in rather than built here so this layer never imports the demo generator
        (:func:`boundaries.demo.demo_study` does both steps).
    """
    from hotspot.ingest import apply_filters
    from hotspot.ingest.reader import plan_records, read_planned

    features: dict = {}
    if reading and not inputs:
        raise HotspotInputError(
            f"--{next(iter(reading)).replace('_', '-')} describes input tables, but no INPUT was given"
        )
    main_body = None
    if inputs:
        demo = None
        plan = plan_records(list(inputs), crs=crs, **(reading or {}))
        if boundaries is None:  # the main body of these records, kept in the parsed-input cache with them
            main_body = _cached_main_body(plan, progress)
        records = main_body[0] if main_body else read_planned(plan, progress)
    else:
        if demo is None:
            raise HotspotInputError("no INPUT given: name record files or folders (or run on the demo town)")
        records = demo.records()
        features = dict(demo.features)
        if crs is not None and crs.upper() != demo.crs:
            raise HotspotInputError(f"--crs {crs}: the demo town is in {demo.crs}; omit --crs when running on the demo")

    notes: list[str] = []
    areas = None
    if boundaries is not None:
        from hotspot.ingest.boundaries import read_boundaries

        areas = read_boundaries(boundaries, crs=records.crs)
        area, area_rule = areas.geometry.union_all(), f"the boundaries in {Path(boundaries).name}"
    elif demo is not None:
        areas = demo.lsoas
        area, area_rule = demo.outline, "the demo town"
    else:
        records, area, area_rule, far_notes = main_body or _area_from_records(records)
        notes.extend(far_notes)

    records = apply_filters(
        records,
        crime_types=crime_types,
        date_from=date_from,
        date_to=date_to,
        hours=hours,
        weekdays=weekdays,
        study_area=areas if boundaries is not None else None,
        tolerance_m=BOUNDARY_TOLERANCE_M,
    )
    return Study(
        records=records,
        boundaries=areas,
        features=features,
        demo=demo,
        crs=records.crs,
        notes=notes,
        area=area,
        area_rule=area_rule,
    )


def _cached_main_body(plan, progress):
    """``_area_from_records`` of the records ``plan`` reads, from the parsed-input cache when these files were
    read so before; else read, formed and kept there. None when the records are not cached (a GIS layer)."""
    import shapely

    from hotspot.core.progress import resolve
    from hotspot.ingest.cache import derived_key, load_records, store_records
    from hotspot.ingest.reader import read_planned

    if plan.key is None:
        return None
    key = derived_key(plan.key, "main body")
    cached = load_records(key, kind="main_body")
    if cached is not None:
        records, extra = cached
        report = resolve(progress)
        report("reading records", 0, len(plan.sources))
        report("reading records", len(plan.sources), len(plan.sources))
        area = shapely.from_wkb(bytes.fromhex(extra["area"])) if extra["area"] else None
        return records, area, extra["rule"], list(extra["notes"])
    # the records alone are not kept: this entry holds them, already split into kept and out of area
    records, area, rule, notes = _area_from_records(read_planned(plan, progress, store=False))
    extra = {"area": shapely.to_wkb(area).hex() if area is not None else "", "rule": rule, "notes": notes}
    store_records(key, records, extra, kind="main_body")
    return records, area, rule, notes


def force_area_mask(lsoa_names, min_relative: float = FORCE_AREA_MIN_RELATIVE):
    """Which records lie in the force's own local authorities, from police.uk LSOA names.

    police.uk names each LSOA "<local authority> <code>" ("Luton 023A"). A local authority is the
    force's when it holds at least ``min_relative`` (default 5 %) of the records of the busiest
    one; the few records police.uk places just over the force boundary fall in neighbouring
    authorities holding well under 1 % (Bedfordshire: 0.07 % at most; City of London: Tower
    Hamlets 1.6 % against the City's 95 %). Records without an LSOA name are kept. Returns a
    boolean array, or None when no record carries an LSOA name.
    """
    import numpy as np
    import pandas as pd

    # the regular expression runs once per distinct name (about a thousand), not once per record
    series = lsoa_names if isinstance(lsoa_names, pd.Series) else pd.Series(lsoa_names, dtype=object)
    if isinstance(series.dtype, pd.CategoricalDtype):  # the records' own column: its codes are the factorisation
        uniques = pd.Index(list(series.cat.categories.astype(object)) + [""], dtype=object)
        codes = series.cat.codes.to_numpy().astype(np.int64)
        codes[codes < 0] = len(uniques) - 1
    else:
        codes, uniques = pd.factorize(series.astype(object).fillna(""))
    names = pd.Series(uniques, dtype=object).astype(str).str.strip()
    authority = names.str.replace(r"\s+\S+$", "", regex=True).to_numpy(dtype=object)
    named_name = (names != "").to_numpy()
    named = named_name[codes] if codes.size else np.zeros(0, dtype=bool)
    if not named.any():
        return None
    # records per authority, counted per distinct name first
    per_name = np.bincount(codes[named], minlength=len(uniques))
    counts = pd.Series(per_name, index=authority).groupby(level=0).sum()
    counts = counts[counts > 0]
    force = set(counts.index[counts >= min_relative * counts.max()])
    own = np.array([a in force for a in authority], dtype=bool)
    return ~named | own[codes]


def study_area_from_records(x, y, *, cell_size_m: float = AREA_CELL_M, closing_m: float = AREA_CLOSING_M):
    """The main body of a set of record locations as a polygon (metres in, metres out).

    Cells of ``cell_size_m`` metres (default 200) that hold a record are joined by a morphological
    closing with a disk of ``closing_m`` metres (default 2 km) and their holes filled, so the
    area covers the towns, villages and the land between them where records are made, without
    growing past the outermost records. Returns a shapely (Multi)Polygon, or None without points.
    """
    import numpy as np
    import shapely
    from rasterio import features as rio_features
    from scipy import ndimage

    from hotspot.core.grid import Grid

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return None
    reach = int(np.ceil(closing_m / cell_size_m))
    grid = Grid.from_points(x, y, cell_size_m, pad_m=(reach + 1) * cell_size_m, crs="")
    occupied = grid.count(x, y) > 0
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disk = (dx * dx + dy * dy) * cell_size_m * cell_size_m <= closing_m * closing_m
    body = ndimage.binary_fill_holes(ndimage.binary_closing(occupied, structure=disk) | occupied)
    shapes = [
        shapely.geometry.shape(geom)
        for geom, value in rio_features.shapes(body.astype(np.uint8), mask=body, transform=grid.transform)
        if value == 1
    ]
    return shapely.union_all(shapes)


def _area_from_records(records: Records):
    """Reject records outside the force's authorities and far from the main body; outline what is left."""
    import numpy as np
    import pandas as pd

    from hotspot.core.records import reason_column

    notes: list[str] = []
    frame = records.frame
    n = len(frame)
    # one selection per outcome (kept, out of force area, far away): the records are large, copies are not free
    force = force_area_mask(frame["lsoa_name"]) if "lsoa_name" in frame else None
    if force is None:
        force = np.ones(n, dtype=bool)
    body = np.zeros(n, dtype=bool)
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    body[force] = main_body_mask(x[force], y[force])
    keep = force & body
    del x, y
    rejected = []
    n_out = int(n - force.sum())
    if n_out:
        out = frame.loc[~force]
        out.insert(0, "reason", reason_column("outside_force_area", n_out))
        rejected.append(out)
        notes.append(
            f"{n_out:,} records ({n_out / max(n, 1):.1%}) are placed in LSOAs of other forces' local "
            "authorities (police.uk places some crimes just over the force boundary); they are counted as out of "
            "area and left out of the maps"
        )
    n_far = int(force.sum() - keep.sum())
    if n_far:
        far = frame.loc[force & ~body]
        far.insert(0, "reason", reason_column("outside_study_area", n_far))
        rejected.append(far)
        notes.append(
            f"{n_far:,} records lie far from the main body of the data (more than one 5 km cell from it, e.g. a "
            "crime placed at the other end of the country) and were left out as outside the study area; give "
            "--boundaries to set the study area yourself"
        )
    if rejected:
        frame = frame.loc[keep]
        records = records.with_frame(
            frame, pd.concat(rejected, ignore_index=True) if len(rejected) > 1 else rejected[0]
        )
        frame = records.frame
    area = study_area_from_records(frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64))
    rule = (
        f"the main body of the records (200 m cells holding records, joined across gaps under "
        f"{2 * AREA_CLOSING_M / 1000:g} km)"
    )
    return records, area, rule, notes


def main_body_mask(x, y, cell_size_m: float = MAIN_BODY_CELL_M, min_share: float = MAIN_BODY_MIN_SHARE, weights=None):
    """Which points belong to the main body of a point set.

    Points are counted on a coarse grid (``cell_size_m`` metres, default 5 km); cells holding at
    least ``min_share`` of the points (and at least 3) are occupied; the 8-connected cluster of
    occupied cells holding most points, grown by one cell, is the main body. Isolated records
    far away (a Bedfordshire crime located in Cornwall) fall outside it, while records just over
    a force boundary stay in. ``weights`` (records per point, for merged locations) count
    instead of points when given.
    """
    import numpy as np
    from scipy import ndimage

    from hotspot.core.grid import Grid

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return np.ones(0, dtype=bool)
    coarse = Grid.from_bounds(x.min(), y.min(), x.max(), y.max(), cell_size_m, max_cells=10**9)
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
