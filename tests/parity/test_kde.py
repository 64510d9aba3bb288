"""Kernel density: parity with a brute-force NumPy sum, scikit-learn and KDEpy; mass; units; GeoTIFF; errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.stats.kde import KERNELS, aggregate_locations, default_bandwidth, kernel_density


def brute_force(x, y, grid, h, kernel, weights=None):
    """Independent reference: every point against every cell centre, straight from the documented formulas (per m^2)."""
    w = np.ones(len(x)) if weights is None else np.asarray(weights, float)
    cx, cy = grid.cell_centres()
    d = np.hypot(cx[..., None] - np.asarray(x)[None, None, :], cy[..., None] - np.asarray(y)[None, None, :])
    u = d / h
    inside = d < h
    if kernel == "quartic":
        k = 3 / (math.pi * h**2) * (1 - u**2) ** 2
    elif kernel == "epanechnikov":
        k = 2 / (math.pi * h**2) * (1 - u**2)
    elif kernel == "triangular":
        k = 3 / (math.pi * h**2) * (1 - u)
    elif kernel == "uniform":
        k = np.full(d.shape, 1 / (math.pi * h**2))
    else:
        s = h / 3
        k = np.exp(-(d**2) / (2 * s**2)) / (2 * math.pi * s**2 * (1 - math.exp(-(h**2) / (2 * s**2))))
    return (np.where(inside, k, 0.0) * w).sum(axis=-1)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(42)
    # Some exact duplicates, as police.uk snap points produce, and points just off the grid.
    x = rng.uniform(-300, 2300, 300)
    y = rng.uniform(-300, 1800, 300)
    x[100:160] = x[:60]
    y[100:160] = y[:60]
    w = rng.uniform(0.5, 3.0, 300)
    grid = Grid(xmin=0.0, ymax=1500.0, cell_size=25.0, ncols=80, nrows=60, crs="EPSG:27700")
    return x, y, w, grid


@pytest.mark.parametrize("kernel", KERNELS)
def test_exact_matches_brute_force(small, kernel):
    x, y, w, grid = small
    for weights in (None, w):
        got = kernel_density(x, y, grid, bandwidth_m=230.0, kernel=kernel, weights=weights, units="per-km2")
        want = brute_force(x, y, grid, 230.0, kernel, weights) * 1e6
        assert want.max() > 0
        np.testing.assert_allclose(got.surface, want, rtol=1e-10, atol=1e-10 * want.max())


@pytest.fixture(scope="module")
def crowded():
    """Cells of many points and runs of cells of a few (summed through their moments) beside sparse cells.

    With exact duplicates (some in crowded cells, where they are merged by hashing) and points off the grid.
    """
    rng = np.random.default_rng(11)
    x = np.concatenate(
        [rng.normal(700, 35, 1500), rng.uniform(1000, 1500, 1200), rng.uniform(-400, 1900, 300), np.full(40, 312.5)]
    )
    y = np.concatenate(
        [rng.normal(800, 35, 1500), rng.uniform(1000, 1500, 1200), rng.uniform(-400, 1900, 300), np.full(40, 1187.5)]
    )
    x[1200:1300] = x[:100]
    y[1200:1300] = y[:100]
    w = rng.uniform(0.5, 2.0, x.size)
    grid = Grid(xmin=0.0, ymax=1500.0, cell_size=25.0, ncols=60, nrows=60, crs="EPSG:27700")
    return x, y, w, grid


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("h", [26.0, 90.0, 333.0])
def test_crowded_cells_match_brute_force(crowded, kernel, h):
    import hotspot.stats.kde

    x, y, w, grid = crowded
    assert hotspot.stats.kde._sort_into_cells(x, y, None, grid, h).cell_cnt.max() >= hotspot.stats.kde._DENSE_MIN
    for weights in (None, w):
        got = kernel_density(x, y, grid, bandwidth_m=h, kernel=kernel, weights=weights, units="per-km2").surface
        want = brute_force(x, y, grid, h, kernel, weights) * 1e6
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * want.max())
        # The cut is exact: no round-off lands on cells no kernel reaches.
        assert np.all(got[want == 0] == 0)


@pytest.mark.parametrize("kernel", ["uniform", "quartic", "triangular"])
def test_cut_is_exact_on_whole_metres(kernel):
    """Whole-metre points 500 m from 50 m-offset cell centres (3-4-5 triangles) get exactly the kernel's cut (d < h).

    With a point or two per cell, runs of cells are summed through their moments or location by location
    depending on where the runs start, so both paths meet the cut, and must agree whatever the grid's
    origin (tiles of a big grid rely on that).
    """
    rng = np.random.default_rng(5)
    # British National Grid magnitudes: offsets in bandwidths would round differently from cell to cell.
    x = rng.integers(0, 3000, 1500) + 512_000.0
    y = rng.integers(0, 3000, 1500) + 204_000.0
    grid = Grid(xmin=512_000.0, ymax=207_000.0, cell_size=100.0, ncols=30, nrows=30)
    got = kernel_density(x, y, grid, bandwidth_m=500.0, kernel=kernel).surface
    want = brute_force(x, y, grid, 500.0, kernel) * 1e6
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * want.max())
    # The same cells inside a bigger grid (other origin, other cells and runs) make the same cut.
    wider = Grid(xmin=510_700.0, ymax=207_700.0, cell_size=100.0, ncols=50, nrows=50)
    again = kernel_density(x, y, wider, bandwidth_m=500.0, kernel=kernel).surface[7:37, 13:43]
    np.testing.assert_allclose(again, got, rtol=1e-12, atol=1e-12 * want.max())


@pytest.mark.parametrize("layout", ["snapped", "crowded", "distinct", "signed_zero"])
def test_locations_counted_like_numpy_unique(layout):
    rng = np.random.default_rng(3)
    n = 4000
    grid = Grid(xmin=0.0, ymax=1000.0, cell_size=50.0, ncols=20, nrows=20)
    if layout == "snapped":  # police.uk-like: few distinct points, many records at each
        x = np.round(rng.uniform(-10, 30, n)) * 37.5
        y = np.round(rng.uniform(-10, 30, n)) * 37.5
    elif layout == "crowded":  # hundreds per cell, a third of them repeated
        x = np.round(rng.normal(500, 30, n), 1)
        y = np.round(rng.normal(500, 30, n), 1)
    elif layout == "distinct":
        x = rng.uniform(-500, 1500, n)
        y = rng.uniform(-500, 1500, n)
    else:  # -0.0 and 0.0 are the same coordinate
        x = np.where(rng.random(n) < 0.5, -0.0, 0.0)
        y = np.round(rng.uniform(0, 40, n)) * 12.5
    result = kernel_density(x, y, grid, bandwidth_m=120.0)
    assert result.n_locations == np.unique(np.column_stack([x, y]), axis=0).shape[0]
    assert result.n_points == n


def test_aggregation_merges_identical_coordinates_only(small):
    x, y, w, grid = small
    lx, ly, lw = aggregate_locations(x, y, w)
    assert lx.size == 240
    assert lw.sum() == pytest.approx(w.sum())
    assert np.all(np.diff(ly) >= 0)
    result = kernel_density(x, y, grid, bandwidth_m=200.0, weights=w)
    assert (result.n_points, result.n_locations) == (300, 240)
    assert result.total_weight == pytest.approx(w.sum())


@pytest.mark.parametrize("layout", ["snapped", "one_row", "distinct", "single"])
def test_aggregation_matches_numpy_unique(layout):
    rng = np.random.default_rng(7)
    n = 5000
    if layout == "snapped":  # few distinct points, as police.uk
        x = np.round(rng.uniform(0, 20, n)) * 37.5
        y = np.round(rng.uniform(0, 20, n)) * 37.5
    elif layout == "one_row":  # every point on one y: a single band sorted by x alone
        x = np.round(rng.uniform(0, 300, n))
        y = np.full(n, 123.25)
    elif layout == "distinct":
        x = rng.uniform(0, 1e5, n)
        y = rng.uniform(0, 1e5, n)
    else:
        x, y = np.array([5.0]), np.array([7.0])
    w = rng.integers(1, 5, x.size).astype(float)  # integers: sums exact in any order
    lx, ly, lw = aggregate_locations(x, y, w)
    pairs, inverse = np.unique(np.column_stack([y, x]), axis=0, return_inverse=True)
    np.testing.assert_array_equal(ly, pairs[:, 0])
    np.testing.assert_array_equal(lx, pairs[:, 1])
    np.testing.assert_array_equal(lw, np.bincount(inverse.ravel(), weights=w))


@pytest.mark.parametrize("kernel", KERNELS)
def test_mass_integrates_to_total_weight(kernel):
    rng = np.random.default_rng(1)
    x = rng.uniform(2000, 8000, 500)
    y = rng.uniform(2000, 8000, 500)
    grid = Grid.from_bounds(0, 0, 10000, 10000, 20.0)
    result = kernel_density(x, y, grid, bandwidth_m=400.0, kernel=kernel, units="per-cell")
    # Every kernel lies wholly on the grid, so only the cell-centre discretisation is lost.
    assert result.mass_on_grid == pytest.approx(1.0, abs=2e-3)
    assert np.nansum(result.surface) == pytest.approx(500, rel=2e-3)
    per_km2 = kernel_density(x, y, grid, bandwidth_m=400.0, kernel=kernel, units="per-km2")
    np.testing.assert_allclose(per_km2.surface * grid.cell_area_m2 / 1e6, result.surface, rtol=1e-12)


def test_mass_outside_grid_is_reported():
    # A point on the west edge: about half its kernel falls off the grid.
    grid = Grid(xmin=0.0, ymax=2000.0, cell_size=10.0, ncols=200, nrows=200)
    result = kernel_density([0.0], [1000.0], grid, bandwidth_m=300.0, units="per-cell")
    assert result.mass_on_grid == pytest.approx(0.5, abs=0.02)
    corrected = kernel_density([0.0], [1000.0], grid, bandwidth_m=300.0, units="per-cell", edge_correction=True)
    # Up to the cell-centre discretisation of the kernel (which an interior point has too).
    interior = kernel_density([1000.0], [1000.0], grid, bandwidth_m=300.0, units="per-cell")
    assert corrected.mass_on_grid == pytest.approx(interior.mass_on_grid, abs=1e-12)
    assert corrected.mass_on_grid == pytest.approx(1.0, abs=1e-4)


def test_relative_units_mean_one_and_mask(small):
    x, y, _, grid = small
    mask = np.zeros(grid.shape, dtype=bool)
    mask[10:50, 5:70] = True
    result = kernel_density(x, y, grid, bandwidth_m=200.0, units="relative", mask=mask)
    assert np.isnan(result.surface[~mask]).all()
    assert np.isfinite(result.surface[mask]).all()
    assert np.nanmean(result.surface) == pytest.approx(1.0, rel=1e-12)
    unmasked = kernel_density(x, y, grid, bandwidth_m=200.0, units="per-km2")
    positive = mask & (unmasked.surface > 0)
    ratio = result.surface[positive] / unmasked.surface[positive]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)


def test_edge_correction_divides_by_kernel_share_inside_mask():
    grid = Grid(xmin=0.0, ymax=1000.0, cell_size=10.0, ncols=100, nrows=100)
    mask = np.zeros(grid.shape, dtype=bool)
    mask[:, :50] = True  # west half
    x, y = np.array([480.0, 200.0]), np.array([500.0, 500.0])
    plain = kernel_density(x, y, grid, bandwidth_m=100.0, units="per-cell", mask=mask)
    corr = kernel_density(x, y, grid, bandwidth_m=100.0, units="per-cell", mask=mask, edge_correction=True)
    assert corr.mass_on_grid == pytest.approx(1.0, abs=1e-3)
    assert plain.mass_on_grid < 0.85
    # The interior point (200, 500) is unchanged; the one 20 m from the mask edge is scaled by 1/share.
    near_interior = (slice(45, 55), slice(15, 25))
    np.testing.assert_allclose(corr.surface[near_interior], plain.surface[near_interior], rtol=1e-12)
    edge_cells = (slice(45, 55), slice(44, 50))
    single = kernel_density([480.0], [500.0], grid, bandwidth_m=100.0, units="per-cell")
    share = np.nansum(np.where(mask, single.surface, 0)) / np.nansum(single.surface)
    np.testing.assert_allclose(corr.surface[edge_cells], plain.surface[edge_cells] / share, rtol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("fixture", ["small", "crowded"])
def test_result_does_not_depend_on_thread_count(fixture, kernel, request, monkeypatch):
    """Bit for bit, every kernel: bands of rows (their height depends on the thread count) must not change any sum."""
    import numba

    import hotspot.stats.kde

    x, y, w, grid = request.getfixturevalue(fixture)
    serial = kernel_density(x, y, grid, bandwidth_m=200.0, weights=w, kernel=kernel).surface
    monkeypatch.setattr(hotspot.stats.kde, "_SERIAL_WORK", 0)  # force the parallel paths, in several blocks
    monkeypatch.setattr(hotspot.stats.kde, "_SERIAL_SORT_POINTS", 0)
    monkeypatch.setattr(hotspot.stats.kde, "_SORT_CHUNK", 97)
    monkeypatch.setattr(hotspot.stats.kde, "_BLOCK_WORK", 1e4)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kernel_density(x, y, grid, bandwidth_m=200.0, weights=w, kernel=kernel).surface
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = kernel_density(x, y, grid, bandwidth_m=200.0, weights=w, kernel=kernel).surface
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert np.array_equal(one, serial)


@pytest.mark.parametrize(
    "kernel,sk_name,sk_bandwidth",
    [
        ("epanechnikov", "epanechnikov", lambda h: h),
        ("uniform", "tophat", lambda h: h),
        ("triangular", "linear", lambda h: h),
    ],
)
def test_matches_scikit_learn_bounded_kernels(small, kernel, sk_name, sk_bandwidth):
    from sklearn.neighbors import KernelDensity as SkKD

    x, y, _, grid = small
    h = 230.0
    ours = kernel_density(x, y, grid, bandwidth_m=h, kernel=kernel, units="per-km2").surface / 1e6
    cx, cy = grid.cell_centres()
    sk = SkKD(kernel=sk_name, bandwidth=sk_bandwidth(h), rtol=0, atol=0).fit(np.column_stack([x, y]))
    # score_samples is log density normalised by n; zero density gives -inf.
    theirs = np.exp(sk.score_samples(np.column_stack([cx.ravel(), cy.ravel()]))).reshape(grid.shape) * len(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-8 * theirs.max())


def test_gaussian_matches_scikit_learn_within_truncation():
    """sklearn's Gaussian takes sigma and is not truncated: ours = sklearn(bandwidth = h/3) / (1 - e^-4.5) where every point is within h."""
    from sklearn.neighbors import KernelDensity as SkKD

    rng = np.random.default_rng(3)
    h = 300.0
    # Two tight clusters 10 h apart: at cells near a cluster every point of it is within h and the other is negligible.
    a = rng.normal(0, 15, (40, 2)) + [1000, 1000]
    b = rng.normal(0, 15, (40, 2)) + [4000, 1000]
    pts = np.vstack([a, b])
    grid = Grid(xmin=880.0, ymax=1120.0, cell_size=20.0, ncols=12, nrows=12)
    ours = kernel_density(pts[:, 0], pts[:, 1], grid, bandwidth_m=h, kernel="gaussian", units="per-km2").surface / 1e6
    cx, cy = grid.cell_centres()
    sk = SkKD(kernel="gaussian", bandwidth=h / 3, rtol=0, atol=0).fit(pts)
    theirs = np.exp(sk.score_samples(np.column_stack([cx.ravel(), cy.ravel()]))).reshape(grid.shape) * len(pts)
    np.testing.assert_allclose(ours * (1 - math.exp(-4.5)), theirs, rtol=1e-9)


