"""Space and time on real records: 148,636 timed Chicago assaults (UTM 16N) and Bedfordshire police.uk months.

Chicago is read with no options (``date`` "YYYY-MM-DD HH:MM", longitude/latitude); the checks cover the
weekday x hour peaks printed by ``rank``, the time filters (``--nte``, ``--hours``, ``--weekdays``)
against pandas, and ``trends``/``nearrepeat`` on real timed records, with the space-time Gi* checked
against esda, Mann-Kendall against pymannkendall and Knox counts against brute force on real subsets.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from hotspot.ingest import apply_filters, read_records

pytestmark = pytest.mark.realdata

WINDOW = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:00-\d\d:00 \(\d+%\)")


@pytest.fixture(scope="module")
def chicago_path(shared_data):
    return shared_data / "crime-times-chicago" / "chicago_aggravated_assaults.csv.gz"


@pytest.fixture(scope="module")
def chicago(chicago_path):
    return read_records([chicago_path])


@pytest.fixture(scope="module")
def chicago_raw(chicago_path):
    raw = pd.read_csv(chicago_path)
    raw["when"] = pd.to_datetime(raw["date"], format="%Y-%m-%d %H:%M")
    return raw


def test_chicago_reads_without_options_in_utm(chicago, chicago_raw):
    assert len(chicago) == len(chicago_raw) == 148_636
    assert chicago.crs == "EPSG:32616" and chicago.has_times
    assert sum(chicago.reject_counts.values()) == 0
    np.testing.assert_array_equal(chicago.frame["datetime"].to_numpy(), chicago_raw["when"].to_numpy())
    # metres: Chicago spans about 40 km north-south
    assert 30_000 < np.ptp(chicago.frame["y"]) < 50_000


def test_chicago_busiest_hours_and_rank_peak_windows(chicago, chicago_raw):
    from hotspot.ingest.study import Study
    from hotspot.places.rank import rank_places
    from hotspot.places.timing import peak_windows
    from hotspot.report.html import weekday_hour_table

    # the busiest hours of the week, from pandas on the raw file: Sunday 01:00-03:00
    raw = chicago_raw["when"]
    weekly = pd.crosstab(raw.dt.day_of_week, raw.dt.hour).to_numpy()
    busiest = np.argsort(weekly.ravel())[::-1][:2]
    assert sorted(busiest) == [6 * 24 + 1, 6 * 24 + 2]
    ours = weekday_hour_table(chicago.frame).to_numpy()
    np.testing.assert_array_equal(ours, weekly)
    windows = peak_windows(ours, relative=0.9, smooth=False)
    assert windows[0][0] <= 6 * 24 + 1 and windows[0][0] + windows[0][1] >= 6 * 24 + 3
    result = rank_places(Study(records=chicago, crs=chicago.crs), top=10)
    assert result.has_times and len(result.places) == 10
    assert all(WINDOW.match(p) for p in result.places["peak"]), result.places["peak"].tolist()


def test_cli_rank_prints_peak_windows_on_chicago(chicago_path, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    run = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["rank", str(chicago_path), "--top", "5", "--out", str(tmp_path / "rank.gpkg")]
    )
    assert run.exit_code == 0, run.output
    assert len(re.findall(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:00-\d\d:00 \(\d+%\)", run.output)) >= 5, run.output
    table = pd.read_csv(tmp_path / "rank.csv")
    assert table["peak"].str.match(WINDOW.pattern).all()
    profile = pd.read_csv(tmp_path / "rank_weekday_hour.csv")
    assert profile.groupby("id")["count"].sum().to_dict() == dict(zip(table["id"], table["count"]))


@pytest.mark.parametrize("hours, weekdays", [("19:00-07:00", None), ("01:00-03:00", "sun"), (None, "fri,sat")])
def test_time_filters_on_chicago_match_pandas(chicago, chicago_raw, hours, weekdays):
    kept = apply_filters(chicago, hours=hours, weekdays=weekdays)
    when = chicago_raw["when"]
    minute = when.dt.hour * 60 + when.dt.minute
    expect = np.ones(len(when), dtype=bool)
    if hours == "19:00-07:00":
        expect &= (minute >= 19 * 60) | (minute < 7 * 60)
    elif hours == "01:00-03:00":
        expect &= (minute >= 60) & (minute < 180)
    if weekdays == "sun":
        expect &= when.dt.day_of_week == 6
    elif weekdays == "fri,sat":
        expect &= when.dt.day_of_week.isin([4, 5])
    assert len(kept) == int(expect.sum())
    counts = kept.reject_counts
    assert counts["filtered_time"] + counts["filtered_weekday"] == len(when) - int(expect.sum())


def test_cli_nte_on_chicago(chicago_path, chicago_raw, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    run = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["rank", str(chicago_path), "--nte", "--top", "3", "--out", str(tmp_path / "nte.gpkg")]
    )
    assert run.exit_code == 0, run.output
    hour = chicago_raw["when"].dt.hour
    night = int(((hour >= 19) | (hour < 7)).sum())
    assert f"{night:,} records kept" in run.output
    profile = pd.read_csv(tmp_path / "nte_weekday_hour.csv")
    assert profile.loc[profile["hour"].between(7, 18), "count"].sum() == 0


@pytest.fixture(scope="module")
def chicago_recent(chicago):
    """Two years (2018-2019) of Chicago: 24 monthly slices."""
    return apply_filters(chicago, date_from="2018-01", date_to="2019-12")


def test_space_time_gistar_on_a_real_cube_matches_esda(chicago_recent):
    from hotspot.core.grid import Grid
    from hotspot.spacetime.cube import cube_on_grid
    from hotspot.spacetime.stgistar import space_time_gi_star
    from tests.parity.test_spacetime import _esda_space_time_z

    # a 10 x 12 cell window of the densest part of the city, 6 months
    frame = chicago_recent.frame
    sub = frame[frame["month"].between("2019-07", "2019-12")]
    coarse = Grid.from_points(sub["x"].to_numpy(), sub["y"].to_numpy(), 2000.0, crs="EPSG:32616")
    r, c = np.unravel_index(np.argmax(coarse.count(sub["x"].to_numpy(), sub["y"].to_numpy())), coarse.shape)
    x0, y1 = coarse.xmin + c * 2000.0, coarse.ymax - r * 2000.0  # north-west corner of the busiest 2 km square
    grid = Grid(x0, y1, 200.0, 12, 10, crs="EPSG:32616")
    records = chicago_recent.with_frame(sub)
    cube = cube_on_grid(records, grid)
    assert cube.n_records > 300 and cube.n_slices == 6
    ours = space_time_gi_star(cube, band_m=300.0, time_window=1, correction="none")
    ref = _esda_space_time_z(cube.counts, cube.mask, 300.0, 200.0, 1)
    np.testing.assert_allclose(ours.z[:, cube.mask], ref, rtol=1e-9, atol=1e-9)


def test_trends_on_chicago(chicago_recent, tmp_path):
    pmk = pytest.importorskip("pymannkendall")
    from hotspot.ingest.study import Study
    from hotspot.spacetime.emerging import CATEGORIES
    from hotspot.spacetime.trends import trends_for_study

    study = Study(records=chicago_recent, crs=chicago_recent.crs)
    result = trends_for_study(study, cell_size_m=200.0, band_m=400.0)
    frame = result.frame()
    assert frame.crs.to_epsg() == 32616
    assert result.cube.n_slices == 24 and result.cube.n_records == len(chicago_recent)
    assert set(frame["category"]) <= set(CATEGORIES)
    counts = result.category_counts()
    assert counts["persistent hot spot"] > 0  # Chicago's violent west and south sides
    # Mann-Kendall of real z series against pymannkendall, on a sample of locations
    z = result.gi.z[:, result.cube.mask].T[:, 1:]
    for i in np.random.default_rng(0).choice(len(z), 40, replace=False):
        ref = pmk.original_test(z[i])
        assert result.trend_p[i] == pytest.approx(ref.p, abs=1e-12)
        assert result.trend_z[i] == pytest.approx(ref.z, abs=1e-12)


def test_cli_trends_and_nearrepeat_on_chicago(chicago_path, tmp_path):
    from typer.testing import CliRunner

    from cli import app
    from hotspot.io.outputs import read_layer_styles

    out = tmp_path / "trends.gpkg"
    run = CliRunner(env={"COLUMNS": "240"}).invoke(
        app,
        [
            "trends",
            str(chicago_path),
            "--from",
            "2019-01",
            "--to",
            "2019-12",
            "--cell-size",
            "250",
            "--band",
            "500",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert run.exit_code == 0, run.output
    import pyogrio

    layer = pyogrio.read_dataframe(out, layer="trends")
    assert "category" in layer and len(layer) > 1000
    assert "trends" in set(read_layer_styles(out)["f_table_name"])
    csv = tmp_path / "nearrepeat.csv"
    run = CliRunner(env={"COLUMNS": "240"}).invoke(
        app,
        [
            "nearrepeat",
            str(chicago_path),
            "--from",
            "2019-06",
            "--to",
            "2019-12",
            "--permutations",
            "99",
            "--out",
            str(csv),
        ],
    )
    assert run.exit_code == 0, run.output
    assert "Knox ratios" in run.output
    table = pd.read_csv(csv)
    assert len(table) == 7 * 5
    # real geocodes are rounded, so repeats at the same point in the same week stand out
    first = table[(table["distance_band"] == "same location (0 m)") & (table["time_band"] == "0-7 days")].iloc[0]
    assert first["knox_ratio"] > 1.2 and first["p_value"] <= 0.05


def test_knox_counts_on_real_records_equal_brute_force(chicago_recent):
    from hotspot.spacetime.knox import knox_test, record_times
    from tests.parity.test_spacetime import _brute_knox

    records = chicago_recent.with_frame(chicago_recent.frame[chicago_recent.frame["month"] == "2019-08"])
    times, unit = record_times(records.frame)
    result = knox_test(records.xy, times, time_unit=unit, permutations=19, seed=1)
    table, _, _ = _brute_knox(records.xy, times, result.distance_edges_m, result.time_edges)
    np.testing.assert_array_equal(result.observed, table)


def test_trends_on_bedfordshire_police_uk_months(bedfordshire_crime_dir, bedfordshire_lsoas_path):
    from hotspot.ingest.study import load_study
    from hotspot.spacetime.knox import knox_for_study
    from hotspot.spacetime.trends import trends_for_study

    study = load_study([bedfordshire_crime_dir], boundaries=bedfordshire_lsoas_path, crime_types=["Burglary"])
    result = trends_for_study(study, over="areas")
    assert result.cube.n_slices == 24 and len(result.category) == 417
    assert result.cube.n_records + result.cube.n_outside == len(study.records)
    knox = knox_for_study(study, permutations=99, distance_band_m=200, distance_bands=3)
    assert knox.time_unit == "months" and knox.time_labels[0] == "0 months"
    assert knox.observed.sum() == len(study.records) * (len(study.records) - 1) // 2
