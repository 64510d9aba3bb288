"""How a place is named: the street most of its records are "on or near" and the area (LSOA) holding
most of them, the way an analyst would describe it; repeated names numbered in rank order.

Every command names its places with these rules (ranked places, Gi* clusters, KDE and RTM hot
polygons, street stretches), so one place has one name whichever method found it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

POLICEUK_FACILITY_LABELS = frozenset(
    {
        "Parking Area",
        "Sports/Recreation Area",
        "Park/Open Space",
        "Petrol Station",
        "Supermarket",
        "Shopping Area",
        "Pedestrian Subway",
        "Further/Higher Educational Building",
        "Nightclub",
        "Police Station",
        "Theatre/Concert Hall",
        "Conference/Exhibition Centre",
        "Bus/Coach Station",
        "Hospital",
        "Airport/Airfield",
        "Railway Station",
        "Hotel/Motel",
        "Prison",
    }
)
"""police.uk anonymisation points labelled by facility type rather than by street."""


def strip_on_or_near(location: pd.Series) -> pd.Series:
    """The street of police.uk "On or near <street>" locations ("" where missing)."""
    if isinstance(location.dtype, pd.CategoricalDtype):
        # A county has ~10^5 records on ~10^4 locations: strip each location in use once (a missing one,
        # code -1, reads the "" at the end).
        categories = location.cat.categories
        codes = location.cat.codes.to_numpy()
        used = np.zeros(len(categories) + 1, dtype=bool)
        used[codes] = True
        used = np.flatnonzero(used[:-1])
        streets = np.full(len(categories) + 1, "", dtype=object)
        if used.size:
            streets[used] = _strip(pd.Series(categories[used])).to_numpy(dtype=object)
        return pd.Series(streets[codes], index=location.index, dtype=str)
    return _strip(location)


def _strip(location: pd.Series) -> pd.Series:
    street = location.fillna("").astype(str).str.replace(r"^On or near\s+", "", regex=True).str.strip()
    # police.uk capitalises the letter after an apostrophe ("St John'S Street", "St Thomas'S Road"); a
    # possessive s before a space or the end is lower case in a street name ("O'Shea Road" keeps its S and
    # "KING'S ROAD" its case).
    return street.str.replace(r"(?<=[a-z])'S\b", "'s", regex=True)


BRUTE_FORCE_NEAREST_PAIRS = 500_000_000
"""Up to this many (point, query) pairs the nearest point is found by one exact pass over the points
(about 0.3 s at the limit); beyond it by a k-d tree."""


def nearest_point_rows(x, y, query_x, query_y) -> np.ndarray:
    """Row of the point (``x``, ``y``, metres) nearest each query point (metres), exactly; ties go to the
    first row. Points with a NaN coordinate are never chosen; at least one must be finite.

    A few queries (the places holding no record) against a county's records are one pass over the
    records (:func:`hotspot.kernels.places.nearest_points`); many queries against many records use a
    k-d tree over the finite points, its ties broken as it finds them.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    query_x = np.ascontiguousarray(query_x, dtype=np.float64)
    query_y = np.ascontiguousarray(query_y, dtype=np.float64)
    if x.size * query_x.size <= BRUTE_FORCE_NEAREST_PAIRS:
        from hotspot.kernels.places import nearest_points

        return nearest_points(x, y, query_x, query_y)
    from scipy.spatial import cKDTree

    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    _, nearest = cKDTree(np.column_stack([x[finite], y[finite]])).query(np.column_stack([query_x, query_y]))
    return finite[nearest]


def nearest_records(
    frame: pd.DataFrame, easting: np.ndarray, northing: np.ndarray, places: np.ndarray | None = None
) -> pd.DataFrame:
    """For each place centre (metres), the record nearest to it, as rows of ``frame`` with a ``place`` column.

    A place chosen by a smoothed score (KDE, Gi*, RTM) can hold no record of its own; it is then named
    after the nearest record's street and area, as an analyst would describe it. ``places`` (the place
    number of each centre) defaults to 0, 1, ...; no centre gives no rows and skips building the tree."""
    places = np.arange(len(easting)) if places is None else np.asarray(places, dtype=np.int64)
    if len(frame) == 0 or len(easting) == 0:
        return frame.iloc[:0][["location", "lsoa_name", "crime_type"]].assign(place=np.zeros(0, dtype=np.int64))
    nearest = nearest_point_rows(frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64), easting, northing)
    rows = frame.iloc[nearest][["location", "lsoa_name", "crime_type"]].copy()
    rows["place"] = places
    return rows


def empty_places(placed: pd.DataFrame, n_places: int) -> np.ndarray:
    """Numbers of the places (0..n_places-1) holding no record of ``placed``: the ones named after the nearest record."""
    return np.flatnonzero(~np.isin(np.arange(n_places), placed["place"].to_numpy()))


