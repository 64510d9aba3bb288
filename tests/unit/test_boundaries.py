"""read_boundaries: columns standardised to area_code/area_name, repairs, and one-line errors for bad files
(real ONS boundaries: tests/realdata/test_boundaries_bedfordshire.py).
"""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
import shapely

from hotspot.core.errors import HotspotInputError
from hotspot.ingest.boundaries import read_boundaries


def _write(tmp_path, frame, name="areas.gpkg", **kwargs):
    path = tmp_path / name
    pyogrio.write_dataframe(frame, path, **kwargs)
    return path


def test_generic_code_and_name_columns_and_invalid_geometry_repaired(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])  # self-intersecting
    square = shapely.box(200, 0, 300, 100)
    assert not bowtie.is_valid
    path = _write(
        tmp_path,
        gpd.GeoDataFrame(
            {"code": ["A1", "A2"], "name": ["North", "South"]}, geometry=[bowtie, square], crs="EPSG:27700"
        ),
    )
    areas = read_boundaries(path)
    assert list(areas["area_code"]) == ["A1", "A2"] and list(areas["area_name"]) == ["North", "South"]
    assert areas.geometry.is_valid.all()
    assert areas.geometry.iloc[0].area == pytest.approx(5000.0)  # the two triangles of the bowtie


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(HotspotInputError, match="does not exist") as info:
        read_boundaries(tmp_path / "nowhere.gpkg")
    assert "\n" not in str(info.value)


def test_points_are_not_boundaries(tmp_path):
    path = _write(tmp_path, gpd.GeoDataFrame({"code": ["A"]}, geometry=[shapely.Point(1, 2)], crs="EPSG:27700"))
    with pytest.raises(HotspotInputError, match="no polygons"):
        read_boundaries(path)


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_no_crs_is_refused(tmp_path):
    path = _write(tmp_path, gpd.GeoDataFrame({"code": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)]), name="areas.shp")
    with pytest.raises(HotspotInputError, match="no CRS"):
        read_boundaries(path)


def test_no_code_column_lists_the_columns_found(tmp_path):
    path = _write(
        tmp_path,
        gpd.GeoDataFrame({"colour": ["red"], "height": [3]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:27700"),
    )
    with pytest.raises(HotspotInputError, match="no area-code column found among: colour, height"):
        read_boundaries(path)
    with pytest.raises(HotspotInputError, match="no column 'LSOA21CD'"):
        read_boundaries(path, code_column="LSOA21CD")


def test_missing_layer_lists_the_layers(tmp_path):
    path = _write(
        tmp_path, gpd.GeoDataFrame({"code": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:27700"), layer="areas"
    )
    with pytest.raises(HotspotInputError, match="no layer 'wards'; its layers are: areas"):
        read_boundaries(path, layer="wards")


def test_not_a_spatial_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("code,name\nA,B\n")
    with pytest.raises(HotspotInputError):
        read_boundaries(path)
