"""RTM stages against independent references on small synthetic rasters."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import rtm
from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from rtm.layers import feature_cells, nearest_feature_distance
from rtm.selection import aggregate_rows
from rtm.validation import auc, hit_rate, pai

CRS = "EPSG:27700"


def _points(x, y):
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(np.asarray(x, float), np.asarray(y, float)), crs=CRS)


# --- proximity --------------------------------------------------------------------------------


def _brute_cell_distance(grid: Grid, cells: np.ndarray) -> np.ndarray:
    xs, ys = grid.cell_centres()
    fx, fy = xs[cells], ys[cells]
    d = np.hypot(xs.ravel()[:, None] - fx[None, :], ys.ravel()[:, None] - fy[None, :])
    return d.min(axis=1).reshape(grid.shape)


def test_proximity_cell_rule_matches_exhaustive_search():
    rng = np.random.default_rng(3)
    grid = Grid(1000.0, 5000.0, 25.0, 23, 17)
    pts = _points(rng.uniform(1000, 1575, 7), rng.uniform(4575, 5000, 7))
    line = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(1110.3, 4640.7), (1390.2, 4920.9), (1500.1, 4700.4)])], crs=CRS
    )
    both = pd.concat([pts, line], ignore_index=True)
    got = nearest_feature_distance(both, grid, refine=1)
    # Feature cells by brute force: points by floor division, the line by polygon intersection.
    cells = np.zeros(grid.shape, dtype=bool)
    col = np.floor((pts.geometry.x - grid.xmin) / grid.cell_size).astype(int)
    row = np.floor((grid.ymax - pts.geometry.y) / grid.cell_size).astype(int)
    cells[row, col] = True
    r, c = np.indices(grid.shape)
    boxes = grid.cell_polygons(r.ravel(), c.ravel())
    cells |= shapely.intersects(boxes, line.geometry.iloc[0]).reshape(grid.shape)
    np.testing.assert_allclose(got, _brute_cell_distance(grid, cells), atol=1e-9)


def test_proximity_refined_is_exact_for_points_and_close_for_lines():
    rng = np.random.default_rng(4)
    grid = Grid(0.0, 1000.0, 50.0, 20, 20)
    pts = _points(rng.uniform(0, 1000, 5), rng.uniform(0, 1000, 5))
    line = shapely.LineString([(120.0, 130.0), (880.0, 610.0)])
    xs, ys = grid.cell_centres()
    exact_pts = np.min(
        np.hypot(xs[..., None] - pts.geometry.x.to_numpy(), ys[..., None] - pts.geometry.y.to_numpy()), axis=-1
    )
    np.testing.assert_allclose(nearest_feature_distance(pts, grid, refine=5), exact_pts, atol=1e-9)
    exact_line = shapely.distance(shapely.points(xs, ys), line)
    got = nearest_feature_distance(gpd.GeoDataFrame(geometry=[line], crs=CRS), grid, refine=5)
    assert np.max(np.abs(got - exact_line)) <= 0.71 * 50 / 5 + 1e-9


def test_proximity_sees_features_outside_the_grid():
    grid = Grid(0.0, 500.0, 50.0, 10, 10)
    outside = _points([-80.0], [275.0])  # 80 m west of the grid, level with row 4's centre
    got = nearest_feature_distance(outside, grid, pad_m=200.0, refine=1)
    assert got[4, 0] == pytest.approx(100.0)  # feature cell centre at x=-75, cell centre at x=25
    assert np.isinf(nearest_feature_distance(_points([-5000.0], [0.0]), grid, pad_m=100.0, refine=1)).all()


def test_polygon_interior_is_distance_zero():
    grid = Grid(0.0, 500.0, 50.0, 10, 10)
    poly = gpd.GeoDataFrame(geometry=[shapely.box(100, 100, 300, 300)], crs=CRS)
    d = nearest_feature_distance(poly, grid, refine=1)
    assert d[5, 3] == 0.0 and d[0, 0] > 0
    assert feature_cells(poly, grid).sum() == 4 * 4
    # all_touched: a box reaching 10 m into the next cells takes them whole.
    wider = gpd.GeoDataFrame(geometry=[shapely.box(90, 90, 310, 310)], crs=CRS)
    assert feature_cells(wider, grid).sum() == 6 * 6


# --- density ----------------------------------------------------------------------------------


def test_density_layer_matches_quartic_reference():
    rng = np.random.default_rng(5)
    grid = Grid(0.0, 1500.0, 50.0, 30, 30)
    x = np.concatenate([rng.normal(500, 80, 25), rng.uniform(0, 1500, 15)])
    y = np.concatenate([rng.normal(900, 80, 25), rng.uniform(0, 1500, 15)])
    mask = np.zeros(grid.shape, dtype=bool)
    mask[2:28, 3:27] = True
    cand = rtm.operationalise({"f": _points(x, y)}, grid, [100.0, 200.0], mask, operationalisations=("density",))
    xs, ys = grid.cell_centres()
    for h in (100.0, 200.0):
        d = np.hypot(xs[..., None] - x, ys[..., None] - y) / h
        ref = np.sum(np.where(d < 1, 3 / (math.pi * h * h) * (1 - d * d) ** 2, 0.0), axis=-1) * 1e6
        cut = ref[mask].mean() + 2 * ref[mask].std()
        layer = cand.stack[cand.index("f", "density", h)].astype(bool)
        np.testing.assert_array_equal(layer, ref > cut)
        assert cand.threshold[cand.index("f", "density", h)] == pytest.approx(cut, rel=1e-9)


def test_operationalise_layout_and_bad_distances():
    grid = Grid(0.0, 500.0, 50.0, 10, 10)
    cand = rtm.operationalise({"a": _points([120], [130]), "b": _points([400], [400])}, grid, [100, 50])
    assert len(cand.names) == 2 * 2 * 2
    assert cand.names[0] == "a:proximity:50" and list(cand.distance_m[:2]) == [50.0, 100.0]
    assert cand.stack.shape == (8, 10, 10)
    with pytest.raises(HotspotInputError, match="--distances"):
        rtm.operationalise({"a": _points([1], [1])}, grid, [20.0])
    with pytest.raises(HotspotInputError, match="no risk factors"):
        rtm.operationalise({}, grid, [50.0])


# --- selection and fitting on a planted log-linear model ----------------------------------------


def _synthetic(seed: int, n: int = 110, base: float = 0.25):
    rng = np.random.default_rng(seed)
    grid = Grid(500000.0, 200000.0 + n * 50, 50.0, n, n)

    def pts(k):
        return _points(rng.uniform(grid.xmin, grid.xmax, k), rng.uniform(grid.ymin, grid.ymax, k))

    lines = []
    for _ in range(12):
        x0, y0 = rng.uniform(grid.xmin, grid.xmax), rng.uniform(grid.ymin, grid.ymax)
        ang, length = rng.uniform(0, np.pi), rng.uniform(300, 900)
        lines.append(shapely.LineString([(x0, y0), (x0 + length * np.cos(ang), y0 + length * np.sin(ang))]))
    feats = {"pubs": pts(35), "unlit": gpd.GeoDataFrame(geometry=lines, crs=CRS), "bus": pts(110), "decoy": pts(60)}
    truth = {"pubs": (150.0, 3.0), "unlit": (100.0, 2.0), "bus": (50.0, 1.5)}
    xs, ys = grid.cell_centres()
    eta = np.full(grid.shape, np.log(base))
    centres = shapely.points(xs, ys)
    for name, (d, rrv) in truth.items():
        # Exact distance to the nearest feature, via a buffer test (independent of the EDT / KD-tree code).
        zone = shapely.union_all(feats[name].geometry.buffer(d, quad_segs=32).values)
        eta += np.log(rrv) * shapely.intersects(zone, centres)
    counts = rng.poisson(np.exp(eta)).astype(float)
    return grid, feats, counts, truth


@pytest.fixture(scope="module")
def planted():
    grid, feats, counts, truth = _synthetic(2)
    cand = rtm.operationalise(feats, grid, [50, 100, 150, 200, 250, 300])
    sel = rtm.select(counts, cand, seed=0)
    model = rtm.fit(counts, sel)
    return grid, feats, counts, truth, cand, sel, model


def test_recovers_planted_factors_and_not_the_decoy(planted):
    grid, feats, counts, truth, cand, sel, model = planted
    table = model.model_table.set_index("factor")
    assert set(table.index) == set(truth)
    for name, (d, rrv) in truth.items():
        assert abs(table.at[name, "distance_m"] - d) <= 50.0
        assert table.at[name, "rrv"] == pytest.approx(rrv, rel=0.2)
        assert table.at[name, "rrv_low"] < table.at[name, "rrv"] < table.at[name, "rrv_high"]
    assert list(model.model_table.columns) == list(rtm.MODEL_COLUMNS)
    assert set(model.bic) == {"poisson", "negative_binomial"}
    assert model.family == min(model.bic, key=model.bic.get)


def test_at_most_one_layer_per_factor(planted):
    *_, sel, model = planted
    kept = sel.table[sel.table["status"] == "kept"]
    assert kept["factor"].is_unique
    assert model.model_table["factor"].is_unique


def test_same_seed_same_model_and_folds_matter(planted):
    grid, feats, counts, truth, cand, sel, model = planted
    again = rtm.select(counts, cand, seed=0)
    pd.testing.assert_frame_equal(again.table, sel.table)
    pd.testing.assert_frame_equal(rtm.fit(counts, again).model_table, model.model_table)
    other = rtm.select(counts, cand, seed=1)
    assert not np.array_equal(other.cv_deviance, sel.cv_deviance)


def test_refit_matches_independent_poisson_mle(planted):
    from scipy.optimize import minimize

    grid, feats, counts, truth, cand, sel, model = planted
    if model.family != "poisson":
        model = rtm.fit(counts, sel, family="poisson")
    X = cand.design(columns=model.table["layer"].tolist())
    y = counts[cand.mask]
    A = np.column_stack([np.ones(len(y)), X])

    def nll(b):
        return np.sum(np.exp(A @ b) - y * (A @ b))

    def grad(b):
        return A.T @ (np.exp(A @ b) - y)

    ref = minimize(nll, np.zeros(A.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-8}).x
    np.testing.assert_allclose(model.table["coef"], ref[1:], atol=1e-4)
    assert model.intercept == pytest.approx(ref[0], abs=1e-4)


def test_aggregated_rows_give_the_same_penalised_fit():
    from glum import GeneralizedLinearRegressor

    rng = np.random.default_rng(7)
    X = (rng.random((3000, 5)) < [0.1, 0.2, 0.3, 0.05, 0.5]).astype(float)
    y = rng.poisson(np.exp(-1 + X @ [0.8, 0.0, 0.4, 1.0, 0.0])).astype(float)
    Xa, ya, wa = aggregate_rows(X, y)
    assert len(Xa) <= 32 and wa.sum() == 3000
    full = GeneralizedLinearRegressor(family="poisson", alpha=0.01, l1_ratio=1.0).fit(X, y)
    merged = GeneralizedLinearRegressor(family="poisson", alpha=0.01, l1_ratio=1.0).fit(Xa, ya, sample_weight=wa)
    np.testing.assert_allclose(merged.coef_, full.coef_, atol=1e-5)


def test_pure_noise_keeps_nothing():
    rng = np.random.default_rng(11)
    grid = Grid(0.0, 3000.0, 50.0, 60, 60)
    feats = {"a": _points(rng.uniform(0, 3000, 40), rng.uniform(0, 3000, 40))}
    counts = rng.poisson(0.5, grid.shape).astype(float)
    cand = rtm.operationalise(feats, grid, [50, 100, 150])
    model = rtm.fit(counts, rtm.select(counts, cand, seed=0))
    assert model.model_table.empty
    surface = rtm.score(model)
    assert np.all(surface.relative_risk == 1.0)


# --- score and priority places --------------------------------------------------------------------


def test_score_is_product_of_rrvs_present(planted):
    grid, feats, counts, truth, cand, sel, model = planted
    surface = rtm.score(model)
    expected = np.ones(grid.shape)
    for row in model.table.itertuples():
        expected *= np.where(cand.stack[row.layer] == 1, row.rrv, 1.0)
    expected /= expected[cand.mask].min()
    np.testing.assert_allclose(surface.relative_risk[cand.mask], expected[cand.mask], rtol=1e-12)
    assert np.nanmin(surface.relative_risk) == pytest.approx(1.0)


def test_priority_places_cover_the_top_tier_with_narratives(planted):
    grid, feats, counts, truth, cand, sel, model = planted
    surface = rtm.score(model)
    places = rtm.priority_places(surface, counts=counts)
    top = rtm.priority_mask(surface)
    values = surface.relative_risk[cand.mask]
    assert top.sum() == np.sum(values > values.mean() + 2 * values.std())
    assert places["n_cells"].sum() == top.sum()
    np.testing.assert_allclose(places.geometry.area, places["area_m2"])
    assert places["crimes"].sum() == counts[top].sum()
    assert places["relative_risk"].is_monotonic_decreasing
    first = places.iloc[0]
    assert first["narrative"].startswith("near ") and " and " in first["narrative"]
    # Every cell of a place carries the place's narrative.
    narratives = surface.narratives()
    r, c = np.nonzero(top)
    assert set(narratives[r, c]) == set(places["narrative"])
    # Risk is briefed against the average study cell that holds any crime, not the emptiest cell.
    with_crime = cand.mask & (counts > 0)
    average = surface.relative_risk[with_crime].mean()
    assert average > 1.0  # the crime-free emptiest cell scores 1, so "x the lowest cell" overstates
    np.testing.assert_allclose(places["risk_vs_average"], places["relative_risk"] / average)
    assert rtm.priority_places(surface)["risk_vs_average"].iloc[0] == pytest.approx(
        first["relative_risk"] / surface.relative_risk[cand.mask].mean()
    )  # without counts: every study cell


# --- validation metrics ---------------------------------------------------------------------------


def test_hit_rate_pai_auc_against_brute_force():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(9)
    score = rng.random((20, 20))
    counts = rng.poisson(score * 2).astype(float)
    order = np.argsort(-score.ravel())
    k = int(0.05 * 400)
    assert hit_rate(score, counts, share=0.05) == pytest.approx(counts.ravel()[order[:k]].sum() / counts.sum())
    assert pai(score, counts, share=0.05) == pytest.approx(hit_rate(score, counts, share=0.05) / 0.05)
    pos, neg = score[counts > 0], score[counts == 0]
    u = mannwhitneyu(pos, neg).statistic
    assert auc(score, counts) == pytest.approx(u / (pos.size * neg.size))


def test_hit_rate_splits_ties_in_proportion():
    score = np.array([[3.0, 2.0, 2.0, 1.0]])
    counts = np.array([[1.0, 4.0, 0.0, 5.0]])
    # Top half = the 3 plus one of the two tied 2s: expected crimes 1 + (4 + 0) / 2 = 3 of 10.
    assert hit_rate(score, counts, share=0.5) == pytest.approx(0.3)
    assert hit_rate(np.ones((5, 5)), np.arange(25.0).reshape(5, 5), share=0.2) == pytest.approx(0.2)


def test_validate_against_kde_baseline(planted):
    grid, feats, counts, truth, cand, sel, model = planted
    surface = rtm.score(model)
    result = rtm.RTMResult(
        grid=grid,
        mask=cand.mask,
        counts=counts,
        candidates=cand,
        selection=sel,
        model=model,
        surface=surface,
        priority_places=None,
    )
    # A later period drawn from the same planted model.
    rng = np.random.default_rng(99)
    lam = np.exp(model.intercept) * surface.relative_risk
    later = rng.poisson(np.nan_to_num(lam)).astype(float)
    check = rtm.validate(result, later, kde_bandwidth_m=200.0)
    assert set(check.table["method"]) == {"rtm", "kde"}
    assert check.metric("rtm", "auc") > 0.55
    assert check.metric("rtm", "pai", 0.05) > 1.5
    assert check.n_test_crimes == int(later.sum())


# --- factor files -----------------------------------------------------------------------------------


def test_factor_options_and_toml(tmp_path):
    from rtm.factors import collect_factor_specs, parse_factor_option, read_factor_layer

    assert parse_factor_option("pubs=a/b.gpkg") == ("pubs", Path("a/b.gpkg"))
    with pytest.raises(HotspotInputError, match="NAME=PATH"):
        parse_factor_option("pubs.gpkg")
    csv = tmp_path / "pts.csv"
    pd.DataFrame({"name": ["a", "b"], "longitude": [-0.46, -0.47], "latitude": [52.13, 52.14]}).to_csv(csv, index=False)
    toml = tmp_path / "f.toml"
    toml.write_text('[factors]\npubs = "pts.csv"\n')
    specs = collect_factor_specs(["bars=pts.csv"], toml)
    assert set(specs) == {"pubs", "bars"} and specs["pubs"][0] == csv
    frame = read_factor_layer(csv, CRS, name="pubs")
    assert frame.crs.to_string() == CRS and 500_000 < frame.geometry.x.iloc[0] < 510_000
    with pytest.raises(HotspotInputError, match="given twice"):
        collect_factor_specs(["pubs=x.csv"], toml)
    with pytest.raises(HotspotInputError, match="file not found"):
        read_factor_layer(tmp_path / "missing.gpkg", CRS, name="x")


def test_merged_refit_matches_per_cell_statsmodels():
    import statsmodels.api as sm
    from statsmodels.discrete.discrete_model import NegativeBinomial

    from rtm.model import _fit_both

    rng = np.random.default_rng(12)
    X = (rng.random((4000, 3)) < [0.1, 0.25, 0.4]).astype(float)
    mu = np.exp(-0.5 + X @ [1.0, 0.5, 0.2])
    y = rng.negative_binomial(1 / 0.8, 1 / (1 + 0.8 * mu)).astype(float)  # NB2 with alpha 0.8
    fits, bic, nb_failure = _fit_both(y, X)
    assert nb_failure is None
    A = sm.add_constant(X)
    pois = sm.GLM(y, A, family=sm.families.Poisson()).fit()
    np.testing.assert_allclose(fits["poisson"][0], pois.params, atol=1e-8)
    np.testing.assert_allclose(fits["poisson"][1], pois.bse, rtol=1e-6)
    assert fits["poisson"][3] == pytest.approx(pois.llf, rel=1e-10)
    nb = NegativeBinomial(y, A, loglike_method="nb2").fit(disp=0, maxiter=200)
    np.testing.assert_allclose(fits["negative_binomial"][0], nb.params[:-1], atol=1e-4)
    np.testing.assert_allclose(fits["negative_binomial"][1], nb.bse[:-1], rtol=0.02)
    assert fits["negative_binomial"][5] == pytest.approx(nb.params[-1], rel=1e-3)
    assert fits["negative_binomial"][3] == pytest.approx(nb.llf, rel=1e-8)
    assert bic["negative_binomial"] < bic["poisson"]


def test_study_helpers():
    from hotspot.core.records import Records
    from rtm.run import parse_distances, split_at_month

    assert parse_distances("50, 100,150") == [50.0, 100.0, 150.0] and parse_distances(None) is None
    with pytest.raises(HotspotInputError, match="--distances"):
        parse_distances("50,-1")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0], "month": ["2023-01", "2023-02", "2023-03"]})
    train, test = split_at_month(Records(frame=frame, crs=CRS), "2023-02")
    assert list(train.frame["month"]) == ["2023-01"] and list(test.frame["month"]) == ["2023-02", "2023-03"]
    with pytest.raises(HotspotInputError, match="--test-from"):
        split_at_month(Records(frame=frame, crs=CRS), "2024-01")
    with pytest.raises(HotspotInputError, match="YYYY-MM"):
        split_at_month(Records(frame=frame, crs=CRS), "March")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 6))
def test_hit_rate_is_monotone_and_bounded(seed, levels):
    rng = np.random.default_rng(seed)
    score = rng.integers(0, levels, (8, 9)).astype(float)  # few levels: many ties
    counts = rng.poisson(1.0, (8, 9)).astype(float)
    counts[0, 0] += 1  # at least one crime
    shares = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0]
    rates = [hit_rate(score, counts, share=s) for s in shares]
    assert all(0 <= r <= 1 + 1e-12 for r in rates)
    assert all(a <= b + 1e-12 for a, b in zip(rates, rates[1:]))
    assert rates[-1] == pytest.approx(1.0)
    # Ranking by a random score is, in expectation, no better than chance: with one score level, hit rate = share.
    assert hit_rate(np.zeros((8, 9)), counts, share=0.25) == pytest.approx(0.25)
