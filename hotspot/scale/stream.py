"""Streaming, bounded-memory ingest of many police.uk street CSVs into aggregated locations.

England and Wales publish roughly 6-7 million street-level records a year, all snapped to a fixed
set of anonymisation map points. :func:`stream_locations` reads any number of police.uk CSVs
(files, ``.csv.gz``, folders, the data.police.uk zip) block by block with ``pyarrow.csv.open_csv``,
keeps only longitude, latitude, month and crime type, and merges identical coordinates as it goes
into ``(x, y, weight)``: one row per distinct location, the weight being the number of records
there. Memory is bounded by the number of distinct locations plus one block, not by the number of
files or rows.

The result is the same as :func:`hotspot.ingest.read_records` followed by
:func:`hotspot.stats.kde.aggregate_locations` on ``x, y`` (the tests check it on the real Bedfordshire
files): the same rows are rejected for the same reasons (``no_location``, ``unparsable``,
``out_of_range``) and the kept coordinates are projected with the same pyproj call. Duplicates are
merged in longitude/latitude as blocks arrive, and only the distinct pairs of the whole input are
projected, once, at the end: projection is a pure function of the pair, so no coordinate changes,
and its cost follows the number of snap points rather than the number of records.

Only police.uk-shaped CSVs stream (columns Longitude, Latitude, Month; Crime type for the type
filter). For other tables use :func:`hotspot.ingest.read_records`. A file pyarrow cannot parse as
numbers (stray text in a coordinate, non-UTF-8 bytes) is read whole by the ordinary reader instead,
so its bad rows are rejected exactly as ``read_records`` rejects them.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve
from hotspot.stats.kde import aggregate_locations

DEFAULT_BLOCK_BYTES = 16 << 20
"""Bytes of CSV text pyarrow parses per block (16 MiB, about 100,000 police.uk rows)."""

MERGE_ROWS = 2_000_000
"""Partial aggregates are merged once they hold this many rows, bounding memory between merges."""

_MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_REASONS = ("no_location", "unparsable", "out_of_range", "filtered_crime_type", "filtered_date")


@dataclass
class StreamedLocations:
    """Distinct crime locations with the number of records at each, and the ledger of rows dropped.

    Attributes
    ----------
    x, y : float64 arrays
        Projected coordinates in metres (``crs``), sorted by y then x, each pair distinct.
    weight : float64 array
        Records at each location.
    crs : str
        The projected CRS of ``x``/``y`` (metres).
    n_rows : int
        Data rows read from every file.
    rejected : dict of str to int
        Rows dropped by reason (reasons as in :data:`hotspot.core.records.REJECT_REASONS`).
    sources : list of str
        The files (or zip members) read, in order.
    """

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    crs: str
    n_rows: int = 0
    rejected: dict = field(default_factory=lambda: {r: 0 for r in _REASONS})
    sources: list = field(default_factory=list)

    @property
    def n_locations(self) -> int:
        """Number of distinct locations."""
        return int(self.x.size)

    @property
    def n_records(self) -> int:
        """Records kept (the sum of the weights)."""
        return int(round(float(self.weight.sum())))


class _Aggregator:
    """Running merge of (x, y, weight) parts; merging when the parts grow past MERGE_ROWS."""

    def __init__(self, merge_rows: int = MERGE_ROWS):
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.rows = 0
        self.merge_rows = merge_rows

    def add(self, x, y, w) -> None:
        if x.size == 0:
            return
        self.parts.append((x, y, w))
        self.rows += x.size
        if self.rows > self.merge_rows and len(self.parts) > 1:
            self.parts = [self.result()]
            self.rows = self.parts[0][0].size
            # A national set of snap points can exceed the threshold on its own; merge less often then.
            self.merge_rows = max(self.merge_rows, 2 * self.rows)

    def result(self):
        if not self.parts:
            return np.empty(0), np.empty(0), np.empty(0)
        x = np.concatenate([p[0] for p in self.parts])
        y = np.concatenate([p[1] for p in self.parts])
        w = np.concatenate([p[2] for p in self.parts])
        return merge_hashed(x, y, w)


def merge_hashed(x, y, w=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Identical (x, y) pairs merged with summed weight, in no particular order (hashing, no sort).

    For the running merge of many blocks, where order does not matter until the end.
    """
    import pandas as pd

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(x.size) if w is None else np.asarray(w, dtype=np.float64)
    if x.size == 0:
        return x, y, w
    # One hash of the pair: a complex number holds both floats exactly.
    pair = np.empty(x.size, dtype=np.complex128)
    pair.real = x
    pair.imag = y
    codes, keys = pd.factorize(pair)
    return keys.real.copy(), keys.imag.copy(), np.bincount(codes, weights=w, minlength=len(keys))


