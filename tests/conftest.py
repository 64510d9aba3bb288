"""Shared fixtures and the test layout.

Tests live in folders by kind, and the folder sets the marker (``pytest -m "not realdata"``, ``pytest tests/unit``):

- ``tests/unit``: a function or class on small inputs, no real data;
- ``tests/parity``: our statistic against an independent reference (esda, KDEpy, statsmodels, brute force ...);
- ``tests/recovery``: the demo towns' planted truth is recovered;
- ``tests/realdata``: anything that needs the real-data folder (the ``shared_data`` fixture);
- ``tests/cli``: drives ``hotspot`` commands, and real clients (QGIS, a browser) open the outputs.

Real-data tests take ``shared_data`` (directly or through another fixture) and skip only when the folder is
absent; such a test outside ``tests/realdata`` fails saying where it belongs, so the marker cannot go
missing. Helpers shared by several files are in ``tests/support``.

The demo town and its scenarios are built once per process (``boundaries.demo`` caches them, so once per
pytest-xdist worker) and handed to each test as a deep copy by the ``demo_town``, ``demo_study`` and
``spacetime_study`` fixtures, so a test may change what it is given without changing what the next test sees;
after the last test, the cached builds are checked against their fingerprints from when they were first handed
out.

Each test process keeps its cache (``$HOTSPOT_CACHE``: parsed inputs, generated files) in a temporary folder of its
own, removed when it ends, so running the suite neither fills nor depends on the user's cache.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from hotspot.core.settings import CACHE_ENV_VAR, shared_data_dir

# The suite's own cache folder (parsed inputs, generated files), removed when the process ends: tests read hundreds
# of temporary files, whose entries are never read again, and must neither fill nor lean on the user's cache.
# Commands the tests start inherit it; tests that look at the cache itself point it elsewhere again.
_SUITE_CACHE = tempfile.mkdtemp(prefix="hotspot-tests-cache-")
os.environ[CACHE_ENV_VAR] = _SUITE_CACHE
atexit.register(shutil.rmtree, _SUITE_CACHE, True)

TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "parity", "recovery", "realdata", "cli")
"""The test folders; each one's name is the marker its tests get."""


def kind_of(path) -> str | None:
    """The kind folder a test file sits in (``unit`` ...), or None when it is not in one."""
    try:
        parts = Path(path).resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in KINDS else None


def layout_problem(item) -> str | None:
    """Why a collected test is in the wrong place: outside the kind folders, or needing real data
    (``shared_data`` anywhere in its fixture closure) outside ``tests/realdata``; None when it is in place."""
    kind = kind_of(item.path)
    if kind is None:
        return f"put test files in one of tests/{{{','.join(KINDS)}}}/"
    if kind != "realdata" and "shared_data" in item.fixturenames:
        return "needs the real data (shared_data) so it belongs in tests/realdata/"
    return None


_PROBLEM = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)  # before -m deselects, so "not realdata" sees the markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        kind = kind_of(item.path)
        if kind is not None:
            item.add_marker(kind)
        problem = layout_problem(item)
        if problem:
            item.stash[_PROBLEM] = problem


@pytest.hookimpl(tryfirst=True)  # before fixtures: a misplaced real-data test fails rather than skips
def pytest_runtest_setup(item):
    """A misplaced test fails with one line saying where it belongs (a failure rather than a collection
    error, because pytest-xdist reports a worker's collection error only as an internal error)."""
    problem = item.stash.get(_PROBLEM, None)
    if problem:
        pytest.fail(f"test layout (tests/conftest.py): {problem}", pytrace=False)


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


_DEMO_FINGERPRINTS: dict[str, str] = {}
"""Per demo scenario handed out in this process, the fingerprint of the cached build when first handed out."""


def _cached_demo(scenario: str):
    """The cached build of a demo scenario (once per process), its fingerprint noted the first time."""
    from boundaries.demo import demo_scenario
    from tests.support.demo import fingerprint

    built = demo_scenario(scenario)
    if scenario not in _DEMO_FINGERPRINTS:
        _DEMO_FINGERPRINTS[scenario] = fingerprint(built)
    return built


@pytest.fixture(scope="session", autouse=True)
def demo_cache_is_never_changed():
    """After the last test, the cached demo scenarios must still be what they were when first handed out: a
    test (or the library under test) that changed one fails here, naming the scenario."""
    yield
    from boundaries.demo import demo_scenario
    from tests.support.demo import fingerprint

    changed = [name for name, before in _DEMO_FINGERPRINTS.items() if fingerprint(demo_scenario(name)) != before]
    if changed:
        pytest.fail(
            f"a test changed the cached demo scenario(s) {', '.join(changed)}: change the copy the "
            "demo_town / demo_study fixtures hand out instead",
            pytrace=False,
        )


@pytest.fixture
def demo_town():
    """A deep copy of the demo town (:class:`boundaries.demo.town.DemoTown`), the test's own to change."""
    return copy.deepcopy(_cached_demo("town"))


@pytest.fixture
def demo_study():
    """``demo_study(scenario="town", **options)``: a deep copy of a Study of a demo scenario, as
    :func:`boundaries.demo.demo_study` builds it (``options`` as for ``load_study``: filters, crs)."""
    from boundaries.demo import demo_study as build

    def make(scenario: str = "town", **options):
        _cached_demo(scenario)
        return copy.deepcopy(build(scenario, **options))

    return make


@pytest.fixture
def spacetime_study(demo_study):
    """A deep copy of the Study of the demo town's space-time scenario (planted trends and near repeats)."""
    return demo_study("spacetime")
