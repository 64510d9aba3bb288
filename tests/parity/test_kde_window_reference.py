"""The triangular and Gaussian kernels summed over a location's reach give bit-for-bit the whole-window sums they replaced.

``window_reference`` is the summation ``hotspot.kernels.kde._direct`` did for these two kernels before it
was narrowed to the columns a location can reach (and the Gaussian's lines of factors to the band's rows
and those columns): every row the kernel reaches, over the whole window of columns, with the kernel's test
on every column and the factors of whole lines. Kept here as the reference. Skipped columns only ever added
exact zeros and each factor is the same product from its line's peak, so the surfaces must be identical, not
merely close; the brute-force comparisons in ``test_kde.py`` hold both to the formulas.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from hotspot.core.grid import Grid
from hotspot.kernels import kde as kk
from hotspot.stats import kde as sk


@numba.njit(cache=True)
def _whole_gauss_line(out, n, d0, step, c, q):
    k0 = min(n - 1, max(0, int(math.floor(0.5 - d0 / step))))
    d = d0 + k0 * step
    out[k0] = math.exp(-c * d * d)
    up = math.exp(-c * step * (step + 2.0 * d))
    down = q / up
    for t in range(1, max(n - k0, k0 + 1)):
        if k0 + t < n:
            out[k0 + t] = out[k0 + t - 1] * up
            up *= q
        if k0 - t >= 0:
            out[k0 - t] = out[k0 - t + 1] * down
            down *= q


@numba.njit(cache=True)
def window_reference(
    rx, ry, rw, row_start, ncell, cell_col, cell_cnt, x0, y0, cell, pad, reach, h, code, window, nrows, ncols
):
    """Kernel sums (triangular or Gaussian, before ``kernel_norm``) on the grid, the whole window per location and row."""
    buf = np.zeros((nrows, ncols + 2 * pad + window))
    e = np.empty(window)
    g = np.empty(window)
    gy = np.empty(2 * reach + 3)
    inv_cell = 1.0 / cell
    step = cell / h
    half_s2 = kk.GAUSS_HALF_S2
    q = math.exp(-2.0 * half_s2 * step * step)
    h2 = h * h
    wscale = 1.0 / h if code == kk.TRIANGULAR else 1.0
    for rp in range(row_start.shape[0] - 1):
        rho = rp - pad
        cy = y0 - (rp + 0.5) * cell
        j = row_start[rp]
        for ci in range(row_start[rp], row_start[rp] + ncell[rp]):
            sig = cell_col[ci]
            cx = x0 + (sig + 0.5) * cell
            for loc in range(j, j + cell_cnt[ci]):
                qx = rx[loc] - cx
                qy = ry[loc] - cy
                w = rw[loc] * wscale
                reach_m = h * (1.0 + kk.CUT_SLACK)
                top = rho - int(math.floor((qy + reach_m) * inv_cell))
                bottom = rho - int(math.ceil((qy - reach_m) * inv_cell))
                lo = max(0, top)
                hi = min(nrows - 1, bottom)
                if lo > hi:
                    continue
                for k in range(window):
                    dx = (k - reach) * cell - qx
                    e[k] = dx * dx
                if code == kk.GAUSSIAN:
                    _whole_gauss_line(g, window, (-reach * cell - qx) / h, step, half_s2, q)
                    _whole_gauss_line(gy, bottom - top + 1, ((rho - top) * cell - qy) / h, -step, half_s2, q)
                for i in range(lo, hi + 1):
                    dy = (rho - i) * cell - qy
                    dy2 = dy * dy
                    a = h2 - dy2
                    seg = buf[i, sig : sig + window]
                    if code == kk.TRIANGULAR:
                        for k in range(window):
                            seg[k] += w * max(h - math.sqrt(e[k] + dy2), 0.0)
                    else:
                        wy = w * gy[i - top]
                        for k in range(window):
                            seg[k] += wy * g[k] if e[k] < a else 0.0
            j += cell_cnt[ci]
    return buf[:, pad + reach : pad + reach + ncols].copy()


def _window(reach):
    # As hotspot.stats.kde._exact_density sizes it.
    span = 2 * reach + 1
    return 8 if span <= 8 else 16 if span <= 16 else -(-span // 32) * 32


def _points(layout, n, rng, box):
    x0, y0, x1, y1 = box
    if layout == "distinct":
        return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    # Clustered, with whole-metre coordinates on cell edges and corners among them.
    x = np.concatenate([rng.normal((x0 + x1) / 2, (x1 - x0) / 12, n // 2), rng.uniform(x0, x1, n - n // 2)])
    y = np.concatenate([rng.normal((y0 + y1) / 2, (y1 - y0) / 12, n // 2), rng.uniform(y0, y1, n - n // 2)])
    x[: n // 10] = np.round(x[: n // 10] / 25.0) * 25.0
    y[: n // 10] = np.round(y[: n // 10])
    return x, y


@pytest.mark.parametrize("kernel", ["triangular", "gaussian"])
@pytest.mark.parametrize("layout", ["distinct", "clustered"])
@pytest.mark.parametrize(
    "cell,h",
    [(25.0, 26.0), (25.0, 230.0), (100.0, 150.0), (100.0, 500.0), (100.0, 1000.0), (100.0, 1049.0), (50.0, 375.0)],
)
def test_reach_columns_equal_whole_window(kernel, layout, cell, h, monkeypatch):
    # Location by location only: crowded Gaussian runs are summed along their locations (``_gauss_run``), held to
    # brute force in test_kde.py.
    monkeypatch.setattr(sk, "_GAUSS_DENSE_MIN", int(np.iinfo(np.int32).max))
    rng = np.random.default_rng(int(h) + len(layout))
    grid = Grid(xmin=512_000.0, ymax=207_000.0, cell_size=cell, ncols=47, nrows=39, crs="EPSG:27700")
    box = (
        grid.xmin - 1.5 * h,
        grid.ymax - grid.nrows * cell - 1.5 * h,
        grid.xmin + grid.ncols * cell + 1.5 * h,
        grid.ymax + 1.5 * h,
    )
    x, y = _points(layout, 4000, rng, box)
    code = kk.KERNEL_CODES[kernel]
    for weights in (None, rng.uniform(0.2, 3.0, x.size)):
        cells = sk._sort_into_cells(x, y, weights, grid, h)
        got = sk._exact_density(cells, grid, h, code, lambda *args: None)
        want = window_reference(
            cells.x,
            cells.y,
            cells.w,
            cells.row_start,
            cells.ncell,
            cells.cell_col,
            cells.cell_cnt,
            cells.x0,
            cells.y0,
            cell,
            cells.pad,
            cells.reach,
            h,
            code,
            _window(cells.reach),
            grid.nrows,
            grid.ncols,
        ) * kk.kernel_norm(h * h, code)
        assert want.max() > 0
        assert np.array_equal(got, want)
