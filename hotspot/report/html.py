"""A self-contained HTML report: maps, the when-table, trend, concentration, model table and ranked list.

The HTML embeds every figure as a base64 PNG and all styling inline, so it opens offline
and can be emailed as one file. The same figures are written as PNG files in a
``<stem>_figures/`` folder beside it, for slides and briefings. Every section is optional:
pass what the run produced.
"""

from __future__ import annotations

import base64
import contextlib
import html
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hotspot.core.atomic import atomic_path
from hotspot.core.errors import HotspotInputError

RANKED_COLUMNS = (
    "rank",
    "name",
    "count",
    "share",
    "cumulative_share",
    "per_km2",
    "gi_z",
    "kde_value",
    "rtm_score",
    "combined_score",
    "peak",
    "trend",
    "top_types",
)
"""Ranked-table columns shown in the report, in this order, when present."""

HEADERS = {
    "rank": "Rank",
    "name": "Place",
    "count": "Records",
    "share": "Share of all records",
    "cumulative_share": "Running total of share",
    "per_km2": "Records per km²",
    "gi_z": "Gi* z-score",
    "kde_value": "Density (records per cell)",
    "rtm_score": "Risk (x lowest cell)",
    "combined_score": "Forecast score",
    "peak": "Busiest times (share of the place's records)",
    "trend": "Monthly trend",
    "top_types": "Main crime types",
    "factor": "Risk factor",
    "operationalisation": "Measured as",
    "distance_m": "Distance (m)",
    "coef": "Coefficient",
    "rrv": "Relative risk value",
    "rrv_low": "95 % CI low",
    "rrv_high": "95 % CI high",
    "p_value": "p",
}
"""Column headings in the report, in words and with units; the files keep the column names."""

HOW_TO_READ = {
    "hotspots": "Red cells are hot spots: more crime close together than chance would give, at the confidence shown; "
    "blue cells are cold spots. Numbers are the ranks of the top places in the table below. Grey lines "
    "are area boundaries.",
    "places_map": "Outlined and numbered: the top places of the table below, by rank. Grey lines are area "
    "boundaries; the close-ups after this map show each town's places street by street.",
    "insets": "Each close-up shows one town holding a top-10 place, at a scale where streets can be told apart. "
    "A place is a block of up to 3 x 3 grid cells, labelled with its rank and the street most of its "
    "records are on. Darker purple is a higher rank.",
    "kde": "Darker colours are where records are densest, smoothed over the search radius given. The colour steps "
    "follow the data: each darker step holds half as many cells as the one before, so villages and estates "
    "show as well as the town centres.",
    "risk": "Risk of crime from the places nearby (e.g. licensed premises), against the average cell where any crime "
    "was recorded: 2 means twice that average risk. Purple outlines are priority places, where several risk factors meet.",
    "ranked": "Places in order of the method's score. 'Share of all records' is the place's share of every record in "
    "the study; the running total shows how much crime the places above it hold together. Every place in "
    "the CSV and the GeoPackage, not just these rows.",
    "weekday_hour": "Records by day of the week and hour they started, darker for busier. Read across a row for the "
    "shape of a day; the busiest cells are numbered.",
    "monthly": "Records per month with a straight-line trend. One busy month is not a trend; the ranked table says "
    "which places rise or fall significantly.",
    "concentration": "The Lorenz curve: how much of the crime (up) the busiest areas (left to right) hold. The further "
    "the curve bows above the diagonal, the more concentrated crime is; the Gini coefficient says "
    "the same in one number (0 = even, 1 = all in one place).",
    "trends": "Each cell's pattern over time from a space-time cube: new, intensifying or persistent hot spots "
    "(reds) are where crime is clustering more than before; cold-spot patterns are in blues.",
    "model": "Each factor that raised the risk of crime: how it was measured and how far its influence reaches, and "
    "its relative risk value (2 = twice the expected count where the factor is present). Factors whose "
    "interval includes 1 would not be shown.",
}
"""A short "how to read this" under each section heading."""

MODEL_COLUMNS = ("factor", "operationalisation", "distance_m", "coef", "rrv", "rrv_low", "rrv_high", "p_value")
"""RTM model-table columns shown, in this order, when present."""


@dataclass
class _Figure:
    slug: str
    title: str
    png: bytes
    caption: str = ""