def test_quartic_matches_kdepy_biweight_within_binning_error(small):
    from KDEpy import FFTKDE

    rng = np.random.default_rng(5)
    x = rng.normal(1000, 250, 2000)
    y = rng.normal(750, 200, 2000)
    grid = Grid(xmin=-1000.0, ymax=2750.0, cell_size=20.0, ncols=200, nrows=200)
    h = 300.0
    ours = kernel_density(x, y, grid, bandwidth_m=h, units="per-km2").surface / 1e6
    # KDEpy's bw is the per-axis standard deviation; its biweight reaches zero at bw * sqrt(7).
    # FFTKDE wants its grid sorted by x then y, so build it west-east, south-north and turn it north-up after.
    gx, gy = np.meshgrid(grid.column_centres(), grid.row_centres()[::-1], indexing="ij")
    points = np.column_stack([gx.ravel(), gy.ravel()])
    theirs = FFTKDE(kernel="biweight", bw=h / math.sqrt(7), norm=2).fit(np.column_stack([x, y])).evaluate(points)
    theirs = theirs.reshape(grid.ncols, grid.nrows).T[::-1] * len(x)
    assert np.abs(ours - theirs).max() < 5e-3 * ours.max()
    # A wrong convention (bw = h) would be off by far more than binning error.
    assert np.abs(ours.max() - theirs.max()) < 0.01 * ours.max()


