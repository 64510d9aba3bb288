"""GeoPackage/GeoTIFF/CSV writers: styles, provenance, validity and atomic replacement."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.io import outputs
from hotspot.io.outputs import (
    qml_sidecar,
    read_layer_styles,
    read_provenance,
    write_csv,
    write_geopackage,
    write_geotiff,
)
from hotspot.io.provenance import SCHEMA, Provenance

FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_layers(grid: Grid | None = None):
    import geopandas as gpd
    import shapely

    grid = grid or Grid(500_000.0, 200_000.0, 100.0, 12, 8)
    rng = np.random.default_rng(1)
    cells = grid.to_geodataframe({"count": rng.integers(0, 9, grid.shape), "gi_bin": rng.integers(-3, 4, grid.shape)})
    ranked = gpd.GeoDataFrame(
        {"rank": [1, 2, 3], "name": ["High St", "Station Rd", "Park"], "count": [12, 7, 3]},
        geometry=shapely.points([500_150.0, 500_450.0, 500_850.0], [199_650.0, 199_450.0, 199_350.0]),
        crs=grid.crs,
    )
    model = pd.DataFrame({"factor": ["bars", "atms"], "coef": [0.8, 0.3], "rrv": [2.2, 1.35]})
    return grid, {"gistar": cells, "ranked": ranked, "model": model}


STYLES = {"gistar": "gistar", "ranked": "ranked"}


@pytest.fixture
def provenance():
    return Provenance.capture("test", {"cell_size_m": 100.0}, [], None, argv=["hotspot", "test"], now=FIXED)


def test_geopackage_has_default_styles_for_styled_layers(tmp_path, provenance):
    _, layers = make_layers()
    path = write_geopackage(tmp_path / "out.gpkg", layers, styles=STYLES, provenance=provenance)
    styles = read_layer_styles(path)
    assert list(styles["f_table_name"]) == ["gistar", "ranked"]
    assert list(styles["styleName"]) == ["gistar", "ranked"]
    assert (styles["useAsDefault"] == 1).all()
    assert (styles["f_geometry_column"] == "geom").all()
    gistar = styles.set_index("f_table_name").loc["gistar"]
    assert 'type="categorizedSymbol"' in gistar["styleQML"] and 'attr="gi_bin"' in gistar["styleQML"]
    assert "Hot spot - 99 % confidence" in gistar["styleQML"] and "<se:Rule>" in gistar["styleSLD"]
    ranked = styles.set_index("f_table_name").loc["ranked"]
    assert 'labelsEnabled="1"' in ranked["styleQML"] and 'attr="rank"' in ranked["styleQML"]
    with sqlite3.connect(path) as db:  # the frame pandas' own SQL reader gives, types included
        pd.testing.assert_frame_equal(styles, pd.read_sql_query("SELECT * FROM layer_styles ORDER BY id", db))


def test_geopackage_registers_styles_and_metadata_for_validators(tmp_path, provenance):
    _, layers = make_layers()
    path = write_geopackage(tmp_path / "out.gpkg", layers, styles=STYLES, provenance=provenance)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        contents = dict(db.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
        assert contents == {
            "gistar": "features",
            "ranked": "features",
            "model": "attributes",
            "layer_styles": "attributes",
        }
        srs = db.execute(
            "SELECT s.organization, s.organization_coordsys_id FROM gpkg_geometry_columns g "
            "JOIN gpkg_spatial_ref_sys s ON s.srs_id = g.srs_id WHERE g.table_name='gistar'"
        ).fetchone()
        assert (srs[0].upper(), srs[1]) == ("EPSG", 27700)
        scopes = sorted(
            db.execute("SELECT reference_scope, coalesce(table_name, '') FROM gpkg_metadata_reference").fetchall()
        )
        assert scopes == [("geopackage", ""), ("table", "gistar"), ("table", "model"), ("table", "ranked")]
        extensions = {
            r[0] for r in db.execute("SELECT table_name FROM gpkg_extensions WHERE extension_name='gpkg_metadata'")
        }
        assert extensions == {"gpkg_metadata", "gpkg_metadata_reference"}
        uri, mime = db.execute("SELECT md_standard_uri, mime_type FROM gpkg_metadata").fetchone()
        assert (uri, mime) == (SCHEMA, "application/json")


def test_geopackage_provenance_round_trips(tmp_path, provenance):
    _, layers = make_layers()
    path = write_geopackage(
        tmp_path / "out.gpkg", layers, provenance=provenance.with_disclosure("gistar: counts suppressed")
    )
    back = read_provenance(path)
    assert back.created_utc == "2026-01-02T03:04:05Z"
    assert back.argv == ["hotspot", "test"]
    assert back.parameters == {"cell_size_m": 100.0}
    assert back.disclosure == ["gistar: counts suppressed"]


def test_geopackage_layers_read_back_unchanged(tmp_path):
    import pyogrio

    _, layers = make_layers()
    path = write_geopackage(tmp_path / "out.gpkg", layers, styles=STYLES)
    assert {name for name, _ in pyogrio.list_layers(path)} >= {"gistar", "ranked", "model", "layer_styles"}
    back = pyogrio.read_dataframe(path, layer="gistar")
    assert back.crs.to_epsg() == 27700
    np.testing.assert_array_equal(back["gi_bin"].to_numpy(), layers["gistar"]["gi_bin"].to_numpy())


def test_geographic_or_missing_crs_is_refused(tmp_path):
    _, layers = make_layers()
    with pytest.raises(HotspotInputError, match="geographic"):
        write_geopackage(tmp_path / "a.gpkg", {"ranked": layers["ranked"].to_crs("EPSG:4326")})
    with pytest.raises(HotspotInputError, match="no CRS"):
        write_geopackage(tmp_path / "b.gpkg", {"ranked": layers["ranked"].set_crs(None, allow_override=True)})
    assert not list(tmp_path.iterdir())


def test_style_for_a_layer_not_written_is_refused(tmp_path):
    _, layers = make_layers()
    with pytest.raises(HotspotInputError, match="not written"):
        write_geopackage(tmp_path / "a.gpkg", {"ranked": layers["ranked"]}, styles={"gistar": "gistar"})


@pytest.mark.parametrize("failure", [RuntimeError("disk full (simulated)"), KeyboardInterrupt("Ctrl-C (simulated)")])
def test_failed_write_leaves_previous_geopackage_byte_identical(tmp_path, monkeypatch, failure):
    import pyogrio

    _, layers = make_layers()
    path = write_geopackage(tmp_path / "out.gpkg", layers, styles=STYLES)
    before = path.read_bytes()

    import pyogrio.raw

    calls = {"n": 0}

    def fail_after_first_layer(real):
        # Spatial layers go to GDAL as Arrow, attribute tables as data frames: count layers across both.
        def write(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise failure
            return real(*args, **kwargs)

        return write

    monkeypatch.setattr(pyogrio, "write_dataframe", fail_after_first_layer(pyogrio.write_dataframe))
    monkeypatch.setattr(pyogrio.raw, "write_arrow", fail_after_first_layer(pyogrio.raw.write_arrow))
    with pytest.raises(type(failure), match="simulated"):
        write_geopackage(path, layers, styles=STYLES)
    assert calls["n"] == 2
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]


def test_failure_while_writing_styles_leaves_no_partial_file(tmp_path, monkeypatch):
    import hotspot.io.outputs as outputs

    _, layers = make_layers()

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked (simulated)")

    monkeypatch.setattr(outputs, "_write_layer_styles", broken)
    # a failing database write is one line naming the file, not a traceback
    with pytest.raises(HotspotInputError, match="out.gpkg: database is locked"):
        write_geopackage(tmp_path / "out.gpkg", layers, styles=STYLES)
    assert list(tmp_path.iterdir()) == []


def test_csv_writes_provenance_sidecar(tmp_path, provenance):
    _, layers = make_layers()
    path = write_csv(layers["ranked"], tmp_path / "ranked.csv", provenance=provenance)
    sidecar = tmp_path / "ranked.provenance.json"
    data = json.loads(sidecar.read_text())
    assert data["schema"] == SCHEMA and data["command"] == "test" and data["created_utc"] == "2026-01-02T03:04:05Z"
    assert "geometry" not in pd.read_csv(path).columns
    write_csv(layers["ranked"], tmp_path / "plain.csv")
    assert not (tmp_path / "plain.provenance.json").exists()


@pytest.mark.parametrize("chunk_rows", [100_000, 37])
def test_csv_text_equals_pandas_to_csv(tmp_path, monkeypatch, chunk_rows):
    """write_csv formats plain columns itself, a chunk of rows at a time; the file must be byte for byte what
    pandas writes."""
    monkeypatch.setattr(outputs, "CSV_CHUNK_ROWS", chunk_rows)
    rng = np.random.default_rng(7)
    n = 400
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)
    x[::7] = np.nan
    x[:4] = [np.inf, -np.inf, -0.0, 1e16]
    # where Arrow's float text and repr lay digits out differently: whole numbers, 1e-4, 1e15-1e16, and
    # 17-digit numbers in 1e10-1e15 (Arrow: 1.9134485083834507e+10, repr: 19134485083.834507)
    edges = np.concatenate(
        [
            [
                1e-4,
                9.999999999999999e-05,
                1e-5,
                123.0,
                1e15,
                999999999999999.9,
                1e16 - 2,
                5e-324,
                1.7976931348623157e308,
            ],
            10.0 ** rng.uniform(-5, 17, n - 9 - 40),
            np.round(10.0 ** rng.uniform(-1, 16, 40)),
        ]
    )
    edges[1::2] *= -1
    text = ["x\ry", "a,b", 'say "hi"', "two\nlines", "", " lead", "é", None]
    frames = {
        "plain": pd.DataFrame(
            {
                "f": x,
                "p": rng.random(n),
                "edges": edges,
                "i": rng.integers(-5, 5, n),
                "i64": rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n),
                "u8": rng.integers(0, 5, n).astype(np.uint8),
                "b": rng.random(n) > 0.5,
                'odd,"name"': pd.array([text[k % len(text)] for k in range(n)], dtype="string"),
                "o": np.array([np.nan if k % 3 == 0 else text[k % 5] for k in range(n)], dtype=object),
                7: np.full(n, np.nan),
                "labels": np.array(["High Street", "Luton 001A", "café"] * (n // 3) + ["x"] * (n % 3), dtype=object),
            }
        ),
        "fallback": pd.DataFrame({"f32": x.astype(np.float32), "cat": pd.Categorical(["a", "b"] * (n // 2))}),
        "one column": pd.DataFrame({"a": [np.nan, 1.0, np.nan]}),
        "no rows": pd.DataFrame({"a": pd.Series(dtype=float), "b": pd.Series(dtype="string")}),
        "no columns": pd.DataFrame(index=range(3)),
    }
    for name, frame in frames.items():
        path = write_csv(frame, tmp_path / "t.csv")
        assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8"), name


def test_float_text_is_repr_on_any_double():
    """The CSV's float text is Python's repr (empty for NaN) on random bit patterns (every exponent, NaN
    payloads, infinities, subnormals) and across the ranges where Arrow's layout differs from repr's."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**63, 100_000, dtype=np.uint64) | (rng.integers(0, 2, 100_000).astype(np.uint64) << 63)
    values = np.concatenate(
        [
            bits.view(np.float64),
            10.0 ** rng.uniform(-8, -3, 50_000),
            -(10.0 ** rng.uniform(-8, -3, 50_000)),
            np.round(10.0 ** rng.uniform(-1, 17, 20_000)),
            10.0 ** rng.uniform(9, 17, 50_000),
            [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-4, 1e-6, 1e-5, 1e10, 9999999999.999998, 1e16],
        ]
    )
    assert outputs._float_text(values).to_pylist() == ["" if x != x else repr(x) for x in values.tolist()]


