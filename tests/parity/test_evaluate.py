"""Hit rate, PAI, RRI, the backtest and ``combined`` checked against brute force on tiny grids."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.records import Records
from hotspot.forecast.backtest import backtest
from hotspot.forecast.baselines import PreviousPeriod
from hotspot.forecast.combined import combined_score, tune_combined
from hotspot.stats.accuracy import forecast_metrics, hit_rate, pai, rri, select_top_area, selection_weights


def _brute_top(scores: np.ndarray, k: int) -> np.ndarray:
    """Top k cells by a plain Python sort on (-score, flat index)."""
    flat = scores.ravel()
    order = sorted(range(flat.size), key=lambda i: (-flat[i], i))[:k]
    sel = np.zeros(flat.size, dtype=bool)
    sel[order] = True
    return sel.reshape(scores.shape)


def test_select_top_area_matches_brute_force_and_breaks_ties_north_west_first():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(6, 5)).astype(float)  # many ties
    for share, k in [(0.1, 3), (0.2, 6), (1 / 30, 1), (0.5, 15)]:
        np.testing.assert_array_equal(select_top_area(scores, share), _brute_top(scores, k))
    flat = np.zeros((3, 3))
    assert select_top_area(flat, 2 / 9).ravel().tolist() == [True, True] + [False] * 7


def test_metrics_match_brute_force_on_a_tiny_grid():
    scores = np.array([[9.0, 1.0, 4.0], [7.0, 0.5, 2.0], [3.0, 8.0, 6.0], [5.0, 0.1, 0.2]])  # 12 distinct
    test = np.array([[3, 0, 1], [2, 0, 0], [0, 4, 1], [1, 0, 0]], dtype=float)
    train = np.array([[5, 1, 1], [2, 0, 1], [1, 3, 2], [2, 1, 1]], dtype=float)
    share = 3 / 12  # exactly three cells: scores 9, 8, 7
    selected = [(0, 0), (2, 1), (1, 0)]
    hits = sum(test[c] for c in selected)
    assert hit_rate(scores, test, share) == pytest.approx(hits / test.sum())
    assert pai(scores, test, share) == pytest.approx((hits / test.sum()) / share)
    recaptured = (hits / sum(train[c] for c in selected)) / (test.sum() / train.sum())
    assert rri(scores, test, train, share) == pytest.approx(recaptured)
    for ties in ("share", "index"):
        m = forecast_metrics(scores, test, share, train_counts=train, ties=ties)
        assert m.area_selected == pytest.approx(share)
        assert m.n_test == test.sum()


def test_tied_cutoff_is_the_expectation_over_all_tie_orders():
    scores = np.array([5.0, 3.0, 3.0, 3.0, 1.0, 1.0]).reshape(2, 3)
    test = np.array([2.0, 0.0, 3.0, 6.0, 1.0, 0.0]).reshape(2, 3)
    share = 2 / 6
    # Brute force: every order of the three tied cells, whole-cell selection of 2 cells.
    outcomes = []
    for perm in itertools.permutations([1, 2, 3]):
        chosen = [0, perm[0]]
        outcomes.append(test.ravel()[chosen].sum() / test.sum())
    assert hit_rate(scores, test, share) == pytest.approx(np.mean(outcomes))
    assert selection_weights(scores, share).sum() == pytest.approx(2.0)


def test_equal_area_fast_path_agrees_with_the_general_path():
    rng = np.random.default_rng(7)
    for _ in range(20):
        scores = rng.integers(0, 5, size=(8, 9)).astype(float)
        scores[rng.random(scores.shape) < 0.1] = np.nan
        mask = rng.random(scores.shape) < 0.9
        share = float(rng.uniform(0.01, 0.6))
        fast = selection_weights(scores, share, mask=mask)
        general = selection_weights(scores, share, mask=mask, cell_areas=np.full(scores.shape, 1.0))
        np.testing.assert_allclose(fast, general, atol=1e-12)
        eligible = mask & np.isfinite(scores)
        # The budget is a share of the study area (mask), NaN-scored cells included; they are never picked.
        assert fast.sum() == pytest.approx(min(share * mask.sum(), eligible.sum()))
        assert not fast[~eligible].any()


def test_unequal_cell_areas_fill_the_budget_by_area():
    scores = np.array([[3.0, 2.0, 1.0]])
    areas = np.array([[1.0, 2.0, 1.0]])
    w = selection_weights(scores, 0.5, cell_areas=areas)  # budget 2 of 4: all of cell 0, half of cell 1
    np.testing.assert_allclose(w, [[1.0, 0.5, 0.0]])
    assert select_top_area(scores, 0.5, cell_areas=areas).tolist() == [[True, True, False]]


def test_perfect_forecast_pai_is_one_over_area_share():
    rng = np.random.default_rng(3)
    test = np.zeros((20, 20))
    cells = rng.choice(400, size=4, replace=False)
    test.ravel()[cells] = [5, 3, 2, 1]
    for share in (0.01, 0.05, 0.2):
        for ties in ("share", "index"):
            assert pai(test, test, share, ties=ties) == pytest.approx(1 / share)
            assert hit_rate(test, test, share, ties=ties) == pytest.approx(1.0)


def test_uniform_forecast_pai_is_one():
    rng = np.random.default_rng(4)
    test = rng.poisson(2.0, size=(30, 40)).astype(float)
    mask = rng.random(test.shape) < 0.8
    for share in (0.01, 0.1, 0.37):
        assert pai(np.ones_like(test), test, share) == pytest.approx(1.0)
        assert pai(np.ones_like(test), test, share, mask=mask) == pytest.approx(1.0)
    # Whole-cell selection of random uniform fields averages to PAI 1 too (large-sample check, fixed seed).
    mean_pai = np.mean([pai(rng.random(test.shape), test, 0.1, ties="index") for _ in range(400)])
    assert mean_pai == pytest.approx(1.0, abs=0.05)


def test_rri_is_one_when_test_is_a_scaled_copy_of_training():
    rng = np.random.default_rng(5)
    train = rng.poisson(3.0, size=(10, 10)).astype(float)
    assert rri(rng.random(train.shape), 2 * train, train, 0.1) == pytest.approx(1.0)
    assert math.isnan(rri(np.arange(100.0).reshape(10, 10), train, np.zeros_like(train), 0.1))


def test_bad_area_share_is_one_line_input_error():
    with pytest.raises(HotspotInputError, match="--area-share"):
        pai(np.ones((2, 2)), np.ones((2, 2)), 0.0)
    with pytest.raises(HotspotInputError, match="--area-share"):
        select_top_area(np.ones((2, 2)), 1.5)


# --- records for the backtest ---------------------------------------------------------------------------


def _records(points_by_month: dict[str, list[tuple[float, float]]]) -> Records:
    rows = [(x, y, month) for month, pts in points_by_month.items() for x, y in pts]
    frame = pd.DataFrame(rows, columns=["x", "y", "month"])
    frame["crime_type"] = "Burglary"
    frame["lsoa_code"] = ""
    return Records(frame, "EPSG:27700")


GRID = Grid(0.0, 1000.0, 100.0, 10, 10)


def _months(n: int, start_year: int = 2022) -> list[str]:
    return [f"{start_year + (i // 12)}-{i % 12 + 1:02d}" for i in range(n)]


def test_backtest_folds_windows_and_a_perfect_repeat():
    # The same four hot points every month: previous period is a perfect forecast.
    pts = [(50, 950)] * 5 + [(150, 950)] * 3 + [(550, 450)] * 2 + [(950, 50)]
    records = _records({m: pts for m in _months(6)})
    prev = {"previous_period": PreviousPeriod(1)}
    res = backtest(records, GRID, prev, area_share=0.05, train_months=2, folds=3)
    assert res.folds[["train_from", "train_to", "test_from", "test_to"]].values.tolist() == [
        ["2022-02", "2022-03", "2022-04", "2022-04"],
        ["2022-03", "2022-04", "2022-05", "2022-05"],
        ["2022-04", "2022-05", "2022-06", "2022-06"],
    ]
    assert res.folds["pai"].tolist() == pytest.approx([20.0] * 3)
    assert res.folds["rri"].tolist() == pytest.approx([1.0] * 3)
    assert res.folds["n_test"].tolist() == [11] * 3
    assert res.means.loc[0, "pai"] == pytest.approx(20.0)
    # All earlier months, two-month test windows stepping by two, ending at the last month.
    res = backtest(records, GRID, prev, area_share=0.05, test_months=2)
    assert res.folds[["train_from", "train_to", "test_from", "test_to"]].values.tolist() == [
        ["2022-01", "2022-02", "2022-03", "2022-04"],
        ["2022-01", "2022-04", "2022-05", "2022-06"],
    ]


def test_backtest_needs_enough_months():
    records = _records({"2022-01": [(50, 50)], "2022-02": [(50, 50)]})
    with pytest.raises(HotspotInputError, match="training"):
        backtest(records, GRID, {"c": lambda t, g: np.ones(g.shape)}, train_months=3)


def test_backtest_never_shows_the_test_months_to_a_forecaster():
    rng = np.random.default_rng(8)
    records = _records({m: [tuple(p) for p in rng.uniform(0, 1000, size=(20, 2))] for m in _months(8)})
    seen = []

    def spy(train, grid):
        seen.append(sorted(train.frame["month"].unique()))
        return np.ones(grid.shape)

    res = backtest(records, GRID, {"spy": spy}, folds=3)
    for months, test_from in zip(seen, res.folds["test_from"]):
        assert max(months) < test_from


# --- combined ------------------------------------------------------------------------------------------


def test_combined_with_fixed_weights_matches_brute_force_recency_counts():
    months = _months(4)
    pts = {months[0]: [(50, 950)] * 4, months[1]: [(150, 950)] * 2, months[2]: [(550, 450)], months[3]: [(50, 950)]}
    records = _records(pts)
    score = combined_score(
        records, GRID, weights={"half_life_months": 2.0, "kde_weight": 0.0, "rtm_weight": 0.0, "neighbour_weight": 0.0}
    )
    expected = np.zeros(GRID.shape)
    ages = {months[0]: 3, months[1]: 2, months[2]: 1, months[3]: 0}
    for month, plist in pts.items():
        for x, y in plist:
            r, c, _ = GRID.cell_index(np.array([x]), np.array([y]))
            expected[r[0], c[0]] += 0.5 ** (ages[month] / 2.0)
    np.testing.assert_allclose(score, expected / expected.sum())
    # No decay: plain counts share; a reference month cuts later months off.
    flat = combined_score(
        records,
        GRID,
        weights={"half_life_months": math.inf, "kde_weight": 0.0, "neighbour_weight": 0.0},
        reference_month=months[1],
    )
    assert flat[0, 0] == pytest.approx(4 / 6) and flat[0, 1] == pytest.approx(2 / 6) and flat[5, 5] == 0


def test_combined_smoothing_is_a_quartic_kernel_on_cell_centres():
    records = _records({"2022-01": [(550, 450)]})
    score = combined_score(
        records,
        GRID,
        weights={"half_life_months": 1.0, "kde_weight": 1.0, "bandwidth_m": 150.0, "neighbour_weight": 0.0},
    )
    d2 = np.array([[2, 1, 2], [1, 0, 1], [2, 1, 2]]) * 100.0**2
    k = (1 - d2 / 150.0**2) ** 2
    np.testing.assert_allclose(score[4:7, 4:7], k / k.sum())
    assert score.sum() == pytest.approx(1.0)


def test_combined_weights_come_from_earlier_months_only():
    rng = np.random.default_rng(9)
    months = _months(7)
    base = {m: [tuple(p) for p in rng.uniform(0, 1000, size=(30, 2))] for m in months}
    a = _records(base)
    # Changing the last month must not change a score made with reference_month one month earlier.
    changed = dict(base)
    changed[months[-1]] = [(950, 950)] * 50
    b = _records(changed)
    fit_a = tune_combined(a, GRID, area_share=0.05, reference_month=months[-2])
    fit_b = tune_combined(b, GRID, area_share=0.05, reference_month=months[-2])
    assert fit_a.weights == fit_b.weights
    assert fit_a.validation_months == months[2:6]  # every month with 2 earlier ones, up to 6
    np.testing.assert_array_equal(
        combined_score(a, GRID, reference_month=months[-2], area_share=0.05),
        combined_score(b, GRID, reference_month=months[-2], area_share=0.05),
    )


def test_combined_picks_long_memory_when_hot_spots_are_stable():
    # Stable hot points plus noise: the tuned setting must beat (or tie) every single candidate on validation.
    rng = np.random.default_rng(10)
    hot = [(50, 950), (350, 650), (750, 250)]
    pts = {m: hot * 3 + [tuple(p) for p in rng.uniform(0, 1000, size=(10, 2))] for m in _months(8)}
    fit = tune_combined(_records(pts), GRID, area_share=0.03)
    assert fit.validation["mean_hit_rate"].max() == pytest.approx(
        fit.validation.loc[
            (fit.validation.drop(columns=["mean_hit_rate", "mean_pai"]) == pd.Series(fit.weights)).all(axis=1),
            "mean_hit_rate",
        ].iloc[0]
    )
    score = combined_score(_records(pts), GRID, area_share=0.03)
    top = select_top_area(score, 0.03)
    for x, y in hot:
        r, c, _ = GRID.cell_index(np.array([x]), np.array([y]))
        assert top[r[0], c[0]]


def test_combined_tunes_on_windows_as_long_as_the_horizon():
    rng = np.random.default_rng(11)
    records = _records({m: [tuple(p) for p in rng.uniform(0, 1000, size=(15, 2))] for m in _months(12)})
    fit = tune_combined(records, GRID, area_share=0.05, horizon_months=3)
    assert fit.horizon_months == 3
    assert fit.validation_months == [f"2022-{m:02d}..2022-{m + 2:02d}" for m in range(5, 11)]
    # A 12-month horizon on 12 months of history is cut to half the history (5 months).
    long = tune_combined(records, GRID, area_share=0.05, horizon_months=12)
    assert long.horizon_months == 5 and long.validation_months[-1] == "2022-08..2022-12"


def test_rtm_layer_is_fitted_per_fold_on_training_months_only(monkeypatch):
    import sys
    import types

    calls = []

    def build(records, features, *, grid, study_area=None, seed=0):
        calls.append(records.frame["month"].max())
        risk = np.ones(grid.shape)
        risk[9, 9] = 50.0  # the RTM points at the south-east corner
        return types.SimpleNamespace(relative_risk=risk)

    monkeypatch.setitem(sys.modules, "rtm.pipeline", types.SimpleNamespace(build=build))
    from hotspot.forecast.backtest import default_forecasters

    rng = np.random.default_rng(12)
    records = _records({m: [tuple(p) for p in rng.uniform(0, 900, size=(20, 2))] + [(950, 50)] * 3 for m in _months(8)})
    methods = default_forecasters(area_share=0.05, features={"f": object()})
    assert {"rtm", "combined_rtm"} <= set(methods)
    res = backtest(records, GRID, methods, area_share=0.05, folds=2)
    # One fit per fold (combined_rtm reuses the rtm fit), each on months before the test month.
    assert calls == ["2022-06", "2022-07"]
    assert res.folds.loc[res.folds["method"] == "rtm", "n_test"].tolist() == [23, 23]
    assert (res.folds.loc[res.folds["method"] == "rtm", "hit_rate"] >= 3 / 23 - 1e-12).all()


def test_nan_scores_still_count_in_the_area_and_their_crimes_in_the_test():
    scores = np.array([[5.0, np.nan], [1.0, 0.0]])
    test = np.array([[1.0, 3.0], [0.0, 0.0]])
    m = forecast_metrics(scores, test, 0.25)
    assert m.n_test == 4 and m.hit_rate == pytest.approx(0.25) and m.area_selected == pytest.approx(0.25)
    # Only one scored cell but a budget of two: it alone is taken, and the selected share says so.
    m = forecast_metrics(np.array([[1.0, np.nan], [np.nan, np.nan]]), test, 0.5)
    assert m.area_selected == pytest.approx(0.25) and m.pai == pytest.approx(0.25 / 0.25)
    assert select_top_area(np.array([[1.0, np.nan], [np.nan, np.nan]]), 0.5).sum() == 1
