"""Grid.over_area: the grid a study is analysed on, with or without a study area."""

from __future__ import annotations

import numpy as np
import shapely

from hotspot.core.grid import Grid


def test_over_an_area_masks_cells_whose_centre_is_inside():
    area = shapely.Point(500_000, 200_000).buffer(1_000)
    grid, mask = Grid.over_area(area, np.array([0.0]), np.array([0.0]), 100)
    assert grid.bounds[0] <= 499_000 and grid.bounds[2] >= 501_000
    xs, ys = grid.cell_centres()
    expected = np.hypot(xs - 500_000, ys - 200_000) < 1_000
    # Cells whose centre is within half a cell of the circle may differ (the buffer is a polygon).
    edge = np.abs(np.hypot(xs - 500_000, ys - 200_000) - 1_000) < 50
    assert (mask == expected)[~edge].all()


def test_without_an_area_it_covers_the_points_padded_and_masks_nothing():
    x = np.array([500_000.0, 503_000.0])
    y = np.array([200_000.0, 201_000.0])
    grid, mask = Grid.over_area(None, x, y, 100, pad_m=500)
    assert mask is None
    xmin, ymin, xmax, ymax = grid.bounds
    assert xmin <= 499_500 and ymin <= 199_500 and xmax >= 503_500 and ymax >= 201_500
