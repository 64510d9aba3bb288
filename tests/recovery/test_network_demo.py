"""Street segments on the demo town's streets: recovery of the planted hot segments and the unlit-street effect,
and the three CLI commands with --network writing styled line layers."""

from __future__ import annotations

import numpy as np
import pytest

from boundaries.demo.network import HOT_RRV, UNLIT_RRV, demo_network


@pytest.fixture(scope="module")
def scenario():
    from boundaries.demo.network import demo_network_study

    return demo_network(), demo_network_study()


def test_every_demo_record_snaps_to_its_own_street(scenario):
    demo, ns = scenario
    assert ns.snapped.n_not_snapped == 0
    names = ns.network.lixels["name"].to_numpy()[ns.snapped.lixel]
    located = demo.records["location"].str.removeprefix("On or near ").to_numpy()
    assert (names == located).mean() > 0.99  # the rest sit exactly on a junction shared with another street


def test_ranking_recovers_the_planted_hot_segments(scenario):
    from hotspot.places.segments import rank_segments

    demo, ns = scenario
    result = rank_segments(ns.study, ns.network, ns.snapped, top=10)
    # every planted hot segment is in a top-10 stretch of its street, and the top 5 are planted ones
    top_streets = set(result.places["street"])
    assert set(demo.truth["hot_streets"]) <= top_streets
    assert set(result.places["street"].head(5)) <= set(demo.truth["hot_streets"])
    assert result.places["length_m"].head(5).max() < 70  # a single 50 m segment each, not a whole street
    assert (result.places["name"].str.contains(r", \d+ m (?:from|near) ")).all()


def test_ranking_by_network_density_lists_only_stretches_with_records(scenario):
    from hotspot.places.segments import rank_segments

    demo, ns = scenario
    result = rank_segments(ns.study, ns.network, ns.snapped, method="kde", length_share=0.01)
    assert (result.places["count"] > 0).all()
    assert set(demo.truth["hot_streets"]) <= set(result.places["street"])


def test_segment_gistar_flags_the_planted_hot_segments(scenario):
    from hotspot.network.gistar import gi_star_segments
    from hotspot.network.snap import lixel_counts

    demo, ns = scenario
    counts = lixel_counts(ns.network, ns.snapped)
    _, result = gi_star_segments(ns.network, counts, band_m=60.0, permutations=0)
    hot = np.array(demo.truth["hot_lixels"])
    assert (result.bin[hot] >= 2).all()  # hot at 95 % or more after FDR
    assert (result.bin == 3).sum() < 60  # and not much else


def test_unlit_street_effect_is_recovered(scenario):
    from hotspot.network.factors import fit_segment_risk, network_factors
    from hotspot.network.snap import lixel_counts

    demo, ns = scenario
    factors = network_factors(ns.network)
    counts = lixel_counts(ns.network, ns.snapped)
    lengths = ns.network.lixels["length_m"]
    # lighting alone: the planted hot segments (all on lit streets) raise the lit baseline a little
    alone = fit_segment_risk(counts, factors, lengths).table.set_index("factor").loc["unlit"]
    assert abs(alone["rrv"] / UNLIT_RRV - 1) < 0.1 and alone["p_value"] < 1e-6
    # the planted model's own terms: both multipliers inside their 95 % intervals
    factors["planted_hot"] = 0
    factors.loc[demo.truth["hot_lixels"], "planted_hot"] = 1
    table = fit_segment_risk(counts, factors, lengths).table.set_index("factor")
    assert table.loc["unlit", "rrv_low"] <= UNLIT_RRV <= table.loc["unlit", "rrv_high"]
    assert table.loc["planted_hot", "rrv_low"] <= HOT_RRV <= table.loc["planted_hot", "rrv_high"]


