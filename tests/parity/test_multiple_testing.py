"""BH / Bonferroni adjustment and ArcGIS-style bins against statsmodels and hand-worked cases."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from hotspot.core.errors import HotspotInputError
from hotspot.stats.multiple_testing import adjust_pvalues, bin_counts, confidence_bins


def test_fdr_matches_statsmodels_and_ignores_nan():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-3, size=20)])
    p_nan = np.concatenate([p, [np.nan, np.nan]])
    ours = adjust_pvalues(p_nan, "fdr")
    ref = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(ours[:-2], ref, rtol=1e-12)
    assert np.isnan(ours[-2:]).all()


def test_fdr_with_ties_matches_statsmodels():
    """Tied p-values (exact nulls give few distinct values, empty cells p = 1) in any order of the sort."""
    rng = np.random.default_rng(1)
    p = np.concatenate([np.round(rng.uniform(size=3000), 2), np.ones(2000), np.full(500, 1e-4), rng.uniform(size=500)])
    rng.shuffle(p)
    np.testing.assert_allclose(adjust_pvalues(p, "fdr"), multipletests(p, method="fdr_bh")[1], rtol=1e-12)


def test_bonferroni_and_none():
    p = np.array([0.001, 0.02, 0.5, np.nan])
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni")[:3], [0.003, 0.06, 1.0])
    np.testing.assert_allclose(adjust_pvalues(p, "none")[:3], p[:3])
    with pytest.raises(HotspotInputError):
        adjust_pvalues(p, "holm")


def test_bins_levels_and_signs():
    z = np.array([3.0, 2.0, 1.7, 0.5, -1.7, -2.0, -3.0, np.nan, 2.0])
    p = np.array([0.005, 0.03, 0.08, 0.5, 0.08, 0.03, 0.01, 0.001, np.nan])
    bins = confidence_bins(z, p)
    assert bins.tolist() == [3, 2, 1, 0, -1, -2, -3, 0, 0]
    assert bin_counts(bins) == {3: 1, 2: 1, 1: 1, 0: 3, -1: 1, -2: 1, -3: 1}
