"""One QGIS project per run: written with the standard library, opened in real QGIS 3.22 headless."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotspot.core.errors import HotspotInputError
from hotspot.io.qgis_project import GROUPS, layer_group, write_qgis_project
from tests.cli.test_qgis import SYSTEM_PYTHON, _clean_env, needs_qgis
from tests.support import REPO

PROJECT_CHECK = REPO / "tests" / "support" / "qgis_project_check.py"


def open_in_qgis(project: Path) -> dict:
    """What real QGIS makes of a project (tests/support/qgis_project_check.py), with a rendering beside it."""
    result = subprocess.run(
        [SYSTEM_PYTHON, str(PROJECT_CHECK), str(project), str(project.with_suffix(".png"))],
        capture_output=True,
        text=True,
        timeout=240,
        env={**_clean_env(), "QT_QPA_PLATFORM": "offscreen"},
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and lines, result.stdout + result.stderr
    return json.loads(lines[-1])


def assert_opens_on_the_data(report: dict, expected: dict[str, tuple[str, str]]) -> None:
    """Every layer valid, in its group, drawn by the intended renderer; the map opens on the data."""
    assert report["read"] and report["crs"] == "EPSG:27700"
    assert set(report["layers"]) == set(expected)
    for name, (group, renderer) in expected.items():
        layer = report["layers"][name]
        assert layer["valid"] and layer["renderer"] == renderer, (name, layer)
        assert any(name in members for g, members in report["tree"] if g == group), (name, report["tree"])
    # Groups top first: places over factors over hot spots over surfaces over areas.
    groups = [g for g, _ in report["tree"]]
    assert groups == [g for g in GROUPS if g in groups]
    assert report["canvas_extent"] == pytest.approx(report["layers_extent"], abs=1.0)
    assert report["drawn_share"] > 0.005  # something was drawn, not a white page


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    from cli import app

    folder = tmp_path_factory.mktemp("runs")
    runner = CliRunner()
    for args in (
        ["rank", "--area-share", "0.03", "--out", str(folder / "rank.gpkg")],
        ["kde", "--hotspot-share", "0.02", "--cell-size", "50", "--out", str(folder / "kde.tif")],
    ):
        result = runner.invoke(app, [*args, "--quiet"])
        assert result.exit_code == 0, result.output + repr(result.exception)
    return folder


def test_every_run_writes_a_project_beside_its_layers(demo_runs):
    for name in ("rank", "kde"):
        project = demo_runs / f"{name}.qgs"
        root = ET.fromstring(project.read_text(encoding="utf-8").split("\n", 1)[1])
        sources = [e.text for e in root.iter("datasource")]
        # Relative sources, so the folder can be moved or shared whole.
        assert sources and all(s.startswith("./") for s in sources), sources
        abstract = root.find("projectMetadata/abstract").text
        assert f"command '{name}'" in abstract and '"records_kept"' in abstract
    kde = ET.fromstring((demo_runs / "kde.qgs").read_text(encoding="utf-8").split("\n", 1)[1])
    # Places are listed (and drawn) above the surface.
    assert [e.get("name") for e in kde.iter("layer-tree-group")][1:] == ["Places", "Surfaces"]


def test_a_project_needs_map_layers_beside_it(demo_runs, tmp_path):
    with pytest.raises(HotspotInputError, match="holds a map layer"):
        write_qgis_project(tmp_path / "x.qgs", [demo_runs / "rank.csv"])
    with pytest.raises(HotspotInputError, match="not beside"):
        write_qgis_project(tmp_path / "x.qgs", [demo_runs / "rank.gpkg"])
    with pytest.raises(HotspotInputError, match=".qgs"):
        write_qgis_project(demo_runs / "x.qgz", [demo_runs / "rank.gpkg"])


def test_layer_groups():
    assert layer_group("ranked") == layer_group("gistar_places") == "Places"
    assert layer_group("factor_pubs") == "Risk factors"
    assert layer_group("gistar_cells") == "Hot and cold spots"
    assert layer_group("kde", raster=True) == layer_group("network_kde") == "Surfaces"
    assert layer_group("areas") == "Areas"


@needs_qgis
def test_qgis_opens_the_demo_projects_styled_and_on_the_data(demo_runs):
    report = open_in_qgis(demo_runs / "rank.qgs")
    assert_opens_on_the_data(report, {"ranked": ("Places", "graduatedSymbol")})
    ranked = report["layers"]["ranked"]
    assert ranked["attr"] == "rank" and ranked["labels"] and ranked["features"] > 20
    assert "command line" in report["abstract"]
    report = open_in_qgis(demo_runs / "kde.qgs")
    assert_opens_on_the_data(
        report, {"kde_hotspots": ("Places", "graduatedSymbol"), "kde": ("Surfaces", "singlebandpseudocolor")}
    )
