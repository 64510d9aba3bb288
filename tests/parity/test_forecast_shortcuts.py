"""The shortcuts that make ``hotspot evaluate`` and ``rank --method combined`` fast give the same numbers, to the
bit, as the straightforward code they replace, kept here as the reference: carrying older records with LSOA
codes as integers, the quartic stencil in numpy, the neighbour matrices written in CSR order, dilation by
shifts, groups of selected cells from neighbour pairs, the top scores among the positive ones, months read
from the bytes of arrow strings, and map changes found once per backtest.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, sparse
from scipy.spatial import cKDTree

from hotspot.core.grid import Grid
from hotspot.core.records import Records
from hotspot.forecast import combined
from hotspot.forecast.baselines import SinceMapChange
from hotspot.forecast.mapchange import CARRY_NEIGHBOURS, CarrySource, carry_onto_current, location_keys
from hotspot.forecast.months import month_index, subset
from hotspot.stats.accuracy import _compactness_of, _top_sorted, k_largest, place_compactness


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


# --- carrying older records onto the current map ---------------------------------------------------------


def _reference_carry(frame, months, change, upto, tolerance_m, current=None):
    """carry_onto_current as written before: text LSOA codes, everything recomputed per call."""
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    lsoa = frame["lsoa_code"].astype(str).to_numpy()
    older = np.flatnonzero(months < change)
    if current is None:
        now = (months >= change) & (months <= upto)
        cur = pd.DataFrame({"x": x[now], "y": y[now], "lsoa": lsoa[now]})
    else:
        cm = month_index(current["month"])
        now = (cm >= change) & (cm <= upto)
        cur = pd.DataFrame(
            {
                "x": current["x"].to_numpy(np.float64)[now],
                "y": current["y"].to_numpy(np.float64)[now],
                "lsoa": current["lsoa_code"].astype(str).to_numpy()[now],
            }
        )
    if older.size == 0 or len(cur) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    cur = cur.drop_duplicates(["x", "y"])
    cx, cy, clsoa = cur["x"].to_numpy(), cur["y"].to_numpy(), cur["lsoa"].to_numpy()
    lsoa_code, lsoa_names = pd.factorize(pd.Series(lsoa[older]))
    place = location_keys(x[older], y[older]).astype(np.int64) * (len(lsoa_names) + 1) + lsoa_code
    _, first_row, codes = np.unique(place, return_index=True, return_inverse=True)
    codes = codes.ravel()
    ux, uy, ulsoa = x[older][first_row], y[older][first_row], lsoa[older][first_row]
    k = min(CARRY_NEIGHBOURS, cx.size)
    dist, idx = cKDTree(np.column_stack([cx, cy])).query(
        np.column_stack([ux, uy]), k=k, distance_upper_bound=tolerance_m
    )
    dist, idx = dist.reshape(len(ux), k), idx.reshape(len(ux), k)
    within = np.isfinite(dist)
    safe = np.where(within, idx, 0)
    same = within & (clsoa[safe] == ulsoa[:, None]) & (ulsoa[:, None] != "")
    has_same = same.any(axis=1)
    chosen = safe[np.arange(len(ux)), np.where(has_same, same.argmax(axis=1), 0)]
    ok = (has_same | within[:, 0])[codes]
    return older[ok], cx[chosen[codes][ok]], cy[chosen[codes][ok]]


@pytest.mark.parametrize("seed", range(4))
def test_carrying_matches_the_text_code_version(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    points = rng.uniform(0, 2000, size=(150, 2)).round()
    pick = rng.integers(0, 150, n)
    lsoas = np.array(["E01000001", "E01000002", "E01000003", "", None], dtype=object)
    frame = pd.DataFrame(
        {
            "x": points[pick, 0] + rng.choice([0.0, 0.0, 0.4], n),  # some locations a fraction of a metre apart
            "y": points[pick, 1],
            "lsoa_code": pd.Categorical(lsoas[rng.integers(0, 5, n)]),  # missing and empty codes too
        }
    )
    months = rng.integers(0, 12, n)
    current = pd.DataFrame(
        {
            "x": rng.uniform(0, 2000, 800).round(),
            "y": rng.uniform(0, 2000, 800).round(),
            "month": [f"2022-{m:02d}" for m in rng.integers(1, 13, 800)],
            "lsoa_code": lsoas[rng.integers(0, 4, 800)],
        }
    )
    shifted = months + int(month_index(["2022-01"])[0])
    for given, source in ((None, CarrySource(frame, months)), (current, CarrySource(frame, shifted, current))):
        month_base = 0 if given is None else int(month_index(["2022-01"])[0])
        for change, upto in ((3, 3), (3, 7), (6, 11), (0, 5), (11, 11)):
            expected = _reference_carry(
                frame, months + month_base, change + month_base, upto + month_base, 150.0, given
            )
            got = source.carry(change + month_base, upto + month_base, tolerance_m=150.0)
            once = carry_onto_current(
                frame, months + month_base, change + month_base, upto + month_base, tolerance_m=150.0, current=given
            )
            for moved in (got, once):
                np.testing.assert_array_equal(moved.index, expected[0])
                np.testing.assert_array_equal(_bits(moved.x), _bits(expected[1]))
                np.testing.assert_array_equal(_bits(moved.y), _bits(expected[2]))
    assert expected[0].size > 0


# --- stencils, matrices, dilation ------------------------------------------------------------------------


@pytest.mark.parametrize("cell_size_m", [25.0, 33.3, 100.0, 150.0])
def test_quartic_stencil_is_the_numba_kernels_to_the_bit(cell_size_m):
    from hotspot.stats.kde import kernel_stencil

    for bandwidth_m in (50.0, 99.9, 100.0, 150.0, 151.0, 333.3, 400.0, 2000.0):
        expected = kernel_stencil(bandwidth_m, cell_size_m, "quartic")
        got = combined.quartic_stencil(bandwidth_m, cell_size_m)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(_bits(got), _bits(expected))


def _reference_stencil_matrix(grid, cells, kernel):
    """The (n, n) convolution matrix built from COO triplets and converted, as before."""
    r = kernel.shape[0] // 2
    rows_, cols_ = np.divmod(cells, grid.ncols)
    position = np.full(grid.size, -1, dtype=np.int64)
    position[cells] = np.arange(cells.size)
    out_i, out_j, out_w = [], [], []
    for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
            w = kernel[r + di, r + dj]
            if w == 0:
                continue
            si, sj = rows_ - di, cols_ - dj
            ok = (si >= 0) & (si < grid.nrows) & (sj >= 0) & (sj < grid.ncols)
            src = np.full(cells.size, -1, dtype=np.int64)
            src[ok] = position[si[ok] * grid.ncols + sj[ok]]
            ok = src >= 0
            out_i.append(np.flatnonzero(ok))
            out_j.append(src[ok])
            out_w.append(np.full(int(ok.sum()), w))
    return sparse.csr_matrix(
        (np.concatenate(out_w), (np.concatenate(out_i), np.concatenate(out_j))), shape=(cells.size, cells.size)
    )


def test_stencil_matrices_and_their_products_match_the_coo_built_ones():
    rng = np.random.default_rng(7)
    for _ in range(25):
        nrows, ncols = (int(v) for v in rng.integers(1, 30, 2))
        grid = Grid(0.0, nrows * 100.0, 100.0, nrows, ncols)
        cells = np.unique(rng.integers(0, grid.size, int(rng.integers(1, grid.size + 1))))
        values = rng.gamma(0.3, size=cells.size)
        for kernel in (
            combined.neighbour_kernel(),
            combined.quartic_kernel(100.0, 150.0),
            combined.quartic_kernel(100.0, 400.0),
        ):
            got = combined._stencil_matrix(grid, cells, kernel)
            expected = _reference_stencil_matrix(grid, cells, kernel)
            np.testing.assert_array_equal(got.indptr, expected.indptr)
            np.testing.assert_array_equal(got.indices, expected.indices)
            np.testing.assert_array_equal(_bits(got.data), _bits(expected.data))
            np.testing.assert_array_equal(_bits(got @ values), _bits(expected @ values))


def test_close_cells_is_a_square_dilation():
    rng = np.random.default_rng(11)
    for _ in range(40):
        nrows, ncols = (int(v) for v in rng.integers(1, 35, 2))
        grid = Grid(0.0, nrows * 10.0, 10.0, nrows, ncols)
        seeds = np.unique(rng.integers(0, grid.size, int(rng.integers(1, 12))))
        for radius in range(6):
            hit = np.zeros(grid.shape, dtype=bool)
            hit.ravel()[seeds] = True
            if radius:
                hit = ndimage.binary_dilation(hit, structure=np.ones((2 * radius + 1,) * 2, dtype=bool))
            np.testing.assert_array_equal(combined._close_cells(grid, seeds, radius), np.flatnonzero(hit))


def test_blend_matches_adding_to_zeros(demo_study):
    """blend skips adding its terms to a zero layer and scaling by 1: the same values as doing both."""
    study = demo_study()
    grid, mask = study.grid(100.0)
    layers = combined.MonthlyLayers(study.records, grid)
    upto = int(layers.months[-1])
    recent = layers.recent_counts(upto, 6.0, "all", 1.0)
    for b, a, c, bandwidth in (
        (0.0, 0.0, 0.0, 150.0),
        (0.25, 0.0, 0.0, 150.0),
        (0.1, 0.3, 0.0, 400.0),
        (0.0, 1.0, 0.0, 400.0),
        (0.1, 0.1, 0.2, 150.0),
    ):
        weights = {"neighbour_weight": b, "kde_weight": a, "rtm_weight": c, "bandwidth_m": bandwidth}
        rtm_share = np.ones(grid.shape) / grid.size if c else None
        expected = np.zeros_like(recent)
        if a < 1.0:
            s = recent + b * (layers._neighbour @ recent) if b > 0 else recent
            expected = (1.0 - a - c) * (s / np.nansum(s))
        if a > 0:
            kde = layers._kde[bandwidth] @ recent
            expected = expected + a * (kde / np.nansum(kde))
        np.testing.assert_array_equal(_bits(layers.blend(recent, weights, rtm_share)), _bits(expected))


# --- metrics ----------------------------------------------------------------------------------------------


def test_groups_of_selected_cells_match_labelling_the_grid():
    rng = np.random.default_rng(5)
    for _ in range(300):
        shape = tuple(int(v) for v in rng.integers(1, 50, 2))
        selected = rng.random(shape) < rng.uniform(0.01, 0.9)
        cell_area = float(rng.choice([1.0, 10000.0, 1111.1, 0.37]))
        got = _compactness_of(np.flatnonzero(selected.ravel()), shape, cell_area)
        if not selected.any():
            assert got[0] == 0.0 and math.isnan(got[1])
            continue
        assert got == place_compactness(selected, cell_area)


def test_top_scores_match_a_full_partition():
    rng = np.random.default_rng(9)
    for _ in range(200):
        values = rng.gamma(0.5, size=int(rng.integers(1, 500))) * (rng.random() < 0.9)
        values[rng.random(values.size) < rng.uniform(0, 0.95)] = 0.0
        values[rng.random(values.size) < 0.05] *= -1
        for budgets in ([1.0], [3.5], [0.01 * values.size, 0.05 * values.size], [values.size]):
            k = min(max(int(math.ceil(max(budgets) - 1e-9)), 1), values.size)
            expected = np.sort(np.partition(values, values.size - k)[values.size - k :])[::-1]
            np.testing.assert_array_equal(_top_sorted(values, budgets), expected)


def test_k_largest_from_a_sampled_threshold_matches_a_full_partition():
    """Grid-sized scores, each way the sampled threshold can fall: below the k-th largest (partition above it),
    on a tie mass (fill with the threshold), above it (every value partitioned)."""
    rng = np.random.default_rng(10)
    n = 106_000
    step = n // 2048
    smooth = rng.gamma(2.0, size=n)
    mostly_zero = np.where(rng.random(n) < 0.01, rng.random(n), 0.0)  # the threshold lands on the zeros
    rounded = np.round(rng.random(n) * 20) / 20  # ties everywhere
    aligned = np.zeros(n)
    aligned[::step] = 1.0 + rng.random(aligned[::step].size)  # the sample sees only the large values
    for values in (smooth, mostly_zero, rounded, aligned, -smooth, np.sort(smooth)):
        for k in (1, 1060, 1061, 5300, n // 7, n):
            expected = np.sort(np.partition(values, n - k)[n - k :])
            np.testing.assert_array_equal(np.sort(k_largest(values, k)), expected)


# --- months and map changes -------------------------------------------------------------------------------


def test_months_read_from_arrow_bytes_match_parsing_the_text():
    texts = ["2019-01", "2022-12", "1999-07", "2022-00", "0000-00", "9999-99"]
    arrow = pd.Series(texts * 50, dtype="str").iloc[3:]  # a slice: the arrow array starts at an offset
    if not hasattr(arrow.array, "__arrow_array__"):
        pytest.skip("pandas stores these strings without arrow")
    expected = month_index(np.asarray(arrow, dtype=object))  # the general path: parse the distinct texts
    np.testing.assert_array_equal(month_index(arrow), expected)
    for bad in (["2022-1"], ["2022/01"], ["2022-0a"], ["2022-0:"], ["20?2-01"], ["2022--1"], ["2022-01", None]):
        with pytest.raises(Exception) as fast:
            month_index(pd.Series(bad, dtype="str"))
        with pytest.raises(Exception) as slow:
            month_index(np.asarray(bad, dtype=object))
        assert str(fast.value) == str(slow.value)


def test_since_map_change_prepared_once_matches_each_fold_on_its_own():
    rng = np.random.default_rng(2)
    old_points = rng.uniform(0, 1000, size=(60, 2)).round()
    new_points = rng.uniform(0, 1000, size=(60, 2)).round()
    points, months = [], []
    for i in range(14):
        pool = new_points if 5 <= i < 9 else old_points  # a change at month 5, and back at month 9
        points.extend(pool[rng.integers(0, 60, 150)])
        months.extend([f"{2021 + i // 12}-{i % 12 + 1:02d}"] * 150)
    points = np.asarray(points)
    frame = pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "month": months, "lsoa_code": ""})
    records = Records(frame, "EPSG:27700")
    grid = Grid(0.0, 1000.0, 100.0, 10, 10)
    prepared = SinceMapChange()
    prepared.prepare(records, grid)
    assert len(prepared._changes) == 2
    index = month_index(frame["month"])
    for last in range(int(index.min()), int(index.max()) + 1):
        train = subset(records, index <= last)
        assert prepared._totals.covers(train)  # the prepared changes are the ones used
        np.testing.assert_array_equal(prepared(train, grid), SinceMapChange()(train, grid))
    # Records that are not an early span of the prepared ones are searched on their own.
    later = subset(records, index >= index.min() + 6)
    assert not prepared._totals.covers(later)
    np.testing.assert_array_equal(prepared(later, grid), SinceMapChange()(later, grid))


def test_hit_rates_alone_match_the_full_metrics():
    from hotspot.stats.accuracy import BudgetScorer

    rng = np.random.default_rng(4)
    for _ in range(30):
        shape = (int(rng.integers(5, 40)), int(rng.integers(5, 40)))
        test = rng.poisson(0.3, shape).astype(np.float64)
        mask = rng.random(shape) < 0.9
        scorer = BudgetScorer(test, [0.01, 0.05, 0.2], mask=mask)
        scores = rng.gamma(0.4, size=shape) * (rng.random(shape) < 0.5)
        scores[rng.random(shape) < 0.05] = np.nan
        assert scorer.hit_rates(scores) == [m.hit_rate for m in scorer(scores)]


def test_convolving_again_with_a_remembered_kernel_matches_scipy_signal():
    from scipy.signal import fftconvolve

    from hotspot.core.convolve import fftconvolve_same
    from hotspot.forecast.baselines import binned_quartic_kde

    rng = np.random.default_rng(6)
    kernel = combined.quartic_stencil(400.0, 100.0)
    for _ in range(3):  # the first call transforms the kernel, the next ones reuse it
        image = rng.poisson(0.5, (57, 41)).astype(np.float64)
        expected = fftconvolve(image, kernel, mode="same")
        np.testing.assert_array_equal(_bits(fftconvolve_same(image, kernel)), _bits(expected))
        np.testing.assert_array_equal(
            _bits(binned_quartic_kde(image, 100.0, 400.0)),
            _bits(np.clip(fftconvolve(image, kernel * 100.0**2, mode="same"), 0.0, None)),
        )


def test_tuning_on_threads_chooses_from_the_same_hit_rates(demo_study):
    study = demo_study()
    grid, mask = study.grid(100.0)
    layers = combined.MonthlyLayers(study.records, grid)
    upto = int(layers.months[-1])
    fits = [combined.CombinedTuner(layers, mask=mask, workers=w).fit(upto) for w in (1, 3)]
    assert len(fits[0].validation) > 10
    pd.testing.assert_frame_equal(fits[0].validation, fits[1].validation, check_exact=True)
    assert fits[0].weights == fits[1].weights


def _reference_equal_area_weights(scores, candidates, k):
    """selection_weights' equal-cell path as written before: the cut-off by a partition of every score."""
    weights = np.zeros(scores.shape, dtype=np.float64)
    values = scores[candidates]
    if values.size == 0:
        return weights
    if k >= values.size - 1e-9:
        weights[candidates] = 1.0
        return weights
    kk = min(max(int(math.ceil(k - 1e-9)), 1), values.size)
    cutoff = np.partition(values, values.size - kk)[values.size - kk]
    above = candidates & (scores > cutoff)
    tied = candidates & (scores == cutoff)
    fraction = (k - above.sum()) / tied.sum()
    weights[above] = 1.0
    weights[tied] = 1.0 if fraction > 1 - 1e-9 else max(float(fraction), 0.0)
    return weights


