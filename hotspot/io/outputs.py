"""Writers for the files analysts open: CSV tables, GeoPackages and GeoTIFFs, each written atomically.

- :func:`write_geopackage` writes every layer of a command into one GeoPackage, with each
  layer's default style in the ``layer_styles`` table (QGIS draws it on open) and the run's
  provenance in ``gpkg_metadata``.
- :func:`write_geotiff` writes a cloud-optimised GeoTIFF, its provenance as dataset tags and
  optionally a ``.qml`` style sidecar that QGIS applies on open.
- :func:`write_csv` writes a table and, given a provenance, ``<stem>.provenance.json`` beside it.

Every file is built under a temporary name in the destination folder and moved into place
only when complete (:func:`hotspot.core.atomic.atomic_path`): a failed run leaves the last good
file as it was.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hotspot.core.atomic import atomic_path
from hotspot.core.errors import HotspotInputError

if TYPE_CHECKING:  # pragma: no cover
    from hotspot.io.provenance import Provenance


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _csv_quote(text: str) -> str:
    """A field as ``csv.writer`` (QUOTE_MINIMAL, ``\\n`` line ends) writes it.

    Only a field holding , " CR or LF can need quotes: quoted, with quotes doubled; one holding CR is left
    to the csv module itself, whose rule for a CR varies between Python versions."""
    if not _CSV_SPECIAL.search(text):
        return text
    if "\r" not in text:
        return '"' + text.replace('"', '""') + '"'
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text, ""])  # two fields: no lone-empty-field rule
    return buffer.getvalue()[:-2]


def _csv_column_kinds(columns) -> list[str] | None:
    """How each column (a pandas Series) is formatted (``float``, ``int``, ``bool``, ``text``), or None when
    one is of a kind this does not cover (the caller then lets pandas write the table)."""
    import pandas as pd

    kinds = []
    for series in columns:
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and dtype == np.float64:
            kinds.append("float")
        elif isinstance(dtype, np.dtype) and dtype.kind in "iu":
            kinds.append("int")
        elif isinstance(dtype, np.dtype) and dtype.kind == "b":
            kinds.append("bool")
        elif isinstance(dtype, pd.StringDtype) or (
            isinstance(dtype, np.dtype)
            and dtype.kind == "O"
            and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
        ):
            kinds.append("text")
        else:
            return None
    return kinds


def _csv_text_columns(columns, kinds: list[str]) -> list:
    """Each column (a pandas Series) as the text ``DataFrame.to_csv(index=False)`` writes for it, as Arrow
    string arrays.

    pandas formats float columns with NumPy's ``astype(str)``, which is the shortest round-trip text,
    as Python's ``repr`` of the same number is (see ``_float_text``), and writing the rows as text directly
    skips pandas' per-chunk formatting (a 7,648-row Gi* table: 0.13 s -> 0.05 s of CPU). The text stays in
    Arrow rather than one Python string per field (the 10,205-row Gi* table's ``write_csv``: 0.65x the time,
    paired). Missing values are written as empty fields, as pandas writes them.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = []
    for series, kind in zip(columns, kinds):
        if kind == "float":
            text = _float_text(series.to_numpy())
        elif kind == "int":
            text = pc.cast(pa.array(series.to_numpy()), pa.string())  # the digits str() gives
        elif kind == "bool":
            text = pc.if_else(pa.array(series.to_numpy()), "True", "False")  # as pandas writes
        else:
            if isinstance(series.dtype, pd.StringDtype):
                text = pa.array(series, type=pa.string(), from_pandas=True)
            else:
                text = pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            if isinstance(text, pa.ChunkedArray):
                text = text.combine_chunks()
            text = pc.fill_null(text, "")
            # One search over the column: cell ids and most labels need no quotes.
            if pc.any(pc.match_substring_regex(text, _CSV_SPECIAL.pattern)).as_py():
                values = text.to_pylist()
                quoted = {value: _csv_quote(value) for value in set(values)}  # a column repeats its labels
                text = pa.array([quoted[value] for value in values], pa.string())
        texts.append(text)
    return texts


