"""Numba kernels for kernel density: exact summation of radial kernels at grid-cell centres.

Every function takes plain arrays and numbers; validation, aggregation and unit conversion live
in :mod:`hotspot.stats.kde`. Kernel shapes are selected by an integer code (``KERNEL_CODES``) and
evaluated from the squared distance, so the quartic, Epanechnikov, uniform and Gaussian kernels
never take a square root.

Determinism: the exact density sorts points into cells with stable counting sorts over fixed chunks,
and each band of output rows is summed by one thread in a fixed order (source row, cell, location);
``merge_identical`` merges with a stable sort per band of y. Results are bit-for-bit the same for any
number of threads. Serial twins of the parallel functions are separate Python functions because Numba's
disk cache is keyed by the Python function, not by the ``parallel`` flag.

Crowded runs of cells are summed through moments (``_dense_run``: quartic, Epanechnikov, uniform) or, for the
Gaussian, along their locations with tables of factors (``_gauss_run``).

Only ``_direct``, called once per location, is inlined by Numba (``inline="always"``); the other helpers
stay calls. Numba's inlining types a helper's body again inside its caller: inlining ``_dense_run``,
``_gauss_line`` and ``_weight_scale`` too made a cold ``kernel_density`` take 8.2 s of CPU to compile
against 5.7 s in a fresh process (in a cold ``hotspot evaluate``, 4.0 against 3.4 s for the band kernels),
for no measurable speed (their calls are once per run of cells, per Gaussian location, per band); the
surfaces are bit for bit the same.
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

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's ln2_hi: n * _LN2_HI is exact for |n| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2^52: adding it rounds to an integer held in the low bits


@numba.njit(cache=True, inline="always")
def _exp_neg(z):
    """exp(z) for z <= 0, to about an ulp, in operations a loop vectorises (libm's exp is a call per value).

    ``_gauss_run`` starts four lines of factors per location with it: through libm, a call each, they cost
    more than the run's sums. Cody-Waite reduction z = n ln2 + r, |r| <= ln2 / 2, Taylor to r^13 (truncation below
    1e-17) summed by Estrin's scheme, times 2^n built from its bits. Below -708 it returns exp(-708) (1e-308);
    above 709 it overflows to garbage, not inf (``_gauss_run`` keeps its arguments within +-50).
    """
    z = max(z, -708.0)
    t = z * _LOG2E + _ROUND
    n = t - _ROUND
    r = (z - n * _LN2_HI) - n * _LN2_LO
    # Estrin's scheme: a tree, not Horner's chain of 13 dependent steps (these loops are short, so latency counts).
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q0 = 1.0 + r
    q1 = 0.5 + r * (1.0 / 6.0)
    q2 = 1.0 / 24.0 + r * (1.0 / 120.0)
    q3 = 1.0 / 720.0 + r * (1.0 / 5040.0)
    q4 = 1.0 / 40320.0 + r * (1.0 / 362880.0)
    q5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0)
    q6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    s0 = q0 + r2 * q1
    s1 = q2 + r2 * q3
    s2 = q4 + r2 * q5
    p = (s0 + r4 * s1) + r8 * (s2 + r4 * q6)
    bits = np.float64(t).view(np.int64) - np.float64(_ROUND).view(np.int64)
    return p * np.int64((bits + 1023) << 52).view(np.float64)


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


# --- exact density: points sorted into cells, then summed band by band of rows -------------------
#
# Coordinates are first sorted, by a counting sort, into the cells of the grid padded by the kernel's
# reach, and identical coordinates are merged within each cell. Each band of output rows is then summed
# by one thread from the cells in source-row, column, location order, so every cell's sum is taken in one
# fixed order whatever the number of threads. Kernels are cut in metres (d^2 < h^2); the moment
# polynomials of crowded runs of cells work in bandwidths (u = d / h), where their terms are of order 1.

_MIX1 = -7046029254386353131
_MIX2 = -4417276706812531889
_NEG_ZERO_BITS = -9223372036854775808

CUT_SLACK = 1e-12
"""Slack, in bandwidths (squared where squares are compared), around the bounds computed from a kernel's cut.

