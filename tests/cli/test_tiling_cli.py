"""`hotspot national`: streamed ingest, tiled KDE and Gi* through the CLI, outputs equal to the library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.support import REPO

HEADER = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n"


def _write_month(path: Path, month: str, rng) -> None:
    lon = np.round(-0.46 + rng.normal(0, 0.01, 400), 3)
    lat = np.round(52.13 + rng.normal(0, 0.006, 400), 3)
    rows = "".join(f",{month},P,P,{a},{b},On or near X,E01,X 001A,Burglary,,\n" for a, b in zip(lon, lat))
    path.write_text(HEADER + rows + f",{month},P,P,,,No location,,,Burglary,,\n")


def test_national_command_writes_cog_and_gistar_layers(tmp_path):
    import geopandas as gpd
    import rasterio

    from hotspot.core.grid import Grid
    from hotspot.scale.stream import stream_locations
    from hotspot.scale.tiling import tiled_kernel_density

    rng = np.random.default_rng(4)
    for month in ("2023-01", "2023-02"):
        _write_month(tmp_path / f"{month}-test-street.csv", month, rng)
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "national",
            str(tmp_path),
            "--out-dir",
            str(out),
            "--tile-cells",
            "16",
            "--bandwidth",
            "400",
            "--band",
            "200",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    summary = " ".join(run.stdout.split())  # the summary is the answer (stdout); diagnostics go to stderr
    assert "800 records from 2 files" in summary and "2 no location" in summary
    locs = stream_locations([tmp_path])
    grid = Grid.from_bounds(locs.x.min(), locs.y.min(), locs.x.max(), locs.y.max(), 100.0, pad_m=400.0)
    want = tiled_kernel_density(locs.x, locs.y, grid, weights=locs.weight, bandwidth_m=400.0).surface
    with rasterio.open(out / "kde.tif") as src:
        assert (src.height, src.width) == grid.shape
        got = src.read(1)
    assert np.allclose(got, want, rtol=1e-12, atol=0)
    layers = gpd.list_layers(out / "gistar.gpkg")["name"].tolist()
    assert {"gistar_cells", "gistar_places"} <= set(layers)
    places = gpd.read_file(out / "gistar.gpkg", layer="gistar_places")
    assert len(places) >= 1 and places["rank"].iloc[0] == 1
    # Named as every other command names places: the street and LSOA of the records inside.
    assert places["name"].iloc[0] == "X, X 001A"


def test_national_command_bad_options_are_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "cli", "national", str(tmp_path / "none.csv")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "no such file" in run.stderr and "Traceback" not in run.stderr
    (tmp_path / "a.csv").write_text(HEADER)
    run = subprocess.run(
        [sys.executable, "-m", "cli", "national", str(tmp_path / "a.csv"), "--scheduler", "tcp://127.0.0.1:9"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "--scheduler needs --engine dask" in run.stderr
    for extra, message in (
        (["--processes"], "--processes needs --engine dask"),
        (["--engine", "dask", "--processes", "--scheduler", "tcp://127.0.0.1:9"], "--processes starts a local"),
    ):
        run = subprocess.run(
            [sys.executable, "-m", "cli", "national", str(tmp_path / "a.csv"), *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_national_keeps_separate_bodies_and_dask_runs_without_tracebacks(tmp_path):
    """Two forces 60 km apart (as in any multi-force extract): every record is kept; Dask worker processes log no
    traceback."""
    rng = np.random.default_rng(5)
    _write_month(tmp_path / "2023-01-a-street.csv", "2023-01", rng)
    far = (tmp_path / "2023-01-a-street.csv").read_text().replace(",-0.4", ",-1.2")  # ~55 km west
    (tmp_path / "2023-01-b-street.csv").write_text(far)
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "national",
            str(tmp_path),
            "--out-dir",
            str(out),
            "--engine",
            "dask",
            "--processes",
            "--workers",
            "2",
            "--tile-cells",
            "256",
            "--bandwidth",
            "400",
            "--band",
            "200",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "800 records from 2 files" in " ".join(run.stdout.split()), run.stdout
    assert "outside the study area" not in run.stderr + run.stdout
    assert "Traceback" not in run.stderr and "AssertionError" not in run.stderr, run.stderr


def test_national_dask_default_is_the_in_process_cluster_with_the_local_results(tmp_path):
    """--engine dask without --scheduler or --processes: one in-process worker; the outputs equal the local engine's."""
    import geopandas as gpd
    import rasterio

    from hotspot.scale.national import run_national

    rng = np.random.default_rng(6)
    for month in ("2023-01", "2023-02", "2023-03"):
        _write_month(tmp_path / f"{month}-test-street.csv", month, rng)
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "cli", "national", str(tmp_path), "--out-dir", str(out), "--engine", "dask"]
        + ["--tile-cells", "16", "--bandwidth", "400", "--band", "200"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "1,200 records from 3 files" in " ".join(run.stdout.split()), run.stdout
    local = run_national([tmp_path], tile_cells=16, bandwidth_m=400.0, band_m=200.0)
    with rasterio.open(out / "kde.tif") as src:
        assert np.array_equal(src.read(1), local.kde.surface)
    cells = gpd.read_file(out / "gistar.gpkg", layer="gistar_cells")
    assert len(cells) == int((local.gistar.bin != 0).sum())
    assert np.array_equal(np.sort(cells["gi_z"].to_numpy()), np.sort(local.gistar.z[local.gistar.bin != 0]))
