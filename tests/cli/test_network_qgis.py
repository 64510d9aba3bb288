"""Street-segment layers (ranked stretches, network density, segment Gi*, segment risk) opened by real QGIS with
their default line styles."""

from __future__ import annotations

import subprocess

import numpy as np

from hotspot.core.grid import Grid
from hotspot.io.outputs import write_geopackage, write_geotiff
from tests.cli.test_qgis import CHECK_SCRIPT, SYSTEM_PYTHON, _clean_env, needs_qgis


@needs_qgis
def test_qgis_draws_segment_layers_as_styled_lines(tmp_path):
    from boundaries.demo.network import demo_network_study
    from hotspot.network.gistar import gi_star_segments
    from hotspot.network.nkde import density_frame, network_kde
    from hotspot.network.snap import lixel_counts
    from hotspot.places.segments import rank_segments

    ns = demo_network_study()
    ranked = rank_segments(ns.study, ns.network, ns.snapped, top=8).places
    counts = lixel_counts(ns.network, ns.snapped)
    density = density_frame(ns.network, network_kde(ns.network, ns.snapped.edge, ns.snapped.offset_m), counts)
    gistar, _ = gi_star_segments(ns.network, counts, band_m=60.0, permutations=0)
    gpkg = write_geopackage(
        tmp_path / "segments.gpkg",
        {"ranked": ranked, "network_kde": density, "gistar": gistar},
        styles={"ranked": "ranked", "network_kde": ("areas", {"field": "density_per_km"}), "gistar": "gistar"},
    )
    grid = Grid(449_000.0, 301_000.0, 50.0, 20, 20)
    tif = write_geotiff(tmp_path / "any.tif", np.arange(400.0).reshape(20, 20), grid, style="raster_ramp")
    expected = {
        "ranked": ("graduatedSymbol", 8),
        "network_kde": ("graduatedSymbol", ns.network.n_lixels),
        "gistar": ("categorizedSymbol", ns.network.n_lixels),
    }
    args = [SYSTEM_PYTHON, str(CHECK_SCRIPT), str(gpkg), str(tif), str(tmp_path / "render.png")]
    for layer, (renderer, count) in expected.items():
        args += ["--expect", f"{layer}={renderer}:{count}"]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=240, env={**_clean_env(), "QT_QPA_PLATFORM": "offscreen"}
    )
    assert result.returncode == 0, f"qgis_check failed:\n{result.stdout}\n{result.stderr}"
    for layer, (renderer, count) in expected.items():
        assert f"layer {layer}: valid, crs EPSG:27700, {count} features, renderer {renderer}" in result.stdout
