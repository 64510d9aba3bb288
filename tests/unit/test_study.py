"""Study loading: the automatic study area when no boundaries are given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hotspot.ingest.study import load_study, main_body_mask


def test_main_body_keeps_the_force_area_and_rejects_distant_strays():
    rng = np.random.default_rng(0)
    body = np.column_stack([rng.uniform(490_000, 525_000, 20_000), rng.uniform(213_000, 269_000, 20_000)])
    fringe = np.column_stack(
        [rng.uniform(525_000, 527_000, 30), rng.uniform(230_000, 240_000, 30)]
    )  # just over the edge
    strays = np.array([[147_000, 30_000], [362_000, 593_000], [436_000, 560_000]])  # Cornwall, the north east
    points = np.vstack([body, fringe, strays])
    keep = main_body_mask(points[:, 0], points[:, 1])
    assert keep[: len(body) + len(fringe)].all()
    assert not keep[-3:].any()


def test_load_study_reports_far_records_as_outside_the_study_area(tmp_path):
    rng = np.random.default_rng(1)
    lon = np.r_[rng.uniform(-0.5, -0.4, 500), -5.5]  # the last one in Cornwall
    lat = np.r_[rng.uniform(52.1, 52.2, 500), 50.2]
    frame = pd.DataFrame(
        {
            "Crime ID": "",
            "Month": "2023-01",
            "Reported by": "Test Police",
            "Falls within": "Test Police",
            "Longitude": lon,
            "Latitude": lat,
            "Location": "On or near High Street",
            "LSOA code": "E01000001",
            "LSOA name": "Test 001A",
            "Crime type": "Burglary",
            "Last outcome category": "",
            "Context": "",
        }
    )
    path = tmp_path / "2023-01-test-street.csv"
    frame.to_csv(path, index=False)
    study = load_study([path])
    assert len(study.records) == 500
    assert study.records.reject_counts["outside_study_area"] == 1
    assert study.notes and "far from the main body" in study.notes[0]


def test_main_body_weights_count_records_not_locations():
    # One merged location holding many records is the main body, a lone location far away is not.
    x = np.array([500_000.0, 500_050.0, 900_000.0])
    y = np.array([200_000.0, 200_050.0, 900_000.0])
    keep = main_body_mask(x, y, weights=np.array([500.0, 500.0, 1.0]))
    assert keep.tolist() == [True, True, False]
