"""Gi* parity with esda, exactness of the per-class null, agreement with per-cell permutation,
degenerate inputs and properties."""

import itertools
import warnings

import numpy as np
import pytest
from esda import G_Local
from hypothesis import given, settings
from hypothesis import strategies as st
from libpysal.weights import DistanceBand, W, lat2W

from hotspot.stats.gistar import gi_star_areas, gi_star_grid


def _grid_points(nr, nc, cell):
    xs, ys = np.meshgrid((np.arange(nc) + 0.5) * cell, -(np.arange(nr) + 0.5) * cell)
    return np.column_stack([xs.ravel(), ys.ravel()])


@pytest.fixture(scope="module")
def small_grid():
    rng = np.random.default_rng(7)
    counts = rng.poisson(1.2, (18, 22)).astype(float)
    counts[4:7, 5:9] += rng.poisson(5, (3, 4))
    mask = np.ones(counts.shape, bool)
    mask[:3, :4] = False  # an irregular study area
    return counts, mask


def _esda(y, w, permutations=0, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G_Local(
            y, w, transform="B", star=True, permutations=permutations, seed=seed, keep_simulations=False, n_jobs=1
        )


def _exact_tails(counts, mask, band, cell, method="auto"):
    from hotspot.kernels.gistar import clamped_histogram, exact_tail_pvalues, stencil_sums
    from hotspot.stats.gistar import _exact_plan, _sum_cdf
    from hotspot.stats.weights import stencil_offsets

    y = counts[mask]
    dr, dc = stencil_offsets(band, cell)
    t2, k2 = stencil_sums(np.where(mask, counts, 0.0), mask, dr, dc)
    k, t = k2[mask], t2[mask].astype(np.int64)
    feasible, _, k_max, s_max, shift = _exact_plan(y, k, t)
    assert feasible and shift == 0.0
    cdf, _ = _sum_cdf(clamped_histogram(y, 0.0, s_max + 1), y.size, k_max, s_max, method)
    own = np.minimum(y, s_max + 1).astype(np.int64)
    p, upper, lower = exact_tail_pvalues(cdf, y.size, own, k, t)
    return p, upper, lower, y.astype(np.int64), k, t


def test_grid_z_matches_esda(small_grid):
    counts, mask = small_grid
    res = gi_star_grid(counts, 250.0, 100.0, mask=mask, permutations=0)
    pts = _grid_points(*counts.shape, 100.0)[mask.ravel()]
    g = _esda(counts[mask], DistanceBand(pts, threshold=250.0, binary=True, silence_warnings=True))
    assert np.max(np.abs(res.z[mask] - g.Zs)) < 1e-8
    np.testing.assert_allclose(res.p[mask], 2 * g.p_norm, rtol=1e-9, atol=1e-14)
    assert np.isnan(res.z[~mask]).all() and (res.bin[~mask] == 0).all()
    assert res.p_used == "p"


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("method", ["spectral", "levels"])
@pytest.mark.parametrize("truncated", [False, True])
def test_exact_null_equals_enumeration(method, truncated, parallel, monkeypatch):
    """Both ways of building the sum distribution, then the per-cell deconvolution, against every subset.

    Truncated: the table stops at the largest observed sum (7), as in :func:`hotspot.stats.gistar._exact_plan`,
    below the largest value (9, clamped to 8). Parallel: the multi-threaded kernels that large grids use
    (``SERIAL_WORK`` 0), otherwise their one-thread twins, which small grids use."""
    from hotspot.kernels import gistar as kg
    from hotspot.kernels.gistar import clamped_histogram
    from hotspot.stats import weights
    from hotspot.stats.gistar import _sum_cdf

    if parallel:
        monkeypatch.setattr(weights, "SERIAL_WORK", 0)
    exact_tail_pvalues = kg.exact_tail_pvalues if parallel else kg.exact_tail_pvalues_serial

    y = np.array([0, 0, 1, 3, 0, 2, 5, 1, 0, 9, 1, 3, 0, 0], dtype=np.int64)
    n, k_max = y.size, 3
    k = np.array([1, 2, 3, 3, 2, 1, 3, 2, 3, 2, 2, 3, 2, 0], dtype=np.int64)
    # Cells 0, 4 and 12 are quiet (value and neighbours at the minimum); cells 10, 11 and 12 repeat the triple
    # (value, neighbours, sum) of cells 7, 3 and 4, so each triple's p is computed once and shared; cell 13 has no
    # neighbours (NaN).
    t = np.array([0, 1, 4, 2, 0, 5, 1, 3, 7, 6, 3, 2, 0, 0], dtype=np.int64)
    s_max = int(t.max()) if truncated else int(np.sort(y)[::-1][:k_max].sum())
    cdf, used = _sum_cdf(clamped_histogram(y.astype(float), 0.0, s_max + 1), n, k_max, s_max, method)
    assert used == method and cdf.shape == (s_max + 1, k_max + 1)
    _, upper, lower = exact_tail_pvalues(cdf, n, np.minimum(y, s_max + 1), k, t)
    assert np.isnan(upper[13]) and np.isnan(lower[13])
    for i in range(n - 1):
        others = np.delete(y, i)
        sums = np.array([sum(c) for c in itertools.combinations(others, int(k[i]))])
        assert upper[i] == pytest.approx(np.mean(sums >= t[i]), abs=1e-13)
        assert lower[i] == pytest.approx(np.mean(sums <= t[i]), abs=1e-13)


def _exact_rational_cdf(hist, k_max, s_max):
    """cdf[s, j] of the sum of j draws without replacement, counted in Python integers (exact), then rounded."""
    from fractions import Fraction
    from math import comb

    n = int(hist.sum())
    ways = np.zeros((k_max + 1, s_max + 1), dtype=object)
    ways[:] = 0
    ways[0, 0] = 1
    for u in np.flatnonzero(hist):
        m, u = int(hist[u]), int(u)
        new = np.zeros_like(ways)
        new[:] = 0
        for c in range(min(m, k_max) + 1):
            if c * u > s_max:
                break
            new[c:, c * u :] = new[c:, c * u :] + comb(m, c) * ways[: k_max + 1 - c, : s_max + 1 - c * u]
        ways = new
    cdf = np.empty((s_max + 1, k_max + 1))
    for j in range(k_max + 1):
        running = np.cumsum(ways[j])
        cdf[:, j] = [float(Fraction(int(v), comb(n, j))) for v in running]
    return cdf


POOLS = {  # (n, k_max, draw): skewed counts, one parity (the spectrum has |pi| = 1 at half the length),
    # nearly constant, two-valued, and large n where log-gamma weights used to lose 1e-8
    "poisson": (3000, 60, lambda rng, n: rng.poisson(1.0, n) + 40 * (rng.random(n) < 0.002)),
    "odd": (400, 100, lambda rng, n: rng.choice([1, 3], n)),
    "constant": (400, 100, lambda rng, n: (rng.random(n) > 0.02).astype(int)),
    "two_values": (3000, 120, lambda rng, n: 7 * (rng.random(n) < 0.3)),
    "large_pool": (2_000_000, 28, lambda rng, n: rng.poisson(0.02, n) + 300 * (rng.random(n) < 1e-5)),
}


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_sum_distribution_equals_exact_rational_arithmetic(pool):
    """Spectral and level-by-level tables against the same counts done in exact integer arithmetic."""
    from hotspot.kernels.gistar import clamped_histogram
    from hotspot.stats.gistar import _sum_cdf

    n, k_max, draw = POOLS[pool]
    y = draw(np.random.default_rng(11), n).astype(float)
    s_max = int(0.6 * np.sort(y)[::-1][:k_max].sum())  # truncated, as the largest observed sum truncates
    hist = clamped_histogram(y, 0.0, s_max + 1)
    want = _exact_rational_cdf(hist, k_max, s_max)
    for method in ("spectral", "levels"):
        got, _ = _sum_cdf(hist, n, k_max, s_max, method)
        assert np.max(np.abs(got - want)) < 1e-13, method


def test_spectral_null_is_the_default_for_large_pools_and_levels_for_small():
    from hotspot.kernels.gistar import clamped_histogram
    from hotspot.stats.gistar import _sum_cdf

    y = np.random.default_rng(1).poisson(0.5, 50_000).astype(float)
    hist = clamped_histogram(y, 0.0, 40)
    assert _sum_cdf(hist, y.size, 28, 39)[1] == "spectral"
    small = np.array([60, 30, 10])
    assert _sum_cdf(small, 100, 50, 20)[1] == "levels"  # 50 draws from 100: k_max^2 / n = 25


def test_exact_null_agrees_with_per_cell_permutation(small_grid):
    counts, mask = small_grid
    R = 4999
    exact = gi_star_grid(counts, 250.0, 100.0, mask=mask, permutations=999)
    perm = gi_star_grid(counts, 250.0, 100.0, mask=mask, permutations=R, seed=3, null="permutation")
    assert exact.null_method.startswith("exact") and "per cell" in perm.null_method
    pe, pp = exact.p_sim[mask], perm.p_sim[mask]
    tail = pe / 2
    sd = 2 * np.sqrt(tail * (1 - tail) / R)
    assert np.all(np.abs(pp - pe) <= 4.5 * sd + 3.0 / (R + 1))
    assert abs(np.mean(pp - pe)) < 0.004  # no bias beyond the +1/(R+1) convention
    assert pe.min() < 1e-4 < pp.min()  # the exact null resolves below the permutation floor


def test_exact_null_agrees_with_numpy_brute_force(small_grid):
    """An independent NumPy conditional randomisation (random subsets by argsort) per cell."""
    counts, mask = small_grid
    p, upper, lower, y, k, t = _exact_tails(counts, mask, 250.0, 100.0)
    rng = np.random.default_rng(123)
    R = 2000
    for i in range(0, y.size, 7):
        others = np.delete(y, i)
        pick = np.argsort(rng.random((R, others.size)), axis=1)[:, : k[i]]
        sims = others[pick].sum(axis=1)
        for tail, mc in ((upper[i], np.mean(sims >= t[i])), (lower[i], np.mean(sims <= t[i]))):
            assert abs(mc - tail) <= 4.5 * np.sqrt(tail * (1 - tail) / R) + 1.0 / R


@pytest.mark.slow
def test_pseudo_p_agrees_with_esda_within_mc_error(small_grid):
    """esda's p_sim folds the upper-tail count: min(#(T >= t), #(T < t)); compare the exact tails.

    Slow only because esda's numba permutation engine is compiled afresh (no cache) on every run."""
    counts, mask = small_grid
    _, upper, _, _, _, _ = _exact_tails(counts, mask, 250.0, 100.0)
    folded = np.minimum(upper, 1 - upper)
    R = 999
    pts = _grid_points(*counts.shape, 100.0)[mask.ravel()]
    g = _esda(counts[mask], DistanceBand(pts, threshold=250.0, binary=True, silence_warnings=True), R, seed=11)
    sd = np.sqrt(folded * (1 - folded) / R)
    assert np.all(np.abs(g.p_sim - folded) <= 4.5 * sd + 3.0 / (R + 1))


@pytest.mark.parametrize("transform", ["B", "R"])
def test_permutations_independent_of_threads_and_seeded(transform):
    """Binary weights (the prefix-sum kernel) and row-standardised ones (the general kernel)."""
    import numba

    rng = np.random.default_rng(2)
    y = rng.gamma(2.0, 1.5, size=49)  # non-integer rates: the per-cell permutation path
    w = lat2W(7, 7, rook=False)
    w.transform = transform
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = gi_star_areas(y, w, permutations=199, seed=5)
        numba.set_num_threads(max(1, before))
        many = gi_star_areas(y, w, permutations=199, seed=5)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.p_sim, many.p_sim)
    assert "per cell" in one.null_method
    other = gi_star_areas(y, w, permutations=199, seed=6)
    assert not np.array_equal(one.p_sim, other.p_sim)