Rows and columns within it of some location's cut are visited and given the exact cut (d^2 < h^2 in
metres), and targets within it are not counted inside every kernel of a run of cells, so rounding in the
bounds can neither drop a target a kernel reaches nor count a location past its edge.
"""


@numba.njit(cache=True)
def _count_rows(x, y, x0, y0, inv_cell, nrows, ncols, lo, hi, counts):
    # counts[nrows] collects the points off the padded lattice: their kernels cannot reach the grid.
    for i in range(lo, hi):
        fr = (y0 - y[i]) * inv_cell
        fc = (x[i] - x0) * inv_cell
        if fr >= 0.0 and fr < nrows and fc >= 0.0 and fc < ncols:
            counts[int(fr)] += 1
        else:
            counts[nrows] += 1


@numba.njit(cache=True)
def _fill_rows(x, y, w, x0, y0, inv_cell, nrows, ncols, lo, hi, offsets, rx, ry, rw, ox, oy):
    for i in range(lo, hi):
        fr = (y0 - y[i]) * inv_cell
        fc = (x[i] - x0) * inv_cell
        if fr >= 0.0 and fr < nrows and fc >= 0.0 and fc < ncols:
            r = int(fr)
            f = offsets[r]
            rx[f] = x[i]
            ry[f] = y[i]
            if w.shape[0]:
                rw[f] = w[i]
            offsets[r] = f + 1
        else:
            f = offsets[nrows]
            ox[f] = x[i]
            oy[f] = y[i]
            offsets[nrows] = f + 1


@numba.njit(cache=True, parallel=True)
def count_rows(x, y, x0, y0, inv_cell, nrows, ncols, chunk):
    """Points per row of the lattice (west edge ``x0``, north edge ``y0``) in each chunk of ``chunk`` points.

    Returns int64 ``(n_chunks, nrows + 1)``; the last column counts points off the lattice.
    """
    n = x.shape[0]
    nch = (n + chunk - 1) // chunk
    counts = np.zeros((nch, nrows + 1), np.int64)
    for c in numba.prange(nch):
        _count_rows(x, y, x0, y0, inv_cell, nrows, ncols, c * chunk, min(n, c * chunk + chunk), counts[c])
    return counts


@numba.njit(cache=True)
def count_rows_serial(x, y, x0, y0, inv_cell, nrows, ncols, chunk):
    """``count_rows`` on one thread (identical results)."""
    n = x.shape[0]
    nch = (n + chunk - 1) // chunk
    counts = np.zeros((nch, nrows + 1), np.int64)
    for c in range(nch):
        _count_rows(x, y, x0, y0, inv_cell, nrows, ncols, c * chunk, min(n, c * chunk + chunk), counts[c])
    return counts


@numba.njit(cache=True, parallel=True)
def fill_rows(x, y, w, x0, y0, inv_cell, nrows, ncols, chunk, offsets, rx, ry, rw, ox, oy):
    """Stable counting sort of the points into rows: ``offsets`` (from ``count_rows``) are each chunk's first slot per row.

    Points on the lattice go to ``rx, ry, rw`` in row order, the rest to ``ox, oy``, each in input order,
    so the result does not depend on the thread count. ``offsets`` is used up. An empty ``w`` means
    weight 1 each: ``rw`` is then left for ``cells_of_rows`` to fill, which saves moving a third array.
    """
    n = x.shape[0]
    for c in numba.prange(offsets.shape[0]):
        _fill_rows(
            x,
            y,
            w,
            x0,
            y0,
            inv_cell,
            nrows,
            ncols,
            c * chunk,
            min(n, c * chunk + chunk),
            offsets[c],
            rx,
            ry,
            rw,
            ox,
            oy,
        )


@numba.njit(cache=True)
def fill_rows_serial(x, y, w, x0, y0, inv_cell, nrows, ncols, chunk, offsets, rx, ry, rw, ox, oy):
    """``fill_rows`` on one thread (identical results)."""
    n = x.shape[0]
    for c in range(offsets.shape[0]):
        _fill_rows(
            x,
            y,
            w,
            x0,
            y0,
            inv_cell,
            nrows,
            ncols,
            c * chunk,
            min(n, c * chunk + chunk),
            offsets[c],
            rx,
            ry,
            rw,
            ox,
            oy,
        )


@numba.njit(cache=True)
def _cells_of_row(rx, ry, rw, weighted, x0, inv_cell, ncols, cell_col, cell_cnt):
    """Sort one row's points by column (stable) and merge identical coordinates within each cell, in place.

    Returns (locations, cells); cell k of the row is column ``cell_col[k]`` holding the next ``cell_cnt[k]``
    locations, each in order of first appearance with the weights of its duplicates added in input order.
    Without ``weighted``, ``rw`` is not read and each point weighs 1.
    """
    m = rx.shape[0]
    if m == 0:
        return 0, 0
    start = np.zeros(ncols + 1, np.int64)
    for i in range(m):
        start[int((rx[i] - x0) * inv_cell) + 1] += 1
    biggest = 0
    for c in range(ncols):
        biggest = max(biggest, start[c + 1])
        start[c + 1] += start[c]
    tx = np.empty(m)
    ty = np.empty(m)
    tw = np.empty(m if weighted else 0)
    fill = start[:-1].copy()
    for i in range(m):
        c = int((rx[i] - x0) * inv_cell)
        f = fill[c]
        tx[f] = rx[i]
        ty[f] = ry[i]
        if weighted:
            tw[f] = rw[i]
        fill[c] = f + 1
    size = 16
    while size < 2 * biggest:
        size *= 2
    table = np.full(size, -1, np.int64)
    # Bit patterns for hashing; -0.0 is folded onto 0.0 because the two compare equal.
    bx = tx.view(np.int64)
    by = ty.view(np.int64)
    u = 0
    nc = 0
    for c in range(ncols):
        s = start[c]
        e = start[c + 1]
        if e == s:
            continue
        first = u
        if e - s <= 8:
            for k in range(s, e):
                hit = -1
                for v in range(first, u):
                    if rx[v] == tx[k] and ry[v] == ty[k]:
                        hit = v
                        break
                if hit >= 0:
                    rw[hit] += tw[k] if weighted else 1.0
                else:
                    rx[u] = tx[k]
                    ry[u] = ty[k]
                    rw[u] = tw[k] if weighted else 1.0
                    u += 1
        else:
            tsize = 16
            while tsize < 2 * (e - s):
                tsize *= 2
            mask = tsize - 1
            for k in range(s, e):
                kx = 0 if bx[k] == _NEG_ZERO_BITS else bx[k]
                ky = 0 if by[k] == _NEG_ZERO_BITS else by[k]
                slot = (((kx * _MIX1) ^ ky) * _MIX2 >> 32) & mask
                while True:
                    v = table[slot]
                    if v < 0:
                        table[slot] = u
                        rx[u] = tx[k]
                        ry[u] = ty[k]
                        rw[u] = tw[k] if weighted else 1.0
                        u += 1
                        break
                    if rx[v] == tx[k] and ry[v] == ty[k]:
                        rw[v] += tw[k] if weighted else 1.0
                        break
                    slot = (slot + 1) & mask
            for k in range(tsize):
                table[k] = -1
        cell_col[nc] = c
        cell_cnt[nc] = u - first
        nc += 1
    return u, nc


@numba.njit(cache=True, parallel=True)
def cells_of_rows(rx, ry, rw, weighted, row_start, x0, inv_cell, ncols, cell_col, cell_cnt, nloc, ncell):
    """``_cells_of_row`` on every row (rows in parallel): row r's locations and cells start at ``row_start[r]``."""
    for r in numba.prange(row_start.shape[0] - 1):
        s = row_start[r]
        e = row_start[r + 1]
        nloc[r], ncell[r] = _cells_of_row(
            rx[s:e], ry[s:e], rw[s:e], weighted, x0, inv_cell, ncols, cell_col[s:e], cell_cnt[s:e]
        )


