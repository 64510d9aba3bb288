"""`--weight` on rank, kde, gistar and evaluate, and rank's combined/map-change report, on the demo town."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest


def _invoke(args):
    from typer.testing import CliRunner

    from cli import app

    return CliRunner().invoke(app, args)


def test_rank_by_harm_reports_count_and_harm_per_place(tmp_path, demo_town):
    from hotspot.stats.harm import DEFAULT_TABLE

    out = tmp_path / "rank.gpkg"
    result = _invoke(["rank", "--weight", "harm", "--top", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "rank.csv")
    assert {"count", "harm", "harm_share"} <= set(table.columns)
    assert table["harm"].is_monotonic_decreasing
    # The top place's harm is the sum of its records' type weights: check against the records in its cells.
    weights = pd.read_csv(DEFAULT_TABLE).set_index("crime_type")["weight"].to_dict()
    weights["Anti-social behaviour"] = 0.0
    frame = demo_town.records().frame
    assert table["harm"].sum() <= frame["crime_type"].map(weights).sum() + 1e-6
    assert "weigh 0" in result.output


def test_kde_and_gistar_take_harm_weights(tmp_path):
    import rasterio

    plain = _invoke(["kde", "--quiet", "--bandwidth", "300", "--out", str(tmp_path / "a.tif")])
    harm = _invoke(["kde", "--quiet", "--bandwidth", "300", "--weight", "harm", "--out", str(tmp_path / "b.tif")])
    assert plain.exit_code == 0 and harm.exit_code == 0, harm.output
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert not np.allclose(np.nan_to_num(a.read(1)), np.nan_to_num(b.read(1)))
    result = _invoke(["gistar", "--weight", "harm", "--permutations", "0", "--out", str(tmp_path / "g.gpkg")])
    assert result.exit_code == 0, result.output
    assert "total harm" in result.output


def test_evaluate_on_harm_and_rank_combined_say_what_they_did(tmp_path):
    result = _invoke(
        [
            "evaluate",
            "--weight",
            "harm",
            "--folds",
            "2",
            "--method",
            "combined",
            "--method",
            "P_since_map_change",
            "--method",
            "self_exciting",
            "--out",
            str(tmp_path / "e.csv"),
        ]
    )
    assert result.exit_code == 0, result.output
    comparisons = pd.read_csv(tmp_path / "e_comparisons.csv")
    assert set(comparisons["baseline"]) == {"P_since_map_change", "self_exciting"}
    # One line for the latest blend (not one per fold); every month's blend is in the folds CSV.
    assert "combined: blend for the latest test month" in result.output
    folds = pd.read_csv(tmp_path / "e.csv")
    assert (folds.loc[folds["method"] == "combined", "blend"].str.len() > 0).all()
    result = _invoke(["rank", "--method", "combined", "--top", "3", "--out", str(tmp_path / "r.gpkg")])
    assert result.exit_code == 0, result.output
    assert "combined: counts" in result.output and "backtest PAI" in result.output


@pytest.mark.parametrize(
    "args,words",
    [
        (["rank", "--weight", "nope.csv"], "--weight nope.csv"),
        (["evaluate", "--weight", "w.csv"], "has no weight"),
    ],
)
def test_bad_weights_exit_2_with_one_line(tmp_path, args, words):
    (tmp_path / "w.csv").write_text("crime_type,weight\nBurglary,3\n")
    proc = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
