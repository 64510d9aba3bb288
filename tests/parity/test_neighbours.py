"""Our NumPy and Numba stand-ins for scipy.spatial and scipy.ndimage against them: ``nearest_within`` against the k-d
tree (the same neighbours, in the same order, at the same distances) and ``label_touching`` against ``ndimage.label``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from hotspot.core.neighbours import nearest_within


@pytest.mark.parametrize("k", [1, 3, 8])
@pytest.mark.parametrize("radius_m", [37.5, 100.0, 900.0])
def test_nearest_within_equals_ckdtree(k, radius_m):
    """Random points (no ties) over a county-sized extent in British National Grid metres, some queries on points,
    some far from every point; k above the number within reach gives inf and len(points) as the tree does."""
    rng = np.random.default_rng(int(radius_m) + k)
    px = rng.uniform(480_000, 520_000, 3_000)
    py = rng.uniform(200_000, 230_000, 3_000)
    qx = np.concatenate([rng.uniform(479_000, 521_000, 2_000), px[:50], [0.0]])
    qy = np.concatenate([rng.uniform(199_000, 231_000, 2_000), py[:50], [0.0]])
    want_d, want_i = cKDTree(np.column_stack([px, py])).query(
        np.column_stack([qx, qy]), k=k, distance_upper_bound=radius_m
    )
    got_d, got_i = nearest_within(px, py, qx, qy, k, radius_m)
    np.testing.assert_array_equal(got_i, want_i.reshape(qx.size, k))
    np.testing.assert_array_equal(got_d, want_d.reshape(qx.size, k))


def test_nearest_within_cuts_where_the_tree_does_and_breaks_ties_by_row():
    """A point exactly at the radius is out, as the tree's bound is; equal distances come in point order."""
    px = np.array([10.0, 0.0, 6.0, -6.0, 0.0, 3.0])
    py = np.array([0.0, 10.0, 8.0, 8.0, -9.99, 4.0])
    qx, qy = np.zeros(1), np.zeros(1)
    want_d, want_i = cKDTree(np.column_stack([px, py])).query(np.column_stack([qx, qy]), k=6, distance_upper_bound=10.0)
    got_d, got_i = nearest_within(px, py, qx, qy, 6, 10.0)
    assert got_i.tolist() == [[5, 4, 6, 6, 6, 6]] and np.isfinite(want_d).sum() == 2
    np.testing.assert_array_equal(got_d, want_d.reshape(1, 6))
    # Four points at 10.0 from (0, 0.0): all inside a radius of 10.5, nearest first, then in row order.
    _, tied = nearest_within(px, py, qx, qy, 6, 10.5)
    assert tied.tolist() == [[5, 4, 0, 1, 2, 3]]


def test_nearest_within_without_points_or_queries():
    d, i = nearest_within(np.zeros(0), np.zeros(0), np.ones(3), np.ones(3), 2, 50.0)
    assert d.shape == (3, 2) and np.isinf(d).all() and (i == 0).all()
    d, i = nearest_within(np.ones(4), np.ones(4), np.zeros(0), np.zeros(0), 2, 50.0)
    assert d.shape == (0, 2) and i.shape == (0, 2)


def test_label_touching_equals_scipy_ndimage_label():
    """Groups touching at an edge or a corner, numbered in scan order: scipy.ndimage.label's labels with a 3 x 3
    structure, array for array (dtype included), on random masks of every density and on long diagonals and rings."""
    from scipy import ndimage

    from hotspot.kernels.places import label_touching

    rng = np.random.default_rng(4)
    masks = [rng.uniform(size=tuple(rng.integers(1, 50, 2))) < rng.uniform(0, 0.8) for _ in range(300)]
    masks += [np.eye(30, dtype=bool)[::-1], np.pad(np.ones((5, 5), bool), 2) ^ np.pad(np.ones((3, 3), bool), 3)]
    masks += [
        np.zeros((4, 7), bool),
        np.ones((1, 1), bool),
        np.fliplr(np.tri(25, dtype=bool)) & ~np.tri(25, k=-3, dtype=bool),
    ]
    for mask in masks:
        want, want_n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        got, n = label_touching(mask)
        assert n == want_n and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
