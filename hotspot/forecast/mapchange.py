"""police.uk anonymisation-map changes: found from the records, and older records carried onto the new map.

police.uk publishes every crime at one of a fixed set of anonymisation ("snap") points. From
month to month about two thirds of a force's records sit on a point used the month before. When
police.uk replaces the map (Bedfordshire: 2022-07) that share collapses (to 4 % there), and
counts at the old points forecast nothing: those points no longer receive crimes.

Rule
----
The **reused share** of month m is the share of its records whose exact coordinates also
carry a record in one of the :data:`REUSE_WINDOW_MONTHS` (12) months before it (months of the
current map only: the window restarts at a change). Month m is a
**map change** when its reused share is below :data:`CHANGE_RATIO` (1/3) of the mean share of
the (up to) 3 months before it on the same map, that mean is at least :data:`SNAPPED_MIN_REUSE` (0.2: locations
recur, the data are snapped to a map) and month m has at least :data:`CHANGE_MIN_RECORDS` (20)
records. The rule is relative so it works for sparse crime types too (Bedfordshire burglary
reuses about 45 % of recent locations; in 2022-07, 2 %). Each flag uses months up to m only,
so a forecast made after month m may use it without seeing the future.

Carrying older records
----------------------
:func:`carry_onto_current` moves each record older than the latest change to the nearest
*current* location (a location with a record since the change, up to the forecast origin)
within ``tolerance_m`` metres, preferring the nearest such location in the record's own LSOA
among its 8 nearest; records with no current location within the tolerance are not carried
(and counted). Measured on the Bedfordshire data (docs/methods.md), carrying at 100 m beats
both dropping the old months and keeping them at a lower weight.

The current locations are best taken from every record of the force, not only the crime types
being analysed: :func:`snap_points` adds the rows a crime-type, date or time filter set aside
(they are still snap points of the same map). For one sparse type this matters: Bedfordshire
robbery's own current points take in 36 % of its older records, all types' points 89 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hotspot.core.records import Records
from hotspot.forecast.months import month_index, month_text

REUSE_WINDOW_MONTHS = 12
"""A location is reused when it carried a record in one of this many earlier months."""
CHANGE_RATIO = 1.0 / 3.0
"""A month starts a new map when its reused share falls below this fraction of the 3 months before."""
SNAPPED_MIN_REUSE = 0.2
"""The months before a change must reuse at least this share on average (the data are snapped)."""
CHANGE_MIN_RECORDS = 20
"""Months with fewer records are never flagged (too few to tell)."""
CARRY_TOLERANCE_M = 100.0
"""Default distance, metres, within which an older record is carried to a current location."""
CARRY_NEIGHBOURS = 8
"""Current locations searched per older record when preferring one in the record's own LSOA."""


@dataclass(frozen=True)
class MapChanges:
    """Month-by-month reuse of locations and the anonymisation-map changes found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per month with records: month, n_records, n_locations, reused_share (share of
        the month's records on a location used in the 12 months before; NaN for the first
        month), change (bool).
    changes : tuple of str
        The months (``YYYY-MM``) that start a new map, oldest first.
    """

    table: pd.DataFrame
    changes: tuple

    def latest_before(self, month: int) -> int | None:
        """The latest change month (integer) strictly before integer ``month``, or None."""
        found = [int(c[:4]) * 12 + int(c[5:7]) - 1 for c in self.changes]
        found = [m for m in found if m < month]
        return int(max(found)) if found else None

    def describe(self) -> str:
        """One line for reports: the changes and the reuse on either side, or that none was found."""
        if not self.changes:
            return "no police.uk anonymisation-map change found (month-to-month reuse of locations stayed steady)"
        rows = self.table.set_index("month")
        usual = float(rows.loc[~rows["change"], "reused_share"].median())
        parts = [
            f"{m} (only {rows.loc[m, 'reused_share']:.0%} of records on a location used in the 12 months before, "
            f"usually {usual:.0%})"
            for m in self.changes
        ]
        return (
            "police.uk anonymisation map changed in "
            + "; ".join(parts)
            + ": counts spanning it mix two sets of locations; combined chooses from the months before each "
            "forecast whether to keep, drop, down-weight or carry the older records onto the current ones"
        )


