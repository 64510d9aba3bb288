"""Gini, Lorenz curve and top-20 % share against direct formulas and known cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotspot.core.errors import HotspotInputError
from hotspot.stats.concentration import concentration


def _gini_mad(c: np.ndarray) -> float:
    """Mean absolute difference over all ordered pairs / (2 * mean)."""
    c = np.asarray(c, dtype=float)
    return float(np.abs(c[:, None] - c[None, :]).sum() / (2 * c.size**2 * c.mean()))


def test_known_cases():
    assert concentration([4, 4, 4, 4]).gini == pytest.approx(0.0)
    one = concentration([0, 0, 0, 0, 10])
    assert one.gini == pytest.approx(4 / 5)
    assert one.top20_share == pytest.approx(1.0)
    assert concentration([1, 1, 1, 1, 1]).top20_share == pytest.approx(0.2)
    # Ten areas: the busiest two hold (10 + 9) / 55.
    assert concentration(np.arange(1, 11)).top20_share == pytest.approx(19 / 55)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=60).filter(lambda v: sum(v) > 0))
def test_gini_equals_mean_absolute_difference(values):
    s = concentration(values)
    assert s.gini == pytest.approx(_gini_mad(np.array(values)), abs=1e-12)
    assert s.lorenz_y[0] == 0 and s.lorenz_y[-1] == 1
    assert np.all(np.diff(s.lorenz_y) >= -1e-15)
    assert np.all(s.lorenz_y <= s.lorenz_x + 1e-12)  # a Lorenz curve never rises above the diagonal


def test_top_share_interpolates_the_boundary_area():
    counts = np.array([10.0, 5.0, 3.0, 1.0, 1.0, 0.0, 0.0])  # 7 areas: 20 % = 1.4 areas
    expected = (10 + 0.4 * 5) / 20
    assert concentration(counts).top20_share == pytest.approx(expected)


def test_bad_counts_raise_input_error():
    with pytest.raises(HotspotInputError):
        concentration([])
    with pytest.raises(HotspotInputError):
        concentration([1, -1])
    assert np.isnan(concentration([0, 0]).gini)
