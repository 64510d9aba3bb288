"""Street networks on small hand-built networks: cleaning, snapping, network KDE and segment Gi* against
independent references (networkx shortest paths, a plain-Python walk enumeration, esda)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from hotspot.core.errors import HotspotInputError
from hotspot.network.graph import build_network
from hotspot.network.nkde import network_kde
from hotspot.network.snap import snap_points

CRS = "EPSG:27700"


def _roads(lines, names, lit=None):
    frame = gpd.GeoDataFrame({"name": names}, geometry=[shapely.LineString(c) for c in lines], crs=CRS)
    frame["lit"] = lit if lit is not None else "yes"
    return frame


@pytest.fixture(scope="module")
def town():
    """A small network with a loop, junctions of degree 3 and 4, a dead end and one long curved street."""
    lines = [
        [(0, 0), (100, 0), (230, 0)],  # High Street west part
        [(230, 0), (400, 0)],  # High Street east part
        [(100, 0), (100, 120)],  # Bute Street north
        [(100, 0), (100, -90)],  # Bute Street south (dead end)
        [(230, 0), (230, 120)],  # George Street
        [(100, 120), (160, 150), (230, 120)],  # Back Lane (closes a loop)
        [(400, 0), (460, 70), (520, 0)],  # a curved dead-end spur
    ]
    names = ["High Street", "High Street", "Bute Street", "Bute Street", "George Street", "Back Lane", "Spur Road"]
    lit = ["yes", "yes", "no", "", "yes", "24/7", "yes"]
    return build_network(_roads(lines, names, lit), segment_length_m=20.0)


def _events(net, n, seed):
    rng = np.random.default_rng(seed)
    edge = rng.integers(0, net.edge_len.size, n)
    return edge, rng.random(n) * net.edge_len[edge]


def _quartic(d, h):
    return np.where(d < h, 15.0 / (16.0 * h) * (1 - (d / h) ** 2) ** 2, 0.0)


# --- cleaning ---------------------------------------------------------------------------------


def test_cleaning_splits_at_shared_vertices_and_keeps_names(town):
    # the High Street west line splits at Bute Street (100, 0); every other line already runs junction to junction
    assert town.edge_len.size == 8
    assert np.isclose(
        town.total_length_m, 230 + 170 + 120 + 90 + 120 + np.hypot(60, 30) + np.hypot(70, 30) + 2 * np.hypot(60, 70)
    )
    degree = town.degree
    xy = town.node_xy
    at = {tuple(np.round(p)): d for p, d in zip(xy, degree)}
    assert at[(100.0, 0.0)] == 4 and at[(230.0, 0.0)] == 3 and at[(100.0, -90.0)] == 1
    lix = town.lixels
    # lixels never cross a junction, cover each edge exactly, and carry the street name and lighting
    np.testing.assert_allclose(np.bincount(lix["edge"], weights=lix["length_m"]), town.edge_len, rtol=0, atol=1e-9)
    np.testing.assert_allclose(shapely.length(lix.geometry.values), lix["length_m"], atol=1e-9)
    assert set(lix["name"]) == {"High Street", "Bute Street", "George Street", "Back Lane", "Spur Road"}
    bute = lix[lix["name"] == "Bute Street"]
    assert bute["unlit"].all()  # lit=no and lit missing both count as unlit
    assert not lix.loc[lix["name"] == "Back Lane", "unlit"].any()  # 24/7 is lit


def test_bridges_stay_unconnected_unless_crossings_asked_for():
    lines = [
        [(0, 0), (200, 0)],
        [(100, -100), (100, 100)],
        [(0, 0), (200, 0)],
    ]  # a bridge over a street, and a duplicate
    roads = _roads(lines, ["Low Road", "Bridge", "Low Road"])
    by_vertex = build_network(roads, segment_length_m=50)
    assert by_vertex.edge_len.size == 2  # duplicate merged, no junction at the crossing
    assert any("merged 1 duplicate" in n for n in by_vertex.notes)
    crossing = build_network(roads, junctions="crossings", segment_length_m=50)
    assert crossing.edge_len.size == 4 and crossing.degree.max() == 4


def test_bad_options_raise_one_line_errors():
    roads = _roads([[(0, 0), (100, 0)]], ["A"])
    with pytest.raises(HotspotInputError, match="--segment-length"):
        build_network(roads, segment_length_m=0)
    with pytest.raises(HotspotInputError, match="--junctions"):
        build_network(roads, junctions="magic")
    with pytest.raises(HotspotInputError, match="projected CRS"):
        build_network(roads.to_crs("EPSG:4326"))


# --- snapping ---------------------------------------------------------------------------------


def test_snapping_counts_what_does_not_snap(town):
    x = np.array([50.0, 50.0, 100.0 + 3.0, 300.0, 700.0])
    y = np.array([2.0, 2.0, 60.0, 0.0, 700.0])
    s = snap_points(town, x, y, tolerance_m=10.0)
    assert s.n_snapped == 4 and s.n_not_snapped == 1 and s.lixel[-1] == -1
    np.testing.assert_allclose(s.distance_m[:4], [2.0, 2.0, 3.0, 0.0], atol=1e-9)
    # the offset along the edge is the true position: (50, 2) -> 50 m from (0, 0)
    e = s.edge[0]
    u_xy = town.node_xy[town.edge_u[e]]
    assert np.isclose(s.offset_m[0], 50.0 if u_xy[0] == 0 else town.edge_len[e] - 50.0)
    assert "1 not snapped" in s.describe()


# --- network KDE against independent references ------------------------------------------------


def _nx_graph(net):
    import networkx as nx

    g = nx.Graph()
    for _e, (u, v, length) in enumerate(zip(net.edge_u, net.edge_v, net.edge_len)):
        if not g.has_edge(u, v) or g[u][v]["weight"] > length:
            g.add_edge(int(u), int(v), weight=float(length))
    return g


def _nx_point_distances(net, ev_edge, ev_off, h):
    """Shortest-path distance from each event to each lixel midpoint, by networkx Dijkstra between edge ends."""
    import networkx as nx

    g = _nx_graph(net)
    samp_edge, samp_off = net.samp_edge, net.samp_off
    out = np.full((ev_edge.size, samp_off.size), np.inf)
    for i, (e, t) in enumerate(zip(ev_edge, ev_off)):
        starts = {int(net.edge_u[e]): t, int(net.edge_v[e]): net.edge_len[e] - t}
        node_d = {}
        for node, d0 in starts.items():
            for other, d in nx.single_source_dijkstra_path_length(g, node, weight="weight").items():
                node_d[other] = min(node_d.get(other, np.inf), d0 + d)
        for k, (f, s) in enumerate(zip(samp_edge, samp_off)):
            d = min(
                node_d.get(int(net.edge_u[f]), np.inf) + s, node_d.get(int(net.edge_v[f]), np.inf) + net.edge_len[f] - s
            )
            if f == e:
                d = min(d, abs(s - t))
            out[i, k] = d
    return out


def test_simple_estimator_matches_networkx_shortest_paths(town):
    edge, off = _events(town, 25, seed=1)
    h = 150.0
    ours = network_kde(town, edge, off, bandwidth_m=h, estimator="simple").per_m
    reference = _quartic(_nx_point_distances(town, edge, off, h), h).sum(axis=0)
    assert reference.max() > 0
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)


def _walk_reference(net, e, t, h, estimator, samples_by_edge):
    """Equal-split kernels by plain recursion over walks (Okabe & Sugihara 2012, ch. 9), written from the definition."""
    import networkx as nx

    g = nx.MultiGraph()
    for i, (u, v) in enumerate(zip(net.edge_u, net.edge_v)):
        g.add_edge(int(u), int(v), key=i)
    dens = np.zeros(net.samp_off.size)
    for k, s in samples_by_edge[e]:
        dens[k] += _quartic(abs(s - t), h)

    def arrive(node, via, via_end_is_u, d, m):
        ends = [(f, node == net.edge_u[f]) for _, _, f in g.edges(node, keys=True)]
        # a self-loop is listed once by networkx but has two ends at the node
        ends = [(f, True) if net.edge_u[f] == net.edge_v[f] else (f, is_u) for f, is_u in ends]
        ends += [(f, False) for f, _ in ends if net.edge_u[f] == net.edge_v[f]]
        n = len(ends)
        for f, from_u in ends:
            back = f == via and from_u == via_end_is_u
            if estimator == "discontinuous":
                if back or n == 1:
                    continue
                mult = m / (n - 1)
            else:
                mult = m * ((2 - n) / n if back else 2 / n)
                if mult == 0:
                    continue
            length = net.edge_len[f]
            for k, s in samples_by_edge[f]:
                dd = d + (s if from_u else length - s)
                if dd < h:
                    dens[k] += mult * _quartic(dd, h)
            if d + length < h:
                far = net.edge_v[f] if from_u else net.edge_u[f]
                arrive(int(far), f, not from_u, d + length, mult)

    if t < h:
        arrive(int(net.edge_u[e]), e, True, t, 1.0)
    if net.edge_len[e] - t < h:
        arrive(int(net.edge_v[e]), e, False, net.edge_len[e] - t, 1.0)
    return dens


@pytest.mark.parametrize("estimator", ["discontinuous", "continuous"])
def test_equal_split_estimators_match_walk_enumeration(town, estimator):
    edge, off = _events(town, 12, seed=2)
    h = 140.0
    ours = network_kde(town, edge, off, bandwidth_m=h, estimator=estimator, max_depth=1000)
    assert ours.walks_truncated == 0
    samples_by_edge = {e: [] for e in range(town.edge_len.size)}
    for k, (f, s) in enumerate(zip(town.samp_edge, town.samp_off)):
        samples_by_edge[int(f)].append((k, s))
    reference = sum(_walk_reference(town, int(e), t, h, estimator, samples_by_edge) for e, t in zip(edge, off))
    np.testing.assert_allclose(ours.per_m, reference, rtol=0, atol=1e-9)


def test_mass_conservation_per_estimator():
    """Continuous: exactly 1 per event; discontinuous: 1 unless the kernel passes a dead end; simple: more than 1 near junctions."""
    # a closed grid of 4 x 4 blocks (no dead ends), 1 m lixels so the midpoint rule is accurate
    lines = [[(0, 100 * i), (400, 100 * i)] for i in range(5)] + [[(100 * i, 0), (100 * i, 400)] for i in range(5)]
    grid = build_network(_roads(lines, [f"S{i}" for i in range(10)]), junctions="crossings", segment_length_m=1.0)
    lengths = grid.lixels["length_m"].to_numpy()
    # an event 10 m from a degree-4 junction at the centre, bandwidth inside the grid
    s = snap_points(grid, np.array([210.0]), np.array([200.0]), tolerance_m=1.0)
    h = 120.0
    mass = {
        est: network_kde(grid, s.edge, s.offset_m, bandwidth_m=h, estimator=est, max_depth=1000).per_m @ lengths
        for est in ("simple", "discontinuous", "continuous")
    }
    assert abs(mass["continuous"] - 1.0) < 1e-4
    assert abs(mass["discontinuous"] - 1.0) < 1e-4
    assert mass["simple"] > 1.2
    # a dead end within the bandwidth: discontinuous loses mass, continuous reflects it
    spur = build_network(
        _roads([[(0, 0), (100, 0)], [(100, 0), (300, 0)], [(100, 0), (100, 200)]], ["A", "B", "C"]),
        segment_length_m=1.0,
    )
    s = snap_points(spur, np.array([30.0]), np.array([0.0]), tolerance_m=1.0)
    lengths = spur.lixels["length_m"].to_numpy()
    disc = network_kde(spur, s.edge, s.offset_m, bandwidth_m=h, estimator="discontinuous").per_m @ lengths
    cont = network_kde(spur, s.edge, s.offset_m, bandwidth_m=h, estimator="continuous", max_depth=1000).per_m @ lengths
    assert disc < 0.9 and abs(cont - 1.0) < 1e-4


def test_density_is_the_same_on_any_number_of_threads(town):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here; nothing to compare")
    edge, off = _events(town, 300, seed=3)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = network_kde(town, edge, off, bandwidth_m=120, estimator="continuous").per_m
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = network_kde(town, edge, off, bandwidth_m=120, estimator="continuous").per_m
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)


# --- segment Gi* ------------------------------------------------------------------------------


def test_network_neighbours_match_networkx(town):
    from hotspot.network.gistar import network_distances

    band = 90.0
    ours = network_distances(town, band).toarray()
    full = _nx_point_distances(town, town.samp_edge, town.samp_off, band)
    np.fill_diagonal(full, np.inf)
    expected = np.where(full <= band, full, 0.0)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


def test_segment_gistar_matches_esda_with_the_same_weights(town):
    import esda

    from hotspot.network.gistar import gi_star_segments, network_weights, to_libpysal

    rng = np.random.default_rng(4)
    counts = rng.poisson(2.0, town.n_lixels)
    counts[:5] += 12
    frame, result = gi_star_segments(town, counts, band_m=90.0, permutations=0)
    w = to_libpysal(network_weights(town, 90.0))
    reference = esda.G_Local(counts.astype(float), w, star=True, transform="B", permutations=0)
    np.testing.assert_allclose(result.z, reference.Zs, rtol=0, atol=1e-9)
    assert list(frame.columns[:4]) == ["lixel_id", "name", "unlit", "length_m"]


# --- stretches ------------------------------------------------------------------------------


def test_hot_lixels_merge_into_a_named_stretch(town):
    from hotspot.network.stretches import describe_stretch, label_stretches

    lix = town.lixels
    high = lix["name"].to_numpy() == "High Street"
    mid = 0.5 * (lix["start_m"] + lix["end_m"]).to_numpy()
    xs = shapely.get_x(shapely.line_interpolate_point(lix.geometry.values, 0.5, normalized=True))
    chosen = high & (xs > 110) & (xs < 220)  # the High Street block between Bute Street and George Street
    chosen |= (lix["name"].to_numpy() == "George Street") & (mid < 30)  # touches it but is another street
    labels = label_stretches(town, chosen)
    assert labels.max() == 2
    high_label = labels[chosen & high][0]
    assert (labels[chosen & high] == high_label).all()
    described = describe_stretch(town, np.flatnonzero(labels == high_label))
    assert described["description"] == "High Street, 130 m from Bute Street to George Street"


# --- reading ----------------------------------------------------------------------------------


def test_osm_pbf_ways_are_read_with_names_and_lighting(tmp_path):
    import osmium
    from osmium.osm.mutable import Node, Way

    from hotspot.network.read import read_roads

    path = tmp_path / "tiny.osm.pbf"
    writer = osmium.SimpleWriter(str(path))
    for i, (lon, lat) in enumerate([(-0.100, 51.500), (-0.099, 51.500), (-0.099, 51.501)], start=1):
        writer.add_node(Node(id=i, location=(lon, lat)))
    writer.add_way(Way(id=10, nodes=[1, 2], tags={"highway": "residential", "name": "A Street", "lit": "yes"}))
    writer.add_way(Way(id=11, nodes=[2, 3], tags={"highway": "service"}))
    writer.add_way(Way(id=12, nodes=[1, 3], tags={"building": "yes"}))  # not a street
    writer.add_way(Way(id=13, nodes=[1, 3], tags={"highway": "construction", "name": "Not Yet"}))
    writer.close()
    roads = read_roads(path)
    assert roads.crs.to_epsg() == 27700
    assert list(roads["name"]) == ["A Street", ""] and list(roads["unlit"]) == [False, True]
    assert np.isclose(roads.geometry.length.iloc[0], 69.4, atol=0.5)  # 0.001 degree of longitude at 51.5 N


def test_road_layers_and_bad_files(tmp_path):
    from hotspot.network.read import read_roads

    roads = _roads([[(0, 0), (100, 0)], [(100, 0), (100, 100)]], ["High Street", "Bute Street"], ["yes", "no"])
    roads = roads.rename(columns={"name": "NAME"})
    roads.to_file(tmp_path / "roads.gpkg", layer="streets")
    back = read_roads(tmp_path / "roads.gpkg")
    assert list(back["name"]) == ["High Street", "Bute Street"] and list(back["unlit"]) == [False, True]
    with pytest.raises(HotspotInputError, match="--network .*not found"):
        read_roads(tmp_path / "missing.gpkg")
    (tmp_path / "junk.gpkg").write_text("not a geopackage")
    with pytest.raises(HotspotInputError, match="could not read"):
        read_roads(tmp_path / "junk.gpkg")