@numba.njit(cache=True)
def cells_of_rows_serial(rx, ry, rw, weighted, row_start, x0, inv_cell, ncols, cell_col, cell_cnt, nloc, ncell):
    """``cells_of_rows`` on one thread (identical results)."""
    for r in range(row_start.shape[0] - 1):
        s = row_start[r]
        e = row_start[r + 1]
        nloc[r], ncell[r] = _cells_of_row(
            rx[s:e], ry[s:e], rw[s:e], weighted, x0, inv_cell, ncols, cell_col[s:e], cell_cnt[s:e]
        )


@numba.njit(cache=True)
def _gauss_line(out, n, d0, step, c, q, first, last):
    """``out[k - first] = exp(-c (d0 + k step)^2)`` for ``first <= k <= last`` of a line ``0 .. n - 1``, as products
    outward from the line's peak: two exps, not one per entry.

    Going out a step multiplies by a ratio that itself changes by the constant factor ``q``
    (``exp(-2 c step^2)``), so the relative error grows by about an ulp per step (a few dozen steps here).
    Both directions advance in one loop, two independent chains of multiplications. The products start from
    the peak of the whole line and stop at ``first`` and ``last``, so an entry's value does not depend on which
    part of the line is asked for (a band's rows, a location's columns).
    """
    k0 = min(n - 1, max(0, int(math.floor(0.5 - d0 / step))))
    d = d0 + k0 * step
    peak = math.exp(-c * d * d)
    up = math.exp(-c * step * (step + 2.0 * d))
    down = q / up
    # The entries between the peak and the part asked for are multiplied out but not stored.
    last = min(last, n - 1)
    first = max(first, 0)
    if first <= k0 <= last:
        out[k0 - first] = peak
    v_up = peak
    v_down = peak
    for t in range(1, max(last - k0, k0 - first) + 1):
        if k0 + t <= last:
            v_up *= up
            up *= q
            if k0 + t >= first:
                out[k0 + t - first] = v_up
        if k0 - t >= first:
            v_down *= down
            down *= q
            if k0 - t <= last:
                out[k0 - t - first] = v_down


@numba.njit(cache=True)
def _kernel_columns(window, reach_cells, code):
    """Columns ``_direct`` sums per row and location: the whole ``window`` for the quartic, Epanechnikov and uniform
    kernels; for the triangular and Gaussian kernels 2 h / cell + 2 columns (``reach_cells`` is h / cell) from the
    first within h of the location, which cover every column it reaches, rounded up to whole vectors of four
    doubles (so the loop has no scalar tail), or of eight for the Gaussian.

    Those two cost far more per column (a square root; a product with a factor), so summing only the columns a
    location can reach rather than a window rounded up to 32 pays; the others stay on the window.
    """
    if code != TRIANGULAR and code != GAUSSIAN:
        return window
    return min(window, _reach_columns(reach_cells * (1.0 + CUT_SLACK), False, code))


