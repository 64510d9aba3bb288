"""The parsed-input cache: a changed file or a corrupt entry is parsed afresh (a cached read of the real files:
tests/realdata/test_ingest_cache_realdata.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.ingest import read_records
from hotspot.ingest.cache import NO_CACHE_ENV_VAR, cache_usage, parsed_cache_dir
from tests.support import REPO
from tests.unit.test_ingest import policeuk_text, write


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(NO_CACHE_ENV_VAR, raising=False)
    return tmp_path / "cache"


def _assert_same(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    pd.testing.assert_frame_equal(a.rejected, b.rejected, check_exact=True)
    assert a.crs == b.crs and a.sources == b.sources and a.has_times == b.has_times


def test_a_changed_file_is_parsed_again(cache, tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n")
    assert len(read_records([path])) == 1
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n-0.47,52.14,2024-02,Robbery\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    again = read_records([path])
    assert again.frame["crime_type"].tolist() == ["Burglary", "Robbery"]
    assert cache_usage()[1] == 2  # one entry per version of the file


def test_a_file_rewritten_with_the_same_size_and_time_is_parsed_again(cache, tmp_path):
    """A re-extracted archive restores the old modification time; a file of the same length still differs in content."""
    path = tmp_path / "extract.csv"
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n")
    stamp = path.stat().st_mtime_ns
    assert read_records([path]).frame["crime_type"].tolist() == ["Burglary"]
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglarx\n")
    os.utime(path, ns=(stamp, stamp))
    assert read_records([path]).frame["crime_type"].tolist() == ["Burglarx"]


def test_a_corrupt_entry_is_parsed_afresh(cache, tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n")
    fresh = read_records([path])
    entry = next(parsed_cache_dir().glob("*.arrow"))
    entry.write_bytes(b"not arrow")
    _assert_same(fresh, read_records([path]))


def _cold(paths, monkeypatch, **options):
    """``read_records`` with the cache off: the reference every cached read must equal."""
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    try:
        return read_records(paths, **options)
    finally:
        monkeypatch.delenv(NO_CACHE_ENV_VAR)


def _entries(kind: str) -> list:
    folder = parsed_cache_dir() / kind
    return sorted(folder.glob("*.arrow")) if folder.is_dir() else []


def _tree(tmp_path):
    """Two police.uk months (rows without location, a crime id repeated across months: ledger rows of both
    kinds) and a force extract with eastings, dates and times."""
    a = write(tmp_path / "d" / "2022-03-x-street.csv", policeuk_text("2022-03", n=6, no_location=2))
    b = write(
        tmp_path / "d" / "2022-04-x-street.csv",
        policeuk_text("2022-04", n=5, no_location=1).replace("id2022-04-3", "id2022-03-3"),
    )
    c = write(
        tmp_path / "extract.csv",
        "Easting,Northing,Date,Time,Offence\n505000,249000,01/02/2023,19:30,Burglary\n,,02/02/2023,0930,Robbery\n"
        "505100,249100,bad date,10:00,Theft\n",
    )
    return [tmp_path / "d", c], (a, b)


def test_every_cached_layer_reads_as_a_fresh_read(cache, tmp_path, monkeypatch):
    inputs, _ = _tree(tmp_path)
    fresh = _cold(inputs, monkeypatch)
    assert fresh.reject_counts["duplicate"] == 1 and fresh.reject_counts["no_location"] == 4  # both ledger kinds
    _assert_same(fresh, read_records(inputs))  # parses, keeps each table, its standard columns and the result
    assert len(_entries("standard")) >= 3 and len(_entries("records")) == 2
    _assert_same(fresh, read_records(inputs))  # the whole result from the cache
    for entry in _entries("records"):
        entry.unlink()
    _assert_same(fresh, read_records(inputs))  # from each file's standard columns: projected and joined again
    _assert_same(_cold(inputs, monkeypatch, crs="EPSG:32630"), read_records(inputs, crs="EPSG:32630"))


def test_an_option_that_changes_reading_is_not_served_from_the_cache(cache, tmp_path, monkeypatch):
    path = write(
        tmp_path / "t.csv", "lon,lat,when,kind\n-0.46,52.13,2024-01-03,Burglary\n-0.47,52.14,2024-02-05,Robbery\n"
    )
    assert len(read_records([path])) == 2
    by_type = read_records([path], type_column="when")  # a silly option, but one that changes the records
    _assert_same(_cold([path], monkeypatch, type_column="when"), by_type)
    assert by_type.frame["crime_type"].tolist() == ["2024-01-03", "2024-02-05"]


def test_the_same_file_named_another_way_is_named_so(cache, tmp_path, monkeypatch):
    inputs, (a, _) = _tree(tmp_path)
    read_records([a])
    monkeypatch.chdir(tmp_path)
    relative = read_records(["d/2022-03-x-street.csv"])  # the standard columns of the absolute path's entry
    assert relative.sources == ["d/2022-03-x-street.csv"]
    assert set(relative.rejected["source"]) == {"d/2022-03-x-street.csv"}
    _assert_same(_cold(["d/2022-03-x-street.csv"], monkeypatch), relative)


def test_a_corrupt_standard_or_records_entry_is_read_afresh(cache, tmp_path, monkeypatch):
    inputs, _ = _tree(tmp_path)
    fresh = _cold(inputs, monkeypatch)
    read_records(inputs)
    for entry in _entries("standard") + _entries("records"):
        entry.write_bytes(b"not arrow")
    _assert_same(fresh, read_records(inputs))
    _assert_same(fresh, read_records(inputs))


def test_a_file_given_twice_is_found_when_one_copy_was_cached_by_another_process(cache, tmp_path, monkeypatch):
    # the sample digest that finds repeated files is kept in the cache: it must not change from process to
    # process (Python's own hash of bytes does, with PYTHONHASHSEED)
    a = write(tmp_path / "a" / "2022-03-x-street.csv", policeuk_text("2022-03", n=6, no_location=0))
    b = write(tmp_path / "b" / "2022-03-x-street.csv", a.read_text())
    code = "import sys; from hotspot.ingest import read_records; read_records([sys.argv[1]])"
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"  # another seed than this process's
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code, str(a)], check=True, env=env, cwd=REPO)
    both = read_records([a, b])
    assert both.reject_counts["duplicate"] == 6
    assert any("same rows" in note for note in both.notes)


def test_bad_input_gives_the_same_error_cold_and_warm(cache, tmp_path, monkeypatch):
    elsewhere = policeuk_text("2022-03", n=6, no_location=0).replace(",52.1", ",-0.4")  # E01 codes, not in GB
    path = write(tmp_path / "2022-03-x-street.csv", elsewhere)
    messages = []
    for _ in range(2):
        with pytest.raises(HotspotInputError) as info:
            read_records([path])
        messages.append(str(info.value))
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    with pytest.raises(HotspotInputError) as info:
        read_records([path])
    assert messages == [str(info.value)] * 2 and "Longitude" in messages[0]


def test_a_kept_study_area_mask_is_the_one_computed_and_is_keyed_by_area_and_grid(cache):
    """The mask read back is ``Grid.mask_from_geometry``'s, bit for bit; another area or grid is computed afresh; a torn
    entry and HOTSPOT_NO_CACHE fall back to computing; ``hotspot cache`` counts and clears the masks."""
    import numpy as np
    import shapely

    from hotspot.core.grid import Grid
    from hotspot.ingest.cache import clear_cache, mask_key
    from hotspot.ingest.study import _area_mask

    area = shapely.Polygon([(0, 0), (950, 130), (1210, 880), (400, 1190), (-30, 640)]).buffer(-40, quad_segs=3)
    grid = Grid(-100.0, 1300.0, 50.0, 29, 31, crs="EPSG:27700")
    want = grid.mask_from_geometry(area)
    first = _area_mask(grid, area)
    np.testing.assert_array_equal(first, want)
    entries = list((parsed_cache_dir() / "masks").glob("*.npy"))
    assert len(entries) == 1 and cache_usage()[2] == entries[0].stat().st_size
    again = _area_mask(grid, area)
    assert again.dtype == bool and again.shape == grid.shape and again.flags.writeable
    np.testing.assert_array_equal(again, want)
    moved = Grid(-75.0, 1300.0, 50.0, 29, 31, crs="EPSG:27700")
    np.testing.assert_array_equal(_area_mask(moved, area), moved.mask_from_geometry(area))
    smaller = area.buffer(-60)
    np.testing.assert_array_equal(_area_mask(grid, smaller), grid.mask_from_geometry(smaller))
    assert len({mask_key(shapely.to_wkb(a), g) for a in (area, smaller) for g in (grid, moved)}) == 4
    entries[0].write_bytes(b"torn")
    np.testing.assert_array_equal(_area_mask(grid, area), want)
    np.save(entries[0], np.zeros(3, np.uint8))  # a whole file of the wrong length: not padded out with zeros
    np.testing.assert_array_equal(_area_mask(grid, area), want)
    assert clear_cache()[1] > 0 and not parsed_cache_dir().exists()


def test_no_mask_is_kept_without_the_cache(cache, monkeypatch):
    import numpy as np
    import shapely

    from hotspot.core.grid import Grid
    from hotspot.ingest.study import _area_mask

    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    grid = Grid(0.0, 1000.0, 100.0, 10, 10, crs="EPSG:27700")
    area = shapely.box(120, 130, 760, 910)
    np.testing.assert_array_equal(_area_mask(grid, area), grid.mask_from_geometry(area))
    assert not (parsed_cache_dir() / "masks").exists()


def test_the_cache_keeps_under_its_limit_deleting_what_was_used_longest_ago(cache, tmp_path, monkeypatch):
    import time

    from hotspot.ingest.cache import MAX_SIZE_ENV_VAR
    from hotspot.ingest.cache import _entries as entries_of

    def on_disk() -> dict:
        return {path: size for _, size, path in entries_of(parsed_cache_dir())}

    made = {}  # the entries each folder's first read wrote

    def read(n: int) -> None:
        folder = tmp_path / f"extract{n}"
        if n not in made:
            write(folder / "2024-01" / "2024-01-bedfordshire-street.csv", policeuk_text(n=30, start=40 * n))
        before = set(on_disk())
        read_records([folder])
        if n not in made:
            made[n] = set(on_disk()) - before
            # Dated apart and in the past (file times tick too coarsely to wait for); a read of a kept entry
            # dates it now, after all of these.
            stamp = time.time() - 1000 + 10 * n
            for path in made[n]:
                os.utime(path, (stamp, stamp))

    read(0)
    one_read = sum(on_disk().values())
    assert len(made[0]) >= 3  # the parsed table, its standard columns and the records
    monkeypatch.setenv(MAX_SIZE_ENV_VAR, str(3.5 * one_read / 1e6))  # room for three and a half reads
    for n in (1, 2, 0, 3, 4):  # the first folder used again before the fourth and fifth are read
        read(n)
    kept = on_disk()
    assert sum(kept.values()) <= 3.5 * one_read
    for n in (3, 4):  # the most recently written: kept whole
        assert made[n] <= set(kept), n
    # The first folder's second read used only its records (its tables were not needed): those were kept, the
    # tables it did not use went with the second folder's, the least recently used.
    records = {path for path in made[0] if f"{os.sep}records{os.sep}" in path}
    assert records and records <= set(kept)
    assert not made[1] <= set(kept) and not made[0] <= set(kept)
    # What is kept still reads back as a fresh read does.
    reference = _cold([tmp_path / "extract0"], monkeypatch)
    _assert_same(reference, read_records([tmp_path / "extract0"]))


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf", "1e400"])
def test_a_malformed_cache_limit_is_refused_naming_it(cache, monkeypatch, value):
    from hotspot.ingest.cache import MAX_SIZE_ENV_VAR, cache_enabled

    monkeypatch.setenv(MAX_SIZE_ENV_VAR, value)
    with pytest.raises(HotspotInputError, match=MAX_SIZE_ENV_VAR):
        cache_enabled()
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")  # a cache turned off does not read its limit
    assert not cache_enabled()
