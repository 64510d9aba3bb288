"""Grid places named from cell tallies equal hotspot.core.naming.name_places on the records, including records on
cell edges and outlines, places holding no record, ties, blanks, facilities, and merged rows with weights."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hotspot.core.grid import Grid
from hotspot.core.naming import name_places
from hotspot.scale.tiling import _ranked_places, gistar_layers, name_cell_places

STREETS = [
    "On or near High Street",
    "High Street",
    "On or near Mill Lane",
    "Supermarket",
    "On or near Parking Area",
    "",
]
AREAS = ["Luton 001A", "Luton 002B", "Bedford 003C", "", None]


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(11)
    grid = Grid(500_000.0, 201_000.0, 100.0, 10, 10, "EPSG:27700")
    bins = np.zeros(grid.shape, dtype=np.int8)
    bins[1:4, 1:4] = 3  # a block
    bins[2, 2] = 0  # with a hole
    bins[6:8, 6] = 2  # a column
    bins[8, 7] = 2  # touching it at a corner: the same place
    bins[1, 8] = 3  # a single cell: no record will fall in it
    counts = rng.integers(0, 9, grid.shape).astype(float)
    z = rng.normal(size=grid.shape)
    result = SimpleNamespace(bin=bins, counts=counts, z=z, p=z, p_adjusted=z, n_neighbours=bins, mask=None)
    n = 4000
    # Snap-like points: some at cell centres, many exactly on grid lines and corners, the rest anywhere.
    col = rng.integers(0, grid.ncols, n)
    row = rng.integers(0, grid.nrows, n)
    fx = rng.choice([0.0, 0.5, 0.25, 1.0], n)
    fy = rng.choice([0.0, 0.5, 0.75, 1.0], n)
    x = grid.xmin + (col + fx) * grid.cell_size
    y = grid.ymax - (row + fy) * grid.cell_size
    # Nothing inside the lone cell at row 1, col 8: its name comes from the nearest record.
    lone = (x >= grid.xmin + 800) & (x <= grid.xmin + 900) & (y <= grid.ymax - 100) & (y >= grid.ymax - 200)
    x, y = x[~lone], y[~lone]
    m = x.size
    frame = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "location": rng.choice(STREETS, m),
            "lsoa_name": pd.Series(rng.choice(np.array(AREAS, dtype=object), m), dtype=object),
            "crime_type": "Burglary",
        }
    )
    # One text per coordinate, as police.uk's snap points have: the nearest record is then unambiguous.
    frame = frame.drop_duplicates(["x", "y"]).reset_index(drop=True)
    frame = frame.loc[frame.index.repeat(rng.integers(1, 4, len(frame)))].reset_index(drop=True)
    places, labels, row_of_label = _ranked_places(result, grid, 2)
    return grid, result, frame, places, labels, row_of_label


def _names(frame, setup, nearest_from, weights=None):
    grid, _, _, places, labels, row_of_label = setup
    return name_cell_places(
        frame["x"].to_numpy(),
        frame["y"].to_numpy(),
        frame["location"],
        frame["lsoa_name"],
        grid,
        labels,
        row_of_label,
        places.geometry.values,
        weights=weights,
        nearest_from=nearest_from,
    )


def test_names_equal_name_places_on_every_record(setup):
    grid, _, frame, places, _, _ = setup
    assert len(places) == 3
    want = name_places(frame, places.geometry.values)
    assert _names(frame, setup, "all") == want
    assert want[-1] != "Place 3"  # the lone cell holds no record and is named after its nearest one


def test_national_names_use_the_records_in_hot_cells_and_merged_rows_weigh_as_many_records(setup):
    grid, result, frame, places, labels, _ = setup
    flat, on = grid.flat_index(frame["x"].to_numpy(), frame["y"].to_numpy())
    inside = frame[on & (labels.ravel()[np.where(on, flat, 0)] > 0)].reset_index(drop=True)
    want = name_places(inside, places.geometry.values)
    assert _names(inside, setup, "inside") == want
    merged = (
        frame.fillna({"lsoa_name": ""})
        .groupby(["x", "y", "location", "lsoa_name"], sort=False)
        .size()
        .reset_index(name="weight")
    )
    assert len(merged) < len(frame)
    layers = gistar_layers(result, grid, min_bin=2, records=merged)
    # name_places counts a missing LSOA name as blank, so filling it in changes nothing.
    assert layers["gistar_places"]["name"].tolist() == want


def test_a_place_with_only_blank_text_is_numbered(setup):
    grid, result, frame, places, labels, row_of_label = setup
    blank = frame.assign(location="", lsoa_name="")
    assert (
        _names(blank, setup, "inside")
        == name_places(blank, places.geometry.values)
        == ["Place 1", "Place 2", "Place 3"]
    )


def test_nearest_point_rows_is_the_brute_force_nearest_with_ties_to_the_first_row():
    from hotspot.core import naming

    rng = np.random.default_rng(5)
    # Snapped points: many records share a location, so ties are the rule, not the exception.
    snaps = np.round(rng.uniform(0, 2_000, (300, 2)), -1)
    points = snaps[rng.integers(0, snaps.shape[0], 5_000)]
    points[::97] = np.nan  # not located: never chosen
    queries = np.vstack([rng.uniform(0, 2_000, (40, 2)), snaps[:5], [[1000.0, 1000.0]]])
    d2 = (points[:, None, 0] - queries[None, :, 0]) ** 2 + (points[:, None, 1] - queries[None, :, 1]) ** 2
    expected = np.nanargmin(d2, axis=0)  # the first row of the smallest distance
    got = naming.nearest_point_rows(points[:, 0], points[:, 1], queries[:, 0], queries[:, 1])
    np.testing.assert_array_equal(got, expected)
    # Past the brute-force limit a k-d tree answers: the same distances (ties may pick another row).
    limit = naming.BRUTE_FORCE_NEAREST_PAIRS
    try:
        naming.BRUTE_FORCE_NEAREST_PAIRS = 0
        tree = naming.nearest_point_rows(points[:, 0], points[:, 1], queries[:, 0], queries[:, 1])
    finally:
        naming.BRUTE_FORCE_NEAREST_PAIRS = limit
    columns = np.arange(queries.shape[0])
    np.testing.assert_array_equal(d2[tree, columns], d2[expected, columns])
