"""The parsed-input cache on the real Bedfordshire files: a cached read is exactly a fresh parse."""

from __future__ import annotations

import pytest
import shapely

from hotspot.ingest import read_records
from hotspot.ingest.cache import NO_CACHE_ENV_VAR, cache_usage, clear_cache, parsed_cache_dir
from hotspot.ingest.study import load_study
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


@pytest.mark.realdata
def test_a_warm_study_is_the_study_read_without_cache(cache, monkeypatch, bedfordshire_crime_dir):
    """Every layer of the cache on the real folder (the main body formed from the records, the records, each file's
    standard columns) gives the frames, ledgers, study area and notes a read without the cache gives."""
    monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
    fresh = load_study([bedfordshire_crime_dir])
    fresh_read = read_records([bedfordshire_crime_dir], crs="EPSG:27700")
    monkeypatch.delenv(NO_CACHE_ENV_VAR)

    def check(study):
        _assert_same(fresh.records, study.records)
        assert study.notes == fresh.notes and study.area_rule == fresh.area_rule and study.crs == fresh.crs
        assert shapely.to_wkb(study.area) == shapely.to_wkb(fresh.area)

    check(load_study([bedfordshire_crime_dir]))  # parses, fills every layer
    assert {p.name for p in parsed_cache_dir().iterdir() if p.is_dir()} == {"standard", "main_body"}
    check(load_study([bedfordshire_crime_dir]))  # the main body, as kept
    _assert_same(fresh_read, read_records([bedfordshire_crime_dir], crs="EPSG:27700"))  # from standard columns
    _assert_same(fresh_read, read_records([bedfordshire_crime_dir], crs="EPSG:27700"))  # the records, as kept
