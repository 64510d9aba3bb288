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
        # 184 rows repeat a Crime ID of an earlier row: dropped as duplicates by both readers.
        assert got.n_records == len(records) == 116_572 and got.rejected["duplicate"] == 184
        assert got.n_rows == 120_588
        counts = records.reject_counts
        assert all(got.rejected[r] == counts[r] for r in got.rejected)
        assert got.rejected["no_location"] == 3_832
        assert len(got.sources) == 24
    assert x.size < len(records) / 5  # snap points: far fewer locations than records


@pytest.mark.realdata
def test_stream_filters_match_filtering_the_records(bedfordshire_crime_dir):
    records = read_records([bedfordshire_crime_dir])
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


@pytest.mark.realdata
def test_streamed_text_tallies_and_national_place_names_equal_the_records(bedfordshire_crime_dir):
    """Each location's Location/LSOA name tallies equal the records'; the national run's places are named as
    name_places names them from the raw rows in the hot cells (what the former second pass over the files read)."""
    import pandas as pd

    from hotspot.core.grid import Grid
    from hotspot.core.naming import name_places
    from hotspot.ingest.projection import WGS84, transform
    from hotspot.scale.national import run_national

    got = stream_locations([bedfordshire_crime_dir], block_bytes=1 << 16, files_per_task=5, with_text=True)
    text = got.text
    assert text["weight"].sum() == got.weight.sum()
    rows = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(bedfordshire_crime_dir.glob("*.csv.gz"))]
    )
    rows = rows[(rows["Longitude"] != "") & (rows["Latitude"] != "")]
    # A non-empty Crime ID seen on an earlier located row: the repeat is dropped (184 rows here).
    ids = rows["Crime ID"].str.strip()
    rows = rows[(ids == "") | ~ids.duplicated(keep="first")]
    x, y = transform(
        rows["Longitude"].astype(float).to_numpy(), rows["Latitude"].astype(float).to_numpy(), WGS84, got.crs
    )
    records = pd.DataFrame(
        {"x": x, "y": y, "location": rows["Location"].to_numpy(), "lsoa_name": rows["LSOA name"].to_numpy()}
    )
    assert len(records) == got.n_records
    want = records.groupby(["x", "y", "location", "lsoa_name"]).size().sort_index()
    tallied = text.astype({"location": str, "lsoa_name": str}).set_index(["x", "y", "location", "lsoa_name"])
    assert tallied["weight"].sort_index().astype(int).equals(want.astype(int).rename("weight"))

    national = run_national([bedfordshire_crime_dir], kde=False, band_m=300.0, cell_size_m=100.0)
    places = national.places
    assert len(places) > 5
    grid = national.grid
    assert isinstance(grid, Grid)
    flat, on = grid.flat_index(records["x"].to_numpy(), records["y"].to_numpy())
    hot = (np.asarray(national.gistar.bin) >= 2).ravel()
    inside = records[on & hot[np.where(on, flat, 0)]].assign(crime_type="")
    assert places["name"].tolist() == name_places(inside, places.geometry.values)
