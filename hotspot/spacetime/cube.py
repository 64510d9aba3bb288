"""The space-time cube: records counted per location (grid cell or area) and per time slice.

Slices are calendar months (``YYYY-MM``, police.uk's resolution), ISO weeks (Monday to Sunday) or
days. Every slice between the first and the last record is present, empty ones as zeros, so the
series of every location is equally long and evenly spaced, as the Mann-Kendall test needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError

SLICES = ("month", "week", "day")
"""Time-slice lengths a cube can be built with."""

MAX_BINS = 50_000_000
"""Largest cube (slices x locations) built: each float64 array of the analysis is then 400 MB."""


def _check_size(n_slices: int, n_locations: int, slice: str) -> None:
    bins = n_slices * n_locations
    if bins > MAX_BINS:
        raise HotspotInputError(
            f"the space-time cube would hold {bins:,} bins ({n_slices:,} {slice}s x {n_locations:,} locations; "
            f"limit {MAX_BINS:,}); use a longer --slice, a shorter period (--from/--to) or a larger --cell-size"
        )


@dataclass(frozen=True)
class SpaceTimeCube:
    """Counts per (time slice, location).

    Attributes
    ----------
    counts : float64 array
        ``(n_slices, nrows, ncols)`` on a grid or ``(n_slices, n_areas)`` on areas.
    labels : tuple of str
        Each slice's label: ``YYYY-MM`` (months), ``YYYY-MM-DD`` of the Monday (weeks) or the day.
    slice : str
        "month", "week" or "day".
    grid : hotspot.core.grid.Grid or None
        The grid (grid cubes).
    mask : bool array or None
        ``(nrows, ncols)``: cells in the study area (grid cubes).
    areas : GeoDataFrame or None
        The areas, in the order of the last axis (area cubes).
    n_records : int
        Records counted into the cube.
    n_outside : int
        Records that fell outside every location (off the grid, outside the mask or in no area); they
        are not counted and reported in ``notes`` by the callers.
    """

    counts: np.ndarray
    labels: tuple
    slice: str
    grid: object | None = None
    mask: np.ndarray | None = None
    areas: object | None = None
    n_records: int = 0
    n_outside: int = 0

    @property
    def n_slices(self) -> int:
        return int(self.counts.shape[0])

    @property
    def on_grid(self) -> bool:
        return self.grid is not None

    def location_series(self) -> np.ndarray:
        """``(n_locations, n_slices)``: the series of every location in the study area (grid: mask order, row-major)."""
        if self.on_grid:
            return self.counts[:, self.mask].T.copy()
        return self.counts.T.copy()


def slice_index(frame: pd.DataFrame, slice: str = "month") -> tuple[np.ndarray, tuple]:
    """Each record's slice number (0 = the first slice) and the labels of every slice.

    Parameters
    ----------
    frame : DataFrame
        A records frame with ``month`` (``YYYY-MM``) and ``datetime``.
    slice : {"month", "week", "day"}, default "month"
        Weeks run Monday to Sunday and are labelled by their Monday. Weeks and days need dates
        (not police.uk's month-only records).
    """
    if slice not in SLICES:
        raise HotspotInputError(f"--slice must be one of {', '.join(SLICES)}, got {slice!r}")
    if len(frame) == 0:
        raise HotspotInputError("no records to build a space-time cube from; check the input and the filters")
    if slice == "month":
        text = frame["month"].astype(str)
        ok = text.str.fullmatch(r"\d{4}-\d{2}")
        if not ok.all():
            raise HotspotInputError(f"{int((~ok).sum()):,} records have no month (YYYY-MM); they cannot enter the cube")
        ordinal = text.str[:4].astype(np.int64).to_numpy() * 12 + text.str[5:7].astype(np.int64).to_numpy() - 1
        first = int(ordinal.min())
        index = ordinal - first
        labels = tuple(f"{(first + k) // 12:04d}-{(first + k) % 12 + 1:02d}" for k in range(int(index.max()) + 1))
        return index, labels
    when = pd.to_datetime(frame["datetime"])
    if when.isna().all():
        raise HotspotInputError(
            f"--slice {slice} needs records with dates; these have months only (police.uk): use --slice month"
        )
    if when.isna().any():
        raise HotspotInputError(f"--slice {slice}: {int(when.isna().sum()):,} records have no date; use --slice month")
    day = when.dt.normalize()
    if slice == "week":
        day = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
        step = 7
    else:
        step = 1
    first = day.min()
    index = ((day - first).dt.days // step).to_numpy(dtype=np.int64)
    labels = tuple(pd.date_range(first, day.max(), freq=f"{step}D").strftime("%Y-%m-%d"))
    return index, labels


def cube_on_grid(records, grid, mask=None, *, slice: str = "month") -> SpaceTimeCube:
    """Count records per grid cell and slice.

    Parameters
    ----------
    records : hotspot.core.records.Records
        Crime points, metres.
    grid : hotspot.core.grid.Grid
        The study grid.
    mask : bool array (nrows, ncols) or None, default None
        Cells in the study area; None: every cell.
    slice : {"month", "week", "day"}, default "month"
    """
    frame = records.frame
    t, labels = slice_index(frame, slice)
    mask = np.ones(grid.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    _check_size(len(labels), grid.size, slice)
    flat, inside = grid.flat_index(frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64))
    inside = inside.copy()
    inside[inside] = mask.ravel()[flat[inside]]
    counts = np.bincount(t[inside] * grid.size + flat[inside], minlength=len(labels) * grid.size)
    counts = counts.astype(np.float64).reshape(len(labels), grid.nrows, grid.ncols)
    return SpaceTimeCube(
        counts=counts,
        labels=labels,
        slice=slice,
        grid=grid,
        mask=mask,
        n_records=int(inside.sum()),
        n_outside=int((~inside).sum()),
    )


def cube_on_areas(records, areas, *, slice: str = "month") -> SpaceTimeCube:
    """Count records per area (row of ``areas``) and slice, by the one rule every command uses
    (:func:`hotspot.core.assign.assign_records`: the record's own LSOA code, else its position within 20 m)."""
    from hotspot.core.assign import assign_records

    frame = records.frame
    t, labels = slice_index(frame, slice)
    _check_size(len(labels), len(areas), slice)
    area, _, _, _ = assign_records(frame, areas)
    ok = area >= 0
    n_areas = len(areas)
    counts = np.bincount(t[ok] * n_areas + area[ok], minlength=len(labels) * n_areas)
    counts = counts.astype(np.float64).reshape(len(labels), n_areas)
    return SpaceTimeCube(
        counts=counts,
        labels=labels,
        slice=slice,
        areas=areas.reset_index(drop=True),
        n_records=int(ok.sum()),
        n_outside=int((~ok).sum()),
    )
