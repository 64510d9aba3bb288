"""The demo town's street network: a jittered street lattice, named main roads and a ring road.

Used only by :mod:`boundaries.demo.town`. Every random step draws from the generator passed in,
so the network is a pure function of the demo seed.
"""

from __future__ import annotations

import numpy as np
import shapely

LATTICE_SPACING_M = 250.0
"""Distance between neighbouring lattice streets, metres."""

NODE_JITTER_M = 30.0
"""Standard deviation of the random displacement of each lattice junction, metres (clipped at 2 sd)."""

RING_ROAD_RADIUS_M = 1300.0
"""Radius of the ring road around the town centre, metres."""

_STEMS = (
    "Church",
    "Mill",
    "Park",
    "Victoria",
    "Albert",
    "Queens",
    "Kings",
    "Manor",
    "Chapel",
    "Grange",
    "Orchard",
    "Meadow",
    "Willow",
    "Beech",
    "Oak",
    "Elm",
    "Ash",
    "Cedar",
    "Holly",
    "Hawthorn",
    "Rowan",
    "Birch",
    "Chestnut",
    "Maple",
    "Laurel",
    "Poplar",
    "Sycamore",
    "Windsor",
    "York",
    "Lancaster",
    "Gloucester",
    "Cambridge",
    "Oxford",
    "Stanley",
    "Clarendon",
    "Devonshire",
    "Grosvenor",
    "Beaconsfield",
    "Salisbury",
    "Marlborough",
    "Wellington",
    "Nelson",
    "Trafalgar",
    "Waterloo",
    "Alexandra",
    "Coronation",
    "Jubilee",
    "St John's",
    "St Mary's",
    "St Peter's",
    "St Andrew's",
    "Priory",
    "Abbey",
    "Castle",
    "Brook",
    "Riverside",
    "Greenfield",
    "Northfield",
    "Southfield",
    "Westfield",
    "Highfield",
    "Fairfield",
    "Longmead",
    "Broad",
    "Green",
    "Hill",
    "Mount",
    "Spring",
    "Well",
    "Forge",
    "Tannery",
    "Foundry",
    "Brewery",
    "Malting",
    "Cemetery",
    "Hospital",
    "School",
    "College",
    "Canal",
    "Wharf",
    "Tower",
    "Hunters",
    "Foxhill",
    "Badger",
    "Kestrel",
    "Heron",
    "Swallow",
    "Lark",
    "Linnet",
    "Falcon",
    "Cherry",
    "Plum",
    "Hazel",
    "Juniper",
    "Lime",
    "Larch",
    "Pine",
    "Yew",
    "Alder",
    "Heather",
    "Bramble",
    "Clover",
    "Primrose",
    "Bluebell",
    "Foxglove",
    "Lavender",
    "Tennyson",
    "Shakespeare",
    "Milton",
    "Byron",
    "Keats",
    "Wordsworth",
    "Chaucer",
    "Dickens",
    "Hardy",
    "Elgar",
    "Newton",
    "Darwin",
    "Faraday",
    "Brunel",
    "Telford",
    "Stephenson",
    "Cromwell",
    "Churchill",
    "Gladstone",
    "Disraeli",
    "Palmerston",
    "Peel",
    "Balmoral",
    "Sandringham",
    "Osborne",
    "Kensington",
    "Richmond",
    "Hampton",
    "Ascot",
    "Belvoir",
    "Cavendish",
    "Percy",
    "Russell",
    "Howard",
    "Spencer",
    "Neville",
    "Beaumont",
    "Hastings",
    "Warwick",
    "Stafford",
    "Rutland",
    "Ferrers",
    "Ivanhoe",
    "Kenilworth",
    "Lichfield",
    "Ludlow",
    "Malvern",
    "Tewkesbury",
    "Evesham",
    "Buxton",
    "Matlock",
    "Ashby",
    "Melton",
    "Hinckley",
    "Lutterworth",
    "Burton",
    "Sutton",
    "Norton",
    "Aston",
    "Weston",
    "Easton",
    "Preston",
    "Charnwood",
    "Bradgate",
    "Swithland",
    "Quorn",
    "Rothley",
    "Anstey",
    "Glenfield",
)
_CENTRAL_SUFFIXES = ("Street", "Lane", "Row", "Place", "Yard", "Walk")
_SUBURBAN_SUFFIXES = (
    "Road",
    "Avenue",
    "Close",
    "Drive",
    "Way",
    "Crescent",
    "Grove",
    "Gardens",
    "Lane",
    "Street",
    "Rise",
    "View",
)

MAIN_ROAD_NAMES = {
    # (axis, half) -> name: the lattice lines through the centre become the main roads out of town.
    ("row", "west"): "Bedford Road",
    ("row", "centre"): "High Street",
    ("row", "east"): "London Road",
    ("col", "north"): "Leicester Road",
    ("col", "centre"): "Market Street",
    ("col", "south"): "Station Road",
}
RING_ROAD_NAME = "Queensway"