@numba.njit(cache=True)
def _reach_columns(hc, whole_cell, code):
    """Columns that hold every column within ``hc`` cells of a location's centre c, from floor(c - hc) on, or with
    ``whole_cell`` of any location of its cell (c within half a cell of the cell's centre), from the first column
    within hc of the cell's west edge on; rounded up to whole vectors.

    floor(c - hc) + floor(2 hc) + 1 >= ceil(c + hc) - 1, the last column within hc; a whole cell needs one more.
    The Gaussian's few operations per column run faster in whole loop bodies of 16 than in a 12 run as three
    vectors of 4 (measured at h = 5 cells); the triangular kernel's square root is worth every column saved.
    """
    need = int(math.floor(2.0 * hc + 2e-9)) + (3 if whole_cell else 2)
    unit = 4 if code == TRIANGULAR else 8
    return (need + unit - 1) // unit * unit


@numba.njit(cache=True)
def _weight_scale(h, code):
    """What a location's weight is multiplied by before ``_direct``: the powers of 1 / h (metres) of its kernel's shape."""
    if code == QUARTIC:
        return 1.0 / (h * h * h * h)
    if code == EPANECHNIKOV:
        return 1.0 / (h * h)
    if code == TRIANGULAR:
        return 1.0 / h
    return 1.0


@numba.njit(cache=True, inline="always")
def _direct(buf, i0, rho, sig, qx, qy, w, cell, inv_cell, h, reach, window, aligned, code, gauss_q, e, g, gy):
    """Add one location's kernel to the band ``buf`` (rows from grid row ``i0``).

    The location lies ``qx, qy`` metres from the centre of its cell, in grid row ``rho`` and buffer column
    ``sig + reach``; ``w`` is its weight times ``_weight_scale`` (kernel shapes are in u = d / h, and the
    factors of h go into the weight once per location, not into every target). Every row it reaches is
    summed over the same ``e.shape[0]`` columns (``_kernel_columns``, from window column ``c0``): the corners
    add zeros, but a fixed, vector-long loop costs less than finding each row's chord (measured: a loop whose
    length changes from row to row mispredicts its exit and has a scalar tail, which cost more than the
    columns saved, even for the square root of the triangular kernel). The
    cut is taken in metres from offsets that are whole multiples of the cell minus the location's offset in
    its cell, so it is d^2 < h^2 exactly on whole-metre data, and the same whatever the grid's origin (tiles
    agree).
    """
    i1 = i0 + buf.shape[0]
    width = e.shape[0]
    # First window column summed: 0 for the kernels summed over the whole window. The triangular and Gaussian
    # kernels are summed over ``width`` columns (fewer than ``window``) placed over the location's own: the
    # columns within h of it, the only ones any row can reach (the kernel is 0 beyond the disk).
    c0 = 0
    if code == TRIANGULAR or code == GAUSSIAN:
        hc = h * inv_cell * (1.0 + CUT_SLACK)
        centre = reach + qx * inv_cell
        c0 = int(math.floor(centre - hc))
        if aligned:
            # Wide enough for any location of the cell: every location of the cell starts at the same column,
            # so a location's vector loads line up with the previous location's stores (a misaligned overlap
            # defeats store-to-load forwarding: 10 M points at h = 10 cells, ~1.5x the CPU). Checked, not assumed.
            first = int(math.floor(reach - 0.5 - hc - 1e-9))
            if first <= c0 and int(math.floor(centre + hc)) <= first + width - 1:
                c0 = first
        c0 = max(0, min(window - width, c0))
    reach_m = h * (1.0 + CUT_SLACK)
    top = rho - int(math.floor((qy + reach_m) * inv_cell))
    bottom = rho - int(math.ceil((qy - reach_m) * inv_cell))
    lo = max(i0, top)
    hi = min(i1 - 1, bottom)
    if lo > hi:
        return
    h2 = h * h
    for k in range(width):
        dx = (c0 + k - reach) * cell - qx
        e[k] = dx * dx
    if code == GAUSSIAN:
        # Separable: exp(-c (dx^2 + dy^2)) = exp(-c dx^2) exp(-c dy^2), so a factor per column and per row,
        # not an exp per cell (without a vector exp, exps would cost more than everything else). Each line of
        # factors is taken outward from its peak over every row or column the kernel reaches, and only the
        # band's rows and the summed columns are kept: products taken from where the band starts would round
        # differently, and bands depend on the thread count.
        step = cell / h
        _gauss_line(g, window, (-reach * cell - qx) / h, step, GAUSS_HALF_S2, gauss_q, c0, c0 + width - 1)
        _gauss_line(
            gy, bottom - top + 1, ((rho - top) * cell - qy) / h, -step, GAUSS_HALF_S2, gauss_q, lo - top, hi - top
        )
    for i in range(lo, hi + 1):
        dy = (rho - i) * cell - qy
        dy2 = dy * dy
        a = h2 - dy2
        seg = buf[i - i0, sig + c0 : sig + c0 + width]
        if code == QUARTIC:
            for k in range(width):
                t = max(a - e[k], 0.0)
                seg[k] += w * t * t
        elif code == EPANECHNIKOV:
            for k in range(width):
                seg[k] += w * max(a - e[k], 0.0)
        elif code == TRIANGULAR:
            for k in range(width):
                seg[k] += w * max(h - math.sqrt(e[k] + dy2), 0.0)
        elif code == UNIFORM:
            for k in range(width):
                seg[k] += w if e[k] < a else 0.0
        else:
            wy = w * gy[i - lo]
            for k in range(width):
                seg[k] += wy * g[k] if e[k] < a else 0.0