def _header(source) -> list[str]:
    """Column names from the first line of a CSV source (raises HotspotInputError if unreadable)."""
    try:
        if source.open_bytes is not None:
            first = source.open_bytes()[:65536]
        elif source.path.name.lower().endswith(".gz"):
            with gzip.open(source.path, "rb") as fh:
                first = fh.read(65536)
        else:
            with open(source.path, "rb") as fh:
                first = fh.read(65536)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise HotspotInputError(
            f"{source.label}: cannot be read ({exc}); the file may be corrupt, get a fresh copy"
        ) from None
    line = first.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    return [c.strip().strip('"') for c in line.split(",")]


def _columns(source) -> dict[str, str]:
    from hotspot.ingest.tables import normalise

    names = _header(source)
    by_norm = {normalise(c): c for c in names}
    needed = {"longitude": "Longitude", "latitude": "Latitude", "month": "Month"}
    missing = [label for key, label in needed.items() if key not in by_norm]
    if missing:
        raise HotspotInputError(
            f"{source.label}: streaming ingest reads police.uk street CSVs, and this file has no "
            f"{', '.join(missing)} column; read other tables with read_records"
        )
    found = {key: by_norm[key] for key in needed}
    if "crime_type" in by_norm:
        found["crime_type"] = by_norm["crime_type"]
    return found


