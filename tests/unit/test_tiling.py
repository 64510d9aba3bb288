"""Tiled KDE and Gi* equal the untiled engines on moderate grids, for awkward tile sizes and masks."""

from __future__ import annotations

import numpy as np
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.scale.tiles import plan_tiles
from hotspot.scale.tiling import _kde_tile, tiled_gi_star, tiled_kernel_density
from hotspot.stats.gistar import gi_star_grid
from hotspot.stats.kde import kernel_density


def assert_same(a, b, tol=1e-9):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    scale = max(1.0, float(np.max(np.abs(a[ok])))) if ok.any() else 1.0
    assert np.max(np.abs(a[ok] - b[ok]), initial=0.0) <= tol * scale


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(7)
    # Clusters on a 1 m lattice (so duplicates merge) plus a scatter, some just off the grid.
    centres = rng.uniform([500_000, 200_000], [525_000, 222_000], size=(12, 2))
    pick = rng.integers(0, 12, 20_000)
    xy = centres[pick] + rng.normal(0, 600, size=(20_000, 2))
    xy = np.vstack([np.round(xy), rng.uniform([499_000, 199_000], [526_000, 223_000], size=(3_000, 2))])
    return xy[:, 0], xy[:, 1]


@pytest.fixture(scope="module")
def grid():
    return Grid.from_bounds(500_000, 200_000, 525_000, 222_000, 100.0)


def test_plan_covers_every_cell_once_with_a_halo_at_least_the_request(grid):
    plan = plan_tiles(grid, halo_m=450.0, tile_cells=37)
    seen = np.zeros(grid.shape, dtype=int)
    for t in plan.tiles:
        seen[t.window] += 1
        assert t.row0 - t.hrow0 == min(plan.halo_cells, t.row0)
        assert t.hcol1 - t.col1 == min(plan.halo_cells, grid.ncols - t.col1)
        sub = t.subgrid(grid)
        assert np.array_equal(sub.row_centres(), grid.row_centres()[t.row0 : t.row1])
        assert np.array_equal(sub.column_centres(), grid.column_centres()[t.col0 : t.col1])
    assert (seen == 1).all()
    assert plan.halo_cells == 5 and plan.halo_m >= 450.0


@pytest.mark.parametrize(
    "kernel,units,tile_cells",
    [
        ("quartic", "per-km2", 64),
        ("quartic", "per-cell", 7),
        ("epanechnikov", "relative", 50),
        ("gaussian", "per-km2", 33),
        ("triangular", "per-cell", 1000),
        ("uniform", "per-km2", 9),
    ],
)
def test_tiled_kde_equals_kernel_density(points, grid, kernel, units, tile_cells):
    x, y = points
    full = kernel_density(x, y, grid, bandwidth_m=500.0, kernel=kernel, units=units)
    tiled = tiled_kernel_density(x, y, grid, bandwidth_m=500.0, kernel=kernel, units=units, tile_cells=tile_cells)
    assert_same(tiled.surface, full.surface)
    assert tiled.n_points == full.n_points and tiled.n_locations == full.n_locations
    assert tiled.mass_on_grid == pytest.approx(full.mass_on_grid, rel=1e-12)
    assert tiled.per_m2_factor == pytest.approx(full.per_m2_factor, rel=1e-12)


def test_tiled_kde_with_mask_weights_and_default_bandwidth(points, grid):
    x, y = points
    w = np.random.default_rng(3).uniform(0, 3, x.size)
    w[::10] = 0.0
    mask = np.ones(grid.shape, dtype=bool)
    mask[:40, :90] = False
    mask[150:, 200:] = False
    full = kernel_density(x, y, grid, weights=w, mask=mask, bandwidth_m=730.0)
    tiled = tiled_kernel_density(x, y, grid, weights=w, mask=mask, bandwidth_m=730.0, tile_cells=45)
    assert_same(tiled.surface, full.surface)
    auto = tiled_kernel_density(x, y, grid, tile_cells=80)
    assert auto.bandwidth_rule.startswith("spatial Silverman")
    assert_same(auto.surface, kernel_density(x, y, grid, bandwidth_m=auto.bandwidth_m).surface)


