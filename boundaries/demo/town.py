"""Demoton: an embedded synthetic UK town whose crime pattern is known exactly.

``demo_town()`` builds it deterministically from a seed (default :data:`DEMO_SEED`): about
100 LSOA-like areas and 6 wards, a street network with UK street names and police.uk-style
snap points, licensed premises, street lights, bus stops, a decoy feature and two years of
crimes (2023-01-01 .. 2024-12-31) with dates and times. ``DemoTown.truth`` exports every
planted parameter (JSON-serialisable) so tests can check that Gi*, KDE and RTM recover them;
``write_demo()`` writes the town as ordinary input files. It is also what a new user sees.

The planted model (all distances metres, British National Grid EPSG:27700)
==========================================================================

=====================  ===========================================================================
what                   where / how big
=====================  ===========================================================================
town                   centred on E 450000 N 300000; irregular rounded outline, radius ~3.5 km
                       (about 7 x 7 km); ~155,000 residents in ~100 LSOAs (Voronoi cells, denser in
                       the centre), grouped into 6 wards (a central ward plus 5 sectors)
streets                jittered 250 m lattice rotated a few degrees, cut into named streets; main
                       roads through the centre (High Street, London Road, Station Road, ...) and a
                       1.3 km ring road (Queensway); snap points every 60 m ("On or near <street>")
                       plus one at each nightclub ("On or near Nightclub"), as police.uk has
quiet area             "Demoton Water" reservoir and country park, circle radius 350 m centred at
                       (-1600 m, +1300 m) from the town centre: no streets, no features and
                       intensity exactly 0 for every crime type
grid                   50 m cells of ``Grid.from_bounds(*outline.bounds, 50)``; the model domain is
                       the cells whose centre is inside the outline (``truth["grid"]``)
violence (RTM          lambda(cell) = base * 3.0^[d_lp <= 150] * 2.0^[d_unlit <= 100]
outcome)                              * 1.5^[d_bus <= 50]  (post boxes: rrv 1.0, no effect)
                       expected crimes per 50 m cell over the two years, with base = 0.45 and
                       d_k the exact Euclidean distance from the cell centre to the nearest
                       feature geometry of kind k (points; unlit street lines); 0 in the quiet area.
                       Counts per cell are Poisson(lambda); each crime is uniform inside its cell
                       (redrawn within the cell if it falls outside the outline or in the lake)
NTE quarter            36 licensed premises (16 pubs, 12 bars, 5 nightclubs, 3 off-licences) on the
                       streets within 400 m of the town centre; 12 suburban pubs and 8 off-licences
                       elsewhere. Violence in cells within 150 m of any licensed premises: 65 % of
                       it is timed in the NTE window (nights starting Fri or Sat, 22:00-03:00; a
                       night belongs to the day it starts), the rest follows the normal profile
unlit streets          10 % of the streets (by count), drawn from the minor streets whose midpoint is
                       more than 550 m from the centre (so spread through town, separable from the
                       NTE quarter); their street lights have ``lit == False``; all others are lit
bus stops              every ~350 m along the main roads and ring road
decoy                  60 post boxes on random streets; NO effect on any crime type
burglary cluster       Gaussian bump, sigma 200 m, centred at (+1700 m, -1100 m) from the centre,
                       300 expected burglaries on top of 800 spread by residential density
other crime types      mixtures of residential density, town-centre bumps and licensed-premises
                       proximity (see ``_OTHER_TYPES``); expected totals in ``truth["crime_types"]``
times                  each type has a weekday, hour-of-day and seasonal profile (burglary weekday
                       daytime/evening, ASB evenings, shoplifting shop hours); times are assigned
                       after places, so the spatial model is exactly as above regardless of time
=====================  ===========================================================================

Positions of planted items are fixed offsets from the town centre; the geometry (outline
wobble, LSOAs, street jitter, which streets are unlit, venue positions) and every count come
from the seed. The police.uk files written by :func:`write_demo` snap coordinates to the
nearest snap point and drop the location of ~3 % of rows, as police.uk does; the precise
points stay in ``DemoTown.crimes`` and ``crimes_with_times.csv``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DEMO_SEED = 20230101
"""The seed of the published demo town."""

CRS = "EPSG:27700"
CENTRE_XY = (450_000.0, 300_000.0)
"""Town centre (easting, northing), metres."""
TOWN_RADIUS_M = 3500.0
"""Mean radius of the town outline, metres."""
N_LSOAS = 100
N_WARDS = 6
PERIOD = ("2023-01-01", "2024-12-31")
CELL_SIZE_M = 50.0
"""Side of the truth raster's cells, metres."""

NTE_RADIUS_M = 400.0
"""Radius of the NTE quarter around the town centre, metres."""
QUIET_OFFSET_M = (-1600.0, 1300.0)
QUIET_RADIUS_M = 350.0
BURGLARY_OFFSET_M = (1700.0, -1100.0)
BURGLARY_SIGMA_M = 200.0
BURGLARY_CLUSTER_EXPECTED = 300.0
BURGLARY_BACKGROUND_EXPECTED = 800.0

VIOLENCE = "Violence and sexual offences"
VIOLENCE_BASE_PER_CELL = 0.45
"""Expected violent crimes per 50 m cell over the two years away from every planted factor."""
RTM_FACTORS = {
    "licensed_premises": {"operationalisation": "proximity", "distance_m": 150, "rrv": 3.0, "planted": True},
    "unlit_streets": {"operationalisation": "proximity", "distance_m": 100, "rrv": 2.0, "planted": True},
    "bus_stops": {"operationalisation": "proximity", "distance_m": 50, "rrv": 1.5, "planted": True},
    "decoy": {"rrv": 1.0, "planted": False},
}
NTE_WINDOW = {"days": ["Fri", "Sat"], "start": "22:00", "end": "03:00", "start_hour": 22, "end_hour": 3}
NTE_SHARE_IN_WINDOW = 0.65
"""Share of violence within the licensed-premises influence that is timed in the NTE window (before
the background profile, which puts a few more there by chance)."""

