"""Ingestion on small synthetic files: every layout and format, projection, and every filter."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import RECORD_COLUMNS, REJECT_REASONS
from hotspot.ingest import apply_filters, choose_crs, parse_time_window, read_records

HEADER = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context"
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
TO_WGS = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def policeuk_text(month: str = "2022-03", n: int = 4, no_location: int = 1, start: int = 0) -> str:
    """A police.uk street CSV: ``n`` located rows around Bedford plus ``no_location`` rows without coordinates."""
    lines = [HEADER]
    types = ["Burglary", "Anti-social behaviour", "Vehicle crime", "Violence and sexual offences"]
    for i in range(n):
        k = start + i
        lines.append(
            f"id{month}-{k},{month},Bedfordshire Police,Bedfordshire Police,{-0.47 + 0.001 * k:.6f},{52.13 + 0.001 * k:.6f},"
            f"On or near High Street,E01017{500 + k},Bedford 0{k:02d}A,{types[k % 4]},Under investigation,"
        )
    for i in range(no_location):
        lines.append(
            f"nl{month}-{i},{month},Bedfordshire Police,Bedfordshire Police,,,No Location,,,Burglary,Unable to prosecute suspect,"
        )
    return "\n".join(lines) + "\n"


def write(path, content: str, gz: bool = False):
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.write_bytes(gzip.compress(content.encode()))
    else:
        path.write_text(content)
    return path


# --- police.uk layouts ---------------------------------------------------------------------


def test_single_policeuk_csv_projects_to_bng_and_keeps_columns(tmp_path):
    path = write(tmp_path / "2022-03-bedfordshire-street.csv", policeuk_text(n=4, no_location=1))
    records = read_records([path])
    assert records.crs == "EPSG:27700"
    assert len(records) == 4
    assert list(records.frame.columns) == list(RECORD_COLUMNS)
    assert records.reject_counts["no_location"] == 1
    assert sum(records.reject_counts.values()) == 1
    assert not records.has_times
    assert records.frame["datetime"].isna().all()
    first = records.frame.iloc[0]
    ex, ey = TO_BNG.transform(-0.47, 52.13)
    assert first["x"] == pytest.approx(ex, abs=0.01) and first["y"] == pytest.approx(ey, abs=0.01)
    # Bedford lies near E 505000 N 250000: a gross axis mix-up would miss by hundreds of km
    assert 480_000 < first["x"] < 530_000 and 230_000 < first["y"] < 270_000
    assert (first["crime_id"], first["month"], first["crime_type"]) == ("id2022-03-0", "2022-03", "Burglary")
    assert (first["location"], first["lsoa_code"], first["lsoa_name"]) == (
        "On or near High Street",
        "E01017500",
        "Bedford 000A",
    )
    assert first["outcome"] == "Under investigation"
    assert records.frame["source_row"].tolist() == [1, 2, 3, 4]
    rejected = records.rejected.iloc[0]
    assert rejected["reason"] == "no_location" and rejected["source_row"] == 5
    assert rejected["Crime ID"] == "nl2022-03-0" and rejected["Location"] == "No Location"  # raw columns kept
    assert records.sources == [str(path)]


def test_csv_gz_reads_the_same_as_csv(tmp_path):
    plain = read_records([write(tmp_path / "a.csv", policeuk_text())])
    packed = read_records([write(tmp_path / "a.csv.gz", policeuk_text(), gz=True)])
    cols = [c for c in RECORD_COLUMNS if c != "source"]
    pd.testing.assert_frame_equal(plain.frame[cols], packed.frame[cols])
    assert packed.reject_counts == plain.reject_counts


def test_several_files_and_folder_tree_skip_outcomes(tmp_path):
    root = tmp_path / "download"
    for month in ("2022-01", "2022-02", "2022-03"):
        write(root / month / f"{month}-bedfordshire-street.csv", policeuk_text(month, n=3, no_location=1))
        write(
            root / month / f"{month}-bedfordshire-outcomes.csv",
            "Crime ID,Month,Longitude,Latitude,Outcome type\nx,2022-01,-0.4,52.1,Charged\n",
        )
        write(
            root / month / f"{month}-bedfordshire-stop-and-search.csv",
            "Type,Date,Latitude,Longitude,Object of search\n",
        )
    records = read_records([root])
    assert len(records) == 9 and records.reject_counts["no_location"] == 3
    assert [p.split("/")[-1] for p in records.sources] == [
        f"{m}-bedfordshire-street.csv" for m in ("2022-01", "2022-02", "2022-03")
    ]
    assert sorted(records.frame["month"].unique()) == ["2022-01", "2022-02", "2022-03"]
    # explicit files give the same result as the folder
    files = sorted(root.rglob("*-street.csv"))
    assert len(read_records(files)) == 9


def test_zip_download_read_in_memory_skipping_non_street_files(tmp_path):
    path = tmp_path / "download.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for month in ("2022-01", "2022-02"):
            archive.writestr(f"{month}/{month}-bedfordshire-street.csv", policeuk_text(month, n=2, no_location=1))
            archive.writestr(f"{month}/{month}-bedfordshire-outcomes.csv", "Crime ID,Month,Outcome type\n")
            archive.writestr(f"{month}/{month}-bedfordshire-stop-and-search.csv", "Type,Date\n")
    records = read_records([path])
    assert len(records) == 4 and records.reject_counts["no_location"] == 2
    assert records.sources == [
        f"{path}!2022-01/2022-01-bedfordshire-street.csv",
        f"{path}!2022-02/2022-02-bedfordshire-street.csv",
    ]
    assert list(tmp_path.iterdir()) == [path]  # nothing extracted to disk
    assert set(records.rejected["source"]) == set(records.sources)


def test_unparsable_and_out_of_range_rows_are_rejected_by_reason(tmp_path):
    text = policeuk_text(n=4, no_location=2).rstrip("\n").split("\n")
    text.append("bad1,2022-03,B,B,abc,52.1,On or near X,E01,Bed,Burglary,,")
    text.append("bad2,2022-03,B,B,-0.47,,On or near X,E01,Bed,Burglary,,")  # half a coordinate pair
    text.append("bad3,2022-03,B,B,-0.47,95.0,On or near X,E01,Bed,Burglary,,")
    text.append("bad4,2022-03,B,B,120.0,10.0,On or near X,E01,Bed,Burglary,,")  # far outside BNG's area
    text.append("bad5,March,B,B,-0.47,52.1,On or near X,E01,Bed,Burglary,,")
    records = read_records([write(tmp_path / "a.csv", "\n".join(text) + "\n")])
    counts = records.reject_counts
    assert (counts["no_location"], counts["unparsable"], counts["out_of_range"]) == (2, 3, 2)
    assert len(records) == 4
    assert len(records) + len(records.rejected) == 11
    by_id = dict(zip(records.rejected["Crime ID"], records.rejected["reason"]))
    assert by_id["bad1"] == "unparsable" and by_id["bad2"] == "unparsable" and by_id["bad5"] == "unparsable"
    assert by_id["bad3"] == "out_of_range" and by_id["bad4"] == "out_of_range"
    assert set(records.rejected["reason"]) <= set(REJECT_REASONS)


def test_write_rejects_csv_has_reason_and_raw_columns(tmp_path):
    records = read_records([write(tmp_path / "a.csv", policeuk_text(n=2, no_location=2))])
    from hotspot.io.outputs import write_rejects

    out = write_rejects(records, tmp_path / "rejects.csv")
    table = pd.read_csv(out)
    assert len(table) == 2 and set(table["reason"]) == {"no_location"}
    assert {"Crime ID", "Crime type", "source", "source_row"} <= set(table.columns)


def test_progress_reports_files(tmp_path):
    for month in ("2022-01", "2022-02"):
        write(tmp_path / f"{month}-x-street.csv", policeuk_text(month))
    calls = []
    read_records([tmp_path], progress=lambda *a: calls.append(a))
    assert calls[0] == ("reading records", 0, 2) and calls[-1] == ("reading records", 2, 2)


# --- extracts and point layers ---------------------------------------------------------------


def extract_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 30
    east = 505_000 + rng.uniform(-2000, 2000, n).round(0)
    north = 250_000 + rng.uniform(-2000, 2000, n).round(0)
    stamps = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 60 * 24 * 60, n), unit="min")
    return pd.DataFrame(
        {
            "Ref": [f"R{i}" for i in range(n)],
            "Easting": east,
            "Northing": north,
            "Offence": ["Burglary", "Robbery", "Drugs"] * 10,
            "stamp": stamps,
        }
    )


def test_extract_with_easting_northing_date_and_hhmm_time(tmp_path):
    base = extract_frame()
    table = pd.DataFrame(
        {
            "Crime Ref": base["Ref"],
            "Easting": base["Easting"],
            "Northing": base["Northing"],
            "Offence Type": base["Offence"],
            "Date": base["stamp"].dt.strftime("%d/%m/%Y"),
            "Time": base["stamp"].dt.strftime("%H%M"),
        }
    )
    path = tmp_path / "extract.csv"
    table.to_csv(path, index=False)
    records = read_records([path], id_column="Crime Ref")
    assert records.crs == "EPSG:27700" and records.has_times
    assert len(records) == 30 and not len(records.rejected)
    np.testing.assert_array_equal(records.frame["x"], base["Easting"])  # same CRS: no round trip
    np.testing.assert_array_equal(records.frame["datetime"].to_numpy(), base["stamp"].dt.floor("min").to_numpy())
    assert records.frame["crime_type"].tolist() == base["Offence"].tolist()
    assert records.frame["crime_id"].tolist() == base["Ref"].tolist()
    assert records.frame["month"].tolist() == base["stamp"].dt.strftime("%Y-%m").tolist()
    lon, lat = TO_WGS.transform(base["Easting"].to_numpy(), base["Northing"].to_numpy())
    np.testing.assert_allclose(records.frame["lon"], lon, atol=1e-9)


def test_extract_with_lonlat_and_separate_date_time_columns(tmp_path):
    base = extract_frame()
    lon, lat = TO_WGS.transform(base["Easting"].to_numpy(), base["Northing"].to_numpy())
    table = pd.DataFrame(
        {
            "id": base["Ref"],
            "Latitude": lat.round(7),
            "Longitude": lon.round(7),
            "category": base["Offence"],
            "occurred_date": base["stamp"].dt.strftime("%Y-%m-%d"),
            "occurred_time": base["stamp"].dt.strftime("%H:%M:%S"),
        }
    )
    path = tmp_path / "extract.csv"
    table.to_csv(path, index=False)
    records = read_records([path])
    assert records.crs == "EPSG:27700" and records.has_times and len(records) == 30
    np.testing.assert_allclose(records.frame["x"], base["Easting"], atol=0.02)
    np.testing.assert_allclose(records.frame["y"], base["Northing"], atol=0.02)
    np.testing.assert_array_equal(records.frame["datetime"].to_numpy(), base["stamp"].to_numpy())


def test_extract_with_date_only_has_no_times_and_blank_time_keeps_row(tmp_path):
    base = extract_frame().head(4)
    table = pd.DataFrame(
        {"easting": base["Easting"], "northing": base["Northing"], "date": base["stamp"].dt.strftime("%Y-%m-%d")}
    )
    table.to_csv(tmp_path / "d.csv", index=False)
    records = read_records([tmp_path / "d.csv"])
    assert not records.has_times and records.frame["datetime"].notna().all()
    table["time"] = ["10:00", "", "23:15", "garbage"]
    table.to_csv(tmp_path / "t.csv", index=False)
    records = read_records([tmp_path / "t.csv"])
    assert records.has_times and len(records) == 3 and records.reject_counts["unparsable"] == 1
    assert records.frame["datetime"].isna().sum() == 1  # blank time: kept, but no datetime
    assert records.frame["month"].ne("").all()


@pytest.mark.parametrize("suffix", ["gpkg", "geojson", "shp", "geoparquet", "parquet"])
def test_point_layers(tmp_path, suffix):
    import geopandas as gpd

    base = extract_frame()
    gdf = gpd.GeoDataFrame(
        {
            "crime_id": base["Ref"],
            "crime_type": base["Offence"],
            "datetime": base["stamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
        },
        geometry=gpd.points_from_xy(base["Easting"], base["Northing"]),
        crs="EPSG:27700",
    ).to_crs("EPSG:4326")
    path = tmp_path / f"points.{suffix}"
    if suffix == "gpkg":
        gdf.to_file(path, layer="crimes", driver="GPKG")
    elif suffix == "geojson":
        gdf.to_file(path, driver="GeoJSON")
    elif suffix == "shp":
        gdf.to_file(path)
    elif suffix == "geoparquet":
        path = tmp_path / "points.parquet"
        gdf.to_parquet(path)
    else:  # plain parquet: coordinate columns, no geometry
        plain = pd.DataFrame(gdf.drop(columns="geometry"))
        plain["lon"], plain["lat"] = gdf.geometry.x, gdf.geometry.y
        plain.to_parquet(path)
    records = read_records([path])
    assert records.crs == "EPSG:27700" and len(records) == 30 and records.has_times
    np.testing.assert_allclose(records.frame["x"], base["Easting"], atol=0.01)
    np.testing.assert_allclose(records.frame["y"], base["Northing"], atol=0.01)
    assert records.frame["crime_type"].tolist() == base["Offence"].tolist()
    np.testing.assert_array_equal(records.frame["datetime"].to_numpy(), base["stamp"].to_numpy())


def test_outside_gb_uses_utm_and_crs_override(tmp_path):
    table = pd.DataFrame({"lon": [-74.00, -73.99, -73.98], "lat": [40.71, 40.72, 40.73]})
    table.to_csv(tmp_path / "nyc.csv", index=False)
    records = read_records([tmp_path / "nyc.csv"])
    assert records.crs == "EPSG:32618"
    ex, ey = Transformer.from_crs("EPSG:4326", "EPSG:32618", always_xy=True).transform(-74.0, 40.71)
    assert records.frame["x"][0] == pytest.approx(ex) and records.frame["y"][0] == pytest.approx(ey)
    forced = read_records([tmp_path / "nyc.csv"], crs="EPSG:32118")
    assert forced.crs == "EPSG:32118"


def test_choose_crs():
    assert choose_crs(np.array([-0.47, -0.4]), np.array([52.1, 52.2])) == "EPSG:27700"
    assert choose_crs(np.array([-3.19]), np.array([55.95])) == "EPSG:27700"  # Edinburgh
    assert choose_crs(np.array([-5.93]), np.array([54.60])) == "EPSG:32630"  # Belfast: not GB
    assert choose_crs(np.array([151.2]), np.array([-33.87])) == "EPSG:32756"  # Sydney
    assert choose_crs(np.array([2.35, np.nan]), np.array([48.85, np.nan])) == "EPSG:32631"  # Paris


# --- filters -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timed_records(tmp_path_factory):
    """Records with times: 500 incidents spread over 3 months, every hour and weekday."""
    rng = np.random.default_rng(7)
    n = 500
    stamps = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 90 * 24 * 60, n), unit="min")
    table = pd.DataFrame(
        {
            "easting": 505_000 + rng.uniform(-3000, 3000, n),
            "northing": 250_000 + rng.uniform(-3000, 3000, n),
            "crime type": rng.choice(["Burglary", "Robbery", "Anti-social behaviour", "Drugs"], n),
            "datetime": stamps.strftime("%Y-%m-%d %H:%M"),
        }
    )
    path = tmp_path_factory.mktemp("timed") / "timed.csv"
    table.to_csv(path, index=False)
    return read_records([path])


def test_crime_type_filter_case_insensitive_several(timed_records):
    out = apply_filters(timed_records, crime_types=["BURGLARY", "anti-social-behaviour"])
    expected = timed_records.frame["crime_type"].isin(["Burglary", "Anti-social behaviour"])
    assert len(out) == int(expected.sum())
    assert out.reject_counts["filtered_crime_type"] == int((~expected).sum())
    assert len(out) + len(out.rejected) == len(timed_records)
    assert len(apply_filters(timed_records, crime_types="burglary,robbery")) == int(
        timed_records.frame["crime_type"].isin(["Burglary", "Robbery"]).sum()
    )


def test_date_filters_month_and_day(timed_records):
    frame = timed_records.frame
    out = apply_filters(timed_records, date_from="2023-02", date_to="2023-02")
    assert len(out) == int((frame["month"] == "2023-02").sum()) and set(out.frame["month"]) == {"2023-02"}
    out = apply_filters(timed_records, date_from="2023-01-10", date_to="2023-01-20")
    day = frame["datetime"].dt.normalize()
    expected = (day >= "2023-01-10") & (day <= "2023-01-20")
    assert len(out) == int(expected.sum()) and out.reject_counts["filtered_date"] == int((~expected).sum())
    assert out.frame["datetime"].max() < pd.Timestamp("2023-01-21")


def test_midnight_crossing_window_matches_brute_force(timed_records):
    assert parse_time_window("19:00-07:00") == (1140, 420)
    out = apply_filters(timed_records, hours="19:00-07:00")
    expected = [dt.hour >= 19 or dt.hour < 7 for dt in timed_records.frame["datetime"]]
    assert len(out) == sum(expected) and 0 < sum(expected) < len(timed_records)
    assert out.reject_counts["filtered_time"] == len(expected) - sum(expected)
    day = apply_filters(timed_records, hours="07:00-19:00")
    assert len(day) + len(out) == len(timed_records)


def test_weekday_filter_matches_brute_force(timed_records):
    out = apply_filters(timed_records, weekdays="fri,Sat")
    expected = [dt.strftime("%a") in ("Fri", "Sat") for dt in timed_records.frame["datetime"]]
    assert len(out) == sum(expected) and out.reject_counts["filtered_weekday"] == len(expected) - sum(expected)
    assert set(out.frame["datetime"].dt.day_name()) == {"Friday", "Saturday"}
    assert len(apply_filters(timed_records, weekdays=["Friday", "saturday"])) == sum(expected)


def test_combined_filters_count_each_row_once(timed_records):
    out = apply_filters(
        timed_records, crime_types=["Burglary"], date_from="2023-02", hours="22:00-02:00", weekdays="sat"
    )
    assert len(out) + len(out.rejected) == len(timed_records)
    frame = timed_records.frame
    dt = frame["datetime"]
    expected = (
        (frame["crime_type"] == "Burglary")
        & (frame["month"] >= "2023-02")
        & ((dt.dt.hour >= 22) | (dt.dt.hour < 2))
        & (dt.dt.day_of_week == 5)
    )
    assert len(out) == int(expected.sum())


def test_study_area_filter_with_tolerance(timed_records):
    from shapely.geometry import box

    area = box(504_000, 249_000, 506_000, 251_000)
    out = apply_filters(timed_records, study_area=area)
    x, y = timed_records.frame["x"], timed_records.frame["y"]
    inside = (x >= 504_000) & (x <= 506_000) & (y >= 249_000) & (y <= 251_000)
    assert len(out) == int(inside.sum()) and out.reject_counts["outside_study_area"] == int((~inside).sum())
    wider = apply_filters(timed_records, study_area=area, tolerance_m=500)
    assert len(wider) > len(out)
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(geometry=[area], crs="EPSG:27700").to_crs("EPSG:4326")  # reprojected back to records.crs
    assert len(apply_filters(timed_records, study_area=gdf)) == len(out)


def test_parse_time_window_forms():
    assert parse_time_window("07:00-19:00") == (420, 1140)
    assert parse_time_window("1900-0700") == (1140, 420)
    assert parse_time_window("22-2") == (1320, 120)
    assert parse_time_window("00:00-24:00") == (0, 1440)


def test_no_filters_returns_everything(timed_records):
    out = apply_filters(timed_records)
    assert len(out) == len(timed_records) and sum(out.reject_counts.values()) == 0


def test_excel_style_csvs_bom_cp1252_and_semicolons(tmp_path):
    content = "Easting{s}Northing{s}Offence{s}Date\n505000{s}250000{s}Café damage{s}01/02/2023\n"
    (tmp_path / "bom.csv").write_bytes(("\ufeff" + content.format(s=",")).encode("utf-8"))
    (tmp_path / "cp.csv").write_bytes(content.format(s=",").encode("cp1252"))
    (tmp_path / "semi.csv").write_bytes(content.format(s=";").encode("utf-8"))
    for name in ("bom.csv", "cp.csv", "semi.csv"):
        records = read_records([tmp_path / name])
        row = records.frame.iloc[0]
        assert (row["x"], row["crime_type"], row["month"]) == (505000.0, "Café damage", "2023-02"), name
        assert row["datetime"] == pd.Timestamp("2023-02-01")  # day-first, as UK extracts write dates


def test_x_y_columns_are_degrees_or_metres_by_value(tmp_path):
    pd.DataFrame({"X": [505000.0, 505100.0], "Y": [250000.0, 250100.0]}).to_csv(tmp_path / "m.csv", index=False)
    metres = read_records([tmp_path / "m.csv"])
    assert metres.frame["x"].tolist() == [505000.0, 505100.0] and metres.frame["lon"].between(-1, 0).all()
    pd.DataFrame({"x": [-0.47, -0.46], "y": [52.13, 52.14]}).to_csv(tmp_path / "d.csv", index=False)
    degrees = read_records([tmp_path / "d.csv"])
    assert degrees.frame["lon"].tolist() == [-0.47, -0.46] and (degrees.frame["x"] > 400_000).all()


def test_multi_layer_geopackage_needs_layer(tmp_path):
    import geopandas as gpd

    path = tmp_path / "two.gpkg"
    for name, n in (("burglary", 2), ("robbery", 3)):
        gpd.GeoDataFrame(
            {"v": range(n)}, geometry=gpd.points_from_xy([505000.0] * n, [250000.0] * n), crs="EPSG:27700"
        ).to_file(path, layer=name)
    with pytest.raises(HotspotInputError, match="burglary, robbery"):
        read_records([path])
    assert len(read_records([path], layer="robbery")) == 3
