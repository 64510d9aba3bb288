"""Shared fixtures. Real-data tests take ``shared_data`` and skip only when the folder is absent."""

from __future__ import annotations

import pytest

from hotspot.core.settings import shared_data_dir


@pytest.fixture(scope="session")
def shared_data():
    """The real-data folder (``$HOTSPOT_DATA``, default ``../shared/data``); skips the test when absent."""
    folder = shared_data_dir()
    if not (folder / "SOURCES.md").exists():
        pytest.skip(f"real data folder {folder} is absent (set HOTSPOT_DATA)")
    return folder


@pytest.fixture(scope="session")
def bedfordshire_crime_dir(shared_data):
    return shared_data / "policeuk-bedfordshire"


@pytest.fixture(scope="session")
def bedfordshire_lsoas_path(shared_data):
    return shared_data / "boundaries-bedfordshire" / "lsoa21_bedfordshire_bgc.gpkg"