def _as_surface(value, what: str):
    """(array, grid, description) from a DensitySurface, an RTMResult/RiskSurface-like object or (array, grid)."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) in (2, 3):
        array, grid = value[0], value[1]
        return np.asarray(array, dtype=np.float64), grid, (value[2] if len(value) == 3 else "")
    for attr in ("surface", "relative_risk"):
        array = getattr(value, attr, None)
        if isinstance(array, np.ndarray) and getattr(value, "grid", None) is not None:
            return array.astype(np.float64), value.grid, str(getattr(value, "description", "") or "")
    raise HotspotInputError(f"report: {what} must be a DensitySurface, an RTM result or (array, grid)")


def _places(ranked):
    if ranked is None:
        return None
    return getattr(ranked, "places", ranked)


def _gistar_layer(gistar):
    if gistar is None:
        return None
    layer = gistar
    for attr in ("layer", "cells"):
        candidate = getattr(gistar, attr, None)
        if hasattr(candidate, "geometry"):
            layer = candidate
            break
    if not hasattr(layer, "geometry") or "gi_bin" not in getattr(layer, "columns", ()):
        raise HotspotInputError("report: gistar must be a GeoDataFrame with a gi_bin column")
    return layer


def _lorenz(lorenz):
    if lorenz is None:
        return None
    if hasattr(lorenz, "lorenz_x"):
        gini = getattr(lorenz, "gini", None)
        return lorenz.lorenz_x, lorenz.lorenz_y, gini, lorenz.describe() if hasattr(lorenz, "describe") else ""
    if isinstance(lorenz, (tuple, list)) and len(lorenz) in (2, 3):
        return lorenz[0], lorenz[1], (lorenz[2] if len(lorenz) == 3 else None), ""
    raise HotspotInputError("report: lorenz must be a ConcentrationSummary or (lorenz_x, lorenz_y[, gini])")


def _format_cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if column in ("share", "cumulative_share") and isinstance(value, (int, float, np.number)):
        return f"{float(value):.1%}"
    if column == "per_km2" and isinstance(value, (int, float, np.number)):
        return f"{float(value):,.0f}"
    if column == "top_types":
        from hotspot.places.tables import SHORT_TYPES

        return "; ".join(
            f"{SHORT_TYPES.get(t.split(' (')[0], t.split(' (')[0])} ({t.split(' (')[-1]}"
            for t in str(value).split("; ")
            if t
        )
    if column == "p_value" and isinstance(value, (int, float, np.number)):
        return "<0.001" if value < 0.001 else f"{float(value):.3f}"
    if column in ("coef", "rrv", "rrv_low", "rrv_high") and isinstance(value, (int, float, np.number)):
        return f"{float(value):.2f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return f"{v:,.0f}" if v.is_integer() and abs(v) >= 1 else f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(value)


def _html_table(frame, columns: Sequence[str] | None = None, max_rows: int = 100) -> str:
    cols = [c for c in (columns or frame.columns) if c in frame.columns and c != "geometry"]
    if not cols:
        cols = [c for c in frame.columns if c != "geometry"]
    head = "".join(f"<th>{html.escape(HEADERS.get(str(c), str(c)))}</th>" for c in cols)
    rows = []
    for _, row in frame.head(max_rows).iterrows():
        cells = []
        for c in cols:
            text = _format_cell(c, row[c])
            numeric = isinstance(row[c], (int, float, np.number)) and not isinstance(row[c], bool)
            cells.append(f'<td class="{"num" if numeric else "txt"}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">Showing {max_rows} of {len(frame):,} rows.</p>' if len(frame) > max_rows else ""
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>{more}'
    )


_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 1400px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; border-bottom: 2px solid #b2182b; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #555; font-size: 0.9em; } .note { color: #555; font-size: 0.85em; }
figure { margin: 1em 0; } figure img { width: 100%; max-width: 100%; height: auto; border: 1px solid #ddd; }
figure img.map { width: auto; max-height: 88vh; }
figcaption { font-size: 0.85em; color: #555; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; } th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tbody tr:nth-child(even) { background: #fafafa; }
ul.notes li { margin: 0.2em 0; } .disclosure { background: #fff4e5; border-left: 4px solid #f0a030; padding: 0.5em 1em; }
nav a { margin-right: 1em; font-size: 0.9em; display: inline-block; }
.read { background: #f4f6fb; border-left: 4px solid #6a51a3; padding: 0.4em 0.9em; font-size: 0.9em; margin: 0.6em 0; }
.scroll { overflow-x: auto; max-width: 100%; }
.insets { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(600px, 100%), 1fr)); gap: 1em; }
@media (max-width: 600px) { body { margin: 1em auto; padding: 0 0.5em; } h1 { font-size: 1.3em; }
  .insets { grid-template-columns: 1fr; } table { font-size: 0.75em; } }
"""


