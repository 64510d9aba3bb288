"""Numba kernels for kernel density: exact summation of radial kernels at grid-cell centres.

Every function takes plain arrays and numbers; validation, aggregation and unit conversion live
in :mod:`hotspot.stats.kde`. Kernel shapes are selected by an integer code (``KERNEL_CODES``) and
evaluated from the squared distance, so the quartic, Epanechnikov, uniform and Gaussian kernels
never take a square root.

Determinism: each output row is summed by one thread, over locations in the fixed order they
were given (sorted by y by the caller), and identical coordinates are merged with a stable sort
per band of y, so results are bit-for-bit the same for any number of threads. Serial twins of
the parallel functions are separate Python functions because Numba's disk cache is keyed by the
Python function, not by the ``parallel`` flag.
"""

from __future__ import annotations

import math

import numba
import numpy as np

QUARTIC, EPANECHNIKOV, TRIANGULAR, UNIFORM, GAUSSIAN = 0, 1, 2, 3, 4
KERNEL_CODES = {
    "quartic": QUARTIC,
    "epanechnikov": EPANECHNIKOV,
    "triangular": TRIANGULAR,
    "uniform": UNIFORM,
    "gaussian": GAUSSIAN,
}

GAUSSIAN_SIGMAS = 3.0
"""The Gaussian kernel's standard deviation is ``bandwidth / GAUSSIAN_SIGMAS`` and it is cut at the bandwidth."""

GAUSS_HALF_S2 = 0.5 * GAUSSIAN_SIGMAS * GAUSSIAN_SIGMAS


@numba.njit(cache=True)
def kernel_norm(h2, code):
    """The constant that makes the kernel's profile integrate to 1 over the plane, per unit area (``h2`` squared bandwidth)."""
    if code == QUARTIC:
        return 3.0 / (math.pi * h2)
    if code == EPANECHNIKOV:
        return 2.0 / (math.pi * h2)
    if code == TRIANGULAR:
        return 3.0 / (math.pi * h2)
    if code == UNIFORM:
        return 1.0 / (math.pi * h2)
    # Gaussian with sigma = h / 3, rescaled to its mass within h.
    half_s = 0.5 * GAUSSIAN_SIGMAS * GAUSSIAN_SIGMAS
    sigma2 = h2 / (GAUSSIAN_SIGMAS * GAUSSIAN_SIGMAS)
    return 1.0 / (2.0 * math.pi * sigma2 * (1.0 - math.exp(-half_s)))


@numba.njit(cache=True)
def kernel_profile(u2, code):
    """The kernel's shape at squared relative distance ``u2 = (d / h)^2``, 0 for ``u2 >= 1``; times ``kernel_norm`` is the density."""
    if u2 >= 1.0:
        return 0.0
    if code == QUARTIC:
        t = 1.0 - u2
        return t * t
    if code == EPANECHNIKOV:
        return 1.0 - u2
    if code == TRIANGULAR:
        return 1.0 - math.sqrt(u2)
    if code == UNIFORM:
        return 1.0
    return math.exp(-GAUSS_HALF_S2 * u2)


@numba.njit(cache=True)
def kernel_value(d2, h2, code):
    """Kernel density (per unit area) at squared distance ``d2`` for squared bandwidth ``h2`` (same units)."""
    return kernel_norm(h2, code) * kernel_profile(d2 / h2, code)


@numba.njit(cache=True)
def _add_row(out_row, yr, col_x, lx, ly, lw, lc0, lc1, lo, hi, h2, code):
    inv_h2 = 1.0 / h2
    for j in range(lo, hi):
        dy = ly[j] - yr
        dy2 = dy * dy
        c0 = lc0[j]
        c1 = lc1[j]
        if dy2 >= h2 or c1 <= c0:
            continue
        w = lw[j]
        xj = lx[j]
        # The location's whole square window of columns, not just the chord at this row: the
        # corners add zeros, but skipping a square root and two roundings per row and location
        # more than pays for them (about 2.5x less CPU). Slices indexed from 0 let LLVM drop
        # negative-index checks and vectorise; one loop per kernel keeps the common ones
        # branch-free. max(., 0) is exactly the kernel's cut, and adding 0.0 changes nothing.
        seg = out_row[c0:c1]
        cx = col_x[c0:c1]
        if code == QUARTIC:
            a = 1.0 - dy2 * inv_h2
            for k in range(seg.shape[0]):
                dx = cx[k] - xj
                t = max(a - dx * dx * inv_h2, 0.0)
                seg[k] += w * t * t
        elif code == EPANECHNIKOV:
            a = 1.0 - dy2 * inv_h2
            for k in range(seg.shape[0]):
                dx = cx[k] - xj
                seg[k] += w * max(a - dx * dx * inv_h2, 0.0)
        elif code == TRIANGULAR:
            for k in range(seg.shape[0]):
                dx = cx[k] - xj
                seg[k] += w * max(1.0 - math.sqrt((dx * dx + dy2) * inv_h2), 0.0)
        elif code == UNIFORM:
            for k in range(seg.shape[0]):
                dx = cx[k] - xj
                seg[k] += w if (dx * dx + dy2) * inv_h2 < 1.0 else 0.0
        else:
            for k in range(seg.shape[0]):
                dx = cx[k] - xj
                u2 = (dx * dx + dy2) * inv_h2
                seg[k] += w * math.exp(-GAUSS_HALF_S2 * u2) if u2 < 1.0 else 0.0


