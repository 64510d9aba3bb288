"""The `hotspot kde` command on the demo town: files written, values and report."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def test_kde_command_writes_geotiff_and_hotspots(tmp_path, demo_study):
    import pyogrio
    import rasterio
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "surface.tif"
    result = CliRunner().invoke(
        app, ["kde", "--bandwidth", "400", "--cell-size", "50", "--hotspot-share", "0.02", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "bandwidth 400 m (given)" in result.output
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 27700
        assert src.descriptions[0] == "quartic kernel density, bandwidth 400 m, per km2"
        assert src.res == (50.0, 50.0)
        data = src.read(1, masked=True)
        assert src.overviews(1) or max(src.shape) < 512
    from hotspot.stats.density import density_for_study

    want = density_for_study(demo_study(), cell_size_m=50.0, bandwidth_m=400.0).surface
    np.testing.assert_array_equal(data.filled(np.nan), want)
    layers = [name for name, _ in pyogrio.list_layers(tmp_path / "surface.gpkg")]
    assert [name for name in layers if name != "layer_styles"] == ["kde_hotspots"]  # layer_styles: QGIS default styles
    assert (tmp_path / "surface.qml").exists()  # the colour-ramp sidecar QGIS reads
    hotspots = pyogrio.read_dataframe(tmp_path / "surface.gpkg", layer="kde_hotspots")
    assert list(hotspots["hotspot_id"]) == list(range(1, len(hotspots) + 1))
    # Named as ranked places are: the street most records inside are on, and their LSOA; each name unique.
    assert hotspots["name"].str.contains(r", Demoton \d{3}[A-Z]", regex=True).all(), hotspots["name"]
    assert hotspots["name"].is_unique
    assert f"1. {hotspots['name'].iloc[0]}:" in result.output


@pytest.mark.parametrize(
    "args,words",
    [
        (["--kernel", "cosine"], "--kernel must be one of"),
        (["--out", "x.gpkg"], "give a path ending in .tif"),
    ],
)
def test_kde_command_bad_options_exit_2(tmp_path, args, words):
    proc = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "kde", *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert words in proc.stderr and "Traceback" not in proc.stderr
