"""Gi* recovers the demo town's planted hot spots and not its quiet area (real Bedfordshire data: tests/realdata/test_gistar_bedfordshire.py);
parity with esda on demo polygons; the band rule's Moran z against esda."""

import warnings

import numpy as np
import pytest


@pytest.fixture
def town(demo_town):
    return demo_town


def _records_of_type(town, crime_type):
    rec = town.records()
    return rec.with_frame(rec.frame[rec.frame["crime_type"] == crime_type])


@pytest.mark.parametrize(
    "cluster,crime_type", [("nte_quarter", "Violence and sexual offences"), ("burglary_cluster", "Burglary")]
)
def test_demo_planted_hotspots_hot_at_99_after_fdr(town, cluster, crime_type):
    from hotspot.stats.gistar import gi_star_points

    frame, res = gi_star_points(
        _records_of_type(town, crime_type),
        boundaries=town.lsoas,
        cell_size_m=100,
        band_m=300,
        permutations=999,
        correction="fdr",
    )
    assert res.correction == "fdr" and res.p_used == "max(p_sim, p)"
    cx, cy = town.truth[cluster]["centre"]
    centres = frame.geometry.centroid
    near = np.hypot(centres.x - cx, centres.y - cy) <= 150
    assert near.sum() >= 3
    assert (frame.loc[near, "gi_bin"] == 3).all()
    quiet = town.truth["quiet_area"]
    inside_quiet = np.hypot(centres.x - quiet["centre"][0], centres.y - quiet["centre"][1]) <= quiet["radius_m"] - 100
    assert inside_quiet.sum() >= 5
    assert (frame.loc[inside_quiet, "gi_bin"] <= 0).all()


def test_demo_lsoa_hotspots_queen(town):
    from hotspot.stats.gistar import gi_star_points

    # all crime types: per-LSOA violence alone is diluted because the central LSOAs are small
    frame, res = gi_star_points(town.records(), boundaries=town.lsoas, weights="queen")
    code = town.truth["nte_quarter"].get("lsoa_code_at_centre") or town.truth["hotspot_lsoas"]["nte_quarter"][0]
    assert frame.set_index("area_code").loc[code, "gi_bin"] == 3


def _esda_z(values, w):
    from esda import G_Local

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G_Local(values, w, transform="B", star=True, permutations=0).Zs


def test_demo_polygons_parity_with_esda(town):
    from hotspot.stats.gistar import count_points_in_areas, gi_star_areas
    from hotspot.stats.weights import area_weights

    counts, _ = count_points_in_areas(town.records(), town.lsoas)
    w = area_weights(town.lsoas, "queen")
    res = gi_star_areas(counts, w, permutations=0)
    assert np.max(np.abs(res.z - _esda_z(counts, area_weights(town.lsoas, "queen")))) < 1e-8


def test_band_moran_z_matches_esda():
    from esda import Moran
    from libpysal.weights import DistanceBand

    from hotspot.kernels.gistar import stencil_sums
    from hotspot.stats.band import moran_z_rand
    from hotspot.stats.weights import stencil_offsets

    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, (15, 17)).astype(float)
    counts[3:6, 4:8] += 4
    mask = np.ones(counts.shape, bool)
    dr, dc = stencil_offsets(300.0, 100.0)
    dev = counts - counts.mean()
    lag, k = stencil_sums(dev, mask, dr, dc)
    ours = moran_z_rand(counts.ravel(), lag.ravel(), k.ravel())
    xs, ys = np.meshgrid((np.arange(17) + 0.5) * 100, -(np.arange(15) + 0.5) * 100)
    w = DistanceBand(np.column_stack([xs.ravel(), ys.ravel()]), threshold=300.0, binary=True, silence_warnings=True)
    ref = Moran(counts.ravel(), w, transformation="B", permutations=0).z_rand
    assert ours == pytest.approx(ref, rel=1e-9)


def test_band_rule_peak_or_fallback_reported():
    from hotspot.stats.band import choose_band_grid

    rng = np.random.default_rng(5)
    noise = rng.poisson(1.0, (40, 40)).astype(float)
    band, rule = choose_band_grid(noise, 100.0)
    assert band >= 100 and ("peak" in rule or "fallback" in rule)
    clustered = noise.copy()
    yy, xx = np.mgrid[:40, :40]
    for cy, cx in ((10, 10), (28, 30), (12, 30)):
        clustered += rng.poisson(8 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2)))
    band2, rule2 = choose_band_grid(clustered, 100.0)
    assert 100 <= band2 <= 1000 and "m" in rule2