@numba.njit(cache=True, parallel=True)
def density_rows(out, row_y, col_x, lx, ly, lw, lc0, lc1, row_lo, row_hi, h, code):
    """Add the (unnormalised) kernel sum of weighted locations to the rows of ``out`` (float64, (nrows, ncols)).

    Multiply by ``kernel_norm(h * h, code)`` for density per unit area. ``row_y``/``col_x`` are
    the cell-centre coordinates of the rows/columns of ``out``; ``lx, ly, lw`` the locations and
    weights sorted by ``ly``; ``lc0[j]:lc1[j]`` the columns (clipped to the grid) whose centres
    are within ``h`` (in x) of location ``j``, with a column of slack each side;
    ``row_lo[i]:row_hi[i]`` the slice of locations within ``h`` (in y) of row ``i``.
    """
    h2 = h * h
    for i in numba.prange(out.shape[0]):
        _add_row(out[i], row_y[i], col_x, lx, ly, lw, lc0, lc1, row_lo[i], row_hi[i], h2, code)


# The same loop on one thread: for small jobs, waking worker threads on a busy machine costs more
# than the sum. A separate function, not njit applied twice to one: Numba's on-disk cache is keyed
# by the Python function, so two dispatchers of one function would load each other's machine code.
@numba.njit(cache=True)
def density_rows_serial(out, row_y, col_x, lx, ly, lw, lc0, lc1, row_lo, row_hi, h, code):
    """``density_rows`` on one thread (identical results)."""
    h2 = h * h
    for i in range(out.shape[0]):
        _add_row(out[i], row_y[i], col_x, lx, ly, lw, lc0, lc1, row_lo[i], row_hi[i], h2, code)


@numba.njit(cache=True, parallel=True)
def kernel_share_inside(lx, ly, mask, xmin, ymax, cell, h, code):
    """Share of each location's discretised kernel mass that falls on cells where ``mask`` is True.

    The share is (sum of K over in-mask cell centres) / (sum of K over every cell centre of the
    unbounded lattice extending the grid), so an interior location gets exactly 1 and the
    correction does not mix discretisation error into the edge factor.
    """
    h2 = h * h
    nrows, ncols = mask.shape
    out = np.empty(lx.shape[0])
    for j in numba.prange(lx.shape[0]):
        c0 = int(math.floor((lx[j] - h - xmin) / cell - 0.5))
        c1 = int(math.ceil((lx[j] + h - xmin) / cell - 0.5)) + 1
        r0 = int(math.floor((ymax - ly[j] - h) / cell - 0.5))
        r1 = int(math.ceil((ymax - ly[j] + h) / cell - 0.5)) + 1
        inside = 0.0
        total = 0.0
        for r in range(r0, r1):
            dy = ymax - (r + 0.5) * cell - ly[j]
            dy2 = dy * dy
            for c in range(c0, c1):
                dx = xmin + (c + 0.5) * cell - lx[j]
                k = kernel_value(dx * dx + dy2, h2, code)
                total += k
                if 0 <= r < nrows and 0 <= c < ncols and mask[r, c]:
                    inside += k
        out[j] = inside / total if total > 0.0 else 0.0
    return out


@numba.njit(cache=True)
def linear_binning(x, y, w, xmin, ymax, cell, nrows, ncols):
    """Spread each weight over the four nearest cell centres bilinearly; weight beyond the outer centres is dropped.

    Returns a float64 ``(nrows, ncols)`` array of binned weight (row 0 north).
    """
    out = np.zeros((nrows, ncols))
    for j in range(x.shape[0]):
        fc = (x[j] - xmin) / cell - 0.5
        fr = (ymax - y[j]) / cell - 0.5
        c = int(math.floor(fc))
        r = int(math.floor(fr))
        tc = fc - c
        tr = fr - r
        for dr in range(2):
            rr = r + dr
            if rr < 0 or rr >= nrows:
                continue
            wr = tr if dr == 1 else 1.0 - tr
            for dc in range(2):
                cc = c + dc
                if cc < 0 or cc >= ncols:
                    continue
                wc = tc if dc == 1 else 1.0 - tc
                out[rr, cc] += w[j] * wr * wc
    return out


@numba.njit(cache=True)
def kernel_values(d2, h2, code):
    """``kernel_value`` over an array of squared distances (any shape), per unit area."""
    flat = d2.ravel()
    out = np.empty(flat.shape[0])
    for i in range(flat.shape[0]):
        out[i] = kernel_value(flat[i], h2, code)
    return out.reshape(d2.shape)