# Other crime types: expected two-year total and spatial mixture (component -> weight).
# Components: res = residential density, centre<s> = Gaussian bump of sd s m on the centre,
# lp = within 150 m of licensed premises, uniform, retail = two retail parks.
_OTHER_TYPES: dict[str, tuple[float, dict[str, float]]] = {
    "Anti-social behaviour": (5600.0, {"res": 0.45, "centre500": 0.30, "lp": 0.15, "uniform": 0.10}),
    "Criminal damage and arson": (1900.0, {"res": 0.7, "centre800": 0.2, "uniform": 0.1}),
    "Shoplifting": (1700.0, {"centre350": 0.75, "retail": 0.25}),
    "Public order": (1600.0, {"centre400": 0.45, "res": 0.35, "lp": 0.2}),
    "Vehicle crime": (1300.0, {"res": 0.6, "centre700": 0.25, "uniform": 0.15}),
    "Other theft": (1200.0, {"centre500": 0.5, "res": 0.3, "lp": 0.2}),
    "Drugs": (500.0, {"centre400": 0.5, "res": 0.5}),
    "Other crime": (350.0, {"res": 1.0}),
    "Bicycle theft": (300.0, {"centre600": 0.7, "res": 0.3}),
    "Theft from the person": (250.0, {"centre350": 0.8, "lp": 0.2}),
    "Robbery": (200.0, {"centre500": 0.6, "res": 0.4}),
    "Possession of weapons": (150.0, {"centre500": 0.5, "res": 0.5}),
}
BURGLARY = "Burglary"
RETAIL_OFFSETS_M = ((-900.0, -1500.0), (2100.0, 600.0))

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Time profiles: weekday weights Mon..Sun, hour-of-day weights 0..23, seasonal amplitude and peak month.
_GENERIC_HOURS = [
    2,
    1.5,
    1,
    0.8,
    0.6,
    0.6,
    0.8,
    1.5,
    2.5,
    3,
    3.5,
    4,
    4.5,
    4.5,
    4.5,
    5,
    5.5,
    5.5,
    5.5,
    5,
    4.5,
    4,
    3.5,
    2.5,
]
_PROFILES: dict[str, tuple[list[float], list[float], float, int]] = {
    VIOLENCE: (
        [0.8, 0.8, 0.85, 0.9, 1.1, 1.4, 1.3],
        [5, 4, 3, 2, 1.5, 1, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4, 4, 4.5, 5, 5.5, 6, 6, 6.5, 6.5, 6.5, 6],
        0.12,
        7,
    ),
    "Anti-social behaviour": (
        [0.9, 0.9, 0.9, 1, 1.2, 1.2, 1],
        [2, 1.5, 1, 0.7, 0.5, 0.5, 0.7, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5.5, 6.5, 7, 7.5, 7.5, 7, 6, 4.5, 3],
        0.2,
        7,
    ),
    BURGLARY: (
        [1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.75],
        [2, 1.5, 1.2, 1, 1, 1, 1.2, 2, 3, 3.5, 4, 4, 4, 4, 4, 4.5, 5, 5.5, 6, 6, 5.5, 4.5, 3.5, 2.5],
        0.2,
        12,
    ),
    "Shoplifting": (
        [1, 1, 1, 1, 1.1, 1.2, 0.8],
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1, 2.5, 4, 5, 6, 6.5, 6.5, 6.5, 6.5, 6, 5.5, 4, 3, 2, 0.5, 0.2],
        0.08,
        12,
    ),
    "Public order": ([0.8, 0.8, 0.85, 0.9, 1.1, 1.4, 1.3], _GENERIC_HOURS[:18] + [6, 6.5, 6.5, 6, 5, 4], 0.1, 7),
}
_OUTCOMES = [
    ("Investigation complete; no suspect identified", 0.38),
    ("Unable to prosecute suspect", 0.29),
    ("Court result unavailable", 0.06),
    ("Local resolution", 0.06),
    ("Action to be taken by another organisation", 0.04),
    ("Further action is not in the public interest", 0.03),
    ("Awaiting court outcome", 0.04),
    ("Offender given a caution", 0.02),
    ("Under investigation", 0.05),
    ("Status update unavailable", 0.03),
]
_OUTCOMES_DRUGS = [
    ("Local resolution", 0.35),
    ("Court result unavailable", 0.2),
    ("Offender given a drugs possession warning", 0.15),
    ("Unable to prosecute suspect", 0.1),
    ("Awaiting court outcome", 0.1),
    ("Under investigation", 0.05),
    ("Offender given a caution", 0.05),
]
POLICE_UK_COLUMNS = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
FORCE_NAME = "Demoton Police"
NO_LOCATION_SHARE = 0.03
"""Share of police.uk rows written with no location, as police.uk publishes a few percent."""
SNAP_SPACING_M = 60.0
LIGHT_SPACING_M = 35.0
BUS_STOP_SPACING_M = 350.0
TOWN_NAME = "Demoton"

_WARD_NAMES = {  # compass direction of a ward's sector -> name
    "N": "Northfields",
    "NE": "Brookside",
    "E": "Eastgate",
    "SE": "Hollybank",
    "S": "Southmead",
    "SW": "Fairway",
    "W": "Westfield",
    "NW": "Millbrook",
}
_PUB_NAMES = (
    "The Red Lion",
    "The Crown",
    "The King's Head",
    "The White Hart",
    "The Royal Oak",
    "The Plough",
    "The Swan",
    "The Black Horse",
    "The Bell",
    "The George",
    "The Wheatsheaf",
    "The Rose and Crown",
    "The Fox and Hounds",
    "The Green Man",
    "The Queen's Head",
    "The Three Horseshoes",
    "The Nag's Head",
    "The Angel",
    "The Star",
    "The Anchor",
    "The Railway",
    "The Feathers",
    "The Bull",
    "The Cross Keys",
    "The Lamb",
    "The Old Mill",
    "The Cricketers",
    "The Chequers",
    "The Kings Arms",
    "The Coach and Horses",
)
_BAR_NAMES = (
    "Revolution",
    "Slug and Lettuce",
    "Bar Loco",
    "The Alchemist",
    "Cosy Club",
    "Brewdog Demoton",
    "Lola's",
    "The Cocktail Cabinet",
    "Vodka Revs",
    "Cafe Nero Bar",
    "Tapped",
    "Sixty Six",
    "The Gin Room",
    "Oak and Ivy",
    "Hops",
)
_CLUB_NAMES = ("Atlas", "Pryzm Demoton", "The Venue", "Level One", "Mosaic", "Funktion")
_OFFLICENCE_NAMES = (
    "Bargain Booze",
    "Demoton Wines",
    "Premier Stores",
    "Londis",
    "Costcutter",
    "Select Convenience",
    "Nisa Local",
    "One Stop",
    "Spar",
    "Wine Rack",
    "Corner Shop Offy",
)


