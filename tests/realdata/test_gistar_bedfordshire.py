"""Gi* on real Bedfordshire data: parity with esda over the LSOAs (queen contiguity), and hot 100 m cells in the
town centres."""

import numpy as np
import pytest

from tests.recovery.test_gistar_recovery import _esda_z


@pytest.mark.realdata
def test_bedfordshire_lsoas_queen_parity_with_esda(bedfordshire_crime_dir, bedfordshire_lsoas_path):
    """The path an analyst runs (records -> counts per LSOA -> Gi* over queen contiguity) on the real records,
    checked against esda on the same counts, and the counts against a count of the raw CSVs."""
    from hotspot.ingest.study import load_study
    from hotspot.stats.gistar import gi_star_points
    from hotspot.stats.weights import area_weights
    from tests.support.raw_policeuk import located_rows

    study = load_study([bedfordshire_crime_dir], boundaries=bedfordshire_lsoas_path)
    areas = study.boundaries
    assert len(areas) == 417
    frame, res = gi_star_points(study.records, boundaries=areas, weights="queen", permutations=99)
    values = frame["count"].to_numpy()
    by_code = dict.fromkeys(areas["area_code"].astype(str), 0)
    for row in located_rows(bedfordshire_crime_dir):
        if row["LSOA code"] in by_code:
            by_code[row["LSOA code"]] += 1
    raw = np.array(list(by_code.values()), dtype=float)
    # Counts by the records' own codes, plus the 33 records coded to neighbouring forces' LSOAs that lie
    # within 20 m of a Bedfordshire LSOA (hotspot.core.assign's rule).
    assert (values >= raw).all() and values.sum() - raw.sum() == 33
    assert np.max(np.abs(res.z - _esda_z(values, area_weights(areas, "queen")))) < 1e-8
    assert np.isfinite(res.p_sim[res.n_neighbours > 0]).all()
    assert (res.bin >= 2).sum() > 0


@pytest.mark.realdata
@pytest.mark.slow
def test_bedfordshire_100m_grid_hot_cells_in_town_centres(bedfordshire_crime_dir):
    from hotspot.ingest import read_records
    from hotspot.stats.gistar import gi_star_points

    records = read_records([str(bedfordshire_crime_dir)])
    # a few hundred rows sit hundreds of km away; keep those police.uk places in a Bedfordshire LSOA
    in_beds = records.frame["lsoa_name"].str.match(r"^(Bedford|Central Bedfordshire|Luton) ").to_numpy()
    records = records.with_frame(records.frame[in_beds])
    frame, res = gi_star_points(records, cell_size_m=100, band_m=300, permutations=999)
    assert res.null_method.startswith("exact")
    hot = frame[frame["gi_bin"] == 3]
    assert len(hot) > 100
    centres = {"Luton": (509200.0, 221300.0), "Bedford": (504900.0, 249700.0)}
    c = frame.geometry.centroid
    for name, (x, y) in centres.items():
        near = np.hypot(c.x - x, c.y - y) <= 400
        assert (frame.loc[near, "gi_bin"] == 3).mean() > 0.5, name
    top = frame.nlargest(20, "gi_z").geometry.centroid
    dist = np.min([np.hypot(top.x - x, top.y - y) for x, y in centres.values()], axis=0)
    assert np.mean(dist < 2500) >= 0.5
