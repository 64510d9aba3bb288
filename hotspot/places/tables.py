"""Printed tables: a ranked list laid out to fit the terminal, with a unit on every figure.

The library builds the table (a :class:`rich.table.Table` and the lines that follow it); the CLI
prints it. Layout rules, so a patrol list reads the same on an 80-column laptop terminal and a
wide monitor:

- a row never wraps: when the columns do not fit ``width``, the least needed columns are dropped
  (density, then crime types, then cumulative share, then the method's score) and the place name is
  abbreviated with an ellipsis, never the peak window or a number;
- a column that is empty on every row (e.g. the peak for areas) is not printed, nor are crime types
  when every place holds one and the same type (the filter already says which);
- at most :data:`PRINTED_ROWS` rows are printed; the line after the table says how many more there
  are and which file holds them;
- every heading carries its unit (records, %, per km², z).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hotspot.core.result import PRINTED_ROWS
from hotspot.core.result import measure as _measure

SHORT_TYPES = {
    "Violence and sexual offences": "violence",
    "Anti-social behaviour": "ASB",
    "Criminal damage and arson": "damage",
    "Public order": "public order",
    "Shoplifting": "shoplifting",
    "Vehicle crime": "vehicle",
    "Burglary": "burglary",
    "Other theft": "other theft",
    "Drugs": "drugs",
    "Robbery": "robbery",
    "Possession of weapons": "weapons",
    "Theft from the person": "theft from person",
    "Bicycle theft": "bicycle",
    "Other crime": "other",
}
"""Short police.uk category names for printed tables (files keep the full names)."""

HEADERS = {
    "rank": "rank",
    "name": "place",
    "count": "records",
    "share": "share",
    "cumulative_share": "cum.",
    "per_km2": "per km²",
    "gi_z": "Gi* z",
    "kde_value": "KDE /cell",
    "rtm_score": "risk ×min",
    "combined_score": "score",
    "peak": "peak window (share)",
    "trend": "trend /month",
    "top_types": "mostly",
    "harm": "harm",
    "length_m": "length m",
    "per_km": "per km",
    "unlit_share": "unlit",
}
"""Printed heading of each ranked column, with its unit."""

DROP_ORDER = (
    "per_km2",
    "per_km",
    "unlit_share",
    "top_types",
    "length_m",
    "harm",
    "cumulative_share",
    "gi_z",
    "kde_value",
    "rtm_score",
    "combined_score",
    "share",
)
"""Columns dropped first, in order, when the table is wider than the terminal."""

NAME_KEEP_WIDTH = 30
"""Place names are abbreviated to this many characters before any column is dropped."""
NAME_MIN_WIDTH = 16
"""Narrowest a place name is abbreviated to once every droppable column is gone."""

_LEFT = frozenset({"name", "peak", "trend", "top_types"})


@dataclass
class PrintedTable:
    """What the terminal shows: the rich table and the lines under it."""

    table: object
    footer: list[str]
    columns: list[str]


def short_types(top_types: str, count: int) -> str:
    """``"Violence and sexual offences (120); Burglary (30)"`` -> ``"violence 40%, burglary 10%"`` (two at most)."""
    parts = []
    for match in re.finditer(r"([^;]+?) \((\d+)\)", top_types or ""):
        name, n = match.group(1).strip(), int(match.group(2))
        parts.append(f"{SHORT_TYPES.get(name, name)} {n / max(count, 1):.0%}")
    return ", ".join(parts[:2])


def _single_type(top_types) -> str | None:
    """The only crime type when every listed place holds one and the same type, else None."""
    seen = set()
    for value in top_types:
        names = re.findall(r"([^;]+?) \(\d+\)", value or "")
        if len(names) > 1:
            return None
        seen.update(n.strip() for n in names)
    return next(iter(seen)) if len(seen) == 1 else None


def _cell(column: str, place) -> str:
    value = place.get(column)
    if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value):
        return ""
    if column in ("share", "cumulative_share"):
        return f"{value:.1%}"
    if column in ("per_km2", "per_km", "harm", "length_m"):
        return f"{value:,.0f}"
    if column == "unlit_share":
        return f"{value:.0%}"
    if column in ("kde_value", "rtm_score"):
        return f"{value:,.1f}"
    if column == "combined_score":
        return f"{value:.3g}"
    if column == "gi_z":
        return f"{value:.2f}"
    if column in ("count", "rank"):
        return f"{int(value):,}"
    if column == "top_types":
        return short_types(value, int(place["count"]))
    if column == "peak":
        return str(value).split(", ")[0]
    if column == "trend":
        slope = place.get("trend_per_month")
        if isinstance(slope, (int, float)) and np.isfinite(slope) and value != "no clear trend":
            return f"{value} {slope:+.1f}"
        return str(value)
    return str(value)


def _ellipsis(text: str, width: int) -> str:
    """Shorten to ``width`` characters, keeping what tells places apart: the LSOA code at the end.

    ``"Long Meadow Road, Central Bedfordshire 004C"`` becomes ``"Long Meadow…, Central Bedfordshire 004C"``,
    then ``"Long Meadow Road, CB 004C"`` (the area's words by initials), and only then is cut at the end.
    """
    if len(text) <= width:
        return text
    street, sep, area = text.rpartition(", ")
    if sep:
        words = area.split()
        # Initials only for an LSOA-style name ("Central Bedfordshire 004C"), never for a street stretch's
        # "120 m from Mill Road to High Street".
        coded = len(words) > 1 and any(ch.isdigit() for ch in words[-1]) and not any(ch.isdigit() for ch in words[0])
        short_area = "".join(w[0] for w in words[:-1]) + " " + words[-1] if coded else area
        for candidate in (area, short_area):
            room = width - len(candidate) - 2
            if len(street) <= room:
                return f"{street}, {candidate}"
            if room >= 9:
                return f"{street[: room - 1]}…, {candidate}"
    return text[: max(width - 1, 1)] + "…"


def ranked_table(result, *, width: int = 80, rows: int = PRINTED_ROWS, rest_in: str | None = None) -> PrintedTable:
    """Lay out a :class:`hotspot.places.rank.RankResult` for a terminal ``width`` characters wide.

    Parameters
    ----------
    result : RankResult
    width : int
        Terminal width in characters (80 for a laptop terminal; wider terminals get more columns).
    rows : int
        Most rows printed (default 20); the footer says how many more exist and where.
    rest_in : str, optional
        The file holding every row (the CSV), named in the footer when rows are left out.
    """
    from rich import box
    from rich.table import Table

    places = result.places
    shown = places.head(rows)
    columns = [c for c in result.display_columns if c in HEADERS]
    footer: list[str] = []
    only = _single_type(places["top_types"]) if "top_types" in places else None
    cells = {c: [_cell(c, p) for _, p in shown.iterrows()] if c in places else [] for c in columns}
    columns = [c for c in columns if any(cells[c])]
    if only is not None and "top_types" in columns:
        columns.remove("top_types")
        footer.append(f"every listed place: {only}")

    def natural(c: str) -> int:
        return max([len(HEADERS[c])] + [len(v) for v in cells[c]])

    def build(cols: list[str], name_width: int, with_rows: bool = True):
        table = Table(
            title=result.title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False, title_justify="left"
        )
        for c in cols:
            w = name_width if c == "name" else natural(c)
            table.add_column(
                HEADERS[c],
                justify="left" if c in _LEFT else "right",
                no_wrap=True,
                min_width=w,
                max_width=w,
                overflow="ellipsis",
            )
        for i in range(len(shown) if with_rows else 0):
            table.add_row(*[_ellipsis(cells[c][i], name_width) if c == "name" else cells[c][i] for c in cols])
        return table

    widths: dict = {}

    def measured(cols: list[str], name_width: int) -> int:
        # The rendered width, as rich lays it out (padding and rules included). Every column's width is
        # fixed (min_width = max_width), so rich's measure does not depend on the rows: measure the
        # headings alone, once per layout (measuring 20 rows of cells cost ~0.05 s a time).
        key = (tuple(cols), name_width)
        if key not in widths:
            widths[key] = _measure(build(cols, name_width, with_rows=False))
        return widths[key]

    full_name = natural("name") if "name" in columns else 0
    name_width = full_name
    while measured(columns, name_width) > width:
        excess = measured(columns, name_width) - width
        droppable = [c for c in DROP_ORDER if c in columns]
        floor = min(full_name, NAME_KEEP_WIDTH) if droppable else NAME_MIN_WIDTH
        if "name" in columns and name_width > floor:
            name_width = max(floor, name_width - excess)
            continue
        if not droppable:
            break
        columns.remove(droppable[0])
        # Room freed by the dropped column goes back to the name.
        name_width = min(full_name, name_width + max(width - measured(columns, name_width), 0))
    table = build(columns, name_width)
    if len(places) > len(shown):
        where = f" in {rest_in}" if rest_in else ""
        footer.insert(0, f"… and {len(places) - len(shown):,} more {_what(result)}{where}")
    if "peak" in columns:
        footer.append("peak window: the busiest run of hours of the week, with its share of the place's records")
    return PrintedTable(table=table, footer=footer, columns=columns)


def _what(result) -> str:
    return {"grid": "places", "areas": "areas", "streets": "streets", "segments": "street stretches"}.get(
        result.over, "places"
    )