@pytest.mark.parametrize("values", ["rates", "counts"])
def test_binary_permutation_kernel_equals_the_general_one(values):
    """Same table, weights all 1: the prefix-sum/binary-search kernel counts exactly what the per-cell
    loop counts, ties with the observed value (integer counts) included."""
    from hotspot.kernels.gistar import crand_binary_pvalues_table, crand_pvalues_table
    from hotspot.stats.gistar import permutation_table

    rng = np.random.default_rng(4)
    n = 3000
    k = rng.integers(0, 25, n).astype(np.int64)
    k[:3] = 0
    indptr = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    if values == "rates":
        y = rng.gamma(2.0, 1.5, n)
        observed = y + rng.gamma(2.0 * 10, 1.5, n)
    else:
        y = rng.poisson(0.7, n).astype(float)
        observed = y + rng.poisson(0.7 * 12, n)
    table = permutation_table(n, int(k.max()), 499, 9)
    general = crand_pvalues_table(y, indptr, np.ones(indptr[-1]), np.ones(n), observed, table)
    binary = crand_binary_pvalues_table(y, k, np.ones(n), observed, table)
    for a, b in zip(general, binary):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(binary[0][:3]).all()


def test_permutation_draws_are_uniform_samples_of_the_others():
    """A row's first k entries with the cell itself replaced by entry k: every ordered k-tuple of the
    others equally likely (chi-square over the 60 tuples of 3 from 5)."""
    from hotspot.stats.gistar import permutation_table

    table = permutation_table(6, 3, 60_000, 1)
    i = 2
    rows = table[:, :3].copy()
    hit = rows == i
    rows[hit] = np.repeat(table[:, 3:4], 3, axis=1)[hit]
    assert not (rows == i).any()
    assert (np.sort(rows, axis=1)[:, 1:] != np.sort(rows, axis=1)[:, :-1]).all()  # distinct
    codes = rows[:, 0] * 36 + rows[:, 1] * 6 + rows[:, 2]
    _, freq = np.unique(codes, return_counts=True)
    assert freq.size == 60
    chi2 = float(((freq - 1000.0) ** 2 / 1000.0).sum())
    assert chi2 < 110  # 59 degrees of freedom: P(chi2 > 110) < 1e-4