@numba.njit(cache=True)
def _dense_run(
    buf, i0, rho, sig, span, px, py, pw, cx, cy, cell, h, reach, code, edge_row, edge_col, edge_s, edge_t, edge_sum
):
    """Add a run of cells holding many locations (quartic, Epanechnikov or uniform kernel) to the band ``buf``.

    The run starts at buffer column ``sig + reach`` (whose cell centre is ``cx, cy``) and spans ``span``
    more columns of the same row. Within its support each of these kernels is a polynomial of the
    offsets, so along a target row the run's sum is a polynomial of the target's column offset t whose
    coefficients come from nine moments of the run's locations. Targets inside every location's kernel
    (judged from the locations' bounding box) take that polynomial: a few operations per target, however
    many locations the run holds. Only the targets near the edge of the disk, inside some kernels and not
    others, are summed location by location, all of the run's edge targets at once so the loop runs along
    targets, not locations (a sum along locations would not vectorise without reordering the additions).
    """
    m = px.shape[0]
    i1 = i0 + buf.shape[0]
    inv_h = 1.0 / h
    step = cell * inv_h
    inv_step = 1.0 / step
    xmin = ymin = np.inf
    xmax = ymax = -np.inf
    m0 = mx = my = mxx = myy = mxy = mxv = myv = mvv = 0.0
    for j in range(m):
        x = (px[j] - cx) * inv_h
        y = (py[j] - cy) * inv_h
        w = pw[j]
        xmin = min(xmin, x)
        xmax = max(xmax, x)
        ymin = min(ymin, y)
        ymax = max(ymax, y)
        r2 = x * x + y * y
        m0 += w
        mx += w * x
        my += w * y
        mxx += w * x * x
        myy += w * y * y
        mxy += w * x * y
        mxv += w * x * r2
        myv += w * y * r2
        mvv += w * r2 * r2
    mv = mxx + myy
    lo = max(i0, rho - int(math.floor((ymax + 1.0 + CUT_SLACK) * inv_step)))
    hi = min(i1 - 1, rho - int(math.ceil((ymin - 1.0 - CUT_SLACK) * inv_step)))
    off = sig + reach
    n_edge = 0
    for i in range(lo, hi + 1):
        s = (rho - i) * step
        d_lo = s - ymax
        d_hi = s - ymin
        far2 = max(d_lo * d_lo, d_hi * d_hi)
        near2 = 0.0 if d_lo <= 0.0 <= d_hi else min(d_lo * d_lo, d_hi * d_hi)
        if near2 >= 1.0 + CUT_SLACK:
            continue
        # Columns some location reaches (generous: edge targets get the exact cut).
        c_out = math.sqrt(1.0 + CUT_SLACK - near2)
        b0 = max(-reach, int(math.floor((xmin - c_out) * inv_step)))
        b1 = min(reach + span, int(math.ceil((xmax + c_out) * inv_step)))
        # Columns every location reaches with room to spare.
        in0 = b0
        in1 = b0 - 1
        if far2 < 1.0 - CUT_SLACK:
            c_in = math.sqrt(1.0 - far2 - CUT_SLACK)
            in0 = max(b0, int(math.floor((xmax - c_in) * inv_step)) + 1)
            in1 = min(b1, int(math.ceil((xmin + c_in) * inv_step)) - 1)
        if in0 <= in1:
            # alpha_j = 1 - qx_j^2 - (s - qy_j)^2 = kappa + lam qy_j - |q_j|^2 and beta_j = 2 qx_j: the
            # kernel's inner term 1 - u^2 at target offset t is alpha_j + beta_j t - t^2.
            kappa = 1.0 - s * s
            lam = 2.0 * s
            s_a = kappa * m0 + lam * my - mv
            s_b = 2.0 * mx
            if code == QUARTIC:
                s_aa = (
                    kappa * kappa * m0
                    + lam * lam * myy
                    + mvv
                    + 2.0 * kappa * lam * my
                    - 2.0 * kappa * mv
                    - 2.0 * lam * myv
                )
                s_ab = 2.0 * (kappa * mx + lam * mxy - mxv)
                c0 = s_aa
                c1 = 2.0 * s_ab
                c2 = 4.0 * mxx - 2.0 * s_a
                c3 = -2.0 * s_b
                c4 = m0
            elif code == EPANECHNIKOV:
                c0 = s_a
                c1 = s_b
                c2 = -m0
                c3 = 0.0
                c4 = 0.0
            else:
                c0 = m0
                c1 = c2 = c3 = c4 = 0.0
            seg = buf[i - i0, off + in0 : off + in1 + 1]
            for k in range(seg.shape[0]):
                t = (in0 + k) * step
                seg[k] += c0 + t * (c1 + t * (c2 + t * (c3 + t * c4)))
        # The edge: the columns reached but not inside, west then east of the inside run.
        west = in0 if in0 <= in1 else b1 + 1
        east = in1 + 1 if in0 <= in1 else b1 + 1
        for b in range(b0, west):
            edge_row[n_edge] = i - i0
            edge_col[n_edge] = off + b
            edge_s[n_edge] = (rho - i) * cell
            edge_t[n_edge] = b * cell
            n_edge += 1
        for b in range(east, b1 + 1):
            edge_row[n_edge] = i - i0
            edge_col[n_edge] = off + b
            edge_s[n_edge] = (rho - i) * cell
            edge_t[n_edge] = b * cell
            n_edge += 1
    if n_edge == 0:
        return
    # The edge, with the cut in metres as in _direct.
    acc = edge_sum[:n_edge]
    es = edge_s[:n_edge]
    et = edge_t[:n_edge]
    for p in range(n_edge):
        acc[p] = 0.0
    h2 = h * h
    for j in range(m):
        x = px[j] - cx
        y = py[j] - cy
        w = pw[j]
        if code == QUARTIC:
            for p in range(n_edge):
                dx = et[p] - x
                dy = es[p] - y
                z = max((h2 - dy * dy) - dx * dx, 0.0)
                acc[p] += w * z * z
        elif code == EPANECHNIKOV:
            for p in range(n_edge):
                dx = et[p] - x
                dy = es[p] - y
                acc[p] += w * max((h2 - dy * dy) - dx * dx, 0.0)
        else:
            for p in range(n_edge):
                dx = et[p] - x
                dy = es[p] - y
                acc[p] += w if dx * dx < h2 - dy * dy else 0.0
    scale = 1.0 / (h2 * h2) if code == QUARTIC else 1.0 / h2 if code == EPANECHNIKOV else 1.0
    for p in range(n_edge):
        buf[edge_row[p], edge_col[p]] += acc[p] * scale


