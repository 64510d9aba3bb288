"""Clean street lines into a routable junction graph and cut it into lixels (segments of a chosen length).

Cleaning
--------
1. ``junctions="vertices"`` (default; right for OpenStreetMap and OS Open Roads, where streets that
   meet share a vertex): each line is split at every vertex it shares with another line (or with
   itself). Lines that merely cross without a shared vertex, such as a bridge over a street, stay
   unconnected, as they should. ``junctions="crossings"``: every crossing becomes a junction
   (planar noding with shapely), for hand-drawn layers whose streets meet without shared vertices.
   Vertices closer than 1 cm are the same point.
2. Duplicate edges (same two junctions, lengths within ``duplicate_tolerance_m``, default 1 m) are
   merged into the first; zero-length edges are dropped. Both are counted in ``Network.notes``.
3. Each edge of length ``L`` is cut into ``max(1, round(L / segment_length_m))`` lixels of equal
   length ``L / n`` (so lixels are between 2/3 and 3/2 of the chosen length, except edges shorter
   than about half of it, which stay whole; none crosses a junction), keeping the street name and lighting. Each
   lixel's midpoint is its sample point for
   densities and its position for network distances.

Everything is metres in the network's projected CRS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import ProgressCallback, resolve

JUNCTIONS = ("vertices", "crossings")
VERTEX_PRECISION_M = 0.01
"""Vertices closer than this (metres) are the same junction."""
DEFAULT_SEGMENT_LENGTH_M = 50.0


@dataclass(frozen=True)
class Network:
    """A cleaned street network and its lixels, as plain arrays plus two GeoDataFrames.

    Attributes
    ----------
    crs : str
        Projected CRS (metres).
    node_xy : ndarray (n_nodes, 2)
        Junction (and dead-end) coordinates.
    edges : GeoDataFrame
        One row per junction-to-junction edge: ``name``, ``lit``, ``unlit``, ``highway``, ``u``, ``v``,
        ``length_m``, LineString geometry.
    lixels : GeoDataFrame
        One row per lixel, grouped by edge and ordered along it from ``u``: ``lixel_id``, ``edge``,
        ``name``, ``unlit``, ``start_m``/``end_m`` (offsets along the edge from ``u``), ``length_m``,
        ``node_a``/``node_b`` (end nodes in lixel-graph numbering: junctions ``0..n_nodes-1``, then the
        breakpoints inside edges), LineString geometry.
    segment_length_m : float
        The lixel length asked for, metres.
    edge_u, edge_v, edge_len, adj_ptr, adj_edge, adj_other, adj_is_u, samp_ptr, samp_off, samp_edge : ndarray
        The kernel arrays described in :mod:`hotspot.kernels.network` (``samp_off`` = lixel midpoints).
    notes : tuple of str
        What cleaning did: lines read, edges, duplicates merged, zero-length edges dropped, components.
    """

    crs: str
    node_xy: np.ndarray
    edges: object
    lixels: object
    segment_length_m: float
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len: np.ndarray
    adj_ptr: np.ndarray
    adj_edge: np.ndarray
    adj_other: np.ndarray
    adj_is_u: np.ndarray
    samp_ptr: np.ndarray
    samp_off: np.ndarray
    samp_edge: np.ndarray
    notes: tuple = ()

    @property
    def n_nodes(self) -> int:
        return int(self.node_xy.shape[0])

    @property
    def n_lixels(self) -> int:
        return int(self.samp_off.size)

    @property
    def total_length_m(self) -> float:
        return float(self.edge_len.sum())

    @property
    def degree(self) -> np.ndarray:
        """Edge ends at each junction (a self-loop counts twice)."""
        return np.diff(self.adj_ptr)

    def graph_arrays(self) -> tuple:
        """``(edge_u, edge_v, edge_len, adj_ptr, adj_edge, adj_other)`` for the shortest-path kernels."""
        return self.edge_u, self.edge_v, self.edge_len, self.adj_ptr, self.adj_edge, self.adj_other


def build_network(
    roads,
    *,
    segment_length_m: float = DEFAULT_SEGMENT_LENGTH_M,
    junctions: str = "vertices",
    duplicate_tolerance_m: float = 1.0,
    progress: ProgressCallback | None = None,
) -> Network:
    """Clean street lines into a junction graph and lixels (see the module docstring).

    Parameters
    ----------
    roads : GeoDataFrame
        LineStrings in a metre CRS with ``name`` and, optionally, ``lit``, ``unlit``, ``highway``
        (as :func:`hotspot.network.read.read_roads` returns).
    segment_length_m : float, default 50
        Target lixel length, metres.
    junctions : {"vertices", "crossings"}, default "vertices"
        Where streets connect: at shared vertices, or at every crossing.
    duplicate_tolerance_m : float, default 1
        Edges between the same two junctions whose lengths differ by less than this (metres) are duplicates.
    progress : callable, optional
        ``progress(stage, done, total)``.
    """
    import geopandas as gpd
    import shapely

    progress = resolve(progress)
    if junctions not in JUNCTIONS:
        raise HotspotInputError(f"--junctions must be one of {', '.join(JUNCTIONS)}, got {junctions!r}")
    if not (segment_length_m > 0):
        raise HotspotInputError(f"--segment-length must be a positive number of metres, got {segment_length_m}")
    if roads.crs is None or roads.crs.is_geographic:
        raise HotspotInputError("the road network must be in a projected CRS in metres (read it with read_roads)")
    progress("cleaning the network", 0, 3)
    lines = np.asarray(roads.geometry.values, dtype=object)
    attrs = _attributes(roads)
    n_source = len(lines)
    if junctions == "crossings":
        lines, source = _node_crossings(lines)
        attrs = {k: v[source] for k, v in attrs.items()}
    progress("cleaning the network", 1, 3)
    edge_geoms, edge_src, u, v, node_xy = _split_at_shared_vertices(lines)
    length = shapely.length(edge_geoms)
    keep, n_dup, n_zero = _drop_duplicates(u, v, length, duplicate_tolerance_m)
    edge_geoms, edge_src, u, v, length = edge_geoms[keep], edge_src[keep], u[keep], v[keep], length[keep]
    used, u_new = np.unique(np.concatenate([u, v]), return_inverse=True)
    node_xy = node_xy[used]
    u, v = u_new[: u.size], u_new[u.size :]
    progress("cleaning the network", 2, 3)
    if u.size == 0:
        raise HotspotInputError("the road network has no edges of positive length")

    edges = gpd.GeoDataFrame(
        {k: vals[edge_src] for k, vals in attrs.items()} | {"u": u, "v": v, "length_m": length},
        geometry=edge_geoms,
        crs=roads.crs,
    )
    n_nodes = node_xy.shape[0]
    adj_ptr, adj_edge, adj_other, adj_is_u = _adjacency(u, v, n_nodes)
    pieces = np.maximum(1, np.round(length / segment_length_m)).astype(np.int64)
    samp_ptr = np.zeros(u.size + 1, np.int64)
    samp_ptr[1:] = np.cumsum(pieces)
    n_lix = int(samp_ptr[-1])
    samp_edge = np.repeat(np.arange(u.size), pieces)
    j = np.arange(n_lix) - samp_ptr[samp_edge]  # position of each lixel along its edge
    step = length[samp_edge] / pieces[samp_edge]
    start = j * step
    end = np.where(j == pieces[samp_edge] - 1, length[samp_edge], (j + 1) * step)
    samp_off = 0.5 * (start + end)
    # lixel-graph end nodes: junctions keep their ids, breakpoints inside edges are numbered after them
    internal_base = n_nodes + samp_ptr[:-1] - np.arange(u.size)  # first breakpoint id of each edge
    node_a = np.where(j == 0, u[samp_edge], internal_base[samp_edge] + j - 1)
    node_b = np.where(j == pieces[samp_edge] - 1, v[samp_edge], internal_base[samp_edge] + j)
    lixel_geoms = _cut_lines(edge_geoms, samp_ptr, start, end, length)
    lixels = gpd.GeoDataFrame(
        {
            "lixel_id": np.arange(n_lix),
            "edge": samp_edge,
            "name": edges["name"].to_numpy()[samp_edge],
            "unlit": edges["unlit"].to_numpy()[samp_edge],
            "start_m": start,
            "end_m": end,
            "length_m": end - start,
            "node_a": node_a,
            "node_b": node_b,
        },
        geometry=lixel_geoms,
        crs=roads.crs,
    )
    n_components = _components(u, v, n_nodes)
    notes = (
        f"network: {n_source:,} lines -> {u.size:,} edges between {n_nodes:,} junctions and dead ends "
        f"({length.sum() / 1000:,.1f} km, {n_components:,} connected part(s)); {n_lix:,} lixels of about "
        f"{segment_length_m:g} m",
    )
    if n_dup or n_zero:
        notes += (f"network cleaning merged {n_dup:,} duplicate edge(s) and dropped {n_zero:,} zero-length edge(s)",)
    progress("cleaning the network", 3, 3)
    return Network(
        crs=str(roads.crs.to_string() if hasattr(roads.crs, "to_string") else roads.crs),
        node_xy=node_xy,
        edges=edges,
        lixels=lixels,
        segment_length_m=float(segment_length_m),
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_len=length.astype(np.float64),
        adj_ptr=adj_ptr,
        adj_edge=adj_edge,
        adj_other=adj_other,
        adj_is_u=adj_is_u,
        samp_ptr=samp_ptr,
        samp_off=samp_off.astype(np.float64),
        samp_edge=samp_edge.astype(np.int64),
        notes=notes,
    )


def _attributes(roads) -> dict[str, np.ndarray]:
    from hotspot.network.read import is_unlit

    n = len(roads)

    def text(column):
        if column not in roads.columns:
            return np.full(n, "", dtype=object)
        return np.array(
            ["" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x) for x in roads[column]], dtype=object
        )

    lit = text("lit")
    unlit = roads["unlit"].to_numpy(bool) if "unlit" in roads.columns else is_unlit(lit)
    return {"name": text("name"), "lit": lit, "unlit": unlit, "highway": text("highway")}


def _node_crossings(lines):
    """Planar noding: split every line at every crossing; returns the pieces and each piece's source line."""
    import shapely

    noded = shapely.get_parts(shapely.node(shapely.MultiLineString(list(lines))))
    noded = noded[shapely.length(noded) > 0]
    middle = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    tree = shapely.STRtree(lines)
    pairs = tree.query_nearest(middle, all_matches=False)
    source = np.empty(noded.size, np.int64)
    source[pairs[0]] = pairs[1]
    return noded, source