def _batches(source, cols: dict[str, str], block_bytes: int):
    """(lon, lat, month, crime_type) per block; lon/lat float64 with NaN for blanks, text as pyarrow arrays."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [cols[k] for k in ("longitude", "latitude", "month", "crime_type") if k in cols]
    text = pa.dictionary(pa.int32(), pa.string())
    types = {cols["longitude"]: pa.float64(), cols["latitude"]: pa.float64(), cols["month"]: text}
    if "crime_type" in cols:
        types[cols["crime_type"]] = text
    stream = pa.BufferReader(source.open_bytes()) if source.open_bytes is not None else str(source.path)
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=True),
        convert_options=pacsv.ConvertOptions(include_columns=names, column_types=types, strings_can_be_null=False),
    )
    for batch in reader:
        lon = batch.column(cols["longitude"]).to_numpy(zero_copy_only=False)
        lat = batch.column(cols["latitude"]).to_numpy(zero_copy_only=False)
        crime = batch.column(cols["crime_type"]) if "crime_type" in cols else None
        yield np.asarray(lon, np.float64), np.asarray(lat, np.float64), batch.column(cols["month"]), crime


def _fallback_batches(source, cols: dict[str, str]):
    """The whole file through the ordinary reader, for files pyarrow cannot stream as numbers."""
    import pyarrow as pa

    from hotspot.ingest.sources import read_csv_text
    from hotspot.ingest.tables import to_float

    frame = read_csv_text(source)
    lon, lon_blank = to_float(frame[cols["longitude"]])
    lat, lat_blank = to_float(frame[cols["latitude"]])
    # Blank, or text that is not a number when the other coordinate is present: as standardise_policeuk.
    bad = (np.isnan(lon) & ~lon_blank) | (np.isnan(lat) & ~lat_blank) | (lon_blank != lat_blank)
    lon = np.where(bad, np.inf, lon)
    months = pa.array(frame[cols["month"]].fillna("").astype(str).str.strip().tolist(), pa.string())
    crime = (
        pa.array(frame[cols["crime_type"]].fillna("").astype(str).tolist(), pa.string())
        if "crime_type" in cols
        else None
    )
    yield lon, lat, months, crime


def _dictionary(column):
    """(row indices, distinct values as a pyarrow string array) of a text column, dictionary-encoding if needed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    indices = np.asarray(column.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return indices, column.dictionary


def _months(months):
    """Per distinct month text: (YYYY-MM text as numpy object array, parsable mask), and row indices into them.

    police.uk files hold one or a few distinct months, so the checks run on those, not on every row.
    """
    import pyarrow.compute as pc

    indices, values = _dictionary(months)
    trimmed = pc.utf8_trim_whitespace(values)
    exact = np.asarray(pc.match_substring_regex(trimmed, _MONTH_PATTERN).to_numpy(zero_copy_only=False), dtype=bool)
    text = np.asarray(trimmed.to_numpy(zero_copy_only=False), dtype=object)
    if not exact.all():
        import pandas as pd

        from hotspot.ingest.tables import normalise_months

        out, exact = normalise_months(pd.Series(text, dtype="str"))
        text = out.to_numpy(dtype=object)
    return text, np.asarray(exact, dtype=bool), indices


def _aggregate_sources(payload):
    """Stream a list of sources into distinct (lon, lat) with record counts; the unit of work of both engines.

    Returns ``(lon, lat, w, n_rows, rejected, labels)``.
    """
    import pyarrow as pa

    sources, type_keys, date_from, date_to, block_bytes = payload
    agg = _Aggregator()
    rejected = {r: 0 for r in _REASONS}
    n_rows = 0
    for source in sources:
        cols = _columns(source)
        try:
            batches = _batches(source, cols, block_bytes)
            file_parts = []
            file_rows = 0
            file_rejected = {r: 0 for r in _REASONS}
            for lon, lat, months, crime in batches:
                file_rows += lon.size
                file_parts.append(_block(lon, lat, months, crime, type_keys, date_from, date_to, file_rejected))
        except (pa.ArrowInvalid, UnicodeDecodeError):
            file_parts, file_rows, file_rejected = [], 0, {r: 0 for r in _REASONS}
            for lon, lat, months, crime in _fallback_batches(source, cols):
                file_rows += lon.size
                file_parts.append(_block(lon, lat, months, crime, type_keys, date_from, date_to, file_rejected))
        for part in file_parts:
            agg.add(*part)
        n_rows += file_rows
        for r, n in file_rejected.items():
            rejected[r] += n
    x, y, w = agg.result()
    return x, y, w, n_rows, rejected, [s.label for s in sources]


def _combine_parts(a, b):
    """Two partial aggregates as one (duplicates merged, counters added, sources a then b)."""
    lon, lat, w = merge_hashed(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]]))
    return lon, lat, w, a[3] + b[3], {r: a[4][r] + b[4][r] for r in a[4]}, list(a[5]) + list(b[5])


def _block(lon, lat, months, crime, type_keys, date_from, date_to, rejected):
    """One block of rows to distinct (lon, lat, weight) of its kept rows; counts dropped rows into ``rejected``."""
    import pyarrow.compute as pc

    lon_blank = np.isnan(lon)
    lat_blank = np.isnan(lat)
    unparsable = (lon_blank != lat_blank) | np.isinf(lon)
    month_text, month_ok, month_index = _months(months)
    unparsable |= ~month_ok[month_index]
    no_location = lon_blank & lat_blank
    reason_set = no_location | unparsable
    rejected["no_location"] += int(no_location.sum())
    rejected["unparsable"] += int((unparsable & ~no_location).sum())
    keep = ~reason_set
    out_range = keep & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    keep &= ~out_range
    if type_keys is not None:
        if crime is None:
            raise HotspotInputError("a crime-type filter needs a Crime type column, and a file has none")
        type_index, type_values = _dictionary(crime)
        key = pc.utf8_lower(pc.utf8_trim_whitespace(type_values))
        in_types = np.asarray(pc.is_in(key, value_set=type_keys).to_numpy(zero_copy_only=False), dtype=bool)[type_index]
        drop = keep & ~out_range & ~in_types
        rejected["filtered_crime_type"] += int(drop.sum())
        keep &= in_types
    if date_from is not None or date_to is not None:
        in_range = month_ok.copy()
        if date_from is not None:
            in_range &= month_text >= date_from
        if date_to is not None:
            in_range &= month_text <= date_to
        in_range = in_range[month_index]
        drop = keep & ~in_range
        rejected["filtered_date"] += int(drop.sum())
        keep &= in_range
    rejected["out_of_range"] += int(out_range.sum())
    return merge_hashed(lon[keep], lat[keep])


