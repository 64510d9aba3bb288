"""Turning the user's inputs (files, folders, the data.police.uk zip) into a list of readable sources."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hotspot.core.errors import HotspotInputError

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")
GEO_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".fgb")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
ZIP_SUFFIXES = (".zip",)
SUPPORTED = CSV_SUFFIXES + GEO_SUFFIXES + PARQUET_SUFFIXES + ZIP_SUFFIXES

# data.police.uk downloads mix these with the street files; they are not crime points.
_NON_STREET = re.compile(r"-(outcomes|stop-and-search)\.csv(\.gz)?$", re.IGNORECASE)


@dataclass
class Source:
    """One table to read.

    ``label`` names it in messages and in ``Records.sources`` (``archive.zip!member`` for zip
    members); ``kind`` is ``"csv"``, ``"geo"`` or ``"parquet"``; ``open_bytes`` returns the
    uncompressed bytes for CSVs inside a zip (None for files read from disk).
    """

    label: str
    kind: str
    path: Path
    open_bytes: Callable[[], bytes] | None = None


def _suffix(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(SUPPORTED, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix
    return Path(lower).suffix


def _kind(suffix: str) -> str | None:
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in GEO_SUFFIXES:
        return "geo"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in ZIP_SUFFIXES:
        return "zip"
    return None


def is_non_street(name: str) -> bool:
    """True for police.uk outcomes and stop-and-search files, which are skipped inside folders and zips."""
    return bool(_NON_STREET.search(name))


def _zip_sources(path: Path) -> list[Source]:
    try:
        archive = zipfile.ZipFile(path)
        names = archive.namelist()
        archive.close()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise HotspotInputError(
            f"{path}: not a readable zip ({exc}); the download may be incomplete or corrupt, download it again"
        ) from None
    sources = []
    for name in sorted(names):
        if name.endswith("/") or Path(name).name.startswith((".", "__MACOSX")) or "__MACOSX" in name:
            continue
        suffix = _suffix(name)
        if suffix not in (".csv", ".csv.gz") or is_non_street(name):
            continue

        def read_member(name=name, suffix=suffix) -> bytes:
            try:
                with zipfile.ZipFile(path) as archive:
                    data = archive.read(name)
                return gzip.decompress(data) if suffix == ".csv.gz" else data
            except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
                raise HotspotInputError(
                    f"{path}!{name}: cannot be read from the zip ({exc}); download it again"
                ) from None

        sources.append(Source(f"{path}!{name}", "csv", path, read_member))
    if not sources:
        raise HotspotInputError(f"{path}: the zip holds no street-level crime CSVs (*-street.csv or other .csv files)")
    return sources


def expand_inputs(inputs: Sequence[str | Path]) -> list[Source]:
    """Expand files, folders (recursively) and zips into the sources to read, in a stable order.

    Raises HotspotInputError for a missing path, an unsupported file type, an unreadable zip,
    or a folder without any supported file.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not inputs:
        raise HotspotInputError("no input files given; pass police.uk CSVs, a folder, a zip or a point table")
    sources: list[Source] = []
    for item in inputs:
        path = Path(item).expanduser()
        if not path.exists():
            raise HotspotInputError(f"{path}: no such file or folder; check the path")
        if path.is_dir():
            found = []
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                kind = _kind(_suffix(child.name))
                if kind is None or child.name.startswith(".") or is_non_street(child.name):
                    continue
                found.append((child, kind))
            if not found:
                raise HotspotInputError(
                    f"{path}: the folder holds no supported files ({', '.join(SUPPORTED)}); check the path"
                )
            for child, kind in found:
                sources.extend(_zip_sources(child) if kind == "zip" else [Source(str(child), kind, child)])
            continue
        suffix = _suffix(path.name)
        kind = _kind(suffix)
        if kind is None:
            raise HotspotInputError(
                f"{path}: unsupported file type {suffix or '(none)'!r}; give CSV (.csv, .csv.gz), a zip, "
                "GeoPackage, GeoJSON, Shapefile or Parquet"
            )
        if kind == "zip":
            sources.extend(_zip_sources(path))
        else:
            sources.append(Source(str(path), kind, path))
    return sources


def read_csv_text(source: Source):
    """Read a CSV source into a DataFrame of strings (missing cells NaN), fast path pyarrow.

    Falls back to pandas' C parser (UTF-8 with BOM, then Windows-1252) for files pyarrow rejects,
    such as ragged rows or non-UTF-8 text exported from spreadsheets.
    """
    import pandas as pd

    label = source.label
    try:
        if source.open_bytes is not None:
            data = source.open_bytes()
        elif source.path.name.lower().endswith(".gz"):
            with gzip.open(source.path, "rb") as fh:
                data = fh.read()
        else:
            data = source.path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise HotspotInputError(f"{label}: cannot be read ({exc}); the file may be corrupt, get a fresh copy") from None
    if not data.strip():
        raise HotspotInputError(f"{label}: the file is empty; remove it from the inputs or download it again")
    # Excel in many European locales saves CSV with semicolons; the header line tells which separator
    header = data[:4096].split(b"\n", 1)[0]
    sep = max((b",", b";", b"\t"), key=lambda c: (header.count(c), c == b",")).decode()
    try:
        frame = pd.read_csv(io.BytesIO(data), engine="pyarrow", dtype=str, sep=sep)
    except Exception:  # pyarrow raises several types for malformed text; the C parser gets a second try
        frame = None
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                frame = pd.read_csv(io.BytesIO(data), dtype=str, sep=sep, encoding=encoding, on_bad_lines="error")
                break
            except UnicodeDecodeError:
                continue
            except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
                raise HotspotInputError(
                    f"{label}: not a readable CSV ({str(exc).splitlines()[0]}); check the file"
                ) from None
        if frame is None:
            raise HotspotInputError(f"{label}: text encoding not recognised; save it as UTF-8 CSV") from None
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    return frame