@dataclass
class DemoTown:
    """The demo town: geography, risk features, crimes and the exact truth they were drawn from.

    The GeoDataFrames are shared by every caller of the cached :func:`demo_town`; copy before changing them.

    Attributes
    ----------
    crs : str
        ``"EPSG:27700"`` (metres).
    lsoas : GeoDataFrame
        ``area_code`` ("D01000001"), ``area_name`` ("Demoton 001A"), ``ward_code``, ``population``, geometry.
    wards : GeoDataFrame
        ``area_code`` ("D05000001"), ``area_name``, geometry (dissolved from the LSOAs).
    outline : shapely Polygon
        The study area (the union of the LSOAs).
    streets : GeoDataFrame
        ``name``, ``main_road`` (bool), LineString geometry.
    snap_points : GeoDataFrame
        ``point_id``, ``location`` ("On or near <street>"), point geometry: police.uk-style anonymisation points.
    features : dict of str to GeoDataFrame
        ``licensed_premises`` (kind, name), ``street_lights`` (lit), ``unlit_streets`` (name, lines),
        ``bus_stops`` (name), ``decoy`` (post boxes: kind, name).
    quiet_area : shapely Polygon
        The reservoir and country park where every crime type has intensity 0.
    crimes : DataFrame
        Exactly the columns of ``hotspot.core.records.RECORD_COLUMNS``; precise x, y in metres.
    truth : dict
        Every planted parameter, JSON-serialisable (see the module docstring).
    grid : hotspot.core.grid.Grid
        The 50 m truth raster (``truth["grid"]``).
    domain : numpy.ndarray
        Boolean ``grid.shape``: cells whose centre is inside the outline.
    intensity : dict of str to numpy.ndarray
        Per crime type, the expected number of crimes per cell over the two years (``grid.shape``; 0 off the domain).
    """

    crs: str
    lsoas: object
    wards: object
    outline: object
    streets: object
    snap_points: object
    features: dict
    quiet_area: object
    crimes: pd.DataFrame
    truth: dict
    grid: object
    domain: np.ndarray
    intensity: dict = field(default_factory=dict)

    def records(self):
        """The crimes as ``hotspot.core.records.Records`` (has_times=True, sources=["demo"], crs EPSG:27700)."""
        from hotspot.core.records import Records

        return Records(frame=self.crimes.copy(), crs=self.crs, has_times=True, sources=["demo"])


@functools.lru_cache(maxsize=4)
def demo_town(seed: int = DEMO_SEED) -> DemoTown:
    """Build the demo town from ``seed`` (default :data:`DEMO_SEED`); cached, so repeated calls are free.

    The same seed always gives identical geography, crimes and truth; see the module docstring for the model.
    """
    import geopandas as gpd
    import shapely

    from hotspot.core.grid import Grid

    rng = np.random.default_rng(seed)
    cx, cy = CENTRE_XY
    outline = _outline(rng)
    quiet = shapely.Point(cx + QUIET_OFFSET_M[0], cy + QUIET_OFFSET_M[1]).buffer(QUIET_RADIUS_M, quad_segs=16)

    lsoas, wards = _areas(rng, outline, seed)
    outline = shapely.union_all(lsoas.geometry.values)  # exactly the union, so "inside the outline" == "in an LSOA"
    if outline.geom_type != "Polygon":
        outline = max(shapely.get_parts(outline), key=lambda g: g.area)

    from boundaries.demo.streets import build_streets

    names, lines, main_flags = build_streets(rng, CENTRE_XY, outline, quiet)
    streets = gpd.GeoDataFrame({"name": names, "main_road": main_flags}, geometry=lines, crs=CRS)

    features, unlit_idx = _features(rng, streets)
    snap_points = _snap_points(streets, features["licensed_premises"])

    grid = Grid.from_bounds(*outline.bounds, cell_size=CELL_SIZE_M, crs=CRS)
    domain = grid.mask_from_geometry(outline)
    in_quiet = grid.mask_from_geometry(quiet)
    live = domain & ~in_quiet
    xs, ys = grid.cell_centres()

    near = {
        "licensed_premises": _distance_to(features["licensed_premises"].geometry.values, xs, ys)
        <= RTM_FACTORS["licensed_premises"]["distance_m"],
        "unlit_streets": _distance_to(features["unlit_streets"].geometry.values, xs, ys)
        <= RTM_FACTORS["unlit_streets"]["distance_m"],
        "bus_stops": _distance_to(features["bus_stops"].geometry.values, xs, ys)
        <= RTM_FACTORS["bus_stops"]["distance_m"],
    }
    multiplier = np.ones(grid.shape)
    for name, mask in near.items():
        multiplier *= np.where(mask, RTM_FACTORS[name]["rrv"], 1.0)
    intensity = {VIOLENCE: np.where(live, VIOLENCE_BASE_PER_CELL * multiplier, 0.0)}

    # residential density: residents per m^2 of the LSOA holding the cell centre
    cell_lsoa = _lsoa_of(lsoas, xs.ravel(), ys.ravel()).reshape(grid.shape)
    density = lsoas["population"].to_numpy(float) / lsoas.geometry.area.to_numpy()
    res = np.where(cell_lsoa >= 0, density[np.clip(cell_lsoa, 0, None)], 0.0)
    components = {
        "res": res,
        "uniform": np.ones(grid.shape),
        "lp": near["licensed_premises"].astype(float),
        "retail": sum(_bump(xs, ys, cx + ox, cy + oy, 120.0) for ox, oy in RETAIL_OFFSETS_M),
    }
    for sd in (350, 400, 500, 600, 700, 800):
        components[f"centre{sd}"] = _bump(xs, ys, cx, cy, float(sd))
    for crime_type, (total, mix) in _OTHER_TYPES.items():
        surface = np.zeros(grid.shape)
        for comp, share in mix.items():
            c = np.where(live, components[comp], 0.0)
            surface += share * c / c.sum()
        intensity[crime_type] = total * surface
    burglary_centre = (cx + BURGLARY_OFFSET_M[0], cy + BURGLARY_OFFSET_M[1])
    bump = np.where(live, _bump(xs, ys, *burglary_centre, BURGLARY_SIGMA_M), 0.0)
    background = np.where(live, res, 0.0)
    burglary_cluster_intensity = BURGLARY_CLUSTER_EXPECTED * bump / bump.sum()
    intensity[BURGLARY] = BURGLARY_BACKGROUND_EXPECTED * background / background.sum() + burglary_cluster_intensity

    crimes = _crimes(rng, seed, grid, intensity, near["licensed_premises"], outline, quiet, lsoas, snap_points)

    features_out = dict(features)
    truth = _truth(seed, outline, lsoas, grid, intensity, crimes, quiet, burglary_centre, features_out)
    lsoas = lsoas.drop(columns=["_cx", "_cy"], errors="ignore")
    return DemoTown(
        crs=CRS,
        lsoas=lsoas,
        wards=wards,
        outline=outline,
        streets=streets,
        snap_points=snap_points,
        features=features_out,
        quiet_area=quiet,
        crimes=crimes,
        truth=truth,
        grid=grid,
        domain=domain,
        intensity=intensity,
    )


