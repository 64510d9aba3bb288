"""`hotspot gistar` on a grid: rasters hold every study-area cell, the vector layer only the cells an analyst needs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyogrio
import rasterio

from hotspot.io.surfaces import surface_paths, write_gistar_surfaces
from hotspot.stats.gistar import cells_needed, gi_star_points
from tests.support import REPO


def _demo_result(demo_study, cells):
    study = demo_study()
    grid, mask = study.grid(100.0)
    frame, result = gi_star_points(study.records, grid=grid, mask=mask, band_m=300.0, permutations=99, cells=cells)
    return grid, mask, frame, result


def test_needed_cells_are_those_with_records_or_a_bin_and_all_cells_is_the_mask(demo_study):
    grid, mask, needed, result = _demo_result(demo_study, "needed")
    _, _, every, _ = _demo_result(demo_study, "all")
    assert len(every) == int(mask.sum())
    counts = every["count"].to_numpy()
    bins = every["gi_bin"].to_numpy()
    expected = every[(counts > 0) | (bins != 0)]
    assert 0 < len(needed) < len(every)
    assert needed["cell_id"].tolist() == expected["cell_id"].tolist()
    # the statistic does not depend on which rows are written
    np.testing.assert_array_equal(needed["gi_z"].to_numpy(), expected["gi_z"].to_numpy())
    assert int(cells_needed(result).sum()) == len(needed)


def test_surfaces_hold_every_cell_with_styles(tmp_path, demo_study):
    grid, mask, frame, result = _demo_result(demo_study, "all")
    paths = write_gistar_surfaces(tmp_path / "gistar", result, grid)
    assert paths == surface_paths(tmp_path / "gistar")
    with rasterio.open(paths["bin"]) as src:
        assert src.crs.to_string() == grid.crs and src.shape == grid.shape
        bins = src.read(1)
        nodata = src.nodata
    np.testing.assert_array_equal(bins[mask], result.bin[mask].astype(np.float32))
    assert np.all(bins[~mask] == nodata)
    with rasterio.open(paths["z"]) as src:
        z = src.read(1)
    np.testing.assert_allclose(z[mask], result.z[mask].astype(np.float32))
    for path in paths.values():
        qml = path.with_suffix(".qml").read_text()
        assert "<rasterrenderer" in qml
    assert 'type="paletted"' in paths["bin"].with_suffix(".qml").read_text()


def test_cli_writes_needed_cells_and_three_surfaces(tmp_path, demo_study):
    out = tmp_path / "g.gpkg"
    run = subprocess.run(
        [sys.executable, "-m", "cli", "gistar", "--band", "300", "--permutations", "99", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    layer = pyogrio.read_dataframe(out, layer="gistar")
    grid, mask, needed, _ = _demo_result(demo_study, "needed")
    assert len(layer) == len(needed)
    assert ((layer["count"] > 0) | (layer["gi_bin"] != 0)).all()
    for name in ("z", "p", "bin"):
        assert (tmp_path / f"g_{name}.tif").exists() and (tmp_path / f"g_{name}.qml").exists()
    assert "cells with records or a hot/cold bin" in " ".join(run.stdout.split())  # the summary is the answer: stdout


def test_hot_clusters_are_ranked_and_named_like_ranked_places(demo_study):
    """Touching hot cells (bin >= 2) as clusters: their cells are exactly the hot cells, ranked by crimes, each named
    after the street and LSOA most of its records are on (checked against a count of the records inside)."""
    import shapely

    from hotspot.scale.tiling import named_gistar_places

    study = demo_study()
    grid, mask, _, result = _demo_result(demo_study, "needed")
    places = named_gistar_places(result, grid, study.records.frame)
    assert len(places) > 0 and places["rank"].tolist() == list(range(1, len(places) + 1))
    assert places["n_cells"].sum() == int((result.bin >= 2).sum())
    assert places["crimes"].is_monotonic_decreasing and places["name"].is_unique
    frame = study.records.frame
    first = places.geometry.iloc[0]
    inside = frame[shapely.contains_xy(first, frame["x"].to_numpy(), frame["y"].to_numpy())]
    street = inside["location"].str.replace(r"^On or near\s+", "", regex=True).value_counts().index[0]
    assert places["name"].iloc[0].startswith(street)


def test_out_without_an_extension_gets_a_geopackage_named_gpkg(tmp_path):
    """`--out results` wrote a GeoPackage called `results` and GDAL warned on stderr; rank already named it .gpkg."""
    run = subprocess.run(
        [sys.executable, "-m", "cli", "gistar", "--permutations", "0", "--quiet", "--out", str(tmp_path / "results")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr, run.stderr
    assert not (tmp_path / "results").exists()
    assert len(pyogrio.read_dataframe(tmp_path / "results.gpkg", layer="gistar")) > 0
    assert (tmp_path / "results.csv").exists() and (tmp_path / "results.qgs").exists()
