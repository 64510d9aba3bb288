"""The backtest end to end on real police.uk Bedfordshire data (100 m cells, 12 training months, 3 folds)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bedfordshire(bedfordshire_crime_dir, bedfordshire_lsoas_path):
    import geopandas as gpd

    from hotspot.core.grid import Grid
    from hotspot.ingest import read_records

    records = read_records([bedfordshire_crime_dir])
    lsoas = gpd.read_file(bedfordshire_lsoas_path).to_crs(records.crs)
    grid = Grid.from_geometry(lsoas, 100.0, crs=records.crs)
    return records, grid, grid.mask_from_geometry(lsoas)


def test_backtest_on_bedfordshire(bedfordshire):
    from hotspot.forecast.backtest import backtest, default_forecasters

    records, grid, mask = bedfordshire
    methods = default_forecasters(area_share=0.01, mask=mask)
    assert {"previous_period", "counts_all", "kde_400m", "combined"} <= set(methods)
    result = backtest(records, grid, methods, area_share=0.01, train_months=12, test_months=1, folds=3, mask=mask)
    folds = result.folds
    assert len(folds) == 3 * len(methods)
    assert folds["test_from"].unique().tolist() == ["2023-02", "2023-03", "2023-04"]
    assert np.allclose(folds["area_selected"], 0.01)
    assert (folds["n_test"] > 4000).all()
    summary = result.means.set_index("method")
    print("\n" + result.means.to_string())
    # Snap-point counts are a strong baseline (PAI ~ 56 here); combined must beat it and the smooth KDE.
    assert summary.loc["previous_period", "pai"] > 40
    assert summary.loc["combined", "pai"] > summary.loc["previous_period", "pai"]
    assert summary.loc["combined", "pai"] > summary.loc["kde_400m", "pai"]
    assert (
        folds.pivot(index="fold", columns="method", values="pai")["combined"]
        > folds.pivot(index="fold", columns="method", values="pai")["previous_period"]
    ).all()
    assert any("combined: blend for the latest test month" in note for note in result.notes)
    assert (folds.loc[folds["method"] == "combined", "blend"].str.len() > 0).all()