def test_packed_cell_wkb_is_shapelys():
    """Grid cells' WKB is packed from their coordinates; it must be shapely's, byte for byte, and anything
    that is not a set of same-size single-ring polygons must take shapely's path."""
    import pyarrow as pa
    import shapely

    grid = Grid(500_000.0, 200_000.0, 100.0, 7, 9)
    row, col = np.divmod(np.arange(grid.size), grid.ncols)
    cells = grid.cell_polygons(row, col)
    holed = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (2, 4), (4, 4), (2, 2)]])
    cases = {
        "cells": cells,
        "one cell": cells[:1],
        "no rows": cells[:0],
        "a hole": np.append(cells, holed),
        "holes, same size": np.array([holed, holed], dtype=object),
        "mixed sizes": np.append(cells, shapely.Polygon([(0, 0), (1, 0), (0, 1)])),
        "z": shapely.force_3d(cells),
        "points": shapely.points(np.arange(5.0), np.arange(5.0)),
        "missing": np.append(cells, None),
    }
    for name, geometries in cases.items():
        expected = pa.array(shapely.to_wkb(np.asarray(geometries, dtype=object), byte_order=1), pa.binary())
        assert outputs._wkb(np.asarray(geometries, dtype=object)).equals(expected), name


def test_geotiff_sidecar_ramp_spans_the_data_and_tags_hold_provenance(tmp_path, provenance):
    import rasterio

    grid = Grid(500_000.0, 200_000.0, 50.0, 40, 30)
    data = np.linspace(2.0, 7.5, grid.size).reshape(grid.shape)
    data[0, 0] = np.nan
    path = write_geotiff(
        tmp_path / "kde.tif",
        data,
        grid,
        style="raster_ramp",
        provenance=provenance,
        description="density, crimes per km2",
    )
    qml = qml_sidecar(path).read_text()
    assert qml_sidecar(path).name == "kde.qml"
    assert 'type="singlebandpseudocolor"' in qml
    assert f'minimumValue="{float(data[0, 1])!r}"' in qml and 'maximumValue="7.5"' in qml
    with rasterio.open(path) as src:
        assert src.tags()["TIFFTAG_SOFTWARE"] == "hotspot " + provenance.version
        assert src.nodata == -9999.0
    assert read_provenance(path).created_utc == provenance.created_utc


