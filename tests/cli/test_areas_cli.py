"""The `hotspot areas` and `hotspot evaluate` commands on the demo town: files written, figures reported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def test_areas_command_on_the_demo(tmp_path, demo_town):
    import pyogrio
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "areas.gpkg"
    result = CliRunner().invoke(app, ["areas", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    layers = [name for name, _ in pyogrio.list_layers(out)]
    assert layers[0] == "areas" and "wards_top_quintile" in layers
    table = pd.read_csv(tmp_path / "areas.csv")
    from boundaries.demo.town import population_table

    town = demo_town
    assert len(table) == len(town.lsoas)
    assert table["count"].sum() == len(town.crimes)  # demo crimes all carry a demo LSOA code
    assert table["share"].sum() == pytest.approx(1.0)
    pop = population_table().set_index("area_code")["population"]
    np.testing.assert_allclose(table["population"], pop.reindex(table["area_code"]).to_numpy())
    np.testing.assert_allclose(table["rate_per_1000"], table["count"] / table["population"] * 1000)
    wards = pd.read_csv(tmp_path / "areas_wards_top_quintile.csv")
    assert wards["top_quintile_areas"].sum() == (table["quintile"] == 1).sum()


def test_evaluate_command_on_the_demo(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "bt.csv"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--folds",
            "2",
            "--train-months",
            "6",
            "--method",
            "previous_period",
            "--method",
            "combined",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out)
    summary = pd.read_csv(tmp_path / "bt_summary.csv")
    assert sorted(folds["method"].unique()) == ["combined", "previous_period"]
    assert folds["fold"].nunique() == 2 and folds["test_to"].max() == "2024-12"
    assert sorted(folds["area_share"].unique()) == [0.005, 0.01, 0.02, 0.05]
    folds = folds[folds["area_share"] == 0.01]
    assert np.allclose(folds["area_selected"], 0.01)
    assert summary.set_index("method").loc["combined", "pai"] == pytest.approx(
        folds[folds["method"] == "combined"]["pai"].mean()
    )
    assert "PAI" in result.output and "recapture rate index" in result.output


@pytest.mark.parametrize(
    "args,words",
    [
        (["evaluate", "--out", "x.gpkg"], "give a path ending in .csv"),
        (["areas", "--join", "nearest"], "--join"),
    ],
)
def test_bad_options_exit_2(tmp_path, args, words):
    proc = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args,words",
    [
        (["evaluate", "--area-share", "2"], "--area-share"),
        (["evaluate", "--train-months", "30"], "training"),
        (["evaluate", "--method", "magic"], "--method magic"),
        (["evaluate", "--budgets", "0.01,ten"], "--budgets"),
        (["evaluate", "--budgets", "0.01,3"], "--area-share"),
    ],
)
def test_bad_evaluate_options_are_input_errors(tmp_path, args, words):
    from typer.testing import CliRunner

    from cli import app
    from hotspot.core.errors import HotspotInputError

    result = CliRunner().invoke(app, [*args, "--quiet", "--out", str(tmp_path / "x.csv")])
    assert isinstance(result.exception, HotspotInputError)
    assert words in str(result.exception) and "\n" not in str(result.exception)


def test_areas_command_ward_level_on_the_demo(tmp_path, demo_town):
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "wards.gpkg"
    result = CliRunner().invoke(app, ["areas", "--level", "ward", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "wards.csv")
    town = demo_town
    assert sorted(table["area_code"]) == sorted(town.wards["area_code"])
    assert table["count"].sum() == len(town.crimes)
    assert table["population"].sum() == town.lsoas["population"].sum()


def test_areas_table_prints_one_line_per_area_at_80_columns(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["areas", "--out", str(tmp_path / "areas.gpkg")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = [line for line in lines if line.strip()[:2].strip().isdigit() and "Demoton" in line]
    assert len(rows) == 10 and max(map(len, lines)) <= 80
    # Each row whole on its line: its rate and its 95 % interval.
    assert all(" higher" in row or " lower" in row or " similar" in row or "(" in row for row in rows), rows
    assert all(row.count("(") == row.count(")") == 1 for row in rows), rows