# --- geography ---------------------------------------------------------------------------------


def _outline(rng: np.random.Generator):
    import shapely

    theta = np.linspace(0.0, 2 * np.pi, 257)[:-1]
    phase = rng.uniform(0, 2 * np.pi, 3)
    r = TOWN_RADIUS_M * (
        1
        + 0.07 * np.sin(2 * theta + phase[0])
        + 0.05 * np.sin(3 * theta + phase[1])
        + 0.03 * np.sin(5 * theta + phase[2])
    )
    cx, cy = CENTRE_XY
    return shapely.Polygon(np.column_stack([cx + r * np.cos(theta), cy + r * np.sin(theta)]))


def _areas(rng: np.random.Generator, outline, seed: int):
    """LSOAs (Voronoi cells of seeds denser in the centre) with codes, names, population; wards dissolved from them."""
    import geopandas as gpd
    import shapely
    from scipy.cluster.vq import kmeans2

    cx, cy = CENTRE_XY
    minx, miny, maxx, maxy = outline.bounds
    # best-candidate sampling: spread points evenly relative to a target spacing that grows outwards,
    # so central LSOAs are small (dense housing) and outer ones large, each with a similar population
    seeds = np.empty((0, 2))
    shapely.prepare(outline)
    while len(seeds) < N_LSOAS:
        cand = np.column_stack([rng.uniform(minx, maxx, 40), rng.uniform(miny, maxy, 40)])
        cand = cand[shapely.contains_xy(outline, cand[:, 0], cand[:, 1])]
        if not len(cand):
            continue
        spacing = 0.45 + np.hypot(cand[:, 0] - cx, cand[:, 1] - cy) / TOWN_RADIUS_M
        if len(seeds):
            d = np.min(np.hypot(cand[:, None, 0] - seeds[None, :, 0], cand[:, None, 1] - seeds[None, :, 1]), axis=1)
        else:
            d = np.ones(len(cand))
        seeds = np.vstack([seeds, cand[np.argmax(d / spacing)]])
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=outline.buffer(1000), ordered=True)
    polys = shapely.intersection(np.asarray(shapely.get_parts(cells)), outline)
    # keep one polygon per cell (a clip can leave a sliver as a second part)
    polys = np.array(
        [p if p.geom_type == "Polygon" else max(shapely.get_parts(p), key=lambda g: g.area) for p in polys]
    )
    cent = shapely.centroid(polys)
    px, py = shapely.get_x(cent), shapely.get_y(cent)

    # MSOA-like groups of ~5 LSOAs give the "Demoton 001A" names; numbered north to south as ONS does
    _, msoa = kmeans2(np.column_stack([px, py]), 20, seed=seed, minit="++")
    msoa_y = pd.Series(py).groupby(msoa).mean().sort_values(ascending=False)
    msoa_number = {m: i + 1 for i, m in enumerate(msoa_y.index)}
    frame = pd.DataFrame({"msoa": [msoa_number[m] for m in msoa], "y": py, "x": px})
    frame["letter_rank"] = frame.groupby("msoa")["y"].rank(ascending=False, method="first").astype(int)
    order = frame.sort_values(["msoa", "letter_rank"]).index.to_numpy()
    frame = frame.loc[order].reset_index(drop=True)
    polys = polys[order]
    n = len(frame)
    codes = [f"D01{i + 1:06d}" for i in range(n)]
    names = [f"{TOWN_NAME} {m:03d}{chr(64 + r)}" for m, r in zip(frame["msoa"], frame["letter_rank"])]
    population = np.clip(np.round(rng.normal(1550, 220, n)), 1000, 2400).astype(np.int64)

    # wards: a central ward, then sectors of the rest with equal numbers of LSOAs
    dx, dy = frame["x"].to_numpy() - cx, frame["y"].to_numpy() - cy
    dist = np.hypot(dx, dy)
    central = dist <= np.quantile(dist, 0.2)
    angle = (np.arctan2(dy, dx) - rng.uniform(0, 2 * np.pi)) % (2 * np.pi)
    outer = np.flatnonzero(~central)
    sector = np.empty(n, dtype=int)
    sector[central] = 0
    ranks = np.argsort(np.argsort(angle[outer]))
    sector[outer] = 1 + ranks * (N_WARDS - 1) // len(outer)
    ward_names = ["Castle"]
    used = set()
    for s in range(1, N_WARDS):
        mean_angle = np.arctan2(dy[sector == s].mean(), dx[sector == s].mean())
        compass = ["E", "NE", "N", "NW", "W", "SW", "S", "SE"]
        k = int(np.round(mean_angle / (np.pi / 4))) % 8
        while compass[k] in used:
            k = (k + 1) % 8
        used.add(compass[k])
        ward_names.append(_WARD_NAMES[compass[k]])
    ward_codes = [f"D05{i + 1:06d}" for i in range(N_WARDS)]
    lsoas = gpd.GeoDataFrame(
        {
            "area_code": codes,
            "area_name": names,
            "ward_code": [ward_codes[s] for s in sector],
            "population": population,
        },
        geometry=polys,
        crs=CRS,
    )
    wards = lsoas.dissolve(by="ward_code", as_index=False)[["ward_code", "geometry"]]
    wards = wards.rename(columns={"ward_code": "area_code"})
    wards.insert(1, "area_name", [ward_names[ward_codes.index(c)] for c in wards["area_code"]])
    wards["population"] = lsoas.groupby("ward_code")["population"].sum().reindex(wards["area_code"]).to_numpy()
    wards = gpd.GeoDataFrame(wards[["area_code", "area_name", "population", "geometry"]], geometry="geometry", crs=CRS)
    return lsoas, wards


