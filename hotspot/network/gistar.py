"""Gi* per lixel with network-distance neighbourhoods.

Two lixels are neighbours when their midpoints are within ``band_m`` metres along the streets
(shortest path, :func:`hotspot.kernels.network.sample_neighbours`); weights are binary and each
lixel counts in its own neighbourhood (the star form). The statistic, inference (exact null for
integer counts), multiple-testing correction and bins are the project's own Gi* code
(:func:`hotspot.stats.gistar.gi_star_areas`), which is checked against ``esda.G_Local`` with the same
libpysal weights (:func:`to_libpysal`).
"""

from __future__ import annotations

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import ProgressCallback, resolve
from hotspot.stats.gistar import GiStarMap

DEFAULT_BAND_M = 200.0
"""Default neighbourhood, network metres between lixel midpoints (about two blocks either way)."""


def network_distances(network, band_m: float):
    """Sparse CSR matrix of shortest-path distances (metres) between lixel midpoints within ``band_m``, diagonal excluded."""
    import scipy.sparse as sp

    from hotspot.kernels.network import sample_neighbours

    if not (band_m > 0):
        raise HotspotInputError(f"--band must be a positive number of network metres, got {band_m}")
    indptr, indices, dists = sample_neighbours(
        network.samp_edge, float(band_m), *network.graph_arrays(), network.samp_ptr, network.samp_off, network.n_nodes
    )
    n = network.n_lixels
    return sp.csr_matrix((dists, indices, indptr), shape=(n, n))


def network_weights(network, band_m: float = DEFAULT_BAND_M):
    """Binary network-distance weights as :class:`hotspot.stats.weights.CSRWeights` (self weight 1)."""
    from hotspot.stats.weights import CSRWeights

    d = network_distances(network, band_m)
    n = network.n_lixels
    return CSRWeights(
        indptr=d.indptr.astype(np.int64),
        indices=d.indices.astype(np.int64),
        data=np.ones(d.indices.size),
        self_weight=np.ones(n),
        binary=True,
        ids=list(range(n)),
    )


def to_libpysal(weights):
    """The same binary weights as a ``libpysal.weights.W`` (ids 0..n-1; islands kept), for esda."""
    import scipy.sparse as sp
    from libpysal.weights import WSP

    n = weights.n
    matrix = sp.csr_matrix((weights.data, weights.indices, weights.indptr), shape=(n, n))
    return WSP(matrix, id_order=list(range(n))).to_W(silence_warnings=True)


def gi_star_segments(
    network,
    counts,
    *,
    band_m: float = DEFAULT_BAND_M,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    progress: ProgressCallback | None = None,
):
    """Gi* of the records per lixel; returns ``(GeoDataFrame for layer "gistar", GiStarResult)``.

    Parameters
    ----------
    network : hotspot.network.graph.Network
    counts : array (n_lixels,)
        Records per lixel (:func:`hotspot.network.snap.lixel_counts`).
    band_m : float, default 200
        Neighbourhood: lixels whose midpoints are within this many network metres.
    permutations, seed, correction : as in :func:`hotspot.stats.gistar.gi_star_areas`.
    progress : callable, optional
    """
    from hotspot.stats.gistar import _describe_columns, _result_columns, gi_star_areas

    progress = resolve(progress)
    counts = np.asarray(counts, np.float64)
    if counts.size != network.n_lixels:
        raise HotspotInputError(f"{counts.size} counts for {network.n_lixels} lixels; they must align")
    progress("network neighbours", 0, 1)
    w = network_weights(network, band_m)
    progress("network neighbours", 1, 1)
    result = gi_star_areas(
        counts,
        w,
        permutations=permutations,
        seed=seed,
        correction=correction,
        weights_kind="network band",
        band_m=float(band_m),
        band_rule="given",
        progress=progress,
    )
    frame = network.lixels[["lixel_id", "name", "unlit", "length_m", "geometry"]].copy()
    frame["unlit"] = frame["unlit"].astype(np.int8)
    for name, column in _result_columns(result).items():
        frame[name] = column
    frame = frame[[c for c in frame.columns if c != "geometry"] + ["geometry"]]
    return _describe_columns(frame.reset_index(drop=True), result), result


def gistar_map(
    network,
    counts,
    *,
    band_m: float = DEFAULT_BAND_M,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    progress: ProgressCallback | None = None,
) -> GiStarMap:
    """:func:`gi_star_segments` as one result: the segment layer and the statistic, rows named street segments."""
    frame, result = gi_star_segments(
        network, counts, band_m=band_m, permutations=permutations, seed=seed, correction=correction, progress=progress
    )
    return GiStarMap(frame=frame, statistic=result, unit="street segments")