def build_streets(
    rng: np.random.Generator, centre: tuple[float, float], outline, exclusions
) -> tuple[list[str], list, list[bool]]:
    """Named street LineStrings clipped to ``outline`` and kept out of ``exclusions`` (a polygon, e.g. a lake).

    Returns ``(names, lines, is_main_road)``. Lines are in metres around ``centre`` (x, y).
    """
    cx, cy = centre
    minx, miny, maxx, maxy = outline.bounds
    half = int(np.ceil(max(maxx - cx, cx - minx, maxy - cy, cy - miny) / LATTICE_SPACING_M)) + 1
    idx = np.arange(-half, half + 1)
    n = idx.size
    angle = rng.uniform(-0.25, 0.25)  # radians: a town's street grid is rarely aligned with the National Grid
    gi, gj = np.meshgrid(idx, idx, indexing="ij")  # gi: column (east), gj: row (north)
    jitter = np.clip(rng.normal(0.0, NODE_JITTER_M, size=(2, n, n)), -2 * NODE_JITTER_M, 2 * NODE_JITTER_M)
    # main-road junctions are jittered less so the roads out of town read as roads, not zig-zags
    main = (gi == 0) | (gj == 0)
    jitter[:, main] *= 0.3
    u = gi * LATTICE_SPACING_M + jitter[0]
    v = gj * LATTICE_SPACING_M + jitter[1]
    nx = cx + u * np.cos(angle) - v * np.sin(angle)
    ny = cy + u * np.sin(angle) + v * np.cos(angle)

    pieces: list[tuple[str, np.ndarray, int]] = []  # (kind, coords, lattice offset of the line)
    for axis in ("row", "col"):
        for k in range(n):
            if axis == "row":
                xs, ys, offset = nx[:, k], ny[:, k], idx[k]
            else:
                xs, ys, offset = nx[k, :], ny[k, :], idx[k]
            if offset == 0:
                # the main road through the centre: three named stretches
                a, b = half - 2, half + 2
                names = ("west", "centre", "east") if axis == "row" else ("south", "centre", "north")
                for label, (s, e) in zip(names, ((0, a + 1), (a, b + 1), (b, n))):
                    pieces.append((f"main:{axis}:{label}", np.column_stack([xs[s:e], ys[s:e]]), 0))
                continue
            start = 0
            while start < n - 1:
                length = int(rng.integers(2, 7))
                stop = min(start + length, n - 1)
                if rng.random() > 0.12:  # the rest are gaps: fields, rail land, back gardens
                    pieces.append((axis, np.column_stack([xs[start : stop + 1], ys[start : stop + 1]]), int(offset)))
                start = stop
    theta = np.linspace(0.0, 2 * np.pi, 97)
    ring = np.column_stack([cx + RING_ROAD_RADIUS_M * np.cos(theta), cy + RING_ROAD_RADIUS_M * np.sin(theta)])
    pieces.append(("main:ring", ring, 0))

    lines = np.array([shapely.LineString(p[1]) for p in pieces], dtype=object)
    keep_area = outline.difference(exclusions.buffer(25.0))
    clipped = shapely.intersection(lines, keep_area)

    used: set[str] = set()
    names: list[str] = []
    out_lines: list = []
    main_flags: list[bool] = []
    for (kind, _, _), geom in zip(pieces, clipped):
        parts = [
            g for g in shapely.get_parts(shapely.line_merge(geom)) if g.geom_type == "LineString" and g.length >= 60.0
        ]
        if not parts:
            continue
        if kind.startswith("main:"):
            if kind == "main:ring":
                name = RING_ROAD_NAME
            else:
                _, axis, label = kind.split(":")
                name = MAIN_ROAD_NAMES[(axis, label)]
            is_main = True
        else:
            mid = shapely.line_interpolate_point(parts[0], 0.5, normalized=True)
            central = np.hypot(mid.x - cx, mid.y - cy) < 700.0
            name = _unique_name(rng, used, central)
            is_main = False
        used.add(name)
        for part in parts:
            names.append(name)
            out_lines.append(part)
            main_flags.append(is_main)
    return names, out_lines, main_flags


def _unique_name(rng: np.random.Generator, used: set[str], central: bool) -> str:
    suffixes = _CENTRAL_SUFFIXES if central else _SUBURBAN_SUFFIXES
    for _ in range(200):
        name = f"{_STEMS[rng.integers(len(_STEMS))]} {suffixes[rng.integers(len(suffixes))]}"
        if name not in used:
            return name
    # the name space (~2,000 combinations) is far larger than the ~450 streets, so this is a safety net only
    return f"{_STEMS[rng.integers(len(_STEMS))]} {suffixes[rng.integers(len(suffixes))]} {len(used)}"