def _points_along(lines, spacing_m: float, offset_m: float = 0.0):
    """Points every ``spacing_m`` metres along each line (at least one, at the middle of short lines).

    Returns ``(points, line_index)``.
    """
    import shapely

    lines = np.asarray(lines)
    lengths = shapely.length(lines)
    counts = np.maximum(1, np.floor((lengths - offset_m) / spacing_m).astype(int) + 1)
    line_index = np.repeat(np.arange(len(lines)), counts)
    step = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    dist = offset_m + step * spacing_m
    dist = np.where(
        np.repeat(counts == 1, counts), np.repeat(lengths / 2, counts), np.minimum(dist, np.repeat(lengths, counts))
    )
    return shapely.line_interpolate_point(lines[line_index], dist), line_index


def _features(rng: np.random.Generator, streets):
    import geopandas as gpd
    import shapely

    cx, cy = CENTRE_XY
    lines = streets.geometry.values
    cand, _ = _points_along(lines, 10.0, 5.0)
    candx, candy = shapely.get_x(cand), shapely.get_y(cand)
    rc = np.hypot(candx - cx, candy - cy)

    def pick(mask, k):
        idx = rng.choice(np.flatnonzero(mask), size=k, replace=False)
        # set back from the street centre line, as buildings are
        return candx[idx] + rng.normal(0, 6, k), candy[idx] + rng.normal(0, 6, k)

    kinds = ["pub"] * 16 + ["bar"] * 12 + ["nightclub"] * 5 + ["off_licence"] * 3
    x1, y1 = pick(rc <= NTE_RADIUS_M - 20, len(kinds))
    kinds2 = ["pub"] * 12 + ["off_licence"] * 8
    x2, y2 = pick((rc >= 900) & (rc <= 3000), len(kinds2))
    all_kinds = kinds + kinds2
    pubs, bars, clubs, offs = (
        list(rng.permutation(n)) for n in (_PUB_NAMES, _BAR_NAMES, _CLUB_NAMES, _OFFLICENCE_NAMES)
    )
    pools = {"pub": pubs, "bar": bars, "nightclub": clubs, "off_licence": offs}
    venue_names = [str(pools[k].pop()) for k in all_kinds]
    premises = gpd.GeoDataFrame(
        {"kind": all_kinds, "name": venue_names, "nte_quarter": [True] * len(kinds) + [False] * len(kinds2)},
        geometry=shapely.points(np.concatenate([x1, x2]), np.concatenate([y1, y2])),
        crs=CRS,
    )

    # unlit: ~10 % of minor streets away from the centre, so their effect is separable from the NTE quarter
    mids = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    rm = np.hypot(shapely.get_x(mids) - cx, shapely.get_y(mids) - cy)
    eligible = np.flatnonzero(~streets["main_road"].to_numpy() & (rm > NTE_RADIUS_M + 150))
    unlit_idx = np.sort(rng.choice(eligible, size=int(round(0.10 * len(streets))), replace=False))
    unlit = gpd.GeoDataFrame({"name": streets["name"].to_numpy()[unlit_idx]}, geometry=lines[unlit_idx], crs=CRS)

    lights, light_line = _points_along(lines, LIGHT_SPACING_M, LIGHT_SPACING_M / 2)
    lit = ~np.isin(light_line, unlit_idx)
    street_lights = gpd.GeoDataFrame(
        {"light_id": np.arange(1, len(lights) + 1), "street": streets["name"].to_numpy()[light_line], "lit": lit},
        geometry=lights,
        crs=CRS,
    )

    main_idx = np.flatnonzero(streets["main_road"].to_numpy())
    stops, stop_line = _points_along(lines[main_idx], BUS_STOP_SPACING_M, rng.uniform(50, 200))
    stop_street = streets["name"].to_numpy()[main_idx][stop_line]
    stop_names = pd.Series(stop_street).groupby(stop_street).cumcount().to_numpy() + 1
    bus_stops = gpd.GeoDataFrame(
        {"name": [f"{s} (stop {k})" for s, k in zip(stop_street, stop_names)]}, geometry=stops, crs=CRS
    )

    idx = rng.choice(len(cand), size=60, replace=False)
    decoy = gpd.GeoDataFrame(
        {"kind": "post_box", "name": [f"Post box DE{1000 + i}" for i in range(60)]},
        geometry=shapely.points(candx[idx], candy[idx]),
        crs=CRS,
    )
    return {
        "licensed_premises": premises,
        "street_lights": street_lights,
        "unlit_streets": unlit,
        "bus_stops": bus_stops,
        "decoy": decoy,
    }, unlit_idx


def _snap_points(streets, premises):
    """Anonymisation points every 60 m along streets, plus police.uk-style facility points at nightclubs."""
    import geopandas as gpd

    pts, line = _points_along(streets.geometry.values, SNAP_SPACING_M, SNAP_SPACING_M / 2)
    locations = ["On or near " + s for s in streets["name"].to_numpy()[line]]
    clubs = premises[premises["kind"] == "nightclub"]
    geoms = np.concatenate([np.asarray(pts), clubs.geometry.values])
    locations += ["On or near Nightclub"] * len(clubs)
    return gpd.GeoDataFrame({"point_id": np.arange(1, len(geoms) + 1), "location": locations}, geometry=geoms, crs=CRS)


