"""A real client: our GeoPackage and GeoTIFF opened by QGIS (Debian's python3-qgis) and GDAL's validators.

Skips only when PyQGIS (or, for the validator tests, GDAL's Python samples) is absent from the
system Python; ``.ci/install-system-deps`` installs both in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hotspot.core.grid import Grid
from hotspot.io.outputs import write_geopackage, write_geotiff
from hotspot.io.provenance import Provenance
from tests.support import REPO

SYSTEM_PYTHON = "/usr/bin/python3"
CHECK_SCRIPT = REPO / "tests" / "support" / "qgis_check.py"


def _system_python_has(module: str) -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", f"import {module}"],
        capture_output=True,
        timeout=60,
        env={**_clean_env(), "QT_QPA_PLATFORM": "offscreen"},
    )
    return probe.returncode == 0


def _clean_env() -> dict[str, str]:
    # The venv's variables would make Debian's python pick up the venv's numpy/GDAL instead of its own.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "GDAL_DATA", "PROJ_LIB", "PROJ_DATA")
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def _require(module: str, what: str):
    """Skip on a developer machine without the package; in CI (CI=true) the check must run, so fail instead."""
    if _system_python_has(module):
        return pytest.mark.usefixtures()
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return pytest.mark.usefixtures("_fail_missing_" + module.split(".")[0])
    return pytest.mark.skip(reason=f"{what} is not installed")


@pytest.fixture
def _fail_missing_qgis():
    pytest.fail("PyQGIS (python3-qgis) is missing in CI: .ci/install-system-deps must install it")


@pytest.fixture
def _fail_missing_osgeo_utils():
    pytest.fail("GDAL's Python validators (python3-gdal) are missing in CI: .ci/install-system-deps must install them")


needs_qgis = _require("qgis.core", "PyQGIS (python3-qgis)")
needs_gdal_samples = _require("osgeo_utils.samples.validate_gpkg", "GDAL's Python validators (python3-gdal)")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One GeoPackage with a layer for every vector style, and a KDE-like GeoTIFF."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    folder = tmp_path_factory.mktemp("qgis")
    grid = Grid(507_000.0, 222_000.0, 100.0, 30, 20)
    xs, ys = grid.cell_centres()
    bump = np.exp(-(((xs - 508_200.0) ** 2 + (ys - 221_000.0) ** 2) / (2 * 400.0**2)))
    z = (bump - bump.mean()) / bump.std() * 1.5
    gi_bin = np.select([z > 2.58, z > 1.96, z > 1.65, z < -2.58, z < -1.96, z < -1.65], [3, 2, 1, -3, -2, -1], 0)
    counts = np.round(bump * 20).astype(int)
    gistar = grid.to_geodataframe({"count": counts, "gi_z": z, "gi_bin": gi_bin})
    ranked = gpd.GeoDataFrame(
        {
            "rank": [1, 2, 11, 25],
            "name": ["High St", "Market Sq", "Station Rd", "Bus station"],
            "count": [40, 31, 22, 15],
        },
        geometry=grid.cell_polygons(np.array([10, 9, 11, 5]), np.array([12, 13, 10, 20])),
        crs=grid.crs,
    )
    areas = gpd.GeoDataFrame(
        {
            "code": [f"E0100{i}" for i in range(6)],
            "count": [3, 8, 15, 40, 90, 12],
            "rate": [1.0, 2.5, 3.0, 8.0, 20.0, 4.0],
        },
        geometry=[shapely.box(507_000 + 500 * i, 220_000, 507_500 + 500 * i, 222_000) for i in range(6)],
        crs=grid.crs,
    )
    kde_hotspots = gpd.GeoDataFrame(
        {"level": [0.95]}, geometry=[shapely.Point(508_200, 221_000).buffer(400)], crs=grid.crs
    )
    priority = gpd.GeoDataFrame(
        {"risk": [3.2, 2.9]},
        geometry=[shapely.box(509_000, 220_300, 509_400, 220_700), shapely.box(507_300, 221_200, 507_600, 221_600)],
        crs=grid.crs,
    )
    model = pd.DataFrame({"factor": ["bars"], "coef": [0.8], "rrv": [2.2]})
    no_hotspots = kde_hotspots.iloc[:0]  # a run with no hot-spot areas must still open as a map layer
    prov = Provenance.capture("test_qgis", {"cell_size_m": 100.0}, [], None)
    gpkg = write_geopackage(
        folder / "out.gpkg",
        {
            "gistar": gistar,
            "ranked": ranked,
            "areas": areas,
            "kde_hotspots": kde_hotspots,
            "priority_places": priority,
            "model": model,
            "empty_hotspots": no_hotspots,
        },
        styles={
            "gistar": "gistar",
            "ranked": "ranked",
            "areas": ("areas", {"field": "rate"}),
            "kde_hotspots": "kde_hotspots",
            "priority_places": "priority_places",
            "empty_hotspots": "kde_hotspots",
        },
        provenance=prov,
    )
    fine = Grid(507_000.0, 222_000.0, 5.0, 600, 400)  # more than one internal tile
    fx, fy = fine.cell_centres()
    surface = np.exp(-(((fx - 508_200.0) ** 2 + (fy - 221_000.0) ** 2) / (2 * 300.0**2))) * 120.0
    tif = write_geotiff(
        folder / "kde.tif", surface, fine, style="raster_ramp", provenance=prov, description="density, crimes per km2"
    )
    expected = {
        "gistar": ("categorizedSymbol", len(gistar)),
        "ranked": ("graduatedSymbol", 4),
        "areas": ("graduatedSymbol", 6),
        "kde_hotspots": ("singleSymbol", 1),
        "priority_places": ("singleSymbol", 2),
        "empty_hotspots": ("singleSymbol", 0),
    }
    return gpkg, tif, expected, folder


@needs_qgis
def test_qgis_opens_styled_layers_and_renders(written):
    gpkg, tif, expected, folder = written
    png = folder / "render.png"
    args = [SYSTEM_PYTHON, str(CHECK_SCRIPT), str(gpkg), str(tif), str(png)]
    for layer, (renderer, count) in expected.items():
        args += ["--expect", f"{layer}={renderer}:{count}"]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=240, env={**_clean_env(), "QT_QPA_PLATFORM": "offscreen"}
    )
    assert result.returncode == 0, f"qgis_check failed:\n{result.stdout}\n{result.stderr}"
    assert "QGIS CHECK OK" in result.stdout
    for layer, (renderer, count) in expected.items():
        assert f"layer {layer}: valid, crs EPSG:27700, {count} features, renderer {renderer}" in result.stdout
    assert "renderer singlebandpseudocolor" in result.stdout
    assert png.stat().st_size > 1000


@needs_qgis
def test_qgis_check_fails_when_a_style_is_missing(written, tmp_path):
    """The check must be able to fail: an unstyled copy of the layers is reported, not passed."""
    import pyogrio

    gpkg, tif, _, _ = written
    plain = tmp_path / "plain.gpkg"
    write_geopackage(plain, {"gistar": pyogrio.read_dataframe(gpkg, layer="gistar")})
    result = subprocess.run(
        [
            SYSTEM_PYTHON,
            str(CHECK_SCRIPT),
            str(plain),
            str(tif),
            str(tmp_path / "x.png"),
            "--expect",
            "gistar=categorizedSymbol",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**_clean_env(), "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 1
    assert "default style not applied" in result.stderr


@needs_gdal_samples
def test_gdal_validates_geopackage_and_cog(written):
    gpkg, tif, _, _ = written
    for module, target in (
        ("osgeo_utils.samples.validate_gpkg", gpkg),
        ("osgeo_utils.samples.validate_cloud_optimized_geotiff", tif),
    ):
        result = subprocess.run(
            [SYSTEM_PYTHON, "-m", module, str(target)], capture_output=True, text=True, timeout=120, env=_clean_env()
        )
        assert result.returncode == 0, f"{module} rejected {target}:\n{result.stdout}\n{result.stderr}"
        assert "error" not in (result.stdout + result.stderr).lower()


@pytest.mark.skipif(
    shutil.which("ogrinfo", path=_clean_env()["PATH"]) is None, reason="ogrinfo (gdal-bin) is not installed"
)
def test_ogrinfo_lists_every_layer(written):
    gpkg, _, expected, _ = written
    result = subprocess.run(
        ["ogrinfo", "-ro", "-q", str(gpkg)], capture_output=True, text=True, timeout=60, env=_clean_env()
    )
    assert result.returncode == 0, result.stderr
    for layer in [*expected, "model", "layer_styles"]:
        assert f": {layer}" in result.stdout
    assert "ERROR" not in result.stderr
