"""Reading one table (police.uk street CSV, a force extract or a GIS point layer) into standard columns.

Auto-detected column names
--------------------------
Column names are matched case-insensitively after turning spaces, dots and dashes into
underscores (``"Crime type"`` -> ``crime_type``). Explicit ``*_column`` options always win.

==============  ==========================================================================
role            names recognised
==============  ==========================================================================
longitude       lon, long, longitude, lng, x_long, wgs84_lon, lon_wgs84, longitude_wgs84
latitude        lat, latitude, y_lat, wgs84_lat, lat_wgs84, latitude_wgs84
easting         easting, eastings, east, bng_e, bng_easting, os_easting, grid_ref_e,
                x_coord, x_coordinate, xcoord, map_x
northing        northing, northings, north, bng_n, bng_northing, os_northing, grid_ref_n,
                y_coord, y_coordinate, ycoord, map_y
x / y           x, y: degrees when every value fits -180..180 / -90..90, else metres
date + time     datetime, date_time, timestamp, occurred, occurred_at, occurred_datetime,
                occurrence_datetime, offence_datetime, incident_datetime, committed,
                committed_datetime, from_datetime, start_datetime
date            date, occurred_date, occurrence_date, offence_date, incident_date,
                crime_date, committed_date, date_committed, from_date, start_date,
                date_from, reported_date
time            time, occurred_time, occurrence_time, offence_time, incident_time,
                crime_time, committed_time, time_committed, from_time, start_time
month           month (``YYYY-MM``; used when there is no date)
crime type      crime_type, crimetype, type, offence, offence_type, offence_group,
                offence_category, offence_description, category, crime_category, crime,
                ho_class, classification
id              crime_id, crimeid, id, incident_id, crime_reference, crime_ref,
                reference, urn, occurrence_id, offence_id, crime_number
location        location, address, street, place
LSOA code/name  lsoa_code, lsoa, lsoa21cd, lsoa11cd / lsoa_name, lsoa21nm, lsoa11nm
outcome         last_outcome_category, outcome, outcome_category, status
==============  ==========================================================================

Coordinates named as longitude/latitude (or x/y holding degrees) are WGS84 unless
``input_crs`` says otherwise; eastings/northings are British National Grid (EPSG:27700)
unless ``input_crs`` says otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError

ALIASES: dict[str, tuple[str, ...]] = {
    "lon": ("lon", "long", "longitude", "lng", "x_long", "wgs84_lon", "lon_wgs84", "longitude_wgs84"),
    "lat": ("lat", "latitude", "y_lat", "wgs84_lat", "lat_wgs84", "latitude_wgs84"),
    "east": (
        "easting",
        "eastings",
        "east",
        "bng_e",
        "bng_easting",
        "os_easting",
        "grid_ref_e",
        "x_coord",
        "x_coordinate",
        "xcoord",
        "map_x",
    ),
    "north": (
        "northing",
        "northings",
        "north",
        "bng_n",
        "bng_northing",
        "os_northing",
        "grid_ref_n",
        "y_coord",
        "y_coordinate",
        "ycoord",
        "map_y",
    ),
    "x": ("x",),
    "y": ("y",),
    "datetime": (
        "datetime",
        "date_time",
        "timestamp",
        "occurred",
        "occurred_at",
        "occurred_datetime",
        "occurrence_datetime",
        "offence_datetime",
        "incident_datetime",
        "committed",
        "committed_datetime",
        "from_datetime",
        "start_datetime",
    ),
    "date": (
        "date",
        "occurred_date",
        "occurrence_date",
        "offence_date",
        "incident_date",
        "crime_date",
        "committed_date",
        "date_committed",
        "from_date",
        "start_date",
        "date_from",
        "reported_date",
    ),
    "time": (
        "time",
        "occurred_time",
        "occurrence_time",
        "offence_time",
        "incident_time",
        "crime_time",
        "committed_time",
        "time_committed",
        "from_time",
        "start_time",
    ),
    "month": ("month",),
    "crime_type": (
        "crime_type",
        "crimetype",
        "type",
        "offence",
        "offence_type",
        "offence_group",
        "offence_category",
        "offence_description",
        "category",
        "crime_category",
        "crime",
        "ho_class",
        "classification",
    ),
    "crime_id": (
        "crime_id",
        "crimeid",
        "id",
        "incident_id",
        "crime_reference",
        "crime_ref",
        "reference",
        "urn",
        "occurrence_id",
        "offence_id",
        "crime_number",
    ),
    "location": ("location", "address", "street", "place"),
    "lsoa_code": ("lsoa_code", "lsoa", "lsoa21cd", "lsoa11cd"),
    "lsoa_name": ("lsoa_name", "lsoa21nm", "lsoa11nm"),
    "outcome": ("last_outcome_category", "outcome", "outcome_category", "status"),
}
"""Auto-detected column names per role (normalised: lower case, non-alphanumerics as ``_``)."""

POLICEUK_HEADER = ("month", "longitude", "latitude", "crime_type", "lsoa_code")
"""Normalised columns whose presence marks a police.uk street-level CSV."""


def normalise(name: str) -> str:
    """Column name as matched against ``ALIASES``: lower case, runs of non-alphanumerics as one ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def find_column(columns, role: str, explicit: str | None, label: str, option: str) -> str | None:
    """The column playing ``role``: ``explicit`` if given (must exist), else the first alias present."""
    if explicit is not None:
        if explicit in columns:
            return explicit
        by_norm = {normalise(c): c for c in columns}
        if normalise(explicit) in by_norm:
            return by_norm[normalise(explicit)]
        raise HotspotInputError(
            f"{label}: {option} {explicit!r} is not a column; columns found: {', '.join(map(str, columns))}"
        )
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(normalise(c), c)
    for alias in ALIASES[role]:
        if alias in by_norm:
            return by_norm[alias]
    return None