def _distance_to(geoms, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Exact distance (metres) from each (x, y) to the nearest of ``geoms``; shape of ``xs``."""
    import shapely

    tree = shapely.STRtree(np.asarray(geoms))
    pts = shapely.points(xs.ravel(), ys.ravel())
    (src, _), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(pts.shape, np.inf)
    out[src] = dist
    return out.reshape(xs.shape)


def _bump(xs, ys, x0: float, y0: float, sd_m: float) -> np.ndarray:
    return np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2.0 * sd_m * sd_m))


def _lsoa_of(lsoas, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row index of the LSOA containing each point, -1 outside all."""
    import shapely

    tree = shapely.STRtree(lsoas.geometry.values)
    src, hit = tree.query(shapely.points(x, y), predicate="intersects")
    out = np.full(len(x), -1, dtype=np.int64)
    out[src[::-1]] = hit[::-1]  # a point on a shared edge takes the first LSOA listed
    return out


# --- crimes ------------------------------------------------------------------------------------


def _crimes(rng, seed, grid, intensity, lp_zone, outline, quiet, lsoas, snap_points) -> pd.DataFrame:
    import shapely
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    from hotspot.core.records import RECORD_COLUMNS

    keep_area = outline.difference(quiet)
    shapely.prepare(keep_area)
    parts = []
    for crime_type, lam in intensity.items():
        counts = rng.poisson(lam.ravel())
        cell = np.repeat(np.arange(counts.size), counts)
        parts.append((crime_type, cell))
    types = np.concatenate([np.full(len(c), t, dtype=object) for t, c in parts])
    cell = np.concatenate([c for _, c in parts])
    row, col = np.divmod(cell, grid.ncols)
    x0 = grid.xmin + col * grid.cell_size
    y1 = grid.ymax - row * grid.cell_size
    x = x0 + rng.uniform(0, grid.cell_size, len(cell))
    y = y1 - rng.uniform(0, grid.cell_size, len(cell))
    # redraw inside the same cell until inside the study area and out of the lake; the per-cell counts are untouched
    for _ in range(60):
        bad = np.flatnonzero(~shapely.contains_xy(keep_area, x, y))
        if not len(bad):
            break
        x[bad] = x0[bad] + rng.uniform(0, grid.cell_size, len(bad))
        y[bad] = y1[bad] - rng.uniform(0, grid.cell_size, len(bad))
    else:  # a cell with only a sliver inside: put the crime on the nearest point of the area
        bad = np.flatnonzero(~shapely.contains_xy(keep_area, x, y))
        inner = keep_area.buffer(-0.5)
        near = shapely.shortest_line(shapely.points(x[bad], y[bad]), inner)
        end = shapely.get_point(near, 1)
        x[bad], y[bad] = shapely.get_x(end), shapely.get_y(end)

    when = _times(rng, types, lp_zone.ravel()[cell])
    order = np.lexsort((cell, types, when))
    types, x, y, when, cell = types[order], x[order], y[order], when[order], cell[order]
    n = len(types)

    lsoa_idx = _lsoa_of(lsoas, x, y)
    _, snap = cKDTree(np.column_stack([snap_points.geometry.x, snap_points.geometry.y])).query(np.column_stack([x, y]))
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    crime_id = np.array([hashlib.sha256(f"demoton-{seed}-{i}".encode()).hexdigest() for i in range(n)], dtype=object)
    outcome = np.full(n, "", dtype=object)
    generic = ~np.isin(types, ["Anti-social behaviour", "Drugs"])
    for mask, table in ((generic, _OUTCOMES), (types == "Drugs", _OUTCOMES_DRUGS)):
        labels, weights = zip(*table)
        w = np.asarray(weights) / sum(weights)
        outcome[mask] = np.asarray(labels, dtype=object)[rng.choice(len(labels), size=int(mask.sum()), p=w)]
    dt = pd.to_datetime(when, unit="m", origin=pd.Timestamp(PERIOD[0])).astype("datetime64[ns]")
    frame = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "lon": np.asarray(lon, float),
            "lat": np.asarray(lat, float),
            "crime_id": crime_id,
            "month": np.asarray(dt.strftime("%Y-%m"), dtype=object),
            "datetime": dt,
            "crime_type": types,
            "location": snap_points["location"].to_numpy()[snap].astype(object),
            "lsoa_code": lsoas["area_code"].to_numpy()[lsoa_idx].astype(object),
            "lsoa_name": lsoas["area_name"].to_numpy()[lsoa_idx].astype(object),
            "outcome": outcome,
            "source": "demo",
            "source_row": np.arange(1, n + 1, dtype=np.int64),
        }
    )
    return frame[list(RECORD_COLUMNS)]


def _times(rng, types: np.ndarray, in_lp_zone: np.ndarray) -> np.ndarray:
    """Minutes since the start of the period for each crime, from its type's weekday/hour/season profile."""
    start = pd.Timestamp(PERIOD[0])
    n_days = (pd.Timestamp(PERIOD[1]) - start).days + 1
    days = pd.date_range(start, periods=n_days, freq="D")
    dow = days.day_of_week.to_numpy()
    doy = days.day_of_year.to_numpy()
    minutes = np.zeros(len(types), dtype=np.int64)
    for crime_type in np.unique(types):
        idx = np.flatnonzero(types == crime_type)
        week, hours, amplitude, peak_month = _PROFILES.get(crime_type, ([1] * 7, _GENERIC_HOURS, 0.05, 7))
        wd = np.asarray(week, float)[dow] * (
            1 + amplitude * np.cos(2 * np.pi * (doy - (peak_month - 0.5) * 30.44) / 365.25)
        )
        day = rng.choice(n_days, size=len(idx), p=wd / wd.sum())
        h = np.asarray(hours, float)
        hour = rng.choice(24, size=len(idx), p=h / h.sum())
        minutes[idx] = day * 1440 + hour * 60 + rng.integers(0, 60, len(idx))
    # the NTE peak: most violence near licensed premises happens on Friday and Saturday nights
    nte = np.flatnonzero((types == VIOLENCE) & in_lp_zone)
    nte = nte[rng.random(len(nte)) < NTE_SHARE_IN_WINDOW]
    nights = np.flatnonzero(np.isin(dow, [4, 5]))
    night = rng.choice(nights, size=len(nte))
    hour = rng.choice([22, 23, 24, 25, 26], size=len(nte), p=[0.15, 0.22, 0.25, 0.22, 0.16])
    minutes[nte] = night * 1440 + hour * 60 + rng.integers(0, 60, len(nte))
    return minutes


# --- truth -------------------------------------------------------------------------------------


