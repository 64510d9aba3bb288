"""Numba kernels for Getis-Ord Gi*: grid stencil sums, per-cell conditional permutations and the
exact conditional-randomisation null for binary weights and integer values (the sum distribution by
level folding or by Newton's identity on the unit circle, and the per-cell tails).

Every kernel is a pure function over arrays. Parallel loops write only to their own output slots and
random draws come in as a table drawn serially from the seed, so results do not depend on the number
of threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange


@numba.njit(cache=True)
def _stencil_cell(values, mask, dr, dc, r, c):
    """(sum, count) of the in-mask values at offsets ``(dr, dc)`` from cell ``(r, c)``: one cell's stencil, shared by
    the whole-grid and the listed-cell kernels so both add in the same order."""
    nrows, ncols = values.shape
    s = 0.0
    k = 0
    for o in range(dr.size):
        rr = r + dr[o]
        cc = c + dc[o]
        if rr >= 0 and rr < nrows and cc >= 0 and cc < ncols and mask[rr, cc]:
            s += values[rr, cc]
            k += 1
    return s, k


@numba.njit(cache=True)
def _stencil_row(values, mask, dr, dc, r, sums, counts):
    """Row ``r`` of :func:`stencil_sums`: fills ``sums[r]`` and ``counts[r]`` at the in-mask cells."""
    for c in range(values.shape[1]):
        if mask[r, c]:
            sums[r, c], counts[r, c] = _stencil_cell(values, mask, dr, dc, r, c)


@numba.njit(cache=True, parallel=True)
def stencil_sums(values, mask, dr, dc):
    """Sum of ``values`` and number of in-mask cells at the offsets ``(dr, dc)`` around every in-mask cell.

    ``values`` (float64, (nrows, ncols)), ``mask`` (bool, same shape), ``dr``/``dc`` (int64 row/column
    offsets). Cells outside the mask neither receive nor contribute. Returns ``(sums, counts)``.
    Rows in parallel; :func:`stencil_sums_serial` is the one-thread twin (identical results).
    """
    nrows, ncols = values.shape
    sums = np.zeros((nrows, ncols), dtype=np.float64)
    counts = np.zeros((nrows, ncols), dtype=np.int64)
    for r in prange(nrows):
        # prange's index is unsigned: cast, or the helper compiles a second time for uint64
        _stencil_row(values, mask, dr, dc, np.int64(r), sums, counts)
    return sums, counts


@numba.njit(cache=True)
def stencil_sums_serial(values, mask, dr, dc):
    """:func:`stencil_sums` on one thread (identical results). A county grid takes milliseconds, less
    than waking threads on a busy machine, and a serial kernel compiles in a third of the time of a
    parallel one (the cold start of ``hotspot gistar``)."""
    nrows, ncols = values.shape
    sums = np.zeros((nrows, ncols), dtype=np.float64)
    counts = np.zeros((nrows, ncols), dtype=np.int64)
    for r in range(nrows):
        _stencil_row(values, mask, dr, dc, r, sums, counts)
    return sums, counts


@numba.njit(cache=True)
def _drawn_rows(table, k):
    """CSR ``(indptr, rows)``: for each observation, the table rows in which it is itself among the first
    ``k_i`` entries (where it must be replaced by entry ``k_i``). At most ``R k_max`` pairs in all."""
    R, width = table.shape
    n = k.size
    count = np.zeros(n + 1, dtype=np.int64)
    for r in range(R):
        for q in range(width - 1):
            i = table[r, q]
            if q < k[i]:
                count[i + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    fill = count[:-1].copy()
    rows = np.empty(count[n], dtype=np.int64)
    for r in range(R):
        for q in range(width - 1):
            i = table[r, q]
            if q < k[i]:
                rows[fill[i]] = r
                fill[i] += 1
    return count, rows


@numba.njit(cache=True, parallel=True)
def crand_pvalues_table(y, indptr, wdata, self_w, observed, table):
    """Two-sided conditional-permutation pseudo p-values from one shared table of draws (as esda does).

    ``table`` (R, k_max + 1) int64: row r holds k_max + 1 distinct indices of all ``n`` observations
    in random order (see :func:`hotspot.stats.gistar.permutation_table`). Observation ``i`` uses the first
    ``k_i`` entries of every row, with ``i`` itself, when among them, replaced by entry ``k_i``: that
    is a uniform ordered sample of ``k_i`` of the other ``n - 1`` (an ordered tuple of others arises
    with probability ``1/(n)_k`` without ``i`` plus ``k/(n)_{k+1}`` through the replacement, which is
    ``1/(n-1)_k``). The table is drawn once, serially, from the seed, so the answer does not depend
    on the number of threads.

    The table's values are gathered once, slot by slot (``v[q, r] = y[table[r, q]]``), so each
    observation adds ``w_q v[q, :]`` over all rows at once: contiguous, vectorisable, no random reads
    in the inner loop. The rows where the observation draws itself are then summed again with the
    replacement. Every simulated sum adds its terms in slot order from the self term, so it is the
    same number whichever way it was reached.

    Parameters: ``y`` (n,) values; ``indptr``/``wdata`` the CSR neighbour lists *without* the diagonal
    (only their lengths and weights are used: the values come from the table); ``self_w`` (n,) self
    weights; ``observed`` (n,) the observed ``sum_j w_ij y_j`` including the self term.
    Returns ``(p, larger, smaller)``: ``p = min(1, 2 (min(larger, smaller) + 1) / (R + 1))`` where
    ``larger``/``smaller`` count draws at least / at most as large as observed; NaN where ``k_i = 0``.
    """
    n = y.size
    R, width = table.shape
    values = np.empty((width, R))
    for q in range(width):
        for r in range(R):
            values[q, r] = y[table[r, q]]
    k_all = np.empty(n, dtype=np.int64)
    for i in range(n):
        k_all[i] = indptr[i + 1] - indptr[i]
    drawn_ptr, drawn = _drawn_rows(table, k_all)
    p = np.full(n, np.nan)
    larger = np.zeros(n, dtype=np.int64)
    smaller = np.zeros(n, dtype=np.int64)
    n_chunks = min(n, 256)
    for c in prange(n_chunks):
        sims = np.empty(R)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            start = indptr[i]
            k = k_all[i]
            if k == 0 or k > n - 1:
                continue
            own = self_w[i] * y[i]
            sims[:] = own
            for q in range(k):
                wq = wdata[start + q]
                row = values[q]
                for r in range(R):
                    sims[r] += wq * row[r]
            for e in range(drawn_ptr[i], drawn_ptr[i + 1]):
                r = drawn[e]
                s = own
                for q in range(k):
                    idx = table[r, q]
                    if idx == i:
                        idx = table[r, k]
                    s += wdata[start + q] * y[idx]
                sims[r] = s
            obs = observed[i]
            tol = 1e-12 * (abs(obs) + 1.0)
            big = 0
            small = 0
            for r in range(R):
                if sims[r] >= obs - tol:
                    big += 1
                if sims[r] <= obs + tol:
                    small += 1
            larger[i] = big
            smaller[i] = small
            p[i] = min(1.0, 2.0 * (min(big, small) + 1.0) / (R + 1.0))
    return p, larger, smaller


@numba.njit(cache=True)
def _count_at_least(sorted_x, own, threshold):
    # how many x in ascending sorted_x have own + x >= threshold (own + x is monotone in x)
    lo = 0
    hi = sorted_x.size
    while lo < hi:
        mid = (lo + hi) // 2
        if own + sorted_x[mid] >= threshold:
            hi = mid
        else:
            lo = mid + 1
    return sorted_x.size - lo


@numba.njit(cache=True)
def _count_at_most(sorted_x, own, threshold):
    # how many x in ascending sorted_x have own + x <= threshold
    lo = 0
    hi = sorted_x.size
    while lo < hi:
        mid = (lo + hi) // 2
        if own + sorted_x[mid] <= threshold:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def crand_binary_pvalues_table(y, k, self_w, observed, table):
    """:func:`crand_pvalues_table` for binary neighbour weights: the same draws, so the same p-values.

    With every slot weight 1, observation ``i`` in row ``r`` sees ``own_i + P[r, k_i]``, ``P`` the
    prefix sums of the row's values, unless ``i`` is itself among the row's first ``k_i`` entries
    (then plus ``y[row[k_i]] - y[i]``). So the counts for every observation with ``k`` neighbours
    come from one sorted column ``P[:, k]`` by binary search (``own + x`` is monotone in ``x``, so
    the search counts exactly what a loop over the rows would), and only the at most
    ``R (k_max + 1)`` (row, observation) pairs where an observation is drawn are corrected one by
    one: O(k_max R log R + n log R) instead of O(R n k). Serial on purpose: that is milliseconds on a
    county grid (106,328 cells, 999 rows), less than what forking threads costs when the other core is
    busy (two threads took 3 times one thread's 24 ms). Sums of whole numbers are exact, so on counts the
    p-values are bit for bit :func:`crand_pvalues_table`'s; on rates the sums are added in another
    order, which could only matter for a sum within an ulp of the 1e-12 tie tolerance.

    ``k`` (n,) neighbours of each observation (self excluded); the rest as in :func:`crand_pvalues_table`.
    """
    n = y.size
    R, width = table.shape
    k_max = width - 1
    prefix = np.zeros((R, width))
    for r in range(R):
        for q in range(k_max):
            prefix[r, q + 1] = prefix[r, q] + y[table[r, q]]
    columns = np.empty((width, R))
    for q in range(width):
        columns[q] = np.sort(prefix[:, q])
    p = np.full(n, np.nan)
    larger = np.zeros(n, dtype=np.int64)
    smaller = np.zeros(n, dtype=np.int64)
    for i in range(n):
        kk = k[i]
        if kk == 0 or kk > n - 1:
            continue
        obs = observed[i]
        tol = 1e-12 * (abs(obs) + 1.0)
        own = self_w[i] * y[i]
        larger[i] = _count_at_least(columns[kk], own, obs - tol)
        smaller[i] = _count_at_most(columns[kk], own, obs + tol)
    for r in range(R):
        for q in range(k_max):
            i = table[r, q]
            kk = k[i]
            if q >= kk or kk > n - 1:
                continue
            obs = observed[i]
            tol = 1e-12 * (abs(obs) + 1.0)
            own = self_w[i] * y[i]
            base = own + prefix[r, kk]
            fixed = base + (y[table[r, kk]] - y[i])
            larger[i] += (fixed >= obs - tol) - (base >= obs - tol)
            smaller[i] += (fixed <= obs + tol) - (base <= obs + tol)
    for i in range(n):
        if k[i] > 0 and k[i] <= n - 1:
            p[i] = min(1.0, 2.0 * (min(larger[i], smaller[i]) + 1.0) / (R + 1.0))
    return p, larger, smaller


@numba.njit(cache=True)
def _hypergeometric(pool, m, j, c_lo, w):
    """``w[c - c_lo]``: probability that ``c`` of ``j`` draws from ``pool + m`` items fall among the ``m``.

    Built from the ratio of neighbouring terms and normalised by their sum (Vandermonde: the terms
    sum to one), so each weight carries a relative error of a few ulps per draw. Differences of
    log-gamma values do not: at ``n`` = 2 million they lost about 1e-8 of every weight."""
    size = min(m, j) - c_lo + 1
    w[0] = 1.0
    for i in range(1, size):
        c = c_lo + i - 1
        w[i] = w[i - 1] * ((m - c) / (c + 1.0)) * ((j - c) / (pool - j + c + 1.0))
        if w[i] > 1e250:  # rescale: terms that underflow are below 1e-250 of the largest
            for q in range(i + 1):
                w[q] *= 1e-250
    total = 0.0
    for i in range(size):
        total += w[i]
    for i in range(size):
        w[i] /= total
    return size


@numba.njit(cache=True)
def sum_distribution(levels, multiplicity, k_max, s_max):
    """Distribution of the sum of ``j`` values drawn without replacement, for every ``j <= k_max``.

    ``levels`` (int64, ascending, >= 0) are the distinct values of the pool and ``multiplicity`` how
    often each occurs. Returns ``H`` of shape ``(k_max + 1, s_max + 1)`` with ``H[j, s]`` the
    probability that ``j`` draws sum to ``s``. Works in probabilities (hypergeometric mixing weights,
    :func:`_hypergeometric`), so nothing overflows however large the pool. Costs O(levels x k_max x
    s_max): the spectral method in :mod:`hotspot.stats.gistar` replaces it when the pool is large.

    Serial on purpose: the levels must be folded in one after another, and a parallel loop over the
    ~k_max rows inside that loop forks and joins once per distinct value. On a loaded 2-core machine
    that took 1.6-3.5 s against 0.28-0.33 s serial (100 m grid, 300 m band, 187 levels).
    """
    H = np.zeros((k_max + 1, s_max + 1))
    H[0, 0] = 1.0
    new = np.zeros_like(H)
    weights = np.empty(k_max + 1)
    pool = np.int64(0)  # not the literal 0: _hypergeometric would compile once more for Literal[int](0)
    top = 0  # largest sum reachable so far by k_max draws
    for g in range(levels.size):
        u = levels[g]
        m = multiplicity[g]
        total = pool + m
        top_new = min(s_max, top + min(m, k_max) * u)
        for j in range(k_max + 1):
            row = new[j]
            row[: top_new + 1] = 0.0
            if j > total:
                continue
            c_lo = max(0, j - pool)
            size = _hypergeometric(pool, m, j, c_lo, weights)
            for c in range(c_lo, c_lo + size):
                # probability that c of the j draws come from this level's m copies
                w = weights[c - c_lo]
                if w == 0.0:
                    continue
                shift = c * u
                src = H[j - c]
                lim = min(top, top_new - shift)
                for s in range(lim + 1):
                    row[s + shift] += w * src[s]
        H, new = new, H
        pool = total
        top = top_new
    return H


_SQRT1_2 = 0.7071067811865476


@numba.njit(cache=True)
def two_sided_normal_p(z):
    """``2 P(Z >= |z|)`` for a standard normal Z and each ``z`` (any shape), as ``erfc(|z| / sqrt 2)``; NaN stays NaN.

    The C library's ``erfc``, not ``scipy.special.ndtr``: importing scipy.special (~0.25 s) was a tenth of a fresh
    ``hotspot gistar``. The two agree within 3e-15 relative for |z| <= 6 and 1e-13 in the far tail (tested)."""
    flat = z.ravel()
    p = np.empty(flat.size)
    for i in range(flat.size):
        p[i] = math.erfc(abs(flat[i]) * _SQRT1_2)
    return p.reshape(z.shape)


@numba.njit(cache=True)
def integer_summary(y):
    """``(all_integer, min, max)`` of a float array in one pass: whether every value is a finite whole
    number below 2**52 in magnitude (so it converts to int64 exactly), and the extremes."""
    lo = np.inf
    hi = -np.inf
    ok = True
    for i in range(y.size):
        v = y[i]
        if not (abs(v) < 4503599627370496.0) or v != math.floor(v):
            ok = False
            break
        lo = min(lo, v)
        hi = max(hi, v)
    return ok, lo, hi


@numba.njit(cache=True)
def clamped_histogram(y, shift, cap):
    """``h[v]``: how many of the whole-number values ``y - shift`` equal ``v``, values above ``cap`` counted
    at ``cap``. Clamping at ``s_max + 1`` loses nothing the tails read: a draw that large puts every sum
    above ``s_max`` either way, and the lower tail is only read at or below ``s_max``."""
    h = np.zeros(cap + 1, dtype=np.int64)
    for i in range(y.size):
        v = int(y[i] - shift)
        h[min(v, cap)] += 1
    return h


@numba.njit(cache=True)
def _newton_frequencies(pi, n_fft, coef, Q, lags, f0, f1, powers):
    """Frequencies ``f0 .. f1 - 1`` of :func:`newton_spectra` (``powers``: scratch of ``coef.shape[1]``)."""
    rows, nf = Q.shape
    L = coef.shape[1]
    for f in range(f0, f1):
        for lag in range(1, L + 1):
            g = (lag * f) % n_fft
            # pi holds the first half of a real signal's spectrum; the rest is its mirror image
            powers[lag - 1] = pi[g] if g < nf else np.conj(pi[n_fft - g])
        for r in range(lags, rows):
            acc = 0j
            for lag in range(1, L + 1):
                b = coef[r - lags, lag - 1]
                if b == 0.0:
                    break
                term = b * Q[r - lag, f] * powers[lag - 1]
                if lag % 2 == 1:
                    acc += term
                else:
                    acc -= term
            Q[r, f] = acc


@numba.njit(cache=True, parallel=True)
def newton_spectra(pi, n_fft, coef, Q, lags):
    """Fill rows ``lags..`` of ``Q`` with the spectra of the sums of successive numbers of draws.

    ``pi`` (n_fft // 2 + 1, complex) is the rfft of the one-draw distribution (the value histogram
    over ``n``). Row ``r >= lags`` of ``Q`` is the spectrum of the sum of ``j`` draws without
    replacement, ``j = j0 + r - lags``, from Newton's identity between elementary symmetric and power
    sums, divided through by ``C(n, j)``::

        Q_j(f) = sum_{l=1..L} (-1)^(l-1) b_{j,l} Q_{j-l}(f) pi(l f mod n_fft)

    with ``coef[r - lags, l - 1] = b_{j,l}`` (zero where ``l > j``) and the ``lags`` rows above row
    ``r`` holding ``Q_{j-lags} .. Q_{j-1}``. Every frequency is independent, so the one parallel loop
    runs over frequencies (an outer axis with plenty of work), the short recursion in ``j`` inside. Chunks of frequencies in parallel;
    :func:`newton_spectra_serial` is the one-thread twin.
    """
    nf = Q.shape[1]
    chunk = 2048
    n_chunks = (nf + chunk - 1) // chunk
    for c in prange(n_chunks):
        powers = np.empty(coef.shape[1], dtype=np.complex128)
        # int64 bounds, as in the serial twin, so the helper compiles once for both
        f0 = np.int64(c * chunk)
        _newton_frequencies(pi, n_fft, coef, Q, lags, f0, np.int64(min(nf, f0 + chunk)), powers)


@numba.njit(cache=True)
def newton_spectra_serial(pi, n_fft, coef, Q, lags):
    """:func:`newton_spectra` on one thread (identical results: every frequency is computed alone)."""
    powers = np.empty(coef.shape[1], dtype=np.complex128)
    _newton_frequencies(pi, n_fft, coef, Q, lags, np.int64(0), np.int64(Q.shape[1]), powers)


@numba.njit(cache=True)
def _tail_pvalue(cdf, n, v, kk, ti):
    """``(p, upper, lower)`` of one cell of :func:`exact_tail_pvalues` (``v`` its value, ``kk`` > 0 its
    neighbours, ``ti`` its observed neighbour sum)."""
    x = ti - kk * v
    up = 1.0 if x <= 0 else 0.0
    dn = 1.0 if x >= 0 else 0.0
    for m in range(1, kk + 1):
        x += v
        # x <= t[i] <= s_max always; the table stops at the largest observed sum, so the
        # upper tail is the complement of the lower one (absolute error ~1e-16)
        if x <= 0:
            uf = 1.0
        else:
            uf = 1.0 - cdf[x - 1, m]
        lf = cdf[x, m] if x >= 0 else 0.0
        scale = n / (n - m)
        up = (uf - (m / n) * up) * scale
        dn = (lf - (m / n) * dn) * scale
        up = min(1.0, max(0.0, up))
        dn = min(1.0, max(0.0, dn))
    return min(1.0, 2.0 * min(up, dn)), up, dn


_MIX_OWN = -7046029254386353131
_MIX_K = -4417276706812531889


@numba.njit(cache=True)
def distinct_cells(own, k, t):
    """``(first, which)``: the cells with neighbours that have a ``(own, k, t)`` of their own, each by its first cell
    in order, and for every cell the entry of ``first`` holding its triple (-1 for a cell without neighbours).

    A cell's exact p depends on nothing else, and most cells share a triple with others (Bedfordshire at 100 m:
    106,328 cells, 65,513 empty in empty neighbourhoods, 6,230 other triples among the remaining 40,815), so each
    triple is computed once. Found with an open-addressing table in one pass, in cell order, so ``first`` and the
    p-values do not depend on the thread count.
    """
    ncell = own.size
    size = 16
    while size < 2 * ncell:
        size *= 2
    mask = size - 1
    table = np.full(size, -1, dtype=np.int64)
    first = np.empty(ncell, dtype=np.int64)
    which = np.full(ncell, -1, dtype=np.int64)
    m = 0
    for i in range(ncell):
        if k[i] <= 0:
            continue
        slot = ((((own[i] * _MIX_OWN) ^ k[i]) * _MIX_K ^ t[i]) * _MIX_OWN >> 32) & mask
        while True:
            e = table[slot]
            if e < 0:
                table[slot] = m
                first[m] = i
                which[i] = m
                m += 1
                break
            j = first[e]
            if own[j] == own[i] and k[j] == k[i] and t[j] == t[i]:
                which[i] = e
                break
            slot = (slot + 1) & mask
    return first[:m].copy(), which


@numba.njit(cache=True)
def _triple_tails(cdf, n, own, k, t, i, row):
    """``row[:] = (p, upper, lower)`` of the triple of cell ``i``."""
    row[0], row[1], row[2] = _tail_pvalue(cdf, n, own[i], k[i], t[i])


@numba.njit(cache=True)
def _scatter_tails(which, tails):
    """``(p, upper, lower)`` per cell from ``tails`` (one row per distinct triple); NaN where ``which`` is -1."""
    ncell = which.size
    p = np.full(ncell, np.nan)
    upper = np.full(ncell, np.nan)
    lower = np.full(ncell, np.nan)
    for i in range(ncell):
        e = which[i]
        if e >= 0:
            p[i] = tails[e, 0]
            upper[i] = tails[e, 1]
            lower[i] = tails[e, 2]
    return p, upper, lower


@numba.njit(cache=True, parallel=True)
def exact_tail_pvalues(cdf, n, own, k, t):
    """Exact two-sided conditional-randomisation p-values for binary weights and whole-number values.

    ``cdf[s, j]`` is ``P(sum of j draws without replacement from the whole pool of n <= s)`` for
    ``s <= s_max`` (from :func:`sum_distribution` or the spectral method in :mod:`hotspot.stats.gistar`),
    laid out so a cell's ``k`` steps, mostly at one ``s``, read neighbouring memory;
    per cell ``own`` (its shifted value, clamped at ``s_max + 1``), ``k`` (neighbours, self excluded)
    and ``t`` (observed neighbour sum, ``<= s_max``). The null of cell i is the sum of ``k_i`` values
    drawn from the other ``n - 1``: the pool minus one copy of its own value ``v``. Removing that copy
    is a deconvolution, done on the tails directly: with ``U_F`` / ``U_G`` the upper tails with and
    without the copy, ``U_F(j, x) = U_G(j, x) (n - j) / n + U_G(j - 1, x - v) j / n``, so ``U_G(k, t)``
    follows in ``k`` steps from the full-pool tails (likewise the lower tail). O(k) per distinct
    ``(own, k, t)`` (:func:`distinct_cells`). Returns ``(p, upper, lower)``: ``upper = P(T >= t)``,
    ``lower = P(T <= t)``, ``p = min(1, 2 min(upper, lower))``; NaN for cells without neighbours.
    Distinct triples in parallel; :func:`exact_tail_pvalues_serial` is the one-thread twin.
    """
    first, which = distinct_cells(own, k, t)
    tails = np.empty((first.size, 3))
    for e in prange(first.size):
        _triple_tails(cdf, n, own, k, t, first[e], tails[e])
    return _scatter_tails(which, tails)


@numba.njit(cache=True)
def exact_tail_pvalues_serial(cdf, n, own, k, t):
    """:func:`exact_tail_pvalues` on one thread (identical results: every triple is computed alone)."""
    first, which = distinct_cells(own, k, t)
    tails = np.empty((first.size, 3))
    for e in range(first.size):
        _triple_tails(cdf, n, own, k, t, first[e], tails[e])
    return _scatter_tails(which, tails)


@numba.njit(cache=True, parallel=True)
def stencil_sums_at(values, mask, rows, cols, dr, dc):
    """:func:`stencil_sums` at the listed cells only: ``(sums, counts)`` for cells ``(rows[i], cols[i])``.

    The tiled path needs the neighbour sums of the few cells it tests exactly; visiting their
    neighbourhoods costs O(cells x stencil) instead of a pass over the whole national grid."""
    m = rows.size
    sums = np.zeros(m, dtype=np.float64)
    counts = np.zeros(m, dtype=np.int64)
    for i in prange(m):
        sums[i], counts[i] = _stencil_cell(values, mask, dr, dc, np.int64(rows[i]), np.int64(cols[i]))
    return sums, counts