def test_hit_rate_alone_and_the_positive_partition_match_the_full_metrics():
    from hotspot.stats.accuracy import _equal_area_weights, forecast_metrics, hit_rate

    rng = np.random.default_rng(12)
    for _ in range(60):
        shape = (int(rng.integers(3, 40)), int(rng.integers(3, 40)))
        scores = rng.gamma(0.4, size=shape) * (rng.random(shape) < rng.uniform(0.02, 1.0))
        scores[rng.random(shape) < 0.05] = np.nan
        scores[rng.random(shape) < 0.05] *= -1
        test = rng.poisson(0.5, shape).astype(np.float64) * rng.choice([1.0, 0.37])
        mask = rng.random(shape) < 0.9 if rng.random() < 0.7 else None
        areas = None if rng.random() < 0.6 else rng.uniform(0.5, 2.0, shape)
        for share in (0.01, 0.1, 0.5, 1.0):
            for ties in ("share", "index"):
                got = hit_rate(scores, test, share, cell_areas=areas, mask=mask, ties=ties)
                expected = forecast_metrics(scores, test, share, cell_areas=areas, mask=mask, ties=ties).hit_rate
                assert got == expected or (math.isnan(got) and math.isnan(expected))
            region = np.ones(shape, dtype=bool) if mask is None else mask
            candidates = region & np.isfinite(scores)
            k = share * float(region.sum())
            np.testing.assert_array_equal(
                _equal_area_weights(scores, candidates, k), _reference_equal_area_weights(scores, candidates, k)
            )