def test_geotiff_is_a_tiled_cog_with_overviews(tmp_path):
    import rasterio

    from hotspot.io.outputs import COG_BLOCK_PX, COG_OVERVIEW_MIN_PX

    grid = Grid(500_000.0, 200_000.0, 10.0, COG_OVERVIEW_MIN_PX + 52, 300)
    data = np.random.default_rng(0).random(grid.shape, dtype=np.float32)
    path = write_geotiff(tmp_path / "big.tif", data, grid, style="raster_ramp")
    with rasterio.open(path) as src:
        assert src.profile["tiled"] and src.block_shapes[0] == (COG_BLOCK_PX, COG_BLOCK_PX)
        assert src.overviews(1), "a raster over COG_OVERVIEW_MIN_PX needs overviews to be a useful COG"
        assert src.profile["compress"].lower() == "deflate"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_array_equal(src.read(1), data)


def test_geotiff_below_the_overview_size_is_a_cog_without_overviews(tmp_path):
    import rasterio

    from hotspot.io.outputs import COG_BLOCK_PX

    grid = Grid(500_000.0, 200_000.0, 10.0, 1100, 1030)  # one COG_OVERVIEW_MIN_PX side would read whole
    data = np.random.default_rng(0).random(grid.shape, dtype=np.float32)
    path = write_geotiff(tmp_path / "mid.tif", data, grid, predictor=False)
    with rasterio.open(path) as src:
        assert src.profile["tiled"] and src.block_shapes[0] == (COG_BLOCK_PX, COG_BLOCK_PX)
        assert src.overviews(1) == []
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") in (None, "1")
        np.testing.assert_array_equal(src.read(1), data)


