"""Ingestion on the real police.uk files against the figures validated in SOURCES.md."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from hotspot.ingest import apply_filters, read_records

BEDFORDSHIRE_ROWS = 120_588
NO_LOCATION = 3_832
OTHER_FORCE_CODES = 625
LSOA_CODES = 417


@pytest.fixture(scope="module")
def bedfordshire(bedfordshire_crime_dir):
    # every published row, as SOURCES.md counts them; repeated Crime IDs are tested in test_faults.py
    return read_records([bedfordshire_crime_dir], drop_duplicates=False)


@pytest.fixture(scope="module")
def lsoas(bedfordshire_lsoas_path):
    import geopandas as gpd

    return gpd.read_file(bedfordshire_lsoas_path).to_crs("EPSG:27700")


def test_row_counts_and_reasons(bedfordshire):
    assert len(bedfordshire.sources) == 24
    assert len(bedfordshire) + len(bedfordshire.rejected) == BEDFORDSHIRE_ROWS
    counts = bedfordshire.reject_counts
    assert counts["no_location"] == NO_LOCATION
    assert sum(counts.values()) == NO_LOCATION  # nothing else is wrong with police.uk's own files
    assert bedfordshire.crs == "EPSG:27700" and not bedfordshire.has_times
    frame = bedfordshire.frame
    assert frame["month"].min() == "2021-05" and frame["month"].max() == "2023-04" and frame["month"].nunique() == 24
    assert frame["location"].str.startswith("On or near").all()
    assert frame["crime_type"].nunique() == 14


def test_lsoa_codes_join_and_points_fall_in_their_own_lsoa(bedfordshire, lsoas):
    import shapely

    frame = bedfordshire.frame
    codes = set(lsoas["LSOA21CD"])
    own = frame["lsoa_code"].isin(codes).to_numpy()
    assert len(codes) == LSOA_CODES
    assert set(frame.loc[own, "lsoa_code"]) == codes  # all 417 codes join, every polygon has crime
    assert int((~own).sum()) == OTHER_FORCE_CODES
    assert int(own.sum()) == 116_131

    polygons = lsoas.set_index("LSOA21CD").geometry
    geoms = polygons.loc[frame.loc[own, "lsoa_code"]].to_numpy()
    points = shapely.points(frame.loc[own, "x"].to_numpy(), frame.loc[own, "y"].to_numpy())
    inside = shapely.intersects(geoms, points)
    assert int(inside.sum()) == pytest.approx(111_146, abs=5)  # boundary-touching points may differ by a few
    distance = shapely.distance(geoms, points)
    assert distance.max() <= 20.0  # polygons are generalised to 20 m
    assert distance.max() > 0  # the check above is not vacuous


def test_study_area_filter_on_real_boundaries(bedfordshire, lsoas):
    out = apply_filters(bedfordshire, study_area=lsoas, tolerance_m=20.0)
    # every Bedfordshire-coded point is within 20 m; the 625 other-force rows mostly lie just outside
    assert out.reject_counts["outside_study_area"] <= OTHER_FORCE_CODES
    assert len(out) >= 116_131
    assert len(out) + len(out.rejected) == BEDFORDSHIRE_ROWS


def test_zip_of_real_files_matches_folder(bedfordshire_crime_dir, bedfordshire, tmp_path):
    import gzip

    files = sorted(bedfordshire_crime_dir.glob("*.csv.gz"))[:3]
    path = tmp_path / "download.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for f in files:
            month = f.name[:7]
            archive.writestr(f"{month}/{f.name[:-3]}", gzip.decompress(f.read_bytes()))
    from_zip = read_records([path])
    from_files = read_records(files)
    assert len(from_zip) == len(from_files) and from_zip.reject_counts == from_files.reject_counts
    np.testing.assert_array_equal(from_zip.frame["x"], from_files.frame["x"])


def test_city_of_london(shared_data):
    records = read_records([shared_data / "policeuk-cityoflondon"])
    assert len(records.sources) == 36
    assert len(records) + len(records.rejected) == 27_904
    assert records.reject_counts["no_location"] == 2_372
    assert records.crs == "EPSG:27700"