def build_report(
    path: str | Path,
    *,
    title: str = "Crime hot spots",
    ranked=None,
    gistar=None,
    kde=None,
    risk=None,
    model_table=None,
    weekday_hour=None,
    monthly=None,
    month_of_year=None,
    lorenz=None,
    boundaries=None,
    hotspots=None,
    priority_places=None,
    trends=None,
    notes: str | Sequence[str] | None = None,
    provenance=None,
    suppress_below: int | None = None,
    figure_dpi: int = 110,
    max_rows: int = 50,
) -> Path:
    """Write a self-contained HTML report (and its figures as PNG files); returns the HTML path.

    Parameters
    ----------
    path : path
        The ``.html`` to write. PNG copies of the figures go in ``<stem>_figures/`` beside it
        (the folder is replaced as a whole).
    title : str
        Report heading, default "Crime hot spots".
    ranked : RankResult or GeoDataFrame, optional
        Ranked places (``rank, name, count, share, cumulative_share ...``): the table, and rank labels on the map.
    gistar : GeoDataFrame, optional
        Gi* cells or areas with ``gi_bin`` (-3..3), mapped in the diverging 99/95/90 % colours.
    kde : DensitySurface or (array, grid[, description]), optional
        The kernel density surface, mapped with a colour bar.
    risk : RTMResult, RiskSurface-like or (array, grid[, description]), optional
        The risk terrain surface (relative risk), mapped with a colour bar.
    model_table : DataFrame, optional
        The RTM model table (``factor, operationalisation, distance_m, coef, rrv ...``).
    weekday_hour : 7 x 24 array or DataFrame, optional
        Record counts by weekday (Monday first) and hour, shown as a heat table.
    monthly : Series, optional
        Records per month (index ``YYYY-MM``), shown as a trend line.
    month_of_year : DataFrame, optional
        :func:`hotspot.stats.areas.month_of_year_profile`: records per calendar month and per occurrence of it.
    lorenz : ConcentrationSummary or (x, y[, gini]), optional
        The concentration (Lorenz) curve.
    boundaries : GeoDataFrame, optional
        Area outlines drawn on every map.
    hotspots : GeoDataFrame, optional
        Hot-spot polygons (e.g. KDE hot-spot areas) outlined in red on the hot-spot and density maps.
    priority_places : GeoDataFrame, optional
        RTM priority places, outlined in purple on the hot-spot and risk maps.
    trends : EmergingHotSpots, optional
        Emerging hot spot analysis (:mod:`hotspot.spacetime.emerging`): a map of the categories, a
        table of how many locations fall in each, and small multiples of the Gi* bins slice by slice.
    notes : str or list of str, optional
        Method notes shown near the top (bandwidth rule, corrections, caveats).
    provenance : Provenance, optional
        Shown in a footer (version, command line, inputs, records kept and rejected, time).
    suppress_below : int, optional
        Replace ranked counts below this many records with "<K" (see :mod:`hotspot.io.disclosure`);
        the note is shown in the report and added to the provenance. Default None: no suppression.
    figure_dpi : int
        PNG resolution, dots per inch, default 110.
    max_rows : int
        Most rows shown per table, default 50.
    """
    from hotspot.report import figures

    path = Path(path)
    places = _places(ranked)
    gistar_layer = _gistar_layer(gistar)
    kde_surface = _as_surface(kde, "kde")
    risk_surface = _as_surface(risk, "risk")
    lorenz_parts = _lorenz(lorenz)
    note_list = [notes] if isinstance(notes, str) else list(notes or [])
    disclosure_notes = list(getattr(provenance, "disclosure", []) or [])

    table_places = None
    if places is not None:
        import pandas as pd

        table_places = pd.DataFrame(places.drop(columns="geometry", errors="ignore"))
        if suppress_below is not None:
            from hotspot.io.disclosure import suppress_small_counts

            table_places, note = suppress_small_counts(table_places, k=int(suppress_below), table="ranked places")
            if note:
                disclosure_notes.append(note)
                if provenance is not None:
                    provenance = provenance.with_disclosure(note)

    figs: list[_Figure] = []
    map_places = places
    if suppress_below is not None and places is not None:
        map_places = places[["rank", "geometry"]] if "rank" in places.columns else None
    if gistar_layer is not None or hotspots is not None or places is not None or priority_places is not None:
        figs.append(
            _Figure(
                "hotspots",
                "Hot spots",
                figures.png_bytes(
                    figures.hotspot_map(
                        gistar=gistar_layer,
                        boundaries=boundaries,
                        hotspots=hotspots,
                        ranked=map_places,
                        priority_places=priority_places,
                        title="Hot spots" + (" (Getis-Ord Gi*)" if gistar_layer is not None else ""),
                    ),
                    figure_dpi,
                ),
                "Gi* confidence bins; numbers are place ranks."
                if gistar_layer is not None
                else "Numbers are place ranks.",
            )
        )
    # Close-ups over the boundaries only: under a town-centre hot spot the Gi* red would drown the places.
    insets = figures.town_insets(places, boundaries=boundaries) if places is not None and suppress_below is None else []
    inset_figs = [
        _Figure(
            f"inset_{i:02d}",
            f"{town} close up",
            figures.png_bytes(fig, figure_dpi),
            f"{town}: the top places, labelled with rank and street.",
        )
        for i, (town, fig) in enumerate(insets, start=1)
    ]
    if kde_surface is not None:
        array, grid, description = kde_surface
        figs.append(
            _Figure(
                "kde",
                "Kernel density",
                figures.png_bytes(
                    figures.surface_map(
                        array,
                        grid,
                        boundaries=boundaries,
                        hotspots=hotspots,
                        title="Kernel density",
                        units=description,
                        ramp="density",
                    ),
                    figure_dpi,
                ),
                description,
            )
        )
    if risk_surface is not None:
        array, grid, description = risk_surface
        description = description or "risk (1 = the average cell with crime)"
        figs.append(
            _Figure(
                "risk",
                "Risk terrain",
                figures.png_bytes(
                    figures.surface_map(
                        array,
                        grid,
                        boundaries=boundaries,
                        hotspots=priority_places,
                        title="Risk terrain",
                        units=description,
                        ramp="risk",
                        outline_colour="#6a3d9a",
                    ),
                    figure_dpi,
                ),
                description
                + ("; purple: priority places" if priority_places is not None and len(priority_places) else ""),
            )
        )
    if weekday_hour is not None:
        figs.append(
            _Figure(
                "weekday_hour",
                "When: weekday x hour",
                figures.png_bytes(figures.weekday_hour_figure(weekday_hour), figure_dpi),
                "Records by weekday and hour of day (start of hour).",
            )
        )
    if monthly is not None and len(monthly):
        figs.append(
            _Figure(
                "monthly",
                "Monthly trend",
                figures.png_bytes(figures.monthly_figure(monthly), figure_dpi),
                "Records per month with a least-squares trend line.",
            )
        )
    if lorenz_parts is not None:
        x, y, gini, described = lorenz_parts
        figs.append(
            _Figure(
                "concentration",
                "Concentration",
                figures.png_bytes(figures.lorenz_figure(x, y, gini=gini), figure_dpi),
                described,
            )
        )

    trends_table = None
    if trends is not None:
        import pandas as pd

        layer = trends.frame()
        figs.append(
            _Figure(
                "trends",
                "Emerging hot spots",
                figures.png_bytes(figures.trends_map(layer, boundaries=boundaries), figure_dpi),
                trends.summary()[0],
            )
        )
        cube = trends.cube
        if cube.on_grid:
            bins = np.ma.masked_array(trends.gi.bin, mask=np.broadcast_to(~cube.mask, trends.gi.bin.shape))
            small = figures.slice_small_multiples(bins, cube.labels, grid=cube.grid)
        else:
            small = figures.slice_small_multiples(trends.gi.bin, cube.labels, areas=cube.areas)
        figs.append(
            _Figure(
                "trends_slices",
                "Slice by slice",
                figures.png_bytes(small, figure_dpi),
                f"Space-time Gi* bins of each {cube.slice} (up to 12 slices, evenly spaced).",
            )
        )
        counts = trends.category_counts()
        trends_table = pd.DataFrame({"pattern": list(counts), "locations": list(counts.values())})
        trends_table = trends_table[trends_table["locations"] > 0]

    sections = []
    nav = []

    def section(anchor: str, heading: str, body: str, read: str | None = None) -> None:
        nav.append(f'<a href="#{anchor}">{html.escape(heading)}</a>')
        read = read or HOW_TO_READ.get(anchor)
        read = f'<p class="read"><b>How to read this.</b> {html.escape(read)}</p>' if read else ""
        sections.append(f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{read}{body}</section>')

    def figure_html(fig: _Figure) -> str:
        data = base64.b64encode(fig.png).decode("ascii")
        caption = f"<figcaption>{html.escape(fig.caption)}</figcaption>" if fig.caption else ""
        # Maps fill the page's width but not more than a screen's height (a tall county would need scrolling).
        kind = ' class="map"' if fig.slug in ("hotspots", "kde", "risk") else ""
        return (
            f'<figure><img{kind} alt="{html.escape(fig.title)}" src="data:image/png;base64,{data}">{caption}</figure>'
        )

    by_slug = {f.slug: f for f in figs}
    if note_list:
        section(
            "notes",
            "About this analysis",
            '<ul class="notes">' + "".join(f"<li>{html.escape(str(n))}</li>" for n in note_list) + "</ul>",
        )
    if disclosure_notes:
        section(
            "disclosure",
            "Disclosure control",
            '<div class="disclosure"><ul>'
            + "".join(f"<li>{html.escape(n)}</li>" for n in disclosure_notes)
            + "</ul></div>",
        )
    if "hotspots" in by_slug:
        section(
            "hotspots",
            HEADINGS["hotspots"] if gistar_layer is not None else "Where: the top places",
            figure_html(by_slug["hotspots"]),
            None if gistar_layer is not None else HOW_TO_READ["places_map"],
        )
    if inset_figs:
        section(
            "insets",
            HEADINGS["insets"],
            '<div class="insets">' + "".join(figure_html(f) for f in inset_figs) + "</div>",
        )
    for slug in ("kde", "risk"):
        if slug in by_slug:
            section(slug, HEADINGS[slug], figure_html(by_slug[slug]))
    if table_places is not None:
        columns = list(RANKED_COLUMNS)
        single = _single_type(table_places)
        if single:
            columns.remove("top_types")
        section(
            "ranked",
            HEADINGS["ranked"],
            _html_table(table_places, columns, max_rows)
            + (f'<p class="note">Every place listed: {html.escape(single)}.</p>' if single else ""),
        )
    if "trends" in by_slug:
        body = figure_html(by_slug["trends"]) + _html_table(trends_table, None, max_rows)
        if "trends_slices" in by_slug:
            body += figure_html(by_slug["trends_slices"])
        section("trends", "Emerging hot spots", body)
    for slug in ("weekday_hour", "monthly", "concentration"):
        if slug in by_slug:
            section(slug, HEADINGS[slug], figure_html(by_slug[slug]))
    if month_of_year is not None and len(month_of_year):
        busiest = month_of_year.sort_values("per_month", ascending=False)["name"].head(3).tolist()
        section(
            "month_of_year",
            "Seasons: records by month of the year",
            _html_table(
                month_of_year.rename(
                    columns={
                        "name": "month name",
                        "months_in_period": "times in period",
                        "per_month": "records per occurrence",
                    }
                ),
                None,
                12,
            )
            + f'<p class="note">Busiest months (records per occurrence): {html.escape(", ".join(busiest))}.</p>',
        )
    if model_table is not None:
        section(
            "model",
            HEADINGS["model"],
            _html_table(model_table, MODEL_COLUMNS, max_rows)
            + '<p class="note">rrv: relative risk value (multiplier on the expected count); rrv_low/rrv_high: 95 % interval.</p>',
        )
    if not sections:
        raise HotspotInputError("report: nothing to report; pass at least one section (ranked, gistar, kde, ...)")

    footer = ""
    if provenance is not None:
        footer = (
            '<section id="provenance"><h2>Provenance</h2><ul class="notes">'
            + "".join(f"<li>{html.escape(line)}</li>" for line in provenance.summary_lines())
            + "</ul></section>"
        )
        nav.append('<a href="#provenance">Provenance</a>')
    created = (
        f'<p class="meta">{html.escape(provenance.created_utc)} · hotspot {html.escape(provenance.version)}</p>'
        if provenance is not None
        else ""
    )
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{created}<nav>{''.join(nav)}</nav>{''.join(sections)}{footer}</body></html>\n"
    )
    _write_figure_folder(path, figs + inset_figs)
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path


