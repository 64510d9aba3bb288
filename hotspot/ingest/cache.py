"""The parsed-input cache: CSV tables kept as Arrow files so a second command on the same files skips parsing.

Each CSV source (a file on disk, or a member of a zip) is stored as the table
:func:`hotspot.ingest.sources.read_csv_text` returned, in an LZ4-compressed Arrow IPC file under
``hotspot.core.settings.cache_dir() / "parsed"`` (``$HOTSPOT_CACHE/parsed``; by default
``~/.cache/hotspot/parsed``). The key is the file's resolved path, size, modification time and a
hash of its first megabyte (plus the member name for zips, and the pandas/pyarrow versions and
this module's format number, which decide how the table is typed), so an edited, replaced or
re-downloaded file is parsed afresh. Reading a cached table gives exactly the frame a fresh
parse gives (tests check this on the real data).

Turn it off with ``HOTSPOT_NO_CACHE=1``; clear it with ``hotspot cache --clear`` or by deleting
the folder. A cache that cannot be read or written is ignored: the file is parsed as usual.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hotspot.core.settings import cache_dir
from hotspot.ingest.sources import Source

NO_CACHE_ENV_VAR = "HOTSPOT_NO_CACHE"
"""Set to 1 (or true/yes) to read every input afresh and write nothing to the parsed-input cache."""

FORMAT = 1
"""Bumped whenever what is stored changes, so old entries are never read as new ones."""

_HEAD_BYTES = 1 << 20


def parsed_cache_dir() -> Path:
    """Where parsed tables are kept: ``hotspot.core.settings.cache_dir() / "parsed"``."""
    return cache_dir() / "parsed"


def cache_enabled() -> bool:
    """False when ``$HOTSPOT_NO_CACHE`` is set to 1/true/yes."""
    return os.environ.get(NO_CACHE_ENV_VAR, "").strip().lower() not in ("1", "true", "yes", "on")


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
    digest.update(head)
    return digest.hexdigest()


def read_csv_cached(source: Source, parse: Callable[[Source], object]):
    """``parse(source)`` through the cache: the stored table when the key matches, else parse and store it."""
    if not cache_enabled():
        return parse(source)
    key = cache_key(source)
    if key is None:
        return parse(source)
    folder = parsed_cache_dir()
    entry = folder / f"{key}.arrow"
    if entry.exists():
        try:
            return _read(entry)
        except Exception:  # a torn or foreign file: parse afresh and replace it
            pass
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
    import pyarrow.feather as feather

    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".arrow")
    os.close(fd)
    try:
        feather.write_feather(table, tmp, compression="lz4")
        os.replace(tmp, entry)  # atomic: concurrent commands see the whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cache_usage() -> tuple[Path, int, int]:
    """``(folder, number of cached tables, bytes)`` of the parsed-input cache."""
    folder = parsed_cache_dir()
    files = list(folder.glob("*.arrow")) if folder.is_dir() else []
    return folder, len(files), sum(f.stat().st_size for f in files)


def clear_cache() -> tuple[int, int]:
    """Delete the parsed-input cache; returns ``(tables removed, bytes freed)``."""
    folder, n, size = cache_usage()
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
    return n, size
