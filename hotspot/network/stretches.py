"""Merge adjacent hot lixels of the same street into named stretches, described for a tasking meeting.

Two chosen lixels join the same stretch when they share an end point and carry the same street
name, so a stretch never turns a corner into another street. A stretch is described by its street,
length and the cross streets at either end: "High Street, 120 m from Bute Street to George Street".
The cross street at an end is a differently named street meeting the stretch's street at the first
junction reached from that end, walking away from the stretch along its own street (at most
:data:`MAX_HOPS` junctions; the alphabetically first when several meet there). An end with no cross
street within reach (a dead end) is left out: "Mill Lane, 80 m near Church Street".
"""

from __future__ import annotations

import numpy as np

MAX_HOPS = 20
UNNAMED = "unnamed road"


def display_name(name: str) -> str:
    return name if name else UNNAMED


def label_stretches(network, chosen: np.ndarray) -> np.ndarray:
    """Stretch label per lixel (1..k, 0 = not chosen): chosen lixels joined through shared ends with the same name."""
    import pandas as pd
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    chosen = np.asarray(chosen, bool)
    idx = np.flatnonzero(chosen)
    labels = np.zeros(chosen.size, np.int64)
    if idx.size == 0:
        return labels
    lix = network.lixels
    ends = pd.DataFrame(
        {
            "lixel": np.concatenate([idx, idx]),
            "node": np.concatenate([lix["node_a"].to_numpy()[idx], lix["node_b"].to_numpy()[idx]]),
            "name": np.concatenate([lix["name"].to_numpy()[idx]] * 2),
        }
    )
    first = ends.groupby(["node", "name"], sort=False)["lixel"].transform("min").to_numpy()
    position = np.full(chosen.size, -1, np.int64)
    position[idx] = np.arange(idx.size)
    a, b = position[ends["lixel"].to_numpy()], position[first]
    graph = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(idx.size, idx.size))
    _, comp = connected_components(graph, directed=False)
    # number stretches in order of their first lixel so labels do not depend on the scipy version
    _, first_of = np.unique(comp, return_index=True)
    order = np.argsort(first_of, kind="stable")
    relabel = np.empty(order.size, np.int64)
    relabel[order] = np.arange(1, order.size + 1)
    labels[idx] = relabel[comp]
    return labels


def _junction_names(network, junction: int, street: str) -> list[str]:
    edges = network.adj_edge[network.adj_ptr[junction] : network.adj_ptr[junction + 1]]
    names = network.edges["name"].to_numpy()[edges]
    return sorted({n for n in names if n and n != street})


def cross_street(network, junction: int, came_edge: int, street: str) -> str | None:
    """The differently named street met first walking from ``junction`` away from ``came_edge`` along ``street``."""
    names_all = network.edges["name"].to_numpy()
    for _ in range(MAX_HOPS):
        others = _junction_names(network, junction, street)
        if others:
            return others[0]
        slots = range(network.adj_ptr[junction], network.adj_ptr[junction + 1])
        onward = [s for s in slots if network.adj_edge[s] != came_edge and names_all[network.adj_edge[s]] == street]
        if not onward:
            return None
        came_edge = int(network.adj_edge[onward[0]])
        junction = int(network.adj_other[onward[0]])
    return None


def describe_stretch(network, lixel_ids: np.ndarray) -> dict:
    """Street, length, end cross streets and the description line of one stretch (its lixel ids)."""
    lix = network.lixels
    lixel_ids = np.asarray(lixel_ids)
    street = str(lix["name"].to_numpy()[lixel_ids[0]])
    length = float(lix["length_m"].to_numpy()[lixel_ids].sum())
    node_a = lix["node_a"].to_numpy()[lixel_ids]
    node_b = lix["node_b"].to_numpy()[lixel_ids]
    nodes, counts = np.unique(np.concatenate([node_a, node_b]), return_counts=True)
    ends = nodes[counts == 1]
    if ends.size > 2:  # a fork: describe between the two ends farthest apart
        xy = np.array([_node_point(network, int(n)) for n in ends])
        d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        i, j = np.unravel_index(np.argmax(d), d.shape)
        ends = ends[[min(i, j), max(i, j)]]
    names = []
    for end in ends:
        k = lixel_ids[(node_a == end) | (node_b == end)][0]
        names.append(_cross_at_end(network, int(end), int(k), street))
    names = [n for n in dict.fromkeys(n for n in names if n)]
    label = display_name(street)
    if len(names) == 2:
        text = f"{label}, {length:,.0f} m from {names[0]} to {names[1]}"
    elif len(names) == 1:
        text = f"{label}, {length:,.0f} m near {names[0]}"
    else:
        text = f"{label}, {length:,.0f} m"
    return {
        "street": label,
        "length_m": length,
        "from_street": names[0] if names else "",
        "to_street": names[1] if len(names) > 1 else "",
        "description": text,
    }


def _cross_at_end(network, end: int, lixel: int, street: str) -> str | None:
    edge = int(network.samp_edge[lixel])
    if end < network.n_nodes:
        return cross_street(network, end, edge, street)
    # a breakpoint inside the edge: walk to the edge's end on this side
    at_start = int(network.lixels["node_a"].to_numpy()[lixel]) == end
    junction = int(network.edge_u[edge] if at_start else network.edge_v[edge])
    return cross_street(network, junction, edge, street)


def _node_point(network, node: int) -> tuple[float, float]:
    if node < network.n_nodes:
        return tuple(network.node_xy[node])
    lix = network.lixels
    k = int(np.flatnonzero(lix["node_b"].to_numpy() == node)[0])
    x, y = np.asarray(lix.geometry.values[k].coords)[-1]
    return float(x), float(y)
