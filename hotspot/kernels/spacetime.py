"""Numba kernels for space-time statistics: Mann-Kendall per series, Knox pair tables with permuted
times, and the near-repeat interaction surface.

Every kernel is a pure function over arrays. Parallel loops write only to their own output slots, and
each permutation draws from its own stream seeded from ``(seed, permutation)``, so results do not
depend on the number of threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from hotspot.kernels.gistar import _splitmix64


@numba.njit(cache=True)
def _normal_sf(z):
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@numba.njit(cache=True, parallel=True)
def mann_kendall(series):
    """Mann-Kendall trend test of every row of ``series`` (float64, (m, n): m series of n time steps).

    Returns ``(s, var_s, z, p, tau)`` per row: the statistic ``S = sum_{i<j} sign(x_j - x_i)``, its
    variance under no trend with the tie correction ``(n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18``, the
    continuity-corrected ``z = (S - sign(S)) / sqrt(var_s)``, the two-sided normal p and Kendall's
    ``tau = S / (n(n-1)/2)`` (tau-a). Rows with NaN, fewer than 3 steps or no variance give z = 0, p = 1.
    """
    m, n = series.shape
    s_out = np.zeros(m)
    var_out = np.zeros(m)
    z_out = np.zeros(m)
    p_out = np.ones(m)
    tau_out = np.zeros(m)
    pairs = n * (n - 1) / 2.0
    for r in prange(m):
        x = series[r]
        bad = False
        for i in range(n):
            if not np.isfinite(x[i]):
                bad = True
                break
        if bad or n < 3:
            continue
        s = 0.0
        for i in range(n - 1):
            xi = x[i]
            for j in range(i + 1, n):
                d = x[j] - xi
                if d > 0:
                    s += 1.0
                elif d < 0:
                    s -= 1.0
        # tie groups from the sorted values
        v = np.sort(x)
        ties = 0.0
        run = 1
        for i in range(1, n + 1):
            if i < n and v[i] == v[i - 1]:
                run += 1
            else:
                if run > 1:
                    ties += run * (run - 1.0) * (2.0 * run + 5.0)
                run = 1
        var = (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0
        s_out[r] = s
        var_out[r] = var
        tau_out[r] = s / pairs
        if var <= 0.0:
            continue
        if s > 0:
            z = (s - 1.0) / math.sqrt(var)
        elif s < 0:
            z = (s + 1.0) / math.sqrt(var)
        else:
            z = 0.0
        z_out[r] = z
        p_out[r] = min(1.0, 2.0 * _normal_sf(abs(z)))
    return s_out, var_out, z_out, p_out, tau_out


@numba.njit(cache=True)
def _band_of(value, edges):
    # index of the band holding value: band k is (edges[k], edges[k+1]], band 0 is [0, edges[1]];
    # values above the last edge fall in the last ("beyond") band len(edges) - 1
    nb = edges.size
    for k in range(1, nb):
        if value <= edges[k]:
            return k - 1
    return nb - 1


@numba.njit(cache=True)
def _pair_table(pi, pj, dband, times, t_edges, n_d, n_t):
    table = np.zeros((n_d, n_t), dtype=np.int64)
    for q in range(pi.size):
        dt = abs(times[pi[q]] - times[pj[q]])
        table[dband[q], _band_of(dt, t_edges)] += 1
    return table


@numba.njit(cache=True, parallel=True)
def knox_tables(pi, pj, dband, times, t_edges, n_d, n_t, permutations, seed):
    """Knox counts of close pairs by (distance band, time band): observed and under permuted times.

    ``pi``/``pj`` (int64) the pairs within the largest finite distance band, ``dband`` (int64) each
    pair's distance band (0..n_d-1), ``times`` (float64) each record's time, ``t_edges`` (float64,
    ascending from 0) the time band edges: band 0 is ``[0, t_edges[1]]``, band k is
    ``(t_edges[k], t_edges[k+1]]`` and the last band ``n_t - 1`` everything beyond the last edge.
    Permutation r shuffles ``times`` over the records with a Fisher-Yates shuffle seeded from
    ``(seed, r)``. Returns ``(observed (n_d, n_t), simulated (permutations, n_d, n_t))``.
    """
    observed = _pair_table(pi, pj, dband, times, t_edges, n_d, n_t)
    n = times.size
    sims = np.zeros((permutations, n_d, n_t), dtype=np.int64)
    for r in prange(permutations):
        np.random.seed(_splitmix64(np.uint64(seed) * np.uint64(1_000_003) + np.uint64(r)))
        shuffled = times.copy()
        for i in range(n - 1, 0, -1):
            j = np.random.randint(0, i + 1)
            tmp = shuffled[i]
            shuffled[i] = shuffled[j]
            shuffled[j] = tmp
        sims[r] = _pair_table(pi, pj, dband, shuffled, t_edges, n_d, n_t)
    return observed, sims


@numba.njit(cache=True)
def pairs_by_time_band(sorted_times, t_edges, n_t):
    """Number of record pairs (any distance) in each time band, from the times sorted ascending.

    Band edges as in :func:`knox_tables`. O(n log n): for each record, binary searches count the later
    records within each edge. Invariant under permutations of the times.
    """
    n = sorted_times.size
    counts = np.zeros(n_t, dtype=np.int64)
    n_edges = t_edges.size
    for i in range(n):
        t0 = sorted_times[i]
        prev = i + 1
        for k in range(1, n_edges):
            hi = np.searchsorted(sorted_times, t0 + t_edges[k], side="right")
            counts[k - 1] += hi - prev
            prev = hi
        counts[n_t - 1] += n - prev
    return counts


@numba.njit(cache=True, parallel=True)
def interaction_surface(cell_x, cell_y, ev_x, ev_y, ev_age, d_edges, t_edges, weight):
    """Near-repeat score of every cell: the sum over past events of ``weight[distance band, age band]``.

    ``cell_x``/``cell_y`` (float64, (m,)) cell centres, metres; ``ev_x``/``ev_y``/``ev_age`` (float64,
    (k,)) the events and how long before the forecast time each happened (>= 0, in the time unit);
    ``d_edges``/``t_edges`` finite band edges (ascending from 0; pairs beyond the last edge add
    nothing); ``weight`` (float64, (len(d_edges) - 1, len(t_edges) - 1)). Returns (m,) scores.
    """
    m = cell_x.size
    k = ev_x.size
    nd = d_edges.size - 1
    nt = t_edges.size - 1
    d_max = d_edges[nd]
    t_max = t_edges[nt]
    out = np.zeros(m)
    for c in prange(m):
        s = 0.0
        for e in range(k):
            age = ev_age[e]
            if age < 0 or age > t_max:
                continue
            dx = cell_x[c] - ev_x[e]
            dy = cell_y[c] - ev_y[e]
            d = math.sqrt(dx * dx + dy * dy)
            if d > d_max:
                continue
            db = _band_of(d, d_edges)
            tb = _band_of(age, t_edges)
            if db < nd and tb < nt:
                s += weight[db, tb]
        out[c] = s
    return out
