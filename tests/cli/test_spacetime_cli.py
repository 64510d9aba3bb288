"""``hotspot trends`` and ``hotspot nearrepeat`` on the demo town's space-time scenario, reading timed
tables with the usual column names, the near-repeat surface as a forecast, and one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.cli.test_cli import _hotspot


def test_cli_trends_on_the_demo(tmp_path):
    import pyogrio

    from cli import app
    from hotspot.io.outputs import read_layer_styles, read_provenance

    out = tmp_path / "trends.gpkg"
    run = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["trends", "--out", str(out), "--report", str(tmp_path / "trends.html"), "--bins"]
    )
    assert run.exit_code == 0, run.output
    layer = pyogrio.read_dataframe(out, layer="trends")
    assert {"consecutive hot spot", "diminishing hot spot", "persistent hot spot"} <= set(layer["category"])
    styles = read_layer_styles(out)
    qml = styles.loc[styles["f_table_name"] == "trends", "styleQML"].iloc[0]
    assert 'attr="category"' in qml and "consecutive hot spot" in qml
    assert read_provenance(out).parameters["time_window"] == 1
    table = pd.read_csv(tmp_path / "trends.csv", comment="#")
    assert len(table) == len(layer)
    bins = pd.read_csv(tmp_path / "trends_bins.csv", comment="#")
    assert len(bins) == len(layer) * 24
    html = (tmp_path / "trends.html").read_text()
    assert "<h2>Emerging hot spots</h2>" in html
    assert sorted(p.name for p in (tmp_path / "trends_figures").iterdir()) == ["01_trends.png", "02_trends_slices.png"]


def test_cli_nearrepeat_on_the_demo_finds_the_planted_reach(tmp_path):
    from cli import app

    out = tmp_path / "nr.csv"
    run = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["nearrepeat", "--out", str(out), "--permutations", "199"])
    assert run.exit_code == 0, run.output
    assert "near-repeat reach: up to 200 m and 7 days" in run.output
    table = pd.read_csv(out, comment="#")
    assert set(table.loc[table["significant"], "distance_band"]) == {"1-100 m", "101-200 m"}


@pytest.mark.parametrize("name", ["date_time", "datetime", "Date", "occurred"])
def test_timed_tables_outside_britain_read_without_options(tmp_path, name):
    from hotspot.ingest import read_records

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            name: pd.date_range("2019-03-01 00:30", periods=300, freq="5h").strftime("%Y-%m-%d %H:%M"),
            "longitude": rng.uniform(-87.70, -87.60, 300).round(4),
            "latitude": rng.uniform(41.80, 41.90, 300).round(4),
        }
    )
    path = tmp_path / "timed.csv"
    frame.to_csv(path, index=False)
    records = read_records([path])
    assert records.has_times and records.crs == "EPSG:32616"
    assert records.frame["datetime"].dt.hour.nunique() > 20


def test_near_repeat_surface_forecasts_the_planted_repeats(demo_study):
    """Scores from a Knox table fitted on 2023 put 2024's burglaries in far higher-scoring cells than average."""
    from hotspot.core.grid import Grid
    from hotspot.spacetime.interaction import near_repeat_scores
    from hotspot.spacetime.knox import knox_test, record_times

    study = demo_study("spacetime", crime_types=["Burglary"])
    records = study.records
    times, _ = record_times(records.frame)
    train = (records.frame["datetime"] < "2024-01-01").to_numpy()
    knox = knox_test(records.xy[train], times[train], permutations=99, seed=0)
    grid = Grid.from_geometry(study.study_area(), 100.0)
    cx, cy = grid.cell_centres()
    test_days = np.unique(times[~train])[::10]
    hit_scores, mean_scores = [], []
    for day in test_days:
        scores = near_repeat_scores(records.xy, times, day, cx, cy, knox=knox)
        today = times == day
        if not today.any():
            continue
        row, col, inside = grid.cell_index(*records.xy[today].T)
        hit_scores.extend(scores[row[inside], col[inside]])
        mean_scores.append(scores.mean())
    assert np.mean(hit_scores) > 5 * np.mean(mean_scores)


@pytest.mark.parametrize(
    "args, words",
    [
        (["trends", "--slice", "fortnight"], "--slice"),
        (["trends", "--alpha", "2"], "--alpha"),
        (["trends", "--over", "lsoas"], "--over"),
        (["nearrepeat", "--out", "table.gpkg"], ".csv"),
        (["nearrepeat", "--distance-band", "-5"], "--distance-band"),
        (["nearrepeat", "--time-unit", "hours"], "--time-unit"),
    ],
)
def test_bad_spacetime_options_are_one_line_and_exit_2(args, words):
    run = _hotspot(*args, "--quiet")
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert words.lower() in lines[0].lower()


def test_week_slices_need_dates(tmp_path):
    from boundaries.demo.town import write_demo

    write_demo(tmp_path)
    folder = next(p for p in tmp_path.rglob("*street.csv")).parent
    run = _hotspot("trends", folder, "--slice", "week", "--out", tmp_path / "t.gpkg", "--quiet")
    assert run.returncode == 2 and "--slice month" in run.stderr, run.stderr


def test_near_repeat_surface_on_a_grid_equals_the_scores(demo_study):
    from hotspot.core.grid import Grid
    from hotspot.spacetime.interaction import near_repeat_scores, near_repeat_surface
    from hotspot.spacetime.knox import knox_for_study, record_times

    study = demo_study("spacetime", crime_types=["Burglary"])
    knox = knox_for_study(study, permutations=99)
    grid = Grid.from_geometry(study.study_area(), 200.0)
    surface = near_repeat_surface(study.records, grid, "2024-06-01", knox)
    times, _ = record_times(study.records.frame)
    epoch = study.records.frame["datetime"].dt.normalize().min()
    cx, cy = grid.cell_centres()
    at = float((pd.Timestamp("2024-06-01") - epoch).days)
    np.testing.assert_array_equal(surface, near_repeat_scores(study.records.xy, times, at, cx, cy, knox=knox))
    assert surface.shape == grid.shape and surface.max() > 0


def test_knox_progress_chunks_do_not_change_the_result(monkeypatch):
    import hotspot.spacetime.knox as knox_module

    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 1500, (300, 2))
    t = rng.integers(0, 90, 300).astype(float)
    stages = []
    whole = knox_module.knox_test(xy, t, permutations=450, seed=3)
    monkeypatch.setattr(knox_module, "PROGRESS_CHUNK", 64)
    chunked = knox_module.knox_test(xy, t, permutations=450, seed=3, progress=lambda s, d, n: stages.append((s, d)))
    np.testing.assert_array_equal(whole.p, chunked.p)
    np.testing.assert_array_equal(whole.expected, chunked.expected)
    assert ("Knox: permutations", 450) in stages and len([s for s in stages if s[0] == "Knox: permutations"]) == 9


def test_too_big_a_cube_is_one_clear_error(monkeypatch, demo_study):
    import hotspot.spacetime.cube as cube_module
    from hotspot.core.errors import HotspotInputError
    from hotspot.spacetime.trends import trends_for_study

    monkeypatch.setattr(cube_module, "MAX_BINS", 10_000)
    study = demo_study("spacetime", crime_types=["Other theft"])
    with pytest.raises(HotspotInputError, match="--slice"):
        trends_for_study(study, slice="day", band_m=200)
