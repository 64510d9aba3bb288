"""The crime-record table every analysis takes, and the ledger of rows that were rejected.

``Records.frame`` always has these columns (missing values where a source lacks them):

============  ==================================================================
column        meaning
============  ==================================================================
x, y          projected coordinates in metres, in ``Records.crs``
lon, lat      WGS84 degrees (NaN when the source gave only projected coordinates
              and they could not be converted)
crime_id      police.uk Crime ID or the source's own id (may be empty)
month         ``YYYY-MM`` string (always present: derived from ``datetime`` if needed)
datetime      ``datetime64[ns]``; NaT when the source has month only (police.uk)
crime_type    police.uk category or the source's own type label
location      police.uk "On or near ..." text, or empty
lsoa_code     LSOA code as published, or empty
lsoa_name     LSOA name as published, or empty
outcome       police.uk "Last outcome category", or empty
source        the file (or ``demo``) each row came from
source_row    1-based data row number within that file
============  ==================================================================

Rejected rows are never dropped silently: ``Records.rejected`` holds them with a
``reason`` column (one of ``REJECT_REASONS``), and ``Records.reject_counts`` counts
them by reason.

Memory: a national extract has tens of millions of rows, so the text columns that repeat
(:data:`CATEGORICAL_COLUMNS`: crime type, location, LSOA code and name, outcome, source file)
are held as pandas categoricals with their categories sorted, so sorting and grouping by them
give the same order as plain text; ``crime_id`` and ``month`` stay text. The ledger's ``reason``
is a categorical too (:func:`reason_column`). A categorical keeps every category after a filter:
use ``observed=True`` (the pandas default) when grouping and drop zero counts from ``value_counts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

RECORD_COLUMNS = (
    "x",
    "y",
    "lon",
    "lat",
    "crime_id",
    "month",
    "datetime",
    "crime_type",
    "location",
    "lsoa_code",
    "lsoa_name",
    "outcome",
    "source",
    "source_row",
)

CATEGORICAL_COLUMNS = ("crime_type", "location", "lsoa_code", "lsoa_name", "outcome", "source")
"""Text columns held as categoricals (one small integer per record plus each distinct value once)."""

REJECT_REASONS = {
    "no_location": "no location (police.uk publishes a few percent of rows without coordinates)",
    "unparsable": "coordinates or date could not be parsed",
    "out_of_range": "coordinates outside the valid range for their CRS",
    "duplicate": "duplicate (a Crime ID seen before, or a file given twice)",
    "outside_force_area": "out of area: placed in an LSOA of another force's local authority",
    "outside_study_area": "outside the study area (the boundaries, or far from the main body of records)",
    "filtered_crime_type": "outside the crime-type filter",
    "filtered_date": "outside the date range",
    "filtered_time": "outside the time-of-day window",
    "filtered_weekday": "outside the weekday filter",
}
"""Every reason a row can be rejected for, with the words used to report it."""


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Weekday names in the order of the records' ``weekday`` column (0 = Monday, as pandas counts)."""


@dataclass
class Records:
    """Crime records in metres plus the ledger of what was rejected and why.

    Attributes
    ----------
    frame : pandas.DataFrame
        The kept records, with the columns described in the module docstring.
    crs : str
        The projected CRS of ``x``/``y`` (metres), e.g. ``"EPSG:27700"``.
    rejected : pandas.DataFrame
        Rejected rows: the source columns as read plus ``reason``, ``source``, ``source_row``.
    has_times : bool
        True when records carry a time of day (not police.uk month-only data).
    sources : list of str
        The input files read, in order.
    notes : list of str
        Corrections made while reading that the user should be told of (decimal commas read,
        duplicates dropped), one line each.
    """

    frame: pd.DataFrame
    crs: str
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["reason", "source", "source_row"]))
    has_times: bool = False
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reject_counts(self) -> dict[str, int]:
        """Rejected rows counted by reason; every reason in ``REJECT_REASONS`` is present (0 if none)."""
        counts = {reason: 0 for reason in REJECT_REASONS}
        if len(self.rejected):
            for reason, n in self.rejected["reason"].value_counts().items():
                counts[str(reason)] = int(n)
        return counts

    @property
    def xy(self) -> np.ndarray:
        """Coordinates as a float64 array of shape (n, 2), metres."""
        return np.column_stack([self.frame["x"].to_numpy(np.float64), self.frame["y"].to_numpy(np.float64)])

    def __len__(self) -> int:
        return len(self.frame)

    def with_frame(self, frame: pd.DataFrame, newly_rejected: pd.DataFrame | None = None) -> Records:
        """A copy holding ``frame`` as the kept rows and ``newly_rejected`` appended to the ledger.

        ``frame`` should be a fresh selection (``frame.loc[keep]``): it is not copied again.
        """
        rejected = self.rejected
        if newly_rejected is not None and len(newly_rejected):
            rejected = concat_ledgers([rejected, newly_rejected]) if len(rejected) else newly_rejected
        return replace(self, frame=frame.reset_index(drop=True), rejected=rejected.reset_index(drop=True))


