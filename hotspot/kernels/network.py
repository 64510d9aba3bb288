"""Numba kernels on street networks: bounded shortest paths, network kernel density, neighbour lists.

The network is the junction graph of :mod:`hotspot.network.graph` as plain arrays:

- ``edge_u, edge_v, edge_len``: each edge's end nodes and length (metres);
- ``adj_ptr, adj_edge, adj_other, adj_is_u``: per node, its incident edge ends (CSR); a self-loop
  appears twice, once per end. ``adj_is_u`` is 1 when the node is the edge's ``u`` end;
- ``samp_ptr, samp_off``: per edge, its sample points (lixel midpoints) as offsets from ``u``,
  ascending; sample ``k`` of the whole network is position ``k`` of ``samp_off``.

A point on the network is ``(edge, offset from u)``. Kernels are one-dimensional and integrate to
1 over the line (``kernel_1d``). Parallel kernels split the work into a fixed number of chunks
whose partial sums are added in chunk order, so results are the same on any number of threads.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np

QUARTIC, EPANECHNIKOV, TRIANGULAR, UNIFORM = 0, 1, 2, 3
KERNEL_CODES = {"quartic": QUARTIC, "epanechnikov": EPANECHNIKOV, "triangular": TRIANGULAR, "uniform": UNIFORM}
SIMPLE, DISCONTINUOUS, CONTINUOUS = 0, 1, 2
ESTIMATOR_CODES = {"simple": SIMPLE, "discontinuous": DISCONTINUOUS, "continuous": CONTINUOUS}

N_CHUNKS = 16
"""Fixed number of partial-sum buffers for parallel density: independent of the thread count."""


@numba.njit(cache=True)
def kernel_1d(d, h, code):
    """One-dimensional kernel at distance ``d >= 0`` for bandwidth ``h``: integrates to 1 over (-h, h); 0 at d >= h."""
    if d >= h:
        return 0.0
    u = d / h
    if code == QUARTIC:
        t = 1.0 - u * u
        return 15.0 / (16.0 * h) * t * t
    if code == EPANECHNIKOV:
        return 0.75 / h * (1.0 - u * u)
    if code == TRIANGULAR:
        return (1.0 - u) / h
    return 0.5 / h


@numba.njit(cache=True)
def _bounded_dijkstra(e, t, limit, edge_u, edge_v, edge_len, adj_ptr, adj_edge, adj_other, dist, touched):
    """Shortest network distances from point (edge ``e``, offset ``t``) to nodes, up to ``limit``.

    ``dist`` must be +inf on entry for every node; reached nodes are written to ``touched`` and their
    count returned, so the caller can reset ``dist`` in O(reached).
    """
    n_touched = 0
    heap = [(0.0, np.int64(0))]
    heap.pop()
    du = t
    dv = edge_len[e] - t
    if du <= limit:
        dist[edge_u[e]] = du
        touched[n_touched] = edge_u[e]
        n_touched += 1
        heapq.heappush(heap, (du, np.int64(edge_u[e])))
    if dv <= limit:
        v = edge_v[e]
        if dv < dist[v]:
            if dist[v] == np.inf:
                touched[n_touched] = v
                n_touched += 1
            dist[v] = dv
            heapq.heappush(heap, (dv, np.int64(v)))
    while len(heap) > 0:
        d, node = heapq.heappop(heap)
        if d > dist[node]:
            continue
        for slot in range(adj_ptr[node], adj_ptr[node + 1]):
            nd = d + edge_len[adj_edge[slot]]
            if nd > limit:
                continue
            other = adj_other[slot]
            if nd < dist[other]:
                if dist[other] == np.inf:
                    touched[n_touched] = other
                    n_touched += 1
                dist[other] = nd
                heapq.heappush(heap, (nd, np.int64(other)))
    return n_touched


@numba.njit(cache=True)
def _sample_distance(f, s, e, t, dist, edge_u, edge_v, edge_len):
    """Network distance from point (e, t) to sample at offset ``s`` on edge ``f``, given node distances."""
    d = min(dist[edge_u[f]] + s, dist[edge_v[f]] + edge_len[f] - s)
    if f == e:
        d = min(d, abs(s - t))
    return d


@numba.njit(cache=True)
def _simple_one(
    e,
    t,
    w,
    h,
    code,
    edge_u,
    edge_v,
    edge_len,
    adj_ptr,
    adj_edge,
    adj_other,
    samp_ptr,
    samp_off,
    out,
    dist,
    touched,
    stamp,
    mark,
):
    """Add one event's simple-estimator kernel (shortest-path distance) to ``out`` at every sample."""
    n_touched = _bounded_dijkstra(e, t, h, edge_u, edge_v, edge_len, adj_ptr, adj_edge, adj_other, dist, touched)
    # the event's own edge first (its samples can be reached without passing a node)
    stamp[e] = mark
    for k in range(samp_ptr[e], samp_ptr[e + 1]):
        d = _sample_distance(e, samp_off[k], e, t, dist, edge_u, edge_v, edge_len)
        if d < h:
            out[k] += w * kernel_1d(d, h, code)
    for i in range(n_touched):
        node = touched[i]
        for slot in range(adj_ptr[node], adj_ptr[node + 1]):
            f = adj_edge[slot]
            if stamp[f] == mark:
                continue
            stamp[f] = mark
            for k in range(samp_ptr[f], samp_ptr[f + 1]):
                d = _sample_distance(f, samp_off[k], e, t, dist, edge_u, edge_v, edge_len)
                if d < h:
                    out[k] += w * kernel_1d(d, h, code)
    for i in range(n_touched):
        dist[touched[i]] = np.inf
    return n_touched


