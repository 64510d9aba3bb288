"""Emerging hot spots: ArcGIS's categories (new, consecutive, intensifying, persistent, diminishing,
sporadic, oscillating, historical hot and cold spots) from space-time Gi* and Mann-Kendall.

For every location: the bins of its series that are significant hot (``H``) or cold (``C``) spots
(space-time Gi*, corrected p <= ``alpha``), the Mann-Kendall trend of its Gi* z-scores, and the
rules below, tried in this order (``n`` slices, share = bins / n, "final" = the last slice).
Cold spots mirror hot spots with H and C swapped and the trend's sign reversed.

=====================  =====================================================================
category               rule (final slice hot, first match)
=====================  =====================================================================
new hot spot           final run of H is 1 slice; no H or C before it
consecutive hot spot   final run of H is >= 2 slices; no H or C before it; H share < 90 %
intensifying hot spot  H share >= 90 %; trend of z upward and significant (p <= alpha)
diminishing hot spot   H share >= 90 %; trend of z downward and significant
persistent hot spot    H share >= 90 %; no significant trend
oscillating hot spot   H share < 90 %; some earlier slice was C
sporadic hot spot      H share < 90 %; never C (on-and-off hot)
=====================  =====================================================================

The trend is the Mann-Kendall test of the Gi* z-scores of the slices that have the full time
window (the first ``time_window`` slices look back on fewer slices, so their z are smaller for the
same intensity and would fake an upward trend); the H and C shares count every slice.

With the final slice neither hot nor cold: **historical hot spot** when H share >= 90 %,
**historical cold spot** when C share >= 90 %, else **no pattern detected**.

These are ArcGIS Pro's published definitions; where the text leaves the order open we chose:
a location that was ever cold before turning hot is oscillating, not new or consecutive (new and
consecutive need no significant bin of either sign before the final run); intensifying and
diminishing need the final slice hot, and persistent takes the rest of the >= 90 % locations
whose final slice is hot; a >= 90 % location whose final slice is not hot is historical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve

if TYPE_CHECKING:
    from hotspot.io.provenance import Provenance

SHARE = 0.9
"""The "ninety percent of the time-step intervals" of the ArcGIS definitions."""

DEFAULT_ALPHA = 0.05
"""Significance of a bin (corrected p) and of the Mann-Kendall trend."""

HOT_CATEGORIES = (
    "new hot spot",
    "consecutive hot spot",
    "intensifying hot spot",
    "persistent hot spot",
    "diminishing hot spot",
    "sporadic hot spot",
    "oscillating hot spot",
    "historical hot spot",
)
COLD_CATEGORIES = tuple(c.replace("hot spot", "cold spot") for c in HOT_CATEGORIES)
NO_PATTERN = "no pattern detected"
CATEGORIES = HOT_CATEGORIES + COLD_CATEGORIES + (NO_PATTERN,)
"""Every category, hot first, in the order the legend lists them."""


def classify(
    hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, alpha: float = DEFAULT_ALPHA
) -> np.ndarray:
    """The category of every location (object array of :data:`CATEGORIES` names).

    ``hot``/``cold`` (bool, (m, n)): significant hot / cold bins per location and slice; ``trend_z``,
    ``trend_p`` (m,): the Mann-Kendall z (sign = direction) and p of each location's Gi* z series.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    if hot.ndim != 2 or hot.shape != cold.shape:
        raise HotspotInputError("classify needs hot and cold as equal (locations, slices) boolean arrays")
    m, n = hot.shape
    out = np.full(m, NO_PATTERN, dtype=object)
    if n == 0:
        return out
    trend_sig = np.asarray(trend_p) <= alpha
    up = trend_sig & (np.asarray(trend_z) > 0)
    down = trend_sig & (np.asarray(trend_z) < 0)
    decided = np.zeros(m, dtype=bool)

    def assign(mask, name):
        mask = mask & ~decided
        out[mask] = name
        decided[mask] = True

    for same, other, rising, falling, names in (
        (hot, cold, up, down, HOT_CATEGORIES),
        (cold, hot, down, up, COLD_CATEGORIES),
    ):
        new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, _ = names
        final = same[:, -1]
        share = same.mean(axis=1)
        run = np.cumprod(same[:, ::-1], axis=1).sum(axis=1)  # length of the final run
        significant_before = (same | other).sum(axis=1) - run
        clean_before = significant_before == 0
        other_before = other[:, :-1].any(axis=1)
        assign(final & (run == 1) & clean_before, new)
        assign(final & (run >= 2) & clean_before & (share < SHARE), consecutive)
        many = final & (share >= SHARE)
        assign(many & rising, intensifying)
        assign(many & falling, diminishing)
        assign(many, persistent)
        assign(final & (share < SHARE) & other_before, oscillating)
        assign(final & (share < SHARE), sporadic)
    neither = ~hot[:, -1] & ~cold[:, -1]
    assign(neither & (hot.mean(axis=1) >= SHARE), HOT_CATEGORIES[-1])
    assign(neither & (cold.mean(axis=1) >= SHARE), COLD_CATEGORIES[-1])
    return out


