"""Ranked places: budgets, merging, shares, naming, peak windows and trends on synthetic studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import Records
from hotspot.ingest.study import Study
from hotspot.places.rank import rank_places
from hotspot.places.timing import describe_window, monthly_trend, peak_windows


def _study(points, *, times=None, months=None, locations=None, types=None):
    """A Study from explicit points (metres, EPSG:27700)."""
    points = np.asarray(points, dtype=float)
    n = len(points)
    frame = pd.DataFrame(
        {
            "x": points[:, 0],
            "y": points[:, 1],
            "lon": np.nan,
            "lat": np.nan,
            "crime_id": [f"c{i}" for i in range(n)],
            "month": months if months is not None else ["2024-01"] * n,
            "datetime": pd.to_datetime(times) if times is not None else pd.NaT,
            "crime_type": types if types is not None else ["Burglary"] * n,
            "location": locations if locations is not None else ["On or near High Street"] * n,
            "lsoa_code": "E01000001",
            "lsoa_name": "Testtown 001A",
            "outcome": "",
            "source": "test",
            "source_row": np.arange(1, n + 1),
        }
    )
    return Study(records=Records(frame=frame, crs="EPSG:27700", has_times=times is not None, sources=["test"]))


def _background(rng, n, extent=(500_000, 200_000, 505_000, 205_000)):
    x = rng.uniform(extent[0], extent[2], n)
    y = rng.uniform(extent[1], extent[3], n)
    return np.column_stack([x, y])


def test_count_ranking_finds_the_two_dense_places_in_order():
    rng = np.random.default_rng(1)
    big = rng.normal([501_050, 201_050], 20, size=(300, 2))  # inside one 100 m cell
    small = rng.normal([503_550, 203_550], 20, size=(120, 2))
    points = np.vstack([big, small, _background(rng, 500)])
    result = rank_places(_study(points), method="count", cell_size_m=100, top=5)
    places = result.places
    assert list(places["rank"]) == [1, 2, 3, 4, 5]
    assert abs(places.iloc[0]["easting"] - 501_050) < 150 and abs(places.iloc[0]["northing"] - 201_050) < 150
    assert abs(places.iloc[1]["easting"] - 503_550) < 150
    assert places.iloc[0]["count"] >= 300 and places.iloc[1]["count"] >= 120
    # Shares are of all records and the cumulative share is their running sum.
    np.testing.assert_allclose(places["share"], places["count"] / len(points))
    np.testing.assert_allclose(places["cumulative_share"], np.cumsum(places["share"]))
    assert places["count"].is_monotonic_decreasing


def test_area_budget_limits_the_selected_area():
    rng = np.random.default_rng(2)
    points = _background(rng, 3000)
    study = _study(points)
    result = rank_places(study, method="count", cell_size_m=100, area_share=0.01)
    n_cells = result.grid.size
    assert result.places["n_cells"].sum() <= int(0.01 * n_cells)
    assert result.places["area_m2"].sum() == pytest.approx(result.places["n_cells"].sum() * 100 * 100)


def test_touching_cells_merge_into_one_place_and_no_merge_keeps_cells():
    rng = np.random.default_rng(3)
    # A 300 m x 100 m strip of dense crime spans three touching cells.
    strip = np.column_stack([rng.uniform(501_000, 501_300, 600), rng.uniform(201_000, 201_100, 600)])
    points = np.vstack([strip, _background(rng, 200)])
    merged = rank_places(_study(points), cell_size_m=100, top=3)
    assert merged.places.iloc[0]["n_cells"] >= 3
    assert merged.places.iloc[0]["count"] >= 600
    cells = rank_places(_study(points), cell_size_m=100, top=3, merge=False)
    assert (cells.places["n_cells"] == 1).all()


def test_place_named_after_its_commonest_street():
    points = [[501_010, 201_010]] * 5 + [[501_020, 201_020]] * 2
    locations = ["On or near Mill Lane"] * 5 + ["On or near Church Street"] * 2
    result = rank_places(_study(points, locations=locations), cell_size_m=100, top=1)
    assert result.places.iloc[0]["name"] == "Mill Lane, Testtown 001A"


def test_peak_window_of_a_weekend_night_profile():
    profile = np.zeros((7, 24))
    profile[4, 22:24] = 30  # Fri 22-24
    profile[5, 0:3] = 30  # Sat 00-03 (Friday night continuing)
    profile[5, 22:24] = 40  # Sat 22-24
    profile[6, 0:3] = 40  # Sun 00-03
    profile += 1  # background
    windows = peak_windows(profile, smooth=False)
    assert [describe_window(s, n) for s, n, _, _ in windows] == ["Sat 22:00-03:00", "Fri 22:00-03:00"]
    assert windows[0][2] == 5 * 41 and windows[1][2] == 5 * 31
    # A stricter threshold keeps only the Saturday-night run.
    assert [describe_window(s, n) for s, n, _, _ in peak_windows(profile, relative=0.9, smooth=False)] == [
        "Sat 22:00-03:00"
    ]


def test_peak_window_wraps_from_sunday_to_monday():
    profile = np.zeros((7, 24))
    profile[6, 23] = 10
    profile[0, 0:2] = 10
    start, length, count, share = peak_windows(profile, smooth=False)[0]
    assert describe_window(start, length) == "Sun 23:00-02:00"
    assert count == 30 and share == 1.0


def _mann_kendall(values):
    """Mann-Kendall by hand: S from every pair, tau-b with ties, two-sided normal p with the tie-corrected variance."""
    from math import erfc, sqrt

    n = len(values)
    sign = np.sign(values[None, :] - values[:, None])[np.triu_indices(n, 1)]
    s = sign.sum()
    _, ties = np.unique(values, return_counts=True)
    n0 = n * (n - 1) / 2
    tau = s / sqrt(n0 * (n0 - (ties * (ties - 1) / 2).sum()))
    var = (n * (n - 1) * (2 * n + 5) - (ties * (ties - 1) * (2 * ties + 5)).sum()) / 18
    z = s / sqrt(var)
    return tau, erfc(abs(z) / sqrt(2))


def test_monthly_trend_detects_rise_fall_and_flat():
    rising = pd.Series(np.arange(24) * 3 + 10)
    assert monthly_trend(rising)[0] == "rising"
    assert monthly_trend(rising[::-1].reset_index(drop=True))[0] == "falling"
    rng = np.random.default_rng(0)
    for _ in range(20):
        noisy = pd.Series(rng.poisson(20, 24))
        label, tau, p = monthly_trend(noisy)
        ref_tau, ref_p = _mann_kendall(noisy.to_numpy())
        assert tau == pytest.approx(ref_tau, abs=1e-12) and p == pytest.approx(ref_p, abs=0.02)
        expected = "no clear trend" if ref_p >= 0.05 else ("rising" if ref_tau > 0 else "falling")
        assert label == expected
    assert monthly_trend(pd.Series([5, 5, 5, 5, 5]))[0] == "no clear trend"
    assert monthly_trend(pd.Series([1, 2]))[0] == "too few months"


def test_rank_reports_peaks_when_records_have_times():
    rng = np.random.default_rng(4)
    n = 400
    pts = rng.normal([501_050, 201_050], 15, size=(n, 2))
    # All on Saturday nights 23:00-01:00.
    base = pd.Timestamp("2024-01-06 23:00")  # a Saturday
    times = [
        base + pd.Timedelta(weeks=int(w), minutes=int(m))
        for w, m in zip(rng.integers(0, 20, n), rng.integers(0, 120, n))
    ]
    result = rank_places(_study(pts, times=times), cell_size_m=100, top=1)
    assert result.places.iloc[0]["peak"].startswith("Sat 23:00-01:00")
    assert result.profiles["P001"].sum() == result.places.iloc[0]["count"]


def test_bad_parameters_are_one_line_errors():
    study = _study([[501_000, 201_000]])
    with pytest.raises(HotspotInputError, match="--method"):
        rank_places(study, method="magic")
    with pytest.raises(HotspotInputError, match="--area-share"):
        rank_places(study, area_share=1.5)
    with pytest.raises(HotspotInputError, match="--top"):
        rank_places(study, top=0)
    with pytest.raises(HotspotInputError, match="--over areas needs --boundaries"):
        rank_places(study, over="areas")


def test_streets_ranking_groups_by_street_and_district():
    points = [[501_000, 201_000]] * 3 + [[502_000, 202_000]] * 5
    locations = ["On or near Mill Lane"] * 3 + ["On or near High Street"] * 5
    result = rank_places(_study(points, locations=locations), over="streets")
    assert list(result.places["name"]) == ["High Street, Testtown", "Mill Lane, Testtown"]
    assert list(result.places["count"]) == [5, 3]


def test_places_never_exceed_the_seed_block():
    rng = np.random.default_rng(5)
    # A dense 1 km square would be one connected blob; places must stay patrol-sized.
    blob = np.column_stack([rng.uniform(501_000, 502_000, 5000), rng.uniform(201_000, 202_000, 5000)])
    points = np.vstack([blob, _background(rng, 300)])
    for radius in (1, 2):
        result = rank_places(_study(points), cell_size_m=100, top=50, place_radius_cells=radius)
        assert result.places["n_cells"].max() <= (2 * radius + 1) ** 2
        assert len(result.places) == 50
    # Every record is in at most one place: the places' shares never add past 1.
    assert result.places["share"].sum() <= 1.0 + 1e-12


def test_police_uk_facility_labels_yield_to_street_names():
    points = [[501_010, 201_010]] * 6 + [[501_020, 201_020]] * 2
    locations = ["On or near Supermarket"] * 6 + ["On or near George Street"] * 2
    result = rank_places(_study(points, locations=locations), cell_size_m=100, top=1)
    assert result.places.iloc[0]["name"] == "George Street, Testtown 001A"


def test_smoothing_finds_a_noisy_weekend_night_peak():
    rng = np.random.default_rng(11)
    rate = np.full((7, 24), 1.0)
    rate[5, 22:24] = rate[6, 0:3] = 6.0  # Sat 22:00-03:00, planted
    profile = rng.poisson(rate * 1.5)
    start, length, _, _ = peak_windows(profile)[0]
    words = describe_window(start, length)
    assert words.startswith("Sat 2"), words
    assert length >= 3


def test_repeated_names_are_numbered():
    points = [[501_010, 201_010]] * 5 + [[503_010, 203_010]] * 3
    result = rank_places(_study(points), cell_size_m=100, top=2)
    assert list(result.places["name"]) == ["High Street, Testtown 001A", "High Street, Testtown 001A (2)"]
