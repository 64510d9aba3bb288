"""Ranked places for patrol planning: which places, how much crime, and when they peak.

How a ranking is made
---------------------
1. Records are counted on a square grid (``cell_size_m``, default 100 m) over the study area.
2. Each cell gets a score from the chosen ``method``:

   ============  ==============================================================================
   method        cell score
   ============  ==============================================================================
   count         records in the cell
   gistar        Getis-Ord Gi* z; only cells hot at 95 % or more after FDR control are candidates
   kde           quartic kernel density (expected records per cell)
   rtm           risk terrain relative risk score (needs risk features; the demo has them)
   combined      :func:`hotspot.forecast.combined.combined_score`: recency-weighted counts at the cell
                 blended with a small-bandwidth density (and the RTM score when features exist)
   ============  ==============================================================================

3. Candidate cells are the best-scoring cells covering the area budget (``area_share``, default
   2 % of the study area) — for ``gistar``, the significant hot cells within that budget.
4. With ``merge=True`` (default) candidate cells merge into patrol-sized places, so a tasking
   meeting gets places, not pixels: the best candidate cell not yet in a place seeds a new place,
   which takes the other free candidate cells within ``place_radius_cells`` (default 1: at most a
   3 x 3 block, 300 m across at 100 m cells) of it; repeat. Merging whole connected clusters would
   turn a town centre into one place too big to patrol. A place is named after the street most
   of its records are "on or near" (police.uk facility labels such as "Supermarket" only when no
   street is given), and the area (LSOA) holding most of them.
5. Places are ranked by their records (ties by score) and the first ``top`` kept (default 20).

For each place the table gives its records, share and cumulative share of all records, density
per km², the method's score, the three most common crime types, and:

- with timed records, the weekday x hour profile and the peak windows in words, e.g.
  ``"Sat 22:00-03:00 (24%)"``: the hours of the week at least half as busy as the busiest
  hour, merged into runs of consecutive hours (a run crossing midnight keeps the day it
  started), the run holding most records first, with its share of the place's records;
- with month-only records (police.uk), the monthly trend: the Mann-Kendall test (Kendall's tau of
  count against month) and the Theil-Sen slope; "rising"/"falling" when p < 0.05, else "no clear trend".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.naming import (
    disambiguate_names,
    empty_places,
    nearest_records,
    place_names,
    strip_on_or_near,
    top_types,
)
from hotspot.core.progress import ProgressCallback, resolve
from hotspot.core.records import WEEKDAYS
from hotspot.ingest.validate import BAND_RULES, BANDWIDTH_RULES, Parameter, check_parameters
from hotspot.places.timing import add_timing_columns, time_profiles

if TYPE_CHECKING:
    import geopandas as gpd

    from hotspot.ingest.study import Study

METHODS = ("count", "gistar", "kde", "rtm", "combined")
OVER = ("grid", "areas", "streets")
DEFAULT_TOP = 20

PARAMETERS = (
    Parameter("method", "--method", "choice", METHODS),
    Parameter("over", "--over", "choice", OVER + ("segments",)),
    Parameter("cell_size_m", "--cell-size", "metres"),
    Parameter("top", "--top", "count"),
    Parameter("area_share", "--area-share", "share"),
    Parameter("bandwidth_m", "--bandwidth", "metres"),
    Parameter("band_m", "--band", "metres"),
    Parameter("bandwidth_rule", "--bandwidth-rule", "choice", BANDWIDTH_RULES),
    Parameter("band_rule", "--band-rule", "choice", BAND_RULES),
)
"""What :func:`rank_places` (and :func:`hotspot.places.segments.rank_segments`, ``over="segments"``) take, checked once."""
DEFAULT_CANDIDATE_SHARE = 0.02


@dataclass(frozen=True)
class RankResult:
    """A ranked list of places.

    Attributes
    ----------
    places : GeoDataFrame
        One row per place, best first, with the columns described in the module docstring.
    method, over : str
        How cells were scored and what was ranked (grid cells, areas or streets).
    grid : Grid or None
        The grid scored (None when ranking areas or streets).
    cell_scores : ndarray or None
        The method's score per cell (``grid.shape``), for maps.
    profiles : dict of str to ndarray
        Place id -> weekday x hour counts (7 x 24, Monday first), when records carry times.
    monthly : DataFrame
        Monthly record counts, one column per place id (index ``YYYY-MM``).
    notes : list of str
        What a reader should know: the candidate budget, dropped methods, how ties broke.
    study_cells : int
        Grid cells in the study area: the denominator of the area budget.
    """

    places: gpd.GeoDataFrame
    method: str
    over: str
    total_records: int
    grid: Grid | None = None
    cell_scores: np.ndarray | None = None
    profiles: dict = field(default_factory=dict)
    monthly: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)
    has_times: bool = False
    study_cells: int = 0

    @property
    def title(self) -> str:
        what = {"grid": "places", "areas": "areas", "streets": "streets"}[self.over]
        return f"Top {len(self.places)} {what} by {self.method} ({self.total_records:,} records)"

    @property
    def display_columns(self) -> list[str]:
        """The columns a printed table may show, most important first (hotspot.places.tables lays them out)."""
        columns = ["rank", "name", "count", "share", "cumulative_share", "per_km2"]
        if "harm" in self.places:
            columns[3:3] = ["harm"]
        score = {"gistar": "gi_z", "kde": "kde_value", "rtm": "rtm_score", "combined": "combined_score"}.get(
            self.method
        )
        if score and score in self.places:
            columns.append(score)
        columns.append("peak" if self.has_times else "trend")
        columns.append("top_types")
        return columns

    def table(self) -> pd.DataFrame:
        """The ranked table without geometry (what the CSV holds)."""
        return pd.DataFrame(self.places.drop(columns="geometry"))

    def write(self, out: str | Path, *, provenance=None, suppress_below: int | None = None) -> list[Path]:
        """Write the GeoPackage (layer ``ranked``, styled for QGIS) and the CSV beside it; returns the paths.

        ``provenance`` (a :class:`hotspot.io.provenance.Provenance`) goes into the GeoPackage
        metadata and a ``.provenance.json`` beside the CSV. ``suppress_below`` K replaces counts
        below K with a suppressed marker in both files (disclosure control) and records it.
        """
        from hotspot.io.disclosure import suppress_layers
        from hotspot.io.outputs import write_csv, write_geopackage

        out = Path(out)
        if out.suffix.lower() != ".gpkg":
            out = out.with_suffix(".gpkg")
        layers = {"ranked": self.places}
        tables = {"ranked": self.table()}
        when = self.profile_table() if self.profiles else self.monthly_table()
        if when is not None and len(when):
            name = "ranked_weekday_hour" if self.profiles else "ranked_monthly"
            layers[name] = tables[name] = when
        if suppress_below:
            layers, provenance_out = suppress_layers(layers, suppress_below, provenance)
            tables, _ = suppress_layers(tables, suppress_below, None, marker=f"<{suppress_below}")
            provenance = provenance_out
        gpkg = write_geopackage(out, layers, styles={"ranked": "ranked"}, provenance=provenance)
        written = [gpkg, write_csv(tables["ranked"], out.with_suffix(".csv"), provenance=provenance)]
        for name, frame in tables.items():
            if name != "ranked":
                written.append(
                    write_csv(
                        frame, out.with_name(f"{out.stem}_{name.removeprefix('ranked_')}.csv"), provenance=provenance
                    )
                )
        return written

    def summary(self, width: int = 100, *, rest_in: str | Path | None = None) -> list[str]:
        """The ranked table laid out to ``width`` columns, its footer (naming ``rest_in``, the CSV holding
        every row, when rows are left out) and the notes."""
        from hotspot.core.result import render
        from hotspot.places.tables import ranked_table

        printed = ranked_table(self, width=width, rest_in=str(rest_in) if rest_in else None)
        return [*render(printed.table, width), *printed.footer, *self.printed_notes]

    @property
    def printed_notes(self) -> list[str]:
        """The notes a summary lists."""
        return list(self.notes)

    def profile_table(self) -> pd.DataFrame:
        """Each place's weekday x hour counts as a long table: ``rank, id, name, weekday, hour, count``."""
        rows = []
        for rank, place_id, name in zip(self.places["rank"], self.places["id"], self.places["name"]):
            matrix = self.profiles.get(place_id)
            if matrix is None:
                continue
            day, hour = np.meshgrid(np.arange(7), np.arange(24), indexing="ij")
            rows.append(
                pd.DataFrame(
                    {
                        "rank": rank,
                        "id": place_id,
                        "name": name,
                        "weekday": np.array(WEEKDAYS)[day.ravel()],
                        "hour": hour.ravel(),
                        "count": matrix.ravel(),
                    }
                )
            )
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    def monthly_table(self) -> pd.DataFrame:
        """Each place's records per month as a long table: ``rank, id, name, month, count``."""
        if self.monthly.empty:
            return pd.DataFrame()
        long = self.monthly.reset_index().melt(id_vars="month", var_name="id", value_name="count")
        names = self.places[["rank", "id", "name"]]
        return names.merge(long, on="id", how="inner")[["rank", "id", "name", "month", "count"]]

    def weekday_hour(self) -> np.ndarray | None:
        """Weekday x hour counts (7 x 24, Monday first) summed over the listed places, or None without times."""
        if not self.profiles:
            return None
        return np.sum([self.profiles[p] for p in self.places["id"] if p in self.profiles], axis=0)