@dataclass(frozen=True)
class EmergingHotSpots:
    """Emerging hot spot analysis of a cube: one row per location in the study area.

    Attributes
    ----------
    category : object array (m,)
        One of :data:`CATEGORIES` per location (grid: cells in the mask, row-major; areas: area order).
    trend_z, trend_p, trend_tau : float arrays (m,)
        Mann-Kendall test of each location's Gi* z series.
    n_hot, n_cold : int arrays (m,)
        Slices in which the location is a significant hot / cold spot.
    total : float array (m,)
        Records at the location over all slices.
    gi : hotspot.spacetime.stgistar.SpaceTimeGiStar
        The space-time Gi* of every bin.
    cube : hotspot.spacetime.cube.SpaceTimeCube
    alpha : float
    notes : list of str
    """

    category: np.ndarray
    trend_z: np.ndarray
    trend_p: np.ndarray
    trend_tau: np.ndarray
    n_hot: np.ndarray
    n_cold: np.ndarray
    total: np.ndarray
    gi: object
    cube: object
    alpha: float
    notes: list = field(default_factory=list)

    def category_counts(self) -> dict[str, int]:
        """Locations per category, every category present (0 if none), in legend order."""
        return {c: int(np.count_nonzero(self.category == c)) for c in CATEGORIES}

    def location_bins(self) -> np.ndarray:
        """(m, n_slices) Gi* bins -3..3 of every location."""
        cube = self.cube
        return self.gi.bin[:, cube.mask].T if cube.on_grid else self.gi.bin.T

    def frame(self):
        """The ``trends`` layer: a GeoDataFrame with one row per location.

        Columns: ``cell_id, row, col`` (grids) or ``area_code, area_name`` (areas), then ``category,
        trend_z, trend_p, trend_tau, n_hot, n_cold, n_slices, total, final_bin, final_z`` and geometry.
        """
        import geopandas as gpd

        cube = self.cube
        z = self.gi.z[:, cube.mask].T if cube.on_grid else self.gi.z.T
        bins = self.location_bins()
        values = {
            "category": self.category.astype(str),
            "trend_z": self.trend_z,
            "trend_p": self.trend_p,
            "trend_tau": self.trend_tau,
            "n_hot": self.n_hot,
            "n_cold": self.n_cold,
            "n_slices": np.full(self.category.size, cube.n_slices),
            "total": self.total,
            "final_bin": bins[:, -1].astype(np.int64),
            "final_z": z[:, -1],
        }
        if cube.on_grid:
            grid = cube.grid
            row, col = np.nonzero(cube.mask)
            data = {"cell_id": grid.cell_id(row, col), "row": row, "col": col, **values}
            return gpd.GeoDataFrame(data, geometry=grid.cell_polygons(row, col), crs=grid.crs)
        areas = cube.areas
        keep = [c for c in ("area_code", "area_name") if c in areas.columns]
        data = {c: areas[c].to_numpy() for c in keep}
        data.update(values)
        return gpd.GeoDataFrame(data, geometry=areas.geometry.values, crs=areas.crs)

    def bins_table(self):
        """Long table of every bin: ``location (cell_id / area_code), slice, count, gi_z, gi_p_adjusted, gi_bin``."""
        import pandas as pd

        cube = self.cube
        if cube.on_grid:
            row, col = np.nonzero(cube.mask)
            ids = cube.grid.cell_id(row, col)
            pick = (slice(None), cube.mask)
        else:
            ids = cube.areas["area_code"].to_numpy() if "area_code" in cube.areas else np.arange(len(cube.areas))
            pick = (slice(None),)
        n_loc, n_t = len(ids), cube.n_slices
        return pd.DataFrame(
            {
                "location": np.tile(ids, n_t),
                "slice": np.repeat(np.asarray(cube.labels), n_loc),
                "count": cube.counts[pick].ravel(),
                "gi_z": self.gi.z[pick].ravel(),
                "gi_p_adjusted": self.gi.p_adjusted[pick].ravel(),
                "gi_bin": self.gi.bin[pick].ravel(),
            }
        )

    def write(self, path: str | Path, *, provenance: Provenance | None = None, bins: bool = False) -> list[Path]:
        """GeoPackage layer ``trends`` (column ``category``, styled), the CSV beside it and, with ``bins``,
        every bin (location x slice) as ``<stem>_bins.csv``."""
        from hotspot.io.outputs import write_csv, write_geopackage

        path = Path(path)
        frame = self.frame()
        written = [
            write_geopackage(path, {"trends": frame}, styles={"trends": "trends"}, provenance=provenance),
            write_csv(frame, path.with_suffix(".csv"), provenance=provenance),
        ]
        if bins:
            written.append(write_csv(self.bins_table(), path.with_name(f"{path.stem}_bins.csv"), provenance=provenance))
        return written

    def summary(self, width: int = 100) -> list[str]:
        """What was analysed, the locations per category, and the notes."""
        cube = self.cube
        unit = "cells" if cube.on_grid else "areas"
        where = f"{self.category.size:,} {unit}"
        band = f", band {self.gi.band_m:,.0f} m" if self.gi.band_m is not None else ""
        lines = [
            f"emerging hot spots over {where} x {cube.n_slices} {cube.slice}s ({cube.labels[0]} .. {cube.labels[-1]})"
            f"{band}, time window {self.gi.time_window} slice(s); bins significant at corrected p <= {self.alpha:g} "
            f"({self.gi.correction})"
        ]
        for name, count in self.category_counts().items():
            if count and name != NO_PATTERN:
                lines.append(f"  {count:>8,}  {name}")
        lines.append(f"  {self.category_counts()[NO_PATTERN]:>8,}  {NO_PATTERN}")
        lines.extend(self.notes)
        return lines