@pytest.mark.parametrize("kernel", KERNELS)
def test_binned_is_close_to_exact(kernel):
    rng = np.random.default_rng(9)
    x = rng.normal(2500, 500, 3000)
    y = rng.normal(2500, 500, 3000)
    grid = Grid.from_bounds(0, 0, 5000, 5000, 25.0)
    exact = kernel_density(x, y, grid, bandwidth_m=400.0, kernel=kernel)
    binned = kernel_density(x, y, grid, bandwidth_m=400.0, kernel=kernel, binned=True)
    tolerance = 0.03 if kernel == "uniform" else 5e-3  # the uniform kernel's step makes binning error larger
    assert np.abs(binned.surface - exact.surface).max() < tolerance * exact.surface.max()
    assert binned.binned and not exact.binned
    # Every point is well inside the grid, so both carry the whole weight.
    assert binned.mass_on_grid == pytest.approx(1.0, abs=1e-9)
    assert exact.mass_on_grid == pytest.approx(1.0, abs=2e-3)


def test_default_bandwidth_rule():
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1000, 5000)
    y = rng.normal(0, 1000, 5000)
    h, text = default_bandwidth(x, y)
    cx, cy = x.mean(), y.mean()
    d = np.hypot(x - cx, y - cy)
    sd = math.sqrt(np.mean(d**2))
    dm = np.median(d)
    want = 0.9 * min(sd, math.sqrt(1 / math.log(2)) * dm) * 5000**-0.2
    assert h == pytest.approx(want, rel=1e-3)
    assert "Silverman" in text and f"{want:,.0f} m" in text
    # Weights count as that many points at the same place.
    hw, _ = default_bandwidth(np.r_[x, x[:10]], np.r_[y, y[:10]])
    hw2, _ = default_bandwidth(x, y, weights=np.r_[np.full(10, 2.0), np.ones(4990)])
    assert hw == pytest.approx(hw2, rel=1e-12)
    grid = Grid.from_points(x, y, 50.0)
    result = kernel_density(x, y, grid)
    assert result.bandwidth_m == pytest.approx(h) and result.bandwidth_rule == text
    assert kernel_density(x, y, grid, bandwidth_m=500).bandwidth_rule == "given"
    # A rule bandwidth below the cell size is raised to it (a given one is refused, see the bad-input test).
    coarse = Grid.from_points(x, y, 1000.0)
    raised = kernel_density(x, y, coarse)
    assert raised.bandwidth_m == 1000.0 and raised.bandwidth_rule.endswith("raised to the 1000 m cell size")


