"""Static figures for the HTML report: maps with a scale bar and north arrow, heat tables and curves.

Every function returns a matplotlib Figure drawn with the Agg backend (no display needed)
and never shows or saves it; :func:`png_bytes` renders one to PNG. Maps are drawn in the
layers' projected CRS (metres, north up), with no basemap tiles, so the report needs no
internet to build or view.
"""

from __future__ import annotations

import math

import numpy as np

from hotspot.core.records import WEEKDAYS

MAP_SIZE_IN = (11.0, 8.0)
"""Map figure size, inches (width, height)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (``dpi`` dots per inch, default 110); closes the figure."""
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        _pyplot().close(fig)
    return buffer.getvalue()


# --- map furniture --------------------------------------------------------------------------


def nice_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^n metres) of roughly a fifth of ``span_m`` metres."""
    if not span_m > 0:
        return 1.0
    target = span_m / 5.0
    power = 10.0 ** math.floor(math.log10(target))
    for step in (5.0, 2.0, 1.0):
        if step * power <= target:
            return step * power
    return power


def add_scale_bar(ax, *, location: tuple[float, float] = (0.05, 0.05), segments: int = 2) -> float:
    """Draw a black-and-white scale bar in map units (metres) near the lower-left corner; returns its length, m.

    ``location`` is the bar's left end in axes fractions (default 5 % in from the left and bottom);
    the bar is split into ``segments`` alternating blocks (default 2).
    """
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = nice_length(x1 - x0)
    height = (y1 - y0) * 0.012
    bx = x0 + (x1 - x0) * location[0]
    by = y0 + (y1 - y0) * location[1]
    piece = length / segments
    # A white backing box keeps the bar legible over dark cells.
    ax.add_patch(
        Rectangle(
            (bx - piece * 0.15, by - height * 1.5),
            length + piece * 0.3,
            height * 5.2,
            facecolor="white",
            edgecolor="none",
            alpha=0.8,
            zorder=19,
        )
    )
    for i in range(segments):
        ax.add_patch(
            Rectangle(
                (bx + i * piece, by),
                piece,
                height,
                facecolor="black" if i % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.8,
                zorder=20,
            )
        )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx, by + height * 1.6, "0", ha="center", va="bottom", fontsize=8, zorder=21)
    ax.text(bx + length, by + height * 1.6, label, ha="center", va="bottom", fontsize=8, zorder=21)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return length


def add_north_arrow(ax, *, location: tuple[float, float] = (0.93, 0.86), size: float = 0.07) -> None:
    """Draw a north arrow (grid north: up, as in every projected map here) at ``location`` (axes fractions).

    ``size`` is the arrow's height as a fraction of the axes height (default 0.07).
    """
    from matplotlib.patches import Polygon

    x, y = location
    w = size * 0.35
    ax.add_patch(
        Polygon(
            [(x, y + size), (x - w, y), (x, y + size * 0.3)],
            closed=True,
            transform=ax.transAxes,
            facecolor="black",
            edgecolor="black",
            linewidth=0.8,
            zorder=20,
        )
    )
    ax.add_patch(
        Polygon(
            [(x, y + size), (x + w, y), (x, y + size * 0.3)],
            closed=True,
            transform=ax.transAxes,
            facecolor="white",
            edgecolor="black",
            linewidth=0.8,
            zorder=20,
        )
    )
    ax.text(
        x,
        y + size + 0.01,
        "N",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=11,
        fontweight="bold",
        zorder=20,
    )


def _map_axes(title: str):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=MAP_SIZE_IN)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=12, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#999999")
    return fig, ax


def _finish_map(ax, bounds, crs_note: str | None) -> None:
    if bounds is not None:
        xmin, ymin, xmax, ymax = bounds
        pad = 0.03 * max(xmax - xmin, ymax - ymin, 1.0)
        ax.set_xlim(xmin - pad, xmax + pad)
        ax.set_ylim(ymin - pad, ymax + pad)
    add_scale_bar(ax)
    add_north_arrow(ax)
    if crs_note:
        ax.text(0.995, 0.005, crs_note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#555555")


def _union_bounds(*frames):
    boxes = [f.total_bounds for f in frames if f is not None and len(f)]
    if not boxes:
        return None
    b = np.array(boxes)
    return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def _crs_note(*frames) -> str | None:
    for f in frames:
        if f is not None and getattr(f, "crs", None) is not None:
            return f"{f.crs.name} ({f.crs.to_string()})"
    return None


def _draw_boundaries(ax, boundaries) -> None:
    if boundaries is not None and len(boundaries):
        boundaries.boundary.plot(ax=ax, color="#555555", linewidth=0.5, zorder=5)


def _label_ranked(ax, ranked, limit: int = 10) -> None:
    if ranked is None or not len(ranked) or "rank" not in ranked.columns:
        return
    import matplotlib.patheffects as pe

    shown = ranked.sort_values("rank").head(limit)
    points = shown.geometry.representative_point()
    lines = shown.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
    if lines.any():  # street stretches: draw the stretch itself (a line's boundary is only its two ends)
        shown[lines].plot(ax=ax, color="#d7301f", linewidth=3.0, zorder=11)
    polygons = ~lines & ~shown.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    if polygons.any():
        shown[polygons].boundary.plot(ax=ax, color="black", linewidth=0.9, zorder=11)
    for (_, row), pt in zip(shown.iterrows(), points):
        ax.text(
            pt.x,
            pt.y,
            str(int(row["rank"])),
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold",
            zorder=12,
            path_effects=[pe.withStroke(linewidth=2.5, foreground="white")],
        )


def hotspot_map(
    *, gistar=None, boundaries=None, hotspots=None, ranked=None, priority_places=None, title: str = "Hot spots"
):
    """Gi* cells or areas in the diverging 99/95/90 % colours, over boundaries, with hot-spot outlines and ranks.

    Parameters
    ----------
    gistar : GeoDataFrame, optional
        Cells or areas with ``gi_bin`` (-3..3); non-significant cells are drawn light grey.
    boundaries : GeoDataFrame, optional
        Area polygons drawn as grey outlines.
    hotspots : GeoDataFrame, optional
        Hot-spot polygons (KDE hot-spot areas, priority places) drawn as red outlines.
    ranked : GeoDataFrame, optional
        Ranked places, labelled by ``rank`` (the top 10; more crowd a town centre into an unreadable pile).
    priority_places : GeoDataFrame, optional
        RTM priority places, outlined in purple (the colour of their QGIS style).
    title : str
        Figure title, default "Hot spots".
    """
    from matplotlib.patches import Patch

    from hotspot.io.styles import GISTAR_CLASSES

    fig, ax = _map_axes(title)
    handles = []
    if gistar is not None and len(gistar) and "gi_bin" in gistar.columns:
        bins = gistar["gi_bin"].fillna(0).astype(int)
        for value, colour, label in GISTAR_CLASSES:
            part = gistar[bins == value]
            if value != 0 and len(part) == 0:
                continue
            if len(part):
                part.plot(ax=ax, color=colour, edgecolor=colour, linewidth=0.1, zorder=2)
            handles.append(Patch(facecolor=colour, edgecolor="#999999", label=label))
    _draw_boundaries(ax, boundaries)
    if hotspots is not None and len(hotspots):
        hotspots.boundary.plot(ax=ax, color="#d7301f", linewidth=1.4, zorder=8)
        handles.append(Patch(facecolor="none", edgecolor="#d7301f", linewidth=1.4, label="Hot-spot area (KDE)"))
    if priority_places is not None and len(priority_places):
        priority_places.boundary.plot(ax=ax, color="#6a3d9a", linewidth=1.2, zorder=9)
        handles.append(Patch(facecolor="none", edgecolor="#6a3d9a", linewidth=1.2, label="Priority place (RTM)"))
    _label_ranked(ax, ranked)
    if handles:
        # Outside the map frame: inside, the legend hides the very corner of town it sits on.
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            framealpha=0.9,
            title="Getis-Ord Gi*" if gistar is not None else None,
            title_fontsize=8,
        )
    _finish_map(
        ax,
        _union_bounds(gistar, boundaries, hotspots, ranked, priority_places),
        _crs_note(gistar, boundaries, hotspots, ranked, priority_places),
    )
    return fig


def surface_map(
    array,
    grid,
    *,
    boundaries=None,
    hotspots=None,
    title: str = "Surface",
    units: str = "",
    ramp: str = "density",
    outline_colour: str = "#d7301f",
):
    """A raster surface on ``grid`` with a colour bar, boundaries, scale bar and north arrow.

    Parameters
    ----------
    array : ndarray, shape ``grid.shape``
        Values, row 0 north; NaN cells are left blank.
    grid : Grid
        Where the array lies.
    boundaries, hotspots : GeoDataFrame, optional
        Outlines drawn over the surface: boundaries grey, hotspots in ``outline_colour``.
    title : str
        Figure title, default "Surface".
    units : str
        Colour-bar label, e.g. "crimes per km²", default empty.
    ramp : str
        A ramp name from :data:`hotspot.io.styles.RAMPS` (``density``, ``risk``, ``viridis``), default ``density``,
        so the report matches the QGIS style of the same GeoTIFF.
    outline_colour : str
        Colour of the ``hotspots`` outlines, default red ``#d7301f``.
    """
    from matplotlib.colors import LinearSegmentedColormap

    from hotspot.io.styles import RAMPS, ramp_stops

    data = np.asarray(array, dtype=np.float64)
    colours = list(RAMPS.get(ramp, RAMPS["density"]))
    cmap = LinearSegmentedColormap.from_list(ramp, colours)
    fig, ax = _map_axes(title)
    xmin, ymin, xmax, ymax = grid.bounds
    finite = data[np.isfinite(data)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    vmax = vmax if vmax > vmin else vmin + 1
    # The same quantile stretch as the GeoTIFF's QGIS style: colour k at the 1 - 2^-k quantile.
    stops = ramp_stops(finite, vmin, vmax, len(colours))
    position = np.linspace(0.0, 1.0, len(colours))
    stretched = np.interp(data, stops, position)
    stretched[~np.isfinite(data)] = np.nan
    image = ax.imshow(
        np.ma.masked_invalid(stretched),
        extent=(xmin, xmax, ymin, ymax),
        origin="upper",
        cmap=cmap,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        zorder=1,
    )
    _draw_boundaries(ax, boundaries)
    if hotspots is not None and len(hotspots):
        hotspots.boundary.plot(ax=ax, color=outline_colour, linewidth=1.2, zorder=8)
    bar = fig.colorbar(image, ax=ax, shrink=0.75, pad=0.02, ticks=position)
    bar.ax.set_yticklabels([f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}" for v in stops], fontsize=8)
    bar.set_label(
        units + (" (quantile stretch: each colour step holds half the cells below it)" if units else ""), fontsize=8
    )
    _finish_map(ax, grid.bounds, grid.crs)
    return fig


def town_of(name: str) -> str:
    """The town (LSOA name without its code) of a place named "<street>, <LSOA name>": "Luton" for
    "Bridge Street, Luton 023A"; the whole name when it has no such part."""
    area = str(name).rpartition(", ")[2]
    area = area.split(" (")[0]
    words = area.split()
    return " ".join(words[:-1]) if len(words) > 1 and any(ch.isdigit() for ch in words[-1]) else area


def town_insets(ranked, *, boundaries=None, gistar=None, top: int = 10, margin_m: float = 400.0) -> list:
    """One close-up map per town holding any of the ``top`` places: each place outlined and labelled with its rank
    and street, at a scale where the streets can be told apart. Returns ``[(town, figure), ...]``, the town
    with the best place first."""
    import matplotlib.patheffects as pe

    from hotspot.io.styles import GISTAR_CLASSES, PLACE_CLASSES

    if ranked is None or not len(ranked) or "name" not in ranked.columns or "rank" not in ranked.columns:
        return []
    best = ranked.sort_values("rank").head(top).copy()
    best["town"] = [town_of(n) for n in best["name"]]
    insets = []
    for town in dict.fromkeys(best["town"]):
        places = best[best["town"] == town]
        xmin, ymin, xmax, ymax = places.total_bounds
        side = max(xmax - xmin, ymax - ymin) / 2 + margin_m
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        fig, ax = _map_axes(f"{town}: top places close up")
        fig.set_size_inches(7.0, 6.0)
        if gistar is not None and len(gistar) and "gi_bin" in gistar.columns:
            near = gistar.cx[cx - side : cx + side, cy - side : cy + side]
            bins = near["gi_bin"].fillna(0).astype(int)
            for value, colour, _ in GISTAR_CLASSES:
                if value != 0 and (bins == value).any():
                    near[bins == value].plot(ax=ax, color=colour, edgecolor=colour, linewidth=0.1, zorder=2)
        if boundaries is not None and len(boundaries):
            boundaries.cx[cx - side : cx + side, cy - side : cy + side].boundary.plot(
                ax=ax, color="#888888", linewidth=0.6, zorder=5
            )
        for _, place in places.iterrows():
            colour = next(c for lo, hi, c, _ in PLACE_CLASSES if lo <= int(place["rank"]) <= hi)
            frame = places.loc[[place.name]]
            if place.geometry.geom_type in ("Point", "MultiPoint"):
                frame.plot(ax=ax, color=colour, edgecolor="#3f007d", markersize=40, zorder=10)
            else:
                frame.plot(ax=ax, color=colour, alpha=0.6, edgecolor="#3f007d", linewidth=1.2, zorder=10)
            point = place.geometry.representative_point()
            street = str(place["name"]).rpartition(", ")[0] or str(place["name"])
            ax.text(
                point.x,
                point.y,
                f"{int(place['rank'])} {street}",
                ha="left",
                va="center",
                fontsize=8,
                fontweight="bold",
                zorder=12,
                path_effects=[pe.withStroke(linewidth=2.5, foreground="white")],
            )
        _finish_map(ax, (cx - side, cy - side, cx + side, cy + side), None)
        insets.append((town, fig))
    return insets


def weekday_hour_figure(table, *, title: str = "When: weekday x hour"):
    """A 7 x 24 heat table (rows Monday..Sunday, columns hour 0..23) with the busiest cells annotated.

    ``table`` is a 7 x 24 array or DataFrame of counts (Monday first).
    """
    plt = _pyplot()
    values = np.asarray(getattr(table, "values", table), dtype=np.float64)
    if values.shape != (7, 24):
        raise ValueError(f"the weekday x hour table must be 7 x 24, got {values.shape}")
    fig, ax = plt.subplots(figsize=(10, 3.4))
    image = ax.imshow(values, aspect="auto", cmap="YlOrRd", interpolation="nearest")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)], fontsize=8)
    ax.set_xlabel("hour of day (start)")
    ax.set_title(title, fontsize=12, loc="left")
    top = values.max() if values.size else 0
    for r in range(7):
        for c in range(24):
            if top > 0 and values[r, c] >= 0.6 * top:
                ax.text(
                    c,
                    r,
                    f"{values[r, c]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if values[r, c] > 0.8 * top else "black",
                )
    fig.colorbar(image, ax=ax, pad=0.01).set_label("records", fontsize=9)
    return fig


def monthly_figure(series, *, title: str = "Monthly trend"):
    """Records per month as a line with markers, and a dashed least-squares trend line.

    ``series`` is indexed by month (``YYYY-MM`` strings or a PeriodIndex/DatetimeIndex); values are counts.
    """
    plt = _pyplot()
    import pandas as pd

    s = pd.Series(series).astype(float)
    labels = [str(i)[:7] for i in s.index]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    x = np.arange(len(s))
    ax.plot(x, s.to_numpy(), marker="o", color="#b2182b", linewidth=1.5, label="records")
    if len(s) >= 3:
        slope, intercept = np.polyfit(x, s.to_numpy(), 1)
        ax.plot(x, intercept + slope * x, "--", color="#555555", linewidth=1, label=f"trend {slope:+.1f} per month")
        ax.legend(fontsize=8, loc="lower right")
    step = max(1, len(s) // 12)
    ax.set_xticks(x[::step], labels[::step], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("records")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", color="#dddddd")
    ax.set_title(title, fontsize=12, loc="left")
    return fig


def lorenz_figure(
    lorenz_x, lorenz_y, *, gini: float | None = None, title: str = "Concentration (Lorenz curve)", what: str = "areas"
):
    """The Lorenz curve of records across ``what`` (areas, cells), with the line of equality.

    ``lorenz_x``/``lorenz_y`` run from 0 to 1, fewest records first (see :mod:`hotspot.stats.concentration`).
    """
    plt = _pyplot()
    x = np.asarray(lorenz_x, dtype=float)
    y = np.asarray(lorenz_y, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="#999999", linewidth=1, label="equal share")
    ax.plot(x, y, color="#b2182b", linewidth=2, label="records" + (f" (Gini {gini:.2f})" if gini is not None else ""))
    ax.fill_between(x, y, x, color="#b2182b", alpha=0.1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"share of {what}, fewest records first")
    ax.set_ylabel("share of records")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title, fontsize=12, loc="left")
    return fig


def trends_map(trends, *, boundaries=None, title: str = "Emerging hot spots"):
    """Emerging hot spot categories (a ``trends`` layer with ``category``) in the colours of their QGIS style."""
    from matplotlib.patches import Patch

    from hotspot.io.styles import TRENDS_CLASSES

    fig, ax = _map_axes(title)
    handles = []
    for name, colour in TRENDS_CLASSES:
        part = trends[trends["category"] == name]
        if not len(part):
            continue
        part.plot(ax=ax, color=colour, edgecolor=colour, linewidth=0.1, zorder=2)
        handles.append(Patch(facecolor=colour, edgecolor="#999999", label=f"{name} ({len(part):,})"))
    _draw_boundaries(ax, boundaries)
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            framealpha=0.9,
            title="Pattern (locations)",
            title_fontsize=8,
        )
    _finish_map(ax, _union_bounds(trends, boundaries), _crs_note(trends, boundaries))
    return fig


def slice_small_multiples(
    bins,
    labels,
    *,
    grid=None,
    areas=None,
    max_panels: int = 12,
    columns: int = 4,
    title: str = "Gi* hot and cold spots, slice by slice",
):
    """Small multiples of the space-time Gi* bins (-3..3), one panel per time slice.

    Parameters
    ----------
    bins : int array
        ``(n_slices, nrows, ncols)`` on ``grid`` or ``(n_slices, n_areas)`` for ``areas``.
    labels : sequence of str
        Slice labels.
    grid : Grid, optional
        The cube's grid (cells outside the study area should hold a masked/NaN-free 0 and are drawn blank
        when ``bins`` is a masked array).
    areas : GeoDataFrame, optional
        The cube's areas.
    max_panels : int, default 12
        At most this many slices, evenly spaced and always including the first and the last.
    columns : int, default 4
        Panels per row.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from hotspot.io.styles import GISTAR_CLASSES

    plt = _pyplot()
    n = len(labels)
    chosen = np.unique(np.round(np.linspace(0, n - 1, min(n, max_panels))).astype(int))
    rows = int(math.ceil(len(chosen) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.3 * rows + 0.6), squeeze=False)
    ordered = sorted(GISTAR_CLASSES, key=lambda c: c[0])
    cmap = ListedColormap([c[1] for c in ordered])
    norm = BoundaryNorm(np.arange(-3.5, 4.5, 1.0), cmap.N)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
        for spine in ax.spines.values():
            spine.set_color("#bbbbbb")
    for ax, t in zip(axes.ravel(), chosen):
        if grid is not None:
            xmin, ymin, xmax, ymax = grid.bounds
            ax.imshow(
                bins[t], extent=(xmin, xmax, ymin, ymax), origin="upper", cmap=cmap, norm=norm, interpolation="nearest"
            )
        elif areas is not None:
            frame = areas.assign(_bin=np.asarray(bins[t]))
            for value, colour, _ in GISTAR_CLASSES:
                part = frame[frame["_bin"] == value]
                if len(part):
                    part.plot(ax=ax, color=colour, edgecolor="#cccccc", linewidth=0.1)
        ax.set_title(str(labels[t]), fontsize=8, loc="left")
    for ax in axes.ravel()[len(chosen) :]:
        ax.set_visible(False)
    handles = [Patch(facecolor=colour, edgecolor="#999999", label=label) for value, colour, label in GISTAR_CLASSES]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return fig