def stream_locations(
    inputs: Sequence[str | Path],
    *,
    crs: str = "EPSG:27700",
    crime_types: Sequence[str] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    files_per_task: int = 4,
    engine: str = "local",
    scheduler: str | None = None,
    client=None,
    progress=None,
) -> StreamedLocations:
    """Stream police.uk street CSVs into distinct projected locations with record counts.

    Parameters
    ----------
    inputs : sequence of str or Path
        Files (``.csv``, ``.csv.gz``), folders (searched recursively) or data.police.uk zips, as
        :func:`hotspot.ingest.read_records` takes them; outcomes and stop-and-search files are skipped.
    crs : str, default "EPSG:27700"
        Projected CRS in metres for ``x``/``y`` (British National Grid).
    crime_types : sequence of str, optional
        Keep only these police.uk crime types (case-insensitive). Default None: all.
    date_from, date_to : str, optional
        First and last month kept (``YYYY-MM``, inclusive). Default None: no limit.
    block_bytes : int, default 16 MiB
        Bytes of CSV text parsed per block: the memory one block takes, whatever the file count.
    files_per_task : int, default 4
        Files aggregated by one task (one progress step; one Dask task with ``engine="dask"``).
    engine : {"local", "dask"}, default "local"
        Read here, or one Dask task per group of files (each worker reads its files from the path
        it is given, so the files must be visible to the workers); partial aggregates are merged here.
    scheduler, client : as in :func:`hotspot.scale.tiles.run_tiles`.
    progress : callable, optional
        ``progress("streaming CSVs", groups_done, n_groups)``.

    Returns
    -------
    StreamedLocations
    """
    from hotspot.ingest.projection import WGS84, area_of_use_mask, check_metre_crs, transform
    from hotspot.ingest.sources import expand_inputs
    from hotspot.scale.tiles import run_tiles

    crs = check_metre_crs(crs, "--crs")
    for name, value in (("--from", date_from), ("--to", date_to)):
        if value is not None and not (
            len(value) == 7
            and value[4] == "-"
            and value[:4].isdigit()
            and value[5:].isdigit()
            and 1 <= int(value[5:]) <= 12
        ):
            raise HotspotInputError(f"{name} {value!r}: streaming ingest filters whole months; give YYYY-MM")
    if not (isinstance(files_per_task, int) and files_per_task >= 1):
        raise HotspotInputError(f"files_per_task must be 1 or more, got {files_per_task}")
    if not block_bytes >= 1 << 16:
        raise HotspotInputError(f"block_bytes must be at least 65536, got {block_bytes}")
    sources = [s for s in expand_inputs(inputs) if s.kind == "csv"]
    if not sources:
        raise HotspotInputError("no CSV files among the inputs; streaming ingest reads police.uk street CSVs")
    type_keys = None
    if crime_types:
        import pyarrow as pa

        type_keys = pa.array(sorted({str(t).strip().lower() for t in crime_types}), pa.string())
    groups = [sources[i : i + files_per_task] for i in range(0, len(sources), files_per_task)]
    payloads = [(g, type_keys, date_from, date_to, int(block_bytes)) for g in groups]
    progress = resolve(progress)
    parts = run_tiles(
        _aggregate_sources,
        payloads,
        engine=engine,
        scheduler=scheduler,
        client=client,
        progress=progress,
        stage="streaming CSVs",
        combine=_combine_parts,
    )
    agg = _Aggregator()
    rejected = {r: 0 for r in _REASONS}
    n_rows = 0
    labels: list[str] = []
    for x, y, w, rows, rej, names in parts:
        agg.add(x, y, w)
        n_rows += rows
        labels.extend(names)
        for r, v in rej.items():
            rejected[r] += v
    lon, lat, w = agg.result()
    # Projection is a pure function of the pair, so projecting each distinct pair once gives the
    # coordinates read_records computes row by row (police.uk's fixed snap points: few pairs).
    x, y = transform(lon, lat, WGS84, crs)
    usable = np.isfinite(x) & np.isfinite(y) & area_of_use_mask(lon, lat, crs)
    rejected["out_of_range"] += int(round(float(w[~usable].sum())))
    x, y, w = aggregate_locations(x[usable], y[usable], w[usable])
    if n_rows == 0:
        raise HotspotInputError(
            f"{sources[0].label}{' and others' if len(sources) > 1 else ''}: the input holds no data rows"
        )
    if x.size == 0:
        counts = ", ".join(f"{v:,} {r}" for r, v in rejected.items() if v)
        raise HotspotInputError(
            f"no usable records in the {len(sources)} file(s) ({counts}); check the files and filters"
        )
    return StreamedLocations(x=x, y=y, weight=w, crs=crs, n_rows=n_rows, rejected=rejected, sources=labels)


