"""Area statistics against published values, hand computations and brute force on a tiny synthetic town."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import poisson

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import Records
from hotspot.stats.areas import (
    CENSUS_AGE_BANDS,
    ESP2013,
    area_statistics,
    direct_standardised_rate,
    esp_weights,
    parse_age_band,
    poisson_ci,
)


def test_exact_poisson_interval_matches_published_values():
    lo, hi = poisson_ci([0, 10])
    assert lo[0] == 0 and hi[0] == pytest.approx(3.689, abs=5e-4)
    assert lo[1] == pytest.approx(4.795, abs=5e-4) and hi[1] == pytest.approx(18.390, abs=5e-4)
    # Definition of the Garwood limits: tail probabilities of 2.5 % at each end.
    for o in (1, 7, 250):
        lo, hi = poisson_ci(o)
        assert poisson.cdf(o, hi) == pytest.approx(0.025, abs=1e-9)
        assert poisson.sf(o - 1, lo) == pytest.approx(0.025, abs=1e-9)


def test_esp_collapsed_to_census_bands():
    w = esp_weights(CENSUS_AGE_BANDS) * 100_000
    np.testing.assert_allclose(w, [17100, 10400, 12500, 21000, 19500, 19500])
    five_year = [f"{a}-{a + 4}" for a in range(0, 90, 5)] + ["90+"]
    np.testing.assert_allclose(esp_weights(five_year) * 100_000, ESP2013)
    assert parse_age_band("85 and over") == (85, None)
    with pytest.raises(HotspotInputError):
        esp_weights(["age_0_20", "age_16_24"])


def test_direct_standardisation_against_a_hand_computation():
    # Two bands: ESP 0-49 = 61,000 and 50+ = 39,000 of 100,000.
    bands = ["age_0_49", "age_50_plus"]
    np.testing.assert_allclose(esp_weights(bands), [0.61, 0.39])
    rate, low, high = direct_standardised_rate([[10, 30]], [[1000, 500]], esp_weights(bands))
    assert rate[0] == pytest.approx(0.61 * 10 / 1000 * 1000 + 0.39 * 30 / 500 * 1000)  # 29.5 per 1,000
    # Dobson: var = sum (w/n)^2 O; O = 40 with exact limits 28.577-54.469 (published tables).
    var = (0.61 / 1000) ** 2 * 10 + (0.39 / 500) ** 2 * 30
    scale = math.sqrt(var / 40) * 1000
    assert low[0] == pytest.approx(29.5 + scale * (28.577 - 40), abs=2e-3)
    assert high[0] == pytest.approx(29.5 + scale * (54.469 - 40), abs=2e-3)
    # Equal age-specific rates: the standardised rate is that rate, whatever the population's ages.
    pop = np.array([[400, 900, 100, 700, 300, 600]])
    r, _, _ = direct_standardised_rate(pop * 0.05, pop, esp_weights(CENSUS_AGE_BANDS))
    assert r[0] == pytest.approx(50.0)


# --- a tiny town: five 1 km squares in a row -------------------------------------------------------------

CODES = [f"E0100000{i}" for i in range(1, 6)]
AREAS = gpd.GeoDataFrame(
    {"area_code": CODES, "area_name": [f"Town 00{i}A" for i in range(1, 6)]},
    geometry=[shapely.box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(5)],
    crs="EPSG:27700",
)
COUNTS = [60, 25, 10, 5, 0]


def _town_records(extra_unmatched: bool = True, ages: bool = False) -> Records:
    rng = np.random.default_rng(0)
    rows = []
    bands = ["age_0_49", "age_50_plus"]
    for i, n in enumerate(COUNTS):
        for k in range(n):
            rows.append(
                {
                    "x": i * 1000 + rng.uniform(1, 999),
                    "y": rng.uniform(1, 999),
                    "lsoa_code": CODES[i],
                    "month": "2023-01" if k % 2 else "2023-12",
                    "age_band": bands[k % 2] if ages else "",
                }
            )
    if extra_unmatched:
        rows.append({"x": 9000.0, "y": 500.0, "lsoa_code": "", "month": "2023-05", "age_band": ""})
        rows.append({"x": 9500.0, "y": 500.0, "lsoa_code": "W01999999", "month": "2023-05", "age_band": ""})
    frame = pd.DataFrame(rows)
    if not ages:
        frame = frame.drop(columns="age_band")
    return Records(frame, "EPSG:27700")


POP = pd.DataFrame({"lsoa21_code": CODES, "total": [1000, 1000, 1000, 1000, 1000]})


def test_counts_ranks_shares_quintiles_and_unmatched_records():
    s = area_statistics(_town_records(), AREAS)
    t = s.table.set_index("area_code")
    assert t["count"].tolist() == COUNTS
    assert t["share"].sum() == pytest.approx(1.0)
    assert t["rank"].tolist() == [1, 2, 3, 4, 5]
    assert t["quintile"].tolist() == [1, 2, 3, 4, 5]
    assert (s.n_records, s.n_matched, s.n_unmatched) == (102, 100, 2)
    assert s.table["count"].sum() + s.n_unmatched == s.n_records
    assert any("2 of 102 records matched no area" in n for n in s.notes)
    assert s.concentration.top20_share == pytest.approx(0.6)


def test_spatial_join_agrees_with_codes_inside_the_polygons():
    by_code = area_statistics(_town_records(), AREAS, join="code")
    spatial = area_statistics(_town_records(), AREAS, join="spatial")
    assert spatial.table["count"].tolist() == by_code.table["count"].tolist()
    assert spatial.n_unmatched == 2 and spatial.join == "spatial"
    auto = area_statistics(_town_records(), AREAS, join="auto")
    # The rule every command uses: the record's own code where it matches, else its position.
    assert auto.join == "auto" and auto.table["count"].tolist() == by_code.table["count"].tolist()


def test_rates_exact_intervals_and_flags_against_the_whole_area_rate():
    s = area_statistics(_town_records(), AREAS, population=POP)
    t = s.table.set_index("area_code")
    assert s.overall["rate_per_1000"] == pytest.approx(100 / 5000 * 1000)  # 20 per 1,000
    lo, hi = poisson_ci(np.array(COUNTS))
    np.testing.assert_allclose(t["rate_per_1000"], np.array(COUNTS) / 1000 * 1000)
    np.testing.assert_allclose(t["rate_low"], lo)
    np.testing.assert_allclose(t["rate_high"], hi)
    # 60 (40.8-77.2) is above 20, 25 (16.2-36.9) and 10 (4.8-18.4) ... against 20:
    assert t["flag"].tolist() == ["higher", "similar", "lower", "lower", "lower"]
    assert any("over the 12 months 2023-01 to 2023-12" in n for n in s.notes)
    yearly = area_statistics(_town_records(), AREAS, population=POP, per_year=True)
    np.testing.assert_allclose(yearly.table["rate_per_1000"], t["rate_per_1000"].to_numpy())  # 12 months = 1 year


def test_age_standardised_rates_per_area_match_a_direct_computation():
    pop = pd.DataFrame(
        {"area_code": CODES, "age_0_49": [600, 500, 400, 700, 800], "age_50_plus": [400, 500, 600, 300, 200]}
    )
    s = area_statistics(_town_records(ages=True), AREAS, population=pop)
    t = s.table.set_index("area_code")
    for i, code in enumerate(CODES):
        young = COUNTS[i] - COUNTS[i] // 2  # k even -> age_0_49
        old = COUNTS[i] // 2
        expected = (0.61 * young / pop.loc[i, "age_0_49"] + 0.39 * old / pop.loc[i, "age_50_plus"]) * 1000
        assert t.loc[code, "asr_per_1000"] == pytest.approx(expected)
        assert t.loc[code, "population"] == 1000  # total from the bands
    assert t.loc[CODES[-1], "asr_low"] == 0 and np.isnan(t.loc[CODES[-1], "asr_high"])
    no_ages = area_statistics(_town_records(), AREAS, population=pop)
    assert no_ages.table["asr_per_1000"].isna().all()
    assert any("police.uk publishes no ages" in n for n in no_ages.notes)


def test_deprivation_deciles_and_top_quintile_wards():
    imd = pd.DataFrame({"LSOA21CD": CODES, "IMD25_DECILE": ["1", "1", "5", "10", "10"]})
    lookup = pd.DataFrame(
        {
            "LSOA21CD": CODES,
            "WD24CD": ["W1", "W1", "W2", "W2", "W3"],
            "WD24NM": ["North", "North", "South", "South", "East"],
        }
    )
    s = area_statistics(_town_records(), AREAS, population=POP, imd=imd, lookup=lookup)
    d = s.by_decile.set_index("imd_decile")
    assert len(d) == 10 and d["count"].sum() == 100
    assert d.loc[1, "count"] == 85 and d.loc[1, "areas"] == 2 and d.loc[1, "rate_per_1000"] == pytest.approx(42.5)
    assert d.loc[10, "count"] == 5 and d.loc[3, "areas"] == 0 and np.isnan(d.loc[3, "rate_per_1000"])
    w = s.wards_with_top_quintile
    assert w["ward_code"].tolist() == ["W1"] and w.loc[0, "ward_name"] == "North"
    assert w.loc[0, "top_quintile_areas"] == 1 and w.loc[0, "areas"] == 2 and w.loc[0, "top_quintile_count"] == 60
    assert s.table["ward_name"].tolist() == ["North", "North", "South", "South", "East"]


def test_bad_tables_are_one_line_input_errors():
    with pytest.raises(HotspotInputError, match="no column of area codes"):
        area_statistics(_town_records(), AREAS, population=pd.DataFrame({"code": ["X"], "total": ["1"]}))
    with pytest.raises(HotspotInputError, match="not a number"):
        area_statistics(
            _town_records(), AREAS, population=pd.DataFrame({"area_code": CODES, "total": ["1", "x", "1", "1", "1"]})
        )
    with pytest.raises(HotspotInputError, match="--join"):
        area_statistics(_town_records(), AREAS, join="nearest")
    with pytest.raises(HotspotInputError, match="decile"):
        area_statistics(_town_records(), AREAS, imd=pd.DataFrame({"area_code": CODES, "rank": [1, 2, 3, 4, 5]}))


def test_write_geopackage_and_csvs(tmp_path):
    import pyogrio

    imd = pd.DataFrame({"area_code": CODES, "decile": [1, 2, 3, 4, 5]})
    s = area_statistics(_town_records(), AREAS, population=POP, imd=imd)
    written = s.write(tmp_path / "areas.gpkg")
    names = sorted(p.name for p in written)
    assert names == ["areas.csv", "areas.gpkg", "areas_by_decile.csv", "areas_lorenz.csv", "areas_month_of_year.csv"]
    layers = [name for name, _ in pyogrio.list_layers(tmp_path / "areas.gpkg")]
    assert "areas" in layers and "by_decile" in layers
    back = pd.read_csv(tmp_path / "areas.csv")
    assert back["count"].tolist() == COUNTS and "geometry" not in back


def test_ward_level_aggregates_lsoas_and_recomputes_everything():
    lookup = pd.DataFrame(
        {
            "LSOA21CD": CODES,
            "WD24CD": ["W1", "W1", "W2", "W2", "W3"],
            "WD24NM": ["North", "North", "South", "South", "East"],
        }
    )
    imd = pd.DataFrame({"area_code": CODES, "decile": [1, 2, 1, 9, 10]})
    pop = pd.DataFrame(
        {"area_code": CODES, "age_0_49": [600, 500, 400, 700, 800], "age_50_plus": [400, 500, 600, 300, 200]}
    )
    s = area_statistics(_town_records(ages=True), AREAS, population=pop, imd=imd, lookup=lookup, level="ward")
    t = s.table.set_index("area_code")
    assert t.index.tolist() == ["W1", "W2", "W3"] and s.level == "ward"
    assert t["count"].tolist() == [85, 15, 0] and t["share"].sum() == pytest.approx(1.0)
    assert t["population"].tolist() == [2000, 2000, 1000]
    assert t.loc["W1", "rate_per_1000"] == pytest.approx(85 / 2000 * 1000)
    assert t["lsoas"].tolist() == [2, 2, 1] and t["lsoas_imd_decile_1"].tolist() == [1, 1, 0]
    # Ward ASR from summed band counts and populations: W2 = areas 3 and 4.
    young, old = (5 + 3), (5 + 2)  # area 3: 10 records -> 5/5; area 4: 5 records -> 3/2
    assert t.loc["W2", "asr_per_1000"] == pytest.approx((0.61 * young / 1100 + 0.39 * old / 900) * 1000)
    assert t.loc["W1"].geometry.area == pytest.approx(2_000_000)
    assert s.wards_with_top_quintile is None and len(s.by_decile) == 10  # deciles stay per LSOA
    assert s.concentration.n_areas == 3
    with pytest.raises(HotspotInputError, match="--lookup"):
        area_statistics(_town_records(), AREAS, level="ward")