def _truth(seed, outline, lsoas, grid, intensity, crimes, quiet, burglary_centre, features) -> dict:
    import shapely

    cx, cy = CENTRE_XY

    def codes_near(x, y, r):
        return sorted(lsoas.loc[lsoas.intersects(shapely.Point(x, y).buffer(r)), "area_code"].tolist())

    def code_at(x, y):
        return str(lsoas["area_code"].to_numpy()[_lsoa_of(lsoas, np.array([x]), np.array([y]))[0]])

    counts = crimes["crime_type"].value_counts()
    total_expected = float(sum(v.sum() for v in intensity.values()))
    crime_types = {
        t: {
            "expected_count": float(lam.sum()),
            "expected_share": float(lam.sum()) / total_expected,
            "count": int(counts.get(t, 0)),
        }
        for t, lam in sorted(intensity.items(), key=lambda kv: -kv[1].sum())
    }
    qx, qy = cx + QUIET_OFFSET_M[0], cy + QUIET_OFFSET_M[1]
    bx, by = burglary_centre
    nte = {
        "x": cx,
        "y": cy,
        "centre": [cx, cy],
        "radius_m": NTE_RADIUS_M,
        "crime_type": VIOLENCE,
        "n_licensed_premises": int(features["licensed_premises"]["nte_quarter"].sum()),
        "lsoa_codes": codes_near(cx, cy, NTE_RADIUS_M),
        "lsoa_code_at_centre": code_at(cx, cy),
    }
    burglary = {
        "x": bx,
        "y": by,
        "centre": [bx, by],
        "radius_m": 2 * BURGLARY_SIGMA_M,
        "sigma_m": BURGLARY_SIGMA_M,
        "crime_type": BURGLARY,
        "expected_count": BURGLARY_CLUSTER_EXPECTED,
        "lsoa_codes": codes_near(bx, by, 2 * BURGLARY_SIGMA_M),
        "lsoa_code_at_centre": code_at(bx, by),
    }
    quiet_area = {
        "x": qx,
        "y": qy,
        "centre": [qx, qy],
        "radius_m": QUIET_RADIUS_M,
        "name": "Demoton Water",
        "intensity": 0.0,
        "polygon_wkt": shapely.to_wkt(quiet, rounding_precision=2),
    }
    lam = intensity[VIOLENCE]
    return {
        "town": TOWN_NAME,
        "seed": int(seed),
        "crs": CRS,
        "centre": [cx, cy],
        "extent": [float(v) for v in outline.bounds],
        "period": {"start": PERIOD[0], "end": PERIOD[1], "months": 24},
        "population": int(lsoas["population"].sum()),
        "n_lsoas": int(len(lsoas)),
        "n_crimes": int(len(crimes)),
        "crime_types": crime_types,
        "expected_counts": {t: v["expected_count"] for t, v in crime_types.items()},
        "grid": {
            "xmin": grid.xmin,
            "ymax": grid.ymax,
            "cell_size": grid.cell_size,
            "cell_size_m": grid.cell_size,
            "ncols": grid.ncols,
            "nrows": grid.nrows,
            "crs": CRS,
            "domain": "cells whose centre is inside the outline; intensity is 0 in the quiet area",
        },
        "rtm": {
            "outcome_crime_type": VIOLENCE,
            "cell_size_m": int(CELL_SIZE_M),
            "distance_step_m": int(CELL_SIZE_M),
            "factors": {k: dict(v) for k, v in RTM_FACTORS.items()},
            "base_rate_per_cell": VIOLENCE_BASE_PER_CELL,
            "model": "lambda(cell) = base_rate_per_cell * prod_k rrv_k ** [distance from cell centre to nearest "
            "feature k <= distance_m]; 0 where the cell centre is in the quiet area; counts Poisson",
            "distance": "exact Euclidean distance in metres from the cell centre to the nearest feature geometry",
            "expected_count": float(lam.sum()),
            "cells_in_domain": int(np.count_nonzero(lam > 0)),
        },
        "nte_quarter": nte,
        "burglary_cluster": burglary,
        "quiet_area": quiet_area,
        "clusters": {"nte_quarter": nte, "burglary_cluster": burglary},
        "nte_window": {
            **NTE_WINDOW,
            "crime_type": VIOLENCE,
            "share_planted": NTE_SHARE_IN_WINDOW,
            "applies_to": "violence in cells whose centre is within 150 m of licensed premises",
            "rule": "a night belongs to the day it starts: 01:30 on a Sunday is Saturday night",
        },
        "hotspot_lsoas": {"nte_quarter": nte["lsoa_codes"], "burglary_cluster": burglary["lsoa_codes"]},
        "features": {k: int(len(v)) for k, v in features.items()},
    }


# --- files ---------------------------------------------------------------------------------------

_README = """Demoton: a synthetic town for trying hotspot (every person, place and crime here is made up).

Files
-----
crimes_policeuk/YYYY-MM/YYYY-MM-demo-street.csv
    The crimes as police.uk publishes them (one file per month, the exact police.uk street-level
    column layout). Coordinates are snapped to the nearest anonymisation point ("On or near <street>"),
    about 3 % of rows have no location, and anti-social behaviour has no Crime ID, as on police.uk.
crimes_with_times.csv
    The same crimes as a force extract would hold them: crime_id, occurred_at (ISO date and time),
    crime_type, easting, northing (precise, British National Grid metres), location.
demo_town.gpkg
    GeoPackage (EPSG:27700) with layers: lsoas (area_code, area_name, ward_code, population), wards,
    outline (the study area), streets, snap_points, licensed_premises (kind: pub, bar, nightclub,
    off_licence), street_lights (lit: true/false), unlit_streets (poorly lit street segments),
    bus_stops, decoy (post boxes: a feature with no effect on crime), quiet_area (a reservoir and park).
population.csv
    Residents per LSOA: area_code, population and age bands age_0_15 .. age_65_plus (they sum to population).
truth.json
    The planted model the crimes were drawn from: expected counts per crime type, the risk-terrain model
    for violence (factors, distances in metres, relative risk values), the NTE quarter, the burglary
    cluster, the quiet area and the NTE peak window. Use it to check what an analysis finds.

Try
---
    hotspot rank {out}/crimes_policeuk --boundaries {out}/demo_town.gpkg
    hotspot rank {out}/crimes_with_times.csv --nte --crime-type "Violence and sexual offences"

Seed {seed}; regenerate with `hotspot demo --out DIR`.
"""