def location_keys(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One integer per distinct (x, y) pair, the coordinates rounded to the metre."""
    xr = np.round(np.asarray(x, dtype=np.float64)).astype(np.int64)
    yr = np.round(np.asarray(y, dtype=np.float64)).astype(np.int64)
    combined = (xr - xr.min()) * (int(yr.max() - yr.min()) + 1) + (yr - yr.min()) if xr.size else xr
    _, keys = np.unique(combined, return_inverse=True)
    return keys.ravel()


def detect_map_changes(records: Records) -> MapChanges:
    """Find months where police.uk replaced its anonymisation map (rule in the module docstring).

    Parameters
    ----------
    records : Records
        Records with ``month`` and x/y in metres.

    Returns
    -------
    MapChanges
    """
    frame = records.frame
    columns = ["month", "n_records", "n_locations", "reused_share", "change"]
    if len(frame) == 0:
        return MapChanges(pd.DataFrame(columns=columns), ())
    months = month_index(frame["month"])
    keys = location_keys(frame["x"].to_numpy(), frame["y"].to_numpy())
    first = int(months.min())
    span = int(months.max()) - first + 1
    n_keys = int(keys.max()) + 1
    # Which locations each month used, as a (months x locations) boolean table, and its running window.
    used = np.zeros((span, n_keys), dtype=np.int32)
    used[months - first, keys] = 1
    cumulative = np.vstack([np.zeros((1, n_keys), dtype=np.int32), np.cumsum(used, axis=0)])
    row = months - first
    order = np.argsort(row, kind="stable")
    bounds = np.searchsorted(row[order], np.arange(span + 1))
    n_records = np.diff(bounds)
    share = np.full(span, np.nan)
    change = np.zeros(span, dtype=bool)
    latest = 0  # the row the current map starts at (0: the first month)
    for i in range(1, span):  # months, not records: at most a few hundred
        low = max(i - REUSE_WINDOW_MONTHS, latest)
        k = keys[order[bounds[i] : bounds[i + 1]]]
        if k.size == 0 or n_records[low:i].sum() == 0:
            continue
        share[i] = float(((cumulative[i, k] - cumulative[low, k]) > 0).mean())
        before = share[max(latest + 1, i - 3) : i]
        before = before[np.isfinite(before)]
        if before.size and n_records[i] >= CHANGE_MIN_RECORDS:
            usual = float(before.mean())
            if usual >= SNAPPED_MIN_REUSE and share[i] < CHANGE_RATIO * usual:
                change[i] = True
                latest = i
    table = pd.DataFrame(
        {
            "month": [month_text(first + i) for i in range(span)],
            "n_records": n_records,
            "n_locations": (used > 0).sum(axis=1),
            "reused_share": share,
            "change": change,
        }
    )
    table = table[table["n_records"] > 0].reset_index(drop=True)
    return MapChanges(table, tuple(table.loc[table["change"], "month"]))


@dataclass(frozen=True)
class Carried:
    """Older records moved onto the current map (:func:`carry_onto_current`).

    Attributes
    ----------
    index : ndarray of int
        Positions (in the records given) of the records that were carried.
    x, y : ndarray of float
        Their new coordinates, metres: a current location.
    n_older : int
        Records older than the change (carried or not).
    tolerance_m : float
        The distance limit used, metres.
    """

    index: np.ndarray
    x: np.ndarray
    y: np.ndarray
    n_older: int
    tolerance_m: float

    @property
    def share_carried(self) -> float:
        """Share of the older records that found a current location within the tolerance."""
        return self.index.size / self.n_older if self.n_older else float("nan")


def snap_points(records: Records) -> pd.DataFrame:
    """Every located record of the study's force: x, y (metres), month, lsoa_code.

    The kept records plus the rows the crime-type, date, time-of-day or weekday filters set
    aside (``Records.rejected``; rows outside the study area or without a location are not
    snap points of the study). Used only for *where* records can sit, never counted.
    """
    columns = ["x", "y", "month", "lsoa_code"]
    frames = [records.frame.reindex(columns=columns)]
    rejected = records.rejected
    if len(rejected) and {"x", "y", "month"} <= set(rejected.columns):
        filtered = rejected[rejected["reason"].astype(str).str.startswith("filtered_")]
        frames.append(filtered.reindex(columns=columns))
    out = pd.concat(frames, ignore_index=True)
    out = out[
        np.isfinite(pd.to_numeric(out["x"], errors="coerce"))
        & np.isfinite(pd.to_numeric(out["y"], errors="coerce"))
        & out["month"].astype(str).str.match(r"^\d{4}-\d{2}$")
    ]
    out["lsoa_code"] = out["lsoa_code"].fillna("").astype(str)
    return out.reset_index(drop=True)


def carry_onto_current(
    frame: pd.DataFrame,
    months: np.ndarray,
    change: int,
    upto: int,
    *,
    tolerance_m: float = CARRY_TOLERANCE_M,
    current: pd.DataFrame | None = None,
) -> Carried:
    """Move records older than the map change ``change`` onto the locations used since.

    Parameters
    ----------
    frame : pandas.DataFrame
        Records with x, y (metres) and ``lsoa_code`` (may be empty).
    months : ndarray of int
        Integer month of each row (:func:`hotspot.forecast.months.month_index`).
    change : int
        The integer month the current map starts.
    upto : int
        The last integer month that may be used (the forecast origin's last training month).
    tolerance_m : float, default 100
        Largest move in metres; records farther from every current location are not carried.
    current : pandas.DataFrame, optional
        Where the current locations come from: rows with x, y, month, lsoa_code (e.g.
        :func:`snap_points`); those in months ``change..upto`` count. Default: ``frame`` itself.

    Returns
    -------
    Carried
    """
    return CarrySource(frame, months, current).carry(change, upto, tolerance_m=tolerance_m)


class CarrySource:
    """:func:`carry_onto_current` for one set of records and current locations, at many (change, upto).

    What does not depend on the forecast origin -- coordinates, months, LSOA codes as integers, the
    distinct older locations -- is prepared once; a backtest carries at every fold's origin.
    Parameters are those of :func:`carry_onto_current`.
    """

    def __init__(self, frame: pd.DataFrame, months: np.ndarray, current: pd.DataFrame | None = None):
        self.x = frame["x"].to_numpy(np.float64)
        self.y = frame["y"].to_numpy(np.float64)
        self.months = np.asarray(months)
        lsoa = frame["lsoa_code"].astype(str).to_numpy() if "lsoa_code" in frame else np.full(len(frame), "")
        if current is None:
            self.cm, self.cx, self.cy, clsoa = self.months, self.x, self.y, lsoa
        else:
            self.cm = month_index(current["month"]) if len(current) else np.zeros(0, dtype=np.int64)
            self.cx = current["x"].to_numpy(np.float64)
            self.cy = current["y"].to_numpy(np.float64)
            clsoa = current["lsoa_code"].astype(str).to_numpy()
        # LSOA codes compared as integers over one vocabulary (text comparisons cost most of a carry);
        # a missing code (NaN) is -1 and, as NaN, equals nothing; "" is no LSOA.
        codes, vocabulary = pd.factorize(
            np.concatenate([np.asarray(lsoa, dtype=object), np.asarray(clsoa, dtype=object)])
        )
        self.lsoa, self.clsoa = codes[: len(lsoa)], codes[len(lsoa) :]
        blank = np.flatnonzero(np.asarray(vocabulary, dtype=object) == "")
        self.blank = int(blank[0]) if blank.size else -2
        self.n_codes = len(vocabulary)
        self._older: dict = {}

    def _older_locations(self, change: int):
        """The older records and their distinct locations (with LSOA): each is placed once."""
        if change not in self._older:
            older = np.flatnonzero(self.months < change)
            place = location_keys(self.x[older], self.y[older]).astype(np.int64) * (self.n_codes + 2) + (
                self.lsoa[older] + 1
            )
            _, first_row, codes = np.unique(place, return_index=True, return_inverse=True)
            rows = older[first_row]
            self._older[change] = (older, codes.ravel(), self.x[rows], self.y[rows], self.lsoa[rows])
        return self._older[change]

    def carry(self, change: int, upto: int, *, tolerance_m: float = CARRY_TOLERANCE_M) -> Carried:
        """Records older than ``change`` moved onto the locations used in months ``change..upto``."""
        from hotspot.core.neighbours import nearest_within

        older, codes, ux, uy, ulsoa = self._older_locations(change)
        empty = Carried(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), int(older.size), float(tolerance_m))
        now = (self.cm >= change) & (self.cm <= upto)
        if older.size == 0 or not now.any():
            return empty
        cur = pd.DataFrame({"x": self.cx[now], "y": self.cy[now], "lsoa": self.clsoa[now]})
        cur = cur.drop_duplicates(["x", "y"])
        cx, cy, clsoa = cur["x"].to_numpy(), cur["y"].to_numpy(), cur["lsoa"].to_numpy()
        k = min(CARRY_NEIGHBOURS, cx.size)
        dist, idx = nearest_within(cx, cy, ux, uy, k, tolerance_m)
        within = np.isfinite(dist)
        safe = np.where(within, idx, 0)
        named = (ulsoa != self.blank) & (ulsoa >= 0)
        same = within & (clsoa[safe] == ulsoa[:, None]) & named[:, None]
        has_same = same.any(axis=1)
        pick = np.where(has_same, same.argmax(axis=1), 0)
        chosen = safe[np.arange(len(ux)), pick]
        found = has_same | within[:, 0]
        ok = found[codes]
        target = chosen[codes]
        return Carried(older[ok], cx[target[ok]], cy[target[ok]], int(older.size), float(tolerance_m))