@numba.njit(cache=True)
def _gauss_run(buf, i0, rho, sig, span, px, py, pw, cx, cy, cell, h, reach):
    """Add a run of cells holding many locations (Gaussian kernel) to the band ``buf``, as ``_dense_run`` places it.

    The run's locations are summed row by row into one row of sums over the columns any of them reaches, then
    added to the band. Each location's factors per column and its squared offsets are tables made once per
    run, its factor per row is advanced once per row, and the exps that start those lines are ``_exp_neg`` in
    loops along the locations: a location pays no libm exp and no loop set up per row (``_direct`` pays both
    per location, and they cost it more than its sums: 10 M points at h = 5 cells, 2.1 s against 1.1 s on one
    thread). The cut is ``_direct``'s, d^2 < h^2 in metres. Lines start at the run's own edge and a target's
    sum runs over the run's locations in input order, so the surface depends neither on the band nor on the
    thread count. ``kernel_density`` takes h >= one cell, which keeps every exp's argument within +-50.
    """
    m = px.shape[0]
    i1 = i0 + buf.shape[0]
    h2 = h * h
    nc = -GAUSS_HALF_S2 / h2
    inv_cell = 1.0 / cell
    reach_m = h * (1.0 + CUT_SLACK)
    qx = np.empty(m)
    qy = np.empty(m)
    xmin = ymin = np.inf
    xmax = ymax = -np.inf
    for j in range(m):
        qx[j] = px[j] - cx
        qy[j] = py[j] - cy
        xmin = min(xmin, qx[j])
        xmax = max(xmax, qx[j])
        ymin = min(ymin, qy[j])
        ymax = max(ymax, qy[j])
    lo = max(i0, rho - int(math.floor((ymax + reach_m) * inv_cell)))
    hi = min(i1 - 1, rho - int(math.ceil((ymin - reach_m) * inv_cell)))
    if lo > hi:
        return
    b0 = max(-reach, int(math.floor((xmin - reach_m) * inv_cell)))
    b1 = min(reach + span, int(math.ceil((xmax + reach_m) * inv_cell)))
    # Whole vectors of four columns: the extra ones lie beyond every location's reach (e >= h^2 > a).
    nb = (b1 - b0 + 4) // 4 * 4
    # Factors along a line as products: exp(nc d^2) one step further on is the last one times a ratio that itself
    # changes by the constant factor q. Two exps per location and line, not one per column and row (those cost
    # more than the sums); the relative error grows by about an ulp per step times the steps taken (a few dozen).
    # The rows' products start from the run's first row, not the band's, so they do not depend on the band.
    q = _exp_neg(2.0 * nc * cell * cell)
    ex = np.empty((m, nb))
    gx = np.empty((m, nb))
    for j in range(m):
        e_j = ex[j]
        for b in range(nb):
            dx = (b0 + b) * cell - qx[j]
            e_j[b] = dx * dx
    g0 = np.empty(m)
    u0 = np.empty(m)
    for j in range(m):
        d = b0 * cell - qx[j]
        g0[j] = _exp_neg(d * d * nc)
        u0[j] = _exp_neg(nc * cell * (2.0 * d + cell))
    for j in range(m):
        g_j = gx[j]
        v = g0[j]
        u = u0[j]
        for b in range(nb):
            g_j[b] = v
            v *= u
            u *= q
    top = rho - int(math.floor((ymax + reach_m) * inv_cell))
    a = np.empty(m)
    wy = np.empty(m)
    gy = np.empty(m)
    uy = np.empty(m)
    for j in range(m):
        d = (rho - top) * cell - qy[j]
        gy[j] = _exp_neg(d * d * nc)
        uy[j] = _exp_neg(nc * cell * (cell - 2.0 * d))
    acc = np.empty(nb)
    off = sig + reach + b0
    for i in range(top, hi + 1):
        if i < lo:
            for j in range(m):
                gy[j] *= uy[j]
                uy[j] *= q
            continue
        for j in range(m):
            dy = (rho - i) * cell - qy[j]
            a[j] = h2 - dy * dy
            wy[j] = pw[j] * gy[j]
            gy[j] *= uy[j]
            uy[j] *= q
        acc[:] = 0.0
        # Two locations per pass over the row (the same additions in the same order): half the loads and stores.
        for j in range(0, m - 1, 2):
            a_j = a[j]
            w_j = wy[j]
            e_j = ex[j]
            g_j = gx[j]
            a_k = a[j + 1]
            w_k = wy[j + 1]
            e_k = ex[j + 1]
            g_k = gx[j + 1]
            for b in range(nb):
                v = w_j * g_j[b]
                t = acc[b] + (v if e_j[b] < a_j else 0.0)
                v = w_k * g_k[b]
                acc[b] = t + (v if e_k[b] < a_k else 0.0)
        if m % 2:
            a_j = a[m - 1]
            w_j = wy[m - 1]
            e_j = ex[m - 1]
            g_j = gx[m - 1]
            for b in range(nb):
                v = w_j * g_j[b]
                acc[b] += v if e_j[b] < a_j else 0.0
        row = buf[i - i0]
        n = min(nb, row.shape[0] - off)
        for b in range(n):
            row[off + b] += acc[b]