def is_policeuk(columns) -> bool:
    """True when the header is a police.uk street-level CSV's."""
    names = {normalise(c) for c in columns}
    return all(c in names for c in POLICEUK_HEADER)


def text(series: pd.Series | None, n: int) -> pd.Series:
    """A column as stripped strings on a fresh 0..n-1 index, missing as ``""``."""
    if series is None:
        return pd.Series([""] * n, dtype="str")
    s = series.reset_index(drop=True)
    if not pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        s = s.astype(object).where(s.notna(), "").astype("str")
    return s.fillna("").str.strip()


def text_categorical(series: pd.Series | None, n: int) -> pd.Categorical:
    """``text(series, n)`` as a categorical with sorted categories, stripping each distinct value once.

    Equal to ``compact_text(text(series, n))`` but far cheaper on columns that repeat (crime type,
    LSOA, location): the work follows the distinct values, not the rows.
    """
    if series is None:
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([""], dtype=object))
    codes, uniques = pd.factorize(series.reset_index(drop=True), use_na_sentinel=True)
    cleaned = text(pd.Series(np.asarray(uniques, dtype=object), dtype=object), len(uniques))
    cleaned = pd.concat([cleaned, pd.Series([""], dtype="str")], ignore_index=True)  # the missing value's slot
    final, categories = pd.factorize(cleaned, sort=True)
    codes = np.where(codes < 0, len(uniques), codes)
    return pd.Categorical.from_codes(
        final[codes], categories=pd.Index(np.asarray(categories, dtype=object), dtype=object)
    )


_DECIMAL_COMMA = r"[+-]?\d+,\d+"