def test_parity_check_can_fail_tiles_without_a_halo_differ(points, grid):
    """The equality above is not trivial: dropping the halo's points changes cells near tile edges."""
    x, y = points
    full = kernel_density(x, y, grid, bandwidth_m=500.0).surface
    plan = plan_tiles(grid, halo_m=0.0, tile_cells=64)
    stitched = np.empty(grid.shape)
    for t in plan.tiles:
        sub = t.subgrid(grid)
        inside = (x >= sub.xmin) & (x < sub.xmax) & (y > sub.ymin) & (y <= sub.ymax)
        stitched[t.window] = _kde_tile(
            (sub, x[inside], y[inside], np.ones(int(inside.sum())), None, 500.0, "quartic", "per-km2")
        )
    assert np.max(np.abs(stitched - full)) > 1e-3 * np.max(full)


def test_tiled_kde_empty_tiles_are_zero(grid):
    x = np.array([500_150.0, 500_150.0, 500_420.0])
    y = np.array([221_850.0, 221_850.0, 221_700.0])
    full = kernel_density(x, y, grid, bandwidth_m=400.0)
    tiled = tiled_kernel_density(x, y, grid, bandwidth_m=400.0, tile_cells=20)
    assert_same(tiled.surface, full.surface)
    assert tiled.surface[100:, 100:].max() == 0.0


def _gi_fields(result):
    return {name: getattr(result, name) for name in ("z", "p", "p_adjusted", "counts")}


@pytest.mark.parametrize(
    "band,tile_cells,correction", [(300.0, 41, "fdr"), (250.0, 13, "bonferroni"), (520.0, 500, "none")]
)
def test_tiled_gistar_equals_gi_star_grid(points, grid, band, tile_cells, correction):
    x, y = points
    counts = grid.count(x, y)
    mask = np.ones(grid.shape, dtype=bool)
    mask[:30, :60] = False
    mask[100:140, 100:105] = False
    mask[5, 200] = True
    mask[4:7, 199:202] = False
    mask[5, 200] = True  # an island: no in-mask neighbour within the band at 250/300 m
    full = gi_star_grid(counts, band, grid.cell_size, mask=mask, permutations=0, correction=correction)
    tiled = tiled_gi_star(
        counts, band, grid.cell_size, mask=mask, tile_cells=tile_cells, correction=correction, exact=False
    )
    for name, value in _gi_fields(full).items():
        assert_same(getattr(tiled, name), value)
    assert np.array_equal(tiled.bin, full.bin)
    assert np.array_equal(tiled.n_neighbours, full.n_neighbours)
    assert np.array_equal(tiled.islands, full.islands)
    assert tiled.n == full.n and tiled.p_used == "p" and tiled.permutations == 0
    assert (full.bin != 0).sum() > 50  # there are hot spots to get right
    # With the exact p where a bin is possible, the tiled bins equal gi_star_grid's default (both p agree).
    exact_full = gi_star_grid(counts, band, grid.cell_size, mask=mask, correction=correction)
    exact_tiled = tiled_gi_star(counts, band, grid.cell_size, mask=mask, tile_cells=tile_cells, correction=correction)
    assert np.array_equal(exact_tiled.bin, exact_full.bin)
    assert exact_tiled.p_used == exact_full.p_used == "max(p_sim, p)"
    binned = exact_full.bin != 0
    assert_same(exact_tiled.p_adjusted[binned], exact_full.p_adjusted[binned])
    # The tiled table stops at the tested cells' largest sum, the full one at every cell's: same p to 1e-12.
    tested = np.isfinite(exact_tiled.p_sim)
    assert tested.any() and np.all(exact_tiled.p[tested] <= 0.10)
    np.testing.assert_allclose(exact_tiled.p_sim[tested], exact_full.p_sim[tested], rtol=0, atol=1e-12)


def test_tiled_gistar_zero_variance_and_no_mask(grid):
    counts = np.full(grid.shape, 2.0)
    full = gi_star_grid(counts, 300.0, grid.cell_size, permutations=0)
    tiled = tiled_gi_star(counts, 300.0, grid.cell_size, tile_cells=64)
    for name, value in _gi_fields(full).items():
        assert_same(getattr(tiled, name), value)
    assert any("zero variance" in n for n in tiled.notes)