def test_row_standardised_areas_use_the_general_formula():
    """Non-binary weights: z from the Getis-Ord general formula, checked by brute-force NumPy."""
    rng = np.random.default_rng(4)
    y = rng.poisson(3.0, 36).astype(float)
    w = lat2W(6, 6, rook=False)
    w.transform = "R"
    res = gi_star_areas(y, w, permutations=199, seed=1)
    dense = w.full()[0]
    np.fill_diagonal(dense, 1.0)
    n, xbar = y.size, y.mean()
    s = np.sqrt(np.mean(y * y) - xbar**2)
    wi, s1 = dense.sum(1), (dense**2).sum(1)
    z = (dense @ y - xbar * wi) / (s * np.sqrt((n * s1 - wi**2) / (n - 1)))
    np.testing.assert_allclose(res.z, z, atol=1e-10)
    assert "per cell" in res.null_method and np.all((res.p_sim > 0) & (res.p_sim <= 1))


def test_islands_reported_not_nan_silently():
    w = W({0: [1], 1: [0, 2], 2: [1], 3: []}, silence_warnings=True)
    res = gi_star_areas(np.array([1.0, 5.0, 2.0, 9.0]), w, permutations=99)
    assert res.islands.tolist() == [3]
    assert np.isnan(res.z[3]) and res.bin[3] == 0
    assert np.isfinite(res.z[:3]).all()
    assert any("island" in note for note in res.notes)


