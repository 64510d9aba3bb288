"""The parsed-input cache: a cached read is exactly a fresh parse, and a changed file is parsed afresh."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from hotspot.ingest import read_records
from hotspot.ingest.cache import NO_CACHE_ENV_VAR, cache_usage, clear_cache, parsed_cache_dir


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTSPOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(NO_CACHE_ENV_VAR, raising=False)
    return tmp_path / "cache"


def _assert_same(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    pd.testing.assert_frame_equal(a.rejected, b.rejected, check_exact=True)
    assert a.crs == b.crs and a.sources == b.sources and a.has_times == b.has_times


@pytest.mark.realdata
def test_cached_read_is_bit_identical_to_a_fresh_parse(cache, monkeypatch, bedfordshire_crime_dir):
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    fresh = read_records([bedfordshire_crime_dir])
    assert cache_usage()[1] == 0  # off means nothing written
    monkeypatch.delenv(NO_CACHE_ENV_VAR)
    first = read_records([bedfordshire_crime_dir])  # parses and fills the cache
    folder, n, size = cache_usage()
    assert folder == parsed_cache_dir() and folder.is_relative_to(cache)
    assert n == 24 and size > 0
    second = read_records([bedfordshire_crime_dir])  # read back from Arrow
    _assert_same(fresh, first)
    _assert_same(fresh, second)
    assert clear_cache() == (24, size) and cache_usage()[1] == 0


def test_a_changed_file_is_parsed_again(cache, tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n")
    assert len(read_records([path])) == 1
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n-0.47,52.14,2024-02,Robbery\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    again = read_records([path])
    assert again.frame["crime_type"].tolist() == ["Burglary", "Robbery"]
    assert cache_usage()[1] == 2  # one entry per version of the file


def test_a_corrupt_entry_is_parsed_afresh(cache, tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n")
    fresh = read_records([path])
    entry = next(parsed_cache_dir().glob("*.arrow"))
    entry.write_bytes(b"not arrow")
    _assert_same(fresh, read_records([path]))