def _float_text(values: np.ndarray):
    """Each float as Python's ``repr`` writes it (the shortest text that reads back the same number), with
    missing values as empty fields; an Arrow string array.

    Arrow's float-to-text cast gives the same shortest digits as ``repr`` about twice as fast, and for
    1e-4 <= |x| < 1e10 (and zero) lays them out the same but for whole numbers, where it leaves out the
    ``.0`` (``123`` for ``123.0``; checked on 14 million numbers across that range). Elsewhere it lays out
    differently (``0.00001`` for ``1e-05``, ``1e-7`` for ``1e-07``, ``1.9134485083834507e+10`` for
    ``19134485083.834507``), so those values, a p-value column's smallest, go through ``repr`` itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(values), pa.string())
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        arrow_layout = ((magnitude >= 1e-4) & (magnitude < 1e10)) | (values == 0)
        whole = arrow_layout & (values == np.floor(values))
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, pa.scalar(".0"), ""), text)
    missing = np.isnan(values)
    others = ~arrow_layout & ~missing
    if others.any():
        patches = pa.array(list(map(float.__repr__, values[others].tolist())), pa.string())
        text = pc.replace_with_mask(text, pa.array(others), patches)
    if missing.any():
        text = pc.if_else(pa.array(missing), "", text)
    return text


CSV_CHUNK_ROWS = 100_000
"""Rows formatted at a time by :func:`write_csv`: bounds the text held in memory on national tables."""


def write_csv(frame, path: str | Path, *, provenance: Provenance | None = None) -> Path:
    """Write a DataFrame (geometry column dropped) as UTF-8 CSV atomically; returns the path.

    Parameters
    ----------
    frame : DataFrame
        The table; a ``geometry`` column, if any, is dropped.
    path : path
        The CSV to write.
    provenance : Provenance, optional
        When given, also writes ``<stem>.provenance.json`` beside the CSV (atomically).
        Default None: no sidecar.
    """
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)  # a GeoDataFrame's columns are slower to take out
    frame = frame.drop(columns="geometry", errors="ignore") if hasattr(frame, "drop") else frame
    path = Path(path)
    plain = isinstance(frame, pd.DataFrame) and not isinstance(frame.columns, pd.MultiIndex) and frame.shape[1] > 0
    columns = [series for _, series in frame.items()] if plain else []
    kinds = _csv_column_kinds(columns) if plain else None
    with atomic_path(path) as tmp:
        if kinds is None:
            frame.to_csv(tmp, index=False)
        elif len(kinds) == 1:  # csv quotes a lone empty field; leave that rule to the csv module
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow([str(c) for c in frame.columns])
                for chunk in _row_chunks(columns):
                    (text,) = _csv_text_columns(chunk, kinds)
                    writer.writerows(zip(text.to_pylist()))
        else:
            with open(tmp, "wb") as handle:
                handle.write((",".join(map(_csv_quote, map(str, frame.columns))) + "\n").encode("utf-8"))
                for chunk in _row_chunks(columns):
                    handle.write(_csv_lines(_csv_text_columns(chunk, kinds)))
    if provenance is not None:
        from hotspot.io.provenance import provenance_sidecar

        _write_text(provenance_sidecar(path), provenance.to_json() + "\n")
    return path


def _row_chunks(columns):
    """The columns ``CSV_CHUNK_ROWS`` rows at a time (the whole columns when they are no longer)."""
    rows = len(columns[0])
    if 0 < rows <= CSV_CHUNK_ROWS:
        yield columns
        return
    for start in range(0, rows, CSV_CHUNK_ROWS):
        yield [series.iloc[start : start + CSV_CHUNK_ROWS] for series in columns]


def _csv_lines(columns) -> memoryview:
    """The UTF-8 bytes of the rows (fields joined by commas, each row ended by a line feed), from Arrow's buffer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, ","), pa.scalar(""), "\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


# --- GeoPackage ---------------------------------------------------------------------------------

_LAYER_STYLES_DDL = """
CREATE TABLE IF NOT EXISTS layer_styles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    f_table_catalog TEXT(256),
    f_table_schema TEXT(256),
    f_table_name TEXT(256),
    f_geometry_column TEXT(256),
    styleName TEXT(30),
    styleQML TEXT,
    styleSLD TEXT,
    useAsDefault BOOLEAN,
    description TEXT,
    owner TEXT(30),
    ui TEXT(30),
    update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)
"""
# The schema QGIS itself creates ("Save as default" in the layer's style menu), so QGIS, and GDAL
# which knows the table, treat ours exactly as their own.

