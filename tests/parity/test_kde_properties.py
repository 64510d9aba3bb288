"""Property tests: the exact surface equals a brute-force sum for arbitrary grids, bandwidths and point layouts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hotspot.core.grid import Grid
from hotspot.stats.kde import KERNELS, kernel_density
from tests.parity.test_kde import brute_force


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    cell=st.floats(3.0, 40.0),
    h_cells=st.floats(1.0, 6.0),
    kernel=st.sampled_from(KERNELS),
    duplicates=st.booleans(),
    weighted=st.booleans(),
    crowded=st.booleans(),
)
def test_exact_equals_brute_force(seed, n, cell, h_cells, kernel, duplicates, weighted, crowded):
    rng = np.random.default_rng(seed)
    grid = Grid(
        xmin=1000.0 + rng.uniform(-50, 50),
        ymax=5000.0,
        cell_size=cell,
        ncols=int(rng.integers(1, 30)),
        nrows=int(rng.integers(1, 30)),
    )
    h = h_cells * cell
    # Points over the grid and up to a bandwidth and a half beyond it, so some kernels are cut by the edge.
    x = rng.uniform(grid.xmin - 1.5 * h, grid.xmax + 1.5 * h, n)
    y = rng.uniform(grid.ymin - 1.5 * h, grid.ymax + 1.5 * h, n)
    if crowded:  # most points inside one or two cells, which are then summed through their moments
        x = np.r_[x, rng.uniform(0, 1.5 * cell, 4 * n) + x[0]]
        y = np.r_[y, rng.uniform(0, 1.5 * cell, 4 * n) + y[0]]
    if duplicates:
        x = np.r_[x, x[: n // 2]]
        y = np.r_[y, y[: n // 2]]
    w = rng.uniform(0.1, 5.0, x.size) if weighted else None
    got = kernel_density(x, y, grid, bandwidth_m=h, kernel=kernel, weights=w, units="per-km2").surface
    want = brute_force(x, y, grid, h, kernel, w) * 1e6
    scale = max(want.max(), 1e-300)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * scale)
    binned = kernel_density(x, y, grid, bandwidth_m=h, kernel=kernel, weights=w, binned=True).surface
    assert binned.shape == grid.shape and np.all(binned >= 0)