def test_geotiff_is_the_cog_gdal_makes_from_a_geotiff_with_the_same_contents(tmp_path):
    """Staging in the MEM driver must give the file that GDAL's COG driver makes from an in-memory GeoTIFF holding
    the same band, description, tags and georeferencing, byte for byte (overviews and predictor included)."""
    import rasterio
    import rasterio.shutil
    from rasterio.io import MemoryFile

    from hotspot.io.outputs import COG_BLOCK_PX, COG_DEFLATE_LEVEL, COG_OVERVIEW_MIN_PX

    grid = Grid(500_000.0, 200_000.0, 10.0, COG_OVERVIEW_MIN_PX + 52, 300)
    data = np.random.default_rng(1).normal(size=grid.shape).astype(np.float32)
    data[:7, :9] = np.nan
    path = write_geotiff(tmp_path / "ours.tif", data, grid, description="z", tags={"UNITS": "sd"})
    profile = dict(driver="GTiff", height=grid.nrows, width=grid.ncols, count=1, dtype="float32")
    profile.update(crs=grid.crs, transform=grid.transform, nodata=-9999.0)
    reference = tmp_path / "reference.tif"
    with MemoryFile() as memfile:
        with memfile.open(**profile) as staging:
            staging.write(np.where(np.isnan(data), np.float32(-9999.0), data), 1)
            staging.set_band_description(1, "z")
            staging.update_tags(UNITS="sd")
        with memfile.open() as staging:
            rasterio.shutil.copy(
                staging,
                reference,
                driver="COG",
                compress="DEFLATE",
                level=COG_DEFLATE_LEVEL,
                predictor="YES",
                blocksize=COG_BLOCK_PX,
                overviews="AUTO",
                overview_resampling="average",
            )
    assert path.read_bytes() == reference.read_bytes()