_METADATA_DDL = (
    """CREATE TABLE IF NOT EXISTS gpkg_metadata (
        id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL,
        md_scope TEXT NOT NULL DEFAULT 'dataset',
        md_standard_uri TEXT NOT NULL,
        mime_type TEXT NOT NULL DEFAULT 'text/xml',
        metadata TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (
        reference_scope TEXT NOT NULL,
        table_name TEXT,
        column_name TEXT,
        row_id_value INTEGER,
        timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        md_file_id INTEGER NOT NULL,
        md_parent_id INTEGER,
        CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id),
        CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id)
    )""",
    """CREATE TABLE IF NOT EXISTS gpkg_extensions (
        table_name TEXT,
        column_name TEXT,
        extension_name TEXT NOT NULL,
        definition TEXT NOT NULL,
        scope TEXT NOT NULL,
        CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
    )""",
)
WRITE_CHUNK_ROWS = 50_000
"""Spatial layers longer than this are written in chunks of this many rows, with progress after each."""
GEOPACKAGE_VERSION = "1.2"
"""The GeoPackage version written (GDAL creation option ``VERSION``)."""
_METADATA_EXTENSION = "http://www.geopackage.org/spec120/#extension_metadata"


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _is_spatial(frame) -> bool:
    return hasattr(frame, "geometry") and hasattr(frame, "crs")


def _check_crs(name: str, frame) -> None:
    crs = frame.crs
    if crs is None:
        raise HotspotInputError(f"layer {name!r} has no CRS; set one (e.g. EPSG:27700) before writing the GeoPackage")
    if not crs.is_projected:
        raise HotspotInputError(
            f"layer {name!r} is in a geographic CRS ({crs.to_string()}); project it to metres before writing"
        )


def write_geopackage(
    path: str | Path,
    layers: Mapping[str, object],
    *,
    styles: Mapping[str, Any] | None = None,
    provenance: Provenance | None = None,
    progress=None,
) -> Path:
    """Write several layers into one GeoPackage atomically; returns the path.

    Parameters
    ----------
    path : path
        The ``.gpkg`` to write; any other extension (or none, as in ``--out results``) is replaced by
        ``.gpkg``, because GDAL warns about, and QGIS may not recognise, a GeoPackage named otherwise. The
        returned path is the one written. The file is replaced as a whole: layers from an earlier run that
        are not in ``layers`` do not survive.
    layers : mapping of str to (Geo)DataFrame
        Layer name to a GeoDataFrame (a spatial layer, which must be in a projected CRS) or a
        plain DataFrame (an attribute table, e.g. a model table). Layers longer than
        ``WRITE_CHUNK_ROWS`` (50,000) are written in chunks, reporting progress after each (one GDAL
        session, as an Arrow stream).
    styles : mapping of str to style spec, optional
        Layer name to a style name from :mod:`hotspot.io.styles` (``"gistar"``, ``"ranked"``,
        ``"areas"``, ``"kde_hotspots"``, ``"priority_places"``) or ``(name, options)``, e.g.
        ``{"areas": ("areas", {"field": "rate"})}``. Each becomes that layer's default style
        (QML and SLD) in ``layer_styles``. Default None: no styles.
    provenance : Provenance, optional
        Stored as JSON in ``gpkg_metadata``, referenced from the whole GeoPackage and from every
        layer. Default None: no metadata.
    progress : callable, optional
        ``progress("writing <file name>", rows_written, total_rows)``. Default None: silent.
    """
    import pandas as pd
    import pyogrio

    from hotspot.io.styles import build_style, resolve_style_spec

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        path = path.with_suffix(".gpkg")
    styles = dict(styles or {})
    unknown = sorted(set(styles) - set(layers))
    if unknown:
        raise HotspotInputError(f"styles given for layers that are not written: {', '.join(unknown)}")
    built = {}
    # Asked once per layer: each look at a GeoDataFrame's geometry builds a new GeoSeries.
    spatial = {name: _is_spatial(frame) for name, frame in layers.items()}
    for name, frame in layers.items():
        if spatial[name]:
            _check_crs(name, frame)
        if name in styles:
            style_name, options = resolve_style_spec(styles[name])
            built[name] = build_style(style_name, frame if spatial[name] else None, layer=name, **options)
    from hotspot.core.progress import resolve

    progress = resolve(progress)
    stage = f"writing {path.name}"
    total = sum(len(frame) for frame in layers.values())
    written = 0
    progress(stage, 0, total)
    with atomic_path(path) as tmp, _unsynced_sqlite():
        for i, (name, frame) in enumerate(layers.items()):
            table = frame if spatial[name] else pd.DataFrame(frame).copy()
            # GeoPackage 1.2 rather than the newest version GDAL can write: QGIS LTR builds on older GDAL
            # warn ("may only be partially supported") on 1.4 files, and we use nothing newer than 1.2.
            options = {"dataset_options": {"VERSION": GEOPACKAGE_VERSION}} if i == 0 else {}
            if spatial[name] and len(frame) == 0:
                # An empty layer would get geometry type GEOMETRY, which QGIS opens as a table without
                # geometry or CRS; every layer we write is polygons or points, and an empty one is drawn
                # as nothing either way, so declare polygons.
                options["geometry_type"] = "Polygon"
            # Arrow for every non-empty spatial layer: GDAL takes the columns whole instead of one feature
            # at a time (7,648 Gi* cells: 0.09 s against 0.25 s), and the layer reads back the same.
            if spatial[name] and len(frame) and _streamable(frame):
                written += _write_layer_stream(
                    frame, tmp, name, first=i == 0, report=progress, stage=stage, done=written, total=total
                )
                continue
            pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG", **options)
            written += len(table)
            progress(stage, written, total)
        if built or provenance is not None:
            with contextlib.closing(sqlite3.connect(tmp)) as db:
                db.execute("PRAGMA synchronous = OFF")  # see _unsynced_sqlite
                with db:
                    if built:
                        _write_layer_styles(db, built)
                    if provenance is not None:
                        _write_metadata(db, provenance, list(layers))
    return path


