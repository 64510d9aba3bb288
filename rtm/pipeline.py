"""The one-call RTM pipeline (:func:`build`) and its result (:class:`RTMResult`); see the package docstring."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.progress import resolve
from rtm.layers import CandidateLayers, default_distances, operationalise
from rtm.model import RiskModel, fit
from rtm.selection import Selection, select
from rtm.surface import RiskSurface, average_risk, priority_places, score

DEFAULT_CELL_SIZE_M = 50.0
"""Default cell side in metres: half a typical 100 m urban street block."""


@dataclass(frozen=True)
class RTMResult:
    """Everything :func:`build` made.

    Attributes
    ----------
    grid : Grid
    mask : ndarray of bool, shape (nrows, ncols)
        Study-area cells.
    counts : ndarray of float, shape (nrows, ncols)
        Outcome crimes per cell.
    candidates : CandidateLayers
    selection : Selection
    model : RiskModel
    surface : RiskSurface
    priority_places : geopandas.GeoDataFrame
    timings : dict of str -> float
        Seconds per stage (operationalise, select, fit, score).
    """

    grid: Grid
    mask: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    candidates: CandidateLayers = field(repr=False)
    selection: Selection = field(repr=False)
    model: RiskModel = field(repr=False)
    surface: RiskSurface = field(repr=False)
    priority_places: object = field(repr=False)
    timings: dict = field(default_factory=dict)

    @property
    def relative_risk(self) -> np.ndarray:
        """Relative risk score per cell, shape (nrows, ncols); 1 = lowest-risk study cell, NaN outside."""
        return self.surface.relative_risk

    @property
    def model_table(self) -> pd.DataFrame:
        """Columns ``factor, operationalisation, distance_m, coef, rrv, rrv_low, rrv_high, p_value``."""
        return self.model.model_table

    @property
    def narratives(self) -> np.ndarray:
        """Each cell's risk narrative, object array (nrows, ncols)."""
        return self.surface.narratives()

    def narrative_at(self, row: int, col: int) -> str:
        """The risk narrative of one cell."""
        return self.surface.narrative(int(self.surface.combination[row, col]))

    def factor_layers(self) -> dict[str, object]:
        """The factor features as used (grid CRS), keyed ``factor_<name>``."""
        return {f"factor_{name}": frame for name, frame in self.candidates.features.items()}

    def write(
        self, out: str | Path, extra_tables: Mapping[str, object] | None = None, *, provenance=None
    ) -> list[Path]:
        """Write ``out`` (GeoPackage: table ``rtm_model``, layer ``priority_places``, ``factor_<name>`` layers,
        table ``rtm_candidates`` (every candidate layer with its lasso coefficient and fate), plus
        ``extra_tables``), ``<stem>_model.csv`` beside it and the risk surface ``<stem>_risk.tif`` (relative to
        the average study cell with crime: 1 = average, 2 = twice the average risk);
        returns the paths.

        Priority places carry their QGIS default style and the risk GeoTIFF a colour-ramp ``.qml``
        sidecar; ``provenance`` goes into every file's metadata."""
        from hotspot.io.outputs import write_csv, write_geopackage, write_geotiff

        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        layers = {
            "rtm_model": self.model_table,
            "priority_places": self.priority_places,
            "rtm_candidates": self.selection.table,
        }
        layers.update(self.factor_layers())
        layers.update(extra_tables or {})
        from hotspot.io.styles import default_styles

        gpkg = write_geopackage(out, layers, styles=default_styles(layers), provenance=provenance)
        csv = write_csv(self.model_table, out.with_name(f"{out.stem}_model.csv"), provenance=provenance)
        terms = "; ".join(f"{t} x{r:.2f}" for t, r in zip(self.surface.terms, self.model.table["rrv"]))
        tif = write_geotiff(
            out.with_name(f"{out.stem}_risk.tif"),
            self.relative_risk / average_risk(self.surface, self.counts),
            self.grid,
            description="RTM risk relative to the average study cell with crime (1 = average)",
            tags={"family": self.model.family, "terms": terms or "none"},
            style="raster_ramp",
            style_options={"ramp": "risk"},
            provenance=provenance,
        )
        return [gpkg, csv, tif]


def _name_places(places, frame) -> None:
    """Give priority places a ``rank`` and a ``name`` ("<street>, <LSOA>") the way ranked places get theirs."""
    from hotspot.core.naming import name_places

    places.insert(1, "name", name_places(frame, places.geometry) if len(places) else [])
    places.insert(0, "rank", places["place_id"].to_numpy())


