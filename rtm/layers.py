"""Turn each risk-factor layer into candidate binary rasters: proximity and density at several distances.

Proximity
---------
Every cell gets the distance in metres from its centre to the nearest feature of the factor
(:func:`nearest_feature_distance`): exact for points (``scipy.spatial.cKDTree``); for lines and
polygons, ``rasterio.features.rasterize(all_touched=True)`` on a raster ``refine`` (default 5) times
finer than the grid and ``scipy.ndimage.distance_transform_edt`` read at the cell centres (within
0.71 x cell size / refine of exact). ``refine=1`` gives the classic RTM raster rule: features snapped to
the cells they occupy (points via ``Grid.cell_index``) and the EDT distance from a cell centre to the
**centre of the nearest feature cell** (within 0.71 x cell size of exact; a point 50 m from a centre
can read 0 or 71 m). The raster is padded by the largest distance so features just outside the study
grid still count. The layer "proximity at d" is 1 where that distance is <= d metres.

Density
-------
The features are smoothed with ``hotspot.stats.kde.kernel_density`` (quartic kernel, search radius
``bandwidth_m = d``): points as themselves; lines and polygons as the centres of the cells they touch,
one unit each, so the density measures "how much of this feature is near". The layer "density at d"
is 1 where the density exceeds its mean + ``density_sd`` (default 2) standard deviations over the
study-area cells — the usual RTM threshold for "a high concentration of" a feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.progress import resolve

OPERATIONALISATIONS = ("proximity", "density")
"""How a factor can be turned into a raster."""


@dataclass
class CandidateLayers:
    """Every candidate risk layer on one grid.

    Attributes
    ----------
    grid : Grid
        The raster (cell size in metres).
    mask : ndarray of bool, shape (nrows, ncols)
        The study-area cells.
    stack : ndarray of uint8, shape (n_layers, nrows, ncols)
        1 where the layer's condition holds.
    names : list of str
        One per layer, e.g. ``"licensed_premises:proximity:150"``.
    factor, operationalisation : ndarray of str, shape (n_layers,)
    distance_m : ndarray of float, shape (n_layers,)
        The spatial influence in metres (proximity distance or KDE search radius).
    threshold : ndarray of float, shape (n_layers,)
        For density layers the density cut-off (features per km2); NaN for proximity.
    distances : dict of str -> ndarray (nrows, ncols)
        Per factor, the metres from each cell centre to the nearest feature cell centre (inf if none).
    features : dict of str -> GeoDataFrame
        The factor layers as used (in the grid's CRS).
    """

    grid: Grid
    mask: np.ndarray
    stack: np.ndarray
    names: list[str]
    factor: np.ndarray
    operationalisation: np.ndarray
    distance_m: np.ndarray
    threshold: np.ndarray
    distances: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    features: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def factors(self) -> list[str]:
        """Factor names in the order given."""
        return list(dict.fromkeys(self.factor.tolist()))

    @property
    def table(self) -> pd.DataFrame:
        """One row per layer: name, factor, operationalisation, distance_m, threshold, share of study cells = 1."""
        cover = self.stack[:, self.mask].mean(axis=1) if self.mask.any() else np.zeros(len(self.names))
        return pd.DataFrame(
            {
                "name": self.names,
                "factor": self.factor,
                "operationalisation": self.operationalisation,
                "distance_m": self.distance_m,
                "threshold": self.threshold,
                "cover": cover,
            }
        )

    def index(self, factor: str, operationalisation: str, distance_m: float) -> int:
        """Position of one layer in ``stack``."""
        hit = np.nonzero(
            (self.factor == factor)
            & (self.operationalisation == operationalisation)
            & np.isclose(self.distance_m, distance_m)
        )[0]
        if hit.size == 0:
            raise KeyError(f"no layer {factor}:{operationalisation}:{distance_m:g}")
        return int(hit[0])

    def design(self, mask: np.ndarray | None = None, columns: Sequence[int] | None = None) -> np.ndarray:
        """Design matrix float64 of shape (n_cells_in_mask, n_layers) (or the chosen ``columns``), cells row-major."""
        mask = self.mask if mask is None else mask
        stack = self.stack if columns is None else self.stack[list(columns)]
        return stack[:, mask].T.astype(np.float64)


def layer_name(factor: str, operationalisation: str, distance_m: float) -> str:
    return f"{factor}:{operationalisation}:{distance_m:g}"


def default_distances(cell_size_m: float, steps: int = 6) -> list[float]:
    """Spatial-influence distances in metres: 1..``steps`` multiples of the cell size (default 6)."""
    return [float(cell_size_m * k) for k in range(1, steps + 1)]


def _check_distances(distances_m, grid: Grid) -> np.ndarray:
    d = np.asarray(sorted(set(float(v) for v in distances_m)), dtype=np.float64)
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d <= 0):
        raise HotspotInputError("--distances must be positive metres, e.g. 50,100,150")
    if np.any(d < grid.cell_size):
        raise HotspotInputError(
            f"--distances {d.min():g} m is smaller than the {grid.cell_size:g} m cell; use distances of at least one cell"
        )
    return d


def feature_cells(features, grid: Grid) -> np.ndarray:
    """Boolean (nrows, ncols): cells holding a point, or touched by a line or polygon, of ``features`` (in grid CRS)."""
    from rasterio.features import rasterize

    out = np.zeros(grid.shape, dtype=bool)
    geoms = features.geometry
    types = geoms.geom_type.to_numpy()
    points = types == "Point"
    if points.any():
        pts = geoms[points]
        row, col, inside = grid.cell_index(pts.x.to_numpy(), pts.y.to_numpy())
        out[row[inside], col[inside]] = True
    others = geoms[~points]
    if len(others):
        burnt = rasterize(
            ((g, 1) for g in others),
            out_shape=grid.shape,
            transform=grid.transform,
            fill=0,
            all_touched=True,
            dtype="uint8",
        )
        out |= burnt.astype(bool)
    return out


def _padded(grid: Grid, pad_cells: int, refine: int = 1) -> Grid:
    """``grid`` grown by ``pad_cells`` cells on every side, with each cell split ``refine`` x ``refine``."""
    return Grid(
        grid.xmin - pad_cells * grid.cell_size,
        grid.ymax + pad_cells * grid.cell_size,
        grid.cell_size / refine,
        (grid.ncols + 2 * pad_cells) * refine,
        (grid.nrows + 2 * pad_cells) * refine,
        grid.crs,
    )


def nearest_feature_distance(features, grid: Grid, pad_m: float = 0.0, refine: int = 5) -> np.ndarray:
    """Metres from each cell centre of ``grid`` to the nearest feature (inf if there is none).

    Parameters
    ----------
    features : GeoDataFrame
        Points, lines and/or polygons in ``grid.crs``.
    grid : Grid
    pad_m : float, default 0
        Features up to this many metres outside the grid are still found (the raster is padded).
    refine : int, default 5
        ``refine > 1``: distances to points are exact (``scipy.spatial.cKDTree``), and lines and
        polygons are rasterised (``all_touched``) on a raster ``refine`` times finer, whose EDT is read
        at the cell centres — within 0.71 x cell_size / refine metres of the exact distance.
        ``refine == 1``: the plain RTM raster rule — every feature is snapped to the cells it occupies
        and the EDT gives the distance from a cell centre to the centre of the nearest feature cell
        (within 0.71 x cell_size of the exact distance).
    """
    from scipy.ndimage import distance_transform_edt
    from scipy.spatial import cKDTree

    if refine < 1 or refine != int(refine):
        raise HotspotInputError(f"refine must be a positive whole number, got {refine}")
    refine = int(refine)
    geoms = features.geometry
    is_point = (geoms.geom_type == "Point").to_numpy()
    best = np.full(grid.shape, np.inf)
    rest = features.loc[~is_point] if refine > 1 else features
    if refine > 1 and is_point.any():
        pts = geoms[is_point]
        tree = cKDTree(np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]))
        xs, ys = grid.cell_centres()
        dist, _ = tree.query(np.column_stack([xs.ravel(), ys.ravel()]))
        best = dist.reshape(grid.shape)
    if len(rest):
        # Odd refinement keeps each cell centre on a fine-pixel centre, so the EDT is read there exactly.
        fine = refine if refine % 2 == 1 else refine + 1
        pad = int(np.ceil(pad_m / grid.cell_size)) + 1 if pad_m > 0 else 0
        big = _padded(grid, pad, fine)
        cells = feature_cells(rest, big)
        if cells.any():
            edt = distance_transform_edt(~cells) * big.cell_size
            mid = fine // 2
            rows = (pad + np.arange(grid.nrows)) * fine + mid
            cols = (pad + np.arange(grid.ncols)) * fine + mid
            best = np.minimum(best, edt[np.ix_(rows, cols)])
    return best


def _density_points(features, grid: Grid, pad_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points for the density of a layer: the points themselves, plus centres of cells touched by lines/polygons."""
    geoms = features.geometry
    points = (geoms.geom_type == "Point").to_numpy()
    xs = [geoms[points].x.to_numpy()] if points.any() else []
    ys = [geoms[points].y.to_numpy()] if points.any() else []
    if (~points).any():
        big = _padded(grid, int(np.ceil(pad_m / grid.cell_size)) + 1)
        cells = feature_cells(features.loc[~points], big)
        r, c = np.nonzero(cells)
        xs.append(big.column_centres()[c])
        ys.append(big.row_centres()[r])
    return np.concatenate(xs), np.concatenate(ys)


def operationalise(
    features: Mapping[str, object],
    grid: Grid,
    distances_m: Sequence[float],
    mask: np.ndarray | None = None,
    *,
    operationalisations: Sequence[str] = OPERATIONALISATIONS,
    density_sd: float = 2.0,
    refine: int = 5,
    progress=None,
) -> CandidateLayers:
    """Every factor as proximity and density layers at every distance.

    Parameters
    ----------
    features : dict of str -> GeoDataFrame
        Factor name -> its point, line or polygon features, in ``grid.crs`` (metres).
    grid : Grid
        The analysis raster.
    distances_m : sequence of float
        Spatial-influence distances in metres (each at least one cell), e.g. ``[50, 100, 150]``.
    mask : ndarray of bool, shape (nrows, ncols), optional
        Study-area cells; the density threshold is computed over them. Default: every cell.
    operationalisations : sequence of str, default ("proximity", "density")
        Which of :data:`OPERATIONALISATIONS` to build.
    density_sd : float, default 2.0
        A density layer is 1 where the density exceeds mean + ``density_sd`` x SD over the study cells.
    refine : int, default 5
        Proximity accuracy: see :func:`nearest_feature_distance` (1 = distance to feature-cell centres).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    CandidateLayers
        Layers ordered factor by factor, then operationalisation, then distance.
    """
    from hotspot.stats.kde import kernel_density

    progress = resolve(progress)
    if not features:
        raise HotspotInputError("no risk factors given; add --factor NAME=PATH (or --factors-toml)")
    for op in operationalisations:
        if op not in OPERATIONALISATIONS:
            raise HotspotInputError(f"operationalisation must be one of {', '.join(OPERATIONALISATIONS)}; got {op!r}")
    d = _check_distances(distances_m, grid)
    mask = np.ones(grid.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != grid.shape:
        raise HotspotInputError(f"the study-area mask has shape {mask.shape} but the grid is {grid.shape}")
    names, fac, ops, dist, thr, layers = [], [], [], [], [], []
    distances: dict[str, np.ndarray] = {}
    total = len(features) * (("proximity" in operationalisations) + ("density" in operationalisations) * len(d))
    done = 0
    progress("operationalising factors", 0, total)
    for name, frame in features.items():
        if len(frame) == 0:
            raise HotspotInputError(f"factor {name!r} has no features")
        if "proximity" in operationalisations:
            nearest = nearest_feature_distance(frame, grid, pad_m=float(d.max()), refine=refine)
            distances[name] = nearest
            for dm in d:
                layers.append(nearest <= dm + 1e-9 * grid.cell_size)
                names.append(layer_name(name, "proximity", dm))
                fac.append(name)
                ops.append("proximity")
                dist.append(dm)
                thr.append(np.nan)
            done += 1
            progress("operationalising factors", done, total)
        if "density" in operationalisations:
            px, py = _density_points(frame, grid, pad_m=float(d.max()))
            for dm in d:
                surface = kernel_density(px, py, grid, bandwidth_m=float(dm), kernel="quartic", units="per-km2").surface
                values = surface[mask]
                cut = float(values.mean() + density_sd * values.std()) if values.size else np.inf
                # A flat zero surface has cut 0; "> 0" would still be all False, as wanted.
                layers.append(surface > cut)
                names.append(layer_name(name, "density", dm))
                fac.append(name)
                ops.append("density")
                dist.append(dm)
                thr.append(cut)
                done += 1
                progress("operationalising factors", done, total)
    stack = np.stack(layers).astype(np.uint8)
    return CandidateLayers(
        grid=grid,
        mask=mask,
        stack=stack,
        names=names,
        factor=np.asarray(fac, dtype=object),
        operationalisation=np.asarray(ops, dtype=object),
        distance_m=np.asarray(dist, dtype=np.float64),
        threshold=np.asarray(thr, dtype=np.float64),
        distances=distances,
        features=dict(features),
    )