def _split_at_shared_vertices(lines):
    """Split lines at every vertex used more than once; returns edge geometries, source line, u, v, node coordinates."""
    import shapely

    coords, line = shapely.get_coordinates(lines, return_index=True)
    key = np.round(coords / VERTEX_PRECISION_M).astype(np.int64)
    _, vid = np.unique(key, axis=0, return_inverse=True)
    vid = vid.ravel()
    # drop consecutive repeats of the same point within a line
    repeat = np.zeros(vid.size, bool)
    repeat[1:] = (vid[1:] == vid[:-1]) & (line[1:] == line[:-1])
    coords, line, vid = coords[~repeat], line[~repeat], vid[~repeat]
    first = np.ones(vid.size, bool)
    first[1:] = line[1:] != line[:-1]
    last = np.ones(vid.size, bool)
    last[:-1] = line[:-1] != line[1:]
    uses = np.bincount(vid)
    is_break = first | last | (uses[vid] >= 2)
    bpos = np.flatnonzero(is_break)
    same_line = line[bpos[:-1]] == line[bpos[1:]]
    start = bpos[:-1][same_line]
    end = bpos[1:][same_line]
    counts = end - start + 1
    offsets = np.zeros(counts.size + 1, np.int64)
    offsets[1:] = np.cumsum(counts)
    idx = np.repeat(start - offsets[:-1], counts) + np.arange(offsets[-1])
    geoms = shapely.linestrings(coords[idx], indices=np.repeat(np.arange(counts.size), counts))
    node_ids, node_of = np.unique(vid[np.concatenate([start, end])], return_inverse=True)
    u, v = node_of[: start.size], node_of[start.size :]
    node_first = np.zeros(vid.max() + 1, np.int64)
    node_first[vid[::-1]] = np.arange(vid.size)[::-1]
    node_xy = coords[node_first[node_ids]]
    return np.asarray(geoms, dtype=object), line[start], u.astype(np.int64), v.astype(np.int64), node_xy