HEADINGS = {
    "hotspots": "Where: hot and cold spots",
    "insets": "The top places, town by town",
    "kde": "Where crime concentrates: density",
    "risk": "What raises the risk: risk terrain",
    "ranked": "Places to act on",
    "weekday_hour": "When: day of the week and hour",
    "monthly": "Trend: records per month",
    "concentration": "How concentrated crime is",
    "model": "Risk factors found by the model",
}
"""Section headings in words."""


def _single_type(table) -> str | None:
    if "top_types" not in table.columns:
        return None
    from hotspot.places.tables import _single_type as single

    return single(table["top_types"])


def report_title(study) -> str:
    """What, where and when: "Violence and sexual offences in Bedford, Central Bedfordshire and Luton,
    May 2021 to April 2023 (36,313 records)"."""
    import pandas as pd

    frame = study.records.frame
    types = sorted(t for t in frame["crime_type"].dropna().astype(str).unique() if t)
    what = (
        (" and ".join([", ".join(types[:-1]), types[-1]]) if 1 < len(types) <= 3 else types[0] if types else "Crime")
        if len(types) <= 3
        else f"All crime ({len(types)} types)"
    )
    if getattr(study, "is_demo", False) and study.boundaries is None:
        where = "the demo town"
    elif study.boundaries is not None and "area_name" in study.boundaries.columns:
        from hotspot.report.figures import town_of

        towns = sorted({town_of(", " + str(n)) for n in study.boundaries["area_name"].dropna()})
        where = (
            (
                ", ".join(towns[:-1]) + " and " + towns[-1]
                if 1 < len(towns) <= 4
                else towns[0]
                if towns
                else "the study area"
            )
            if len(towns) <= 4
            else f"{len(towns)} towns and districts"
        )
    else:
        where = "the records' extent"
    months = frame["month"].dropna().astype(str)
    when = ""
    if len(months):
        first, last = (pd.Period(m, freq="M") for m in (months.min(), months.max()))
        when = f", {first.strftime('%B %Y')}" + (f" to {last.strftime('%B %Y')}" if last != first else "")
    return f"{what} in {where}{when} ({len(frame):,} records)"