def rank_places(
    study: Study,
    *,
    method: str = "count",
    over: str = "grid",
    cell_size_m: float = 100.0,
    top: int | None = None,
    area_share: float | None = None,
    merge: bool = True,
    place_radius_cells: int = 1,
    bandwidth_m: float | None = None,
    band_m: float | None = None,
    bandwidth_rule: str = "holdout",
    band_rule: str = "holdout",
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> RankResult:
    """Rank the places of a study for patrol planning.

    Parameters
    ----------
    study : hotspot.ingest.study.Study
        Records, boundaries and features (see :func:`hotspot.ingest.study.load_study`).
    method : {"count", "gistar", "kde", "rtm", "combined"}, default "count"
        How cells are scored; see the module docstring.
    over : {"grid", "areas", "streets"}, default "grid"
        Rank grid cells merged into places, the boundary areas (LSOAs), or police.uk street locations.
    cell_size_m : float, default 100
        Grid cell side in metres.
    top : int, optional
        How many places to return. Default 20 when ``area_share`` is not given, else all places
        inside the area budget.
    area_share : float, optional
        Area budget as a share of the study area (0.01 = the best places covering 1 %).
    merge : bool, default True
        Merge candidate cells into places around the best cells (see the module docstring).
    place_radius_cells : int, default 1
        How far, in cells, a place reaches from its seed cell when merging.
    bandwidth_m : float, optional
        KDE search radius in metres for ``method="kde"``; default chosen by ``bandwidth_rule``.
    band_m : float, optional
        Gi* distance band in metres for ``method="gistar"``; default chosen by ``band_rule``.
    bandwidth_rule, band_rule : {"holdout", "silverman"} and {"holdout", "moran"}, default "holdout"
        How a missing KDE radius / Gi* band is chosen: the street-level radius whose density of the
        earlier months best predicted the latest quarter (:func:`hotspot.stats.radius.choose_radius`), or
        the county-scale rules (spatial Silverman; peak of incremental spatial autocorrelation).
    seed : int, default 0
        Seed for the random steps of the scoring methods (Gi* permutations, RTM folds).
    progress : callable, optional
        ``progress(stage, done, total)``.
    """
    progress = resolve(progress)
    check_parameters(
        PARAMETERS,
        method=method,
        over=over,
        cell_size_m=cell_size_m,
        top=top,
        area_share=area_share,
        bandwidth_m=bandwidth_m,
        band_m=band_m,
        bandwidth_rule=bandwidth_rule,
        band_rule=band_rule,
    )
    if over == "segments":
        raise HotspotInputError("--over segments ranks street stretches: use hotspot.places.segments.rank_segments")
    if top is not None and area_share is not None:
        raise HotspotInputError("give either --top or --area-share, not both")
    records = study.records
    if len(records) == 0:
        raise HotspotInputError("no records left to rank; check the input and the filters")

    if over == "areas":
        return _rank_areas(study, top=top, area_share=area_share)
    if over == "streets":
        return _rank_streets(study, top=top)

    frame = records.frame
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    grid, mask = study.grid(cell_size_m)
    counts = grid.count(x, y)
    # A ``weight`` column (harm per record, hotspot.stats.harm): cells are scored on harm; places report both.
    harm_w = frame["weight"].to_numpy(np.float64) if "weight" in frame.columns else None
    value = counts if harm_w is None else grid.count(x, y, harm_w)

    progress(f"scoring cells ({method})", 0, 1)
    if method == "kde" and bandwidth_m is None and bandwidth_rule == "holdout":
        from hotspot.stats.radius import choose_radius

        bandwidth_m, radius_rule = choose_radius(frame, grid, mask)
    elif method == "gistar" and band_m is None and band_rule == "holdout":
        from hotspot.stats.radius import choose_radius

        band_m, radius_rule = choose_radius(frame, grid, mask)
    else:
        radius_rule = None
    scores, extra_layers, eligible, notes = _score_cells(
        study, method, grid, value, mask, seed, progress, bandwidth_m, band_m, radius_rule
    )
    progress(f"scoring cells ({method})", 1, 1)

    if top is None and area_share is None:
        top = DEFAULT_TOP
    budget = area_share if area_share is not None else DEFAULT_CANDIDATE_SHARE
    radius = place_radius_cells if merge else 0
    while True:
        candidates = _top_cells(scores, eligible & mask, budget, int(mask.sum()))
        labels = _label_places(candidates, scores, radius)
        # Asked for N places and no area budget: widen the candidate budget until N places exist.
        if area_share is not None or labels.max() >= top or budget >= 1.0:
            break
        budget = min(1.0, budget * 2)
    if not candidates.any() and method == "gistar":
        # An honest answer, not bad input: nothing is significantly hot at this band and size.
        notes.append(
            "no cell is a Gi* hot spot at >= 95 % confidence after FDR correction, so no place is listed; "
            "--method count or kde ranks the busiest places instead"
        )
    elif not candidates.any():
        raise HotspotInputError(
            f"no cell qualifies as a hotspot with --method {method} (for gistar: no significant hot cells); "
            "try --method count or a larger --area-share"
        )
    notes.append(
        f"candidate cells: the best {candidates.sum():,} cells by {method} within {budget:.1%} of the study area"
    )
    from hotspot.forecast.mapchange import detect_map_changes

    changes = detect_map_changes(records)
    if changes.changes:
        notes.append(changes.describe())
    flat, on_grid = grid.flat_index(x, y)
    record_label = np.zeros(len(frame), dtype=np.int64)  # the place label of each record, 0 = none
    record_label[on_grid] = labels.ravel()[flat[on_grid]]
    places = _describe_places(labels, record_label, grid, counts, scores, extra_layers, frame, method)
    ranked_labels = places["_label"].to_numpy()
    if harm_w is not None:
        harm = np.bincount(record_label, weights=harm_w, minlength=int(labels.max()) + 1)
        places["harm"] = harm[places["_label"].to_numpy()] if "_label" in places else np.nan
        places["harm_share"] = places["harm"] / max(float(harm_w.sum()), 1e-300)
        places = places.sort_values(["harm", "count"], ascending=[False, False], kind="stable").reset_index(drop=True)
        places["cumulative_share"] = places["share"].cumsum()
        places["id"] = [f"P{i + 1:03d}" for i in range(len(places))]
    if top is not None:
        places = places.iloc[:top].copy()
    places = _locate_places(places, ranked_labels, labels, record_label, grid, frame)
    places["rank"] = np.arange(1, len(places) + 1)
    study_km2 = float(mask.sum()) * grid.cell_area_m2 / 1e6
    listed_km2 = float(places["area_m2"].sum()) / 1e6
    notes.append(
        f"{study.describe_area()}, {int(mask.sum()):,} cells of {grid.cell_size:g} m; the {len(places):,} "
        f"places listed cover {listed_km2:,.2f} km2 ({listed_km2 / study_km2:.2%} of it) and hold "
        f"{places['count'].sum() / max(len(frame), 1):.1%} of the records"
    )

    profiles, monthly = time_profiles(places, record_label, frame, records.has_times)
    add_timing_columns(places, profiles, monthly, records.has_times)
    places = _order_columns(places)
    return RankResult(
        places=places,
        method=method,
        over="grid",
        total_records=len(records),
        grid=grid,
        cell_scores=scores,
        profiles=profiles,
        monthly=monthly,
        notes=notes,
        has_times=records.has_times,
        study_cells=int(mask.sum()),
    )


# --- scoring ------------------------------------------------------------------------------


def _score_cells(study, method, grid, counts, mask, seed, progress, bandwidth_m=None, band_m=None, radius_rule=None):
    """The method's per-cell score, extra per-cell layers to report, and which cells are eligible."""
    notes: list[str] = []
    extra: dict[str, np.ndarray] = {}
    eligible = np.ones(grid.shape, dtype=bool)
    frame = study.records.frame
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    if method == "count":
        return counts, extra, eligible, notes
    if method == "kde":
        from hotspot.stats.kde import kernel_density

        weights = frame["weight"].to_numpy(np.float64) if "weight" in frame.columns else None
        density = kernel_density(
            x, y, grid, bandwidth_m=bandwidth_m, weights=weights, units="per-cell", mask=mask, progress=progress
        )
        notes.append(
            f"KDE: {density.kernel} kernel, bandwidth {density.bandwidth_m:,.0f} m "
            f"({radius_rule or ('given' if bandwidth_m is not None else density.bandwidth_rule)})"
        )
        surface = np.nan_to_num(density.surface, nan=0.0)
        extra["kde_value"] = surface
        return surface, extra, eligible, notes
    if method == "gistar":
        from hotspot.stats.gistar import gi_star_grid

        result = gi_star_grid(
            counts,
            band_m=band_m,
            cell_size_m=grid.cell_size,
            mask=mask,
            seed=seed,
            progress=progress,
            band_rule=radius_rule or "given",
        )
        z = np.where(np.isfinite(result.z), result.z, 0.0)
        bins = np.asarray(result.bin)
        extra["gi_z"] = z
        extra["gi_p"] = np.asarray(result.p, dtype=np.float64)
        extra["gi_bin"] = bins.astype(np.float64)
        notes.append(
            f"Gi*: band {result.band_m:,.0f} m ({result.band_rule}); candidate places are cells hot at >= 95 % "
            f"after {result.correction} correction of {result.p_used}"
        )
        return z, extra, bins >= 2, notes
    if method == "rtm":
        import rtm

        if not study.features:
            raise HotspotInputError(
                "--method rtm needs risk features: give --factor NAME=PATH (e.g. --factor "
                "pubs=pubs.gpkg), repeated for each feature layer"
            )
        result = rtm.build(study.records, study.features, grid=grid, mask=mask, seed=seed, progress=progress)
        risk = np.nan_to_num(np.asarray(result.relative_risk), nan=0.0)
        extra["rtm_score"] = risk
        # Break ties between equal-risk cells by the crimes seen there, so places with crime come first.
        return risk + counts / (counts.max() + 1.0) * 1e-6, extra, eligible, notes
    if method == "combined":
        rtm_score = None
        if study.features:
            try:
                import rtm

                rtm_score = np.asarray(
                    rtm.build(study.records, study.features, grid=grid, mask=mask, seed=seed).relative_risk
                )
            except HotspotInputError as exc:
                notes.append(f"combined: RTM score left out ({exc})")
        from hotspot.forecast.combined import fit_combined
        from hotspot.forecast.mapchange import snap_points

        score, fit = fit_combined(
            study.records, grid, rtm_score=rtm_score, mask=mask, snap_points=snap_points(study.records)
        )
        notes.append(f"combined: {fit.describe()}")
        extra["combined_score"] = score
        return score, extra, eligible, notes
    raise AssertionError(method)


def _extend_to_points(grid: Grid, x: np.ndarray, y: np.ndarray) -> Grid:
    """Grow ``grid`` so points kept within the boundary tolerance fall on it."""
    xmin, ymin, xmax, ymax = grid.bounds
    if x.min() >= xmin and x.max() < xmax and y.min() > ymin and y.max() <= ymax:
        return grid
    return Grid.from_bounds(
        min(xmin, x.min()), min(ymin, y.min()), max(xmax, x.max()), max(ymax, y.max()), grid.cell_size, grid.crs
    )


def _top_cells(scores: np.ndarray, eligible: np.ndarray, area_share: float, n_study_cells: int) -> np.ndarray:
    """The best-scoring eligible cells, at most ``area_share`` of the study cells, positive scores only."""
    n_keep = max(1, int(np.floor(area_share * n_study_cells)))
    flat_scores = np.where(eligible & (scores > 0), scores, -np.inf).ravel()
    # Stable sort on the negated score: ties keep the north-west-first cell order, so runs repeat exactly.
    order = np.argsort(-flat_scores, kind="stable")[:n_keep]
    order = order[np.isfinite(flat_scores[order])]
    selected = np.zeros(scores.size, dtype=bool)
    selected[order] = True
    return selected.reshape(scores.shape)


def _label_places(candidates: np.ndarray, scores: np.ndarray, radius_cells: int) -> np.ndarray:
    """Place label per cell (0 = not a place), seeded at the best cells; radius 0 keeps single cells.

    The best candidate not yet in a place seeds a new place, which takes every free candidate within
    ``radius_cells`` (Chebyshev distance) of it; labels 1.. in seeding order. A plain loop over the
    seeds rather than a Numba kernel: a county has a few thousand candidates, a few milliseconds here,
    while Numba's first call in a process costs about a second (rank by count or combined calls no other kernel).
    """
    order = np.argsort(-np.where(candidates, scores, -np.inf).ravel(), kind="stable")[: int(candidates.sum())]
    nrows, ncols = candidates.shape
    r = int(radius_cells)
    labels = np.zeros(candidates.shape, dtype=np.int64)
    free = candidates.astype(bool, copy=True)
    next_label = 1
    for cell in order.tolist():
        row, col = divmod(cell, ncols)
        if not free[row, col]:
            continue
        rows, cols = slice(max(0, row - r), min(nrows, row + r + 1)), slice(max(0, col - r), min(ncols, col + r + 1))
        window = free[rows, cols]
        labels[rows, cols][window] = next_label
        window[...] = False  # a view: these cells are taken
        next_label += 1
    return labels


# --- describing places --------------------------------------------------------------------


def _describe_places(labels, record_label, grid, counts, scores, extra, frame, method):
    """Every place's figures, best first; what takes geometry or text (names, polygons, crime types, where
    it lies) is added by :func:`_locate_places` to the rows that are listed."""
    n_places = int(labels.max())
    flat_labels = labels.ravel()
    in_place = flat_labels > 0
    place_index = flat_labels[in_place] - 1
    cells_per_place = np.bincount(place_index, minlength=n_places)
    count_per_place = np.bincount(place_index, weights=counts.ravel()[in_place], minlength=n_places)
    score_sum = np.bincount(place_index, weights=scores.ravel()[in_place], minlength=n_places)
    score_max = np.full(n_places, -np.inf)
    np.maximum.at(score_max, place_index, scores.ravel()[in_place])
    area_m2 = cells_per_place * grid.cell_area_m2
    total = max(len(frame), 1)

    table = pd.DataFrame(
        {
            "area_m2": area_m2,
            "n_cells": cells_per_place,
            "count": count_per_place.astype(np.int64),
            "share": count_per_place / total,
            "per_km2": count_per_place / (area_m2 / 1e6),
            "score": score_sum if method in ("count", "kde", "combined") else score_max,
            "_label": np.arange(1, n_places + 1),
        }
    )
    for name, layer in extra.items():
        values = layer.ravel()[in_place]
        if name == "gi_p":
            agg = np.full(n_places, np.inf)
            np.minimum.at(agg, place_index, values)
        else:
            agg = np.full(n_places, -np.inf)
            np.maximum.at(agg, place_index, values)
        table[name] = agg
    if "gi_bin" in table:
        table["gi_bin"] = table["gi_bin"].astype(np.int64)
    # Places are ranked by what the method scored (ties by records), so the list answers the method's question.
    places = table.sort_values(["score", "count"], ascending=[False, False], kind="stable").reset_index(drop=True)
    places["cumulative_share"] = places["share"].cumsum()
    # Place ids follow rank order so P001 is always the top place.
    places["id"] = [f"P{i + 1:03d}" for i in range(len(places))]
    return places


def _locate_places(places, ranked_labels, labels, record_label, grid, frame):
    """``places`` (the listed rows) with their names, polygons, centres and crime types, as a GeoDataFrame.

    ``ranked_labels`` are the labels of every place in the method's rank order: repeated names are
    numbered in that order, so a listed place keeps the number it had with every place named.
    """
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    listed = places["_label"].to_numpy()
    # Only the places up to the last listed one in rank order need a name (for the numbering of repeats).
    position = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    position[ranked_labels] = np.arange(ranked_labels.size)
    n_named = int(position[listed].max()) + 1 if listed.size else 0
    named = ranked_labels[:n_named]  # place i of the naming below is the place labelled named[i]
    slot = np.full(position.size, -1, dtype=np.int64)
    slot[named] = np.arange(n_named)

    rows, cols = np.nonzero(slot[labels] >= 0)
    polygons = grid.cell_polygons(rows, cols)
    place_of_cell = slot[labels[rows, cols]]
    # Cells are listed north-west first within each place, as they were when every place was drawn.
    order = np.argsort(place_of_cell, kind="stable")
    bounds = np.searchsorted(place_of_cell[order], np.arange(n_named + 1))
    geometries = np.array(
        [shapely.union_all(polygons[order[bounds[i] : bounds[i + 1]]]) for i in range(n_named)], dtype=object
    )

    # Which place each record falls in, for names and crime types.
    record_place = slot[record_label]
    in_any = record_place >= 0
    placed = frame.loc[in_any, ["location", "lsoa_name", "crime_type"]].copy()
    placed["place"] = record_place[in_any]

    types_text = np.array(top_types(placed, n_named), dtype=object)
    centroids = shapely.centroid(geometries)
    easting = shapely.get_x(centroids)
    northing = shapely.get_y(centroids)
    empty = empty_places(placed, n_named)
    # A place with no street or area to name it by keeps the number it was seeded with.
    names = place_names(placed, n_named, nearest_records(frame, easting[empty], northing[empty], empty), named)
    names = np.array(disambiguate_names(names), dtype=object)
    to_wgs84 = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(easting, northing)

    at = slot[listed]
    places = places.copy()
    places["name"] = names[at].tolist()
    places["lat"] = np.round(lat, 6)[at]
    places["lon"] = np.round(lon, 6)[at]
    places["easting"] = np.round(easting, 1)[at]
    places["northing"] = np.round(northing, 1)[at]
    places["top_types"] = types_text[at].tolist()
    return gpd.GeoDataFrame(places, geometry=list(geometries[at]), crs=grid.crs)


# --- when places peak ---------------------------------------------------------------------


_PLACE_COLUMNS = (
    "rank",
    "name",
    "id",
    "count",
    "share",
    "cumulative_share",
    "per_km2",
    "area_m2",
    "lat",
    "lon",
    "easting",
    "northing",
)
"""The leading columns of every ranked table, in order, whatever is ranked."""


def _order_columns(places):
    first = list(_PLACE_COLUMNS)
    first.insert(first.index("area_m2") + 1, "n_cells")  # grid places are merged cells
    first[4:4] = [c for c in ("harm", "harm_share") if c in places]
    method_cols = [c for c in ("gi_z", "gi_p", "gi_bin", "kde_value", "rtm_score", "combined_score") if c in places]
    rest = [
        c for c in ("peak", "trend", "trend_tau", "trend_p", "trend_per_month", "top_types", "score") if c in places
    ]
    return places[first + method_cols + rest + ["geometry"]]


# --- areas and streets --------------------------------------------------------------------


_POLYGON_TABLE_COLUMNS = (*_PLACE_COLUMNS, "geometry")
"""The columns of a ranking over areas or streets, in order (the grid ranking adds its method's)."""


def _rank_areas(study, *, top, area_share):
    import geopandas as gpd

    if study.boundaries is None:
        raise HotspotInputError("--over areas needs --boundaries (LSOAs, wards...)")
    from hotspot.core.assign import count_per_area

    areas = study.boundaries
    frame = study.records.frame
    counts, _ = count_per_area(frame, areas)
    counts = counts.astype(np.int64)
    table = areas[["area_code", "area_name", "geometry"]].copy()
    table["count"] = counts
    total = len(frame)
    table["share"] = counts / max(total, 1)
    table["area_m2"] = table.geometry.area
    table["per_km2"] = table["count"] / (table["area_m2"] / 1e6)
    table = table.sort_values(["count", "area_code"], ascending=[False, True], kind="stable").reset_index(drop=True)
    table["cumulative_share"] = table["share"].cumsum()
    if area_share is not None:
        keep = (table["area_m2"].cumsum() - table["area_m2"]) < area_share * table["area_m2"].sum()
        table = table[keep]
    table = table.iloc[: top or DEFAULT_TOP].copy()
    table["rank"] = np.arange(1, len(table) + 1)
    table = table.rename(columns={"area_name": "name", "area_code": "id"})
    add_point_columns(table)
    places = table[list(_POLYGON_TABLE_COLUMNS)]
    return RankResult(
        places=gpd.GeoDataFrame(places, crs=study.crs),
        method="count",
        over="areas",
        total_records=total,
        has_times=False,
    )


def _rank_streets(study, *, top):
    import geopandas as gpd
    import shapely

    frame = study.records.frame
    street = strip_on_or_near(frame["location"])
    if (street == "").all():
        raise HotspotInputError(
            "--over streets needs police.uk 'On or near ...' locations, and these records have none"
        )
    district = frame["lsoa_name"].fillna("").astype(str).str.replace(r"\s+\w+$", "", regex=True)
    keyed = pd.DataFrame({"street": street, "district": district, "x": frame["x"], "y": frame["y"]})
    keyed = keyed[keyed["street"] != ""]
    grouped = keyed.groupby(["street", "district"], sort=False)
    summary = grouped.agg(count=("x", "size"), easting=("x", "mean"), northing=("y", "mean")).reset_index()
    summary = summary.sort_values(["count", "street"], ascending=[False, True], kind="stable").reset_index(drop=True)
    total = len(frame)
    summary["share"] = summary["count"] / total
    summary["cumulative_share"] = summary["share"].cumsum()
    summary = summary.iloc[: top or DEFAULT_TOP].copy()
    summary["rank"] = np.arange(1, len(summary) + 1)
    summary["name"] = np.where(
        summary["district"] != "", summary["street"] + ", " + summary["district"], summary["street"]
    )
    summary["id"] = [f"S{i:03d}" for i in summary["rank"]]
    geometry = shapely.points(summary["easting"], summary["northing"])
    table = gpd.GeoDataFrame(summary, geometry=geometry, crs=study.crs)
    add_point_columns(table)
    table["area_m2"] = np.nan
    table["per_km2"] = np.nan
    places = table[list(_POLYGON_TABLE_COLUMNS)]
    return RankResult(places=places, method="count", over="streets", total_records=total, has_times=False)


def add_point_columns(table) -> None:
    from pyproj import Transformer

    centroids = table.geometry.representative_point() if table.geom_type.iloc[0] != "Point" else table.geometry
    table["easting"] = np.round(centroids.x.to_numpy(), 1)
    table["northing"] = np.round(centroids.y.to_numpy(), 1)
    lon, lat = Transformer.from_crs(table.crs, "EPSG:4326", always_xy=True).transform(
        table["easting"], table["northing"]
    )
    table["lon"] = np.round(lon, 6)
    table["lat"] = np.round(lat, 6)
