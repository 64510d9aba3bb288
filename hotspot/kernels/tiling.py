"""Numba kernel for tiled Gi*: the stencil sum and the analytic z of a tile's own cells in one pass.

The neighbourhood sum is accumulated over the stencil offsets in the order
:func:`hotspot.kernels.gistar.stencil_sums` uses, and z is evaluated with the same operations in the
same order as :func:`hotspot.gistar._analytic` (no fast-math, so no fused multiply-adds), so each
cell gets the bits the full-grid engine gives it. Each cell is written by one thread: the result does
not depend on the number of threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange


@numba.njit(cache=True, parallel=True)
def gistar_tile_z(values, mask, r0, c0, nrows, ncols, dr, dc, n, mean, s, z, k_out, zero_lag):
    """Gi* z of the cells ``[r0:r0+nrows, c0:c0+ncols]`` of a halo window, with global statistics.

    ``values``/``mask``: the halo window (float64 / bool); cells outside the mask neither count nor
    are counted. ``dr``/``dc``: stencil offsets (int64, self excluded). ``n``, ``mean``, ``s``: the
    number of in-mask cells, their mean and standard deviation over the whole study area (``s > 0``).
    Writes ``z`` (float64, NaN outside the mask and for islands; 0 where every other cell is a
    neighbour), ``k_out`` (neighbours, 0 outside the mask) and ``zero_lag`` (True where the
    neighbourhood sum including the cell itself is exactly 0), all shaped ``(nrows, ncols)``.
    Returns the number of cells whose z was set to 0 because every other cell is a neighbour.
    """
    hr, hc = values.shape
    n_off = dr.size
    degenerate = np.zeros(nrows, dtype=np.int64)
    for i in prange(nrows):
        r = r0 + i
        for j in range(ncols):
            c = c0 + j
            if not mask[r, c]:
                z[i, j] = np.nan
                k_out[i, j] = 0
                zero_lag[i, j] = False
                continue
            t = 0.0
            k = 0
            for o in range(n_off):
                rr = r + dr[o]
                cc = c + dc[o]
                if rr >= 0 and rr < hr and cc >= 0 and cc < hc and mask[rr, cc]:
                    t += values[rr, cc]
                    k += 1
            k_out[i, j] = k
            lag = values[r, c] + t
            if k == 0:
                z[i, j] = np.nan
                zero_lag[i, j] = False
                continue
            zero_lag[i, j] = lag == 0.0
            wsum = k + 1.0
            inner = (n * wsum - wsum * wsum) / (n - 1)
            if inner <= 1e-12 * max(wsum, 1.0) * n:
                z[i, j] = 0.0
                degenerate[i] += 1
            else:
                z[i, j] = (lag - mean * wsum) / (s * math.sqrt(inner))
    return degenerate.sum()
