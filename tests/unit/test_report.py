"""The HTML report: self-contained, optional sections, figures on disk, disclosure, atomic replacement."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.io.provenance import Provenance
from hotspot.report.html import build_report, figures_folder, monthly_counts, weekday_hour_table


def layers():
    import geopandas as gpd
    import shapely

    grid = Grid(500_000.0, 200_000.0, 100.0, 20, 15)
    xs, ys = grid.cell_centres()
    bump = np.exp(-(((xs - 501_000.0) ** 2 + (ys - 199_200.0) ** 2) / (2 * 300.0**2)))
    gistar = grid.to_geodataframe(
        {"count": np.round(bump * 10), "gi_bin": np.where(bump > 0.6, 3, np.where(bump < 0.05, -2, 0))}
    )
    ranked = gpd.GeoDataFrame(
        {
            "rank": [1, 2, 3],
            "name": ["High St", "Market Sq", "Mill Lane"],
            "count": [40, 12, 3],
            "share": [40 / 55, 12 / 55, 3 / 55],
            "cumulative_share": [40 / 55, 52 / 55, 1.0],
        },
        geometry=grid.cell_polygons(np.array([7, 8, 2]), np.array([10, 11, 3])),
        crs=grid.crs,
    )
    boundaries = gpd.GeoDataFrame(
        {"area_code": ["A", "B"]},
        geometry=[shapely.box(500_000, 198_500, 501_000, 200_000), shapely.box(501_000, 198_500, 502_000, 200_000)],
        crs=grid.crs,
    )
    return grid, bump, gistar, ranked, boundaries


def embedded_pngs(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def full_report(path, **extra):
    grid, bump, gistar, ranked, boundaries = layers()
    weekday_hour = np.arange(7 * 24).reshape(7, 24)
    monthly = pd.Series([10, 12, 9, 15], index=["2024-01", "2024-02", "2024-03", "2024-04"])
    model = pd.DataFrame(
        {
            "factor": ["bars"],
            "operationalisation": ["proximity"],
            "distance_m": [150.0],
            "coef": [0.7],
            "rrv": [2.01],
            "rrv_low": [1.5],
            "rrv_high": [2.7],
            "p_value": [0.0001],
        }
    )
    kwargs = dict(
        title="Test <town> & report",
        ranked=ranked,
        gistar=gistar,
        kde=(bump * 100, grid, "per km2"),
        risk=(1 + bump, grid),
        model_table=model,
        weekday_hour=weekday_hour,
        monthly=monthly,
        lorenz=(np.linspace(0, 1, 5), np.linspace(0, 1, 5) ** 2, 0.33),
        boundaries=boundaries,
        hotspots=ranked[["geometry"]],
        priority_places=ranked.iloc[:1][["geometry"]],
        notes=["bandwidth 250 m (given)"],
        figure_dpi=60,
    )
    kwargs.update(extra)
    return build_report(path, **kwargs)


@pytest.fixture(scope="module")
def public_report(tmp_path_factory):
    """One full report with every section, built once: the maps are the slow part of these tests."""
    prov = Provenance.capture("report", {}, [], None)
    return full_report(tmp_path_factory.mktemp("report") / "report.html", suppress_below=5, provenance=prov)


def cheap_sections():
    """Three figures without maps, for tests that build a report more than once."""
    return dict(
        weekday_hour=np.ones((7, 24)),
        monthly=pd.Series([3, 4, 5], index=["2024-01", "2024-02", "2024-03"]),
        lorenz=(np.linspace(0, 1, 3), np.linspace(0, 1, 3) ** 2),
        figure_dpi=40,
    )


def test_report_is_self_contained_and_matches_png_files(public_report):
    path = public_report
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text and "<link" not in text
    assert not re.search(r'(src|href)="(?!data:|#)', text), "every image and link must be embedded or in-page"
    pngs = embedded_pngs(text)
    files = sorted(figures_folder(path).glob("*.png"))
    assert [f.name for f in files] == [
        "01_hotspots.png",
        "02_kde.png",
        "03_risk.png",
        "04_weekday_hour.png",
        "05_monthly.png",
        "06_concentration.png",
    ]
    assert sorted(pngs) == sorted(f.read_bytes() for f in files)
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    for heading in (
        "Where: hot and cold spots",
        "Where crime concentrates: density",
        "What raises the risk: risk terrain",
        "Places to act on",
        "When: day of the week and hour",
        "Trend: records per month",
        "How concentrated crime is",
        "Risk factors found by the model",
        "About this analysis",
    ):
        assert f"<h2>{heading}</h2>" in text
    # Every map and table section says how to read it; table headings are words with units, not column names.
    assert text.count("How to read this.") == 8
    assert "<th>Share of all records</th>" in text and "<th>cumulative_share</th>" not in text
    assert "Test &lt;town&gt; &amp; report" in text and "<town>" not in text
    assert "High St" in text and "72.7%" in text  # ranked share formatted as a percentage (40 is not suppressed)
    assert "&lt;0.001" in text  # the model table's p-value


def test_every_section_is_optional(tmp_path):
    path = build_report(tmp_path / "only.html", monthly=pd.Series([3, 4, 5], index=["2024-01", "2024-02", "2024-03"]))
    text = path.read_text()
    assert "<h2>Trend: records per month</h2>" in text and "<h2>Where: hot and cold spots</h2>" not in text
    assert len(embedded_pngs(text)) == 1
    with pytest.raises(HotspotInputError, match="nothing to report"):
        build_report(tmp_path / "empty.html")


def test_suppression_marks_small_counts_and_is_recorded(public_report):
    text = public_report.read_text()
    rows = re.findall(r"<tr>(.*?)</tr>", text)
    mill = next(r for r in rows if "Mill Lane" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", mill)
    assert cells[:3] == ["3", "Mill Lane", "&lt;5"]  # rank, name, count
    assert cells[3:] == ["", ""]  # share and cumulative share would give the count away
    assert "<h2>Disclosure control</h2>" in text and "counts of 1 to 4" in text
    assert "Provenance" in text


def test_failed_rebuild_leaves_previous_report_and_figures(tmp_path, monkeypatch):
    import hotspot.report.figures as figures

    path = build_report(tmp_path / "report.html", **cheap_sections())
    before_html = path.read_bytes()
    before_figs = {f.name: f.read_bytes() for f in figures_folder(path).iterdir()}
    real = figures.png_bytes
    calls = {"n": 0}

    def failing(fig, dpi=110):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("out of memory (simulated)")
        return real(fig, dpi)

    monkeypatch.setattr(figures, "png_bytes", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        build_report(path, title="new", **cheap_sections())
    assert path.read_bytes() == before_html
    assert {f.name: f.read_bytes() for f in figures_folder(path).iterdir()} == before_figs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report_figures"]


def test_rebuild_replaces_the_figure_folder_whole(tmp_path):
    path = build_report(tmp_path / "report.html", **cheap_sections())
    assert len(list(figures_folder(path).iterdir())) == 3
    build_report(path, monthly=pd.Series([1, 2], index=["2024-01", "2024-02"]), figure_dpi=40)
    assert [f.name for f in figures_folder(path).iterdir()] == ["01_monthly.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report_figures"]


def test_bad_sections_are_clear_errors(tmp_path):
    with pytest.raises(HotspotInputError, match="gi_bin"):
        build_report(tmp_path / "r.html", gistar=pd.DataFrame({"x": [1]}))
    with pytest.raises(HotspotInputError, match="kde"):
        build_report(tmp_path / "r.html", kde=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="7 x 24"):
        build_report(tmp_path / "r.html", weekday_hour=np.zeros((24, 7)))


def test_weekday_hour_and_monthly_tables():
    frame = pd.DataFrame(
        {
            "datetime": pd.to_datetime(
                ["2024-01-01 00:30", "2024-01-01 00:45", "2024-01-07 23:10", None]
            ),  # Mon, Mon, Sun
            "month": ["2024-01", "2024-01", "2024-03", "2024-03"],
        }
    )
    table = weekday_hour_table(frame)
    assert table.shape == (7, 24) and table.loc["Mon", 0] == 2 and table.loc["Sun", 23] == 1 and table.values.sum() == 3
    monthly = monthly_counts(frame)
    assert monthly.to_dict() == {"2024-01": 2, "2024-02": 0, "2024-03": 2}
    assert weekday_hour_table(frame.assign(datetime=pd.NaT)) is None


def test_scale_bar_lengths_are_round_and_fit():
    from hotspot.report.figures import add_north_arrow, add_scale_bar, nice_length

    assert nice_length(5_000) == 1_000 and nice_length(7_300) == 1_000 and nice_length(12_000) == 2_000
    assert nice_length(30_000) == 5_000 and nice_length(800) == 100
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_xlim(0, 4_000)
    ax.set_ylim(0, 3_000)
    length = add_scale_bar(ax)
    add_north_arrow(ax)
    assert length == 500
    assert ax.get_xlim() == (0, 4_000)  # furniture must not move the map
    assert any(t.get_text() == "N" for t in ax.texts) and any(t.get_text() == "500 m" for t in ax.texts)
    plt.close(fig)


def test_cli_report_on_the_demo(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "demo.html"
    result = CliRunner().invoke(
        app, ["report", "--out", str(out), "--section", "rank", "--section", "concentration", "--public", "--quiet"]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    text = out.read_text()
    assert "<h2>Places to act on</h2>" in text and "<h2>How concentrated crime is</h2>" in text
    assert "<h2>Where: the top places</h2>" in text and "Where crime concentrates" not in text
    assert "<h2>Disclosure control</h2>" in text
    # The title says what, where and when.
    assert "<h1>All crime (14 types) in Demoton, January 2023 to December 2024 (24,978 records)</h1>" in text
    assert (tmp_path / "demo_figures" / "01_hotspots.png").exists()
    bad = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r.pdf"), "--quiet"])
    assert isinstance(bad.exception, HotspotInputError)
