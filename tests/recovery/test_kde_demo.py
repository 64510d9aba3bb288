"""Kernel density on the demo town: the peaks sit on the planted clusters and the planted quiet area stays empty."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hotspot.places.surface import surface_hotspots
from hotspot.stats.density import density_for_study
from hotspot.stats.kde import kernel_density


@pytest.fixture
def study(demo_study):
    return demo_study()


def _peak_xy(result):
    row, col = np.unravel_index(np.nanargmax(result.surface), result.grid.shape)
    return result.grid.column_centres()[col], result.grid.row_centres()[row]


def test_all_crime_peak_is_in_the_nte_quarter(study):
    truth = study.demo.truth["nte_quarter"]
    result = density_for_study(study, cell_size_m=50.0, bandwidth_m=400.0)
    px, py = _peak_xy(result)
    assert math.hypot(px - truth["x"], py - truth["y"]) < truth["radius_m"]
    assert 0.95 < result.mass_on_grid <= 1.0
    assert result.n_points == len(study.records)
    # The first hotspot polygon holds the NTE centre and the most crimes.
    frame = study.records.frame
    hotspots = surface_hotspots(result, area_share=0.02, x=frame["x"], y=frame["y"])
    import shapely

    assert hotspots.geometry.iloc[0].contains(shapely.Point(truth["x"], truth["y"]))


def test_burglary_peak_is_on_the_burglary_cluster(study):
    truth = study.demo.truth["burglary_cluster"]
    frame = study.records.frame
    burglary = frame[frame["crime_type"] == truth["crime_type"]]
    whole = density_for_study(study, cell_size_m=50.0, bandwidth_m=400.0)
    result = kernel_density(burglary["x"], burglary["y"], whole.grid, bandwidth_m=400.0, mask=whole.mask)
    px, py = _peak_xy(result)
    assert math.hypot(px - truth["x"], py - truth["y"]) < truth["sigma_m"]


def test_quiet_area_has_zero_density(study):
    quiet = study.demo.truth["quiet_area"]
    # No crime lies within the 350 m lake, so with a 300 m bandwidth its centre cell sees none.
    result = density_for_study(study, cell_size_m=50.0, bandwidth_m=300.0)
    row, col, inside = result.grid.cell_index(np.array([quiet["x"]]), np.array([quiet["y"]]))
    assert inside[0]
    assert result.surface[row[0], col[0]] == 0.0
    assert np.nanmax(result.surface) > 1000  # per km2: a real surface, not all zeros


def test_study_without_boundaries_gets_a_padded_grid(study):
    from dataclasses import replace

    bare = replace(study, boundaries=None, demo=None, area=None)
    result = density_for_study(bare, cell_size_m=50.0, bandwidth_m=400.0, units="per-cell")
    assert result.mask is None and np.isfinite(result.surface).all()
    # The grid reaches a bandwidth beyond the outermost records, so only discretisation is lost.
    assert result.mass_on_grid == pytest.approx(1.0, abs=2e-3)
    frame = study.records.frame
    assert result.grid.xmin <= frame["x"].min() - 400 and result.grid.xmax >= frame["x"].max() + 400
