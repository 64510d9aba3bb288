"""Relative risk per cell, the factors behind it, and priority places.

The relative risk score (RRS) of a cell is exp(sum of coef x layer) — the product of the relative risk
values of the model factors present there — divided by its minimum over the study area, so the
lowest-risk cell scores 1. (With every factor risk-raising the minimum is normally 1 already: a cell
with no factor present.)

Priority places are the study cells whose RRS exceeds mean + ``sd`` (default 2) standard deviations of
the RRS over the study cells; if no cell does (a surface with few distinct values), the cells at the
highest RRS are taken. Adjacent priority cells (sharing an edge) with the same combination of factors
are dissolved into one polygon carrying its risk narrative, e.g. "near licensed premises (150 m) and
in a high density of bus stops (100 m)".

Each place's risk is also given against the average (``risk_vs_average``: its RRS over the mean RRS of the
study cells holding at least one crime, see :func:`average_risk`). "4 x the average" is a figure an analyst
can brief; "x1,352 the lowest cell" depends on how empty the emptiest cell happens to be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hotspot.core.grid import Grid
from rtm.layers import CandidateLayers
from rtm.model import RiskModel


@dataclass
class RiskSurface:
    """Relative risk per cell.

    Attributes
    ----------
    relative_risk : ndarray of float64, shape (nrows, ncols)
        The RRS (1 = lowest-risk study cell); NaN outside the study area.
    combination : ndarray of int64, shape (nrows, ncols)
        Bit k set when the k-th model term (``terms[k]``) is present in the cell; -1 outside the study area.
    terms : list of str
        Each model term in words, e.g. ``"near licensed premises (150 m)"``, in model-table order.
    grid : Grid
    mask : ndarray of bool
    """

    relative_risk: np.ndarray
    combination: np.ndarray
    terms: list[str]
    grid: Grid
    mask: np.ndarray = field(repr=False)

    def narrative(self, code: int) -> str:
        """The words for one combination code (see ``combination``)."""
        if code < 0:
            return ""
        present = [t for k, t in enumerate(self.terms) if code >> k & 1]
        if not present:
            return "no modelled risk factor nearby"
        return present[0] if len(present) == 1 else ", ".join(present[:-1]) + " and " + present[-1]

    def narratives(self) -> np.ndarray:
        """Each cell's risk narrative as an object array, shape (nrows, ncols) ('' outside the study area)."""
        codes, inverse = np.unique(self.combination, return_inverse=True)
        words = np.asarray([self.narrative(int(c)) for c in codes], dtype=object)
        return words[inverse.reshape(self.combination.shape)]


def describe_term(factor: str, operationalisation: str, distance_m: float) -> str:
    """A model term in words: ``near <factor> (150 m)`` or ``in a high density of <factor> (150 m)``."""
    words = str(factor).replace("_", " ")
    if operationalisation == "density":
        return f"in a high density of {words} ({distance_m:g} m)"
    return f"near {words} ({distance_m:g} m)"


def score(model: RiskModel, candidates: CandidateLayers | None = None) -> RiskSurface:
    """The relative risk surface of a fitted model.

    Parameters
    ----------
    model : RiskModel
        From :func:`rtm.fit`.
    candidates : CandidateLayers, optional
        Layers on the grid to score (same factors and distances); default the ones the model was fitted on.
        Pass the layers built from a later period's features to score a new terrain.
    """
    candidates = model.selection.candidates if candidates is None else candidates
    mask = candidates.mask
    log_risk = np.zeros(candidates.grid.shape, dtype=np.float64)
    combination = np.zeros(candidates.grid.shape, dtype=np.int64)
    terms = []
    for k, row in enumerate(model.table.itertuples(index=False)):
        layer = candidates.stack[candidates.index(row.factor, row.operationalisation, row.distance_m)].astype(bool)
        log_risk += row.coef * layer
        combination |= layer.astype(np.int64) << k
        terms.append(describe_term(row.factor, row.operationalisation, row.distance_m))
    risk = np.exp(log_risk)
    if mask.any():
        risk = risk / risk[mask].min()
    risk[~mask] = np.nan
    combination[~mask] = -1
    return RiskSurface(relative_risk=risk, combination=combination, terms=terms, grid=candidates.grid, mask=mask)


def average_risk(surface: RiskSurface, counts: np.ndarray | None = None) -> float:
    """The average figures are quoted against: the mean relative risk score over the study cells that hold at
    least one crime (``counts``), or over every study cell when no counts are given.

    A county study area is mostly open country where the model expects almost no crime; against the mean of
    every cell a town-centre place scores "x58", true but unbriefable. Against the average cell where crime
    happens at all it scores what an analyst can stand behind ("x4 the average street with crime")."""
    where = surface.mask if counts is None else surface.mask & (np.asarray(counts) > 0)
    values = surface.relative_risk[where]
    if values.size == 0:
        values = surface.relative_risk[surface.mask]
    return float(values.mean()) if values.size else 1.0


