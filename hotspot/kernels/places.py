"""Growing patrol-sized places from the best cells of a scored grid."""

import numba
import numpy as np


@numba.njit(cache=True)
def grow_places(order: np.ndarray, candidates: np.ndarray, radius_cells: int) -> np.ndarray:
    """Label candidate cells with places seeded at the best unassigned cell.

    ``order`` lists flat cell indices best first; ``candidates`` is a boolean (nrows, ncols)
    array. The best unassigned candidate seeds a place, which takes every unassigned candidate
    within ``radius_cells`` (Chebyshev distance) of the seed; repeat. Returns int64 labels,
    0 for cells in no place, 1.. in seeding order.
    """
    nrows, ncols = candidates.shape
    labels = np.zeros((nrows, ncols), dtype=np.int64)
    next_label = 1
    for k in range(order.size):
        row = order[k] // ncols
        col = order[k] % ncols
        if not candidates[row, col] or labels[row, col] != 0:
            continue
        for r in range(max(0, row - radius_cells), min(nrows, row + radius_cells + 1)):
            for c in range(max(0, col - radius_cells), min(ncols, col + radius_cells + 1)):
                if candidates[r, c] and labels[r, c] == 0:
                    labels[r, c] = next_label
        next_label += 1
    return labels


@numba.njit(cache=True)
def nearest_points(x: np.ndarray, y: np.ndarray, query_x: np.ndarray, query_y: np.ndarray) -> np.ndarray:
    """Index of the point (``x``, ``y``) nearest each query point, by exact squared distance; ties go to the
    lowest index and NaN points never win (-1 when no point is finite).

    One pass over the points with every query inside it: a handful of queries (the places holding no
    record) against a county's records costs a few milliseconds, where building a k-d tree costs 30.
    """
    best = np.full(query_x.size, np.inf)
    nearest = np.full(query_x.size, -1, dtype=np.int64)
    for i in range(x.size):
        xi = x[i]
        yi = y[i]
        for j in range(query_x.size):
            dx = xi - query_x[j]
            dy = yi - query_y[j]
            d2 = dx * dx + dy * dy
            if d2 < best[j]:
                best[j] = d2
                nearest[j] = i
    return nearest


@numba.njit(cache=True)
def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving keeps every later look-up short
        i = parent[i]
    return i


@numba.njit(cache=True)
def count_groups(cells: np.ndarray, ncols: int) -> int:
    """Number of 8-connected groups among the sorted distinct flat cell indices ``cells`` of a grid ``ncols`` wide.

    Union-find over each cell's four forward neighbours (east, south-west, south, south-east), found by
    binary search in ``cells``: O(n log n) in the listed cells, whatever the size of the grid they lie on.
    """
    n = cells.size
    parent = np.arange(n)
    d_rows = np.array([0, 1, 1, 1])
    d_cols = np.array([1, -1, 0, 1])
    groups = n
    for i in range(n):
        row = cells[i] // ncols
        col = cells[i] % ncols
        for d in range(4):
            c = col + d_cols[d]
            if c < 0 or c >= ncols:
                continue
            target = (row + d_rows[d]) * ncols + c
            j = np.searchsorted(cells, target)
            if j < n and cells[j] == target:
                a = _root(parent, i)
                b = _root(parent, j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                    groups -= 1
    return groups


@numba.njit(cache=True)
def label_touching(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the groups of True cells that touch at an edge or a corner: ``(labels, n)``, int32 labels 1..n in the
    order each group's first cell comes in a row-by-row scan, 0 elsewhere, as ``scipy.ndimage.label`` with a 3 x 3
    structure numbers them.

    Two passes: each True cell takes the smallest provisional label of its four earlier neighbours (west,
    north-west, north, north-east) and the others are joined to it (union-find, :func:`_root` as
    :func:`count_groups`, which counts such groups among listed cells); then labels are renumbered by first
    appearance.
    """
    nrows, ncols = mask.shape
    labels = np.zeros((nrows, ncols), dtype=np.int32)
    cells = 0
    for r in range(nrows):
        for c in range(ncols):
            if mask[r, c]:
                cells += 1
    parent = np.zeros(cells + 1, dtype=np.int32)
    provisional = 0
    for r in range(nrows):
        for c in range(ncols):
            if not mask[r, c]:
                continue
            best = 0
            for dr, dc in ((0, -1), (-1, -1), (-1, 0), (-1, 1)):
                rr = r + dr
                cc = c + dc
                if rr < 0 or cc < 0 or cc >= ncols:
                    continue
                other = labels[rr, cc]
                if other == 0:
                    continue
                other = _root(parent, other)
                if best == 0:
                    best = other
                elif other != best:
                    low, high = min(best, other), max(best, other)
                    parent[high] = low
                    best = low
            if best == 0:
                provisional += 1
                parent[provisional] = provisional
                best = provisional
            labels[r, c] = best
    final = np.zeros(provisional + 1, dtype=np.int32)
    n = 0
    for r in range(nrows):
        for c in range(ncols):
            if labels[r, c]:
                root = _root(parent, labels[r, c])
                if final[root] == 0:
                    n += 1
                    final[root] = n
                labels[r, c] = final[root]
    return labels, n
