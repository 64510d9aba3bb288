"""The parsed-input cache: CSV tables kept as Arrow files so a second command on the same files skips parsing.

Each CSV source (a file on disk, or a member of a zip) is stored as the table
:func:`hotspot.ingest.sources.read_csv_text` returned, in an LZ4-compressed Arrow IPC file under
``hotspot.core.settings.cache_dir() / "parsed"`` (``$HOTSPOT_CACHE/parsed``; by default
``~/.cache/hotspot/parsed``). The key is the file's resolved path, size, modification time and a
CRC-32 of its first megabyte (plus the member name for zips, and the pandas/pyarrow versions and
this module's format number, which decide how the table is typed), so an edited, replaced or
re-downloaded file is parsed afresh. Reading a cached table gives exactly the frame a fresh
parse gives (tests check this on the real data).

Beside each parsed table, ``parsed/standard`` keeps what reading made of it (:func:`load_standard`):
the standard columns, the rejection reasons found while reading and the source columns of those rejected
rows, so a second command neither parses nor standardises the file. Its key adds to the table's the
reading options and a hash of the code that standardises, so changing either (or the file) reads afresh.
``parsed/masks`` keeps study-area masks (:func:`load_mask`), keyed by the area's WKB and the grid.

The cache keeps itself under a size limit (``HOTSPOT_CACHE_MAX_MB``, default 10,000 MB): after a write
takes it over, the entries used longest ago are deleted until it is at nine tenths of the limit. An
entry's modification time is its last use (reading an entry touches it). Other processes' writes are
counted when this one next looks at the folder, so the limit is kept approximately, not to the byte.

Turn it off with ``HOTSPOT_NO_CACHE=1``; clear it with ``hotspot cache --clear`` or by deleting
the folder. A cache that cannot be read or written is ignored: the file is parsed as usual.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.settings import cache_dir
from hotspot.ingest.sources import Source
from hotspot.ingest.tables import Standard

NO_CACHE_ENV_VAR = "HOTSPOT_NO_CACHE"
"""Set to 1 (or true/yes) to read every input afresh and write nothing to the parsed-input cache."""

FORMAT = 1
"""Bumped whenever what is stored changes, so old entries are never read as new ones."""

_HEAD_BYTES = 1 << 20
_BATCH_ROWS = 1 << 22  # rows per Arrow record batch: one batch for any police.uk file, so columns read back whole


def parsed_cache_dir() -> Path:
    """Where parsed tables are kept: ``hotspot.core.settings.cache_dir() / "parsed"``."""
    return cache_dir() / "parsed"


def cache_enabled() -> bool:
    """False when ``$HOTSPOT_NO_CACHE`` is set to 1/true/yes; a malformed ``$HOTSPOT_CACHE_MAX_MB`` is refused here,
    before any reading, with one line naming it."""
    if os.environ.get(NO_CACHE_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    cache_limit_bytes()
    return True


MAX_SIZE_ENV_VAR = "HOTSPOT_CACHE_MAX_MB"
"""The cache's size limit in megabytes (10^6 bytes); see :data:`DEFAULT_MAX_BYTES`."""

DEFAULT_MAX_BYTES = 10_000 * 10**6
"""The size limit when ``$HOTSPOT_CACHE_MAX_MB`` is not set: 10 GB, room for every force-sized folder an analyst
works on (Bedfordshire's 24 months take ~41 MB with every kind of entry) and the parsed tables of a 20 M-record
folder, without letting test runs and years of monthly downloads fill a home folder."""

_TRIM_TO = 0.9
"""A trim deletes entries until the cache is at this share of the limit, so the next writes do not each trigger one."""


def cache_limit_bytes() -> int:
    """The size limit in bytes from ``$HOTSPOT_CACHE_MAX_MB`` (default :data:`DEFAULT_MAX_BYTES`)."""
    text = os.environ.get(MAX_SIZE_ENV_VAR, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes >= 0):
        raise HotspotInputError(
            f"{MAX_SIZE_ENV_VAR}={text!r}: give the parsed-input cache's size limit as a number of megabytes "
            f"(e.g. 2000), or set {NO_CACHE_ENV_VAR}=1 to turn the cache off"
        )
    return int(megabytes * 10**6)


