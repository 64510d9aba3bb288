"""``read_records``: police.uk CSVs, force extracts and GIS point layers into one ``Records`` in metres."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import ProgressCallback, resolve
from hotspot.core.records import (
    CATEGORICAL_COLUMNS,
    RECORD_COLUMNS,
    Records,
    compact_text,
    concat_ledgers,
    reason_column,
)
from hotspot.ingest.policeuk import comma_note, standardise_policeuk
from hotspot.ingest.projection import (
    BNG,
    WGS84,
    area_of_use_mask,
    check_metre_crs,
    choose_crs,
    parse_crs,
    transform,
)
from hotspot.ingest.sources import Source, expand_inputs, read_csv_text
from hotspot.ingest.tables import (
    Standard,
    find_column,
    is_policeuk,
    month_from,
    normalise,
    normalise_months,
    parse_datetimes,
    parse_times,
    text,
    text_categorical,
    to_float,
)

# British National Grid's false-origin extent in metres (with a margin): numbers in this box
# in a "longitude" column are almost certainly eastings.
_BNG_X = (-100_000.0, 800_000.0)
_BNG_Y = (-100_000.0, 1_400_000.0)
_COORD_OPTIONS = "x_column/y_column (metres, with input_crs) or lon_column/lat_column (degrees)"


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _looks_like_degrees(x: np.ndarray, y: np.ndarray) -> bool:
    ok = np.isfinite(x) & np.isfinite(y)
    return bool(ok.any()) and bool(np.all(np.abs(x[ok]) <= 180) and np.all(np.abs(y[ok]) <= 90))


def _looks_like_bng(x: np.ndarray, y: np.ndarray) -> bool:
    mx, my = _median(x), _median(y)
    # both must be metre-sized: one large value beside a small one is a swap or junk, not a grid reference
    return _BNG_X[0] <= mx <= _BNG_X[1] and _BNG_Y[0] <= my <= _BNG_Y[1] and abs(mx) > 1000 and abs(my) > 1000


def _check_degrees(lon: np.ndarray, lat: np.ndarray, lon_name: str, lat_name: str, label: str) -> None:
    """Catch whole-column mistakes (swapped, metres declared as degrees) before rows are judged one by one."""
    mlon, mlat = _median(lon), _median(lat)
    if np.isnan(mlon) or np.isnan(mlat):
        return
    if abs(mlon) > 180 or abs(mlat) > 90:
        if _looks_like_bng(lon, lat):
            raise HotspotInputError(
                f"{label}: columns {lon_name!r}/{lat_name!r} hold values like {mlon:.0f}, {mlat:.0f}, which look like "
                "British National Grid metres, not degrees; name them easting/northing (x_column/y_column) "
                "or give input_crs EPSG:27700"
            )
        if abs(mlat) > 90 and abs(mlon) <= 90:
            raise HotspotInputError(
                f"{label}: longitude {lon_name!r} and latitude {lat_name!r} look swapped (latitude values like {mlat:g}); "
                f"name them the other way round with lon_column={lat_name!r} lat_column={lon_name!r}"
            )
        raise HotspotInputError(
            f"{label}: columns {lon_name!r}/{lat_name!r} hold values like {mlon:g}, {mlat:g}, which are not degrees; "
            "give input_crs for projected coordinates (e.g. EPSG:27700) or name the right columns"
        )
    # Great Britain swapped: latitude 49-61 sitting in the longitude column and vice versa.
    if 49.0 <= mlon <= 61.0 and -9.0 <= mlat <= 2.0:
        raise HotspotInputError(
            f"{label}: longitude {lon_name!r} ({mlon:g}) and latitude {lat_name!r} ({mlat:g}) look swapped for Great Britain; "
            f"name them the other way round with lon_column={lat_name!r} lat_column={lon_name!r}"
        )


def _check_against_lsoa_codes(std: Standard, ok: np.ndarray, label: str) -> None:
    """English and Welsh LSOA codes (E01/W01) on points that lie outside Great Britain: the columns are wrong."""
    from hotspot.ingest.projection import _in_gb

    codes = compact_text(std.columns["lsoa_code"])  # the prefix is read once per distinct code
    english = pd.Series(codes.categories, dtype=object).str[:3].isin(["E01", "W01"]).to_numpy()
    which = np.asarray(codes.codes)[ok]
    if not which.size or not (
        np.where(which >= 0, english[np.maximum(which, 0)] if english.size else False, False).mean() > 0.5
    ):
        return
    mlon, mlat = _median(std.cx[ok]), _median(std.cy[ok])
    if np.isfinite(mlon) and np.isfinite(mlat) and not _in_gb(np.array([mlon]), np.array([mlat]))[0]:
        raise HotspotInputError(
            f"{label}: the LSOA codes are in England and Wales but the points lie elsewhere (median longitude "
            f"{mlon:g}, latitude {mlat:g}); check that Longitude and Latitude hold WGS84 degrees in the right columns"
        )


def _coordinate_columns(raw: pd.DataFrame, opts: dict, label: str) -> tuple[str, str, str]:
    """(x column, y column, kind) with kind ``"degrees"`` or ``"metres"``."""
    cols = list(raw.columns)
    if (opts["x_column"] is None) != (opts["y_column"] is None):
        raise HotspotInputError(f"{label}: give both x_column and y_column (got only one)")
    if (opts["lon_column"] is None) != (opts["lat_column"] is None):
        raise HotspotInputError(f"{label}: give both lon_column and lat_column (got only one)")
    if opts["x_column"] is not None:
        return (
            find_column(cols, "east", opts["x_column"], label, "x_column"),
            find_column(cols, "north", opts["y_column"], label, "y_column"),
            "metres",
        )
    if opts["lon_column"] is not None:
        return (
            find_column(cols, "lon", opts["lon_column"], label, "lon_column"),
            find_column(cols, "lat", opts["lat_column"], label, "lat_column"),
            "degrees",
        )
    pairs = (("lon", "lat", "degrees"), ("east", "north", "metres"), ("x", "y", "auto"))
    for xrole, yrole, kind in pairs:
        xc = find_column(cols, xrole, None, label, "")
        yc = find_column(cols, yrole, None, label, "")
        if xc is not None and yc is not None:
            return xc, yc, kind
        if (xc is None) != (yc is None):
            have = xc or yc
            raise HotspotInputError(
                f"{label}: found coordinate column {have!r} but not its pair; name both with {_COORD_OPTIONS}"
            )
    raise HotspotInputError(
        f"{label}: no coordinate columns recognised among: {', '.join(map(str, cols))}; name them with {_COORD_OPTIONS}"
    )


def _source_crs(
    kind: str, cx: np.ndarray, cy: np.ndarray, xname: str, yname: str, input_crs: str | None, label: str
) -> str:
    """The CRS the coordinate columns are in, checking them against what their names promise."""
    if input_crs is not None:
        crs = parse_crs(input_crs, "input_crs")
        if crs.is_geographic:
            _check_degrees(cx, cy, xname, yname, label)
        elif _looks_like_degrees(cx, cy):
            raise HotspotInputError(
                f"{label}: input_crs {input_crs} is projected but {xname!r}/{yname!r} hold degree-like values; "
                "drop input_crs or name longitude/latitude columns"
            )
        return input_crs
    if kind == "auto":
        kind = "degrees" if _looks_like_degrees(cx, cy) else "metres"
    if kind == "degrees":
        _check_degrees(cx, cy, xname, yname, label)
        return WGS84
    if _looks_like_degrees(cx, cy):
        raise HotspotInputError(
            f"{label}: {xname!r}/{yname!r} hold degree-like values ({_median(cx):g}, {_median(cy):g}), not metres; "
            "name them as longitude/latitude (lon_column/lat_column)"
        )
    if not _looks_like_bng(cx, cy) and np.isfinite(_median(cx)):
        raise HotspotInputError(
            f"{label}: {xname!r}/{yname!r} hold projected values ({_median(cx):.0f}, {_median(cy):.0f}) outside "
            "British National Grid; give input_crs (e.g. EPSG:32630)"
        )
    return BNG


def _temporal(raw: pd.DataFrame, opts: dict, label: str, reason: np.ndarray) -> tuple[pd.Series, np.ndarray, bool]:
    """(datetime, month text, has_times) for a generic table; rows with unreadable dates get ``unparsable``."""
    cols = list(raw.columns)
    n = len(raw)
    date_col = find_column(cols, "datetime", opts["date_column"], label, "date_column")
    if date_col is None:
        date_col = find_column(cols, "date", None, label, "date_column")
    time_col = find_column(cols, "time", opts["time_column"], label, "time_column")
    month_col = find_column(cols, "month", None, label, "")
    month_text = None
    if month_col is not None and month_col not in (date_col, time_col):
        month_text, month_ok = normalise_months(text(raw[month_col], n))
        month_text = month_text.where(month_ok, "")
    dt = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    has_times = False
    if date_col is not None:
        raw_date = text(raw[date_col], n) if not pd.api.types.is_datetime64_any_dtype(raw[date_col].dtype) else None
        if raw_date is not None and time_col is None and bool(raw_date.str.fullmatch(r"(\d{4}-\d{2})?").all()):
            # a "date" column holding YYYY-MM only is a month column
            months, ok = normalise_months(raw_date)
            reason[(reason == None) & ~ok] = "unparsable"  # noqa: E711
            return dt, months, False
        dt = parse_datetimes(raw[date_col])
        reason[(reason == None) & dt.isna().to_numpy()] = "unparsable"  # noqa: E711
        if time_col is not None:
            t = parse_times(raw[time_col])
            blank_time = (text(raw[time_col], n) == "").to_numpy()
            reason[(reason == None) & t.isna().to_numpy() & ~blank_time] = "unparsable"  # noqa: E711
            # a blank time keeps the row (and its month) but gives it no datetime, so time filters drop it
            months = month_from(dt, month_text)
            dt = (dt.dt.normalize() + t).astype("datetime64[ns]")
            has_times = bool(t.notna().any())
            return dt, months, has_times
        has_times = bool((dt.notna() & (dt != dt.dt.normalize())).any())
        return dt, month_from(dt, month_text), has_times
    if time_col is not None:
        raise HotspotInputError(
            f"{label}: found time column {time_col!r} but no date column; name the date with date_column"
        )
    if month_text is not None:
        reason[(reason == None) & (month_text == "").to_numpy()] = "unparsable"  # noqa: E711
        return dt, month_text, False
    return dt, text(None, n), False


def _standardise_table(raw: pd.DataFrame, opts: dict, label: str, geo_xy=None) -> Standard:
    n = len(raw)
    reason = np.full(n, None, dtype=object)
    commas: list[int] = []
    if geo_xy is not None:
        cx, cy, src = geo_xy
        blank = ~(np.isfinite(cx) & np.isfinite(cy))
        reason[blank] = "no_location"
        if parse_crs(src).is_geographic:
            _check_degrees(cx, cy, "geometry x", "geometry y", label)
        elif _looks_like_degrees(cx, cy):
            said = "input_crs" if opts["input_crs"] is not None else "the layer's CRS"
            raise HotspotInputError(
                f"{label}: {said} is {src} (metres), but the coordinates look like degrees ({_median(cx):g}, "
                f"{_median(cy):g}); set the layer's CRS to EPSG:4326 in your GIS or give input_crs EPSG:4326"
            )
    else:
        xc, yc, kind = _coordinate_columns(raw, opts, label)
        cx, xblank = to_float(raw[xc], commas)
        cy, yblank = to_float(raw[yc], commas)
        reason[(np.isnan(cx) & ~xblank) | (np.isnan(cy) & ~yblank) | (xblank != yblank)] = "unparsable"
        reason[xblank & yblank] = "no_location"
        src = _source_crs(kind, cx, cy, xc, yc, opts["input_crs"], label)
    dt, months, has_times = _temporal(raw, opts, label, reason)
    cols = list(raw.columns)

    def get(role, option=None):
        name = find_column(cols, role, opts.get(option) if option else None, label, option or "")
        read = text_categorical if role in CATEGORICAL_COLUMNS else text  # repeating text as categoricals
        return read(raw[name], n) if name is not None else read(None, n)

    columns = {
        "crime_id": get("crime_id", "id_column"),
        "month": months,
        "datetime": dt.reset_index(drop=True),
        "crime_type": get("crime_type", "type_column"),
        "location": get("location"),
        "lsoa_code": get("lsoa_code"),
        "lsoa_name": get("lsoa_name"),
        "outcome": get("outcome"),
    }
    return Standard(
        np.asarray(cx, dtype=np.float64),
        np.asarray(cy, dtype=np.float64),
        src,
        columns,
        reason,
        raw,
        has_times,
        label,
        comma_note(label, commas),
    )


def _read_geo(source: Source, opts: dict) -> Standard:
    import geopandas as gpd
    import pyogrio
    import shapely

    label = source.label
    try:
        if source.kind == "parquet":
            import pyarrow.parquet as pq

            metadata = pq.read_schema(source.path).metadata or {}
            if b"geo" not in metadata:
                frame = pd.read_parquet(source.path)
                if frame.empty:
                    raise HotspotInputError(f"{label}: the table has no rows")
                return _standardise_table(frame, opts, label)
            gdf = gpd.read_parquet(source.path)
        else:
            layer = opts["layer"]
            if layer is None:
                layers = pyogrio.list_layers(source.path)
                points = [name for name, kind in layers if kind and "point" in str(kind).lower()]
                if len(layers) > 1:
                    if len(points) != 1:
                        raise HotspotInputError(
                            f"{label}: holds {len(layers)} layers ({', '.join(str(layer[0]) for layer in layers)}); "
                            "choose one with layer"
                        )
                    layer = points[0]
            gdf = pyogrio.read_dataframe(source.path, layer=layer)
    except HotspotInputError:
        raise
    except Exception as exc:  # pyogrio/pyarrow raise many types for unreadable files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HotspotInputError(f"{label}: cannot be read as a point layer ({first}); check the file") from None
    if gdf.empty:
        raise HotspotInputError(f"{label}: the layer has no features")
    geoms = gdf.geometry.to_numpy()
    types = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]).tolist())
    if types - {0, 4}:  # Point, MultiPoint
        names = sorted({str(t) for t in gdf.geometry.geom_type.dropna().unique()})
        raise HotspotInputError(f"{label}: holds {', '.join(names)} geometries; crime records must be points")
    pts = shapely.centroid(geoms)
    cx = shapely.get_x(pts)
    cy = shapely.get_y(pts)
    cx = np.where(shapely.is_missing(geoms) | shapely.is_empty(geoms), np.nan, cx).astype(np.float64)
    cy = np.where(shapely.is_missing(geoms) | shapely.is_empty(geoms), np.nan, cy).astype(np.float64)
    if opts["input_crs"] is not None:
        src = opts["input_crs"]
        parse_crs(src, "input_crs")
    elif gdf.crs is not None:
        epsg = gdf.crs.to_epsg()
        src = f"EPSG:{epsg}" if epsg else gdf.crs.to_wkt()
    else:
        raise HotspotInputError(f"{label}: the layer has no CRS; give input_crs (e.g. EPSG:27700 or EPSG:4326)")
    raw = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    return _standardise_table(raw, opts, label, geo_xy=(cx, cy, src))


def _source_keys(source: Source, opts: dict) -> tuple[str | None, str | None]:
    """(parsed-table key, standard-columns key) of a CSV source in the parsed-input cache; Nones when not cached."""
    from hotspot.ingest.cache import cache_enabled, cache_key, standard_key

    if source.kind != "csv" or not cache_enabled():
        return None, None
    table_key = cache_key(source)
    return table_key, (standard_key(table_key, opts) if table_key is not None else None)


def _read_source(source: Source, opts: dict, keys: tuple[str | None, str | None] = (None, None)) -> Standard:
    """One source in standard columns; ``keys`` (:func:`_source_keys`) find it in the parsed-input cache."""
    if source.kind != "csv":
        return _read_geo(source, opts)
    from hotspot.ingest.cache import load_standard, read_csv_cached, store_standard

    table_key, key = keys

    def reload():
        return read_csv_cached(source, read_csv_text, table_key)

    cached = load_standard(key, source.label) if key is not None else None
    if cached is not None:  # read before with the same options: no parsing, no standardising
        std, rejected_rows = cached
        std.reload = reload
        if rejected_rows is not None:
            std.early_rejects = _ledger_rows(std, std.early_mask, rejected_rows)
        return std
    raw = reload()  # a second run on the same files skips parsing
    names = {normalise(c) for c in raw.columns}
    if {"outcome_type"} <= names and "crime_type" not in names:
        raise HotspotInputError(
            f"{source.label}: this is a police.uk outcomes file, not street-level crimes; give the -street.csv files"
        )
    if "object_of_search" in names:
        raise HotspotInputError(f"{source.label}: this is a police.uk stop-and-search file, not street-level crimes")
    explicit = any(opts[k] is not None for k in ("x_column", "y_column", "lon_column", "lat_column", "input_crs"))
    if is_policeuk(raw.columns) and not explicit:
        std = standardise_policeuk(raw, source.label)
        ok = std.reason == None  # noqa: E711
        _check_degrees(std.cx[ok], std.cy[ok], "Longitude", "Latitude", source.label)
        _check_against_lsoa_codes(std, ok, source.label)
    else:
        std = _standardise_table(raw, opts, source.label)
    _release_raw(std, reload)
    if key is not None:
        rejected_rows = std.early_rejects.iloc[:, 3:] if std.early_rejects is not None else None
        store_standard(key, std, rejected_rows)
    return std


def _compact_columns(std: Standard) -> None:
    """The repeating text columns of a table as categoricals (a few bytes a row instead of the text)."""
    for name in CATEGORICAL_COLUMNS:
        if name in std.columns:
            std.columns[name] = compact_text(std.columns[name])


def _release_raw(std: Standard, reload) -> None:
    """Let go of a CSV table as read, keeping only its rows rejected so far; ``reload`` reads it again if needed.

    The table as read holds every source column as text (a police.uk row is about 250 bytes); only
    rejected rows are ever written out, so they are taken now and the rest is read again (from the
    parsed-input cache) only for a file that later loses rows to the range check or as duplicates.
    """
    _compact_columns(std)
    raw = std.raw
    std.raw_shape = (len(raw), tuple(map(str, raw.columns)), _sample_digest(raw))
    bad = std.reason != None  # noqa: E711
    std.early_mask = bad
    std.early_rejects = _rejected_rows(std, bad) if bad.any() else None
    std.reload = reload
    std.raw = None


def _sample_digest(raw: pd.DataFrame, rows: int = 4096) -> str:
    """A hash of a few thousand rows spread through a table: tables that differ here hold different rows.

    Not Python's ``hash``, which differs from process to process: the digest is kept in the parsed-input cache.
    """
    n = len(raw)
    if n == 0:
        return ""
    take = np.unique(np.linspace(0, n - 1, num=min(n, rows)).astype(np.int64))
    values = pd.util.hash_pandas_object(raw.iloc[take], index=False).to_numpy()
    return hashlib.blake2b(values.tobytes(), digest_size=16).hexdigest()


def _raw_of(std: Standard) -> pd.DataFrame:
    """The table as read (read again when it was released)."""
    if std.raw is not None:
        return std.raw
    raw = std.reload()
    if len(raw) != std.raw_shape[0]:
        raise HotspotInputError(f"{std.label}: the file changed while it was being read; run again")
    return raw


def _rejected_rows(std: Standard, mask: np.ndarray, raw: pd.DataFrame | None = None) -> pd.DataFrame:
    raw = std.raw if raw is None else raw
    rows = raw.loc[mask] if len(raw) == len(mask) else pd.DataFrame(index=np.flatnonzero(mask))
    rows = rows.rename(columns={c: f"{c}_raw" for c in ("reason", "source", "source_row") if c in rows.columns})
    return _ledger_rows(std, mask, rows)


def _ledger_rows(std: Standard, mask: np.ndarray, rows: pd.DataFrame) -> pd.DataFrame:
    """Ledger rows: ``rows`` (the source columns of the rows ``mask`` picks, a frame of the caller's to change)
    after their reason, source and row number."""
    rows.insert(0, "reason", reason_column(std.reason[mask]))
    rows.insert(1, "source", std.label)
    rows.insert(2, "source_row", np.flatnonzero(mask) + 1)
    return rows.reset_index(drop=True)


def read_records(
    inputs: Sequence[str | Path],
    *,
    crs: str | None = None,
    input_crs: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    lon_column: str | None = None,
    lat_column: str | None = None,
    date_column: str | None = None,
    time_column: str | None = None,
    type_column: str | None = None,
    id_column: str | None = None,
    layer: str | None = None,
    drop_duplicates: bool = True,
    progress: ProgressCallback | None = None,
) -> Records:
    """Read crime records from police.uk CSVs, force extracts or point layers, projected to metres.

    Parameters
    ----------
    inputs : sequence of str or Path
        Files, folders (searched recursively for ``*.csv``, ``*.csv.gz``, GeoPackage, GeoJSON,
        Shapefile, Parquet and zips) or the data.police.uk zip download (members are read in
        memory). police.uk outcomes and stop-and-search files inside folders and zips are skipped.
    crs : str, optional
        Projected CRS in metres to work in, e.g. ``"EPSG:27700"``. Default None: British
        National Grid when the points lie in Great Britain, else their UTM zone (``choose_crs``).
    input_crs : str, optional
        CRS of the coordinate columns (or of a layer without a CRS). Default None: WGS84
        (EPSG:4326) for longitude/latitude columns, British National Grid for eastings/northings.
    x_column, y_column : str, optional
        Columns holding projected coordinates in metres (easting, northing). Default None: auto-detect.
    lon_column, lat_column : str, optional
        Columns holding longitude/latitude in degrees. Default None: auto-detect.
    date_column : str, optional
        Column holding the date or date-time (day-first or ISO). Default None: auto-detect.
    time_column : str, optional
        Column holding the time of day (``HH:MM``, ``HH:MM:SS`` or ``HHMM``). Default None: auto-detect.
    type_column : str, optional
        Column holding the crime type. Default None: auto-detect.
    id_column : str, optional
        Column holding the record id. Default None: auto-detect.
    layer : str, optional
        Layer to read from a multi-layer GeoPackage. Default None: the only (point) layer.
    drop_duplicates : bool, default True
        Reject as ``duplicate`` every row of a file whose content repeats an earlier input (the
        same file given twice), and every row whose non-empty crime id was already seen (police.uk
        repeats a crime when its outcome changes; the first row is kept). Each is said in
        ``Records.notes``. False keeps them all.
    progress : callable, optional
        ``progress("reading records", files_done, n_files)``. Default None: silent.

    Returns
    -------
    Records
        Kept rows in ``frame`` (the columns of ``hotspot.core.records``), rows without usable
        coordinates or dates in ``rejected`` (reasons ``no_location``, ``unparsable``,
        ``out_of_range``, ``duplicate``) with their source columns, ``sources`` = the files read,
        and ``notes``: corrections made while reading (decimal commas, duplicates dropped).

    Raises
    ------
    HotspotInputError
        Missing file, unreadable zip or CSV, empty file, no recognisable coordinate columns,
        longitude/latitude swapped, metres declared as degrees, or no usable rows at all.

    Notes
    -----
    The column names recognised automatically are listed in ``hotspot.ingest.tables``.
    """
    return read_planned(
        plan_records(
            inputs,
            crs=crs,
            input_crs=input_crs,
            x_column=x_column,
            y_column=y_column,
            lon_column=lon_column,
            lat_column=lat_column,
            date_column=date_column,
            time_column=time_column,
            type_column=type_column,
            id_column=id_column,
            layer=layer,
            drop_duplicates=drop_duplicates,
        ),
        progress,
    )


@dataclass
class ReadPlan:
    """What :func:`read_records` reads: the sources, their keys in the parsed-input cache (parsed table, standard
    columns) and ``key``, the key of the whole result (None when it is not cached, e.g. for a GIS layer)."""

    sources: list[Source]
    keys: list[tuple[str | None, str | None]]
    key: str | None
    opts: dict
    target: str | None
    drop_duplicates: bool


def plan_records(
    inputs: Sequence[str | Path],
    *,
    crs: str | None = None,
    input_crs: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    lon_column: str | None = None,
    lat_column: str | None = None,
    date_column: str | None = None,
    time_column: str | None = None,
    type_column: str | None = None,
    id_column: str | None = None,
    layer: str | None = None,
    drop_duplicates: bool = True,
) -> ReadPlan:
    """The first step of :func:`read_records` (same arguments, same errors): check the options, list the sources
    and find their cache keys, without reading any of them."""
    from hotspot.ingest.cache import records_key

    opts = dict(
        input_crs=input_crs,
        x_column=x_column,
        y_column=y_column,
        lon_column=lon_column,
        lat_column=lat_column,
        date_column=date_column,
        time_column=time_column,
        type_column=type_column,
        id_column=id_column,
        layer=layer,
    )
    target = check_metre_crs(crs, "--crs") if crs is not None else None
    if input_crs is not None:
        parse_crs(input_crs, "input_crs")
    sources = expand_inputs(inputs)
    keys = [_source_keys(source, opts) for source in sources]
    key = records_key([k for _, k in keys], [s.label for s in sources], target, drop_duplicates)
    return ReadPlan(sources, keys, key, opts, target, drop_duplicates)


def read_planned(plan: ReadPlan, progress: ProgressCallback | None = None, *, store: bool = True) -> Records:
    """The rest of :func:`read_records`: the result kept in the parsed-input cache, else every source read (each
    from the cache when it can be) and the result kept there (unless ``store`` is False)."""
    from hotspot.ingest.cache import load_records, store_records

    progress = resolve(progress)
    sources = plan.sources
    progress("reading records", 0, len(sources))
    records = load_records(plan.key) if plan.key is not None else None
    if records is not None:  # these files read before with the same options: nothing to parse, project or join
        progress("reading records", len(sources), len(sources))
        return records
    records = _read_tables(sources, plan.keys, plan.opts, plan.target, plan.drop_duplicates, progress)
    if plan.key is not None and store:
        store_records(plan.key, records)
    return records


def _read_tables(sources: list[Source], keys: list, opts: dict, target, drop_duplicates: bool, progress) -> Records:
    """``read_records`` of the sources, each read (or found in the parsed-input cache) and projected to ``target``."""
    tables: list[Standard] = []
    for i, (source, source_keys) in enumerate(zip(sources, keys), 1):
        tables.append(_read_source(source, opts, source_keys))
        progress("reading records", i, len(sources))
    if sum(len(t.reason) for t in tables) == 0:
        raise HotspotInputError(f"{', '.join(s.label for s in sources[:3])}: the input holds no data rows")

    # WGS84 for every row: needed for Records.lon/lat, choosing the CRS and range checks.
    to_wgs84 = {}
    for t in tables:
        if parse_crs(t.src_crs).is_geographic:
            bad = (np.abs(t.cx) > 180) | (np.abs(t.cy) > 90)
            t.reason[(t.reason == None) & bad] = "out_of_range"  # noqa: E711
        if t.src_crs != WGS84:
            to_wgs84.setdefault(t.src_crs, []).append(t)
    converted = {
        id(t): pair
        for src, group in to_wgs84.items()
        for t, pair in zip(group, transform_many([(t.cx, t.cy) for t in group], src, WGS84))
    }
    for t in tables:
        # degrees already: the columns themselves (rows blanked here are rejected, so their projection is never used)
        lon, lat = converted.pop(id(t)) if id(t) in converted else (_writable(t.cx), _writable(t.cy))
        lon[t.reason != None] = np.nan  # noqa: E711
        lat[t.reason != None] = np.nan  # noqa: E711
        t.columns["lon"], t.columns["lat"] = lon, lat
    if target is None:
        all_lon = np.concatenate([t.columns["lon"] for t in tables])
        all_lat = np.concatenate([t.columns["lat"] for t in tables])
        if not np.isfinite(all_lon).any():
            target = None
        else:
            target = choose_crs(all_lon, all_lat)
        del all_lon, all_lat
    converted = {}
    if target is not None:
        to_target = {}
        for t in tables:
            if t.src_crs != target:
                to_target.setdefault(t.src_crs, []).append(t)
        converted = {
            id(t): pair
            for src, group in to_target.items()
            for t, pair in zip(group, transform_many([(t.cx, t.cy) for t in group], src, target))
        }
    projected = []
    for t in tables:
        if target is not None:
            x, y = converted.pop(id(t)) if id(t) in converted else (t.cx.copy(), t.cy.copy())
            usable = np.isfinite(x) & np.isfinite(y) & area_of_use_mask(t.columns["lon"], t.columns["lat"], target)
            t.reason[(t.reason == None) & ~usable] = "out_of_range"  # noqa: E711
        else:
            x = y = np.full(len(t.cx), np.nan)
        projected.append((x, y))
        t.cx = t.cy = None  # projected: the source coordinates are not needed again
    notes = [note for t in tables for note in t.notes]
    if drop_duplicates:
        notes += mark_duplicates(tables)
    frame, rejected_parts = _assemble(tables, projected)
    projected.clear()
    rejected = concat_ledgers(rejected_parts)
    records = Records(
        frame=frame,
        crs=target or "",
        rejected=rejected,
        has_times=any(t.has_times for t in tables),
        sources=[s.label for s in sources],
        notes=notes,
    )
    if frame.empty:
        counts = ", ".join(f"{n:,} {r}" for r, n in records.reject_counts.items() if n)
        raise HotspotInputError(
            f"{sources[0].label}{' and others' if len(sources) > 1 else ''}: no usable records ({counts}); "
            "check the coordinate columns and input_crs"
        )
    return records


def _assemble(tables: list[Standard], projected: list) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The kept rows of every table as one records frame, and each table's rejected rows for the ledger.

    Columns are allocated once at their final size and filled table by table, each table's own
    columns let go as soon as they are copied, so the kept records are never held twice.
    """
    keeps = [t.reason == None for t in tables]  # noqa: E711
    sizes = [int(k.sum()) for k in keeps]
    total = sum(sizes)
    out: dict[str, object] = {name: np.empty(total, dtype=np.float64) for name in ("x", "y", "lon", "lat")}
    out["datetime"] = np.empty(total, dtype="datetime64[ns]")
    out["source_row"] = np.empty(total, dtype=np.int64)
    labels = [t.label for t in tables]
    sources = pd.Index(sorted(set(labels)), dtype=object)
    source_code = sources.get_indexer(labels)
    out["source"] = np.empty(total, dtype=_code_dtype(len(sources)))
    categories = {
        name: pd.Index(
            sorted(set().union(*(set(compact_text(t.columns[name]).categories) for t in tables))), dtype=object
        )
        for name in CATEGORICAL_COLUMNS
        if name != "source"
    }
    for name, cats in categories.items():
        out[name] = np.empty(total, dtype=_code_dtype(len(cats)))
    text_parts: dict[str, list] = {"crime_id": [], "month": []}
    rejected_parts = []
    start = 0
    for i, (t, (x, y), keep, size) in enumerate(zip(tables, projected, keeps, sizes)):
        end = start + size
        out["x"][start:end], out["y"][start:end] = x[keep], y[keep]
        for name in ("lon", "lat"):
            out[name][start:end] = t.columns[name][keep]
        out["datetime"][start:end] = np.asarray(t.columns["datetime"], dtype="datetime64[ns]")[keep]
        out["source_row"][start:end] = np.flatnonzero(keep) + 1
        out["source"][start:end] = source_code[i]
        for name, cats in categories.items():
            column = compact_text(t.columns[name])
            recode = cats.get_indexer(column.categories)
            codes = np.asarray(column.codes)[keep]
            out[name][start:end] = np.where(codes < 0, -1, recode[np.maximum(codes, 0)]) if recode.size else -1
        for name, pieces in text_parts.items():
            pieces.append(pd.Series(t.columns[name], dtype="str")[keep].reset_index(drop=True))
        if (~keep).any():
            late = ~keep & ~t.early_mask if t.raw is None else ~keep
            if t.raw is None and not late.any():
                rejected_parts.append(t.early_rejects)
            else:
                rejected_parts.append(_rejected_rows(t, ~keep, _raw_of(t)))
        t.columns, t.early_rejects = {}, None  # each table's columns go as soon as its kept rows are copied
        projected[i] = None
        start = end
    columns: dict[str, object] = {}
    for name in RECORD_COLUMNS:
        if name == "source":
            columns[name] = pd.Categorical.from_codes(out.pop(name), categories=sources)
        elif name in categories:
            columns[name] = pd.Categorical.from_codes(out.pop(name), categories=categories[name])
        elif name in text_parts:
            pieces = text_parts.pop(name)
            columns[name] = pd.concat(pieces, ignore_index=True) if pieces else pd.Series([], dtype="str")
        else:
            columns[name] = out.pop(name)
    return pd.DataFrame(columns, columns=list(RECORD_COLUMNS), copy=False), rejected_parts


def _writable(values: np.ndarray) -> np.ndarray:
    """The array itself when it may be written to, else a copy (pyarrow and shapely can return read-only views)."""
    return values if values.flags.writeable else values.copy()


def _code_dtype(n_categories: int):
    """The narrowest integer type holding category codes 0..n-1 and -1."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


PAIR_MIN_ROWS = 10_000
"""Inputs of at least this many rows are projected once per distinct coordinate pair (:func:`transform_many`)."""


def transform_many(
    pairs: list[tuple[np.ndarray, np.ndarray]], src: str, dst: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``transform`` of several tables, computed once per coordinate pair distinct across all of them.

    police.uk's snap points repeat month after month, so the pairs are made distinct within each
    table, then across tables, and projected once; no table is concatenated with another.
    """
    if sum(len(p[0]) for p in pairs) < PAIR_MIN_ROWS:
        return [transform(cx, cy, src, dst) for cx, cy in pairs]
    local = []
    for cx, cy in pairs:
        cx = np.asarray(cx, dtype=np.float64)
        cy = np.asarray(cy, dtype=np.float64)
        finite = np.isfinite(cx) & np.isfinite(cy)
        codes, uniques = pd.factorize(cx[finite] + 1j * cy[finite])
        local.append((finite, codes, np.asarray(uniques, dtype=np.complex128)))
    every = np.concatenate([u for _, _, u in local])
    global_codes, distinct = pd.factorize(every)
    distinct = np.asarray(distinct, dtype=np.complex128)
    px, py = transform(np.ascontiguousarray(distinct.real), np.ascontiguousarray(distinct.imag), src, dst)
    out = []
    offset = 0
    for (cx, cy), (finite, codes, uniques) in zip(pairs, local):
        which = global_codes[offset : offset + uniques.size][codes]
        offset += uniques.size
        x = np.full(finite.size, np.nan)
        y = np.full(finite.size, np.nan)
        x[finite], y[finite] = px[which], py[which]
        if not finite.all():
            x[~finite], y[~finite] = transform(np.asarray(cx)[~finite], np.asarray(cy)[~finite], src, dst)
        out.append((x, y))
    return out


def _table_fingerprint(t: Standard) -> tuple:
    """Identifies a table's content: the same file given twice (or copied) has the same fingerprint."""
    raw = _raw_of(t)
    digest = pd.util.hash_pandas_object(raw, index=False).to_numpy() if len(raw) else np.zeros(0, np.uint64)
    return (len(raw), tuple(map(str, raw.columns)), hash(digest.tobytes()))


def _table_shape(t: Standard) -> tuple:
    """Rows, column names and a sample's hash of a table as read: tables that differ here cannot hold the same rows."""
    return t.raw_shape if t.raw is None else (len(t.raw), tuple(map(str, t.raw.columns)), _sample_digest(t.raw))


def mark_duplicates(tables: Sequence[Standard]) -> list[str]:
    """Mark repeated files and repeated crime ids as ``duplicate`` in each table's ``reason``; returns notes.

    A table whose content equals an earlier one's loses every row. Across the remaining usable
    rows, a non-empty crime id seen before loses the later row: police.uk gives a crime one id and
    repeats its row (sometimes with another outcome) when it is republished.
    """
    notes: list[str] = []
    seen: dict[tuple, str] = {}
    shapes = pd.Series([_table_shape(t) for t in tables], dtype=object)
    # hashing every row is costly, so only tables of the same size and columns as another are hashed
    alike = shapes.duplicated(keep=False).to_numpy()
    for t, shape, check in zip(tables, shapes, alike):
        key = _table_fingerprint(t) if check else shape
        if check and key in seen and shape[0]:
            t.reason[:] = "duplicate"
            notes.append(
                f"{t.label} {'is given twice' if t.label == seen[key] else f'has the same rows as {seen[key]}'}; "
                f"its {shape[0]:,} rows were dropped as duplicates (the same file given twice?)"
            )
        else:
            seen.setdefault(key, t.label)
    ids = [np.asarray(pd.Series(t.columns["crime_id"]).astype(str).to_numpy(), dtype=object) for t in tables]
    usable = [(t.reason == None) & (i != "") for t, i in zip(tables, ids)]  # noqa: E711
    if not any(u.any() for u in usable):
        return notes
    every = pd.Series(np.concatenate([i[u] for i, u in zip(ids, usable)]))
    repeated = every.duplicated(keep="first").to_numpy()
    if not repeated.any():
        return notes
    start = 0
    for t, u in zip(tables, usable):
        n = int(u.sum())
        where = np.flatnonzero(u)[repeated[start : start + n]]
        t.reason[where] = "duplicate"
        start += n
    notes.append(
        f"{int(repeated.sum()):,} records repeat a Crime ID seen before ({every[repeated].nunique():,} ids); "
        "the first row of each was kept and the repeats dropped as duplicates"
    )
    return notes