def priority_mask(surface: RiskSurface, sd: float = 2.0) -> np.ndarray:
    """Boolean (nrows, ncols): study cells with RRS > mean + ``sd`` x SD (or, if none, the cells at the top RRS)."""
    values = surface.relative_risk[surface.mask]
    if values.size == 0:
        return np.zeros(surface.grid.shape, dtype=bool)
    cut = values.mean() + sd * values.std()
    top = surface.mask & (surface.relative_risk > cut)
    if not top.any() and values.max() > values.min():
        top = surface.mask & (surface.relative_risk >= values.max())
    return top


def priority_places(
    surface: RiskSurface,
    model: RiskModel | None = None,
    candidates: CandidateLayers | None = None,
    *,
    counts: np.ndarray | None = None,
    sd: float = 2.0,
):
    """Top-tier cells dissolved into polygons, each with the factors that drive it.

    Parameters
    ----------
    surface : RiskSurface
        From :func:`rtm.score`.
    model : RiskModel, optional
        The fitted model; adds ``expected_crimes`` (the model's expected records in the place over the fitted
        period, to set beside the recorded ``crimes``).
    candidates : optional
        Accepted for a uniform pipeline; the surface already carries what is needed.
    counts : ndarray, shape (nrows, ncols), optional
        Crimes per cell; adds a ``crimes`` column (crimes inside each place).
    sd : float, default 2.0
        The tier: RRS above mean + ``sd`` standard deviations.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``place_id`` (1 = highest risk), ``relative_risk`` (x the lowest-risk cell), ``risk_vs_average``
        (x the average risk of study cells with crime: the figure to brief), ``narrative``, ``factors``, ``n_cells``,
        ``area_m2`` (and ``crimes``), polygons in the grid CRS; sorted by risk, then size.
    """
    import geopandas as gpd
    import shapely
    from rasterio.features import shapes
    from scipy import ndimage

    grid = surface.grid
    top = priority_mask(surface, sd)
    columns = (
        ["place_id", "relative_risk", "risk_vs_average", "narrative", "factors", "n_cells", "area_m2"]
        + (["crimes"] if counts is not None else [])
        + (["expected_crimes"] if model is not None else [])
    )
    if not top.any():
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=grid.crs)
    # Label edge-connected runs of the same factor combination: shift codes so each combination's
    # cells are labelled separately, then read polygons from the label raster.
    labels = np.zeros(grid.shape, dtype=np.int32)
    next_label = 0
    for code in np.unique(surface.combination[top]):
        lab, n = ndimage.label(top & (surface.combination == code))
        labels[lab > 0] = lab[lab > 0] + next_label
        next_label += n
    geoms: dict[int, list] = {}
    for geom, value in shapes(labels, mask=labels > 0, transform=grid.transform, connectivity=4):
        geoms.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    ids = np.arange(1, next_label + 1)
    flat = labels.ravel()
    n_cells = np.bincount(flat, minlength=next_label + 1)[1:]
    first = np.full(next_label + 1, -1, dtype=np.int64)
    order = np.nonzero(flat)[0]
    first[flat[order[::-1]]] = order[::-1]
    codes = surface.combination.ravel()[first[1:]]
    risk = surface.relative_risk.ravel()[first[1:]]
    data = {
        "relative_risk": risk,
        "risk_vs_average": risk / average_risk(surface, counts),
        "narrative": [surface.narrative(int(c)) for c in codes],
        "factors": [";".join(t for k, t in enumerate(surface.terms) if int(c) >> k & 1) for c in codes],
        "n_cells": n_cells,
        "area_m2": n_cells * grid.cell_area_m2,
    }
    if counts is not None:
        data["crimes"] = np.bincount(
            flat, weights=np.asarray(counts, dtype=np.float64).ravel(), minlength=next_label + 1
        )[1:]
    if model is not None:
        # The model's own expectation for the place, in records over the fitted period: a concrete figure to
        # set beside the recorded count (exp(intercept) is the expected count in a lowest-risk cell).
        expected = np.exp(model.intercept) * np.nan_to_num(surface.relative_risk)
        data["expected_crimes"] = np.bincount(flat, weights=expected.ravel(), minlength=next_label + 1)[1:]
    frame = gpd.GeoDataFrame(data, geometry=[shapely.union_all(geoms[i]) for i in ids], crs=grid.crs)
    frame = frame.sort_values(["relative_risk", "n_cells"], ascending=[False, False], kind="stable").reset_index(
        drop=True
    )
    frame.insert(0, "place_id", np.arange(1, len(frame) + 1))
    return frame
