"""Bad input to ingestion: one clear line naming the file, column or parameter, never a traceback."""

from __future__ import annotations

import gzip
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.ingest import apply_filters, parse_time_window, read_records
from tests.support import REPO as CHECKOUT
from tests.unit.test_ingest import policeuk_text, write


def one_line_error(call, *needles) -> str:
    with pytest.raises(HotspotInputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message
    for needle in needles:
        assert needle.lower() in message.lower(), f"{needle!r} not in {message!r}"
    return message


@pytest.fixture
def policeuk(tmp_path):
    return read_records([write(tmp_path / "2022-03-x-street.csv", policeuk_text(n=6, no_location=0))])


def test_missing_file(tmp_path):
    one_line_error(lambda: read_records([tmp_path / "nope.csv"]), "nope.csv", "no such file")


def test_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    one_line_error(lambda: read_records([tmp_path / "empty.csv"]), "empty.csv", "empty")
    (tmp_path / "header.csv").write_text("lon,lat\n")
    one_line_error(lambda: read_records([tmp_path / "header.csv"]), "header.csv", "no data rows")


def test_corrupt_gzip(tmp_path):
    (tmp_path / "bad.csv.gz").write_bytes(gzip.compress(b"Month,Longitude\n2022-01,1\n")[:15])
    one_line_error(lambda: read_records([tmp_path / "bad.csv.gz"]), "bad.csv.gz")


def test_unreadable_zip(tmp_path):
    (tmp_path / "download.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    one_line_error(lambda: read_records([tmp_path / "download.zip"]), "download.zip", "zip")


def test_zip_without_street_files(tmp_path):
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr("2022-01/2022-01-x-outcomes.csv", "Crime ID,Month,Outcome type\n")
    one_line_error(lambda: read_records([tmp_path / "d.zip"]), "d.zip", "street")


def test_unsupported_suffix(tmp_path):
    (tmp_path / "crimes.xlsx").write_bytes(b"x")
    one_line_error(lambda: read_records([tmp_path / "crimes.xlsx"]), "crimes.xlsx", ".xlsx")


def test_no_coordinate_columns_lists_columns_and_options(tmp_path):
    pd.DataFrame({"ref": [1], "where": ["High St"], "what": ["Burglary"]}).to_csv(tmp_path / "x.csv", index=False)
    one_line_error(lambda: read_records([tmp_path / "x.csv"]), "x.csv", "ref, where, what", "x_column", "lon_column")


def test_named_column_missing(tmp_path):
    pd.DataFrame({"E": [505000], "N": [250000]}).to_csv(tmp_path / "x.csv", index=False)
    one_line_error(
        lambda: read_records([tmp_path / "x.csv"], x_column="E", y_column="North"), "x.csv", "y_column", "'North'"
    )


def test_lat_lon_swapped(tmp_path):
    pd.DataFrame({"longitude": [52.13, 52.14], "latitude": [-0.47, -0.46]}).to_csv(tmp_path / "s.csv", index=False)
    one_line_error(lambda: read_records([tmp_path / "s.csv"]), "s.csv", "swapped", "lon_column='latitude'")


def test_lat_out_of_range_column(tmp_path):
    pd.DataFrame({"lon": [10.0, 11.0], "lat": [120.0, 130.0]}).to_csv(tmp_path / "r.csv", index=False)
    one_line_error(lambda: read_records([tmp_path / "r.csv"]), "r.csv", "swapped")
    pd.DataFrame({"lon": [1000.0, 1200.0], "lat": [-5000.0, -6000.0]}).to_csv(tmp_path / "q.csv", index=False)
    one_line_error(lambda: read_records([tmp_path / "q.csv"]), "q.csv", "not degrees")


def test_bng_declared_as_degrees(tmp_path):
    pd.DataFrame({"Longitude": [507000, 508000], "Latitude": [250000, 251000]}).to_csv(tmp_path / "b.csv", index=False)
    message = one_line_error(lambda: read_records([tmp_path / "b.csv"]), "b.csv", "British National Grid", "EPSG:27700")
    assert "easting" in message
    # the advice works
    assert read_records([tmp_path / "b.csv"], input_crs="EPSG:27700").frame["x"].tolist() == [507000, 508000]


def test_degrees_in_easting_columns(tmp_path):
    pd.DataFrame({"easting": [-0.47], "northing": [52.1]}).to_csv(tmp_path / "d.csv", index=False)
    one_line_error(lambda: read_records([tmp_path / "d.csv"]), "d.csv", "degree", "lon_column")


def test_every_row_unusable(tmp_path):
    pd.DataFrame({"lon": ["", "abc"], "lat": ["", "x"]}).to_csv(tmp_path / "u.csv", index=False)
    one_line_error(
        lambda: read_records([tmp_path / "u.csv"]), "u.csv", "no usable records", "no_location", "unparsable"
    )


def test_outcomes_file_given_directly(tmp_path):
    write(
        tmp_path / "2022-01-x-outcomes.csv",
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Outcome type\n"
        "a,2022-01,B,B,-0.47,52.1,On or near X,E01,Bed,Charged\n",
    )
    one_line_error(lambda: read_records([tmp_path / "2022-01-x-outcomes.csv"]), "outcomes", "street")


def test_bad_crs_options(tmp_path):
    path = write(tmp_path / "a.csv", policeuk_text())
    one_line_error(lambda: read_records([path], crs="EPSG:4326"), "--crs", "projected")
    one_line_error(lambda: read_records([path], crs="not-a-crs"), "--crs", "not-a-crs")
    one_line_error(lambda: read_records([path], input_crs="EPSG:99999999"), "input_crs")


def test_polygon_layer_rejected(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs="EPSG:27700").to_file(tmp_path / "areas.gpkg")
    one_line_error(lambda: read_records([tmp_path / "areas.gpkg"]), "areas.gpkg", "Polygon", "points")


def test_unknown_crime_type_lists_types_present(policeuk):
    one_line_error(
        lambda: apply_filters(policeuk, crime_types=["Burglary", "Shoplfting"]),
        "Shoplfting",
        "types present",
        "Anti-social behaviour",
        "Vehicle crime",
    )


def test_day_range_on_month_only_data(policeuk):
    one_line_error(lambda: apply_filters(policeuk, date_from="2022-03-05"), "--from", "month only", "YYYY-MM")


@pytest.mark.parametrize("value", ["2022/03", "March", "2022-13", "2022-02-30"])
def test_bad_date_bound(policeuk, value):
    one_line_error(lambda: apply_filters(policeuk, date_to=value), "--to", value)


def test_from_after_to(policeuk):
    one_line_error(lambda: apply_filters(policeuk, date_from="2022-05", date_to="2022-01"), "--from", "swap")


def test_hours_and_weekdays_need_times(policeuk):
    one_line_error(lambda: apply_filters(policeuk, hours="19:00-07:00"), "--hours", "month only")
    one_line_error(lambda: apply_filters(policeuk, weekdays="fri"), "--weekdays", "month only")


@pytest.mark.parametrize("window", ["19:00", "25:00-07:00", "19:75-07:00", "07:00-07:00", "evening"])
def test_bad_time_window(window):
    one_line_error(lambda: parse_time_window(window), "--hours", window)


def test_bad_weekday(tmp_path):
    pd.DataFrame({"easting": [505000], "northing": [250000], "datetime": ["2023-01-06 20:00"]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    records = read_records([tmp_path / "t.csv"])
    one_line_error(lambda: apply_filters(records, weekdays="fri,funday"), "--weekdays", "funday")


def test_empty_after_filters_names_the_filter(policeuk):
    one_line_error(lambda: apply_filters(policeuk, date_from="2023-01"), "no records left", "--from 2023-01")
    from shapely.geometry import box

    one_line_error(lambda: apply_filters(policeuk, study_area=box(0, 0, 10, 10)), "no records left", "study area")
    # without require_nonempty an empty result is returned, all rows accounted for
    out = apply_filters(policeuk, study_area=box(0, 0, 10, 10), require_nonempty=False)
    assert len(out) == 0 and out.reject_counts["outside_study_area"] == len(policeuk)


def test_cli_missing_file_exits_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "cli", "rank", "/nonexistent.csv"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "/nonexistent.csv" in lines[0]


def test_crime_type_filter_without_type_column(tmp_path):
    pd.DataFrame({"easting": [505000], "northing": [250000]}).to_csv(tmp_path / "n.csv", index=False)
    records = read_records([tmp_path / "n.csv"])
    one_line_error(lambda: apply_filters(records, crime_types="burglary"), "--crime-type", "type_column")
