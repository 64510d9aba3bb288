"""Street segments on the real City of London: OSM drive network and 36 months of police.uk records."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata]


@pytest.fixture(scope="module")
def city(shared_data):
    from hotspot.ingest.study import load_study
    from hotspot.network.study import network_study

    study = load_study([shared_data / "policeuk-cityoflondon"])
    roads = shared_data / "roads-cityoflondon" / "city_of_london_drive_osm.gpkg"
    return network_study(study, roads, segment_length_m=50.0, snap_tolerance_m=30.0)


def test_roads_read_with_names_and_lighting(shared_data):
    from hotspot.network.read import read_roads

    roads = read_roads(shared_data / "roads-cityoflondon" / "city_of_london_drive_osm.gpkg")
    assert len(roads) == 3418 and roads.crs.to_epsg() == 27700
    assert (roads["name"] != "").sum() >= 3387
    # SOURCES.md: lit yes 2,833, 24/7 24, no 8, missing 553 -> unlit = no + missing
    assert roads["unlit"].sum() == 8 + 553


def test_every_record_snaps_or_is_counted(city):
    s = city.snapped
    n = len(city.study.records)
    assert s.n_snapped + s.n_not_snapped == n
    assert np.nanmax(s.distance_m[s.snapped]) <= 30.0
    assert np.isnan(s.distance_m[~s.snapped]).all()
    # police.uk points sit on centrelines: most snap within a few metres; footway-only places do not snap
    assert np.median(s.distance_m[s.snapped]) < 5.0
    assert s.n_snapped / n > 0.85
    assert f"{s.n_not_snapped:,} not snapped" in s.describe()


def test_ranked_stretches_are_named(city):
    from hotspot.places.segments import rank_segments

    result = rank_segments(city.study, city.network, city.snapped, top=20)
    places = result.places
    assert len(places) == 20 and places["count"].is_monotonic_decreasing
    assert (places["street"] != "unnamed road").all()
    assert places["name"].str.match(r"^[^,]+, \d[\d,]* m( from .+ to .+| near .+)?$").all()
    assert (places["from_street"] != "").mean() >= 0.9
    # counts match the records snapped to each stretch's lixels
    total = int(np.bincount(city.snapped.lixel[city.snapped.snapped], minlength=city.network.n_lixels).sum())
    assert places["count"].sum() <= total
    np.testing.assert_allclose(places["per_km"], places["count"] / places["length_m"] * 1000, rtol=1e-2)


def test_segment_ranking_against_grid_at_the_same_coverage(city, capsys):
    from hotspot.places.segment_backtest import segment_vs_grid

    table = segment_vs_grid(city.study, city.network, city.snapped, test_from="2024-03", coverages=(0.02, 0.05, 0.10))
    with capsys.disabled():
        print("\n" + table.to_string(index=False))
    assert np.isfinite(table["hit_rate"]).all() and (table["pai"] > 1).all()
    seg = table[table["method"] == "segments"].set_index("coverage")
    assert (seg["covered"] - seg.index < 0.01).all()


def test_network_risk_factors_on_the_city(city, shared_data, capsys):
    import geopandas as gpd
    import pandas as pd

    from hotspot.network.factors import fit_segment_risk, network_factors
    from hotspot.network.snap import lixel_counts

    pubs = pd.read_csv(shared_data / "poi-licensed-premises" / "fhrs_pubs_bars_nightclubs_beds_london_2020.csv")
    pubs = pubs[pubs["la"].str.contains("City of London", case=False)].dropna(subset=["longitude", "latitude"])
    pubs = gpd.GeoDataFrame(pubs, geometry=gpd.points_from_xy(pubs["longitude"], pubs["latitude"]), crs="EPSG:4326")
    factors = network_factors(city.network, {"pubs": pubs}, distances_m=(50.0, 100.0, 200.0))
    # network distance bands nest: within 50 m implies within 100 m implies within 200 m
    assert (factors["pubs_within_50m"] <= factors["pubs_within_100m"]).all()
    assert (factors["pubs_within_100m"] <= factors["pubs_within_200m"]).all()
    assert factors["unlit"].sum() == city.network.lixels["unlit"].sum()
    model = fit_segment_risk(
        lixel_counts(city.network, city.snapped),
        factors[["unlit", "pubs_within_100m"]],
        city.network.lixels["length_m"],
    )
    with capsys.disabled():
        print("\n" + model.table[["factor", "rrv", "rrv_low", "rrv_high", "p_value"]].to_string(index=False))
    table = model.table.set_index("factor")
    assert table.loc["pubs_within_100m", "rrv_low"] > 1  # the City's crime gathers where its pubs are
    assert np.isfinite(table["rrv"]).all()
