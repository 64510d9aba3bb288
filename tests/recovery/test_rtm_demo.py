"""End to end on the demo town: `hotspot rtm` recovers the planted risk terrain and writes what the interface says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from typer.testing import CliRunner

from hotspot.core.errors import HotspotInputError


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from cli import app

    out = tmp_path_factory.mktemp("rtm") / "demo.gpkg"
    result = CliRunner().invoke(app, ["rtm", "--out", str(out), "--seed", "0", "--quiet"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


def test_demo_recovers_planted_factors(demo_run, demo_town):
    truth = demo_town.truth["rtm"]
    table = pd.read_csv(demo_run.with_name("demo_model.csv"))
    planted = {k: v for k, v in truth["factors"].items() if v.get("planted")}
    assert set(table["factor"]) == set(planted), table
    assert "decoy" not in set(table["factor"])
    step = truth["distance_step_m"]
    for row in table.itertuples():
        want = planted[row.factor]
        assert abs(row.distance_m - want["distance_m"]) <= step, row
        assert row.rrv == pytest.approx(want["rrv"], rel=0.2), row
        assert row.rrv_low < row.rrv < row.rrv_high and row.p_value < 0.05
    # The two strong factors come back exactly as planted (proximity, same distance).
    for name in ("licensed_premises", "unlit_streets"):
        row = table.set_index("factor").loc[name]
        assert row["operationalisation"] == "proximity" and row["distance_m"] == planted[name]["distance_m"]


def test_demo_outputs_follow_the_interface(demo_run):
    layers = dict(pyogrio.list_layers(demo_run))
    assert {"rtm_model", "priority_places", "factor_licensed_premises", "factor_decoy"} <= set(layers)
    model = pyogrio.read_dataframe(demo_run, layer="rtm_model")
    assert list(model.columns)[:8] == [
        "factor",
        "operationalisation",
        "distance_m",
        "coef",
        "rrv",
        "rrv_low",
        "rrv_high",
        "p_value",
    ]
    csv = pd.read_csv(demo_run.with_name("demo_model.csv"))
    assert list(csv.columns) == list(model.columns)[:8]
    places = pyogrio.read_dataframe(demo_run, layer="priority_places")
    assert len(places) > 0 and places["narrative"].str.startswith(("near ", "in a high density")).all()
    with rasterio.open(demo_run.with_name("demo_risk.tif")) as tif:
        risk = tif.read(1, masked=True)
        assert tif.crs.to_epsg() == 27700 and tif.res == (50.0, 50.0)
    # Written relative to the average study cell with crime: the top cell reads as the top priority place does.
    assert float(risk.max()) == pytest.approx(float(places["risk_vs_average"].max()), rel=1e-4)
    # ...and the surface is still the product of the model's RRVs: top over bottom is all of them together.
    assert float(risk.max() / risk.min()) == pytest.approx(float(np.prod(csv["rrv"])), rel=1e-4)
    # Each priority place: a rank, a street-and-LSOA name from the demo's streets, its risk against the average.
    assert list(places["rank"]) == list(range(1, len(places) + 1))
    assert places["name"].str.contains(r", Demoton \d{3}[A-Z]", regex=True).all(), places["name"]
    assert places["name"].is_unique
    assert (places["risk_vs_average"] > 1).all()
    # The model's expectation in the places it flags is close to what was recorded there.
    assert places["expected_crimes"].sum() == pytest.approx(places["crimes"].sum(), rel=0.3)


def test_bad_factor_option_is_one_clear_error(tmp_path):
    from cli import app

    result = CliRunner().invoke(app, ["rtm", "--factor", "pubs.gpkg", "--out", str(tmp_path / "x.gpkg"), "--quiet"])
    assert isinstance(result.exception, HotspotInputError) and "NAME=PATH" in str(result.exception)
    result = CliRunner().invoke(app, ["rtm", "--distances", "50,abc", "--out", str(tmp_path / "x.gpkg"), "--quiet"])
    assert isinstance(result.exception, HotspotInputError) and "--distances" in str(result.exception)


def test_demo_run_opens_as_one_qgis_project(demo_run):
    from tests.cli.test_qgis import _system_python_has
    from tests.cli.test_qgis_project import assert_opens_on_the_data, open_in_qgis

    if not _system_python_has("qgis.core"):
        pytest.skip("PyQGIS (python3-qgis) is not installed")
    report = open_in_qgis(demo_run.with_suffix(".qgs"))
    factors = {
        f"factor_{n}": ("Risk factors", "singleSymbol")
        for n in ("licensed_premises", "unlit_streets", "bus_stops", "decoy")
    }
    assert_opens_on_the_data(
        report,
        {
            "priority_places": ("Places", "graduatedSymbol"),
            "demo_risk": ("Surfaces", "singlebandpseudocolor"),
            **factors,
        },
    )