def records_in_cells(
    inputs: Sequence,
    grid,
    cells,
    *,
    crime_types: Sequence[str] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
):
    """The located police.uk rows of ``inputs`` falling in the chosen ``cells`` of ``grid``, with their text.

    A second, narrow pass over the files (Longitude, Latitude, Location, LSOA name, Crime type) that keeps only
    the rows inside ``cells`` (a boolean ``grid.shape`` array, e.g. the hot cells of a national Gi*), so a
    national run can name its places the way every other command does without holding every record's text.
    Returns a DataFrame with ``x, y`` (metres, ``grid.crs``), ``location``, ``lsoa_name`` and ``crime_type``.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from hotspot.ingest.projection import WGS84, transform
    from hotspot.ingest.sources import expand_inputs
    from hotspot.ingest.tables import normalise

    wanted = {
        "longitude": "x",
        "latitude": "y",
        "location": "location",
        "lsoa_name": "lsoa_name",
        "crime_type": "crime_type",
        "month": "month",
    }
    types = set(crime_types or [])
    parts = []
    for source in (s for s in expand_inputs(inputs) if s.kind == "csv"):
        by_norm = {normalise(c): c for c in _header(source)}
        if "longitude" not in by_norm or "latitude" not in by_norm:
            continue
        names = {by_norm[k]: v for k, v in wanted.items() if k in by_norm}
        stream = pa.BufferReader(source.open_bytes()) if source.open_bytes is not None else str(source.path)
        try:
            table = pacsv.read_csv(
                stream,
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(names),
                    strings_can_be_null=False,
                    column_types={by_norm["longitude"]: pa.float64(), by_norm["latitude"]: pa.float64()},
                ),
            )
        except (pa.ArrowInvalid, OSError):
            continue  # files pyarrow cannot read as numbers only lose their names, never their counts
        frame = table.to_pandas().rename(columns=names)
        if types and "crime_type" in frame:
            frame = frame[frame["crime_type"].isin(types)]
        if "month" in frame and (date_from or date_to):
            month = frame["month"].astype(str).str.strip()
            frame = frame[(month >= (date_from or "")) & (month <= (date_to or "9999-99"))]
        lon = frame["x"].to_numpy(np.float64)
        lat = frame["y"].to_numpy(np.float64)
        x, y = transform(lon, lat, WGS84, grid.crs)
        flat, on_grid = grid.flat_index(np.nan_to_num(x, nan=-1e18), np.nan_to_num(y, nan=-1e18))
        keep = on_grid & np.isfinite(x) & np.isfinite(y)
        keep[keep] = np.asarray(cells).ravel()[flat[keep]]
        part = frame.loc[keep].assign(x=x[keep], y=y[keep])
        parts.append(part)
    columns = ["x", "y", "location", "lsoa_name", "crime_type"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c in "xy" else object) for c in columns})
    out = pd.concat(parts, ignore_index=True)
    for column in columns:
        if column not in out:
            out[column] = ""
    return out[columns]
