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

A file given twice (the same path, or the same CSV text under another name, gzipped or not) is read once and
its rows counted as ``duplicate``, as ``read_records`` counts them. Repeated Crime IDs are dropped as
``read_records`` drops them: among the rows not already rejected as
``no_location``, ``unparsable`` or ``out_of_range``, a non-empty Crime ID seen before (earlier in the same
file or in an earlier file, in input order) loses the later row, counted as ``duplicate`` (before the
crime-type and date filters, as there). Each such row is remembered by a 104-bit key of its Crime ID
(police.uk's 64-hex-digit IDs: their 256 bits folded by XOR; other IDs: two independent 52-bit hashes), its
coordinates, text ids and filter outcome (about 50 bytes a row, 1 GB for 20 M records that all carry an ID;
files without IDs cost nothing), so the repeats are found after every file is read and taken out of the
aggregate exactly, with no second pass. Two different IDs would have to agree in all 104 bits to be
mistaken for one (odds about 1e-17 for 20 M IDs).

Only police.uk-shaped CSVs stream (columns Longitude, Latitude, Month; Crime type for the type
filter). For other tables use :func:`hotspot.ingest.read_records`. A file pyarrow cannot parse as
numbers (stray text in a coordinate, non-UTF-8 bytes) is read whole by the ordinary reader instead,
so its bad rows are rejected exactly as ``read_records`` rejects them.
"""

from __future__ import annotations

import gzip
from collections import Counter
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
_REASONS = ("no_location", "unparsable", "out_of_range", "duplicate", "filtered_crime_type", "filtered_date")


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
    text : DataFrame or None
        With ``with_text=True``: one row per distinct (location, police.uk ``Location``, ``LSOA name``) with
        ``x``, ``y`` (as above), ``location``, ``lsoa_name`` (categorical; "" where a file has no such column)
        and ``weight`` (records); its weights add up to ``weight``'s. None otherwise.
    notes : list of str
        What was corrected while reading (repeated Crime IDs dropped), as ``Records.notes``.
    """

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    crs: str
    n_rows: int = 0
    rejected: dict = field(default_factory=lambda: {r: 0 for r in _REASONS})
    sources: list = field(default_factory=list)
    text: object = None
    notes: list = field(default_factory=list)

    @property
    def n_locations(self) -> int:
        """Number of distinct locations."""
        return int(self.x.size)

    @property
    def n_records(self) -> int:
        """Records kept (the sum of the weights)."""
        return int(round(float(self.weight.sum())))


class _Aggregator:
    """Running merge of (x, y, weight) parts, or (x, y, weight, location id, LSOA name id) parts keyed on all but
    the weight; merging when the parts grow past MERGE_ROWS."""

    def __init__(self, merge_rows: int = MERGE_ROWS):
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.rows = 0
        self.merge_rows = merge_rows

    def add(self, x, y, w, *ids) -> None:
        if x.size == 0:
            return
        self.parts.append((x, y, w, *ids))
        self.rows += x.size
        if self.rows > self.merge_rows and len(self.parts) > 1:
            self.parts = [self.result()]
            self.rows = self.parts[0][0].size
            # A national set of snap points can exceed the threshold on its own; merge less often then.
            self.merge_rows = max(self.merge_rows, 2 * self.rows)

    def result(self, n_columns: int = 3):
        if not self.parts:
            return tuple(np.empty(0) if i < 3 else np.empty(0, dtype=np.int64) for i in range(n_columns))
        columns = [np.concatenate([p[i] for p in self.parts]) for i in range(len(self.parts[0]))]
        return merge_hashed(*columns[:3]) if len(columns) == 3 else merge_keyed(*columns)


def merge_keyed(x, y, w, loc, lsoa) -> tuple[np.ndarray, ...]:
    """Identical (x, y, loc, lsoa) rows merged with summed weight (``loc``, ``lsoa``: integer text ids), no sort."""
    import pandas as pd

    if x.size == 0:
        return x, y, w, loc, lsoa
    if loc[0] == loc.min() == loc.max() and lsoa[0] == lsoa.min() == lsoa.max():
        # One text throughout (files without Location/LSOA name columns): the pair alone is the key.
        x, y, w = merge_hashed(x, y, w)
        return x, y, w, np.full(x.size, loc[0]), np.full(x.size, lsoa[0])
    pair = np.empty(x.size, dtype=np.complex128)
    pair.real = x
    pair.imag = y
    pair_code, pairs = pd.factorize(pair)
    span = int(lsoa.max()) + 1
    text_code, texts = pd.factorize(loc.astype(np.int64) * span + lsoa)
    # Both codes are below the row count, so the combined key cannot overflow.
    codes, keys = pd.factorize(pair_code.astype(np.int64) * len(texts) + text_code)
    which_pair, which_text = np.divmod(keys, len(texts))
    text = texts[which_text]
    return (
        pairs.real[which_pair],
        pairs.imag[which_pair],
        np.bincount(codes, weights=w, minlength=len(keys)),
        text // span,
        text % span,
    )


class _Interner:
    """Text to a small integer id, in order of first sight (ids index :attr:`values`)."""

    def __init__(self, values=()):
        self.ids: dict[str, int] = {}
        self.ids_of(list(values))

    def ids_of(self, strings: list) -> np.ndarray:
        ids = self.ids
        return np.fromiter((ids.setdefault(t, len(ids)) for t in strings), dtype=np.int64, count=len(strings))

    @property
    def values(self) -> list:
        return list(self.ids)


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
    for key in ("crime_id", "crime_type", "location", "lsoa_name"):
        if key in by_norm:
            found[key] = by_norm[key]
    return found


def _batches(source, cols: dict[str, str], block_bytes: int, with_text: bool = False):
    """(lon, lat, month, crime_type, location, lsoa_name, crime_id) per block; lon/lat float64 with NaN for blanks,
    text as pyarrow arrays (location and LSOA name only ``with_text``; None when not read)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    keys = ("longitude", "latitude", "month", "crime_type") + (("location", "lsoa_name") if with_text else ())
    names = [cols[k] for k in keys if k in cols]
    text = pa.dictionary(pa.int32(), pa.string())
    types = {cols["longitude"]: pa.float64(), cols["latitude"]: pa.float64()}
    types.update({cols[k]: text for k in keys[2:] if k in cols})
    if "crime_id" in cols:
        # Nearly every Crime ID is distinct: plain strings, no dictionary.
        names.append(cols["crime_id"])
        types[cols["crime_id"]] = pa.string()
    stream = pa.BufferReader(source.open_bytes()) if source.open_bytes is not None else str(source.path)
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=True),
        convert_options=pacsv.ConvertOptions(include_columns=names, column_types=types, strings_can_be_null=False),
    )
    keys_text = ("crime_type", "location", "lsoa_name")
    for batch in reader:
        lon = batch.column(cols["longitude"]).to_numpy(zero_copy_only=False)
        lat = batch.column(cols["latitude"]).to_numpy(zero_copy_only=False)
        crime, location, lsoa = (batch.column(cols[k]) if k in cols and k in keys else None for k in keys_text)
        yield (
            np.asarray(lon, np.float64),
            np.asarray(lat, np.float64),
            batch.column(cols["month"]),
            crime,
            location,
            lsoa,
            batch.column(cols["crime_id"]) if "crime_id" in cols else None,
        )


def _fallback_batches(source, cols: dict[str, str], with_text: bool = False):
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

    def text(key):
        return pa.array(frame[cols[key]].fillna("").astype(str).tolist(), pa.string()) if key in cols else None

    location, lsoa = (text("location"), text("lsoa_name")) if with_text else (None, None)
    yield lon, lat, months, text("crime_type"), location, lsoa, text("crime_id")


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


def _text_ids(column, interner: _Interner, n: int) -> np.ndarray:
    """Interned id of each row's text (of "" for every row when the file has no such column)."""
    if column is None:
        return np.full(n, interner.ids_of([""])[0], dtype=np.int64)
    indices, values = _dictionary(column)
    return interner.ids_of(values.to_pylist())[indices]


def _aggregate_sources(payload):
    """Stream a list of sources into distinct (lon, lat) with record counts; the unit of work of both engines.

    Returns ``(lon, lat, w, n_rows, rejected, labels, text, ids)``; ``text`` is None, or with ``with_text``
    ``(location ids, LSOA name ids, location values, LSOA name values)`` and the rows are distinct
    (lon, lat, location, LSOA name); ``ids`` is None or the rows carrying a Crime ID (:func:`_block`), in order.
    """
    import pyarrow as pa

    sources, type_keys, date_from, date_to, block_bytes, with_text = payload
    agg = _Aggregator()
    rejected = {r: 0 for r in _REASONS}
    n_rows = 0
    interners = (_Interner(), _Interner()) if with_text else None

    def read(batches, file_rejected):
        rows, parts, id_parts = 0, [], []
        for lon, lat, months, crime, location, lsoa, crime_id in batches:
            rows += lon.size
            ids = None
            if with_text:
                ids = (_text_ids(location, interners[0], lon.size), _text_ids(lsoa, interners[1], lon.size))
            part, id_part = _block(lon, lat, months, crime, type_keys, date_from, date_to, file_rejected, ids, crime_id)
            parts.append(part)
            if id_part is not None:
                id_parts.append(id_part)
        return rows, parts, id_parts

    id_parts: list = []
    for source in sources:
        cols = _columns(source)
        file_rejected = {r: 0 for r in _REASONS}
        try:
            file_rows, file_parts, file_ids = read(_batches(source, cols, block_bytes, with_text), file_rejected)
        except (pa.ArrowInvalid, UnicodeDecodeError):
            file_rejected = {r: 0 for r in _REASONS}
            file_rows, file_parts, file_ids = read(_fallback_batches(source, cols, with_text), file_rejected)
        for part in file_parts:
            agg.add(*part)
        id_parts.extend(file_ids)
        n_rows += file_rows
        for r, n in file_rejected.items():
            rejected[r] += n
    ids = _concat_ids(id_parts)
    if not with_text:
        x, y, w = agg.result()
        return x, y, w, n_rows, rejected, [s.label for s in sources], None, ids
    x, y, w, loc, lsoa = agg.result(5)
    text = (loc, lsoa, interners[0].values, interners[1].values)
    return x, y, w, n_rows, rejected, [s.label for s in sources], text, ids


def _concat_ids(parts: list):
    """Crime-ID rows of several blocks as one tuple (None when none); their order is kept."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return tuple(None if parts[0][i] is None else np.concatenate([p[i] for p in parts]) for i in range(6))


def _remap_ids(ids, maps):
    """Crime-ID rows with their location and LSOA name ids looked up in ``maps`` (old id -> new id arrays)."""
    if ids is None or ids[4] is None:
        return ids
    return (*ids[:4], maps[0][ids[4]], maps[1][ids[5]])


def _combine_parts(a, b):
    """Two partial aggregates as one (duplicates merged, counters added, sources and Crime-ID rows a then b)."""
    columns = [np.concatenate([a[i], b[i]]) for i in range(3)]
    text = None
    b_ids = b[7]
    if a[6] is None:
        lon, lat, w = merge_hashed(*columns)
    else:
        ids, values, maps = [], [], []
        for k in range(2):
            interner = _Interner(a[6][2 + k])
            maps.append(interner.ids_of(b[6][2 + k]))
            ids.append(np.concatenate([a[6][k], maps[k][b[6][k]]]))
            values.append(interner.values)
        lon, lat, w, loc, lsoa = merge_keyed(*columns, *ids)
        text = (loc, lsoa, *values)
        b_ids = _remap_ids(b_ids, maps)
    rejected = {r: a[4][r] + b[4][r] for r in a[4]}
    ids = _concat_ids([i for i in (a[7], b_ids) if i is not None])
    return lon, lat, w, a[3] + b[3], rejected, list(a[5]) + list(b[5]), text, ids


_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
# Lower case only (police.uk's form): "AB" and "ab" are different Crime IDs to read_records, so upper-case
# hex takes the hashed path with the other texts.
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_ONE = np.uint64(0x3FF0000000000000)  # the bits of 1.0: 52 key bits below it make a float in [1, 2)


def _crime_id_keys(ids) -> np.ndarray:
    """A 104-bit key per (stripped, non-empty) Crime ID, as complex128 (two floats in [1, 2), no NaN or -0 that a
    hash table would fold together): police.uk's 64-lower-case-hex-digit IDs give their 256 bits folded to 104, other IDs two
    independent 52-bit pandas hashes of the text. The same text gets the same key in every block and file."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(ids)
    key = np.empty(n, dtype=np.complex128)
    hexlike = np.asarray(pc.equal(pc.binary_length(ids), 64).to_numpy(zero_copy_only=False), dtype=bool)
    where = np.flatnonzero(hexlike)
    other = np.flatnonzero(~hexlike)
    if where.size:
        chosen = ids.take(pa.array(where)) if other.size else ids
        chars = np.frombuffer(chosen.buffers()[2], np.uint8)
        start = int(np.frombuffer(chosen.buffers()[1], np.int32)[chosen.offset])
        digits = _HEX[chars[start : start + 64 * where.size].reshape(where.size, 64)]
        valid = (digits != 255).all(axis=1)
        # The 256 bits as four 64-bit words, folded by XOR into two and each to 52 bits (the low 12 bits folded
        # back in): every digit counts, so IDs differing in one digit never share a key, and SHA-256 digests
        # (police.uk's) give uniform 104-bit keys.
        words = np.ascontiguousarray((digits[:, 0::2] << 4) | digits[:, 1::2]).view(np.uint64)
        low = np.uint64(0xFFF)
        for part, word in ((key.real, words[:, 0] ^ words[:, 2]), (key.imag, words[:, 1] ^ words[:, 3])):
            part[where] = (((word >> np.uint64(12)) ^ (word & low)) | _ONE).view(np.float64)
        if not valid.all():
            other = np.sort(np.concatenate([other, where[~valid]]))
    if other.size:
        text = np.asarray(ids.take(pa.array(other)).to_numpy(zero_copy_only=False), dtype=object)
        for part, salt in ((key.real, "hotspot-crime-id"), (key.imag, "crime-id-hotspot")):
            bits = pd.util.hash_array(text, hash_key=salt, categorize=False) >> np.uint64(12)
            part[other] = (bits | _ONE).view(np.float64)
    return key


def _block(lon, lat, months, crime, type_keys, date_from, date_to, rejected, ids=None, crime_id=None):
    """One block of rows to distinct (lon, lat, weight) of its kept rows (with ``ids``, a pair of per-row text id
    arrays: distinct (lon, lat, weight, *ids)); counts dropped rows into ``rejected``.

    Returns ``(aggregate, id_rows)``: ``id_rows`` is None, or for the rows with a non-empty ``crime_id`` that
    are not rejected as no_location, unparsable or out_of_range, in order: ``(key, lon, lat, outcome,
    location id, LSOA name id)`` (``outcome`` 0 kept, 1 dropped by the crime-type filter, 2 by the date
    filter; the text ids None without ``ids``), from which repeats are taken out later.
    """
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
    outcome = None
    if crime_id is not None:
        crime_id = pc.utf8_trim_whitespace(crime_id)
        with_id = keep & np.asarray(pc.not_equal(crime_id, "").to_numpy(zero_copy_only=False), dtype=bool)
        outcome = np.zeros(lon.size, dtype=np.int8) if with_id.any() else None
    if type_keys is not None:
        if crime is None:
            raise HotspotInputError("a crime-type filter needs a Crime type column, and a file has none")
        type_index, type_values = _dictionary(crime)
        key = pc.utf8_lower(pc.utf8_trim_whitespace(type_values))
        in_types = np.asarray(pc.is_in(key, value_set=type_keys).to_numpy(zero_copy_only=False), dtype=bool)[type_index]
        drop = keep & ~out_range & ~in_types
        rejected["filtered_crime_type"] += int(drop.sum())
        if outcome is not None:
            outcome[drop] = 1
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
        if outcome is not None:
            outcome[drop] = 2
        keep &= in_range
    rejected["out_of_range"] += int(out_range.sum())
    id_rows = None
    if outcome is not None:
        rows = np.flatnonzero(with_id)
        id_rows = (
            _crime_id_keys(_take(crime_id, rows)),
            lon[rows],
            lat[rows],
            outcome[rows],
            None if ids is None else ids[0][rows],
            None if ids is None else ids[1][rows],
        )
    if ids is None:
        return merge_hashed(lon[keep], lat[keep]), id_rows
    return merge_keyed(lon[keep], lat[keep], np.ones(int(keep.sum())), ids[0][keep], ids[1][keep]), id_rows


def _take(column, rows: np.ndarray):
    """Rows of a pyarrow (chunked) string column as one plain array."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.take(pa.array(rows))


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
    with_text: bool = False,
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
    with_text : bool, default False
        Also tally each location's police.uk ``Location`` and ``LSOA name`` (:attr:`StreamedLocations.text`),
        what naming places needs, so no second pass over the files is made for it.

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
    sources, repeats = _repeated_sources(sources)
    type_keys = None
    if crime_types:
        import pyarrow as pa

        type_keys = pa.array(sorted({str(t).strip().lower() for t in crime_types}), pa.string())
    groups = [sources[i : i + files_per_task] for i in range(0, len(sources), files_per_task)]
    payloads = [(g, type_keys, date_from, date_to, int(block_bytes), bool(with_text)) for g in groups]
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
    interners = (_Interner(), _Interner())
    id_parts = []
    for x, y, w, rows, rej, names, text, id_rows in parts:
        if text is None:
            agg.add(x, y, w)
        else:
            maps = [interners[k].ids_of(text[2 + k]) for k in range(2)]
            agg.add(x, y, w, *(maps[k][text[k]] for k in range(2)))
            id_rows = _remap_ids(id_rows, maps)
        if id_rows is not None:
            id_parts.append(id_rows)
        n_rows += rows
        labels.extend(names)
        for r, v in rej.items():
            rejected[r] += v
    del parts
    notes = []
    for repeat, first in repeats:
        rows = _count_rows(repeat, block_bytes)
        n_rows += rows
        rejected["duplicate"] += rows
        labels.append(repeat.label)
        same = "is given twice" if repeat.label == first.label else f"has the same bytes as {first.label}"
        notes.append(
            f"{repeat.label} {same}; its {rows:,} rows were dropped as duplicates (the same file given twice?)"
        )
    notes += _drop_repeated_ids(_concat_ids(id_parts), agg, rejected, crs, with_text)
    del id_parts
    lon, lat, w, *ids = agg.result(5 if with_text else 3)
    if rejected["duplicate"]:
        # A location (or location and text) whose every record repeated an earlier Crime ID is left with 0.
        held = w > 0
        lon, lat, w, ids = lon[held], lat[held], w[held], [i[held] for i in ids]
    # Projection is a pure function of the pair, so projecting each distinct pair once gives the
    # coordinates read_records computes row by row (police.uk's fixed snap points: few pairs).
    if with_text:
        import pandas as pd

        pair = np.empty(lon.size, dtype=np.complex128)
        pair.real = lon
        pair.imag = lat
        pair_code, pairs = pd.factorize(pair)
        px, py = transform(pairs.real.copy(), pairs.imag.copy(), WGS84, crs)
        x, y = px[pair_code], py[pair_code]
    else:
        x, y = transform(lon, lat, WGS84, crs)
    usable = np.isfinite(x) & np.isfinite(y) & area_of_use_mask(lon, lat, crs)
    rejected["out_of_range"] += int(round(float(w[~usable].sum())))
    table = None
    if with_text:
        import pandas as pd

        table = pd.DataFrame(
            {
                "x": x[usable],
                "y": y[usable],
                "location": pd.Categorical.from_codes(ids[0][usable], categories=interners[0].values or [""]),
                "lsoa_name": pd.Categorical.from_codes(ids[1][usable], categories=interners[1].values or [""]),
                "weight": w[usable],
            }
        )
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
    return StreamedLocations(
        x=x, y=y, weight=w, crs=crs, n_rows=n_rows, rejected=rejected, sources=labels, text=table, notes=notes
    )


def _is_gzip(source) -> bool:
    return source.open_bytes is None and Path(source.path).name.lower().endswith(".gz")


def _zip_member(source) -> str:
    """The member name of a zip member source (its label is ``archive!member``), "" for a file on disk."""
    return "" if source.open_bytes is None else source.label[len(str(source.path)) + 1 :]


def _text_sizes(sources: list) -> list[int]:
    """Size of each source's CSV text in bytes, modulo 2**32 (a gzip file records no more), read without
    decompressing: a ``.csv.gz`` and the ``.csv`` it came from compare equal. A zip's plain CSV members take
    theirs from the archive's directory, read once per archive (only a ``.csv.gz`` member is decompressed)."""
    import zipfile

    directories: dict = {}
    sizes = []
    for source in sources:
        if source.open_bytes is not None:
            member = _zip_member(source)
            if member.lower().endswith(".gz"):
                sizes.append(len(source.open_bytes()) % (1 << 32))
                continue
            if source.path not in directories:
                with zipfile.ZipFile(source.path) as archive:
                    directories[source.path] = {info.filename: info.file_size for info in archive.infolist()}
            sizes.append(directories[source.path][member] % (1 << 32))
        elif _is_gzip(source):
            with open(source.path, "rb") as handle:
                handle.seek(-4, 2)
                sizes.append(int.from_bytes(handle.read(4), "little"))
        else:
            sizes.append(Path(source.path).stat().st_size % (1 << 32))
    return sizes


def _source_digest(source) -> bytes:
    """Hash of a source's CSV text (decompressed)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=32)
    if source.open_bytes is not None:
        digest.update(source.open_bytes())
        return digest.digest()
    opener = gzip.open if _is_gzip(source) else open
    try:
        with opener(source.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError) as exc:
        raise HotspotInputError(
            f"{source.label}: cannot be read ({exc}); the file may be corrupt, get a fresh copy"
        ) from None
    return digest.digest()


def _repeated_sources(sources: list) -> tuple[list, list]:
    """(sources to read, [(repeat, the earlier source it repeats)]): a file given twice (the same path, or the
    same CSV text under another name or compressed) is read once, as ``read_records`` reads it once.

    Only files whose text has the same size are hashed, so a national extract of distinct files costs a stat
    (or, gzipped, a 4-byte read) per file.
    """
    by_path: dict = {}
    unique, repeats = [], []
    for source in sources:
        key = (str(Path(source.path).resolve()), _zip_member(source))
        if key in by_path:
            repeats.append((source, by_path[key]))
        else:
            by_path[key] = source
            unique.append(source)
    sizes = _text_sizes(unique)
    counts = Counter(sizes)
    kept, seen = [], {}
    for source, size in zip(unique, sizes):
        if counts[size] > 1:
            key = (size, _source_digest(source))
            if key in seen:
                repeats.append((source, seen[key]))
                continue
            seen[key] = source
        kept.append(source)
    return kept, repeats


def _count_rows(source, block_bytes: int) -> int:
    """Data rows of a police.uk CSV source, read as the stream reads it."""
    import pyarrow as pa

    cols = _columns(source)
    try:
        return sum(batch[0].size for batch in _batches(source, cols, block_bytes))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return sum(batch[0].size for batch in _fallback_batches(source, cols))


def _drop_repeated_ids(id_rows, agg: _Aggregator, rejected: dict, crs: str, with_text: bool) -> list[str]:
    """Take the rows repeating an earlier Crime ID out of ``agg`` (a weight of -1 at their key) or out of the
    filter counts they were charged to, count them as ``duplicate``; returns the note (empty when none).

    Rows outside the CRS's area of use are left out first: read_records rejects those as out_of_range
    before it looks for repeats, so they neither repeat nor are repeated.
    """
    import pandas as pd

    from hotspot.ingest.projection import area_of_use_mask

    if id_rows is None:
        return []
    key, lon, lat, outcome, loc, lsoa = id_rows
    usable = np.flatnonzero(area_of_use_mask(lon, lat, crs))
    repeated = usable[pd.Series(key[usable]).duplicated(keep="first").to_numpy()]
    if repeated.size == 0:
        return []
    kept = repeated[outcome[repeated] == 0]
    text = (loc[kept], lsoa[kept]) if with_text else ()
    agg.add(lon[kept], lat[kept], np.full(kept.size, -1.0), *text)
    rejected["filtered_crime_type"] -= int(np.count_nonzero(outcome[repeated] == 1))
    rejected["filtered_date"] -= int(np.count_nonzero(outcome[repeated] == 2))
    rejected["duplicate"] += int(repeated.size)
    return [
        f"{int(repeated.size):,} records repeat a Crime ID seen before ({pd.unique(key[repeated]).size:,} ids); "
        "the first row of each was kept and the repeats dropped as duplicates"
    ]
