"""The parsed-input cache: a changed file or a corrupt entry is parsed afresh (a cached read of the real files:
tests/realdata/test_ingest_cache_realdata.py).
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from hotspot.ingest import read_records
from hotspot.ingest.cache import NO_CACHE_ENV_VAR, cache_usage, parsed_cache_dir


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


def test_a_corrupt_entry_is_parsed_afresh(cache, tmp_path):
    path = tmp_path / "extract.csv"
    path.write_text("Longitude,Latitude,Month,Crime type\n-0.46,52.13,2024-01,Burglary\n")
    fresh = read_records([path])
    entry = next(parsed_cache_dir().glob("*.arrow"))
    entry.write_bytes(b"not arrow")
    _assert_same(fresh, read_records([path]))