@contextlib.contextmanager
def _unsynced_sqlite():
    """GDAL's SQLite writes (GeoPackage) without waiting for each transaction to reach the disk.

    The GeoPackage is written under a temporary name and renamed into place only when complete, so a
    crash mid-write leaves the old file, never a half-written one, whatever SQLite syncs; what the syncs
    cost is real: adding the 17-row ``gistar_places`` layer to a written GeoPackage took 24 ms, 8 ms
    without. The option is set for these writes only and restored after.
    """
    import pyogrio

    previous = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": previous})


def _streamable(frame) -> bool:
    """True when a spatial layer can be streamed as Arrow batches: one geometry type, plain column types."""
    import pandas as pd

    from hotspot.io.styles import geometry_types

    if len(geometry_types(frame)) != 1:
        return False
    geometry = frame.geometry.name

    def plain(name, dtype) -> bool:
        # GDAL stores uint64 from Arrow as REAL but from a data frame as INTEGER; an object column goes as
        # Arrow only when it holds text (mixed objects do not convert).
        if str(dtype).lower() == "uint64":
            return False
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            return pd.api.types.infer_dtype(frame[name], skipna=True) in ("string", "empty")
        return (
            pd.api.types.is_numeric_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
            or isinstance(dtype, pd.StringDtype)
        )

    return all(plain(name, t) for name, t in frame.dtypes.items() if name != geometry)


