"""A street-segment scenario on the demo town's streets, with planted segment-level truth.

Separate from :mod:`boundaries.demo.town` (whose records many tests pin): it reuses the demo town's
streets and its unlit streets, and draws its own records ON the streets, so segment-level
methods have an exact truth to recover.

The planted model (metres, EPSG:27700)
======================================

==================  ===============================================================================
what                how
==================  ===============================================================================
network             the demo town's streets (``demo_town().streets``), ``lit = "no"`` on the demo's
                    unlit streets and "yes" elsewhere, cleaned with ``junctions="crossings"`` (the
                    ring road crosses the lattice without shared vertices) into 50 m lixels
records            on each lixel, Poisson(``BASE_PER_M x length x multiplier``) records over the two
                    years 2023-01..2024-12, each uniform along the lixel (exactly on the centreline),
                    with a uniform random day and hour
unlit effect        multiplier ``UNLIT_RRV`` (2.0) on every lixel of an unlit street
hot segments        ``N_HOT`` (6) lixels on lit, minor streets, more than 300 m apart along the
                    network, chosen from the seed; multiplier ``HOT_RRV`` (25)
crime types         "Violence and sexual offences" 50 %, "Anti-social behaviour" 30 %, "Other theft" 20 %
==================  ===============================================================================

``truth`` holds the hot lixel ids, their streets, the multipliers and the expected counts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hotspot.network.study import NetworkStudy

SEED = 17
BASE_PER_M = 0.02
"""Expected records per metre of lit street over the two years (1 per 50 m lixel)."""
UNLIT_RRV = 2.0
HOT_RRV = 25.0
N_HOT = 6
SEGMENT_LENGTH_M = 50.0
MIN_HOT_SEPARATION_M = 300.0
TYPES = (("Violence and sexual offences", 0.5), ("Anti-social behaviour", 0.3), ("Other theft", 0.2))


@dataclass(frozen=True)
class DemoNetwork:
    """The scenario: ``roads`` (name, lit, unlit, highway, lines), the cleaned ``network``, ``records``
    (``hotspot.core.records.RECORD_COLUMNS``; x, y on the streets) and the planted ``truth`` (JSON-serialisable)."""

    roads: object
    network: object
    records: pd.DataFrame
    truth: dict

    def study(self):
        """The records as a :class:`hotspot.ingest.study.Study` (crs EPSG:27700, timed, source "demo-network")."""
        from hotspot.core.records import Records
        from hotspot.ingest.study import Study

        records = Records(frame=self.records.copy(), crs="EPSG:27700", has_times=True, sources=["demo-network"])
        return Study(
            records=records, crs="EPSG:27700", notes=["demo street-network scenario (boundaries.demo.network)"]
        )


def demo_roads():
    """The demo town's streets as a road layer: name, lit ("no" on the demo's unlit streets), unlit, highway."""
    from boundaries.demo.town import demo_town

    town = demo_town()
    roads = town.streets.copy()
    unlit_geoms = town.features["unlit_streets"].geometry.values
    unlit = np.isin(np.arange(len(roads)), _matching(roads.geometry.values, unlit_geoms))
    roads["lit"] = np.where(unlit, "no", "yes")
    roads["unlit"] = unlit
    roads["highway"] = np.where(roads["main_road"].to_numpy(), "primary", "residential")
    return roads[["name", "lit", "unlit", "highway", "geometry"]]


def _matching(lines, targets) -> np.ndarray:
    import shapely

    tree = shapely.STRtree(lines)
    pairs = tree.query(targets, predicate="covers")
    same = shapely.equals(np.asarray(targets, dtype=object)[pairs[0]], np.asarray(lines, dtype=object)[pairs[1]])
    return np.unique(pairs[1][same])


@functools.lru_cache(maxsize=2)
def demo_network(seed: int = SEED) -> DemoNetwork:
    """Build the scenario (cached; the same seed always gives the same records and truth)."""
    import shapely

    from hotspot.network.gistar import network_distances
    from hotspot.network.graph import build_network

    rng = np.random.default_rng(seed)
    roads = demo_roads()
    network = build_network(roads, segment_length_m=SEGMENT_LENGTH_M, junctions="crossings")
    lix = network.lixels
    length = lix["length_m"].to_numpy()
    unlit = lix["unlit"].to_numpy(bool)
    main = np.isin(lix["edge"].to_numpy(), np.flatnonzero(network.edges["highway"].to_numpy() == "primary"))
    eligible = np.flatnonzero(~unlit & ~main & (length >= 40) & (length <= 60))
    near = network_distances(network, MIN_HOT_SEPARATION_M)
    hot: list[int] = []
    streets: set[str] = set()
    for k in rng.permutation(eligible):
        name = lix["name"].to_numpy()[k]
        if name in streets or any(near[k, h] > 0 or k == h for h in hot):
            continue
        hot.append(int(k))
        streets.add(name)
        if len(hot) == N_HOT:
            break
    hot = sorted(hot)
    multiplier = np.where(unlit, UNLIT_RRV, 1.0)
    multiplier[hot] *= HOT_RRV
    expected = BASE_PER_M * length * multiplier
    n_per = rng.poisson(expected)
    which = np.repeat(np.arange(length.size), n_per)
    frac = rng.random(which.size)
    points = shapely.line_interpolate_point(np.asarray(lix.geometry.values, dtype=object)[which], frac, normalized=True)
    x, y = shapely.get_x(points), shapely.get_y(points)
    start = pd.Timestamp("2023-01-01")
    days = rng.integers(0, 731, which.size)
    hours = rng.integers(0, 24, which.size)
    when = start + pd.to_timedelta(days, unit="D") + pd.to_timedelta(hours, unit="h")
    types = np.array([t for t, _ in TYPES], dtype=object)[rng.choice(len(TYPES), which.size, p=[p for _, p in TYPES])]
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(x, y)
    names = lix["name"].to_numpy()[which]
    records = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "lon": lon,
            "lat": lat,
            "crime_id": [f"DN{i:06d}" for i in range(which.size)],
            "month": when.strftime("%Y-%m"),
            "datetime": when,
            "crime_type": types,
            "location": np.array([f"On or near {n}" for n in names], dtype=object),
            "lsoa_code": "",
            "lsoa_name": "",
            "outcome": "",
            "source": "demo-network",
            "source_row": np.arange(1, which.size + 1, dtype=np.int64),
        }
    )
    truth = {
        "seed": seed,
        "base_per_m": BASE_PER_M,
        "unlit_rrv": UNLIT_RRV,
        "hot_rrv": HOT_RRV,
        "hot_lixels": hot,
        "hot_streets": [str(lix["name"].to_numpy()[k]) for k in hot],
        "expected_hot": [float(expected[k]) for k in hot],
        "n_records": int(which.size),
        "unlit_length_share": float(length[unlit].sum() / length.sum()),
    }
    return DemoNetwork(roads=roads, network=network, records=records, truth=truth)


def demo_network_study() -> NetworkStudy:
    """The street-network demo scenario, snapped (every record lies on a street)."""
    from hotspot.network.snap import snap_points

    scenario = demo_network()
    study = scenario.study()
    frame = study.records.frame
    snapped = snap_points(scenario.network, frame["x"].to_numpy(), frame["y"].to_numpy(), tolerance_m=1.0)
    return NetworkStudy(
        study=study,
        network=scenario.network,
        snapped=snapped,
        notes=(
            "street-network demo: the demo town's streets with planted hot segments and an "
            "unlit-street effect (boundaries/demo/network.py)",
        )
        + scenario.network.notes,
    )