def emerging_hot_spots(
    cube,
    *,
    band_m: float | None = None,
    weights=None,
    time_window: int = 1,
    alpha: float = DEFAULT_ALPHA,
    correction: str = "fdr",
    progress=None,
) -> EmergingHotSpots:
    """Space-time Gi*, Mann-Kendall of each location's z series and the ArcGIS categories.

    Parameters
    ----------
    cube : hotspot.spacetime.cube.SpaceTimeCube
    band_m : float, optional
        Spatial distance band, metres (grid cubes).
    weights : libpysal W or CSRWeights, optional
        Binary spatial weights between areas (area cubes).
    time_window : int, default 1
        Earlier slices in each bin's neighbourhood.
    alpha : float, default 0.05
        A bin is a significant hot/cold spot when its corrected p is at most ``alpha``; a trend is
        significant when its Mann-Kendall p is at most ``alpha``.
    correction : {"fdr", "bonferroni", "none"}, default "fdr"
        Correction over every bin of the cube.
    progress : callable or None
    """
    from hotspot.spacetime.mannkendall import mann_kendall
    from hotspot.spacetime.stgistar import space_time_gi_star

    progress = resolve(progress)
    if not 0 < alpha < 1:
        raise HotspotInputError(f"--alpha must be between 0 and 1, got {alpha}")
    if cube.n_slices < 3:
        raise HotspotInputError(
            f"a trend needs at least 3 time slices; the records span {cube.n_slices} "
            f"{cube.slice}(s); use a shorter --slice or more data"
        )
    gi = space_time_gi_star(
        cube, band_m=band_m, weights=weights, time_window=time_window, correction=correction, progress=progress
    )
    if cube.on_grid:
        z = gi.z[:, cube.mask].T
        padj = gi.p_adjusted[:, cube.mask].T
    else:
        z, padj = gi.z.T, gi.p_adjusted.T
    progress("Mann-Kendall trends", 0, 1)
    # The first time_window slices have fewer earlier slices to look back on, so a real hot spot's z is
    # smaller there by construction (z grows with the square root of the neighbourhood); judging the
    # trend on them would call a steady hot spot intensifying. The trend uses the full-window slices.
    first = min(gi.time_window, max(cube.n_slices - 3, 0))
    mk = mann_kendall(z[:, first:])
    progress("Mann-Kendall trends", 1, 1)
    sig = np.nan_to_num(padj, nan=1.0) <= alpha
    hot = sig & (z > 0)
    cold = sig & (z < 0)
    category = classify(hot, cold, mk.z, mk.p, alpha)
    notes = list(gi.notes)
    if cube.n_slices < 10:
        notes.append(f"only {cube.n_slices} slices: ArcGIS advises at least 10 for a meaningful trend")
    return EmergingHotSpots(
        category=category,
        trend_z=mk.z,
        trend_p=mk.p,
        trend_tau=mk.tau,
        n_hot=hot.sum(axis=1),
        n_cold=cold.sum(axis=1),
        total=cube.location_series().sum(axis=1),
        gi=gi,
        cube=cube,
        alpha=float(alpha),
        notes=notes,
    )
