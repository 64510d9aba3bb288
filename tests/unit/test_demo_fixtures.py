"""The demo fixtures hand each test a deep copy: changing it leaves the cached build, and the next test's copy,
as they were; and a test that changes the cached build itself fails the run."""

from __future__ import annotations

import numpy as np

from boundaries.demo import demo_scenario
from tests.support import run_pytest
from tests.support.demo import fingerprint


def test_a_changed_demo_town_copy_leaves_the_cached_town_as_it_was(demo_town):
    cached = demo_scenario("town")
    before = fingerprint(cached)
    assert demo_town is not cached and fingerprint(demo_town) == before
    demo_town.crimes.loc[demo_town.crimes.index[0], "x"] += 1.0
    demo_town.lsoas.loc[demo_town.lsoas.index[0], "area_name"] = "changed"
    demo_town.truth["nte_quarter"]["radius_m"] += 1.0
    next(iter(demo_town.intensity.values()))[0, 0] += 1.0
    demo_town.domain[0, 0] = ~demo_town.domain[0, 0]
    del demo_town.features["decoy"]
    assert fingerprint(demo_town) != before
    assert fingerprint(cached) == before
    assert cached.crimes["x"].iloc[0] != demo_town.crimes["x"].iloc[0] and "decoy" in cached.features


def test_each_demo_study_is_its_own(demo_study, spacetime_study):
    first = demo_study()
    town_before = fingerprint(demo_scenario("town"))
    first.boundaries.loc[first.boundaries.index[0], "area_name"] = "changed"
    first.demo.truth["nte_quarter"]["radius_m"] = -1.0
    first.records.frame.loc[first.records.frame.index[0], "x"] = np.nan
    second = demo_study()
    assert second.boundaries["area_name"].iloc[0] != "changed" and second.demo.truth["nte_quarter"]["radius_m"] > 0
    assert np.isfinite(second.records.frame["x"].iloc[0])
    assert fingerprint(demo_scenario("town")) == town_before
    spacetime_before = fingerprint(demo_scenario("spacetime"))
    spacetime_study.demo.truth["spacetime"].clear()
    assert fingerprint(demo_scenario("spacetime")) == spacetime_before


def test_a_test_that_changes_the_cached_demo_fails_the_run(tmp_path):
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    # A small stand-in for the cached town (building the real one takes seconds): the check is the same.
    (tmp_path / "tests" / "unit" / "test_planted.py").write_text(
        "import boundaries.demo\n\n"
        "CACHED = {'truth': {'nte_quarter': {'radius_m': 250.0}}}\n"
        "boundaries.demo.demo_scenario = lambda scenario='town': CACHED\n\n\n"
        "def test_takes_a_copy(demo_town):\n"
        "    demo_town['truth']['nte_quarter']['radius_m'] += 1.0\n\n\n"
        "def test_changes_the_cache(demo_town):\n"
        "    CACHED['truth']['nte_quarter']['radius_m'] += 1.0\n"
    )
    run = run_pytest(tmp_path)
    assert run.returncode == 1 and "2 passed, 1 error" in run.stdout, run.stdout
    assert "ERROR tests/unit/test_planted.py::test_changes_the_cache" in run.stdout  # at the session's end
    assert "a test changed the cached demo scenario(s) town" in run.stdout