def test_all_zero_grid_is_zero_variance():
    res = gi_star_grid(np.zeros((10, 10)), 200.0, 100.0)
    assert np.all(res.z == 0) and np.all(res.p == 1) and np.all(res.bin == 0)
    assert any("zero variance" in note for note in res.notes)


def test_bad_inputs_raise_one_line():
    from hotspot.core.errors import HotspotInputError

    with pytest.raises(HotspotInputError):
        gi_star_grid(np.ones((5, 5)), 50.0, 100.0)  # band below the cell size
    with pytest.raises(HotspotInputError):
        gi_star_grid(np.ones((5, 5)), 200.0, 100.0, correction="holm")
    with pytest.raises(HotspotInputError):
        gi_star_areas(np.ones(3), lat2W(2, 2))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(-50, 50))
def test_adding_a_constant_leaves_z_unchanged(seed, shift):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(2.0, (8, 9)).astype(float)
    if counts.std() == 0:
        counts[0, 0] += 1
    a = gi_star_grid(counts, 150.0, 100.0, permutations=0)
    b = gi_star_grid(counts + shift, 150.0, 100.0, permutations=0)
    np.testing.assert_allclose(a.z, b.z, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_permuting_order_with_weights_permutes_results(seed):
    rng = np.random.default_rng(seed)
    n = 30
    y = rng.poisson(3.0, n).astype(float)
    y[0] += 1
    base = lat2W(5, 6, rook=True)
    perm = rng.permutation(n)  # new position j holds old observation perm[j]
    inverse = np.argsort(perm)
    neighbours = {j: [int(inverse[m]) for m in base.neighbors[int(perm[j])]] for j in range(n)}
    w2 = W(neighbours, silence_warnings=True)
    a = gi_star_areas(y, base, permutations=99, seed=1)
    b = gi_star_areas(y[perm], w2, permutations=99, seed=1)
    np.testing.assert_allclose(b.z, a.z[perm], atol=1e-12)
    # the exact null does not depend on order, so the pseudo p permutes exactly too
    np.testing.assert_allclose(b.p_sim, a.p_sim[perm], atol=1e-12)
    np.testing.assert_array_equal(b.bin, a.bin[perm])


def test_distinct_cells_groups_exactly_the_cells_with_equal_triples():
    """Each distinct (own, k, t) once, by its first cell in order; every cell pointed at its own triple; cells
    without neighbours at -1. Against numpy's unique on the triples, on small ranges so that most cells repeat."""
    from hotspot.kernels.gistar import distinct_cells

    rng = np.random.default_rng(11)
    # Narrow ranges repeat triples; one wide member fills the table with triples that differ in it alone, so
    # probes pass slots holding the same other two.
    for size, highs in ((1, (4, 5, 6)), (50, (4, 5, 6)), (5_000, (4, 5, 6)), *((20_000, w) for w in _one_wide())):
        own = rng.integers(0, highs[0], size)
        k = rng.integers(0, highs[1], size)
        t = rng.integers(0, highs[2], size)
        first, which = distinct_cells(own, k, t)
        triples = np.stack([own, k, t], axis=1)
        live = k > 0
        assert (which[~live] == -1).all() and (which[live] >= 0).all()
        np.testing.assert_array_equal(triples[first[which[live]]], triples[live])
        _, want_first = np.unique(triples[live], axis=0, return_index=True)
        np.testing.assert_array_equal(first, np.sort(np.flatnonzero(live)[want_first]))


def _one_wide():
    return [(50_000, 3, 3), (3, 50_000, 3), (3, 3, 50_000)]


def test_two_sided_normal_p_equals_scipy_ndtr():
    """The C library's erfc against scipy's normal tail (2 ndtr(-|z|), what esda's p_norm is built on), from the centre
    to the far tail: within 3e-15 relative for |z| <= 6 (every p a bin is drawn from), within 1e-13 beyond (p down to
    ~1e-300, the two erfc's rounding differently), NaN and infinities as scipy has them."""
    from scipy.special import ndtr

    from hotspot.kernels.gistar import two_sided_normal_p

    rng = np.random.default_rng(7)
    z = np.concatenate([rng.normal(0, 3, 200_000), np.linspace(-37, 37, 74_001), [0.0, -0.0, 1e-300, -8.3, 8.3]])
    got, want = two_sided_normal_p(z), 2.0 * ndtr(-np.abs(z))
    central = np.abs(z) <= 6
    np.testing.assert_allclose(got[central], want[central], rtol=3e-15, atol=0)
    normal = want > 1e-300
    np.testing.assert_allclose(got[normal], want[normal], rtol=1e-13, atol=0)
    special = np.array([np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(two_sided_normal_p(special), 2.0 * ndtr(-np.abs(special)))
    grid = z[:12].reshape(3, 4)
    assert two_sided_normal_p(grid).shape == (3, 4)