def test_geotiff_round_trip(tmp_path, small):
    import rasterio

    x, y, _, grid = small
    mask = np.ones(grid.shape, dtype=bool)
    mask[:5, :] = False
    result = kernel_density(x, y, grid, bandwidth_m=250.0, mask=mask)
    path = result.to_geotiff(tmp_path / "kde.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 27700
        assert src.transform == grid.transform
        assert src.nodata == -9999.0
        assert src.descriptions[0] == "quartic kernel density, bandwidth 250 m, per km2"
        assert src.tags()["bandwidth_rule"] == "given"
        data = src.read(1, masked=True)
    assert data.mask[:5].all() and not data.mask[5:].any()
    np.testing.assert_array_equal(data.filled(np.nan)[5:], result.surface[5:])


@pytest.mark.parametrize(
    "kwargs,words",
    [
        (dict(kernel="cosine"), "--kernel"),
        (dict(units="per-hectare"), "--units"),
        (dict(bandwidth_m=-5), "--bandwidth"),
        (dict(bandwidth_m=10), "smaller than"),
        (dict(weights=np.array([1.0, -1.0])), "weight of point 1"),
        (dict(mask=np.ones((3, 3), bool)), "mask"),
    ],
)
def test_bad_input_is_one_clear_line(kwargs, words):
    grid = Grid(xmin=0.0, ymax=1000.0, cell_size=50.0, ncols=20, nrows=20)
    kwargs = {"bandwidth_m": 200.0, **kwargs}
    with pytest.raises(HotspotInputError, match=words) as info:
        kernel_density([100.0, 200.0], [300.0, 400.0], grid, **kwargs)
    assert "\n" not in str(info.value)


def test_missing_coordinates_and_single_location_are_input_errors():
    grid = Grid(xmin=0.0, ymax=1000.0, cell_size=50.0, ncols=20, nrows=20)
    with pytest.raises(HotspotInputError, match="point 1"):
        kernel_density([1.0, np.nan], [1.0, 2.0], grid, bandwidth_m=200)
    with pytest.raises(HotspotInputError, match="--bandwidth"):
        kernel_density([5.0, 5.0], [5.0, 5.0], grid)


def test_geotiff_is_cloud_optimised(tmp_path):
    import rasterio

    from hotspot.io.outputs import COG_BLOCK_PX

    rng = np.random.default_rng(2)
    grid = Grid(xmin=0.0, ymax=60_000.0, cell_size=100.0, ncols=2100, nrows=600)  # over COG_OVERVIEW_MIN_PX
    x = rng.uniform(0, 210_000, 2000)
    y = rng.uniform(0, 60_000, 2000)
    result = kernel_density(x, y, grid, bandwidth_m=800.0, units="relative")
    path = result.to_geotiff(tmp_path / "big.tif")
    with rasterio.open(path) as src:
        assert src.profile["tiled"] and src.block_shapes[0] == (COG_BLOCK_PX, COG_BLOCK_PX)
        assert src.compression is not None and src.compression.name.upper() == "DEFLATE"
        assert src.overviews(1), "COG layout needs internal overviews"
        assert src.descriptions[0] == "quartic kernel density, bandwidth 800 m, relative to the grid mean"
        np.testing.assert_array_equal(src.read(1), result.surface)


def test_progress_reports_each_stage_to_completion(small, monkeypatch):
    import hotspot.stats.kde

    x, y, _, grid = small
    calls = []
    monkeypatch.setattr(hotspot.stats.kde, "_SERIAL_WORK", 0)
    monkeypatch.setattr(hotspot.stats.kde, "_BLOCK_WORK", 1e4)
    kernel_density(
        x, y, grid, bandwidth_m=200.0, progress=lambda stage, done, total: calls.append((stage, done, total))
    )
    rows = [(done, total) for stage, done, total in calls if stage == "kernel density"]
    assert len(rows) > 1 and rows[-1] == (grid.nrows, grid.nrows)
    assert [done for done, _ in rows] == sorted(done for done, _ in rows)
    assert ("merging identical coordinates", 1, 1) in calls


@pytest.mark.parametrize("h", [25.0, 26.0, 90.0, 333.0])
def test_gaussian_crowded_runs_within_1e12_and_thread_independent(h, monkeypatch):
    """Crowded Gaussian runs (``_gauss_run``: factors as products along lines, sums along the locations) against the
    formula to 1e-12, and bit for bit on one and many threads."""
    import numba

    import hotspot.stats.kde as sk

    rng = np.random.default_rng(int(h))
    grid = Grid(xmin=0.0, ymax=1000.0, cell_size=25.0, ncols=40, nrows=40, crs="EPSG:27700")
    # Distinct points, dozens per cell in the middle, a few per cell around, some off the grid.
    x = np.concatenate([rng.uniform(400, 600, 3000), rng.uniform(-200, 1200, 1500)])
    y = np.concatenate([rng.uniform(400, 600, 3000), rng.uniform(-200, 1200, 1500)])
    w = rng.uniform(0.5, 2.0, x.size)
    assert sk._sort_into_cells(x, y, None, grid, h).cell_cnt.max() >= 4 * sk._GAUSS_DENSE_MIN
    got = kernel_density(x, y, grid, bandwidth_m=h, kernel="gaussian", weights=w, units="per-km2").surface
    want = brute_force(x, y, grid, h, "gaussian", w) * 1e6
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * want.max())
    assert np.all(got[want == 0] == 0)
    monkeypatch.setattr(sk, "_SERIAL_WORK", 0)
    monkeypatch.setattr(sk, "_BLOCK_WORK", 1e4)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kernel_density(x, y, grid, bandwidth_m=h, kernel="gaussian", weights=w, units="per-km2").surface
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = kernel_density(x, y, grid, bandwidth_m=h, kernel="gaussian", weights=w, units="per-km2").surface
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, got) and np.array_equal(many, got)
