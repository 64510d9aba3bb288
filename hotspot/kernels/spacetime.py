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


@numba.njit(cache=True)
def _splitmix64(x):
    # A well-mixed 32-bit seed per permutation block from (seed, block), so blocks get unrelated streams.
    z = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = z ^ (z >> np.uint64(31))
    return z & np.uint64(0xFFFFFFFF)


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
def close_pairs_csr(xy, pairs, upper_edges):
    """The close pairs as CSR lists with their distance bands.

    ``xy`` (float64, (n, 2)) metres; ``pairs`` (int64, (P, 2)) with ``i < j`` (from a k-d tree);
    ``upper_edges`` the upper edges of the finite distance bands (band k holds distances in
    ``(upper_edges[k-1], upper_edges[k]]``, band 0 from 0). Pairs beyond the last edge are dropped.
    Returns ``(indptr (n+1,) int64, partner j (int32), band (int8))``, partners of ``i`` at
    ``indptr[i]:indptr[i+1]``.
    """
    n = xy.shape[0]
    n_pairs = pairs.shape[0]
    n_fin = upper_edges.size
    band = np.empty(n_pairs, dtype=np.int8)
    counts = np.zeros(n + 1, dtype=np.int64)
    for q in range(n_pairs):
        i = pairs[q, 0]
        j = pairs[q, 1]
        dx = xy[i, 0] - xy[j, 0]
        dy = xy[i, 1] - xy[j, 1]
        d = math.sqrt(dx * dx + dy * dy)
        k = 0
        while k < n_fin and d > upper_edges[k]:
            k += 1
        band[q] = k
        if k < n_fin:
            counts[min(i, j) + 1] += 1
    indptr = np.cumsum(counts)
    fill = indptr[:-1].copy()
    partner = np.empty(indptr[n], dtype=np.int32)
    pband = np.empty(indptr[n], dtype=np.int8)
    for q in range(n_pairs):
        if band[q] < n_fin:
            i = min(pairs[q, 0], pairs[q, 1])
            pos = fill[i]
            partner[pos] = max(pairs[q, 0], pairs[q, 1])
            pband[pos] = band[q]
            fill[i] = pos + 1
    return indptr, partner, pband


PERMUTATION_BLOCK = 8
"""Permutations counted together in one sweep over the close pairs (the pairs are read once per block)."""


@numba.njit(cache=True)
def _block_tables(indptr, pj, dband, tblock, lut, n_d, n_t):
    # tblock: (n, B) int32 times of B permutations; one sweep over the pairs fills B tables. Pairs
    # farther apart in time than the last finite edge (most of them) are not counted here: the
    # caller derives the "beyond" time band from the number of pairs in each distance band.
    n, nb = tblock.shape
    tables = np.zeros((nb, n_d, n_t), dtype=np.int64)
    last = lut.size - 1
    for i in range(n):
        ti = tblock[i]
        for q in range(indptr[i], indptr[i + 1]):
            tj = tblock[pj[q]]
            for b in range(nb):
                dt = abs(ti[b] - tj[b])
                if dt < last:
                    tables[b, dband[q], lut[dt]] += 1
    return tables


@numba.njit(cache=True, parallel=True)
def knox_tables(indptr, pj, dband, times, lut, n_d, n_t, permutations, seed, first=0):
    """Knox counts of close pairs by (distance band, time band): observed and under permuted times.

    The close pairs (within the largest finite distance band) are given in CSR form: the partners
    ``j > i`` of record ``i`` are ``pj[indptr[i]:indptr[i+1]]`` (int32) with distance bands ``dband``
    (int8, 0..n_d-2). ``times`` (int32) are whole time units; ``lut[dt]`` is the time band of a
    difference ``dt``; differences of ``lut.size - 1`` or more are in the last ("beyond") band. Permutation r shuffles the
    times over the records with a Fisher-Yates shuffle seeded from ``(seed, r)``; blocks of
    :data:`PERMUTATION_BLOCK` permutations share one sweep over the pairs and run in parallel.
    Returns ``(observed (n_d, n_t), simulated (permutations, n_d, n_t))``.
    """
    n = times.size
    observed = _block_tables(indptr, pj, dband, times.reshape(n, 1), lut, n_d, n_t)[0]
    in_band = np.zeros(n_d, dtype=np.int64)
    for q in range(dband.size):
        in_band[dband[q]] += 1
    sims = np.zeros((permutations, n_d, n_t), dtype=np.int64)
    n_blocks = (permutations + PERMUTATION_BLOCK - 1) // PERMUTATION_BLOCK
    for blk in prange(n_blocks):
        r0 = blk * PERMUTATION_BLOCK
        nb = min(PERMUTATION_BLOCK, permutations - r0)
        tblock = np.empty((n, nb), dtype=times.dtype)
        for b in range(nb):
            np.random.seed(_splitmix64(np.uint64(seed) * np.uint64(1_000_003) + np.uint64(first + r0 + b)))
            shuffled = times.copy()
            for i in range(n - 1, 0, -1):
                j = np.random.randint(0, i + 1)
                tmp = shuffled[i]
                shuffled[i] = shuffled[j]
                shuffled[j] = tmp
            tblock[:, b] = shuffled
        sims[r0 : r0 + nb] = _block_tables(indptr, pj, dband, tblock, lut, n_d, n_t)
    beyond = n_t - 1
    for d in range(n_d):
        observed[d, beyond] = in_band[d] - observed[d, :beyond].sum()
        for r in range(permutations):
            sims[r, d, beyond] = in_band[d] - sims[r, d, :beyond].sum()
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
