"""Bad input and faults, one class per test, on small slices of the real data written to tmp_path.

Each class either stops with one line naming the file, row or option and exit code 2, or is
corrected and said, with exit code 0. Nothing is half-written and nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli
from hotspot.core.errors import HotspotInputError
from hotspot.ingest import read_records

pytestmark = pytest.mark.realdata

MONTH = "2022-01"  # the month with repeated Crime IDs (178 of the 184 in the folder)
SLICE_ROWS = 400


# --- fixtures cut from the real data -------------------------------------------------------------


@pytest.fixture(scope="module")
def month_raw(bedfordshire_crime_dir) -> pd.DataFrame:
    """One real police.uk month as published (text), all rows."""
    return pd.read_csv(bedfordshire_crime_dir / f"{MONTH}-bedfordshire-street.csv.gz", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def slice_raw(month_raw) -> pd.DataFrame:
    return month_raw.head(SLICE_ROWS).copy()


@pytest.fixture
def slice_csv(tmp_path, slice_raw) -> Path:
    path = tmp_path / f"{MONTH}-slice-street.csv"
    slice_raw.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bedford_lsoas(bedfordshire_lsoas_path):
    """The 117 Bedford LSOAs (one of the three authorities), as published (EPSG:4326)."""
    import geopandas as gpd

    lsoas = gpd.read_file(bedfordshire_lsoas_path)
    return lsoas[lsoas["LAD_CODE"] == "E06000055"].reset_index(drop=True)


def run_main(*args: str) -> tuple[int, str]:
    """Run the ``hotspot`` entry point in this process: (exit code, stderr)."""
    err = io.StringIO()
    code = 0
    argv = sys.argv
    sys.argv = ["hotspot", *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return code, err.getvalue()


def one_line_exit_2(code: int, stderr: str, *needles: str) -> str:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("hotspot: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# --- swapped longitude and latitude ------------------------------------------------------------------


def test_swapped_policeuk_columns_stop_with_the_fix(tmp_path, slice_raw, slice_csv):
    swapped = slice_raw.rename(columns={"Longitude": "Latitude", "Latitude": "Longitude"})
    path = tmp_path / "swapped-street.csv"
    swapped.to_csv(path, index=False)
    with pytest.raises(HotspotInputError, match="look swapped"):
        read_records([path])
    code, err = run_main("rank", str(path), "--quiet", "--out", str(tmp_path / "out" / "r.gpkg"))
    one_line_exit_2(code, err, "swapped-street.csv", "look swapped", "--lon-column")
    assert not (tmp_path / "out").exists()
    # the fix the message names reads the same points as the unswapped file
    fixed = read_records([path], lon_column="Latitude", lat_column="Longitude")
    plain = read_records([slice_csv])
    np.testing.assert_allclose(fixed.frame[["x", "y"]].to_numpy(), plain.frame[["x", "y"]].to_numpy())


def test_policeuk_points_far_from_their_lsoa_codes_stop(tmp_path, slice_raw):
    shifted = slice_raw.copy()
    lon = pd.to_numeric(shifted["Longitude"], errors="coerce") + 20.0  # Poland: still degrees, not swapped
    shifted["Longitude"] = lon.map(lambda v: "" if v != v else f"{v:.6f}")
    path = tmp_path / "shifted-street.csv"
    shifted.to_csv(path, index=False)
    code, err = run_main("rank", str(path), "--quiet", "--out", str(tmp_path / "r.gpkg"))
    one_line_exit_2(code, err, "shifted-street.csv", "LSOA codes are in England and Wales")


# --- invalid boundary polygons ---------------------------------------------------------------------


def _bow_tie(polygon):
    import shapely

    polygon = polygon.geoms[0] if polygon.geom_type == "MultiPolygon" else polygon
    ring = np.asarray(polygon.exterior.coords)[:-1]
    i, j = len(ring) // 3, 2 * len(ring) // 3
    ring[[i, j]] = ring[[j, i]]
    return shapely.Polygon(ring)


def test_invalid_boundaries_are_repaired_and_counted(tmp_path, bedford_lsoas, slice_csv):
    import shapely

    from hotspot.ingest.boundaries import read_boundaries

    broken = bedford_lsoas.copy()
    broken.loc[:9, "geometry"] = [_bow_tie(g) for g in broken.geometry[:10]]
    n_invalid = int((~shapely.is_valid(broken.geometry.values)).sum())  # counted by GEOS, not by us
    assert n_invalid == 10
    path = tmp_path / "bowties.gpkg"
    broken.to_file(path)
    areas = read_boundaries(path)
    assert len(areas) == len(broken) and shapely.is_valid(areas.geometry.values).all()
    assert any(f"{n_invalid} of {len(broken)} polygons were invalid" in note for note in areas.attrs["notes"])
    code, err = run_main(
        "rank", str(slice_csv), "--boundaries", str(path), "--top", "3", "--out", str(tmp_path / "r.gpkg")
    )
    assert code == 0, err
    assert "polygons were invalid" in err and "make_valid" in err


def test_degrees_in_a_layer_labelled_bng(tmp_path, bedford_lsoas, slice_raw):
    import geopandas as gpd

    mislabelled = bedford_lsoas.set_crs("EPSG:27700", allow_override=True)
    path = tmp_path / "mislabelled.gpkg"
    mislabelled.to_file(path)
    code, err = run_main("rank", "--boundaries", str(path), "--quiet", "--out", str(tmp_path / "r.gpkg"))
    one_line_exit_2(code, err, "mislabelled.gpkg", "look like degrees", "EPSG:4326")
    points = gpd.GeoDataFrame(
        slice_raw.drop(columns=["Longitude", "Latitude"]),
        geometry=gpd.points_from_xy(
            pd.to_numeric(slice_raw["Longitude"], errors="coerce"),
            pd.to_numeric(slice_raw["Latitude"], errors="coerce"),
        ),
        crs="EPSG:27700",
    )
    points = points[~points.geometry.is_empty & points.geometry.x.notna()]
    layer = tmp_path / "crimes.gpkg"
    points.to_file(layer)
    with pytest.raises(HotspotInputError, match="look like degrees"):
        read_records([layer])


# --- memory ------------------------------------------------------------------------------------------


def test_grid_too_big_for_memory_stops_before_allocating(tmp_path, monkeypatch, bedfordshire_lsoas_path, slice_csv):
    import hotspot.core.memory as memory
    from hotspot.core.grid import Grid

    monkeypatch.setattr(memory, "available_bytes", lambda: 4e9)
    bounds = (489_400.0, 212_900.0, 527_200.0, 270_550.0)  # Bedfordshire in EPSG:27700, metres
    with pytest.raises(HotspotInputError) as info:
        Grid.from_bounds(*bounds, cell_size=7.0, bytes_per_cell=memory.BYTES_PER_CELL["gistar"])
    message = str(info.value)
    n_cells = int(np.floor((bounds[2] - np.floor(bounds[0] / 7) * 7) / 7) + 1) * int(
        np.floor((np.ceil(bounds[3] / 7) * 7 - bounds[1]) / 7) + 1
    )
    assert f"{n_cells:,} cells" in message
    suggested = float(message.split("--cell-size ")[1].split()[0])
    # the suggested cell size fits in the memory said
    grid = Grid.from_bounds(*bounds, cell_size=suggested, bytes_per_cell=memory.BYTES_PER_CELL["gistar"])
    assert grid.size * memory.BYTES_PER_CELL["gistar"] <= memory.USABLE_SHARE * 4e9
    code, err = run_main(
        "gistar",
        str(slice_csv),
        "--boundaries",
        str(bedfordshire_lsoas_path),
        "--cell-size",
        "7",
        "--quiet",
        "--out",
        str(tmp_path / "g.gpkg"),
    )
    one_line_exit_2(code, err, "--cell-size", "GB of memory is available")
    assert not list(tmp_path.glob("*.gpkg"))


def test_memory_available_reads_the_system():
    from hotspot.core.memory import _meminfo_available, available_bytes

    got = available_bytes()
    assert got is not None and got > 0
    meminfo = _meminfo_available()
    if meminfo is not None:  # the smaller of the system and the cgroup, so never more than the system says
        assert got <= meminfo * 1.05


# --- outputs that cannot be written ---------------------------------------------------------------


def test_file_where_a_folder_should_be(tmp_path, slice_csv):
    code, err = run_main("rank", str(slice_csv), "--quiet", "--out", str(slice_csv / "r.gpkg"))
    one_line_exit_2(code, err, "--out", "is a file, not a folder")


def test_proc_is_refused_before_the_analysis(slice_csv):
    code, err = run_main("kde", str(slice_csv), "--quiet", "--out", "/proc/hotspot-test.tif")
    one_line_exit_2(code, err, "--out /proc/hotspot-test.tif", "cannot write")


def test_read_only_file_system_is_refused_before_the_analysis(tmp_path, monkeypatch, slice_csv):
    import hotspot.core.atomic as atomic

    def read_only(path, mode="r", *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(atomic, "open", read_only, raising=False)
    called = []
    monkeypatch.setattr("hotspot.ingest.study.load_study", lambda *a, **k: called.append(1))
    code, err = run_main("rank", str(slice_csv), "--quiet", "--out", str(tmp_path / "r.gpkg"))
    one_line_exit_2(code, err, "read-only")
    assert not called  # refused before any data was read


def test_disk_full_mid_write_leaves_the_old_run_whole(tmp_path, monkeypatch, slice_csv):
    import pyogrio

    out = tmp_path / "r.gpkg"
    code, err = run_main("rank", str(slice_csv), "--quiet", "--top", "3", "--out", str(out))
    assert code == 0, err
    before = files_in(tmp_path)
    assert {"r.gpkg", "r.csv"} <= set(before)

    real = pyogrio.write_dataframe

    def full_disk(frame, path, *args, **kwargs):
        real(frame.head(1), path, *args, **kwargs)  # something reaches the disk first
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pyogrio, "write_dataframe", full_disk)
    code, err = run_main("rank", str(slice_csv), "--quiet", "--top", "5", "--out", str(out))
    one_line_exit_2(code, err, "r.gpkg", "disk is full")
    assert files_in(tmp_path) == before  # nothing replaced, nothing half-written left


# --- a run's files are replaced together -------------------------------------------------------------


def test_failure_on_a_later_file_keeps_every_earlier_file_of_the_run_old(tmp_path, monkeypatch, slice_csv):
    import hotspot.io.outputs as outputs

    out = tmp_path / "r.gpkg"
    assert run_main("rank", str(slice_csv), "--quiet", "--top", "3", "--out", str(out))[0] == 0
    before = files_in(tmp_path)

    def broken_csv(frame, path, **kwargs):
        raise HotspotInputError(f"simulated failure writing {path}")

    monkeypatch.setattr(outputs, "write_csv", broken_csv)
    code, err = run_main("rank", str(slice_csv), "--quiet", "--top", "5", "--out", str(out))
    assert code == 2 and "simulated failure" in err
    assert files_in(tmp_path) == before  # the new GeoPackage was staged, not put beside the old CSV


def test_commit_killed_between_renames_is_reported_by_the_next_run(tmp_path):
    import json

    from hotspot.core.atomic import clean_stale

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    new, old = tmp_path / "r.gpkg", tmp_path / "r.csv"
    new.write_text("new")
    old.write_text("old")
    pending = tmp_path / f".r.partial-{pid}-0123abcd.csv"
    pending.write_text("new csv that never moved")
    journal = tmp_path / f".hotspot-run-{pid}-89abcdef.journal"
    journal.write_text(
        json.dumps([[str(new), str(tmp_path / f".r.partial-{pid}-00000000.gpkg")], [str(old), str(pending)]])
    )
    notes = clean_stale(tmp_path)
    assert any(f"new: {new}" in n and f"still from the run before: {old}" in n for n in notes), notes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.gpkg"]


# --- stale partial files -------------------------------------------------------------------------------


def test_stale_partials_of_our_outputs_are_removed_and_said(tmp_path, slice_csv):
    dead = int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )
    stale = [
        tmp_path / f".r.partial-{dead}-deadbeef.gpkg",
        tmp_path / f".r.partial-{dead}-deadbeef.gpkg-journal",
        tmp_path / f".r_monthly.partial-{dead}-0badf00d.csv",
    ]
    live = tmp_path / f".r.partial-{os.getppid()}-cafef00d.gpkg"  # a running process's: left alone
    other = tmp_path / f".notours.partial-{dead}-deadbeef.gpkg"  # another output's: left alone
    for path in (*stale, live, other):
        path.write_bytes(b"x" * 1000)
    code, err = run_main("rank", str(slice_csv), "--top", "3", "--out", str(tmp_path / "r.gpkg"))
    assert code == 0, err
    assert "removed 3 unfinished file(s)" in " ".join(err.split())
    assert not any(p.exists() for p in stale) and live.exists() and other.exists()


# --- duplicate records -----------------------------------------------------------------------------------


def test_repeated_crime_ids_are_dropped_and_counted(bedfordshire_crime_dir, month_raw):
    records = read_records([bedfordshire_crime_dir / f"{MONTH}-bedfordshire-street.csv.gz"])
    located = month_raw[(month_raw["Longitude"] != "") & (month_raw["Crime ID"] != "")]
    expected = int(located.duplicated("Crime ID").sum())  # pandas on the raw text, independent of the reader
    assert expected == 178
    assert records.reject_counts["duplicate"] == expected
    assert records.frame.loc[records.frame["crime_id"] != "", "crime_id"].is_unique
    assert any("repeat a Crime ID" in note for note in records.notes)
    kept_all = read_records([bedfordshire_crime_dir / f"{MONTH}-bedfordshire-street.csv.gz"], drop_duplicates=False)
    assert len(kept_all) == len(records) + expected


def test_the_same_file_twice_is_counted_once(tmp_path, slice_csv):
    copy = tmp_path / "copy-street.csv"
    copy.write_bytes(slice_csv.read_bytes())
    once = read_records([slice_csv])
    twice = read_records([slice_csv, copy])
    assert len(twice) == len(once)
    assert twice.reject_counts["duplicate"] == once.reject_counts["duplicate"] + SLICE_ROWS
    assert any("copy-street.csv has the same rows as" in note for note in twice.notes)
    code, err = run_main("rank", str(slice_csv), str(copy), "--top", "3", "--out", str(tmp_path / "o" / "r.gpkg"))
    assert code == 0 and "file given twice" in " ".join(err.split())


# --- semicolons and decimal commas -------------------------------------------------------------------


def test_semicolon_csv_with_decimal_commas_is_read_and_said(tmp_path, slice_raw, slice_csv):
    european = slice_raw.copy()
    for column in ("Longitude", "Latitude"):
        european[column] = european[column].str.replace(".", ",", regex=False)
    path = tmp_path / "european-street.csv"
    european.to_csv(path, sep=";", index=False)
    got = read_records([path])
    plain = read_records([slice_csv])
    np.testing.assert_array_equal(got.frame[["x", "y"]].to_numpy(), plain.frame[["x", "y"]].to_numpy())
    assert got.reject_counts == plain.reject_counts
    n_located = int((slice_raw["Longitude"] != "").sum())
    assert any(f"{n_located:,} rows give coordinates with decimal commas" in note for note in got.notes)


# --- options --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "5", "100"])
def test_area_share_of_one_or_more_is_refused_before_reading(tmp_path, value):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\xff not a csv")
    code, err = run_main("rank", str(garbage), "--area-share", value, "--out", str(tmp_path / "r.gpkg"))
    line = one_line_exit_2(code, err, f"--area-share {value}", "ambiguous")
    assert f"--area-share {float(value) / 100:g}" in line


def test_every_option_is_checked_before_the_input_is_read(tmp_path):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\xff not a csv")
    out = str(tmp_path / "r.gpkg")
    for args, needle in (
        (["--hours", "25:00-01:00"], "--hours"),
        (["--from", "2022-13"], "--from"),
        (["--weekdays", "funday"], "--weekdays"),
        (["--crs", "EPSG:4326"], "--crs"),
        (["--method", "magic"], "--method"),
        (["--top", "0"], "--top"),
        (["--band", "-5"], "--band"),
        (["--boundaries", str(tmp_path / "none.gpkg")], "--boundaries"),
    ):
        code, err = run_main("rank", str(garbage), *args, "--out", out)
        one_line_exit_2(code, err, needle)


def test_nte_errors_name_nte(slice_csv, tmp_path):
    code, err = run_main("rank", str(slice_csv), "--nte", "--out", str(tmp_path / "r.gpkg"))
    line = one_line_exit_2(code, err, "--nte", "times of day")
    assert "--hours" not in line


# --- progress on long writes ---------------------------------------------------------------------------


def test_long_geopackage_write_reports_progress_and_reads_back_equal(tmp_path):
    import pyogrio

    from hotspot.core.grid import Grid
    from hotspot.io.outputs import WRITE_CHUNK_ROWS, write_geopackage

    grid = Grid(500_000.0, 260_000.0, 50.0, 300, 250)  # 75,000 cells: more than one chunk
    rng = np.random.default_rng(3)
    frame = grid.to_geodataframe({"count": rng.poisson(2.0, grid.shape).astype(np.float64)})
    assert len(frame) > WRITE_CHUNK_ROWS
    calls = []
    write_geopackage(
        tmp_path / "cells.gpkg",
        {"cells": frame},
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    done = [c[1] for c in calls]
    assert calls[0][1] == 0 and done == sorted(done) and done[-1] == len(frame) and len(calls) >= 3
    reference = tmp_path / "reference.gpkg"
    pyogrio.write_dataframe(frame, reference, layer="cells", driver="GPKG")  # the writer we replaced
    ours, theirs = pyogrio.read_dataframe(tmp_path / "cells.gpkg"), pyogrio.read_dataframe(reference)
    assert ours.equals(theirs)
    assert pyogrio.read_info(tmp_path / "cells.gpkg")["capabilities"]["fast_spatial_filter"]


# --- wording ---------------------------------------------------------------------------------------------


def test_out_of_area_note_reads_cleanly(slice_raw, tmp_path):
    moved = slice_raw.copy()
    unique = ~moved["Crime ID"].duplicated(keep=False)
    located = moved.index[(moved["Longitude"] != "") & moved["LSOA name"].str.startswith("Bedford") & unique][:3]
    moved.loc[located, "Longitude"], moved.loc[located, "Latitude"] = "-5.05", "50.26"  # Truro, Bedford LSOA names
    path = tmp_path / "moved-street.csv"
    moved.to_csv(path, index=False)
    code, err = run_main("rank", str(path), "--top", "3", "--out", str(tmp_path / "r.gpkg"))
    text = " ".join(err.split())
    assert code == 0, err
    assert "3 records lie far from the main body of the data" in text and "outside the study area" in text
    assert "places some crimes a force records" not in text


def test_rtm_help_shows_the_factors_table_name():
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli.app, ["rtm", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "with a [factors] table" in " ".join(result.output.split())


def test_rtm_says_when_negative_binomial_fell_back_to_poisson(monkeypatch):
    import importlib

    import geopandas as gpd
    import shapely

    import rtm
    from hotspot.core.grid import Grid

    fit = importlib.import_module("rtm.model")
    rng = np.random.default_rng(5)
    grid = Grid(0.0, 3000.0, 50.0, 60, 60)
    feats = {"a": gpd.GeoDataFrame(geometry=shapely.points(rng.uniform(0, 3000, 40), rng.uniform(0, 3000, 40)))}
    counts = rng.poisson(0.5, grid.shape).astype(float)
    cand = rtm.operationalise(feats, grid, [50, 100])
    selection = rtm.select(counts, cand, seed=0)
    assert rtm.fit(counts, selection).notes == []

    real = fit._fit_both

    def nb_fails(y, X):
        fits, bic, _ = real(y, X)
        fits.pop("negative_binomial", None)
        bic.pop("negative_binomial", None)
        return fits, bic, "the fit failed (LinAlgError: Singular matrix)"

    monkeypatch.setattr(fit, "_fit_both", nb_fails)
    model = rtm.fit(counts, selection)
    assert model.family == "poisson"
    assert any("negative binomial could not be fitted" in n and "Singular matrix" in n for n in model.notes)


def test_fit_both_reports_why_negative_binomial_failed(monkeypatch):
    import statsmodels.api as sm

    from rtm.model import _fit_both

    class Broken(sm.families.NegativeBinomial):
        def __init__(self, *args, **kwargs):
            raise ValueError("simulated NB failure")

    monkeypatch.setattr(sm.families, "NegativeBinomial", Broken)
    rng = np.random.default_rng(2)
    X = (rng.random((500, 2)) < 0.3).astype(float)
    y = rng.poisson(np.exp(0.2 + X @ [0.5, 0.3])).astype(float)
    fits, bic, failure = _fit_both(y, X)
    assert set(fits) == {"poisson"} and "simulated NB failure" in failure
