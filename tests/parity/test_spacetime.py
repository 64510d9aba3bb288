"""Space-time statistics against independent references (recovery of the planted space-time truth: tests/recovery/test_spacetime_demo.py).

References: pymannkendall (Mann-Kendall), esda.G_Local on the cube flattened with explicit space-time
weights (space-time Gi*), brute-force pair counting and the exact permutation expectation (Knox),
a plain double loop (near-repeat surface), and ArcGIS's category definitions written out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.spacetime.cube import SpaceTimeCube
from hotspot.spacetime.emerging import classify
from hotspot.spacetime.knox import knox_test
from hotspot.spacetime.mannkendall import mann_kendall
from hotspot.spacetime.stgistar import space_time_gi_star

# --- Mann-Kendall ---------------------------------------------------------------------------------


def test_mann_kendall_matches_pymannkendall_with_and_without_ties():
    mk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(1)
    series = np.vstack(
        [
            rng.normal(size=(20, 24)),  # no ties
            rng.poisson(1.5, size=(20, 24)).astype(float),  # many ties
            np.cumsum(rng.normal(0.3, 1, size=(10, 24)), axis=1),  # trending
            np.round(rng.normal(size=(10, 24)), 1),  # ties from rounding
        ]
    )
    ours = mann_kendall(series)
    for i, row in enumerate(series):
        ref = mk.original_test(row)
        if ref.var_s == 0:
            continue
        assert ours.s[i] == pytest.approx(ref.s)
        assert ours.var_s[i] == pytest.approx(ref.var_s, rel=1e-12)
        assert ours.z[i] == pytest.approx(ref.z, rel=1e-10, abs=1e-12)
        assert ours.p[i] == pytest.approx(ref.p, rel=1e-8, abs=1e-12)
        assert ours.tau[i] == pytest.approx(ref.Tau, rel=1e-12)


def test_mann_kendall_degenerate_series():
    out = mann_kendall(np.array([[1.0, 1.0, 1.0, 1.0], [1.0, np.nan, 2.0, 3.0]]))
    assert list(out.z) == [0.0, 0.0] and list(out.p) == [1.0, 1.0]


# --- space-time Gi* against esda -----------------------------------------------------------------


def _esda_space_time_z(counts, mask, band_m, cell, window):
    """esda.G_Local on every bin with explicit backward-looking space-time binary weights."""
    from esda import G_Local
    from libpysal.weights import W

    n_t, nr, nc = counts.shape
    cells = [(r, c) for r in range(nr) for c in range(nc) if mask[r, c]]
    index = {rc: i for i, rc in enumerate(cells)}
    m = len(cells)
    neighbours = {}
    for t in range(n_t):
        for (r, c), i in index.items():
            nbrs = []
            for t2 in range(max(0, t - window), t + 1):
                for (r2, c2), j in index.items():
                    if (t2, j) == (t, i):
                        continue
                    if np.hypot(r2 - r, c2 - c) * cell <= band_m + 1e-9:
                        nbrs.append(t2 * m + j)
            neighbours[t * m + i] = nbrs
    w = W(neighbours, silence_warnings=True)
    y = np.array([counts[t][r, c] for t in range(n_t) for (r, c) in cells])
    g = G_Local(y[w.id_order], w, transform="B", star=True, permutations=0)
    z = np.empty(y.size)
    z[np.asarray(w.id_order)] = g.Zs
    return z.reshape(n_t, m)


@pytest.mark.parametrize("window", [0, 1, 2])
def test_space_time_gistar_matches_esda_on_the_same_cube(window):
    rng = np.random.default_rng(7)
    n_t, nr, nc = 5, 7, 8
    counts = rng.poisson(1.2, size=(n_t, nr, nc)).astype(float)
    counts[3, 2:4, 3:5] += 6  # some structure
    mask = np.ones((nr, nc), dtype=bool)
    mask[0, :3] = False
    mask[5, 6] = False
    grid = Grid(0.0, nr * 100.0, 100.0, nc, nr)
    cube = SpaceTimeCube(counts=counts, labels=tuple(str(i) for i in range(n_t)), slice="month", grid=grid, mask=mask)
    ours = space_time_gi_star(cube, band_m=150.0, time_window=window, correction="none")
    ref = _esda_space_time_z(counts, mask, 150.0, 100.0, window)
    np.testing.assert_allclose(ours.z[:, mask], ref, rtol=1e-9, atol=1e-9)
    assert np.isnan(ours.z[:, ~mask]).all()


def test_space_time_gistar_on_areas_matches_esda():
    from esda import G_Local
    from libpysal.weights import W, lat2W

    rng = np.random.default_rng(3)
    w_space = lat2W(4, 5, rook=True)
    n = w_space.n
    n_t = 6
    counts = rng.poisson(2.0, size=(n_t, n)).astype(float)
    cube = SpaceTimeCube(counts=counts, labels=tuple(map(str, range(n_t))), slice="month", areas=object())
    ours = space_time_gi_star(cube, weights=w_space, time_window=1, correction="none")
    neighbours = {}
    for t in range(n_t):
        for i in range(n):
            nbrs = [t * n + j for j in w_space.neighbors[i]]
            if t > 0:
                nbrs += [(t - 1) * n + i] + [(t - 1) * n + j for j in w_space.neighbors[i]]
            neighbours[t * n + i] = nbrs
    w = W(neighbours, silence_warnings=True)
    g = G_Local(counts.ravel()[w.id_order], w, transform="B", star=True, permutations=0)
    z = np.empty(counts.size)
    z[np.asarray(w.id_order)] = g.Zs
    np.testing.assert_allclose(ours.z.ravel(), z, rtol=1e-9, atol=1e-9)


def test_space_time_gistar_bad_options():
    grid = Grid(0.0, 300.0, 100.0, 3, 3)
    cube = SpaceTimeCube(
        counts=np.ones((4, 3, 3)), labels=tuple("abcd"), slice="month", grid=grid, mask=np.ones((3, 3), bool)
    )
    with pytest.raises(HotspotInputError, match="band"):
        space_time_gi_star(cube, band_m=None)
    with pytest.raises(HotspotInputError, match="time-window"):
        space_time_gi_star(cube, band_m=150.0, time_window=-1)
    flat = space_time_gi_star(cube, band_m=150.0)
    assert (flat.z == 0).all() and "zero variance" in flat.notes[0]


# --- the ArcGIS categories, rule by rule -----------------------------------------------------------

H, C, O = 1, -1, 0  # noqa: E741  (hot, cold, nothing: the ArcGIS letters)


def _cat(pattern, trend_z=0.0, trend_p=1.0):
    bins = np.array([pattern])
    return classify(bins == H, bins == C, np.array([trend_z]), np.array([trend_p]))[0]


@pytest.mark.parametrize(
    "pattern, trend, expected",
    [
        ([O] * 19 + [H], (0, 1), "new hot spot"),
        ([O] * 16 + [H] * 4, (3, 0.001), "consecutive hot spot"),
        ([H] * 20, (3, 0.001), "intensifying hot spot"),
        ([H] * 20, (-3, 0.001), "diminishing hot spot"),
        ([H] * 20, (0.5, 0.6), "persistent hot spot"),
        ([O] + [H] * 19, (0.5, 0.6), "persistent hot spot"),  # 95 % hot
        ([O, O] + [H] * 18, (0.5, 0.6), "persistent hot spot"),  # a 90 % run with nothing before: >= 90 % rules first
        ([H, O, H, O] * 5 + [H], (0, 1), "sporadic hot spot"),
        ([C, O, O, H, H] * 4, (0, 1), "oscillating hot spot"),
        ([C] + [O] * 18 + [H], (0, 1), "oscillating hot spot"),  # once cold: not new
        ([H] * 19 + [O], (0, 1), "historical hot spot"),
        ([H] * 10 + [O] * 10, (0, 1), "no pattern detected"),  # faded out: no pattern (final not hot, < 90 %)
        ([O] * 20, (0, 1), "no pattern detected"),
        ([O] * 19 + [C], (0, 1), "new cold spot"),
        ([C] * 20, (-3, 0.001), "intensifying cold spot"),
        ([C] * 20, (3, 0.001), "diminishing cold spot"),
        ([C] * 20, (0, 1), "persistent cold spot"),
        ([H, O, O, C, C] * 4, (0, 1), "oscillating cold spot"),
        ([C, O] * 10 + [C], (0, 1), "sporadic cold spot"),
        ([C] * 19 + [O], (0, 1), "historical cold spot"),
    ],
)
def test_categories_follow_the_arcgis_definitions(pattern, trend, expected):
    assert _cat(pattern, *trend) == expected


def test_ninety_percent_boundary():
    # exactly 90 % hot with the final slice hot and no trend: persistent, not sporadic
    assert _cat([O, H] + [H] * 8 + [O] + [H] * 9, 0.1, 0.9) in ("persistent hot spot",)
    assert _cat([O, O, H] + [H] * 7 + [O] + [H] * 9, 0.1, 0.9) == "sporadic hot spot"  # 85 %


# --- Knox ----------------------------------------------------------------------------------------


def _brute_knox(xy, t, d_edges, t_edges):
    i, j = np.triu_indices(len(t), 1)
    d = np.hypot(*(xy[i] - xy[j]).T)
    dt = np.abs(t[i] - t[j])

    def band(v, edges):
        out = np.full(v.size, len(edges) - 1)
        for k in range(len(edges) - 1, 0, -1):
            out[v <= edges[k]] = k - 1
        return out

    table = np.zeros((len(d_edges), len(t_edges)), dtype=np.int64)
    np.add.at(table, (band(d, d_edges), band(dt, t_edges)), 1)
    return table, band(d, d_edges), band(dt, t_edges)


@pytest.fixture(scope="module")
def knox_points():
    rng = np.random.default_rng(11)
    n = 400
    xy = rng.uniform(0, 2000, (n, 2)).round(0)
    xy[:40] = xy[40:80]  # some records at exactly the same place
    t = rng.integers(0, 120, n).astype(float)
    return xy, t


@pytest.mark.parametrize("unit, same", [("days", True), ("days", False), ("months", True)])
def test_knox_observed_counts_equal_brute_force(knox_points, unit, same):
    xy, t = knox_points
    result = knox_test(
        xy,
        t if unit == "days" else t // 10,
        time_unit=unit,
        distance_band_m=150,
        distance_bands=4,
        same_location=same,
        time_band=5 if unit == "days" else 1,
        time_bands=4,
        permutations=99,
        seed=2,
    )
    table, _, _ = _brute_knox(xy, t if unit == "days" else t // 10, result.distance_edges_m, result.time_edges)
    np.testing.assert_array_equal(result.observed, table)
    assert result.observed.sum() == len(t) * (len(t) - 1) // 2


def test_knox_expected_counts_equal_the_exact_permutation_mean(knox_points):
    # Under a random permutation of times each pair gets a uniformly random pair of distinct times, so
    # E[count(d, t)] = pairs in distance band d x pairs of times in band t / all pairs: an exact reference.
    xy, t = knox_points
    result = knox_test(
        xy, t, distance_band_m=150, distance_bands=4, time_band=5, time_bands=4, permutations=999, seed=5
    )
    _, d_band, t_band = _brute_knox(xy, t, result.distance_edges_m, result.time_edges)
    pairs = len(t) * (len(t) - 1) / 2
    exact = (
        np.outer(
            np.bincount(d_band, minlength=result.observed.shape[0]),
            np.bincount(t_band, minlength=result.observed.shape[1]),
        )
        / pairs
    )
    se = np.maximum(result.sd, 1e-9) / np.sqrt(result.permutations)
    assert np.all(np.abs(result.expected - exact) <= 5 * se + 1e-9)
    assert np.allclose(result.expected.sum(), pairs)


def test_knox_same_seed_same_table_on_any_number_of_threads(knox_points):
    import numba

    xy, t = knox_points
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = knox_test(xy, t, permutations=199, seed=9)
        numba.set_num_threads(max(2, before))
        two = knox_test(xy, t, permutations=199, seed=9)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.p, two.p)
    np.testing.assert_array_equal(one.expected, two.expected)
    other = knox_test(xy, t, permutations=199, seed=10)
    assert not np.array_equal(one.expected, other.expected)


def test_knox_bad_input_is_one_clear_error():
    xy = np.zeros((5, 2))
    with pytest.raises(HotspotInputError, match="permutations"):
        knox_test(xy, np.arange(5.0), permutations=5)
    with pytest.raises(HotspotInputError, match="distance-band"):
        knox_test(xy, np.arange(5.0), distance_band_m=-1)
    with pytest.raises(HotspotInputError, match="time-band"):
        knox_test(xy, np.arange(5.0), time_band=0)


# --- near-repeat surface ----------------------------------------------------------------------------


def test_near_repeat_scores_equal_a_double_loop():
    from hotspot.spacetime.interaction import near_repeat_scores

    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 1000, (60, 2))
    t = rng.integers(0, 40, 60).astype(float)
    d_edges = np.array([0.0, 0.0, 100.0, 200.0, 300.0])
    t_edges = np.array([0.0, 7.0, 14.0])
    weights = rng.uniform(0, 2, (4, 2))
    gx, gy = np.meshgrid(np.arange(25.0, 1000, 50), np.arange(25.0, 1000, 50))
    ours = near_repeat_scores(xy, t, 30.0, gx, gy, weights=weights, distance_edges_m=d_edges, time_edges=t_edges)

    def band(v, edges):
        for k in range(1, len(edges)):
            if v <= edges[k]:
                return k - 1
        return len(edges) - 1

    ref = np.zeros(gx.shape)
    for (x, y), ti in zip(xy, t):
        age = 30.0 - ti
        if not 0 < age <= t_edges[-1]:
            continue
        for idx in np.ndindex(gx.shape):
            db = band(np.hypot(gx[idx] - x, gy[idx] - y), d_edges)
            if db < 4:
                ref[idx] += weights[db, band(age, t_edges)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
