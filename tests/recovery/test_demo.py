"""The demo town: deterministic, internally consistent, and its crimes follow the exported truth."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import shapely

from boundaries.demo.town import DEMO_SEED, POLICE_UK_COLUMNS, demo_town
from hotspot.core.records import RECORD_COLUMNS
from tests.support import REPO

VIOLENCE = "Violence and sexual offences"


@pytest.fixture
def town(demo_town):
    return demo_town


def _nte_night(dt: pd.Series, days: list[str], start_hour: int, end_hour: int) -> np.ndarray:
    """True where a timestamp is in the window of a night starting on one of ``days`` (window crosses midnight)."""
    names = np.array(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    hour = dt.dt.hour.to_numpy()
    late = hour >= start_hour
    early = hour < end_hour
    night_dow = np.where(early, (dt.dt.day_of_week.to_numpy() - 1) % 7, dt.dt.day_of_week.to_numpy())
    return (late | early) & np.isin(names[night_dow], days)


def _factor_masks(town) -> dict[str, np.ndarray]:
    """Each factor's influence on the truth raster, recomputed independently of the generator."""
    from scipy.spatial import cKDTree

    grid = town.grid
    xs, ys = grid.cell_centres()
    centres = np.column_stack([xs.ravel(), ys.ravel()])
    masks = {}
    for name, spec in town.truth["rtm"]["factors"].items():
        distance_m = spec.get("distance_m", 150)  # the decoy has no planted distance: test it at 150 m
        geoms = town.features[name].geometry
        if name == "unlit_streets":
            d = shapely.distance(shapely.points(centres), shapely.union_all(geoms.values))
        else:
            d, _ = cKDTree(np.column_stack([geoms.x, geoms.y])).query(centres)
        masks[name] = (d <= distance_m).reshape(grid.shape)
    return masks


def test_same_seed_same_town_and_other_seed_differs(town):
    rebuilt = demo_town.__wrapped__(DEMO_SEED)  # bypass the cache: a genuinely second build
    pd.testing.assert_frame_equal(rebuilt.crimes, town.crimes)
    assert rebuilt.truth == town.truth
    other = demo_town(DEMO_SEED + 1)
    assert len(other.crimes) != len(town.crimes) or not np.allclose(other.crimes["x"], town.crimes["x"])
    assert other.lsoas.geometry.iloc[0] != town.lsoas.geometry.iloc[0]


def test_geography_looks_like_a_town(town):
    assert town.crs == "EPSG:27700"
    lsoas, wards = town.lsoas, town.wards
    assert 90 <= len(lsoas) <= 110
    assert lsoas["area_code"].is_unique and lsoas["area_name"].is_unique
    assert lsoas["area_code"].str.fullmatch(r"D01\d{6}").all()
    assert lsoas["area_name"].str.fullmatch(r"Demoton \d{3}[A-Z]").all()
    assert 120_000 <= lsoas["population"].sum() <= 180_000
    assert 4 <= len(wards) <= 8
    assert set(lsoas["ward_code"]) == set(wards["area_code"])
    assert (wards.geom_type == "Polygon").all()  # contiguous groups of LSOAs
    # LSOAs tile the outline: no gaps, no overlaps
    assert abs(lsoas.area.sum() - town.outline.area) < 1.0
    assert abs(shapely.union_all(lsoas.geometry.values).area - town.outline.area) < 1.0
    minx, miny, maxx, maxy = town.outline.bounds
    assert 5_000 <= maxx - minx <= 9_000 and 5_000 <= maxy - miny <= 9_000
    # "On or near X" is informative: streets mostly have their own names
    assert town.streets["name"].nunique() >= 0.95 * len(town.streets) - 10
    assert town.snap_points["location"].str.startswith("On or near ").all()
    kinds = set(town.features["licensed_premises"]["kind"])
    assert kinds == {"pub", "bar", "nightclub", "off_licence"}
    assert town.features["street_lights"]["lit"].dtype == bool
    assert 0 < (~town.features["street_lights"]["lit"]).mean() < 0.3
    assert set(town.features) == {"licensed_premises", "street_lights", "unlit_streets", "bus_stops", "decoy"}