@numba.njit(cache=True)
def _walk_one(
    e,
    t,
    w,
    h,
    code,
    estimator,
    max_depth,
    edge_u,
    edge_v,
    edge_len,
    adj_ptr,
    adj_edge,
    adj_other,
    adj_is_u,
    samp_ptr,
    samp_off,
    out,
):
    """Add one event's equal-split kernel (discontinuous or continuous) by enumerating walks shorter than ``h``.

    Returns the number of walks cut at ``max_depth`` junctions (0 when none).
    """
    for k in range(samp_ptr[e], samp_ptr[e + 1]):
        d = abs(samp_off[k] - t)
        if d < h:
            out[k] += w * kernel_1d(d, h, code)
    # stack of walks waiting at a node: node, edge arrived by, arrived at that edge's u end?, distance, multiplier, depth
    s_node = np.empty(64, np.int64)
    s_edge = np.empty(64, np.int64)
    s_at_u = np.empty(64, np.bool_)
    s_dist = np.empty(64, np.float64)
    s_mult = np.empty(64, np.float64)
    s_depth = np.empty(64, np.int64)
    top = 0
    if t < h:
        s_node[top], s_edge[top], s_at_u[top], s_dist[top], s_mult[top], s_depth[top] = edge_u[e], e, True, t, 1.0, 0
        top += 1
    if edge_len[e] - t < h:
        s_node[top], s_edge[top], s_at_u[top], s_dist[top], s_mult[top], s_depth[top] = (
            edge_v[e],
            e,
            False,
            edge_len[e] - t,
            1.0,
            0,
        )
        top += 1
    truncated = 0
    while top > 0:
        top -= 1
        node, e_in, at_u, d, m, depth = s_node[top], s_edge[top], s_at_u[top], s_dist[top], s_mult[top], s_depth[top]
        n = adj_ptr[node + 1] - adj_ptr[node]
        if estimator == DISCONTINUOUS:
            if n <= 1:
                continue  # dead end: the rest of this branch's mass leaves the network
            forward = m / (n - 1)
            back = 0.0
        else:
            forward = 2.0 * m / n
            back = (2.0 - n) * m / n
        if depth >= max_depth:
            truncated += 1
            continue
        for slot in range(adj_ptr[node], adj_ptr[node + 1]):
            f = adj_edge[slot]
            from_u = adj_is_u[slot] == 1
            mult = back if (f == e_in and from_u == at_u) else forward
            if mult == 0.0:
                continue
            lf = edge_len[f]
            for k in range(samp_ptr[f], samp_ptr[f + 1]):
                s = samp_off[k] if from_u else lf - samp_off[k]
                dd = d + s
                if dd < h:
                    out[k] += w * mult * kernel_1d(dd, h, code)
            if d + lf < h:
                if top == s_node.size:
                    grow = s_node.size * 2
                    s_node2 = np.empty(grow, np.int64)
                    s_node2[:top] = s_node[:top]
                    s_node = s_node2
                    s_edge2 = np.empty(grow, np.int64)
                    s_edge2[:top] = s_edge[:top]
                    s_edge = s_edge2
                    s_at_u2 = np.empty(grow, np.bool_)
                    s_at_u2[:top] = s_at_u[:top]
                    s_at_u = s_at_u2
                    s_dist2 = np.empty(grow, np.float64)
                    s_dist2[:top] = s_dist[:top]
                    s_dist = s_dist2
                    s_mult2 = np.empty(grow, np.float64)
                    s_mult2[:top] = s_mult[:top]
                    s_mult = s_mult2
                    s_depth2 = np.empty(grow, np.int64)
                    s_depth2[:top] = s_depth[:top]
                    s_depth = s_depth2
                s_node[top] = adj_other[slot]
                s_edge[top] = f
                s_at_u[top] = not from_u
                s_dist[top] = d + lf
                s_mult[top] = mult
                s_depth[top] = depth + 1
                top += 1
    return truncated