def write_demo(out_dir: str | Path, seed: int = DEMO_SEED) -> list[Path]:
    """Write the demo town as ordinary input files in ``out_dir`` (created if needed); returns the paths written.

    Writes police.uk monthly street CSVs (snapped, ~3 % without location), ``crimes_with_times.csv``,
    ``demo_town.gpkg`` (boundaries and risk features), ``population.csv``, ``truth.json`` and
    ``README.txt``; each file atomically. ``seed`` (default :data:`DEMO_SEED`) picks the town.
    """
    import geopandas as gpd
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    from hotspot.core.atomic import atomic_path
    from hotspot.core.errors import HotspotInputError
    from hotspot.io.outputs import write_csv, write_geopackage

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise HotspotInputError(f"--out {out} is a file; give a folder for the demo files")
    town = demo_town(seed)
    crimes = town.crimes
    written: list[Path] = []

    # police.uk: coordinates of the nearest snap point, LSOA of that point, a few rows with no location
    snaps = town.snap_points
    sx, sy = snaps.geometry.x.to_numpy(), snaps.geometry.y.to_numpy()
    _, snap = cKDTree(np.column_stack([sx, sy])).query(crimes[["x", "y"]].to_numpy())
    slon, slat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(sx, sy)
    snap_lsoa = _lsoa_of(town.lsoas, sx, sy)
    rng = np.random.default_rng([seed, 1])  # its own stream, so the files never change the town
    no_loc = rng.random(len(crimes)) < NO_LOCATION_SHARE
    codes = town.lsoas["area_code"].to_numpy()[snap_lsoa[snap]]
    names = town.lsoas["area_name"].to_numpy()[snap_lsoa[snap]]
    police = pd.DataFrame(
        {
            "Crime ID": np.where(
                crimes["crime_type"].to_numpy() == "Anti-social behaviour", "", crimes["crime_id"].to_numpy()
            ),
            "Month": crimes["month"].to_numpy(),
            "Reported by": FORCE_NAME,
            "Falls within": FORCE_NAME,
            "Longitude": np.where(no_loc, "", np.char.mod("%.6f", np.asarray(slon)[snap])),
            "Latitude": np.where(no_loc, "", np.char.mod("%.6f", np.asarray(slat)[snap])),
            "Location": np.where(no_loc, "No Location", snaps["location"].to_numpy()[snap]),
            "LSOA code": np.where(no_loc, "", codes),
            "LSOA name": np.where(no_loc, "", names),
            "Crime type": crimes["crime_type"].to_numpy(),
            "Last outcome category": crimes["outcome"].to_numpy(),
            "Context": "",
        },
        columns=list(POLICE_UK_COLUMNS),
    )
    # police.uk files are not in time order; sorting by area and type hides the extract's order
    police["_no_location"] = no_loc  # police.uk lists rows without a location last
    police = police.sort_values(["Month", "_no_location", "LSOA code", "Crime type"], kind="stable")
    police = police.drop(columns="_no_location")
    for month, rows in police.groupby("Month", sort=True):
        written.append(write_csv(rows, out / "crimes_policeuk" / month / f"{month}-demo-street.csv"))

    extract = pd.DataFrame(
        {
            "crime_id": crimes["crime_id"].to_numpy(),
            "occurred_at": crimes["datetime"].dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(),
            "crime_type": crimes["crime_type"].to_numpy(),
            "easting": crimes["x"].round(1).to_numpy(),
            "northing": crimes["y"].round(1).to_numpy(),
            "location": crimes["location"].to_numpy(),
        }
    )
    written.append(write_csv(extract, out / "crimes_with_times.csv"))

    layers = {
        "lsoas": town.lsoas,
        "wards": town.wards,
        "outline": gpd.GeoDataFrame({"name": [TOWN_NAME]}, geometry=[town.outline], crs=CRS),
        "streets": town.streets,
        "snap_points": town.snap_points,
        **{
            name: town.features[name]
            for name in ("licensed_premises", "street_lights", "unlit_streets", "bus_stops", "decoy")
        },
        "quiet_area": gpd.GeoDataFrame(
            {"name": [town.truth["quiet_area"]["name"]]}, geometry=[town.quiet_area], crs=CRS
        ),
    }
    written.append(write_geopackage(out / "demo_town.gpkg", layers))
    written.append(write_csv(population_table(seed), out / "population.csv"))

    truth_path = out / "truth.json"
    with atomic_path(truth_path) as tmp:
        tmp.write_text(json.dumps(town.truth, indent=2) + "\n", encoding="utf-8")
    written.append(truth_path)
    readme_path = out / "README.txt"
    with atomic_path(readme_path) as tmp:
        tmp.write_text(_README.format(out=out, seed=seed), encoding="utf-8")
    written.append(readme_path)
    return written


_AGE_BANDS = ("age_0_15", "age_16_24", "age_25_34", "age_35_49", "age_50_64", "age_65_plus")
_AGE_BASE = np.array([0.19, 0.11, 0.14, 0.19, 0.18, 0.19])
_AGE_CENTRAL_SHIFT = np.array([-0.07, 0.10, 0.07, 0.0, -0.03, -0.07])
"""Added to the age shares at the town centre (fading with distance): town centres are young."""


def demo_area_tables(study, population=None, lookup=None):
    """``(population, lookup)`` for ``hotspot areas`` on the demo town: the demo's own table and LSOA-to-ward
    lookup wherever the user gave none."""
    if population is None:
        population = population_table()
    if lookup is None:
        wards = study.demo.wards[["area_code", "area_name"]].rename(
            columns={"area_code": "ward_code", "area_name": "ward_name"}
        )
        lookup = study.boundaries[["area_code", "ward_code"]].merge(wards, on="ward_code", how="left")
    return population, lookup


def population_table(seed: int = DEMO_SEED) -> pd.DataFrame:
    """Residents per LSOA with six age bands summing to ``population`` (columns as in population.csv)."""
    town = demo_town(seed)
    lsoas = town.lsoas
    cent = lsoas.geometry.centroid
    centrality = np.exp(-((np.hypot(cent.x - CENTRE_XY[0], cent.y - CENTRE_XY[1]).to_numpy() / 1500.0) ** 2))
    shares = _AGE_BASE[None, :] + centrality[:, None] * _AGE_CENTRAL_SHIFT[None, :]
    shares /= shares.sum(axis=1, keepdims=True)
    rng = np.random.default_rng([seed, 2])
    bands = np.vstack([rng.multinomial(n, p) for n, p in zip(lsoas["population"].to_numpy(), shares)])
    table = pd.DataFrame(bands, columns=list(_AGE_BANDS))
    table.insert(0, "population", lsoas["population"].to_numpy())
    table.insert(0, "area_code", lsoas["area_code"].to_numpy())
    return table
