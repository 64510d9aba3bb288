"""The parsed-input cache on the real Bedfordshire files: a cached read is exactly a fresh parse."""

from __future__ import annotations

import pytest

from hotspot.ingest import read_records
from hotspot.ingest.cache import NO_CACHE_ENV_VAR, cache_usage, clear_cache, parsed_cache_dir
from tests.unit.test_ingest_cache import _assert_same


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, as in tests/unit/test_ingest_cache.py."""
    monkeypatch.setenv("HOTSPOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(NO_CACHE_ENV_VAR, raising=False)
    return tmp_path / "cache"


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
