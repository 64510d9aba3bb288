"""hotspot.forecast checked against independent references: brute force, scipy, statsmodels, networkx."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.records import Records
from hotspot.forecast.baselines import (
    DecayedCounts,
    KDECrossValidated,
    NeighbourSmoothed,
    PriorCounts,
    ProspectiveHotspot,
    SelfExciting,
    SinceMapChange,
    binned_quartic_kde,
)
from hotspot.forecast.combined import MonthlyLayers, _stencil_matrix, fit_combined, quartic_kernel
from hotspot.forecast.compare import mean_interval, paired_comparison
from hotspot.forecast.mapchange import carry_onto_current, detect_map_changes
from hotspot.forecast.months import month_index
from hotspot.stats.accuracy import budget_hits, metrics_at_budgets, selection_weights

GRID = Grid(0.0, 1000.0, 100.0, 10, 10)


def _records(points, months, lsoa=None, datetimes=None) -> Records:
    points = np.asarray(points, dtype=float)
    frame = pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "month": list(months)})
    frame["lsoa_code"] = lsoa if lsoa is not None else ""
    frame["crime_type"] = "Burglary"
    if datetimes is not None:
        frame["datetime"] = pd.to_datetime(datetimes)
    else:
        frame["datetime"] = pd.NaT
    return Records(frame, "EPSG:27700", has_times=datetimes is not None)


def _month_list(n, start=2022):
    return [f"{start + i // 12}-{i % 12 + 1:02d}" for i in range(n)]


def _snapped(rng, n_months, change_at=None, n_points=60, per_month=200):
    """Records snapped to a fixed set of points; a new set from ``change_at`` on (a police.uk map change)."""
    old = rng.uniform(0, 1000, size=(n_points, 2)).round()
    new = rng.uniform(0, 1000, size=(n_points, 2)).round()
    weights = rng.gamma(0.5, size=n_points)
    weights /= weights.sum()
    pts, months = [], []
    for i, month in enumerate(_month_list(n_months)):
        points = new if change_at is not None and i >= change_at else old
        idx = rng.choice(n_points, size=per_month, p=weights)
        pts.extend(points[idx])
        months.extend([month] * per_month)
    return _records(pts, months)


# --- metrics -------------------------------------------------------------------------------------------


def _brute_share_selection(scores, test, k):
    """Test crimes in the top ``k`` (fractional) equal cells, ties sharing the cut-off, by plain Python."""
    items = sorted(((s, t) for s, t in zip(scores, test) if not math.isnan(s)), key=lambda st: -st[0])
    taken, total, i = 0.0, 0.0, 0
    while i < len(items) and taken < k - 1e-12:
        j = i
        while j < len(items) and items[j][0] == items[i][0]:
            j += 1
        group = items[i:j]
        share = min(1.0, (k - taken) / len(group))
        total += share * sum(t for _, t in group)
        taken += share * len(group)
        i = j
    return total, taken


def test_metrics_at_budgets_match_a_brute_force_selection_pei_and_places():
    import networkx as nx

    rng = np.random.default_rng(3)
    for trial in range(40):
        shape = (int(rng.integers(3, 9)), int(rng.integers(3, 9)))
        scores = rng.integers(0, 4, size=shape).astype(float) if trial % 2 else rng.random(shape)
        scores[rng.random(shape) < 0.1] = np.nan
        test = rng.poisson(1.0, size=shape).astype(float)
        mask = rng.random(shape) < 0.85
        shares = [0.05, 0.2, 0.5]
        got = metrics_at_budgets(scores, test, shares, mask=mask, cell_area=10.0)
        s, t = scores[mask], test[mask]
        for share, m in zip(shares, got):
            k = share * mask.sum()
            hits, taken = _brute_share_selection(list(s), list(t), k)
            assert m.hit_rate == pytest.approx(hits / t.sum())
            best, best_taken = _brute_share_selection(list(t.astype(float)), list(t), k)
            assert m.pei == pytest.approx(
                (hits / t.sum() / (taken / mask.sum())) / (best / t.sum() / (best_taken / mask.sum()))
            )
            # Places: connected components (8 neighbours) of the whole-cell selection, by networkx.
            order = sorted((i for i in range(s.size) if not math.isnan(s[i])), key=lambda i: (-s[i], i))
            n_whole = min(max(math.ceil(k * (1 - 1e-12) - 1e-9), 1), len(order))
            cells = [tuple(c) for c in np.argwhere(mask)[order[:n_whole]]]
            g = nx.Graph()
            g.add_nodes_from(cells)
            g.add_edges_from(
                (a, b) for a in cells for b in cells if a < b and max(abs(a[0] - b[0]), abs(a[1] - b[1])) == 1
            )
            assert m.n_places == nx.number_connected_components(g)
            assert m.mean_place_area == pytest.approx(10.0 * len(cells) / m.n_places)


def test_budget_hits_is_the_sparse_form_of_selection_weights():
    rng = np.random.default_rng(4)
    for _ in range(50):
        scores = np.where(rng.random(200) < 0.15, rng.integers(1, 5, size=200), 0).astype(float)
        test = rng.poisson(0.5, size=200).astype(float)
        for share in (0.01, 0.05, 0.2, 0.5):
            expected = float((selection_weights(scores.reshape(10, 20), share).ravel() * test).sum())
            listed = scores > 0
            got = budget_hits(scores[listed], test[listed], share * 200, 200, float(test.sum()))
            assert got == pytest.approx(expected)
            # As the forecasts list them: every cell within reach, zero-score cells among them, any order.
            reach = np.flatnonzero(listed | (rng.random(200) < 0.4))
            reach = reach[rng.permutation(reach.size)]
            got = budget_hits(scores[reach], test[reach], share * 200, 200, float(test.sum()))
            assert got == pytest.approx(expected)


# --- intervals and paired comparisons ------------------------------------------------------------------


def test_intervals_and_paired_test_match_statsmodels_and_scipy():
    from scipy import stats
    from statsmodels.stats.weightstats import DescrStatsW

    rng = np.random.default_rng(5)
    a = rng.normal(60, 3, size=23)
    b = a - rng.normal(1, 1.5, size=23)
    ci = mean_interval(a)
    low, high = DescrStatsW(a).tconfint_mean(alpha=0.05)
    assert (ci.low, ci.high) == pytest.approx((low, high))
    c = paired_comparison(a, b)
    d_low, d_high = DescrStatsW(a - b).tconfint_mean(alpha=0.05)
    assert (c.difference.low, c.difference.high) == pytest.approx((d_low, d_high))
    assert c.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert c.wins == int((a > b).sum()) and c.n == 23


# --- map changes ---------------------------------------------------------------------------------------


def test_a_map_change_is_found_in_its_month_and_steady_data_show_none():
    rng = np.random.default_rng(6)
    changed = detect_map_changes(_snapped(rng, 12, change_at=7))
    assert changed.changes == ("2022-08",)
    assert changed.table.set_index("month").loc["2022-08", "reused_share"] < 0.1
    assert detect_map_changes(_snapped(rng, 12)).changes == ()
    # Exact coordinates (no map) never show a change.
    pts = rng.uniform(0, 1000, size=(2400, 2))
    assert detect_map_changes(_records(pts, np.repeat(_month_list(12), 200))).changes == ()


def test_map_change_flags_use_past_months_only():
    rng = np.random.default_rng(7)
    records = _snapped(rng, 12, change_at=7)
    early = records.frame["month"] <= "2022-08"
    part = Records(records.frame[early].reset_index(drop=True), records.crs)
    full = detect_map_changes(records).table.set_index("month")
    assert detect_map_changes(part).table.set_index("month")["change"].equals(full.loc[:"2022-08", "change"])


def test_carrying_moves_older_records_to_the_nearest_current_location_in_their_lsoa():
    # Old points; current points; one old point has a nearer current point in another LSOA.
    frame = pd.DataFrame(
        {
            "x": [100.0, 100.0, 500.0, 900.0, 130.0, 160.0, 520.0],
            "y": [100.0, 100.0, 500.0, 900.0, 100.0, 100.0, 560.0],
            "lsoa_code": ["A", "A", "B", "C", "X", "A", "B"],
        }
    )
    months = np.array([0, 0, 0, 0, 5, 5, 6])
    moved = carry_onto_current(frame, months, 5, 6, tolerance_m=100.0)
    # Rows 0 and 1 go to (160, 100), the same-LSOA point, not the nearer (130, 100) in LSOA X;
    # row 2 to (520, 560); row 3 has nothing within 100 m and stays behind.
    assert moved.index.tolist() == [0, 1, 2]
    assert list(zip(moved.x, moved.y)) == [(160.0, 100.0), (160.0, 100.0), (520.0, 560.0)]
    assert moved.n_older == 4 and moved.share_carried == pytest.approx(0.75)
    # Without a same-LSOA point within reach the nearest one is used.
    frame.loc[5, "lsoa_code"] = "Z"
    moved = carry_onto_current(frame, months, 5, 6, tolerance_m=100.0)
    assert list(zip(moved.x, moved.y))[:2] == [(130.0, 100.0), (130.0, 100.0)]


# --- baselines -----------------------------------------------------------------------------------------


def _brute_grid(records, weight_of):
    out = np.zeros(GRID.shape)
    ages = month_index(records.frame["month"])
    ages = ages.max() - ages
    for (x, y), age in zip(records.frame[["x", "y"]].to_numpy(), ages):
        r, c = int((1000 - y) // 100), int(x // 100)
        out[r, c] += weight_of(age)
    return out


def test_count_baselines_match_brute_force():
    rng = np.random.default_rng(8)
    records = _records(rng.uniform(0, 1000, size=(300, 2)), np.repeat(_month_list(6), 50))
    np.testing.assert_allclose(PriorCounts(3)(records, GRID), _brute_grid(records, lambda a: float(a < 3)))
    np.testing.assert_allclose(PriorCounts(None)(records, GRID), _brute_grid(records, lambda a: 1.0))
    np.testing.assert_allclose(DecayedCounts(2.0)(records, GRID), _brute_grid(records, lambda a: 0.5 ** (a / 2)))
    base = _brute_grid(records, lambda a: 0.5 ** (a / 6))
    expected = base.copy()
    for r in range(10):
        for c in range(10):
            nb = [
                base[i, j]
                for i in range(r - 1, r + 2)
                for j in range(c - 1, c + 2)
                if (i, j) != (r, c) and 0 <= i < 10 and 0 <= j < 10
            ]
            expected[r, c] += 0.25 * sum(nb) / 8
    np.testing.assert_allclose(NeighbourSmoothed()(records, GRID), expected)


def test_since_map_change_counts_the_current_map_only():
    rng = np.random.default_rng(9)
    records = _snapped(rng, 10, change_at=6, n_points=30, per_month=100)
    since = month_index(records.frame["month"]) >= month_index(["2022-07"])[0]
    expected = GRID.count(records.frame["x"].to_numpy()[since], records.frame["y"].to_numpy()[since])
    np.testing.assert_array_equal(SinceMapChange()(records, GRID), expected)


def test_prospective_hotspot_matches_the_bowers_johnson_pease_sum():
    rng = np.random.default_rng(10)
    records = _records(rng.uniform(0, 1000, size=(40, 2)), np.repeat(_month_list(4), 10))
    got = ProspectiveHotspot(bandwidth_m=300.0, window_months=2)(records, GRID)
    ages = month_index(records.frame["month"])
    ages = ages.max() - ages
    expected = np.zeros(GRID.shape)
    for (x, y), age in zip(records.frame[["x", "y"]].to_numpy(), ages):
        if age >= 2:
            continue
        r0, c0 = int((1000 - y) // 100), int(x // 100)
        for r in range(10):
            for c in range(10):
                d = math.hypot(r - r0, c - c0)
                if d * 100 <= 300:
                    expected[r, c] += 1 / (1 + round(d)) / (1 + age)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_binned_kde_equals_the_exact_kde_of_points_at_cell_centres():
    from hotspot.stats.kde import kernel_density

    rng = np.random.default_rng(11)
    cols, rows = rng.integers(0, 10, size=50), rng.integers(0, 10, size=50)
    x, y = cols * 100.0 + 50, 1000 - rows * 100.0 - 50
    counts = GRID.count(x, y)
    for bandwidth in (150.0, 300.0):
        exact = kernel_density(x, y, GRID, bandwidth_m=bandwidth, kernel="quartic", units="per-cell").surface
        np.testing.assert_allclose(binned_quartic_kde(counts, 100.0, bandwidth), exact, rtol=1e-9, atol=1e-12)


def test_kde_cv_picks_the_bandwidth_that_predicts_the_last_training_month():
    rng = np.random.default_rng(12)
    # Crimes scatter ~250 m around two centres: a wide kernel predicts the last month better than 100 m.
    centres = np.array([[300.0, 300.0], [700.0, 700.0]])
    pts = centres[rng.integers(0, 2, size=400)] + rng.normal(0, 250, size=(400, 2))
    pts = np.clip(pts, 1, 999)
    cv = KDECrossValidated((100.0, 400.0), area_share=0.1)
    cv(_records(pts, np.repeat(_month_list(4), 100)), GRID)
    assert cv.chosen == [400.0]


def test_self_exciting_rate_matches_the_etas_sum_and_needs_dates():
    from scipy import ndimage

    rng = np.random.default_rng(13)
    days = np.sort(rng.uniform(0, 90, size=60))
    times = pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D")
    pts = rng.uniform(0, 1000, size=(60, 2))
    records = _records(pts, times.strftime("%Y-%m"), datetimes=times)
    se = SelfExciting(sigma_m=100.0, decay_days=(10.0,), thetas=(1.0,), validation_days=20)
    got = se(records, GRID)
    elapsed = (times - times.min()).total_seconds().to_numpy() / 86400
    end = math.floor(elapsed.max()) + 1.0
    background = GRID.count(pts[:, 0], pts[:, 1]) / end
    trig = np.zeros(GRID.shape)
    for (x, y), t in zip(pts, elapsed):
        one = np.zeros(GRID.shape)
        one[int((1000 - y) // 100), int(x // 100)] = 1.0
        trig += 0.1 * math.exp(-0.1 * (end - t)) * ndimage.gaussian_filter(one, 1.0, mode="constant", truncate=3.0)
    chosen = se.chosen[-1]
    expected = background + (chosen["theta"] * trig if chosen["theta"] else 0)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    with pytest.raises(ValueError, match="date"):
        SelfExciting()(_records(pts, _month_list(1) * 60), GRID)


# --- combined ------------------------------------------------------------------------------------------


def test_stencil_matrix_equals_ndimage_convolution():
    from scipy import ndimage

    rng = np.random.default_rng(14)
    grid = Grid(0.0, 1200.0, 100.0, 13, 12)
    values = np.where(rng.random(grid.shape) < 0.2, rng.random(grid.shape), 0.0)
    for kernel in (np.full((3, 3), 1 / 8) * (1 - np.eye(3)[1][:, None] * np.eye(3)[1]), quartic_kernel(100.0, 250.0)):
        cells = np.arange(grid.size)
        got = (_stencil_matrix(grid, cells, kernel) @ values.ravel()).reshape(grid.shape)
        np.testing.assert_allclose(got, ndimage.convolve(values, kernel, mode="constant"), atol=1e-14)


def test_combined_layers_reproduce_d_and_p_from_the_baselines():
    rng = np.random.default_rng(15)
    records = _snapped(rng, 10, change_at=6, n_points=40, per_month=120)
    layers = MonthlyLayers(records, GRID)
    upto = int(month_index(records.frame["month"]).max())
    d = layers.score({"half_life_months": 6.0, "older": "all", "neighbour_weight": 0.25}, upto)
    ref = NeighbourSmoothed()(records, GRID)
    np.testing.assert_allclose(d, ref / ref.sum(), atol=1e-12)
    p = layers.score({"half_life_months": math.inf, "older": "drop", "neighbour_weight": 0.0}, upto)
    ref = SinceMapChange()(records, GRID)
    np.testing.assert_allclose(p, ref / ref.sum(), atol=1e-12)


def test_combined_validation_beats_or_ties_d_and_p_and_uses_training_months_only():
    rng = np.random.default_rng(16)
    records = _snapped(rng, 14, change_at=6, n_points=50, per_month=150)
    _, fit = fit_combined(records, GRID, area_share=0.05, reference_month="2023-01")
    assert fit.map_change == "2022-07"
    assert all(fit.baselines["combined"] >= v - 1e-9 for v in fit.baselines.values())
    assert fit.validation_months[-1] == "2023-01" and "2022-07" not in fit.validation_months
    # Changing the months after the reference month changes nothing.
    later = records.frame["month"] > "2023-01"
    altered = records.frame.copy()
    altered.loc[later, ["x", "y"]] = 950.0
    score_a, _ = fit_combined(records, GRID, area_share=0.05, reference_month="2023-01")
    score_b, _ = fit_combined(Records(altered, records.crs), GRID, area_share=0.05, reference_month="2023-01")
    np.testing.assert_array_equal(score_a, score_b)


def test_shared_layers_in_a_backtest_give_the_same_scores_as_fold_by_fold_fits():
    from hotspot.forecast.backtest import backtest
    from hotspot.forecast.combined import CombinedForecaster

    rng = np.random.default_rng(17)
    records = _snapped(rng, 12, change_at=7, n_points=40, per_month=100)
    shared = CombinedForecaster(area_share=0.05)
    alone = CombinedForecaster(area_share=0.05)
    alone.prepare = None  # no shared layers: every fold builds its own from its training records
    res_shared = backtest(records, GRID, {"c": shared}, area_share=0.05, folds=5)
    res_alone = backtest(records, GRID, {"c": alone}, area_share=0.05, folds=5)
    assert [f.weights for f in shared.fits] == [f.weights for f in alone.fits]
    np.testing.assert_allclose(res_shared.folds["pai"], res_alone.folds["pai"])


# --- harm ----------------------------------------------------------------------------------------------


def test_harm_table_is_the_median_of_distinct_codes(tmp_path):
    from hotspot.stats.harm import derive_type_weights

    raw = pd.DataFrame(
        {
            "ONS_SEVERITY_code": ["1", "2", "2", "3", "4", "5"],
            "ONS_SEVERITY_weight": [10.0, 2.0, 2.0, 4.0, 100.0, 7.0],
            "POLICE_UK_CAT_MAP_category": ["Violence and Sexual Offences"] * 4 + ["Robbery", "Bicycle Theft"],
        }
    )
    raw.to_csv(tmp_path / "raw.csv", index=False)
    table = derive_type_weights(tmp_path / "raw.csv").set_index("crime_type")
    # Code 2 counted once: median of (10, 2, 4) = 4, not of (10, 2, 2, 4) = 3.
    assert table.loc["Violence and sexual offences", "weight"] == 4.0
    assert table.loc["Violence and sexual offences", "n_codes"] == 3
    assert table.loc["Robbery", "weight"] == 100.0 and table.loc["Bicycle theft", "weight"] == 7.0


def test_weights_are_applied_and_gaps_are_one_clear_error(tmp_path):
    from hotspot.stats.harm import apply_weights

    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0],
            "y": [1.0, 2.0, 3.0],
            "month": ["2022-01"] * 3,
            "crime_type": ["Burglary", "Anti-social behaviour", "Robbery"],
            "source": "f.csv",
            "source_row": [1, 2, 3],
        }
    )
    records = Records(frame, "EPSG:27700")
    weighted, notes = apply_weights(records, "harm")
    from hotspot.stats.harm import DEFAULT_TABLE

    table = pd.read_csv(DEFAULT_TABLE).set_index("crime_type")["weight"]
    assert weighted.frame["weight"].tolist() == [table["Burglary"], 0.0, table["Robbery"]]
    assert any("Anti-social behaviour" in n for n in notes)
    own = tmp_path / "w.csv"
    own.write_text("crime_type,weight\nburglary,2\nRobbery,5\n")
    with pytest.raises(HotspotInputError, match="Anti-social behaviour.*f.csv row 2"):
        apply_weights(records, own)
    own.write_text("crime_type,weight\nburglary,2\nRobbery,-5\nAnti-social behaviour,1\n")
    with pytest.raises(HotspotInputError, match="row 3"):
        apply_weights(records, own)
    asb_only = Records(frame.iloc[[1]], "EPSG:27700")
    with pytest.raises(HotspotInputError, match="every record weighs 0"):
        apply_weights(asb_only, "harm")


def test_a_harm_weighted_backtest_scores_forecasts_on_harm():
    from hotspot.forecast.backtest import backtest

    months = _month_list(3)
    frame = pd.DataFrame(
        {
            "x": [50.0, 950.0] * 3,
            "y": [950.0, 50.0] * 3,
            "month": np.repeat(months, 2),
            "crime_type": ["Burglary", "Robbery"] * 3,
            "weight": [1.0, 9.0] * 3,
        }
    )
    records = Records(frame, "EPSG:27700")
    # Predicting the north-west cell catches 1 of 10 harm (10 % -> PAI 10 at 1 % of 100 cells).
    res = backtest(
        records, GRID, {"nw": lambda t, g: (np.arange(100) == 0).reshape(10, 10).astype(float)}, area_share=0.01
    )
    assert res.folds["hit_rate"].tolist() == pytest.approx([0.1, 0.1])


def test_snap_points_add_the_filtered_rows_and_carrying_can_use_them():
    from hotspot.forecast.mapchange import snap_points

    kept = pd.DataFrame(
        {
            "x": [100.0, 500.0],
            "y": [100.0, 500.0],
            "month": ["2022-01", "2022-06"],
            "lsoa_code": ["A", "B"],
            "crime_type": "Robbery",
        }
    )
    rejected = pd.DataFrame(
        {
            "reason": ["filtered_crime_type", "outside_study_area", "no_location"],
            "x": [150.0, 160.0, np.nan],
            "y": [100.0, 100.0, np.nan],
            "month": ["2022-06", "2022-06", "2022-06"],
            "lsoa_code": ["A", "A", ""],
        }
    )
    records = Records(kept, "EPSG:27700", rejected=rejected)
    points = snap_points(records)
    # The filtered burglary is a snap point; the out-of-area and unlocated rows are not.
    assert list(zip(points["x"], points["y"])) == [(100.0, 100.0), (500.0, 500.0), (150.0, 100.0)]
    months = month_index(kept["month"])
    change = int(month_index(["2022-06"])[0])
    own = carry_onto_current(kept, months, change, change, tolerance_m=100.0)
    assert own.index.size == 0  # the robbery's own current point (500, 500) is 566 m away
    shared = carry_onto_current(kept, months, change, change, tolerance_m=100.0, current=points)
    assert shared.index.tolist() == [0] and (shared.x[0], shared.y[0]) == (150.0, 100.0)


def test_near_repeat_forecaster_runs_in_the_backtest_on_dated_records(demo_study):
    """The Knox near-repeat surface as an evaluate method: offered for dated records only, and on the space-time
    demo's planted near-repeat burglary chains it beats chance (PAI 1) and last month's counts."""
    from hotspot.forecast.backtest import backtest, default_forecasters

    study = demo_study("spacetime", crime_types=["Burglary"])
    grid, mask = study.grid(100.0)
    methods = default_forecasters(mask=mask, has_times=True)
    assert "near_repeat" in methods and "near_repeat" not in default_forecasters(mask=mask, has_times=False)
    chosen = {k: methods[k] for k in ("near_repeat", "previous_period")}
    result = backtest(study.records, grid, chosen, folds=3, mask=mask)
    pai = result.means.set_index("method")["pai"]
    assert pai["near_repeat"] > 1.0 and pai["near_repeat"] > pai["previous_period"], pai
