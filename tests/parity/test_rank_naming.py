"""Ranked places named and described all at once give the table the per-place implementation gave.

The per-place code that came before (a loop over places for crime types, every place named and drawn
before the list was cut, Numba's ``grow_places`` for merging) is kept here as the independent reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from hotspot.core import naming
from hotspot.places import rank as rank_module

# --- the reference: the per-place implementation, as it was ------------------------------------------


def _old_strip(location: pd.Series) -> pd.Series:
    return location.fillna("").astype(str).str.replace(r"^On or near\s+", "", regex=True).str.strip()


def _old_top_types(placed: pd.DataFrame, n_places: int, k: int = 3) -> list[str]:
    result = [""] * n_places
    if len(placed) == 0:
        return result
    tallies = placed.groupby(["place", "crime_type"]).size().reset_index(name="n")
    tallies = tallies.sort_values(["place", "n", "crime_type"], ascending=[True, False, True], kind="stable")
    for place, group in tallies.groupby("place", sort=False):
        result[int(place)] = "; ".join(f"{t} ({n})" for t, n in zip(group["crime_type"].head(k), group["n"].head(k)))
    return result


def _old_nearest_records(frame, easting, northing):
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64)]))
    _, nearest = tree.query(np.column_stack([easting, northing]))
    rows = frame.iloc[nearest][["location", "lsoa_name", "crime_type"]].copy()
    rows["place"] = np.arange(len(easting))
    return rows


def _old_mode_by_place(placed, column):
    valid = placed[placed[column].fillna("").astype(str) != ""]
    if valid.empty:
        return {}
    tallies = valid.groupby(["place", column]).size().reset_index(name="n")
    tallies = tallies.sort_values(["place", "n", column], ascending=[True, False, True], kind="stable")
    return dict(zip(tallies.drop_duplicates("place")["place"], tallies.drop_duplicates("place")[column]))


def _old_place_names(placed, n_places, nearest):
    names = [""] * n_places
    empty = ~np.isin(np.arange(n_places), placed["place"].to_numpy())
    placed = pd.concat([placed, nearest[empty[nearest["place"].to_numpy()]]], ignore_index=True)
    placed = placed.assign(street=_old_strip(placed["location"]))
    facility = placed["street"].isin(naming.POLICEUK_FACILITY_LABELS)
    streets = _old_mode_by_place(placed[~facility], "street")
    facilities = _old_mode_by_place(placed[facility], "street")
    areas = _old_mode_by_place(placed, "lsoa_name")
    for i in range(n_places):
        street, area = streets.get(i, "") or facilities.get(i, ""), areas.get(i, "")
        names[i] = f"{street}, {area}" if street and area else (street or area or f"Place {i + 1}")
    return names


def _old_disambiguate(names):
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _old_describe_places(labels, record_label, grid, counts, scores, extra, frame, method):
    from pyproj import Transformer

    n_places = int(labels.max())
    flat_labels = labels.ravel()
    in_place = flat_labels > 0
    place_index = flat_labels[in_place] - 1
    cells_per_place = np.bincount(place_index, minlength=n_places)
    count_per_place = np.bincount(place_index, weights=counts.ravel()[in_place], minlength=n_places)
    score_sum = np.bincount(place_index, weights=scores.ravel()[in_place], minlength=n_places)
    score_max = np.full(n_places, -np.inf)
    np.maximum.at(score_max, place_index, scores.ravel()[in_place])
    rows, cols = np.nonzero(labels)
    polygons = grid.cell_polygons(rows, cols)
    place_of_cell = labels[rows, cols] - 1
    geometries = [shapely.union_all(polygons[place_of_cell == i]) for i in range(n_places)]
    record_place = record_label - 1
    in_any = record_place >= 0
    placed = frame.loc[in_any, ["location", "lsoa_name", "crime_type"]].copy()
    placed["place"] = record_place[in_any]
    types_text = _old_top_types(placed, n_places)
    centroids = shapely.centroid(np.array(geometries, dtype=object))
    easting, northing = shapely.get_x(centroids), shapely.get_y(centroids)
    names = _old_place_names(placed, n_places, _old_nearest_records(frame, easting, northing))
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(easting, northing)
    area_m2 = cells_per_place * grid.cell_area_m2
    table = pd.DataFrame(
        {
            "name": names,
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "easting": np.round(easting, 1),
            "northing": np.round(northing, 1),
            "area_m2": area_m2,
            "n_cells": cells_per_place,
            "count": count_per_place.astype(np.int64),
            "share": count_per_place / max(len(frame), 1),
            "per_km2": count_per_place / (area_m2 / 1e6),
            "score": score_sum if method in ("count", "kde", "combined") else score_max,
            "top_types": types_text,
            "_label": np.arange(1, n_places + 1),
        }
    )
    for name, layer in extra.items():
        values = layer.ravel()[in_place]
        agg = np.full(n_places, np.inf if name == "gi_p" else -np.inf)
        (np.minimum if name == "gi_p" else np.maximum).at(agg, place_index, values)
        table[name] = agg
    table["geometry"] = geometries
    table = table.sort_values(["score", "count"], ascending=[False, False], kind="stable").reset_index(drop=True)
    table["name"] = _old_disambiguate(table["name"])
    table["cumulative_share"] = table["share"].cumsum()
    table["id"] = [f"P{i + 1:03d}" for i in range(len(table))]
    return table


def _old_grow_places(order, candidates, radius_cells):
    from hotspot.kernels.places import grow_places

    return grow_places(order.astype(np.int64), candidates, int(radius_cells))


# --- the checks ------------------------------------------------------------------------------------------


def _placed(rng, n_records, n_places):
    types = ["Burglary", "Drugs", "Anti-social behaviour", "Shoplifting", "Vehicle crime", "Robbery"]
    return pd.DataFrame(
        {
            "location": pd.Categorical(
                rng.choice(["On or near High Street", "Supermarket", "On or near  Mill Lane "], n_records)
            ),
            "lsoa_name": pd.Categorical(rng.choice(["Luton 001A", "Luton 002B", ""], n_records)),
            "crime_type": pd.Categorical(rng.choice(types, n_records, p=[0.3, 0.3, 0.1, 0.1, 0.1, 0.1])),
            "place": rng.integers(0, n_places, n_records),
        }
    )


@pytest.mark.parametrize("seed", range(6))
def test_top_types_match_the_per_place_loop(seed):
    rng = np.random.default_rng(seed)
    n_places = int(rng.integers(1, 60))
    placed = _placed(rng, int(rng.integers(0, 400)), n_places + 3)  # some places beyond n_places hold none
    placed = placed[placed["place"] < n_places]
    for k in (1, 3, 5):
        assert naming.top_types(placed, n_places, k) == _old_top_types(placed, n_places, k)


def test_streets_match_stripping_each_record():
    locations = ["On or near High Street", "On or near  Mill Lane ", "Supermarket", "On or nearby", "", "On or near"]
    categorical = pd.Series(pd.Categorical(locations * 3), index=np.arange(18) * 7)
    got = naming.strip_on_or_near(categorical)
    expected = _old_strip(categorical)
    assert got.tolist() == expected.tolist() and got.index.equals(expected.index) and got.dtype == expected.dtype
    some = categorical.iloc[::4]  # categories left unused
    assert naming.strip_on_or_near(some).tolist() == _old_strip(some).tolist()
    plain = pd.Series([*locations, None], dtype=object)
    assert naming.strip_on_or_near(plain).tolist() == _old_strip(plain).tolist()
    # A missing location in a categorical column is a street of "" (the per-record code failed on it).
    with_missing = pd.Series(pd.Categorical(["On or near A Road", None]))
    assert naming.strip_on_or_near(with_missing).tolist() == ["A Road", ""]


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_label_places_matches_the_numba_kernel(radius):
    rng = np.random.default_rng(radius)
    for _ in range(20):
        shape = tuple(int(v) for v in rng.integers(1, 40, 2))
        scores = rng.integers(0, 5, shape).astype(np.float64)  # many ties: the seeding order matters
        candidates = rng.random(shape) < rng.uniform(0.05, 0.8)
        order = np.argsort(-np.where(candidates, scores, -np.inf).ravel(), kind="stable")[: int(candidates.sum())]
        expected = _old_grow_places(order, candidates, radius)
        np.testing.assert_array_equal(rank_module._label_places(candidates, scores, radius), expected)


RANKINGS = [
    {"method": "count"},
    {"method": "count", "merge": False, "top": 40},
    {"method": "count", "area_share": 0.03},
    {"method": "kde", "bandwidth_m": 300.0},
    {"method": "kde", "bandwidth_m": 600.0, "area_share": 0.05},
    {"method": "gistar", "band_m": 300.0},
    {"method": "rtm"},
    {"method": "combined"},
    {"method": "count", "harm": True},
    {"method": "combined", "harm": True, "top": 7},
]


@pytest.mark.parametrize("options", RANKINGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_ranked_table_matches_describing_every_place(demo_study, monkeypatch, options):
    options = dict(options)
    study = demo_study()
    if options.pop("harm", False):
        from dataclasses import replace

        from hotspot.stats.harm import apply_weights

        study = replace(study, records=apply_weights(study.records, "harm")[0])
    seen = {}
    describe = rank_module._describe_places

    def spy(*args):
        seen["args"] = args
        return describe(*args)

    monkeypatch.setattr(rank_module, "_describe_places", spy)
    result = rank_module.rank_places(study, **options)

    labels, record_label = seen["args"][0], seen["args"][1]
    expected = _old_describe_places(*seen["args"])
    frame = study.records.frame
    if "weight" in frame.columns:
        harm = np.bincount(record_label, weights=frame["weight"].to_numpy(np.float64), minlength=int(labels.max()) + 1)
        expected["harm"] = harm[expected["_label"].to_numpy()]
        expected["harm_share"] = expected["harm"] / max(float(frame["weight"].sum()), 1e-300)
        expected = expected.sort_values(["harm", "count"], ascending=[False, False], kind="stable")
        expected = expected.reset_index(drop=True)
        expected["cumulative_share"] = expected["share"].cumsum()
        expected["id"] = [f"P{i + 1:03d}" for i in range(len(expected))]
    top = options.get("top", None if "area_share" in options else 20)
    if top is not None:
        expected = expected.iloc[:top]
    got = result.places
    assert len(got) == len(expected) > 3
    assert (labels.max() > len(got)) == ("area_share" not in options)  # places were left out of the list
    for column in [c for c in expected.columns if c not in ("geometry", "_label")]:
        assert got[column].tolist() == expected[column].tolist(), column
    assert all(shapely.equals_exact(a, b, 0.0) for a, b in zip(got.geometry, expected["geometry"]))


def test_police_uk_apostrophe_capitals_are_lower_cased():
    """police.uk writes "St John'S Street"; a possessive s is lower case, other capitals stay as written."""
    locations = pd.Series(
        ["On or near St John'S Street", "On or near St Thomas'S", "On or near O'Shea Road", "KING'S ROAD", "Queen'S"]
    )
    expected = ["St John's Street", "St Thomas's", "O'Shea Road", "KING'S ROAD", "Queen's"]
    assert naming.strip_on_or_near(locations).tolist() == expected
    assert naming.strip_on_or_near(locations.astype("category")).tolist() == expected