def _drop_duplicates(u, v, length, tolerance_m):
    """Keep mask without zero-length edges and without later duplicates; plus the two counts."""
    zero = length < VERTEX_PRECISION_M
    a, b = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((np.arange(u.size), length, b, a))
    dup = np.zeros(u.size, bool)
    sa, sb, sl = a[order], b[order], length[order]
    same = (sa[1:] == sa[:-1]) & (sb[1:] == sb[:-1]) & (np.abs(sl[1:] - sl[:-1]) < tolerance_m)
    dup[order[1:][same]] = True
    dup &= ~zero
    return ~(dup | zero), int(dup.sum()), int(zero.sum())


def _adjacency(u, v, n_nodes):
    ends = np.concatenate([u, v])
    edge = np.concatenate([np.arange(u.size), np.arange(u.size)])
    other = np.concatenate([v, u])
    is_u = np.concatenate([np.ones(u.size, np.int8), np.zeros(u.size, np.int8)])
    order = np.argsort(ends, kind="stable")
    ptr = np.zeros(n_nodes + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(ends, minlength=n_nodes))
    return ptr, edge[order].astype(np.int64), other[order].astype(np.int64), is_u[order]


def _cut_lines(edge_geoms, samp_ptr, start, end, length):
    import shapely

    from hotspot.kernels.network import cut_polylines

    coords, which = shapely.get_coordinates(edge_geoms, return_index=True)
    line_ptr = np.zeros(edge_geoms.size + 1, np.int64)
    line_ptr[1:] = np.cumsum(np.bincount(which, minlength=edge_geoms.size))
    step = np.zeros(coords.shape[0])
    step[1:] = np.hypot(*(coords[1:] - coords[:-1]).T)
    step[line_ptr[:-1]] = 0.0
    cum = np.cumsum(step)
    cum -= np.repeat(cum[line_ptr[:-1]], np.diff(line_ptr))
    # break distances per edge: every lixel start, plus the edge's end
    n_edges = edge_geoms.size
    cut_ptr = samp_ptr + np.arange(n_edges + 1)
    cut_at = np.empty(cut_ptr[-1])
    lixel_slot = np.arange(start.size) + np.repeat(np.arange(n_edges), np.diff(samp_ptr))
    cut_at[lixel_slot] = start
    cut_at[cut_ptr[1:] - 1] = cum[line_ptr[1:] - 1]  # the edge's own measured length closes the last lixel
    out, ptr = cut_polylines(coords, line_ptr, cum, cut_ptr, cut_at)
    return np.asarray(shapely.linestrings(out, indices=np.repeat(np.arange(ptr.size - 1), np.diff(ptr))), dtype=object)


def _components(u, v, n_nodes) -> int:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    graph = sp.coo_matrix((np.ones(u.size), (u, v)), shape=(n_nodes, n_nodes))
    return int(connected_components(graph, directed=False)[0])