def _write_layer_stream(frame, path: Path, name: str, *, first: bool, report, stage: str, done: int, total: int) -> int:
    """Write a long spatial layer as a stream of Arrow batches in one GDAL session; returns rows written.

    Progress is reported as GDAL pulls each batch. One session, so GDAL builds the spatial index
    once at the end (appending chunks instead made it update the index row by row, 60-100 % slower).
    On the 494,113-cell Gi* layer of Bedfordshire at 50 m this took 3.7-4.0 s against 5.3-5.7 s for
    a single ``write_dataframe``, and read back equal.
    """
    import pyarrow as pa
    from pyogrio.raw import write_arrow

    from hotspot.io.styles import geometry_types

    # The attribute columns as pandas hands them to Arrow, and the geometry as plain WKB in its place: GDAL is
    # told which column is the geometry, so GeoArrow's metadata (GeoDataFrame.to_arrow) is not needed and
    # the table takes 8 ms instead of 13 (7,648 Gi* cells). The attribute columns are picked by name, not dropped
    # into a new frame first: the same table and schema, ~7.5 -> ~3 ms there.
    geometry = frame.geometry.name
    attributes = [column for column in frame.columns if column != geometry]
    table = pa.Table.from_pandas(frame, columns=attributes, preserve_index=False)
    wkb = _wkb(frame[geometry].to_numpy())
    table = table.add_column(list(frame.columns).index(geometry), geometry, wkb)

    def batches():
        rows = done
        for batch in table.to_batches(max_chunksize=WRITE_CHUNK_ROWS):
            yield batch
            rows += batch.num_rows
            report(stage, rows, total)

    reader = pa.RecordBatchReader.from_batches(table.schema, batches())
    options = {"dataset_options": {"VERSION": GEOPACKAGE_VERSION}} if first else {}
    write_arrow(
        reader,
        path,
        layer=name,
        driver="GPKG",
        geometry_name=geometry,
        geometry_type=geometry_types(frame).pop(),
        crs=frame.crs.to_wkt(),
        **options,
    )
    return len(frame)


def _wkb(geometries: np.ndarray):
    """The geometries as little-endian WKB, an Arrow binary array, as ``shapely.to_wkb`` writes it.

    Grid cells (polygons of one ring of the same number of points, no Z) are packed straight from their
    coordinates, a fixed-size record each: 10,205 Gi* cells ~8 -> ~2.5 ms. Anything else goes through shapely.
    """
    import pyarrow as pa
    import shapely

    n = len(geometries)
    points = shapely.get_num_coordinates(geometries) if n else None
    if (
        n
        and (shapely.get_type_id(geometries) == 3).all()
        and points[0] >= 4
        and (points == points[0]).all()
        and not shapely.get_num_interior_rings(geometries).any()
        and not shapely.has_z(geometries).any()
        and (n + 1) * (13 + 16 * int(points[0])) < 2**31
    ):
        k = int(points[0])
        record = np.dtype(
            [("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (k, 2))]
        )
        packed = np.empty(n, record)
        packed["order"] = 1  # little-endian
        packed["type"] = 3  # Polygon
        packed["rings"] = 1
        packed["points"] = k
        packed["xy"] = shapely.get_coordinates(geometries).reshape(n, k, 2)
        offsets = np.arange(n + 1, dtype=np.int32) * np.int32(record.itemsize)
        return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(packed.view(np.uint8))])
    return pa.array(shapely.to_wkb(geometries, byte_order=1), pa.binary())


def _write_layer_styles(db: sqlite3.Connection, built: Mapping[str, Any]) -> None:
    db.execute(_LAYER_STYLES_DDL)
    stamp = _utc_stamp()
    geometry_columns = dict(db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
    for layer, style in built.items():
        db.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
            "styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                "",
                "",
                layer,
                geometry_columns.get(layer, ""),
                style.name,
                style.qml,
                style.sld,
                1,
                style.description,
                "",
                None,
                stamp,
            ),
        )
    # Registered as an attribute table so GeoPackage validators and GDAL see a declared table, not a stray one.
    db.execute(
        "INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
        "VALUES ('layer_styles', 'attributes', 'layer_styles', 'default layer styles (QGIS)', ?)",
        (stamp,),
    )


def _write_metadata(db: sqlite3.Connection, provenance: Provenance, layer_names: list[str]) -> None:
    from hotspot.io.provenance import SCHEMA

    for ddl in _METADATA_DDL:
        db.execute(ddl)
    for table in ("gpkg_metadata", "gpkg_metadata_reference"):
        db.execute(
            "INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
            "VALUES (?, NULL, 'gpkg_metadata', ?, 'read-write')",
            (table, _METADATA_EXTENSION),
        )
    cursor = db.execute(
        "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) VALUES ('dataset', ?, 'application/json', ?)",
        (SCHEMA, provenance.to_json()),
    )
    md_id = cursor.lastrowid
    stamp = _utc_stamp()
    db.execute(
        "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, row_id_value, timestamp, md_file_id) "
        "VALUES ('geopackage', NULL, NULL, NULL, ?, ?)",
        (stamp, md_id),
    )
    for name in layer_names:
        db.execute(
            "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, row_id_value, timestamp, md_file_id) "
            "VALUES ('table', ?, NULL, NULL, ?, ?)",
            (name, stamp, md_id),
        )


