"""Grid.mask_from_geometry (GDAL fill plus the exact test along the outline) against shapely's
contains_xy on every cell centre, on shapes chosen to catch the fill's weak spots."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from hotspot.core.grid import Grid


def _every_centre(grid: Grid, geometry) -> np.ndarray:
    xs, ys = grid.cell_centres()
    return shapely.contains_xy(geometry, xs, ys)


GRID = Grid(1_000.0, 2_000.0, 10.0, 90, 70)  # x 1000..1900, y 1300..2000

SHAPES = {
    # edges exactly on rows and columns of cell centres: contains_xy leaves those centres out
    "square on centres": shapely.box(1_205.0, 1_505.0, 1_605.0, 1_905.0),
    "ring with a hole": shapely.box(1_050.0, 1_350.0, 1_850.0, 1_950.0).difference(
        shapely.box(1_305.0, 1_605.0, 1_505.0, 1_805.0)
    ),
    "thin sliver": shapely.Polygon([(1_010.0, 1_400.0), (1_890.0, 1_404.0), (1_890.0, 1_406.0)]),
    "smaller than a cell": shapely.box(1_403.0, 1_603.0, 1_407.0, 1_607.0),
    "multipolygon": shapely.MultiPolygon(
        [shapely.box(1_000.0, 1_300.0, 1_100.0, 1_400.0), shapely.Point(1_700.0, 1_800.0).buffer(95.0, 64)]
    ),
    "star": shapely.Polygon(
        [
            (1_450.0 + r * np.cos(t), 1_650.0 + r * np.sin(t))
            for t, r in zip(np.linspace(0, 2 * np.pi, 41)[:-1], [330.0, 90.0] * 20)
        ]
    ),
    "off the grid": shapely.box(5_000.0, 5_000.0, 6_000.0, 6_000.0),
    "around the grid": shapely.box(0.0, 0.0, 10_000.0, 10_000.0),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_mask_equals_contains_xy_on_every_centre(name):
    geometry = SHAPES[name]
    mask = GRID.mask_from_geometry(geometry)
    assert mask.dtype == bool and mask.shape == GRID.shape
    np.testing.assert_array_equal(mask, _every_centre(GRID, geometry))


def test_the_outline_test_is_what_makes_it_exact():
    """The GDAL fill on its own takes centres on the edge of the square: the exact test is doing work."""
    import rasterio.features

    geometry = SHAPES["square on centres"]
    fill = rasterio.features.rasterize([(geometry, 1)], out_shape=GRID.shape, transform=GRID.transform).astype(bool)
    assert (fill != _every_centre(GRID, geometry)).any()


def test_random_polygons_and_cell_sizes():
    rng = np.random.default_rng(7)
    for _ in range(20):
        cell = float(rng.choice([5.0, 10.0, 25.0]))
        grid = Grid(0.0, 1_000.0, cell, int(1_000 / cell), int(1_000 / cell))
        points = rng.uniform(0, 1_000, (12, 2))
        geometry = shapely.concave_hull(shapely.MultiPoint(points), ratio=0.3).buffer(float(rng.uniform(0, 30)))
        np.testing.assert_array_equal(grid.mask_from_geometry(geometry), _every_centre(grid, geometry))


def test_square_dilation_equals_scipy_ndimage():
    """square_dilation (NumPy shifts) against scipy.ndimage.binary_dilation with a square of ones."""
    from scipy import ndimage

    from hotspot.core.grid import square_dilation

    rng = np.random.default_rng(0)
    for shape in [(1, 1), (1, 7), (7, 1), (2, 2), (50, 40), (163, 97)]:
        for radius in (0, 1, 2, 5):
            for density in (0.001, 0.05, 0.5):
                mask = rng.random(shape) < density
                square = np.ones((2 * radius + 1, 2 * radius + 1), dtype=bool)
                expected = ndimage.binary_dilation(mask, square) if radius else mask
                np.testing.assert_array_equal(square_dilation(mask, radius), expected)