def test_crimes_have_the_record_columns_and_plausible_values(town):
    crimes = town.crimes
    assert tuple(crimes.columns) == RECORD_COLUMNS
    assert 20_000 <= len(crimes) <= 30_000
    assert crimes["datetime"].min() >= pd.Timestamp("2023-01-01")
    assert crimes["datetime"].max() < pd.Timestamp("2025-01-01")
    assert (crimes["datetime"].dt.second == 0).all()
    assert (crimes["month"] == crimes["datetime"].dt.strftime("%Y-%m")).all()
    assert crimes["location"].str.startswith("On or near ").all()
    assert crimes["crime_id"].is_unique
    assert (crimes["source"] == "demo").all()
    assert list(crimes["source_row"]) == list(range(1, len(crimes) + 1))
    assert crimes["lon"].between(-3, 0).all() and crimes["lat"].between(51, 54).all()
    records = town.records()
    assert records.has_times and records.sources == ["demo"] and records.crs == "EPSG:27700"
    assert len(records) == len(crimes)


def test_counts_and_shares_match_the_documented_expectation(town):
    counts = town.crimes["crime_type"].value_counts()
    types = town.truth["crime_types"]
    assert set(counts.index) == set(types)
    for crime_type, spec in types.items():
        expected = spec["expected_count"]
        assert spec["count"] == counts[crime_type]
        # Poisson: 4.5 sd covers every type at once with overwhelming probability
        assert abs(counts[crime_type] - expected) <= 4.5 * np.sqrt(expected), crime_type
    assert list(counts.index[:2]) == [VIOLENCE, "Anti-social behaviour"]
    assert counts[VIOLENCE] >= 8_000
    assert abs(sum(s["expected_share"] for s in types.values()) - 1) < 1e-9


def test_every_crime_is_inside_the_outline_and_its_own_lsoa_and_none_in_the_quiet_area(town):
    crimes = town.crimes
    x, y = crimes["x"].to_numpy(), crimes["y"].to_numpy()
    assert shapely.contains_xy(town.outline, x, y).all()
    geoms = town.lsoas.set_index("area_code").geometry
    own = geoms.loc[crimes["lsoa_code"].to_numpy()].values
    assert shapely.covers(own, shapely.points(x, y)).all()
    names = dict(zip(town.lsoas["area_code"], town.lsoas["area_name"]))
    assert (crimes["lsoa_name"] == crimes["lsoa_code"].map(names)).all()
    assert not shapely.contains_xy(town.quiet_area, x, y).any()


def test_violence_intensity_is_exactly_the_documented_log_linear_model(town):
    rtm = town.truth["rtm"]
    assert rtm["outcome_crime_type"] == VIOLENCE
    g = town.truth["grid"]
    assert (g["xmin"], g["ymax"], g["cell_size"], g["ncols"], g["nrows"]) == (
        town.grid.xmin,
        town.grid.ymax,
        town.grid.cell_size,
        town.grid.ncols,
        town.grid.nrows,
    )
    masks = _factor_masks(town)
    expected = np.full(town.grid.shape, rtm["base_rate_per_cell"])
    for name, spec in rtm["factors"].items():
        expected *= np.where(masks[name], spec["rrv"], 1.0)
    live = town.grid.mask_from_geometry(town.outline) & ~town.grid.mask_from_geometry(town.quiet_area)
    expected = np.where(live, expected, 0.0)
    assert np.isclose(town.intensity[VIOLENCE], expected).mean() > 0.999  # ties at exactly d_k may differ
    assert abs(rtm["expected_count"] - town.intensity[VIOLENCE].sum()) < 1e-6