def read_layer_styles(path: str | Path):
    """The ``layer_styles`` table of a GeoPackage as a DataFrame (empty when there is none).

    Built from sqlite3's rows: ``pandas.read_sql_query`` gave the same frame, with the same types, but took
    several milliseconds of every QGIS project for these few rows.
    """
    import pandas as pd

    with contextlib.closing(sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)) as db:
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='layer_styles'").fetchone()
        if not exists:
            return pd.DataFrame(columns=["f_table_name", "styleName", "styleQML", "styleSLD", "useAsDefault"])
        cursor = db.execute("SELECT * FROM layer_styles ORDER BY id")
        return pd.DataFrame(cursor.fetchall(), columns=[column[0] for column in cursor.description])


def read_provenance(path: str | Path) -> Provenance | None:
    """The provenance stored in a GeoPackage (``gpkg_metadata``), a GeoTIFF's tags or a CSV's sidecar; None if absent."""
    from hotspot.io.provenance import SCHEMA, Provenance, provenance_sidecar

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='gpkg_metadata'").fetchone():
                return None
            row = db.execute(
                "SELECT metadata FROM gpkg_metadata WHERE md_standard_uri=? ORDER BY id DESC LIMIT 1", (SCHEMA,)
            ).fetchone()
        return Provenance.from_json(row[0]) if row else None
    if suffix in (".tif", ".tiff"):
        import rasterio

        with rasterio.open(path) as src:
            text = src.tags().get(GEOTIFF_PROVENANCE_TAG)
        return Provenance.from_json(text) if text else None
    sidecar = provenance_sidecar(path)
    return Provenance.from_json(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else None


# --- GeoTIFF ------------------------------------------------------------------------------------

GEOTIFF_PROVENANCE_TAG = "HOTSPOT_PROVENANCE"
"""GeoTIFF dataset tag holding the provenance JSON (``gdalinfo`` lists it under Metadata)."""

COG_BLOCK_PX = 256
"""Side of a GeoTIFF's internal tiles, pixels: GDAL compresses tiles on every core, and a county surface
(563 x 363) is six 256 px tiles to share out where it was two of 512 px (and 4 % smaller)."""
COG_DEFLATE_LEVEL = 1
"""DEFLATE level of GeoTIFFs: level 1 writes the three Bedfordshire Gi* surfaces in 46 ms instead of 57 at level 6
(both in 256 px tiles on both cores; 78 ms at level 6 in 512 px tiles on one core, as before) for 3 % more bytes,
and a 2,500 px density surface in 0.43 s instead of 0.58 (1.0 s before threads) for 2 % more. DEFLATE at any
level opens in every GIS."""
COG_OVERVIEW_MIN_PX = 2048
"""A GeoTIFF gets internal overviews only when its longer side exceeds this many pixels.

Below it a viewer reads the whole raster at once (a 2048 x 2048 float32 surface is 16 MB uncompressed),
so overviews only add bytes and write time: on the 563 x 363 Bedfordshire Gi* grid they made each COG
a third larger and took 6-8 ms of its 15-20 ms."""


def qml_sidecar(path: str | Path) -> Path:
    """The style sidecar QGIS looks for beside a raster: same name, ``.qml`` suffix."""
    return Path(path).with_suffix(".qml")


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    grid,
    *,
    nodata: float | None = -9999.0,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    style: str | None = None,
    style_options: Mapping[str, Any] | None = None,
    provenance: Provenance | None = None,
    predictor: bool = True,
) -> Path:
    """Write a 2-D array on ``grid`` as a cloud-optimised GeoTIFF (DEFLATE, ``COG_BLOCK_PX`` tiles compressed on
    every core, overviews on rasters over ``COG_OVERVIEW_MIN_PX`` px) atomically.

    Parameters
    ----------
    path : path
        The ``.tif`` to write.
    array : ndarray
        Shape ``grid.shape``, row 0 at the north edge. NaN cells are written as ``nodata``.
    grid : Grid
        Where the array lies (CRS, transform).
    nodata : float or None
        The no-data value, default -9999.0.
    description : str
        The band description (say kernel, bandwidth and units), default empty.
    tags : mapping, optional
        Extra dataset metadata, default none.
    style : str, optional
        ``"raster_ramp"`` writes a ``<stem>.qml`` sidecar (atomically) that QGIS applies on open:
        a pseudocolour ramp stretched from the data's minimum to maximum; ``"raster_gistar_bins"``
        a paletted style for Gi* bins -3..3 (:func:`hotspot.io.styles.raster_gistar_bins_qml`).
        Default None: no sidecar.
    style_options : mapping, optional
        Keyword options for :func:`hotspot.io.styles.raster_ramp_qml` (``ramp``, ``vmin``, ``vmax``,
        ``transparent_below_min``) or :func:`hotspot.io.styles.raster_gistar_bins_qml`. Default none.
    provenance : Provenance, optional
        Stored as JSON in the ``HOTSPOT_PROVENANCE`` tag, with ``TIFFTAG_SOFTWARE`` and
        ``TIFFTAG_DATETIME``. Default None.
    predictor : bool
        Use the floating-point predictor before DEFLATE on float data, default True: it shrinks smooth
        surfaces (densities). Pass False for surfaces that jump from cell to cell and between no-data and
        values (Gi* z, p and bins), which it makes larger and slower to write (Bedfordshire Gi* z: 245 KB
        with it, 152 KB without).
    """
    import rasterio
    import rasterio.shutil

    array = np.asarray(array)
    data = np.asarray(array, dtype=np.float32 if array.dtype != np.float64 else np.float64)
    if data.shape != grid.shape:
        raise ValueError(f"array shape {data.shape} does not match the grid {grid.shape}")
    qml = None
    if style is not None:
        from hotspot.io.styles import raster_gistar_bins_qml, raster_ramp_qml

        if style == "raster_ramp":
            qml = raster_ramp_qml(data, nodata=nodata, **dict(style_options or {}))
        elif style == "raster_gistar_bins":
            qml = raster_gistar_bins_qml(**dict(style_options or {}))
        else:
            raise HotspotInputError(f"GeoTIFFs take style 'raster_ramp' or 'raster_gistar_bins', got {style!r}")
    if nodata is not None:
        data = np.where(np.isnan(data), nodata, data)
    all_tags = {k: str(v) for k, v in (tags or {}).items()}
    if provenance is not None:
        all_tags[GEOTIFF_PROVENANCE_TAG] = provenance.to_json(indent=None)
        all_tags["TIFFTAG_SOFTWARE"] = f"{provenance.tool} {provenance.version}"
        all_tags["TIFFTAG_DATETIME"] = provenance.created_utc.replace("-", ":").replace("T", " ").rstrip("Z")
    profile = dict(
        driver="GTiff",
        height=grid.nrows,
        width=grid.ncols,
        count=1,
        dtype=data.dtype.name,
        crs=grid.crs,
        transform=grid.transform,
        nodata=nodata,
    )
    path = Path(path)
    if qml is not None:
        # The style goes first: if the raster write then fails, the old raster keeps a valid (if newer) style,
        # whereas a new raster with an old style could stretch its ramp over the wrong range.
        _write_text(qml_sidecar(path), qml)
    # Staged in GDAL's MEM driver (the COG driver only copies): the same file, byte for byte, as staging through
    # an in-memory GeoTIFF, without encoding and decoding that GeoTIFF first (Gi* z of Bedfordshire: ~15 -> ~11 ms).
    with rasterio.open("staging", "w", **{**profile, "driver": "MEM"}) as staging:
        staging.write(data, 1)
        if description:
            staging.set_band_description(1, description)
        if all_tags:
            staging.update_tags(**all_tags)
        with atomic_path(path) as tmp:
            rasterio.shutil.copy(
                staging,
                tmp,
                driver="COG",
                compress="DEFLATE",
                level=COG_DEFLATE_LEVEL,
                num_threads="ALL_CPUS",
                predictor="YES" if predictor and data.dtype.kind == "f" else "NO",
                blocksize=COG_BLOCK_PX,
                overviews="AUTO" if max(data.shape) > COG_OVERVIEW_MIN_PX else "NONE",
                overview_resampling="average",
            )
    return path


def write_rejects(records, path: str | Path) -> Path:
    """Write ``records.rejected`` (the rejected rows with their reason) as CSV, atomically; returns the path."""
    return write_csv(records.rejected, path)