def to_float(series: pd.Series, comma_decimals: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from a text or numeric column: (values with NaN where unusable, mask of blank cells).

    Cells written with a decimal comma (``-0,4713``, as spreadsheets in many European locales save
    CSV) are read as numbers too; when ``comma_decimals`` is a list, how many were is appended to it,
    so the reader can say so.
    """
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, ~np.isfinite(values) & series.isna().to_numpy()
    if not pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
        series = series.astype(object).where(series.notna(), "").astype("str")
    raw = series.str.strip()
    blank = (raw.isna() | (raw == "")).to_numpy(dtype=bool)
    values = _arrow_float(raw.where(~blank))
    if values is None:  # some cell is not a plain number: pandas coerces it to NaN (or reads a decimal comma below)
        values = np.array(pd.to_numeric(raw.where(~blank), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    failed = np.isnan(values) & ~blank
    n_comma = 0
    if failed.any():
        candidates = raw[failed]
        comma = candidates.str.fullmatch(_DECIMAL_COMMA).fillna(False).to_numpy(dtype=bool)
        if comma.any():
            where = np.flatnonzero(failed)[comma]
            values[where] = pd.to_numeric(
                candidates[comma].str.replace(",", ".", regex=False), errors="coerce"
            ).to_numpy(dtype=np.float64, na_value=np.nan)
            n_comma = int(comma.sum())
    if comma_decimals is not None:
        comma_decimals.append(n_comma)
    return values, blank


def _arrow_float(cells: pd.Series) -> np.ndarray | None:
    """Numbers from text cells (missing as NaN) with pyarrow, about 7 times faster than ``pd.to_numeric``;
    None when any cell is not a number pyarrow reads, so the caller takes the slower, forgiving path.

    Both parse to the nearest double (checked bit for bit on every police.uk coordinate in the shared data).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return np.array(
            pc.cast(pa.array(cells, type=pa.string(), from_pandas=True), pa.float64()).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        return None


_DATE_FORMATS = (
    "ISO8601",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y%m%d",
    "%d/%m/%y %H:%M",
    "%d/%m/%y",
)


def parse_datetimes(series: pd.Series) -> pd.Series:
    """Parse dates (or date-times) with the format that reads most of the values; failures are NaT.

    UK extracts write dates day-first (``31/01/2023``), so day-first formats are tried and
    month-first is never guessed.
    """
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        out = pd.to_datetime(series)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("Europe/London").dt.tz_localize(None)
        return out.astype("datetime64[ns]")
    raw = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    sample = raw[raw != ""].head(2000)
    if sample.empty:
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    best, best_ok = None, -1
    for fmt in _DATE_FORMATS:
        ok = int(pd.to_datetime(sample, format=fmt, errors="coerce").notna().sum())
        if ok > best_ok:
            best, best_ok = fmt, ok
        if ok == len(sample):
            break
    if best_ok == 0:
        parsed = pd.to_datetime(raw.where(raw != "", None), format="mixed", dayfirst=True, errors="coerce")
    else:
        parsed = pd.to_datetime(raw.where(raw != "", None), format=best, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("Europe/London").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


_TIME = re.compile(r"(?:^|[ T])(\d{1,2})[:.]?(\d{2})(?:[:.](\d{2}))?(?:\.\d+)?\s*$")


def parse_times(series: pd.Series) -> pd.Series:
    """Times of day (``19:30``, ``19:30:00``, ``1930``, ``19.30`` or a date-time's time) as timedeltas; NaT if unparsable."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        dt = pd.to_datetime(series)
        return dt - dt.dt.normalize()
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        return series
    raw = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    raw = raw.str.replace(r"\.0$", "", regex=True)  # integer times read as floats, e.g. 930.0
    parts = raw.str.extract(_TIME)
    hours = pd.to_numeric(parts[0], errors="coerce")
    minutes = pd.to_numeric(parts[1], errors="coerce")
    seconds = pd.to_numeric(parts[2], errors="coerce").fillna(0)
    valid = (hours <= 23) & (minutes <= 59) & (seconds <= 59)
    total = (hours * 3600 + minutes * 60 + seconds).where(valid)
    return pd.to_timedelta(total, unit="s")


@dataclass
class Standard:
    """One table in standard columns before projection.

    ``cx``/``cy`` are coordinates in ``src_crs`` (x = longitude/easting); ``reason`` holds a
    rejection reason per row or None; ``raw`` is the source table as read (for the rejects file);
    ``notes`` are corrections made while reading (e.g. decimal commas), one line each.
    """

    cx: np.ndarray
    cy: np.ndarray
    src_crs: str
    columns: dict[str, object]
    reason: np.ndarray
    raw: pd.DataFrame
    has_times: bool
    label: str
    notes: list = field(default_factory=list)
    raw_shape: tuple = ()
    """(rows, column names) of ``raw``; kept when ``raw`` is released (None) to save memory."""
    early_mask: np.ndarray | None = None
    """Rows already rejected when ``raw`` was released, and ``early_rejects`` their ledger rows."""
    early_rejects: pd.DataFrame | None = None
    reload: object = None
    """A callable reading ``raw`` again once it was released."""


def month_from(datetime: pd.Series, month_text: pd.Series | None) -> pd.Series:
    """``YYYY-MM`` from the datetime, else from a month column, else ``""``."""
    dt = datetime.reset_index(drop=True)
    out = dt.dt.strftime("%Y-%m").astype("str").where(dt.notna(), "")
    if month_text is not None:
        out = out.where(out != "", month_text.reset_index(drop=True))
    return out


def normalise_months(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Month text as ``YYYY-MM`` (accepting ``YYYY-MM``, ``YYYY/MM``, ``YYYY-MM-DD``, ``MM/YYYY``); (months, ok mask)."""
    s = values.reset_index(drop=True).astype("str").str.strip()
    exact = s.str.fullmatch(r"\d{4}-(?:0[1-9]|1[0-2])").to_numpy(dtype=bool)
    if exact.all():  # police.uk's own form: nothing to rewrite
        return s, exact
    iso = s.str.extract(r"^(\d{4})[-/](\d{1,2})(?:[-/]\d{1,2})?(?:[ T].*)?$")
    uk = s.str.extract(r"^(\d{1,2})[-/](\d{4})$")
    year = iso[0].fillna(uk[1])
    mon = pd.to_numeric(iso[1].fillna(uk[0]), errors="coerce")
    ok = year.notna() & mon.between(1, 12)
    out = (year.fillna("") + "-" + mon.fillna(0).astype(int).astype(str).str.zfill(2)).where(ok, "")
    return out.astype("str"), ok.to_numpy(dtype=bool)