@numba.njit(cache=True)
def _lex_argsort(key1, key2):
    """Stable argsort by (key1, key2): a bottom-up merge sort, with insertion sort for runs of 16.

    Hand-written because Numba's own ``argsort(kind="mergesort")`` takes many seconds to compile.
    """
    m = key1.shape[0]
    src = np.arange(m)
    dst = np.empty(m, dtype=np.int64)
    run = 16
    for lo in range(0, m, run):
        hi = min(lo + run, m)
        for i in range(lo + 1, hi):
            v = src[i]
            j = i - 1
            while j >= lo and (key1[v] < key1[src[j]] or (key1[v] == key1[src[j]] and key2[v] < key2[src[j]])):
                src[j + 1] = src[j]
                j -= 1
            src[j + 1] = v
    width = run
    while width < m:
        for lo in range(0, m, 2 * width):
            mid = min(lo + width, m)
            hi = min(lo + 2 * width, m)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                a = src[i]
                b = src[j]
                if key1[b] < key1[a] or (key1[b] == key1[a] and key2[b] < key2[a]):
                    dst[k] = b
                    j += 1
                else:
                    dst[k] = a
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        width *= 2
    return src


@numba.njit(cache=True)
def _band_scatter(x, y, w, nbands):
    """Counting sort of the values into ``nbands`` equal bands of y (stable, O(n)); returns copies and band starts."""
    n = x.shape[0]
    ymin = y.min()
    span = y.max() - ymin
    scale = nbands / span if span > 0.0 else 0.0
    starts = np.zeros(nbands + 1, dtype=np.int64)
    for i in range(n):
        b = min(int((y[i] - ymin) * scale), nbands - 1)
        starts[b + 1] += 1
    for b in range(nbands):
        starts[b + 1] += starts[b]
    fill = starts[:-1].copy()
    bx = np.empty(n)
    by = np.empty(n)
    bw = np.empty(n)
    for i in range(n):
        b = min(int((y[i] - ymin) * scale), nbands - 1)
        f = fill[b]
        bx[f] = x[i]
        by[f] = y[i]
        bw[f] = w[i]
        fill[b] = f + 1
    return bx, by, bw, starts


@numba.njit(cache=True)
def _merge_band(lx, ly, lw):
    """Sort one band's points by (y, x) and merge identical ones in place; returns how many distinct remain."""
    m = lx.shape[0]
    if m == 0:
        return 0
    idx = _lex_argsort(ly, lx)
    sx = lx[idx]
    sy = ly[idx]
    sw = lw[idx]
    u = 0
    lx[0] = sx[0]
    ly[0] = sy[0]
    lw[0] = sw[0]
    for t in range(1, m):
        if sx[t] == lx[u] and sy[t] == ly[u]:
            lw[u] += sw[t]
        else:
            u += 1
            lx[u] = sx[t]
            ly[u] = sy[t]
            lw[u] = sw[t]
    return u + 1


@numba.njit(cache=True)
def _gather_bands(bx, by, bw, starts, n_unique):
    nbands = n_unique.shape[0]
    out_starts = np.zeros(nbands + 1, dtype=np.int64)
    for b in range(nbands):
        out_starts[b + 1] = out_starts[b] + n_unique[b]
    total = out_starts[nbands]
    ox = np.empty(total)
    oy = np.empty(total)
    ow = np.empty(total)
    for b in range(nbands):
        s = starts[b]
        o = out_starts[b]
        for t in range(n_unique[b]):
            ox[o + t] = bx[s + t]
            oy[o + t] = by[s + t]
            ow[o + t] = bw[s + t]
    return ox, oy, ow


@numba.njit(cache=True, parallel=True)
def merge_identical(x, y, w, nbands):
    """Merge points with identical (x, y) into locations with summed weight, sorted by y then x.

    A counting sort of the values into ``nbands`` bands of y (O(n)), then a small sort within
    each band, bands in parallel: much cheaper than one global sort of millions of points, and
    each band's data stays in cache. The sort is stable, so weights of identical points are
    summed in input order and the result is the same for any thread count. Returns ``(x, y, w)``
    of the distinct locations.
    """
    bx, by, bw, starts = _band_scatter(x, y, w, nbands)
    n_unique = np.zeros(nbands, dtype=np.int64)
    for b in numba.prange(nbands):
        s = starts[b]
        e = starts[b + 1]
        n_unique[b] = _merge_band(bx[s:e], by[s:e], bw[s:e])
    return _gather_bands(bx, by, bw, starts, n_unique)


@numba.njit(cache=True)
def merge_identical_serial(x, y, w, nbands):
    """``merge_identical`` on one thread (identical results), for inputs too small to pay for waking the others."""
    bx, by, bw, starts = _band_scatter(x, y, w, nbands)
    n_unique = np.zeros(nbands, dtype=np.int64)
    for b in range(nbands):
        s = starts[b]
        e = starts[b + 1]
        n_unique[b] = _merge_band(bx[s:e], by[s:e], bw[s:e])
    return _gather_bands(bx, by, bw, starts, n_unique)