@numba.njit(cache=True)
def _density_band(
    buf,
    i0,
    rx,
    ry,
    rw,
    row_start,
    ncell,
    cell_col,
    cell_cnt,
    x0,
    y0,
    cell,
    pad,
    reach,
    h,
    code,
    dense_min,
    run_cols,
    run_locs,
    window,
):
    """Sum every location that reaches grid rows ``i0 .. i0 + buf.shape[0]`` into ``buf`` (buffer column = lattice column + reach)."""
    inv_cell = 1.0 / cell
    cols = _kernel_columns(window, h * inv_cell, code)
    # Whether ``cols`` also holds the columns of any location of a cell from one start (see ``_direct``).
    aligned = cols >= _reach_columns(h * inv_cell * (1.0 + CUT_SLACK), True, code)
    e = np.empty(cols)
    g = np.empty(cols)
    gy = np.empty(2 * reach + 3)
    wscale = _weight_scale(h, code)
    step = cell / h
    gauss_q = math.exp(-2.0 * GAUSS_HALF_S2 * step * step)
    # A dense run's edge targets: at most every column of every row it reaches.
    nscratch = (2 * reach + 3) * (2 * reach + 3 + run_cols)
    edge_row = np.empty(nscratch, np.int64)
    edge_col = np.empty(nscratch, np.int64)
    edge_s = np.empty(nscratch)
    edge_t = np.empty(nscratch)
    edge_sum = np.empty(nscratch)
    nrows = row_start.shape[0] - 1
    i1 = i0 + buf.shape[0]
    for rp in range(max(0, i0 + pad - reach), min(nrows, i1 + pad + reach)):
        rho = rp - pad
        cy = y0 - (rp + 0.5) * cell
        j = row_start[rp]
        ci = row_start[rp]
        last = row_start[rp] + ncell[rp]
        while ci < last:
            # A run: the next cells of the row, up to run_cols columns wide, until it holds run_locs locations.
            sig = cell_col[ci]
            m = cell_cnt[ci]
            cj = ci + 1
            while cj < last and m < run_locs and cell_col[cj] - sig < run_cols:
                m += cell_cnt[cj]
                cj += 1
            # The Gaussian's runs take their factors as products from the edge of its reach, which for a
            # bandwidth under a cell would start below exp(-708) (underflow): those stay location by location.
            dense = m >= dense_min and (code != GAUSSIAN or h >= cell)
            if dense:
                span = cell_col[cj - 1] - sig
                px, py, pw = rx[j : j + m], ry[j : j + m], rw[j : j + m]
                cx = x0 + (sig + 0.5) * cell
                if code == GAUSSIAN:
                    _gauss_run(buf, i0, rho, sig, span, px, py, pw, cx, cy, cell, h, reach)
                else:
                    _dense_run(
                        buf, i0, rho, sig, span, px, py, pw, cx, cy, cell, h, reach, code,
                        edge_row, edge_col, edge_s, edge_t, edge_sum,
                    )  # fmt: skip
                j += m
            else:
                for c in range(ci, cj):
                    col = cell_col[c]
                    cx = x0 + (col + 0.5) * cell
                    for k in range(j, j + cell_cnt[c]):
                        qx = rx[k] - cx
                        qy = ry[k] - cy
                        w = rw[k] * wscale
                        _direct(
                            buf,
                            i0,
                            rho,
                            col,
                            qx,
                            qy,
                            w,
                            cell,
                            inv_cell,
                            h,
                            reach,
                            window,
                            aligned,
                            code,
                            gauss_q,
                            e,
                            g,
                            gy,
                        )
                    j += cell_cnt[c]
            ci = cj


