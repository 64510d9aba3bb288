"""Spatial weights for Gi*: the grid stencil for a distance band, and polygon weights via libpysal.

On a regular grid the neighbourhood of every cell is the same set of offsets (a stencil), so no
sparse matrix is built. For polygons libpysal builds queen/rook contiguity, k-nearest-neighbour or
centroid distance-band weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotspot.core.errors import HotspotInputError

AREA_WEIGHTS = ("queen", "rook", "knn", "band")
"""Polygon weight kinds: queen/rook contiguity, k nearest centroids, or a distance band between centroids."""

# Centre distances equal to the band count as inside it; this slack (relative) absorbs float rounding
# of cell-centre coordinates so a 300 m band on a 100 m grid includes the cells exactly 300 m away.
_BAND_SLACK = 1e-9


SERIAL_WORK = 1 << 25
"""Inner-loop steps (cells x stencil offsets, cells x neighbours, frequencies x rows x lags) below which
the Gi* kernels run on one thread. A county grid (106,328 cells, 300 m band) is about 6 million steps:
milliseconds serial, while parallel kernels took 1.5-3 times longer on a busy 2-core machine (waking
threads) and compile 2-3 times slower (the cold start of ``hotspot gistar``). National grids keep all threads.
"""


def serial_work(work: float) -> bool:
    """Whether ``work`` inner-loop steps are few enough for a Gi* kernel's one-thread twin."""
    return work < SERIAL_WORK


def grid_stencil_sums(values, mask, dr, dc):
    """:func:`hotspot.kernels.gistar.stencil_sums` (``values`` (nrows, ncols), ``mask`` bool of the same
    shape, ``dr``/``dc`` row/column offsets in cells), on one thread below :data:`SERIAL_WORK`; identical results."""
    from hotspot.kernels import gistar as kg

    # One dtype and layout at every call, so each kernel compiles once (a view would add a specialisation).
    values = np.ascontiguousarray(values, dtype=np.float64)
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    dr = np.ascontiguousarray(dr, dtype=np.int64)
    dc = np.ascontiguousarray(dc, dtype=np.int64)
    kernel = kg.stencil_sums_serial if serial_work(float(values.size) * dr.size) else kg.stencil_sums
    return kernel(values, mask, dr, dc)