def _study_mask(grid: Grid, study_area) -> np.ndarray:
    if study_area is None:
        return np.ones(grid.shape, dtype=bool)
    if hasattr(study_area, "to_crs") and getattr(study_area, "crs", None) is not None:
        study_area = study_area.to_crs(grid.crs)
    return grid.mask_from_geometry(study_area)


def build(
    records,
    features: Mapping[str, object],
    *,
    grid: Grid | None = None,
    study_area=None,
    mask: np.ndarray | None = None,
    cell_size_m: float | None = None,
    distances_m: Sequence[float] | None = None,
    seed: int = 0,
    n_folds: int = 5,
    l1_ratio: float = 1.0,
    alpha_level: float = 0.05,
    priority_sd: float = 2.0,
    refine: int = 5,
    progress=None,
) -> RTMResult:
    """Build a risk terrain model in one call: operationalise, select, fit, score, priority places.

    Parameters
    ----------
    records : Records
        Outcome crimes (already filtered to the crime types and period), x/y in metres.
    features : dict of str -> GeoDataFrame
        Factor name -> features; reprojected to the grid CRS if needed.
    grid : Grid, optional
        The raster. Default: covering ``study_area`` (else the records) at ``cell_size_m``.
    study_area : GeoDataFrame or shapely geometry, optional
        Cells whose centre is inside are modelled; default every grid cell.
    mask : ndarray of bool, shape (nrows, ncols), optional
        The study cells directly (needs ``grid``); combined with ``study_area`` if both are given.
    cell_size_m : float, optional
        Cell side in metres when ``grid`` is not given; default :data:`DEFAULT_CELL_SIZE_M` (50 m).
    distances_m : sequence of float, optional
        Spatial-influence distances in metres; default 1..6 cell sizes.
    seed : int, default 0
        Seeds the cross-validation folds; same seed, same model.
    n_folds, l1_ratio, alpha_level, priority_sd, refine :
        See :func:`select`, :func:`fit`, :func:`priority_places` and :func:`operationalise`.
    progress : callable, optional
        ``progress(stage, done, total)``.
    """
    progress = resolve(progress)
    crs = grid.crs if grid is not None else records.crs
    if records.crs != crs:
        raise HotspotInputError(f"the records are in {records.crs} but the grid is in {crs}; use one CRS")
    if grid is None:
        size = DEFAULT_CELL_SIZE_M if cell_size_m is None else float(cell_size_m)
        area = study_area.to_crs(crs) if hasattr(study_area, "to_crs") and study_area.crs is not None else study_area
        from hotspot.core.memory import BYTES_PER_CELL, RTM_BYTES_PER_LAYER

        # candidate layers: each factor at each distance, by proximity and by density
        n_layers = 2 * len(features) * (len(distances_m) if distances_m is not None else 6)
        grid, study_mask = Grid.over_area(
            area,
            records.frame["x"].to_numpy(),
            records.frame["y"].to_numpy(),
            size,
            crs=crs,
            bytes_per_cell=BYTES_PER_CELL["grid"] + RTM_BYTES_PER_LAYER * n_layers,
        )
        if study_mask is None:
            study_mask = np.ones(grid.shape, dtype=bool)
    else:
        study_mask = _study_mask(grid, study_area)
    distances_m = default_distances(grid.cell_size) if distances_m is None else list(distances_m)
    features = {
        name: (frame.to_crs(crs) if frame.crs is not None and frame.crs != crs else frame)
        for name, frame in features.items()
    }
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != grid.shape:
            raise HotspotInputError(f"the study mask has shape {mask.shape} but the grid is {grid.shape}")
        study_mask &= mask
    mask = study_mask
    if not mask.any():
        raise HotspotInputError("the study area covers no cell centre; check the boundaries and --cell-size")
    counts = grid.count(records.frame["x"].to_numpy(), records.frame["y"].to_numpy())
    timings = {}
    t = time.perf_counter()
    candidates = operationalise(features, grid, distances_m, mask, refine=refine, progress=progress)
    timings["operationalise"] = time.perf_counter() - t
    t = time.perf_counter()
    selection = select(counts, candidates, seed=seed, n_folds=n_folds, l1_ratio=l1_ratio, progress=progress)
    timings["select"] = time.perf_counter() - t
    t = time.perf_counter()
    model = fit(counts, selection, alpha_level=alpha_level)
    timings["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    surface = score(model, candidates)
    places = priority_places(surface, model, counts=counts, sd=priority_sd)
    _name_places(places, records.frame)
    timings["score"] = time.perf_counter() - t
    return RTMResult(
        grid=grid,
        mask=mask,
        counts=counts,
        candidates=candidates,
        selection=selection,
        model=model,
        surface=surface,
        priority_places=places,
        timings=timings,
    )
