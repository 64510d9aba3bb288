"""Demoton in space and time: a separate set of records with planted trends and near-repeat chains.

The geography (outline, LSOAs, streets, snap points) is the demo town's (:func:`boundaries.demo.town.demo_town`);
the records are new, so the demo town's own records, which many tests pin, are untouched. Two years
(2023-01-01 .. 2024-12-31), every record with a date and time; distances in metres (EPSG:27700).

=====================  =========================================================================
what                   how (offsets in metres from the town centre)
=====================  =========================================================================
background             ``Other theft``: 150 records a month spread by residential density, days
                       uniform over the month
emerging hot spot      ``Other theft``: Gaussian bump, sigma 120 m, at (-1400, -1000); nothing in
                       months 1-12, then 14 expected records a month in months 13-24: a run of hot
                       slices at the end, never hot before (ArcGIS: consecutive hot spot)
fading hot spot        at (+1500, +1200), sigma 120 m; 26 expected records in month 1 falling
                       linearly to 8 in month 24: hot throughout, intensity falling
                       (ArcGIS: diminishing hot spot)
persistent hot spot    at (+300, -1800), sigma 120 m; 12 expected records every month
                       (ArcGIS: persistent hot spot)
burglary background    ``Burglary``: 1,000 records by residential density, days uniform
near-repeat chains     ``Burglary``: 300 chains of an originating burglary (residential density,
                       day uniform in the first 720 days) and 2 near repeats, each uniform within
                       100 m of it and 1-7 days after it. Every pair inside a chain is at most
                       200 m and 7 days apart: the planted reach is 200 m and 7 days
=====================  =========================================================================

``spacetime_demo()`` returns a :class:`boundaries.demo.town.DemoTown` whose ``crimes`` are these records and
whose ``truth`` holds the planted parameters (``truth["spacetime"]``).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd

SPACETIME_SEED = 20230102
"""Seed of the space-time records (the geography comes from the demo town's own seed)."""

TREND_TYPE = "Other theft"
NEAR_REPEAT_TYPE = "Burglary"
MONTHS = 24
BACKGROUND_PER_MONTH = 150.0
HOTSPOT_SIGMA_M = 120.0
EMERGING = {"offset_m": (-1400.0, -1000.0), "start_month": 13, "per_month": 14.0, "category": "consecutive hot spot"}
FADING = {"offset_m": (1500.0, 1200.0), "first": 26.0, "last": 8.0, "category": "diminishing hot spot"}
PERSISTENT = {"offset_m": (300.0, -1800.0), "per_month": 12.0, "category": "persistent hot spot"}
BURGLARY_BACKGROUND = 1000
CHAINS = 300
REPEATS_PER_CHAIN = 2
REPEAT_RADIUS_M = 100.0
REPEAT_MAX_DAYS = 7
NEAR_REPEAT_REACH_M = 2 * REPEAT_RADIUS_M
"""Largest distance between two records of one chain (two repeats on opposite sides of the origin)."""
NEAR_REPEAT_REACH_DAYS = REPEAT_MAX_DAYS
"""Largest time between two records of one chain, days."""


def _inside(keep, x, y):
    import shapely

    return shapely.contains_xy(keep, x, y)


def _sample_density(rng, town, n, keep):
    """``n`` points drawn by the residential density of the demo town's 50 m grid, inside ``keep``."""
    grid = town.grid
    weight = town.intensity["Other crime"].ravel()  # residential density only (see boundaries.demo.town)
    cell = rng.choice(weight.size, size=n, p=weight / weight.sum())
    row, col = np.divmod(cell, grid.ncols)
    x0 = grid.xmin + col * grid.cell_size
    y1 = grid.ymax - row * grid.cell_size
    x = x0 + rng.uniform(0, grid.cell_size, n)
    y = y1 - rng.uniform(0, grid.cell_size, n)
    for _ in range(60):
        bad = np.flatnonzero(~_inside(keep, x, y))
        if not bad.size:
            break
        x[bad] = x0[bad] + rng.uniform(0, grid.cell_size, bad.size)
        y[bad] = y1[bad] - rng.uniform(0, grid.cell_size, bad.size)
    ok = _inside(keep, x, y)
    return x[ok], y[ok]


def _bump_points(rng, centre, n, keep):
    x = centre[0] + rng.normal(0, HOTSPOT_SIGMA_M, n)
    y = centre[1] + rng.normal(0, HOTSPOT_SIGMA_M, n)
    ok = _inside(keep, x, y)
    return x[ok], y[ok]


def _days_in_month(month_index):
    start = pd.Timestamp("2023-01-01") + pd.DateOffset(months=int(month_index))
    first = (start - pd.Timestamp("2023-01-01")).days
    return first, start.days_in_month


@functools.lru_cache(maxsize=2)
def spacetime_demo(seed: int = SPACETIME_SEED):
    """The demo town with the space-time records as its crimes (cached; see the module docstring)."""
    import shapely
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    from boundaries.demo.town import CENTRE_XY, CRS, _lsoa_of, demo_town
    from hotspot.core.records import RECORD_COLUMNS

    town = demo_town()
    rng = np.random.default_rng(seed)
    keep = town.outline.difference(town.quiet_area)
    shapely.prepare(keep)
    cx, cy = CENTRE_XY
    xs, ys, days, types, planted = [], [], [], [], []

    def add(x, y, d, kind, label):
        xs.append(np.asarray(x, float))
        ys.append(np.asarray(y, float))
        days.append(np.asarray(d, np.int64))
        types.append(np.full(len(x), kind, dtype=object))
        planted.append(np.full(len(x), label, dtype=object))

    for m in range(MONTHS):
        first, length = _days_in_month(m)
        x, y = _sample_density(rng, town, int(rng.poisson(BACKGROUND_PER_MONTH)), keep)
        add(x, y, first + rng.integers(0, length, x.size), TREND_TYPE, "background")
        expected = {
            "emerging": EMERGING["per_month"] if m + 1 >= EMERGING["start_month"] else 0.0,
            "fading": FADING["first"] + (FADING["last"] - FADING["first"]) * m / (MONTHS - 1),
            "persistent": PERSISTENT["per_month"],
        }
        for name, spec in (("emerging", EMERGING), ("fading", FADING), ("persistent", PERSISTENT)):
            centre = (cx + spec["offset_m"][0], cy + spec["offset_m"][1])
            x, y = _bump_points(rng, centre, int(rng.poisson(expected[name])), keep)
            add(x, y, first + rng.integers(0, length, x.size), TREND_TYPE, name)

    n_days = (pd.Timestamp("2024-12-31") - pd.Timestamp("2023-01-01")).days + 1
    x, y = _sample_density(rng, town, BURGLARY_BACKGROUND, keep)
    add(x, y, rng.integers(0, n_days, x.size), NEAR_REPEAT_TYPE, "background")
    ox, oy = _sample_density(rng, town, CHAINS, keep)
    od = rng.integers(0, n_days - REPEAT_MAX_DAYS, ox.size)
    add(ox, oy, od, NEAR_REPEAT_TYPE, "chain origin")
    for _ in range(REPEATS_PER_CHAIN):
        r = REPEAT_RADIUS_M * np.sqrt(rng.uniform(0, 1, ox.size))
        a = rng.uniform(0, 2 * np.pi, ox.size)
        rx, ry = ox + r * np.cos(a), oy + r * np.sin(a)
        lag = rng.integers(1, REPEAT_MAX_DAYS + 1, ox.size)
        ok = _inside(keep, rx, ry)
        add(rx[ok], ry[ok], (od + lag)[ok], NEAR_REPEAT_TYPE, "near repeat")

    x, y, day = np.concatenate(xs), np.concatenate(ys), np.concatenate(days)
    kind, label = np.concatenate(types), np.concatenate(planted)
    minutes = day * 1440 + rng.integers(0, 1440, day.size)
    order = np.lexsort((x, minutes))
    x, y, minutes, kind, label = x[order], y[order], minutes[order], kind[order], label[order]
    n = x.size
    dt = pd.to_datetime(minutes, unit="m", origin=pd.Timestamp("2023-01-01")).astype("datetime64[ns]")
    lsoa = _lsoa_of(town.lsoas, x, y)
    snaps = town.snap_points
    _, snap = cKDTree(np.column_stack([snaps.geometry.x, snaps.geometry.y])).query(np.column_stack([x, y]))
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "lon": np.asarray(lon, float),
            "lat": np.asarray(lat, float),
            "crime_id": np.array([f"ST{seed}-{i:06d}" for i in range(n)], dtype=object),
            "month": np.asarray(dt.strftime("%Y-%m"), dtype=object),
            "datetime": dt,
            "crime_type": kind,
            "location": snaps["location"].to_numpy()[snap].astype(object),
            "lsoa_code": np.where(lsoa >= 0, town.lsoas["area_code"].to_numpy()[np.clip(lsoa, 0, None)], "").astype(
                object
            ),
            "lsoa_name": np.where(lsoa >= 0, town.lsoas["area_name"].to_numpy()[np.clip(lsoa, 0, None)], "").astype(
                object
            ),
            "outcome": "",
            "source": "demo",
            "source_row": np.arange(1, n + 1, dtype=np.int64),
        }
    )[list(RECORD_COLUMNS)]
    truth = dict(town.truth)
    truth["spacetime"] = {
        "seed": seed,
        "months": MONTHS,
        "trend_type": TREND_TYPE,
        "near_repeat_type": NEAR_REPEAT_TYPE,
        "hotspot_sigma_m": HOTSPOT_SIGMA_M,
        "emerging": {**EMERGING, "centre_xy": [cx + EMERGING["offset_m"][0], cy + EMERGING["offset_m"][1]]},
        "fading": {**FADING, "centre_xy": [cx + FADING["offset_m"][0], cy + FADING["offset_m"][1]]},
        "persistent": {**PERSISTENT, "centre_xy": [cx + PERSISTENT["offset_m"][0], cy + PERSISTENT["offset_m"][1]]},
        "near_repeat": {
            "chains": CHAINS,
            "repeats_per_chain": REPEATS_PER_CHAIN,
            "radius_m": REPEAT_RADIUS_M,
            "max_days": REPEAT_MAX_DAYS,
            "reach_m": NEAR_REPEAT_REACH_M,
            "reach_days": NEAR_REPEAT_REACH_DAYS,
        },
        "planted_counts": {k: int(v) for k, v in pd.Series(label).value_counts().items()},
    }
    return dataclasses.replace(town, crimes=frame, truth=truth)
