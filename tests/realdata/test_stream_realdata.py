"""Streaming ingest equals read_records + aggregate_locations on the real Bedfordshire files."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from hotspot.ingest import read_records
from hotspot.scale.stream import stream_locations
from hotspot.stats.kde import aggregate_locations
from tests.unit.test_stream import expected


@pytest.mark.realdata
def test_stream_equals_read_records_on_bedfordshire(bedfordshire_crime_dir):
    records, (x, y, w) = expected([bedfordshire_crime_dir])
    # Small blocks force many blocks per file and several merges: the answer must not change.
    for block_bytes in (1 << 16, 16 << 20):
        got = stream_locations([bedfordshire_crime_dir], block_bytes=block_bytes, files_per_task=5)
        assert np.array_equal(got.x, x) and np.array_equal(got.y, y) and np.array_equal(got.weight, w)
        assert got.n_records == len(records) == 116_756
        assert got.n_rows == 120_588
        counts = records.reject_counts
        assert all(got.rejected[r] == counts[r] for r in got.rejected)
        assert got.rejected["no_location"] == 3_832
        assert len(got.sources) == 24
    assert x.size < len(records) / 5  # snap points: far fewer locations than records


@pytest.mark.realdata
def test_stream_filters_match_filtering_the_records(bedfordshire_crime_dir):
    records = read_records([bedfordshire_crime_dir], drop_duplicates=False)
    f = records.frame
    keep = (
        f["crime_type"].str.lower().isin(["burglary", "robbery"])
        & (f["month"] >= "2022-01")
        & (f["month"] <= "2022-06")
    )
    x, y, w = aggregate_locations(f.loc[keep, "x"].to_numpy(), f.loc[keep, "y"].to_numpy())
    got = stream_locations(
        [bedfordshire_crime_dir], crime_types=["Burglary", " ROBBERY"], date_from="2022-01", date_to="2022-06"
    )
    assert np.array_equal(got.x, x) and np.array_equal(got.y, y) and np.array_equal(got.weight, w)
    assert got.rejected["filtered_date"] + got.rejected["filtered_crime_type"] == len(records) - int(keep.sum())


def test_zip_and_gz_inputs(tmp_path, bedfordshire_crime_dir):
    import gzip

    members = sorted(bedfordshire_crime_dir.glob("*.csv.gz"))[:3]
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for m in members:
            zf.writestr(f"folder/{m.name[:-3]}", gzip.decompress(m.read_bytes()))
        zf.writestr("folder/2021-05-bedfordshire-outcomes.csv", "Crime ID,Month\n")
    _, (x, y, w) = expected(members)
    got = stream_locations([archive])
    assert np.array_equal(got.x, x) and np.array_equal(got.weight, w)
    assert len(got.sources) == 3