def place_names(placed: pd.DataFrame, n_places: int, nearest: pd.DataFrame | None = None, numbers=None) -> list[str]:
    """The street most records in a place are on or near, with the area holding most of them.

    Places holding no record take the street and area of the record nearest their centre (``nearest``).
    A place with neither is "Place <number>", its number from ``numbers`` (default 1, 2, ...)."""
    numbers = np.arange(1, n_places + 1) if numbers is None else np.asarray(numbers)
    names = [""] * n_places
    if nearest is not None and len(nearest):
        empty = ~np.isin(np.arange(n_places), placed["place"].to_numpy())
        placed = pd.concat([placed, nearest[empty[nearest["place"].to_numpy()]]], ignore_index=True)
    if len(placed) == 0:
        return [f"Place {numbers[i]}" for i in range(n_places)]
    placed = placed.assign(street=strip_on_or_near(placed["location"]))
    facility = placed["street"].isin(POLICEUK_FACILITY_LABELS)
    streets = mode_by_place(placed[~facility], "street")
    facilities = mode_by_place(placed[facility], "street")
    areas = mode_by_place(placed, "lsoa_name")
    for i in range(n_places):
        street, area = streets.get(i, "") or facilities.get(i, ""), areas.get(i, "")
        if street and area:
            names[i] = f"{street}, {area}"
        else:
            names[i] = street or area or f"Place {numbers[i]}"
    return names


def name_places(frame: pd.DataFrame, geometries) -> list[str]:
    """Names for any places drawn as polygons (KDE hotspots, RTM priority places...), built as ranked places' are.

    Parameters
    ----------
    frame : DataFrame
        The study's records (``study.records.frame``): ``x``, ``y`` (metres, the polygons' CRS), ``location``,
        ``lsoa_name`` and ``crime_type``.
    geometries : sequence of shapely geometries
        The places, best first.

    Returns
    -------
    list of str
        One unique name per place, "<street>, <LSOA name>" from the records inside it (or, for a place
        holding none, the record nearest its centre), numbered "(2)", "(3)" where two places share a name.
    """
    import shapely

    geometries = np.asarray(list(geometries), dtype=object)
    n_places = len(geometries)
    if n_places == 0:
        return []
    points = shapely.points(frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64))
    tree = shapely.STRtree(geometries)
    record, place = tree.query(points, predicate="within")
    # A record on a shared edge counts once, for the best place holding it.
    first = pd.DataFrame({"record": record, "place": place}).sort_values(["record", "place"]).drop_duplicates("record")
    placed = frame.iloc[first["record"].to_numpy()][["location", "lsoa_name", "crime_type"]].copy()
    placed["place"] = first["place"].to_numpy()
    empty = empty_places(placed, n_places)
    centres = shapely.centroid(geometries[empty])
    nearest = nearest_records(frame, shapely.get_x(centres), shapely.get_y(centres), empty)
    return disambiguate_names(place_names(placed, n_places, nearest))


def disambiguate_names(names: pd.Series) -> list[str]:
    """Number repeated names in rank order ("High Street, X", "High Street, X (2)") so each place is unique."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return result


def mode_by_place(placed: pd.DataFrame, column: str) -> dict[int, str]:
    valid = placed[placed[column].fillna("").astype(str) != ""]
    if valid.empty:
        return {}
    tallies = valid.groupby(["place", column]).size().reset_index(name="n")
    tallies = tallies.sort_values(["place", "n", column], ascending=[True, False, True], kind="stable")
    return dict(zip(tallies.drop_duplicates("place")["place"], tallies.drop_duplicates("place")[column]))


def top_types(placed: pd.DataFrame, n_places: int, k: int = 3) -> list[str]:
    """The ``k`` most common crime types of each place with their counts, "Burglary (12); Drugs (3)"
    (ties by type), "" for a place holding no record."""
    result = [""] * n_places
    if len(placed) == 0:
        return result
    tallies = placed.groupby(["place", "crime_type"]).size().reset_index(name="n")
    tallies = tallies.sort_values(["place", "n", "crime_type"], ascending=[True, False, True], kind="stable")
    # One pass over every place at once (a loop over places cost a second on a county).
    tallies = tallies[tallies.groupby("place", sort=False).cumcount().to_numpy() < k]
    text = tallies["crime_type"].astype(str) + " (" + tallies["n"].astype(str) + ")"
    joined = text.groupby(tallies["place"].to_numpy(), sort=False).agg("; ".join)
    for place, value in zip(joined.index, joined.to_numpy()):
        result[int(place)] = value
    return result