def _entries(folder: Path) -> list[tuple[float, int, str]]:
    """``(modification time, bytes, path)`` of every cache entry under ``folder`` (temporary files left out)."""
    found = []
    pending = [str(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                for item in listing:
                    if item.is_dir(follow_symlinks=False):
                        pending.append(item.path)
                    elif item.name.endswith((".arrow", ".npy")) and not item.name.startswith(".tmp-"):
                        try:
                            info = item.stat(follow_symlinks=False)
                        except OSError:  # removed by another process meanwhile
                            continue
                        found.append((info.st_mtime, info.st_size, item.path))
        except OSError:
            continue
    return found


_known_bytes: dict = {}
"""This process's running total of each cache folder's bytes (absent until it first looks): a write adds its size, and
only a total over the limit makes it look at the folder again, so writing 24 tables does not list the folder 24 times."""


def _note_written(path: Path) -> None:
    """Count a new entry towards the limit and, over it, delete the entries used longest ago (never ``path``)."""
    try:
        size = path.stat().st_size
    except OSError:
        return
    limit = cache_limit_bytes()
    folder = parsed_cache_dir()
    if folder in _known_bytes:
        _known_bytes[folder] += size
        if _known_bytes[folder] <= limit:
            return
    entries = _entries(folder)
    total = sum(entry[1] for entry in entries)
    if total > limit:
        keep = str(path)
        for _, size, name in sorted(entries):
            if total <= limit * _TRIM_TO:
                break
            if name == keep:
                continue
            try:
                os.unlink(name)
            except OSError:  # removed by another process, or not ours to remove: still not counted
                pass
            total -= size
    _known_bytes[folder] = total


def _touch(*paths: Path) -> None:
    """Mark entries as just used (their modification time), for the limit's least-recently-used order."""
    for path in paths:
        try:
            os.utime(path)
        except OSError:  # a read-only cache is still read
            pass


def cache_key(source: Source) -> str | None:
    """The key of a CSV source from its path, size, modification time and first megabyte; None if not a file."""
    import pandas as pd
    import pyarrow as pa

    try:
        path = Path(source.path).resolve()
        stat = path.stat()
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    member = source.label.split("!", 1)[1] if source.open_bytes is not None and "!" in source.label else ""
    digest = hashlib.blake2b(digest_size=20)
    for part in (FORMAT, pd.__version__, pa.__version__, str(path), member, stat.st_size, stat.st_mtime_ns):
        digest.update(repr(part).encode() + b"\0")
    # A CRC of the head rather than hashing the head itself: it is there to notice a changed file, not to
    # resist forgery, and on 24 police.uk files it takes 2 ms where BLAKE2 over the same bytes took 10.
    digest.update(zlib.crc32(head).to_bytes(4, "little") + len(head).to_bytes(4, "little"))
    return digest.hexdigest()


def read_csv_cached(source: Source, parse: Callable[[Source], object], key: str | None = None):
    """``parse(source)`` through the cache: the stored table when the key matches, else parse and store it.

    ``key``: :func:`cache_key` of the source when the caller has it already (it reads the file's first megabyte).
    """
    if not cache_enabled():
        return parse(source)
    key = key or cache_key(source)
    if key is None:
        return parse(source)
    folder = parsed_cache_dir()
    entry = folder / f"{key}.arrow"
    if entry.exists():
        try:
            frame = _read(entry)
        except Exception:  # a torn or foreign file: parse afresh and replace it
            pass
        else:
            _touch(entry)
            return frame
    frame = parse(source)
    try:
        _write(frame, folder, entry)
    except Exception:  # a read-only or full disk must not stop the analysis
        pass
    return frame


def _read(entry: Path):
    import pyarrow.feather as feather

    return feather.read_table(entry, memory_map=False).to_pandas()


def _write(frame, folder: Path, entry: Path) -> None:
    import pyarrow as pa

    _write_table(pa.Table.from_pandas(frame, preserve_index=False), folder, entry)


def _write_table(table, folder: Path, entry: Path, compression: str = "lz4") -> None:
    import pyarrow.feather as feather

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".arrow")
    os.close(fd)
    try:
        feather.write_feather(table, tmp, compression=compression, chunksize=_BATCH_ROWS)
        os.replace(tmp, entry)  # atomic: concurrent commands see the whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _note_written(entry)


STANDARD_FORMAT = 1
"""Bumped whenever what a standard entry holds changes."""

_LABEL = "\x00label\x00"  # stands for the source's label in stored notes: the same file may be named another way


@functools.cache
def _code_digest() -> str:
    """A hash of the code that reads and standardises tables and forms the records (``hotspot.ingest`` and
    ``hotspot.core``), so an entry written by other code is never read."""
    import hotspot.core

    digest = hashlib.blake2b(digest_size=16)
    for folder in (Path(__file__).resolve().parent, Path(hotspot.core.__file__).resolve().parent):
        for path in sorted(folder.glob("*.py")):
            digest.update(f"{folder.name}/{path.name}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def standard_key(table_key: str, opts: dict) -> str:
    """The key of a source's standard columns: its table's :func:`cache_key`, the reading options and the code."""
    import pandas as pd

    digest = hashlib.blake2b(digest_size=20)
    options = json.dumps({k: opts[k] for k in sorted(opts) if k != "layer"}, sort_keys=True)  # layer: GIS files only
    for part in (STANDARD_FORMAT, table_key, options, _code_digest(), np.__version__, pd.__version__):
        digest.update(repr(part).encode() + b"\0")
    return digest.hexdigest()


def _standard_paths(key: str) -> tuple[Path, Path]:
    folder = parsed_cache_dir() / "standard"
    return folder / f"{key}.arrow", folder / f"{key}.rejects.arrow"


def store_standard(key: str, std: Standard, rejected_rows) -> None:
    """Keep ``std`` (its source table released) and ``rejected_rows`` (the source columns of the rows it rejected,
    a DataFrame or None) under ``key``; a cache that cannot be written is left as it is."""
    if not cache_enabled():
        return
    try:
        _store_standard(key, std, rejected_rows)
    except Exception:  # a read-only or full disk must not stop the analysis
        pass


def _store_standard(key: str, std: Standard, rejected_rows) -> None:
    import pandas as pd
    import pyarrow as pa

    entry, rejects = _standard_paths(key)
    columns = {"cx": pa.array(std.cx, pa.float64()), "cy": pa.array(std.cy, pa.float64())}
    columns["reason"] = pa.array(std.reason, pa.string()).dictionary_encode()
    kinds = {}
    for name, values in std.columns.items():
        if isinstance(values, pd.Categorical):
            codes = np.asarray(values.codes, dtype=np.int32)
            columns[name] = pa.DictionaryArray.from_arrays(
                pa.array(codes, mask=codes < 0), pa.array(np.asarray(values.categories, dtype=object), pa.string())
            )
            kinds[name] = "categorical"
        elif pd.api.types.is_datetime64_any_dtype(values.dtype):
            columns[name] = pa.array(np.asarray(values, dtype="datetime64[ns]"), pa.timestamp("ns"))
            kinds[name] = "datetime"
        else:
            columns[name] = pa.Array.from_pandas(pd.Series(values, dtype="str"), type=pa.large_string())
            kinds[name] = "text"
    rows, names, sample = std.raw_shape
    meta = {
        "src_crs": std.src_crs,
        "has_times": bool(std.has_times),
        "notes": [note.replace(std.label, _LABEL) for note in std.notes],
        "raw_shape": [int(rows), list(names), sample],
        "kinds": kinds,
        "rejects": rejected_rows is not None,
    }
    table = pa.table(columns).replace_schema_metadata({"hotspot": json.dumps(meta)})
    if rejected_rows is not None:
        _write(rejected_rows, rejects.parent, rejects)
    _write_table(table, entry.parent, entry)  # last: an entry on disk means its rejected rows are there too


def load_standard(key: str, label: str):
    """``(Standard, rejected source rows or None)`` kept under ``key`` (the Standard's ``raw`` None, its
    ``early_mask`` set from the reasons), or None when there is no usable entry."""
    if not cache_enabled():
        return None
    entry, rejects = _standard_paths(key)
    if not entry.exists():
        return None
    try:
        loaded = _load_standard(entry, rejects, label)
    except Exception:  # a torn or foreign entry: read the file afresh (which replaces it)
        return None
    _touch(entry, rejects)  # a missing rejects file (none were rejected) is passed over
    return loaded


def _load_standard(entry: Path, rejects: Path, label: str):
    import pandas as pd
    import pyarrow.feather as feather

    table = feather.read_table(entry, memory_map=False)
    meta = json.loads(table.schema.metadata[b"hotspot"])
    rejected_rows = _read(rejects) if meta["rejects"] else None

    def array(name):
        return table.column(name).combine_chunks()

    reason_array = array("reason")
    lookup = np.array(reason_array.dictionary.to_pylist() + [None], dtype=object)
    reason = lookup[_codes(reason_array.indices)]
    columns: dict[str, object] = {}
    for name, kind in meta["kinds"].items():
        if kind == "categorical":
            values = array(name)
            codes = _codes(values.indices)
            categories = pd.Index(values.dictionary.to_numpy(zero_copy_only=False), dtype=object)
            columns[name] = pd.Categorical.from_codes(codes, categories=categories, validate=False)
        elif kind == "datetime":
            columns[name] = pd.Series(array(name).to_numpy(zero_copy_only=False), dtype="datetime64[ns]")
        else:
            text = pd.arrays.ArrowStringArray(array(name), dtype=pd.StringDtype("pyarrow", na_value=np.nan))
            columns[name] = pd.Series(text, copy=False)
    rows, names, sample = meta["raw_shape"]
    std = Standard(
        np.array(array("cx"), dtype=np.float64),  # copies: the reader writes into them
        np.array(array("cy"), dtype=np.float64),
        meta["src_crs"],
        columns,
        reason,
        None,
        meta["has_times"],
        label,
        [note.replace(_LABEL, label) for note in meta["notes"]],
        raw_shape=(rows, tuple(names), sample),
        early_mask=reason != None,  # noqa: E711
    )
    return std, rejected_rows


RECORDS_FORMAT = 1
"""Bumped whenever what a records entry holds changes."""


def records_key(standard_keys: list, labels: list[str], crs: str | None, drop_duplicates: bool) -> str | None:
    """The key of ``read_records``' result on these sources (their standard keys, in order, and their labels,
    which the records name) with these options; None when some source is not cached (a GIS layer)."""
    if not cache_enabled() or not standard_keys or any(k is None for k in standard_keys):
        return None
    digest = hashlib.blake2b(digest_size=20)
    for part in (RECORDS_FORMAT, *standard_keys, *labels, crs, bool(drop_duplicates)):
        digest.update(repr(part).encode() + b"\0")
    return digest.hexdigest()


def _records_paths(key: str, kind: str = "records") -> tuple[Path, Path]:
    folder = parsed_cache_dir() / kind
    return folder / f"{key}.arrow", folder / f"{key}.rejected.arrow"


def store_records(key: str, records, extra: dict | None = None, kind: str = "records") -> None:
    """Keep ``records`` (a :class:`hotspot.core.records.Records`) and ``extra`` (JSON) under ``key``; skipped
    when a column's type would not read back exactly, or the cache cannot be written."""
    if not cache_enabled():
        return
    try:
        frame = _frame_table(records.frame)
        rejected = _frame_table(records.rejected)
        if frame is None or rejected is None:
            return
        meta = {"crs": records.crs, "has_times": bool(records.has_times), "sources": records.sources}
        meta.update(notes=records.notes, extra=extra or {})
        entry, ledger = _records_paths(key, kind)
        # uncompressed: read back at memory speed, where decompressing would cost more than the rest of the read
        _write_table(rejected, ledger.parent, ledger, compression="uncompressed")
        _write_table(_with_meta(frame, {"records": meta}), entry.parent, entry, compression="uncompressed")  # last
    except Exception:  # a read-only or full disk must not stop the analysis
        pass


def load_records(key: str, kind: str = "records"):
    """The :class:`hotspot.core.records.Records` kept under ``key``, or None; with ``kind`` other than
    ``"records"``, ``(records, extra)`` as :func:`store_records` kept them."""
    if not cache_enabled():
        return None
    entry, ledger = _records_paths(key, kind)
    if not entry.exists():
        return None
    try:
        from hotspot.core.records import Records

        rejected, _ = _read_frame(ledger)
        frame, meta = _read_frame(entry)
        meta = meta["records"]
        records = Records(
            frame=frame,
            crs=meta["crs"],
            rejected=rejected,
            has_times=meta["has_times"],
            sources=list(meta["sources"]),
            notes=list(meta["notes"]),
        )
        _touch(entry, ledger)
        return records if kind == "records" else (records, meta["extra"])
    except Exception:  # a torn or foreign entry: read the files afresh (which replaces it)
        return None


def derived_key(key: str, step: str) -> str:
    """The key of what ``step`` makes of the records kept under ``key`` (the code doing it is in the key already)."""
    return hashlib.blake2b(f"{key}\0{step}".encode(), digest_size=20).hexdigest()


_EXACT_DTYPES = ("float64", "int64", "int32", "int16", "int8", "bool", "datetime64[ns]", "str", "category")


def _frame_table(frame):
    """``frame`` as an Arrow table that :func:`_read_frame` turns back into an equal frame (same dtypes,
    categories in the same order and of the same type, a RangeIndex), or None when it cannot."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        return None
    arrays, dtypes = [], []
    for i in range(frame.shape[1]):
        series = frame.iloc[:, i]
        dtype = str(series.dtype)
        if dtype == "object" and not len(frame):  # the empty ledger's columns
            arrays.append(pa.nulls(0))
            dtypes.append(dtype)
            continue
        if dtype == "object" and pd.api.types.infer_dtype(series, skipna=False) == "string":
            # text without gaps, e.g. a ledger's file names joined from text and categorical parts: stored once
            # per distinct value and read back as references to one string each, as pandas held them
            codes, uniques = pd.factorize(series.to_numpy())
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(uniques), pa.string())))
            dtypes.append(dtype)
            continue
        if dtype not in _EXACT_DTYPES:
            return None
        if dtype == "category":
            categories = series.cat.categories
            if series.cat.ordered or str(categories.dtype) not in ("object", "str") or categories.hasnans:
                return None
            if not all(isinstance(v, str) for v in categories):
                return None
            codes = np.asarray(series.cat.codes)  # int8/int16/...: the codes' own width, which reads back the same
            arrays.append(
                pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(list(categories), pa.string()))
            )
            dtype = f"category:{categories.dtype}"
        elif dtype == "str":
            arrays.append(pa.Array.from_pandas(series, type=pa.large_string()))
        elif dtype == "datetime64[ns]":
            arrays.append(pa.array(series.to_numpy(), pa.timestamp("ns")))
        else:
            arrays.append(pa.array(series.to_numpy()))
        dtypes.append(dtype)
    names = [str(c) for c in frame.columns]
    if names != list(frame.columns) or len(set(names)) != len(names):
        return None
    table = pa.Table.from_arrays(arrays, names=names) if arrays else pa.table({})
    meta = {"dtypes": dtypes, "names": names, "rows": len(frame), "columns_dtype": str(frame.columns.dtype)}
    return _with_meta(table, {"frame": meta})


def _with_meta(table, meta: dict):
    old = json.loads((table.schema.metadata or {}).get(b"hotspot", b"{}"))
    return table.replace_schema_metadata({"hotspot": json.dumps({**old, **meta})})


_WHOLE_READ_BYTES = 64 << 20  # entries up to this size are read in one go: opening a file per column costs more


def _arrow_columns(entry: Path):
    """``(metadata, iterator of the entry's columns as Arrow arrays)``; a large entry is read one column at a time,
    so each column's buffers can be let go once converted and the frame is never held twice."""
    import pyarrow as pa

    source = pa.OSFile(str(entry))
    reader = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(use_threads=False))
    meta = json.loads(reader.schema.metadata[b"hotspot"])
    n = len(reader.schema)

    def whole():
        table = reader.read_all()
        source.close()
        for i in range(n):
            yield table.column(i).combine_chunks()

    def by_column():
        try:
            for i in range(n):
                options = pa.ipc.IpcReadOptions(included_fields=[i], use_threads=False)
                one = pa.ipc.open_file(source, options=options)
                chunks = [one.get_batch(b).column(0) for b in range(one.num_record_batches)]
                yield pa.chunked_array(chunks, type=one.schema.field(0).type).combine_chunks()
                del one, chunks
        finally:
            source.close()

    return meta, (whole() if entry.stat().st_size <= _WHOLE_READ_BYTES else by_column())


def _read_frame(entry: Path):
    """``(frame, metadata)``: the frame :func:`_frame_table` stored, and the entry's other metadata."""
    import pandas as pd

    meta, arrays = _arrow_columns(entry)
    frame_meta = meta["frame"]
    columns = {}
    for i, (dtype, column) in enumerate(zip(frame_meta["dtypes"], arrays)):
        if dtype.startswith("category:"):
            categories = pd.Index(column.dictionary.to_pylist(), dtype=dtype.split(":", 1)[1])
            values = pd.Categorical.from_codes(_codes(column.indices), categories=categories, validate=False)
        elif dtype == "str":
            values = pd.arrays.ArrowStringArray(column, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
        elif dtype == "object" and len(column):
            values = np.array(column.dictionary.to_pylist(), dtype=object)[_codes(column.indices)]
        elif dtype == "object":
            values = np.array([], dtype=object)
        else:  # a copy: Arrow's buffers are read-only
            values = np.array(column.to_numpy(zero_copy_only=False), dtype=dtype)
        columns[i] = pd.Series(values, dtype=object if dtype == "object" else None, copy=False)
        del column
    rows = frame_meta["rows"]
    frame = pd.DataFrame(columns, copy=False) if columns else pd.DataFrame(index=pd.RangeIndex(rows))
    frame.columns = pd.Index(frame_meta["names"], dtype=frame_meta["columns_dtype"])
    return frame, meta


def _codes(indices) -> np.ndarray:
    """Dictionary indices as category codes (-1 where missing), writable."""
    if indices.null_count:
        import pyarrow.compute as pc

        indices = pc.fill_null(indices, -1)
    return np.array(indices.to_numpy(zero_copy_only=False))


MASK_FORMAT = 1
"""Bumped whenever how a study-area mask is stored changes."""


def mask_key(area_wkb: bytes, grid) -> str:
    """The key of the study-area mask of a grid: the area's WKB, the grid's origin, cell size and shape, the code
    that rasterises it (``hotspot.core``, in :func:`_code_digest`) and GEOS, which tests the cells on the outline."""
    import shapely

    digest = hashlib.blake2b(digest_size=20)
    parts = (MASK_FORMAT, _code_digest(), shapely.geos_version_string, grid.xmin, grid.ymax, grid.cell_size)
    for part in (*parts, grid.ncols, grid.nrows):
        digest.update(repr(part).encode() + b"\0")
    digest.update(area_wkb)
    return digest.hexdigest()


def _mask_path(key: str) -> Path:
    return parsed_cache_dir() / "masks" / f"{key}.npy"


def load_mask(key: str, shape: tuple[int, int]):
    """The boolean mask kept under ``key`` (bits packed), or None when absent or unreadable."""
    if not cache_enabled():
        return None
    path = _mask_path(key)
    cells = shape[0] * shape[1]
    try:
        packed = np.load(path, allow_pickle=False)
    except Exception:  # absent, torn or foreign: computed afresh (which replaces it)
        return None
    if packed.dtype != np.uint8 or packed.shape != ((cells + 7) // 8,):
        return None
    _touch(path)
    return np.unpackbits(packed, count=cells).view(bool).reshape(shape)


def store_mask(key: str, mask: np.ndarray) -> None:
    """Keep ``mask`` under ``key``, atomically; a read-only or full disk is ignored."""
    if not cache_enabled():
        return
    path = _mask_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.packbits(mask.ravel()), allow_pickle=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        return
    _note_written(path)


def cache_usage() -> tuple[Path, int, int]:
    """``(folder, number of cached tables, bytes)`` of the parsed-input cache (bytes with the standard columns and
    the study-area masks)."""
    folder = parsed_cache_dir()
    tables = list(folder.glob("*.arrow")) if folder.is_dir() else []
    every = [f for f in folder.rglob("*") if f.suffix in (".arrow", ".npy")] if folder.is_dir() else []
    return folder, len(tables), sum(f.stat().st_size for f in every)


def clear_cache() -> tuple[int, int]:
    """Delete the parsed-input cache; returns ``(tables removed, bytes freed)``."""
    folder, n, size = cache_usage()
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
    _known_bytes.pop(folder, None)
    return n, size
