"""Rank on the demo town recovers what was planted, and `hotspot rank` runs with no arguments."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pyogrio
import pytest

from hotspot.core.records import WEEKDAYS
from hotspot.places.rank import rank_places
from tests.support import REPO


def _distance_to(places, centre):
    return np.hypot(places["easting"] - centre[0], places["northing"] - centre[1])


@pytest.fixture
def truth(demo_town):
    return demo_town.truth


def test_top_places_are_in_the_planted_town_centre_quarter(truth, demo_study):
    result = rank_places(demo_study(), method="count", top=5)
    quarter = truth["nte_quarter"]
    assert (_distance_to(result.places, quarter["centre"]) <= quarter["radius_m"]).all()


def test_nte_quarter_violence_peaks_in_the_planted_weekend_night_window(truth, demo_study):
    """Violence places in the NTE quarter peak on the planted Fri/Sat 22:00-03:00 nights."""
    study = demo_study(crime_types=["Violence and sexual offences"])
    result = rank_places(study, method="count", top=20)
    quarter = truth["nte_quarter"]
    in_quarter = result.places[_distance_to(result.places, quarter["centre"]) <= quarter["radius_m"]]
    assert len(in_quarter) >= 3
    window = truth["nte_window"]
    for peak in in_quarter["peak"]:
        words = peak.split(",")[0]
        day, hours = words.split(" ")[0], words.split(" ")[1]
        start, end = (int(h[:2]) for h in hours.split("-"))
        # A night belongs to the day it starts; Sunday 00:00-03:00 is the tail of Saturday night.
        assert day in window["days"] or (day == "Sun" and start == 0), words
        # Within an hour of the planted 22:00-03:00 (the profile is judged on 3-hour smoothed counts).
        assert (start >= window["start_hour"] - 1 or start <= 1) and 0 < end <= window["end_hour"] + 1, words


def test_top_burglary_place_is_the_planted_cluster(truth, demo_study):
    study = demo_study(crime_types=["Burglary"])
    result = rank_places(study, method="count", top=3)
    cluster = truth["burglary_cluster"]
    assert _distance_to(result.places, cluster["centre"]).iloc[0] <= cluster["radius_m"]


def test_no_place_in_the_quiet_area(truth, demo_study):
    result = rank_places(demo_study(), method="count", top=50)
    quiet = truth["quiet_area"]
    assert (_distance_to(result.places, quiet["centre"]) > quiet["radius_m"]).all()


def test_profiles_hold_every_record_of_each_place(demo_study):
    result = rank_places(demo_study(), method="count", top=10)
    for place_id, count in zip(result.places["id"], result.places["count"]):
        assert result.profiles[place_id].sum() == count
        assert result.monthly[place_id].sum() == count
    assert len(result.monthly) == 24
    assert set(WEEKDAYS) == {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}


def test_hotspot_rank_with_no_arguments_prints_and_writes(tmp_path):
    out = tmp_path / "ranked.gpkg"
    run = subprocess.run(
        [sys.executable, "-m", "cli", "rank", "--out", str(out), "--top", "5"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "Top 5 places by count" in run.stdout
    assert "records kept from the demo town" in run.stderr
    assert "ranked" in pyogrio.list_layers(out)[:, 0]
    table = pd.read_csv(out.with_suffix(".csv"))
    for column in ("rank", "name", "count", "share", "cumulative_share", "lat", "lon"):
        assert column in table.columns
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    # The demo town sits near E 450000 N 300000: in England, so lat/lon are plausible.
    assert table["lat"].between(52.5, 53.5).all() and table["lon"].between(-1.9, -0.9).all()


def test_nte_option_keeps_night_records_only(tmp_path):
    out = tmp_path / "nte.gpkg"
    run = subprocess.run(
        [sys.executable, "-m", "cli", "rank", "--nte", "--quiet", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out.with_suffix(".csv"))
    for peak in table["peak"].dropna():
        hour = int(peak.split(" ")[1][:2])
        assert hour >= 19 or hour < 7, peak


def test_rank_outputs_carry_style_provenance_and_suppression(tmp_path, demo_study):
    from hotspot.io.outputs import read_layer_styles, read_provenance
    from hotspot.io.provenance import Provenance

    study = demo_study()
    result = rank_places(study, method="count", top=10)
    smallest = int(result.places["count"].min())
    provenance = Provenance.capture("rank", {"top": 10}, ["demo"], study.records)
    gpkg, csv = result.write(tmp_path / "ranked.gpkg", provenance=provenance, suppress_below=smallest + 1)[:2]
    table = pd.read_csv(csv)
    assert (table["count"].astype(str) == f"<{smallest + 1}").sum() >= 1
    assert "ranked" in set(read_layer_styles(gpkg)["f_table_name"])
    stored = read_provenance(gpkg)
    assert stored.records_kept == len(study.records)
    assert any(f"1 to {smallest}" in note for note in stored.disclosure)
    assert (tmp_path / "ranked.provenance.json").exists()
    layer = pyogrio.read_dataframe(gpkg, layer="ranked")
    assert layer.loc[layer["count"].isna(), "suppressed"].all()


def test_rank_report_option_writes_html(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "rank",
            "--quiet",
            "--top",
            "5",
            "--out",
            str(tmp_path / "r.gpkg"),
            "--report",
            str(tmp_path / "r.html"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in html and "High Street" in html
    assert (tmp_path / "r_figures").is_dir()


@pytest.mark.parametrize(
    "method, score_column",
    [
        ("gistar", "gi_z"),
        ("kde", "kde_value"),
        ("rtm", "rtm_score"),
        ("combined", "combined_score"),
    ],
)
def test_every_method_puts_the_top_place_in_the_town_centre(truth, method, score_column, demo_study):
    result = rank_places(demo_study(), method=method, top=3, band_m=300 if method == "gistar" else None)
    quarter = truth["nte_quarter"]
    assert _distance_to(result.places, quarter["centre"]).iloc[0] <= quarter["radius_m"]
    assert score_column in result.places and np.isfinite(result.places[score_column]).all()
    if method == "gistar":
        assert (result.places["gi_bin"] >= 2).all()


def test_rank_writes_each_places_weekday_hour_profile(tmp_path, demo_study):
    result = rank_places(demo_study(), method="count", top=3)
    written = result.write(tmp_path / "r.gpkg")
    profile = pd.read_csv(tmp_path / "r_weekday_hour.csv")
    assert len(profile) == 3 * 7 * 24
    totals = profile.groupby("id")["count"].sum()
    assert totals.to_dict() == dict(zip(result.places["id"], result.places["count"]))
    assert "ranked_weekday_hour" in pyogrio.list_layers(written[0])[:, 0]