def test_geotiff_rejects_unknown_style(tmp_path):
    grid = Grid(0.0, 100.0, 10.0, 5, 5)
    with pytest.raises(HotspotInputError, match="raster_ramp"):
        write_geotiff(tmp_path / "x.tif", np.zeros(grid.shape), grid, style="gistar")
    assert list(tmp_path.iterdir()) == []


def test_geopackage_layers_of_every_column_type_match_a_per_feature_write(tmp_path):
    """Spatial layers go to GDAL as Arrow where that stores them as a data frame write does; the table
    schema and the values read back must equal ``pyogrio.write_dataframe``'s (the writer used before)."""
    import geopandas as gpd
    import pyogrio
    import shapely

    n = 6
    columns = {
        "u8": np.arange(n, dtype=np.uint8),
        "u64": np.arange(n, dtype=np.uint64),
        "i16": np.arange(n, dtype=np.int16),
        "f32": np.linspace(0, 1, n, dtype=np.float32),
        "flag": np.arange(n) % 2 == 0,
        "nullable": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
        "text": pd.array(["a", None, "c", "d", "e", "f"], dtype="string"),
        "objects": np.array(["a", None, "c", "d", np.nan, "f"], dtype=object),
        "mixed": np.array([1, "a", 2.5, None, "x", 3], dtype=object),
        "category": pd.Categorical(list("abcabc")),
        "day": pd.date_range("2024-01-01", periods=n),
    }
    for name, values in columns.items():
        frame = gpd.GeoDataFrame(
            {name: values, "count": np.arange(n, dtype=np.float64)},
            geometry=shapely.box(np.arange(n), 0, np.arange(n) + 1, 1),
            crs="EPSG:27700",
        )
        ours = write_geopackage(tmp_path / f"{name}.gpkg", {"cells": frame})
        reference = tmp_path / f"{name}_reference.gpkg"
        pyogrio.write_dataframe(frame, reference, layer="cells", driver="GPKG")
        schema = "SELECT sql FROM sqlite_master WHERE name = 'cells'"
        with sqlite3.connect(ours) as a, sqlite3.connect(reference) as b:
            assert a.execute(schema).fetchone() == b.execute(schema).fetchone(), name
        assert pyogrio.read_dataframe(ours).equals(pyogrio.read_dataframe(reference)), name
