"""RTM of violence and sexual offences in Bedford and Luton from the shared police.uk records and real features."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

LADS = ("E06000055", "E06000032")  # Bedford, Luton: the only LADs the licensed-premises file covers


@pytest.fixture(scope="module")
def real_rtm(shared_data, bedfordshire_crime_dir):
    import geopandas as gpd

    from hotspot.ingest.study import load_study
    from rtm.factors import read_factors
    from rtm.pipeline import build

    study = load_study([str(bedfordshire_crime_dir)], crime_types=["Violence and sexual offences"])
    lad = gpd.read_file(shared_data / "boundaries-bedfordshire" / "lad_bedfordshire_dissolved_from_lsoa21.gpkg")
    area = lad[lad["LAD_CODE"].isin(LADS)].to_crs(study.crs)
    factors = read_factors(
        {
            "licensed_premises": shared_data / "poi-licensed-premises" / "open_pubs_fsa_bedford_luton.gpkg",
            "schools": shared_data / "poi-schools" / "gias_schools_bedfordshire.gpkg",
            "rail_stations": shared_data / "poi-railstations" / "rail_stations_bedfordshire_5km.gpkg",
        },
        study.crs,
    )
    return study, build(study.records, factors, study_area=area, cell_size_m=100.0, seed=0)


def test_real_rtm_runs_end_to_end(real_rtm, tmp_path):
    study, result = real_rtm
    table = result.model_table
    assert len(table) >= 1 and table["factor"].is_unique
    assert set(table["factor"]) <= {"licensed_premises", "schools", "rail_stations"}
    assert np.all(np.isin(table["distance_m"], [100, 200, 300, 400, 500, 600]))
    # Most of the two towns' violence is modelled (a few records lie in Central Bedfordshire or off the mask).
    assert result.counts[result.mask].sum() > 0.5 * len(study.records)
    assert np.nanmin(result.relative_risk) == pytest.approx(1.0)
    assert len(result.priority_places) > 0
    written = result.write(tmp_path / "real.gpkg")
    assert all(p.exists() for p in written)


def test_real_rtm_is_reproducible(real_rtm):
    import pandas as pd

    from rtm.model import fit
    from rtm.selection import select

    study, result = real_rtm
    again = fit(result.counts, select(result.counts, result.candidates, seed=0))
    pd.testing.assert_frame_equal(again.model_table, result.model_table)


def test_real_rtm_fit_matches_an_independent_statsmodels_fit(real_rtm):
    """The refit, done our way (merged identical cells, frequency weights), equals a plain statsmodels GLM of
    every study cell on the kept layers, with the same family (and NB alpha) the model chose."""
    import statsmodels.api as sm

    _, result = real_rtm
    model = result.model
    layers = model.table["layer"].to_numpy()
    mask = result.mask
    y = result.counts[mask]
    X = sm.add_constant(np.column_stack([result.candidates.stack[i][mask] for i in layers]).astype(float))
    family = sm.families.Poisson() if model.family == "poisson" else sm.families.NegativeBinomial(alpha=model.nb_alpha)
    reference = sm.GLM(y, X, family=family).fit()
    np.testing.assert_allclose(model.table["coef"], reference.params[1:], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.table["se"], reference.bse[1:], rtol=1e-4)
    np.testing.assert_allclose(model.table["p_value"], reference.pvalues[1:], rtol=1e-3, atol=1e-12)
    assert model.intercept == pytest.approx(reference.params[0], rel=1e-5)