@numba.njit(cache=True)
def _band_into(
    out,
    i0,
    band_rows,
    rx,
    ry,
    rw,
    row_start,
    ncell,
    cell_col,
    cell_cnt,
    x0,
    y0,
    cell,
    pad,
    reach,
    h,
    code,
    dense_min,
    run_cols,
    run_locs,
    window,
    norm,
):
    nrows, ncols = out.shape
    i1 = min(nrows, i0 + band_rows)
    buf = np.zeros((i1 - i0, ncols + 2 * pad + window))
    _density_band(
        buf,
        i0,
        rx,
        ry,
        rw,
        row_start,
        ncell,
        cell_col,
        cell_cnt,
        x0,
        y0,
        cell,
        pad,
        reach,
        h,
        code,
        dense_min,
        run_cols,
        run_locs,
        window,
    )
    for i in range(i1 - i0):
        src = buf[i, pad + reach : pad + reach + ncols]
        dst = out[i0 + i]
        for c in range(ncols):
            dst[c] = src[c] * norm


@numba.njit(cache=True, parallel=True)
def density_bands(
    out,
    band_rows,
    first,
    last,
    rx,
    ry,
    rw,
    row_start,
    ncell,
    cell_col,
    cell_cnt,
    x0,
    y0,
    cell,
    pad,
    reach,
    h,
    code,
    dense_min,
    run_cols,
    run_locs,
    window,
    norm,
):
    """Kernel density (``norm`` times the kernel sums) of bands ``first .. last`` of ``band_rows`` rows of ``out``.

    The locations are those of ``cells_of_rows`` on the lattice of ``out``'s grid padded by ``pad`` cells
    (west edge ``x0``, north edge ``y0``, cell side ``cell``); ``reach`` is the furthest any kernel
    reaches in cells, ``window`` (at least 2 reach + 1) the columns summed per location and row, ``h`` the
    bandwidth (metres) and ``code`` the kernel. Runs of cells of a row, at most ``run_cols`` columns wide
    and closed once they hold ``run_locs`` locations, are summed through their moments if they hold at
    least ``dense_min`` locations, location by location otherwise. Bands run in parallel; each is summed
    by one thread in a fixed order, so the result does not depend on the thread count.
    """
    for b in numba.prange(first, last):
        _band_into(
            out,
            b * band_rows,
            band_rows,
            rx,
            ry,
            rw,
            row_start,
            ncell,
            cell_col,
            cell_cnt,
            x0,
            y0,
            cell,
            pad,
            reach,
            h,
            code,
            dense_min,
            run_cols,
            run_locs,
            window,
            norm,
        )


@numba.njit(cache=True)
def density_bands_serial(
    out,
    band_rows,
    first,
    last,
    rx,
    ry,
    rw,
    row_start,
    ncell,
    cell_col,
    cell_cnt,
    x0,
    y0,
    cell,
    pad,
    reach,
    h,
    code,
    dense_min,
    run_cols,
    run_locs,
    window,
    norm,
):
    """``density_bands`` on one thread (identical results)."""
    for b in range(first, last):
        _band_into(
            out,
            b * band_rows,
            band_rows,
            rx,
            ry,
            rw,
            row_start,
            ncell,
            cell_col,
            cell_cnt,
            x0,
            y0,
            cell,
            pad,
            reach,
            h,
            code,
            dense_min,
            run_cols,
            run_locs,
            window,
            norm,
        )


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
