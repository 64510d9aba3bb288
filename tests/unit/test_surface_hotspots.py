"""Hotspot polygons from a surface: selection, dissolve, counts, ranking."""

from __future__ import annotations

import numpy as np
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.places.surface import surface_hotspots
from hotspot.stats.kde import DensitySurface, kernel_density


def _density(surface, cell=10.0, units="per-cell"):
    surface = np.asarray(surface, dtype=np.float64)
    grid = Grid(xmin=0.0, ymax=surface.shape[0] * cell, cell_size=cell, ncols=surface.shape[1], nrows=surface.shape[0])
    return DensitySurface(
        surface=surface,
        grid=grid,
        bandwidth_m=50.0,
        bandwidth_rule="given",
        kernel="quartic",
        units=units,
        n_points=0,
        n_locations=0,
        total_weight=float(np.nansum(surface)),
        mass_on_grid=1.0,
        per_m2_factor=grid.cell_area_m2,
    )


def test_hand_built_surface():
    s = np.zeros((6, 8))
    s[1:3, 1:3] = [[5, 6], [7, 9]]  # block A: 4 cells, peak 9
    s[4, 5:8] = [8, 8, 8]  # block B: 3 cells in a row, peak 8
    s[0, 7] = 1
    s[5, 0] = np.nan
    d = _density(s)
    out = surface_hotspots(d, threshold=5)
    assert list(out.columns) == [
        "rank",
        "hotspot_id",
        "name",
        "area_m2",
        "n_points",
        "share_of_points",
        "peak_value",
        "mean_value",
        "geometry",
    ]
    assert len(out) == 2
    a, b = out.iloc[0], out.iloc[1]
    # Ranked by n_points (here the expected counts): A holds 27, B 24.
    assert (a.hotspot_id, a.n_points, a.peak_value, a.area_m2) == (1, 27.0, 9.0, 400.0)
    assert (b.hotspot_id, b.n_points, b.peak_value, b.area_m2) == (2, 24.0, 8.0, 300.0)
    assert a.mean_value == pytest.approx(6.75)
    assert a.share_of_points == pytest.approx(27 / 52)
    # Polygons cover exactly their cells: A spans x 10..30, y 30..50 (rows 1-2 from the north edge at 60).
    assert a.geometry.bounds == (10.0, 30.0, 30.0, 50.0)
    assert b.geometry.area == pytest.approx(300.0)
    assert out.crs.to_epsg() == 27700


def test_top_share_selects_that_share_of_cells():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, (20, 20))
    out = surface_hotspots(_density(s), area_share=0.1)
    assert out.area_m2.sum() == pytest.approx(40 * 100.0)
    assert out.peak_value.max() == s.max()


def test_points_counted_in_their_cells_and_ranked():
    s = np.zeros((5, 5))
    s[0, 0] = s[0, 1] = 10  # hotspot 1 (west, north)
    s[4, 4] = 20  # hotspot 2: higher peak
    d = _density(s)
    x = np.array([5.0, 15.0, 15.0, 45.0, 25.0])
    y = np.array([45.0, 45.0, 41.0, 5.0, 25.0])
    out = surface_hotspots(d, threshold=10, x=x, y=y)
    assert list(out.n_points) == [3.0, 1.0]
    assert list(out.peak_value) == [10.0, 20.0]
    assert list(out.share_of_points) == [0.6, 0.2]
    weighted = surface_hotspots(d, threshold=10, x=x, y=y, weights=[1, 1, 1, 5, 1])
    assert list(weighted.peak_value) == [20.0, 10.0]  # now the south-east cell holds more weight


def test_peaks_of_clusters_become_separate_polygons():
    rng = np.random.default_rng(4)
    a = rng.normal([1000, 1000], 60, (300, 2))
    b = rng.normal([3000, 2000], 60, (150, 2))
    noise = rng.uniform(0, 4000, (200, 2))
    pts = np.vstack([a, b, noise])
    grid = Grid.from_bounds(0, 0, 4000, 3000, 25.0)
    d = kernel_density(pts[:, 0], pts[:, 1], grid, bandwidth_m=300.0)
    out = surface_hotspots(d, area_share=0.03, x=pts[:, 0], y=pts[:, 1])
    assert len(out) >= 2
    import shapely

    assert out.geometry.iloc[0].contains(shapely.Point(1000, 1000))
    assert out.geometry.iloc[1].contains(shapely.Point(3000, 2000))
    assert out.n_points.iloc[0] > out.n_points.iloc[1] > 100
    assert out.geometry.is_valid.all()


def test_bad_share_is_input_error():
    with pytest.raises(HotspotInputError, match="--hotspot-share"):
        surface_hotspots(_density(np.ones((3, 3))), area_share=5)
    assert len(surface_hotspots(_density(np.zeros((3, 3))), area_share=0.5)) == 0
