"""Printed ranked tables: one line per row at 80 columns, peak windows whole, top 20 and where the rest are."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from rich.console import Console

from hotspot.places.rank import RankResult
from hotspot.places.tables import PRINTED_ROWS, ranked_table

PEAKS = ["Fri 11:00-19:00 (10%)", "Sat 22:00-03:00 (24%)", "Sun 00:00-04:00 (9%)"]


def _result(n: int = 35, *, times: bool = True, types: str | None = None, names=None) -> RankResult:
    rng = np.random.default_rng(1)
    counts = np.sort(rng.integers(20, 600, n))[::-1]
    places = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, n + 1),
            "name": names
            or [
                f"{s} Street, Central Bedfordshire {i:03d}A"
                for i, s in zip(range(n), ["High", "Bridge", "Long Meadow Industrial Estate"] * n)
            ],
            "id": [f"P{i:03d}" for i in range(1, n + 1)],
            "count": counts,
            "share": counts / 20_000,
            "cumulative_share": np.cumsum(counts) / 20_000,
            "per_km2": counts / 0.09,
            "score": counts.astype(float),
            "top_types": [types or f"Shoplifting ({c // 2}); Anti-social behaviour ({c // 4})" for c in counts],
        },
        geometry=shapely.points(np.arange(n), np.arange(n)),
        crs="EPSG:27700",
    )
    if times:
        places["peak"] = [PEAKS[i % 3] + ", Mon 09:00-10:00 (2%)" for i in range(n)]
    else:
        places["trend"] = ["rising"] * n
        places["trend_per_month"] = 0.4
    return RankResult(places=places, method="count", over="grid", total_records=20_000, has_times=times)


def _render(printed, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(printed.table)
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 200])
def test_rows_never_wrap_and_peaks_stay_whole(width):
    result = _result()
    printed = ranked_table(result, width=width, rest_in="out/rank.csv")
    lines = _render(printed, width)
    assert max(len(line) for line in lines) <= width
    body = [line for line in lines if line.strip()[:1].isdigit()]
    # One line per printed place, the top 20 only, each with its whole first peak window.
    assert len(body) == PRINTED_ROWS
    for i, line in enumerate(body):
        assert PEAKS[i % 3] in line, line
        assert line.split()[0] == str(i + 1)
    assert printed.footer[0] == "… and 15 more places in out/rank.csv"
    assert "share" in printed.columns and "peak" in printed.columns
    if width == 80:
        # A laptop terminal: density and crime types go before the name is cut.
        assert "per_km2" not in printed.columns and "top_types" not in printed.columns
        assert any("High Street, CB 000A" in line for line in body)
    else:
        # A wide terminal shows everything, full names included.
        assert {"per_km2", "top_types", "cumulative_share"} <= set(printed.columns)
        assert any("Long Meadow Industrial Estate Street, Central Bedfordshire 002A" in line for line in body)
        assert any("shoplifting 50%, ASB 25%" in line for line in body)


def test_long_names_keep_their_area_code():
    names = ["The Avenue of Remarkably Long Street Names, Central Bedfordshire 004C"] * 3
    lines = _render(ranked_table(_result(3, names=names), width=80), 80)
    assert max(map(len, lines)) <= 80
    assert any(re.search(r"The Avenue of Rem\w*…, CB 004C", line) for line in lines), lines


def test_a_single_crime_type_is_said_once_not_on_every_row():
    result = _result(5, times=False, types="Violence and sexual offences (100)")
    printed = ranked_table(result, width=200)
    assert "top_types" not in printed.columns
    assert "every listed place: Violence and sexual offences" in printed.footer
    text = "\n".join(_render(printed, 200))
    assert "violence 100%" not in text and "rising +0.4" in text
    # Short lists say nothing about more rows.
    assert not any(line.startswith("…") for line in printed.footer)


def test_columns_empty_on_every_row_are_not_printed():
    result = _result(4, times=False)
    result.places["trend"] = ""
    result.places["top_types"] = ""
    printed = ranked_table(result, width=200)
    assert "trend" not in printed.columns and "top_types" not in printed.columns


def test_street_stretch_names_are_cut_not_turned_into_initials():
    from hotspot.places.tables import _ellipsis

    stretch = "Lichfield View, 120 m from Malting Gardens to Brewery Close"
    short = _ellipsis(stretch, 30)
    assert len(short) == 30 and short.startswith("Lichfield View, 120 m from") and short.endswith("…")
    assert _ellipsis("Kingsbury Court, Central Bedfordshire 029C", 30) == "Kingsbury Court, CB 029C"


def test_fixed_width_columns_measure_the_same_without_their_rows():
    """ranked_table measures candidate layouts from their headings alone: with every column's width fixed,
    rich's measure of a table cannot depend on its rows."""
    from rich import box
    from rich.table import Table

    from hotspot.core.result import measure

    rng = np.random.default_rng(3)
    for _ in range(40):
        n_cols = int(rng.integers(1, 9))
        widths = rng.integers(1, 30, n_cols)
        tables = []
        for with_rows in (True, False):
            table = Table(title="t", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
            for c, w in enumerate(widths):
                table.add_column(f"h{c}" * int(rng.integers(0, 4)), min_width=int(w), max_width=int(w), no_wrap=True)
            for _ in range(int(rng.integers(1, 25)) if with_rows else 0):
                table.add_row(*["x" * int(rng.integers(0, 45)) for _ in widths])
            tables.append(table)
        rng = np.random.default_rng(rng.integers(1 << 30))  # headings differ between the two: they cannot matter either
        assert measure(tables[0]) == measure(tables[1])
