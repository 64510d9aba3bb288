"""hotspot rank on the real Bedfordshire police.uk records, with the real LSOA boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspot.ingest.study import load_study
from hotspot.places.rank import rank_places

TOWN_CENTRES = {"Luton": (509_100, 221_300), "Bedford": (504_950, 249_750)}
"""Approximate grid references (metres) of the two town centres."""


@pytest.fixture(scope="module")
def study(bedfordshire_crime_dir, bedfordshire_lsoas_path):
    return load_study([bedfordshire_crime_dir], boundaries=bedfordshire_lsoas_path)


def test_ranked_places_on_real_data(study, tmp_path):
    result = rank_places(study, method="count", area_share=0.01)
    places = result.places
    # The area budget holds: at most 1 % of the study cells are listed.
    assert places["n_cells"].sum() <= int(0.01 * result.study_cells)
    assert result.study_cells >= result.grid.mask_from_geometry(study.study_area()).sum()
    np.testing.assert_allclose(places["cumulative_share"], places["share"].cumsum())
    assert places["cumulative_share"].iloc[-1] <= 1.0
    # police.uk is month-only: trends, not peak windows.
    assert "trend" in places and "peak" not in places
    assert set(places["trend"]) <= {"rising", "falling", "no clear trend"}
    # The top places are in the two town centres.
    top = places.head(5)
    distance = np.min([np.hypot(top["easting"] - x, top["northing"] - y) for x, y in TOWN_CENTRES.values()], axis=0)
    assert (distance < 1500).all(), top[["name", "easting", "northing"]]
    written = result.write(tmp_path / "beds.gpkg")
    table = pd.read_csv(written[1])
    assert table["lat"].between(51.8, 52.4).all() and table["lon"].between(-0.8, -0.1).all()
    monthly = pd.read_csv(tmp_path / "beds_monthly.csv")
    assert monthly.groupby("id")["count"].sum().to_dict() == dict(zip(places["id"], places["count"]))
    # The run's QGIS project opens in real QGIS on the county, places graduated by rank.
    from hotspot.io.qgis_project import write_qgis_project
    from tests.cli.test_qgis import _system_python_has
    from tests.cli.test_qgis_project import assert_opens_on_the_data, open_in_qgis

    project = write_qgis_project(tmp_path / "beds.qgs", written)
    if _system_python_has("qgis.core"):
        report = open_in_qgis(project)
        assert_opens_on_the_data(report, {"ranked": ("Places", "graduatedSymbol")})
        assert report["layers"]["ranked"]["features"] == len(places)


def test_streets_and_areas_rankings_on_real_data(study):
    areas = rank_places(study, over="areas", top=417)
    assert len(areas.places) == 417
    assert areas.places["share"].sum() == pytest.approx(areas.places["count"].sum() / len(study.records))
    assert areas.places["count"].sum() >= 0.99 * len(study.records)
    streets = rank_places(study, over="streets", top=10)
    assert streets.places["count"].is_monotonic_decreasing
    # police.uk writes "St John'S Street"; the names analysts read say "St John's Street".
    every_street = rank_places(study, over="streets", top=100_000).places["name"]
    assert every_street.str.contains("St John's Street").any() and not every_street.str.contains("'S ").any()


def _printed_lines(result, width: int, rest_in: str) -> list[str]:
    import io

    from rich.console import Console

    from hotspot.places.tables import ranked_table

    printed = ranked_table(result, width=width, rest_in=rest_in)
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(printed.table)
    for line in printed.footer:
        console.print(line)
    return console.file.getvalue().splitlines()


def test_real_ranked_list_prints_at_80_columns(study):
    # 773-odd places at a 1 % budget: the terminal shows 20 rows, one line each, and says where the rest are.
    result = rank_places(study, method="count", area_share=0.01)
    lines = _printed_lines(result, 80, "out/rank.csv")
    assert max(map(len, lines)) <= 80
    rows = [line for line in lines if line.strip()[:1].isdigit()]
    assert len(rows) == 20
    for line, name, trend in zip(rows, result.places["name"], result.places["trend"]):
        # Long names may lose letters, never their street's start or their LSOA code.
        street, _, area = name.rpartition(", ")
        assert street[:8] in line and area.split()[-1] in line and trend in line, line
    assert f"… and {len(result.places) - 20:,} more places in out/rank.csv" in lines
    # Areas have neither a peak nor a trend: no empty columns.
    areas = rank_places(study, over="areas", top=30)
    lines = _printed_lines(areas, 80, "out/areas.csv")
    assert max(map(len, lines)) <= 80
    header = next(line for line in lines if "records" in line)
    assert "peak" not in header and "trend" not in header and "mostly" not in header