def stencil_offsets(band_m: float, cell_size_m: float, *, include_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the cells whose centres lie within ``band_m`` metres of a cell's centre.

    Parameters
    ----------
    band_m : float
        Distance band, metres, centre to centre (a cell exactly ``band_m`` away is included).
    cell_size_m : float
        Cell side, metres.
    include_self : bool, default False
        Include the offset (0, 0).

    Returns
    -------
    (dr, dc) : two int64 arrays, row offsets (positive = south) and column offsets (positive = east).
    """
    if not (band_m > 0) or not np.isfinite(band_m):
        raise HotspotInputError(f"--band must be a positive number of metres, got {band_m}")
    if not (cell_size_m > 0):
        raise HotspotInputError(f"--cell-size must be a positive number of metres, got {cell_size_m}")
    reach = int(np.floor(band_m / cell_size_m * (1 + _BAND_SLACK)))
    r = np.arange(-reach, reach + 1)
    dr, dc = np.meshgrid(r, r, indexing="ij")
    dist2 = (dr.astype(np.float64) ** 2 + dc.astype(np.float64) ** 2) * cell_size_m**2
    keep = dist2 <= (band_m * (1 + _BAND_SLACK)) ** 2
    if not include_self:
        keep &= ~((dr == 0) & (dc == 0))
    return dr[keep].astype(np.int64), dc[keep].astype(np.int64)


def stencil_ring_offsets(inner_m: float, outer_m: float, cell_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets whose centre distance is in ``(inner_m, outer_m]`` metres (for incremental band searches)."""
    dr, dc = stencil_offsets(outer_m, cell_size_m)
    if inner_m <= 0:
        return dr, dc
    dist2 = (dr.astype(np.float64) ** 2 + dc.astype(np.float64) ** 2) * cell_size_m**2
    keep = dist2 > (inner_m * (1 + _BAND_SLACK)) ** 2
    return dr[keep], dc[keep]


@dataclass
class CSRWeights:
    """Neighbour lists without the diagonal, plus each observation's self weight (Gi* star term).

    Attributes
    ----------
    indptr, indices, data : numpy arrays
        CSR structure: the neighbours of ``i`` are ``indices[indptr[i]:indptr[i+1]]`` with weights
        ``data[...]``; ``i`` itself is never listed.
    self_weight : (n,) float64
        Weight of each observation on itself.
    binary : bool
        True when every neighbour weight and every self weight is 1.
    ids : list
        The observation ids in order (libpysal ``id_order``).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    self_weight: np.ndarray
    binary: bool
    ids: list

    @property
    def n(self) -> int:
        return self.indptr.size - 1

    @property
    def cardinalities(self) -> np.ndarray:
        """Number of neighbours of each observation, itself excluded."""
        return np.diff(self.indptr)


def csr_from_w(w, *, self_weight: float | None = None) -> CSRWeights:
    """Split a libpysal ``W`` (as given, no transform applied) into off-diagonal CSR lists and self weights.

    Parameters
    ----------
    w : libpysal.weights.W
        Spatial weights in ``w.id_order``.
    self_weight : float or None, default None
        Weight of each observation on itself. None: the diagonal of ``w`` where it has one, else 1.0
        (the binary Gi* convention, as ``esda.G_Local(star=True, transform="B")``).
    """
    sparse = w.sparse.tocsr().astype(np.float64)
    n = sparse.shape[0]
    diagonal = sparse.diagonal().copy()
    if self_weight is not None:
        diagonal[:] = float(self_weight)
    elif not np.any(diagonal):
        diagonal[:] = 1.0
    off = sparse.copy()
    off.setdiag(0.0)
    off.eliminate_zeros()
    off.sort_indices()
    binary = bool(np.all(off.data == 1.0) and np.all(diagonal == 1.0))
    return CSRWeights(
        indptr=off.indptr.astype(np.int64),
        indices=off.indices.astype(np.int64),
        data=off.data.astype(np.float64),
        self_weight=diagonal.astype(np.float64),
        binary=binary,
        ids=list(w.id_order) if hasattr(w, "id_order") else list(range(n)),
    )


def area_weights(areas, kind: str = "queen", *, k: int = 8, band_m: float | None = None, ids: str | None = "area_code"):
    """Binary libpysal weights between polygons.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Polygons in a projected CRS with metre units (centroid distances are metres).
    kind : {"queen", "rook", "knn", "band"}, default "queen"
        Queen or rook contiguity (shared point / shared edge), the ``k`` nearest centroids, or every
        area whose centroid lies within ``band_m`` metres.
    k : int, default 8
        Neighbours per area for ``kind="knn"``.
    band_m : float or None
        Distance band between centroids, metres; required for ``kind="band"``.
    ids : str or None, default "area_code"
        Column used as weight ids (positional ids when None or absent).

    Returns
    -------
    libpysal.weights.W, binary (transform "B"), in the row order of ``areas``. Islands are kept and
    reported by the Gi* functions.
    """
    import warnings

    from libpysal import weights as lw

    kind = kind.lower()
    if kind not in AREA_WEIGHTS:
        raise HotspotInputError(f"--weights must be one of {', '.join(AREA_WEIGHTS)}, got {kind!r}")
    if len(areas) < 2:
        raise HotspotInputError(f"Gi* needs at least 2 areas, the boundaries hold {len(areas)}")
    id_col = ids if ids is not None and ids in getattr(areas, "columns", []) else None
    if id_col is not None and areas[id_col].duplicated().any():
        id_col = None
    with warnings.catch_warnings():
        # libpysal warns about islands and disconnected components; the Gi* result reports them itself.
        warnings.simplefilter("ignore")
        if kind in ("queen", "rook"):
            cls = lw.Queen if kind == "queen" else lw.Rook
            w = (
                cls.from_dataframe(areas, ids=id_col, use_index=False)
                if id_col
                else cls.from_dataframe(areas, use_index=False)
            )
        else:
            centroids = np.column_stack([areas.geometry.centroid.x.to_numpy(), areas.geometry.centroid.y.to_numpy()])
            id_list = list(areas[id_col]) if id_col else None
            if kind == "knn":
                if not 1 <= k < len(areas):
                    raise HotspotInputError(
                        f"--k must be between 1 and {len(areas) - 1} for {len(areas)} areas, got {k}"
                    )
                w = lw.KNN(centroids, k=k, ids=id_list)
            else:
                if band_m is None or not (band_m > 0):
                    raise HotspotInputError("a distance band between centroids needs --band METRES > 0")
                w = lw.DistanceBand(centroids, threshold=float(band_m), binary=True, ids=id_list, silence_warnings=True)
    w.transform = "B"
    return w