def test_violence_rate_ratios_match_the_planted_rrvs(town):
    masks = _factor_masks(town)
    violence = town.crimes[town.crimes["crime_type"] == VIOLENCE]
    counts = town.grid.count(violence["x"].to_numpy(), violence["y"].to_numpy())
    live = town.intensity[VIOLENCE] > 0
    factors = town.truth["rtm"]["factors"]
    planted = [k for k, v in factors.items() if v["planted"]]
    none = live & ~np.any([masks[k] for k in planted], axis=0)
    for name, spec in factors.items():
        others = [masks[k] for k in planted if k != name]
        only = live & masks[name] & ~np.any(others, axis=0) if others else live & masks[name]
        base = none & ~masks[name]
        n1, n0 = counts[only].sum(), counts[base].sum()
        rate_ratio = (n1 / only.sum()) / (n0 / base.sum())
        se_log = np.sqrt(1 / n1 + 1 / n0)  # Poisson error of a log rate ratio
        assert abs(np.log(rate_ratio) - np.log(spec["rrv"])) < 4 * se_log, (name, rate_ratio, spec["rrv"])
    # and the intensity raster itself says the same, with no Poisson noise
    lam = town.intensity[VIOLENCE]
    only_lp = live & masks["licensed_premises"] & ~masks["unlit_streets"] & ~masks["bus_stops"]
    assert np.isclose(lam[only_lp].mean() / lam[none].mean(), factors["licensed_premises"]["rrv"])


def test_nte_violence_is_concentrated_in_the_exported_window(town):
    window = town.truth["nte_window"]
    assert window["days"] == ["Fri", "Sat"] and window["start_hour"] == 22 and window["end_hour"] == 3
    masks = _factor_masks(town)
    violence = town.crimes[town.crimes["crime_type"] == VIOLENCE]
    row, col, _ = town.grid.cell_index(violence["x"].to_numpy(), violence["y"].to_numpy())
    in_zone = masks["licensed_premises"][row, col]
    in_window = _nte_night(violence["datetime"], window["days"], window["start_hour"], window["end_hour"])
    zone_share = in_window[in_zone].mean()
    rest_share = in_window[~in_zone].mean()
    n = in_zone.sum()
    planted = window["share_planted"]
    # planted share plus the background's own chance of landing in the window
    expected = planted + (1 - planted) * rest_share
    assert abs(zone_share - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    assert rest_share < 0.2


def test_planted_clusters_and_quiet_area_are_where_the_truth_says(town):
    truth = town.truth
    crimes = town.crimes
    burglary = crimes[crimes["crime_type"] == truth["burglary_cluster"]["crime_type"]]
    bx, by = truth["burglary_cluster"]["centre"]
    r = truth["burglary_cluster"]["radius_m"]
    near = np.hypot(burglary["x"] - bx, burglary["y"] - by) <= r
    elsewhere_density = (~near).sum() / (town.outline.area - np.pi * r * r)
    assert near.sum() / (np.pi * r * r) > 10 * elsewhere_density
    cx, cy = truth["nte_quarter"]["centre"]
    for name, (x, y) in {"nte_quarter": (cx, cy), "burglary_cluster": (bx, by)}.items():
        code = truth[name]["lsoa_code_at_centre"]
        poly = town.lsoas.set_index("area_code").geometry[code]
        assert poly.covers(shapely.Point(x, y))
        assert code in truth["hotspot_lsoas"][name]
    qx, qy = truth["quiet_area"]["centre"]
    assert town.quiet_area.contains(shapely.Point(qx, qy))
    assert abs(town.quiet_area.area - np.pi * truth["quiet_area"]["radius_m"] ** 2) / town.quiet_area.area < 0.01
    premises = town.features["licensed_premises"]
    in_quarter = np.hypot(premises.geometry.x - cx, premises.geometry.y - cy) <= truth["nte_quarter"]["radius_m"]
    assert 30 <= in_quarter.sum() <= 40
    json.dumps(truth)  # JSON-serialisable


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "town"
    result = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "demo", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_cli_demo_writes_the_documented_files(demo_dir):
    assert (demo_dir / "README.txt").read_text().startswith("Demoton")
    for name in ("crimes_with_times.csv", "demo_town.gpkg", "population.csv", "truth.json"):
        assert (demo_dir / name).stat().st_size > 0
    assert not list(demo_dir.rglob(".*partial*"))


def test_policeuk_files_round_trip(demo_dir, town):
    files = sorted((demo_dir / "crimes_policeuk").glob("*/*-demo-street.csv"))
    assert len(files) == 24
    assert files[0].name == "2023-01-demo-street.csv" and files[0].parent.name == "2023-01"
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files]
    for f, frame in zip(files, frames):
        assert tuple(frame.columns) == POLICE_UK_COLUMNS
        assert (frame["Month"] == f.parent.name).all()
    rows = pd.concat(frames, ignore_index=True)
    assert len(rows) == len(town.crimes)
    assert rows["Crime type"].value_counts().to_dict() == town.crimes["crime_type"].value_counts().to_dict()
    missing = rows["Longitude"] == ""
    assert 0.02 <= missing.mean() <= 0.04
    assert (rows.loc[missing, "Location"] == "No Location").all() and (rows.loc[missing, "LSOA code"] == "").all()
    assert (rows.loc[rows["Crime type"] == "Anti-social behaviour", "Crime ID"] == "").all()
    assert (rows.loc[rows["Crime type"] != "Anti-social behaviour", "Crime ID"].str.len() == 64).all()
    # coordinates are snapped: every published point is a snap point
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(
        town.snap_points.geometry.x.to_numpy(), town.snap_points.geometry.y.to_numpy()
    )
    snap_keys = set(zip(np.char.mod("%.6f", lon), np.char.mod("%.6f", lat)))
    located = rows[~missing]
    assert set(zip(located["Longitude"], located["Latitude"])) <= snap_keys
    assert located["Location"].str.startswith("On or near ").all()
    assert located["LSOA code"].isin(town.lsoas["area_code"]).all()