@numba.njit(cache=True, parallel=True)
def network_density(
    ev_edge,
    ev_off,
    ev_w,
    h,
    code,
    estimator,
    max_depth,
    edge_u,
    edge_v,
    edge_len,
    adj_ptr,
    adj_edge,
    adj_other,
    adj_is_u,
    samp_ptr,
    samp_off,
    n_nodes,
):
    """Kernel density at every sample from weighted events; returns ``(density per metre, walks truncated)``.

    Events are split into :data:`N_CHUNKS` fixed chunks, each summed in event order into its own
    buffer, and the buffers are added in chunk order: the result does not depend on the thread count.
    """
    n_ev = ev_edge.size
    n_s = samp_off.size
    n_e = edge_len.size
    chunks = min(N_CHUNKS, max(n_ev, 1))
    partial = np.zeros((chunks, n_s))
    cut = np.zeros(chunks, np.int64)
    for c in numba.prange(chunks):
        lo = c * n_ev // chunks
        hi = (c + 1) * n_ev // chunks
        out = partial[c]
        if estimator == SIMPLE:
            dist = np.full(n_nodes, np.inf)
            touched = np.empty(n_nodes, np.int64)
            stamp = np.full(n_e, -1, np.int64)
            for i in range(lo, hi):
                _simple_one(
                    ev_edge[i],
                    ev_off[i],
                    ev_w[i],
                    h,
                    code,
                    edge_u,
                    edge_v,
                    edge_len,
                    adj_ptr,
                    adj_edge,
                    adj_other,
                    samp_ptr,
                    samp_off,
                    out,
                    dist,
                    touched,
                    stamp,
                    i,
                )
        else:
            for i in range(lo, hi):
                cut[c] += _walk_one(
                    ev_edge[i],
                    ev_off[i],
                    ev_w[i],
                    h,
                    code,
                    estimator,
                    max_depth,
                    edge_u,
                    edge_v,
                    edge_len,
                    adj_ptr,
                    adj_edge,
                    adj_other,
                    adj_is_u,
                    samp_ptr,
                    samp_off,
                    out,
                )
    total = np.zeros(n_s)
    for c in range(chunks):
        total += partial[c]
    return total, cut.sum()