def figures_folder(path: str | Path) -> Path:
    """Where :func:`build_report` puts the PNG copies: ``<stem>_figures`` beside the HTML."""
    p = Path(path)
    return p.with_name(f"{p.stem}_figures")


def _write_figure_folder(path: Path, figs: list[_Figure]) -> Path:
    """Build the figures in a temporary folder and swap it in, so the folder holds one run's figures, whole."""
    final = figures_folder(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = final.with_name(f".{final.name}.partial-{token}")
    retired = final.with_name(f".{final.name}.old-{token}")
    try:
        staging.mkdir()
        for i, fig in enumerate(figs, start=1):
            (staging / f"{i:02d}_{fig.slug}.png").write_bytes(fig.png)
        if final.exists():
            os.replace(final, retired)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if retired.exists() and not final.exists():
            os.replace(retired, final)
        raise
    with contextlib.suppress(OSError):
        shutil.rmtree(retired)
    return final


# --- the whole report for a study -------------------------------------------------------------------


def weekday_hour_table(frame):
    """Record counts by weekday (rows Monday..Sunday) and hour 0..23 from a records frame's ``datetime``; 7 x 24 DataFrame.

    Rows without a time (NaT) are left out; returns None when no row has one.
    """
    import pandas as pd

    times = pd.to_datetime(frame["datetime"], errors="coerce").dropna()
    if times.empty:
        return None
    table = pd.crosstab(times.dt.day_of_week, times.dt.hour).reindex(index=range(7), columns=range(24), fill_value=0)
    from hotspot.core.records import WEEKDAYS

    table.index = list(WEEKDAYS)
    return table


def monthly_counts(frame):
    """Records per ``month`` (``YYYY-MM``), every month between the first and last present (gaps as 0); a Series."""
    import pandas as pd

    months = frame["month"].dropna().astype(str)
    if months.empty:
        return None
    counts = months.value_counts().sort_index()
    periods = pd.period_range(counts.index[0], counts.index[-1], freq="M").astype(str)
    return counts.reindex(periods, fill_value=0)


SECTIONS = ("rank", "gistar", "kde", "rtm", "concentration", "trends")
"""Analysis sections :func:`report_for_study` runs, in order."""


@dataclass(frozen=True)
class StudyReport:
    """What ``hotspot report`` makes: every section's analysis of a study, ready to write as one HTML page.

    Attributes
    ----------
    title : str
        The report heading.
    parts : dict
        The keyword arguments of :func:`build_report` each section produced (ranked places, Gi* layer, density,
        risk terrain, trends, weekday x hour table, monthly counts, ...).
    notes : list of str
        Method notes shown near the top (map changes, out-of-area records, each section's caveats).
    skipped : list of str
        One line per section that was skipped and why (a missing module, nothing to show for this data).
    suppress_below : int or None
        Small-count suppression applied to the ranked table when written.
    """

    title: str
    parts: dict
    notes: list[str]
    skipped: list[str]
    suppress_below: int | None = None

    def write(self, path: str | Path, *, provenance=None) -> list[Path]:
        """The HTML at ``path`` (ending .html) and its figures folder ``<stem>_figures/`` beside it."""
        html = build_report(
            path,
            title=self.title,
            notes=self.notes + self.skipped,
            provenance=provenance,
            suppress_below=self.suppress_below,
            **self.parts,
        )
        return [html, figures_folder(html)]

    def summary(self, width: int = 100) -> list[str]:
        """The title, the sections skipped and, with suppression, the threshold."""
        lines = [self.title, *self.skipped]
        if self.suppress_below:
            lines.append(f"counts below {self.suppress_below} suppressed in the ranked table")
        return lines


def report_for_study(
    study,
    *,
    title: str | None = None,
    cell_size_m: float = 100.0,
    top: int = 20,
    permutations: int = 99,
    seed: int = 0,
    sections: Sequence[str] = SECTIONS,
    suppress_below: int | None = None,
    progress=None,
) -> StudyReport:
    """Run each analysis on a study for its report; :meth:`StudyReport.write` writes the HTML.

    Each section calls its module's public function (imported only when run); a section whose
    module is missing, or which has nothing to show for this data (e.g. no features for a risk
    terrain model), is skipped with a note rather than failing the report.

    Parameters
    ----------
    study : hotspot.ingest.study.Study
        Records, boundaries and features.
    title : str, optional
        Default :func:`report_title` (crime types, study area and period).
    cell_size_m : float
        Grid cell side, metres, for ranking, Gi* and KDE. Default 100.
    top : int
        Ranked places listed, default 20.
    permutations : int
        Gi* permutations (the exact null is used for integer counts; see :mod:`hotspot.stats.gistar`). Default 99.
    seed : int
        Seed for every random step, default 0.
    sections : sequence of str
        Which of :data:`SECTIONS` to run, default all.
    suppress_below : int, optional
        Small-count suppression for the ranked table (see :func:`build_report`). Default None.
    progress : callable, optional
        ``progress(stage, done, total)``.
    """
    from hotspot.core.progress import resolve

    progress = resolve(progress)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise HotspotInputError(f"unknown report section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    records = study.records
    if len(records) == 0:
        raise HotspotInputError("no records left to report on; check the input and the filters")
    frame = records.frame
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    boundaries = study.boundaries
    if boundaries is None and getattr(study, "demo", None) is not None:
        boundaries = getattr(study.demo, "lsoas", None)
    parts: dict[str, Any] = {"boundaries": boundaries}
    notes: list[str] = []
    skipped: list[str] = []
    hotspot_layers = []
    from hotspot.forecast.mapchange import detect_map_changes

    changes = detect_map_changes(records)
    if changes.changes:
        notes.append(changes.describe())

    def run(name: str, fn) -> None:
        if name not in sections:
            return
        progress(f"report: {name}", 0, 1)
        try:
            fn()
        except ImportError as exc:
            skipped.append(f"{name}: skipped, module not available ({exc.name or exc})")
        except HotspotInputError as exc:
            skipped.append(f"{name}: skipped, {exc}")
        progress(f"report: {name}", 1, 1)

    def do_rank():
        from hotspot.places.rank import rank_places

        result = rank_places(study, method="count", cell_size_m=cell_size_m, top=top, seed=seed)
        parts["ranked"] = result
        notes.extend(n for n in getattr(result, "notes", []) or [] if n not in notes)

    def do_gistar():
        from hotspot.stats.gistar import gi_star_points

        layer, result = gi_star_points(
            records, cell_size_m=cell_size_m, boundaries=study.boundaries, permutations=permutations, seed=seed
        )
        parts["gistar"] = layer
        notes.extend(f"Gi*: {n}" for n in getattr(result, "notes", []) or [])

    def do_kde():
        from hotspot.stats.density import density_for_study

        density = density_for_study(study, cell_size_m=cell_size_m)
        parts["kde"] = density
        notes.append(f"KDE: {density.description} ({density.bandwidth_rule})")
        try:
            from hotspot.places.surface import surface_hotspots

            hotspot_layers.append(surface_hotspots(density, area_share=0.05, x=x, y=y))
        except ImportError:
            pass

    def do_rtm():
        import rtm

        if not hasattr(rtm, "build"):
            raise ImportError("rtm.build", name="rtm.build")
        if not study.features:
            raise HotspotInputError("no risk features (give --factor NAME=PATH, or run on the demo)")
        result = rtm.build(records, study.features, study_area=study.study_area(), seed=seed)
        parts["risk"] = result
        parts["model_table"] = result.model_table
        if result.priority_places is not None and len(result.priority_places):
            parts["priority_places"] = result.priority_places

    def do_trends():
        from hotspot.spacetime.trends import trends_for_study

        result = trends_for_study(study, cell_size_m=cell_size_m, progress=progress)
        parts["trends"] = result
        notes.extend(f"Trends: {n}" for n in result.notes)

    def do_concentration():
        from hotspot.stats.concentration import concentration

        if boundaries is not None and len(boundaries):
            from hotspot.stats.gistar import count_points_in_areas

            counts, _ = count_points_in_areas(records, boundaries)
            what = "areas"
        else:
            grid, mask = study.grid(cell_size_m)
            counts = grid.count(x, y)[mask]
            what = f"{cell_size_m:g} m cells of the study area"
        summary = concentration(np.asarray(counts, dtype=np.float64))
        parts["lorenz"] = summary
        if what == "areas":
            notes.append(f"Concentration over {what}: {summary.describe()}")
        else:
            # Most cells are empty, so "the top 20 % of cells" holds everything; say what a patrol budget holds.
            shares = [
                concentration(np.asarray(counts, dtype=np.float64), top_share=t).top20_share for t in (0.01, 0.05)
            ]
            notes.append(
                f"Concentration over {what}: the busiest 1 % of the cells hold {shares[0]:.1%} of the "
                f"records and the busiest 5 % hold {shares[1]:.1%}; Gini {summary.gini:.3f}"
            )

    for name, fn in (
        ("rank", do_rank),
        ("gistar", do_gistar),
        ("kde", do_kde),
        ("rtm", do_rtm),
        ("concentration", do_concentration),
        ("trends", do_trends),
    ):
        run(name, fn)

    if hotspot_layers:
        import geopandas as gpd
        import pandas as pd

        parts["hotspots"] = gpd.GeoDataFrame(
            pd.concat([h[["geometry"]] for h in hotspot_layers], ignore_index=True),
            geometry="geometry",
            crs=hotspot_layers[0].crs,
        )
    parts["weekday_hour"] = weekday_hour_table(frame) if records.has_times else None
    parts["monthly"] = monthly_counts(frame)
    from hotspot.stats.areas import month_of_year_profile

    parts["month_of_year"] = month_of_year_profile(frame["month"])
    out_of_area = study.out_of_area() if hasattr(study, "out_of_area") else 0
    if out_of_area:
        notes.insert(
            0,
            f"Out of area: {out_of_area:,} records ({out_of_area / (len(records) + out_of_area):.1%} of the "
            "located records) were placed outside the force or study area and are not mapped",
        )
    notes.insert(0, study.describe_area().capitalize() if hasattr(study, "describe_area") else "")
    return StudyReport(
        title=title or report_title(study), parts=parts, notes=notes, skipped=skipped, suppress_below=suppress_below
    )