def test_timed_extract_population_truth_and_layers(demo_dir, town):
    import pyogrio

    extract = pd.read_csv(demo_dir / "crimes_with_times.csv")
    assert list(extract.columns) == ["crime_id", "occurred_at", "crime_type", "easting", "northing", "location"]
    assert len(extract) == len(town.crimes)
    when = pd.to_datetime(extract["occurred_at"], format="ISO8601")
    assert (when.to_numpy() == town.crimes["datetime"].to_numpy()).all()
    assert np.allclose(extract["easting"], town.crimes["x"], atol=0.06)

    population = pd.read_csv(demo_dir / "population.csv")
    bands = ["age_0_15", "age_16_24", "age_25_34", "age_35_49", "age_50_64", "age_65_plus"]
    assert list(population.columns) == ["area_code", "population", *bands]
    assert (population[bands].sum(axis=1) == population["population"]).all()
    assert set(population["area_code"]) == set(town.lsoas["area_code"])

    assert json.loads((demo_dir / "truth.json").read_text()) == json.loads(json.dumps(town.truth))

    layers = {str(name) for name, _ in pyogrio.list_layers(demo_dir / "demo_town.gpkg")}
    assert {
        "lsoas",
        "wards",
        "streets",
        "licensed_premises",
        "street_lights",
        "unlit_streets",
        "bus_stops",
        "decoy",
        "outline",
    } <= layers
    lsoas = pyogrio.read_dataframe(demo_dir / "demo_town.gpkg", layer="lsoas")
    assert lsoas.crs.to_epsg() == 27700 and len(lsoas) == len(town.lsoas)


def test_write_demo_refuses_a_file_as_the_folder(tmp_path):
    from boundaries.demo.town import write_demo
    from hotspot.core.errors import HotspotInputError

    target = tmp_path / "not_a_folder"
    target.write_text("x")
    with pytest.raises(HotspotInputError, match="is a file"):
        write_demo(target)