@numba.njit(cache=True)
def _neighbours_of(
    k,
    e,
    t,
    band,
    edge_u,
    edge_v,
    edge_len,
    adj_ptr,
    adj_edge,
    adj_other,
    samp_ptr,
    samp_off,
    dist,
    touched,
    stamp,
    out_idx,
    out_d,
    write,
):
    """Samples within ``band`` network metres of sample ``k`` (itself excluded); writes them when ``write``."""
    n_touched = _bounded_dijkstra(e, t, band, edge_u, edge_v, edge_len, adj_ptr, adj_edge, adj_other, dist, touched)
    count = 0
    stamp[e] = k
    for j in range(samp_ptr[e], samp_ptr[e + 1]):
        d = _sample_distance(e, samp_off[j], e, t, dist, edge_u, edge_v, edge_len)
        if j != k and d <= band:
            if write:
                out_idx[count] = j
                out_d[count] = d
            count += 1
    for i in range(n_touched):
        node = touched[i]
        for slot in range(adj_ptr[node], adj_ptr[node + 1]):
            f = adj_edge[slot]
            if stamp[f] == k:
                continue
            stamp[f] = k
            for j in range(samp_ptr[f], samp_ptr[f + 1]):
                d = _sample_distance(f, samp_off[j], e, t, dist, edge_u, edge_v, edge_len)
                if j != k and d <= band:
                    if write:
                        out_idx[count] = j
                        out_d[count] = d
                    count += 1
    for i in range(n_touched):
        dist[touched[i]] = np.inf
    return count


