"""Risk factors measured along the network, and their relative risk on street segments.

Factors per lixel:

- ``unlit``: 1 when the lixel's street has ``lit`` "no" or missing (:func:`hotspot.network.read.is_unlit`);
- for each point feature layer (licensed premises, bus stops ...) and each distance ``d``:
  ``<name>_within_<d>m`` = 1 when the nearest feature is within ``d`` metres **along the streets**
  of the lixel's midpoint (features are snapped to the network first; network distance from one
  multi-source Dijkstra, :func:`hotspot.kernels.network.nearest_source_distance`).

:func:`fit_segment_risk` fits a Poisson GLM of records per lixel with ``log(length)`` as offset, so a
factor's relative risk value (RRV = exp(coef)) is the ratio of records per metre of street with and
without it, with a 95 % Wald interval (statsmodels, as :mod:`rtm.fit` uses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hotspot.errors import HotspotInputError

DEFAULT_DISTANCES_M = (50.0, 100.0, 200.0)


@dataclass(frozen=True)
class SegmentRiskModel:
    """A Poisson model of records per metre of street.

    Attributes
    ----------
    table : DataFrame
        One row per factor: ``factor``, ``coef``, ``se``, ``rrv``, ``rrv_low``, ``rrv_high``, ``p_value``.
    intercept_per_km : float
        Expected records per km of street where no factor is present.
    n_segments, n_records : int
    """

    table: pd.DataFrame
    intercept_per_km: float
    n_segments: int
    n_records: int


def network_factors(network, features=None, *, distances_m=DEFAULT_DISTANCES_M, snap_tolerance_m: float = 50.0) -> pd.DataFrame:
    """Factor indicators per lixel (see the module docstring); ``features`` maps names to point GeoDataFrames."""
    from hotspot.kernels.network import nearest_source_distance
    from hotspot.network.snap import snap_points

    table = pd.DataFrame({"unlit": network.lixels["unlit"].to_numpy(bool).astype(np.int8)})
    limit = float(max(distances_m)) if len(distances_m) else 0.0
    for name, layer in (features or {}).items():
        if not layer.geom_type.eq("Point").all():
            raise HotspotInputError(f"network factor {name!r}: give point features (network distance is from points)")
        pts = layer.to_crs(network.crs).geometry
        snapped = snap_points(network, pts.x.to_numpy(), pts.y.to_numpy(), tolerance_m=snap_tolerance_m)
        ok = snapped.snapped
        dist = nearest_source_distance(snapped.edge[ok], snapped.offset_m[ok], limit, *network.graph_arrays(),
                                       network.samp_ptr, network.samp_off, network.samp_edge, network.n_nodes)
        for d in distances_m:
            table[f"{name}_within_{d:g}m"] = (dist <= d).astype(np.int8)
    return table


def fit_segment_risk(counts, factors: pd.DataFrame, lengths_m) -> SegmentRiskModel:
    """Poisson GLM ``log E[count] = log(length) + b0 + sum b_k x_k`` over lixels; returns the factor table."""
    import statsmodels.api as sm

    y = np.asarray(counts, np.float64)
    lengths_m = np.asarray(lengths_m, np.float64)
    X = factors.loc[:, factors.nunique() > 1]
    if X.shape[1] == 0:
        raise HotspotInputError("no factor varies across the street segments; nothing to fit")
    design = sm.add_constant(X.to_numpy(np.float64), has_constant="add")
    fit = sm.GLM(y, design, family=sm.families.Poisson(), offset=np.log(lengths_m)).fit()
    ci = fit.conf_int()
    table = pd.DataFrame({
        "factor": list(X.columns), "coef": fit.params[1:], "se": fit.bse[1:], "rrv": np.exp(fit.params[1:]),
        "rrv_low": np.exp(ci[1:, 0]), "rrv_high": np.exp(ci[1:, 1]), "p_value": fit.pvalues[1:],
    })
    return SegmentRiskModel(table=table.reset_index(drop=True), intercept_per_km=float(np.exp(fit.params[0]) * 1000),
                            n_segments=int(y.size), n_records=int(y.sum()))
