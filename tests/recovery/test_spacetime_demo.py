"""Recovery of the demo town's planted space-time truth: the emerging, fading and persistent hot spots and the
near-repeat reach (the statistics themselves are checked against references in tests/parity/test_spacetime.py)."""

from __future__ import annotations

import numpy as np

from hotspot.spacetime.knox import knox_test


def test_demo_town_records_are_unchanged_by_the_scenario(spacetime_study, demo_town):
    town = demo_town
    assert len(spacetime_study.records) != len(town.crimes)
    assert "spacetime" not in town.truth and "spacetime" in spacetime_study.demo.truth


def test_trends_recover_each_planted_category(spacetime_study):
    import dataclasses

    from hotspot.spacetime.trends import trends_for_study

    truth = spacetime_study.demo.truth["spacetime"]
    from hotspot.ingest import apply_filters

    study = dataclasses.replace(
        spacetime_study, records=apply_filters(spacetime_study.records, crime_types=[truth["trend_type"]])
    )
    result = trends_for_study(study, cell_size_m=100.0, band_m=200.0)
    frame = result.frame()
    centres = frame.geometry.centroid
    for name in ("emerging", "fading", "persistent"):
        x, y = truth[name]["centre_xy"]
        d = np.hypot(centres.x - x, centres.y - y)
        centre_cell = frame.loc[d.idxmin()]
        assert centre_cell["category"] == truth[name]["category"], (name, centre_cell.to_dict())
        near = frame.loc[d < 150, "category"]
        assert (near == truth[name]["category"]).mean() >= 0.6, (name, near.value_counts())
    # away from the planted spots (and the background's own clusters) almost nothing is a hot spot
    counts = result.category_counts()
    assert counts["no pattern detected"] >= 0.9 * len(frame)


def test_knox_recovers_the_planted_near_repeat_reach(spacetime_study):
    from hotspot.ingest import apply_filters
    from hotspot.spacetime.knox import record_times

    truth = spacetime_study.demo.truth["spacetime"]["near_repeat"]
    records = apply_filters(spacetime_study.records, crime_types=["Burglary"])
    times, unit = record_times(records.frame)
    assert unit == "days"
    result = knox_test(
        records.xy, times, distance_band_m=100, distance_bands=5, time_band=7, time_bands=4, permutations=199, seed=0
    )
    assert result.reach() == (truth["reach_m"], truth["reach_days"])
    table = result.table()
    beyond = table[~table["distance_band"].isin(["1-100 m", "101-200 m"]) | (table["time_band"] != "0-7 days")]
    assert not beyond["significant"].any(), beyond[beyond["significant"]]