@numba.njit(cache=True, parallel=True)
def sample_neighbours(
    samp_edge, band, edge_u, edge_v, edge_len, adj_ptr, adj_edge, adj_other, samp_ptr, samp_off, n_nodes
):
    """CSR lists (indptr, indices, distances) of the samples within ``band`` network metres of each sample.

    Two passes (count, then fill) over fixed chunks; each row is sorted by sample index.
    """
    n_s = samp_off.size
    n_e = edge_len.size
    chunks = min(N_CHUNKS * 4, max(n_s, 1))
    counts = np.zeros(n_s, np.int64)
    dummy_i = np.empty(0, np.int64)
    dummy_d = np.empty(0, np.float64)
    for c in numba.prange(chunks):
        dist = np.full(n_nodes, np.inf)
        touched = np.empty(n_nodes, np.int64)
        stamp = np.full(n_e, -1, np.int64)
        for k in range(c * n_s // chunks, (c + 1) * n_s // chunks):
            counts[k] = _neighbours_of(
                k,
                samp_edge[k],
                samp_off[k],
                band,
                edge_u,
                edge_v,
                edge_len,
                adj_ptr,
                adj_edge,
                adj_other,
                samp_ptr,
                samp_off,
                dist,
                touched,
                stamp,
                dummy_i,
                dummy_d,
                False,
            )
    indptr = np.zeros(n_s + 1, np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = np.empty(indptr[-1], np.int64)
    dists = np.empty(indptr[-1], np.float64)
    for c in numba.prange(chunks):
        dist = np.full(n_nodes, np.inf)
        touched = np.empty(n_nodes, np.int64)
        stamp = np.full(n_e, -1, np.int64)
        for k in range(c * n_s // chunks, (c + 1) * n_s // chunks):
            lo = indptr[k]
            hi = indptr[k + 1]
            _neighbours_of(
                k,
                samp_edge[k],
                samp_off[k],
                band,
                edge_u,
                edge_v,
                edge_len,
                adj_ptr,
                adj_edge,
                adj_other,
                samp_ptr,
                samp_off,
                dist,
                touched,
                stamp,
                indices[lo:hi],
                dists[lo:hi],
                True,
            )
            order = np.argsort(indices[lo:hi], kind="mergesort")
            indices[lo:hi] = indices[lo:hi][order]
            dists[lo:hi] = dists[lo:hi][order]
    return indptr, indices, dists


@numba.njit(cache=True)
def nearest_source_distance(
    src_edge,
    src_off,
    limit,
    edge_u,
    edge_v,
    edge_len,
    adj_ptr,
    adj_edge,
    adj_other,
    samp_ptr,
    samp_off,
    samp_edge,
    n_nodes,
):
    """Network distance from every sample to the nearest source point, +inf beyond ``limit`` metres.

    One multi-source Dijkstra seeded at both ends of every source's edge, plus direct distances
    along each source's own edge.
    """
    dist = np.full(n_nodes, np.inf)
    heap = [(0.0, np.int64(0))]
    heap.pop()
    for i in range(src_edge.size):
        e = src_edge[i]
        for end in range(2):
            node = edge_u[e] if end == 0 else edge_v[e]
            d = src_off[i] if end == 0 else edge_len[e] - src_off[i]
            if d <= limit and d < dist[node]:
                dist[node] = d
                heapq.heappush(heap, (d, np.int64(node)))
    while len(heap) > 0:
        d, node = heapq.heappop(heap)
        if d > dist[node]:
            continue
        for slot in range(adj_ptr[node], adj_ptr[node + 1]):
            nd = d + edge_len[adj_edge[slot]]
            other = adj_other[slot]
            if nd <= limit and nd < dist[other]:
                dist[other] = nd
                heapq.heappush(heap, (nd, np.int64(other)))
    n_s = samp_off.size
    out = np.empty(n_s)
    for k in range(n_s):
        f = samp_edge[k]
        out[k] = min(dist[edge_u[f]] + samp_off[k], dist[edge_v[f]] + edge_len[f] - samp_off[k])
    for i in range(src_edge.size):
        e = src_edge[i]
        for k in range(samp_ptr[e], samp_ptr[e + 1]):
            d = abs(samp_off[k] - src_off[i])
            if d < out[k]:
                out[k] = d
    for k in range(n_s):
        if out[k] > limit:
            out[k] = np.inf
    return out


@numba.njit(cache=True)
def cut_polylines(coords, line_ptr, cum, cut_ptr, cut_at):
    """Cut polylines at given distances along them; returns (coords, ptr) of the pieces, in order.

    ``coords`` (m, 2) are every line's vertices, line ``i`` being ``coords[line_ptr[i]:line_ptr[i+1]]``
    with cumulative lengths ``cum`` (same indexing, 0 at each line's start). ``cut_at`` holds, per
    line (``cut_ptr``), the ascending break distances including 0 and the line's length.
    """
    n_lines = line_ptr.size - 1
    n_pieces = cut_ptr[-1] - n_lines
    out = np.empty((coords.shape[0] + 2 * n_pieces, 2))
    ptr = np.zeros(n_pieces + 1, np.int64)
    p = 0
    w = 0
    for i in range(n_lines):
        a0 = line_ptr[i]
        a1 = line_ptr[i + 1]
        j = a0
        for c in range(cut_ptr[i], cut_ptr[i + 1] - 1):
            lo = cut_at[c]
            hi = cut_at[c + 1]
            # first point: interpolate at lo
            while j < a1 - 2 and cum[j + 1] <= lo:
                j += 1
            seg = cum[j + 1] - cum[j]
            f = 0.0 if seg <= 0 else (lo - cum[j]) / seg
            out[w, 0] = coords[j, 0] + f * (coords[j + 1, 0] - coords[j, 0])
            out[w, 1] = coords[j, 1] + f * (coords[j + 1, 1] - coords[j, 1])
            w += 1
            k = j + 1
            while k < a1 - 1 and cum[k] < hi:
                if cum[k] > lo:
                    out[w, 0] = coords[k, 0]
                    out[w, 1] = coords[k, 1]
                    w += 1
                k += 1
            jj = j
            while jj < a1 - 2 and cum[jj + 1] < hi:
                jj += 1
            seg = cum[jj + 1] - cum[jj]
            f = 1.0 if seg <= 0 else (hi - cum[jj]) / seg
            out[w, 0] = coords[jj, 0] + f * (coords[jj + 1, 0] - coords[jj, 0])
            out[w, 1] = coords[jj, 1] + f * (coords[jj + 1, 1] - coords[jj, 1])
            w += 1
            p += 1
            ptr[p] = w
    return out[:w], ptr