def test_network_kde_peaks_on_the_hot_segments(scenario):
    from hotspot.network.nkde import network_kde

    demo, ns = scenario
    s = ns.snapped
    density = network_kde(ns.network, s.edge, s.offset_m, bandwidth_m=100.0)
    top = np.argsort(-density.per_m)[:30]
    near_hot = ns.network.lixels["name"].to_numpy()[top]
    assert set(demo.truth["hot_streets"]) <= set(near_hot)
    # discontinuous: mass conserved except past dead ends
    assert 0.9 * density.n_events < density.mass <= density.n_events + 1e-6


def test_cli_commands_write_styled_line_layers(tmp_path):
    import pyogrio
    from typer.testing import CliRunner

    from cli import app
    from hotspot.io.outputs import read_layer_styles

    runner = CliRunner()
    rank_out = tmp_path / "rank.gpkg"
    r = runner.invoke(app, ["rank", "--over", "segments", "--top", "6", "--quiet", "--out", str(rank_out)])
    assert r.exit_code == 0, r.output
    ranked = pyogrio.read_dataframe(rank_out, layer="ranked")
    assert {"rank", "name", "count", "length_m", "per_km"} <= set(ranked.columns)
    assert set(ranked.geom_type) <= {"LineString", "MultiLineString"} and len(ranked) == 6
    assert "ranked" in set(read_layer_styles(rank_out)["f_table_name"])

    kde_out = tmp_path / "kde.gpkg"
    r = runner.invoke(app, ["kde", "--network", "demo", "--quiet", "--out", str(kde_out)])
    assert r.exit_code == 0, r.output
    layer = pyogrio.read_dataframe(kde_out, layer="network_kde")
    assert "density_per_km" in layer and (layer.geom_type == "LineString").all()

    gi_out = tmp_path / "gi.gpkg"
    r = runner.invoke(
        app, ["gistar", "--network", "demo", "--band", "60", "--permutations", "0", "--quiet", "--out", str(gi_out)]
    )
    assert r.exit_code == 0, r.output
    gi = pyogrio.read_dataframe(gi_out, layer="gistar")
    assert {"gi_z", "gi_bin", "count"} <= set(gi.columns)


def test_cli_rtm_on_the_network_finds_lighting_and_not_the_decoy(tmp_path):
    import pandas as pd
    import pyogrio
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "rtm.gpkg"
    r = CliRunner().invoke(app, ["rtm", "--network", "demo", "--quiet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    model = pd.read_csv(tmp_path / "rtm_segment_model.csv", comment="#").set_index("factor")
    assert model.loc["unlit", "rrv"] > 1.5 and model.loc["unlit", "p_value"] < 1e-6
    # the scenario's records ignore the demo town's post boxes (decoy): no effect
    decoy = model.loc[[f for f in model.index if f.startswith("decoy_")]].iloc[0]
    assert decoy["rrv_low"] <= 1.0 <= decoy["rrv_high"]
    layer = pyogrio.read_dataframe(out, layer="segment_risk")
    assert {"relative_risk", "expected_per_km", "unlit"} <= set(layer.columns)


def test_cli_bad_network_is_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    csv = tmp_path / "r.csv"
    csv.write_text("easting,northing,month\n450000,300000,2024-01\n")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import cli; cli.main()",
            "rank",
            str(csv),
            "--over",
            "segments",
            "--network",
            str(tmp_path / "missing.gpkg"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "--network" in run.stderr and "not found" in run.stderr


def test_records_far_from_every_street_are_one_clear_error(tmp_path):
    from boundaries.demo.network import demo_roads
    from hotspot.core.errors import HotspotInputError
    from hotspot.ingest.study import load_study
    from hotspot.network.study import network_study

    roads = tmp_path / "roads.gpkg"
    demo_roads().to_file(roads, layer="roads")
    csv = tmp_path / "far.csv"
    csv.write_text("easting,northing,month\n300000,500000,2024-01\n300010,500000,2024-02\n")
    study = load_study([csv])
    with pytest.raises(HotspotInputError, match="none of the 2 records lies within 30 m"):
        network_study(study, roads)