def test_tiled_inputs_fail_with_one_line(points, grid):
    x, y = points
    with pytest.raises(HotspotInputError, match="--engine"):
        tiled_kernel_density(x, y, grid, bandwidth_m=500.0, engine="spark")
    with pytest.raises(HotspotInputError, match="--tile-cells"):
        tiled_kernel_density(x, y, grid, bandwidth_m=500.0, tile_cells=0)
    with pytest.raises(HotspotInputError, match="smaller than"):
        tiled_kernel_density(x, y, grid, bandwidth_m=50.0)
    with pytest.raises(HotspotInputError, match="positive weight"):
        tiled_kernel_density(x, y, grid, bandwidth_m=500.0, weights=np.zeros(x.size))
    with pytest.raises(HotspotInputError, match="--band"):
        tiled_gi_star(grid.count(x, y), 50.0, grid.cell_size)
    with pytest.raises(HotspotInputError, match="NaN or infinite"):
        tiled_gi_star(np.full(grid.shape, np.nan), 300.0, grid.cell_size)


def test_gistar_places_ranks_hot_groups_by_crimes():
    from hotspot.scale.tiling import gistar_layers

    grid = Grid(0.0, 6000.0, 100.0, 60, 60)
    counts = np.zeros(grid.shape)
    counts[10:14, 10:14] = 9.0  # 16 cells x 9 = 144 crimes
    counts[40:43, 45:48] = 20.0  # 9 cells x 20 = 180 crimes: the busier place
    result = tiled_gi_star(counts, 150.0, 100.0, tile_cells=17, exact=False)
    layers = gistar_layers(result, grid, min_bin=3)
    places = layers["gistar_places"]
    assert len(places) == 2
    first, second = places.iloc[0], places.iloc[1]
    assert first["rank"] == 1 and first["crimes"] == 180.0 and second["crimes"] == 144.0
    assert places["share_of_crimes"].sum() == pytest.approx(1.0)
    hot = result.bin >= 3
    assert places["n_cells"].sum() == hot.sum()
    assert np.allclose(places.geometry.area, places["n_cells"] * 1e4)
    assert (layers["gistar_cells"]["gi_bin"] != 0).all() and len(layers["gistar_cells"]) == (result.bin != 0).sum()


def test_fdr_with_shared_values_equals_adjust_pvalues():
    """The grouped Benjamini-Hochberg equals scipy's, including ties between grouped and single values."""
    from hotspot.scale.tiling import _fdr_adjust
    from hotspot.stats.multiple_testing import adjust_pvalues

    rng = np.random.default_rng(5)
    shape = (300, 200)
    k = rng.integers(0, 9, shape).astype(np.int32)
    by_k = np.round(rng.uniform(0, 1, 9), 2)
    p = np.round(rng.uniform(0, 1, shape), 2)  # coarse values: many ties, some equal to by_k values
    p[rng.uniform(size=shape) < 0.05] = 0.0
    zero = rng.uniform(size=shape) < 0.6
    p[zero] = by_k[k[zero]]
    p[rng.uniform(size=shape) < 0.1] = np.nan
    got = _fdr_adjust(p, zero & np.isfinite(p), k)
    want = adjust_pvalues(p, "fdr")
    assert np.array_equal(got, want, equal_nan=True)


def test_place_outlines_traced_in_the_hot_box_equal_the_whole_grid_traced():
    """Outlines traced within the hot cells' bounding box are GDAL's polygons of the whole grid, cell for cell: shifted
    boxes, places at the grid's edges, diagonal contacts (one place under 8-connectivity) and holes."""
    import rasterio.features
    import shapely
    from scipy import ndimage

    from hotspot.scale.tiling import _outlines

    rng = np.random.default_rng(3)
    grid = Grid(512_345.5, 204_321.25, 50.0, 70, 45)
    for trial in range(6):
        hot = ndimage.binary_dilation(rng.uniform(size=grid.shape) < 0.02, iterations=trial % 3)
        hot[20:25, 30:35] = True
        hot[22, 32] = trial % 2 == 0  # a hole
        hot[5, 5] = hot[6, 6] = True  # touching at a corner only
        if trial >= 3:
            hot[:, :8] = False  # a box away from the grid's west edge
        labels, n = ndimage.label(hot, structure=np.ones((3, 3), dtype=bool))
        got = _outlines(labels, hot, n, grid)
        parts: dict[int, list] = {}
        for geom, value in rasterio.features.shapes(
            labels.astype(np.int32), mask=hot, connectivity=8, transform=grid.transform
        ):
            parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
        for i in range(1, n + 1):
            want = shapely.union_all(parts[i])
            assert shapely.equals_exact(shapely.normalize(got[i - 1]), shapely.normalize(want), 1e-6)
            assert got[i - 1].area == pytest.approx((labels == i).sum() * grid.cell_area_m2)
