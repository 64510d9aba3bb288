"""Streaming ingest equals read_records + aggregate_locations on bad rows, and its merges; the real Bedfordshire
files are in tests/realdata/test_stream_realdata.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.ingest import read_records
from hotspot.scale.stream import _Aggregator, merge_hashed, stream_locations
from hotspot.stats.kde import aggregate_locations

HEADER = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n"


def _row(month, lon, lat, crime="Burglary"):
    return f",{month},Test Police,Test Police,{lon},{lat},On or near X,E01000001,Test 001A,{crime},,\n"


def expected(inputs):
    # these rows carry no Crime ID; repeated IDs: tests/unit/test_stream_duplicates.py
    records = read_records(inputs)
    f = records.frame
    return records, aggregate_locations(f["x"].to_numpy(), f["y"].to_numpy())


def test_bad_rows_rejected_as_read_records_does(tmp_path):
    good = tmp_path / "2023-01-test-street.csv"
    good.write_text(
        HEADER
        + _row("2023-01", -0.47, 52.13) * 3
        + _row("2023-01", "", "")
        + _row("2023-01", -0.46, "")
        + _row("2023-01", -0.45, 52.12, "Robbery")
        + _row("2023-01", -0.47, 52.13)
        + _row("2023-13", -0.4, 52.1)
        + _row("2023-01", 12.0, 47.0)
    )
    text = tmp_path / "2023-02-test-street.csv"  # a coordinate that is text: pyarrow cannot stream it
    text.write_text(
        HEADER + _row("2023-02", -0.47, 52.13) + _row("2023-02", "n/a", 52.13) + _row("2023-02", -0.44, 52.11)
    )
    records, (x, y, w) = expected([tmp_path])
    got = stream_locations([tmp_path])
    assert np.array_equal(got.x, x) and np.array_equal(got.y, y) and np.array_equal(got.weight, w)
    counts = records.reject_counts
    assert {r: got.rejected[r] for r in ("no_location", "unparsable", "out_of_range")} == {
        r: counts[r] for r in ("no_location", "unparsable", "out_of_range")
    }
    assert got.rejected == {
        "no_location": 1,
        "unparsable": 3,
        "out_of_range": 1,
        "duplicate": 0,
        "filtered_crime_type": 0,
        "filtered_date": 0,
    }
    assert got.weight.max() == 5  # the repeated snap point, across both files


def test_running_merge_equals_one_merge():
    rng = np.random.default_rng(0)
    agg = _Aggregator(merge_rows=50)
    xs, ys = [], []
    for _ in range(20):
        x = rng.integers(0, 30, 40).astype(float)
        y = rng.integers(0, 30, 40).astype(float)
        xs.append(x)
        ys.append(y)
        agg.add(*aggregate_locations(x, y))
        assert agg.rows <= max(agg.merge_rows, 2 * 900) + 40
    got = aggregate_locations(*agg.result())  # the running merge is unordered; sort for the comparison
    want = aggregate_locations(np.concatenate(xs), np.concatenate(ys))
    for a, b in zip(got, want):
        assert np.array_equal(a, b)


def test_hashed_merge_equals_aggregate_locations_including_signed_zero():
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 3, 5000).astype(float)
    y = rng.integers(-3, 3, 5000).astype(float)
    x[::7] = -0.0
    w = rng.integers(1, 4, 5000).astype(float)
    want = aggregate_locations(x, y, w)
    got = aggregate_locations(*merge_hashed(x, y, w))
    for a, b in zip(got, want):
        assert np.array_equal(a, b)


def test_stream_input_errors(tmp_path):
    other = tmp_path / "points.csv"
    other.write_text("easting,northing\n500000,200000\n")
    with pytest.raises(HotspotInputError, match="no Longitude, Latitude, Month column"):
        stream_locations([other])
    with pytest.raises(HotspotInputError, match="YYYY-MM"):
        stream_locations([other], date_from="2023")
    with pytest.raises(HotspotInputError, match="no such file"):
        stream_locations([tmp_path / "missing.csv"])
    with pytest.raises(HotspotInputError, match="not a projected CRS"):
        stream_locations([other], crs="EPSG:4326")
    empty = tmp_path / "e" / "2023-01-x-street.csv"
    empty.parent.mkdir()
    empty.write_text(HEADER + _row("2023-01", "", ""))
    with pytest.raises(HotspotInputError, match="no usable records"):
        stream_locations([empty])