def compact_text(values) -> pd.Categorical:
    """Text as a categorical with sorted categories (missing values as they are).

    Sorted categories make ``sort_values`` and ``groupby`` order the rows as the plain text would.
    """
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.Categorical):
        if values.categories.is_monotonic_increasing:
            return values
        return values.reorder_categories(values.categories.sort_values())
    codes, uniques = pd.factorize(values, sort=True)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def concat_categoricals(parts) -> pd.Categorical:
    """Categoricals (or text) joined end to end, as one categorical with sorted categories."""
    from pandas.api.types import union_categoricals

    parts = [compact_text(p) for p in parts]
    if not parts:
        return pd.Categorical([])
    return union_categoricals(parts, sort_categories=True)


def reason_column(reasons, n: int | None = None) -> pd.Categorical:
    """Rejection reasons as a categorical over every reason in ``REJECT_REASONS`` (plus any other given)."""
    if isinstance(reasons, str):
        categories = _reason_categories([reasons])
        codes = np.full(int(n or 0), categories.index(reasons), dtype=np.int8)
        return pd.Categorical.from_codes(codes, categories=categories)
    # through the distinct values: matching every row against the categories costs several times more
    values = reasons.to_numpy(dtype=object) if isinstance(reasons, pd.Series) else np.asarray(reasons, dtype=object)
    codes, uniques = pd.factorize(values.ravel())
    categories = _reason_categories(uniques)
    where = {c: i for i, c in enumerate(categories)}
    recode = np.array([where[u] if isinstance(u, str) else -1 for u in uniques] + [-1], dtype=np.int32)
    return pd.Categorical.from_codes(recode[codes], categories=categories)


def _reason_categories(present) -> list[str]:
    known = list(REJECT_REASONS)
    return known + sorted({str(v) for v in present} - set(known))


def concat_ledgers(parts) -> pd.DataFrame:
    """Ledger frames joined end to end; the ``reason`` column and categorical columns stay categorical."""
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.DataFrame(columns=["reason", "source", "source_row"])
    if len(parts) == 1:
        return parts[0]
    columns: list[str] = []
    for p in parts:
        columns.extend(c for c in p.columns if c not in columns)
    out = pd.concat(parts, ignore_index=True)
    for name in columns:
        got = [p[name] for p in parts if name in p.columns]
        if name == "reason":
            if not isinstance(out[name].dtype, pd.CategoricalDtype):
                out[name] = reason_column(out[name])
        elif (
            len(got) == len(parts)
            and all(isinstance(g.dtype, pd.CategoricalDtype) for g in got)
            and not isinstance(out[name].dtype, pd.CategoricalDtype)
        ):
            out[name] = concat_categoricals(got)
    return out[columns]


def empty_frame() -> pd.DataFrame:
    """An empty records frame with the standard columns and dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS})
    for c in ("x", "y", "lon", "lat"):
        frame[c] = frame[c].astype(np.float64)
    frame["datetime"] = pd.to_datetime(frame["datetime"])
    frame["source_row"] = frame["source_row"].astype(np.int64)
    return frame
