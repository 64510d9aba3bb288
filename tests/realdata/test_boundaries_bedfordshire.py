"""read_boundaries on real ONS boundaries: Bedfordshire LSOAs and wards standardised to area_code/area_name in BNG."""

from __future__ import annotations

from hotspot.ingest.boundaries import read_boundaries


def test_bedfordshire_lsoas_are_standardised_and_projected(bedfordshire_lsoas_path):
    areas = read_boundaries(bedfordshire_lsoas_path)
    assert len(areas) == 417
    assert areas.crs.to_epsg() == 27700
    assert list(areas.columns[:2]) == ["area_code", "area_name"] and areas.columns[-1] == "geometry"
    assert (areas["area_code"] == areas["LSOA21CD"]).all()  # original columns kept
    assert (areas["area_name"] == areas["LSOA21NM"]).all()
    assert areas["area_code"].str.fullmatch(r"E01\d{6}").all()
    minx, miny, maxx, maxy = areas.total_bounds
    # Bedfordshire in British National Grid metres, not degrees
    assert 480_000 < minx < maxx < 560_000 and 200_000 < miny < maxy < 280_000
    assert areas.geometry.is_valid.all()
    assert areas.geom_type.isin(["Polygon", "MultiPolygon"]).all()


def test_ward_codes_and_an_explicit_layer_are_detected(shared_data):
    wards = read_boundaries(shared_data / "boundaries-bedfordshire" / "ward2022_bedfordshire_bgc.gpkg")
    assert (wards["area_code"] == wards["WD22CD"]).all() and (wards["area_name"] == wards["WD22NM"]).all()


def test_explicit_columns_and_another_crs(bedfordshire_lsoas_path):
    areas = read_boundaries(bedfordshire_lsoas_path, code_column="LAD_CODE", name_column="LSOA21CD", crs="EPSG:32630")
    assert (areas["area_code"] == areas["LAD_CODE"]).all()
    assert areas.crs.to_epsg() == 32630


def test_study_area_mask_equals_contains_xy_on_real_outlines(shared_data):
    """Grid.mask_from_geometry against shapely's contains_xy on every cell centre, on the county's
    outline and its 417 LSOAs (holes, slivers, shared edges) at four cell sizes."""
    import numpy as np
    import shapely

    from hotspot.core.grid import Grid

    areas = read_boundaries(shared_data / "boundaries-bedfordshire" / "lsoa21_bedfordshire_bgc.gpkg")
    county = areas.union_all()
    xmin, ymin, xmax, ymax = county.bounds
    for cell in (25.0, 50.0, 100.0, 250.0):
        grid = Grid(xmin, ymax, cell, int((xmax - xmin) // cell) + 1, int((ymax - ymin) // cell) + 1)
        xs, ys = grid.cell_centres()
        np.testing.assert_array_equal(grid.mask_from_geometry(county), shapely.contains_xy(county, xs, ys))
    grid = Grid(xmin, ymax, 50.0, int((xmax - xmin) // 50) + 1, int((ymax - ymin) // 50) + 1)
    xs, ys = grid.cell_centres()
    for geometry in areas.geometry.iloc[::7]:
        np.testing.assert_array_equal(grid.mask_from_geometry(geometry), shapely.contains_xy(geometry, xs, ys))
