"""Risk factors measured along the network, and their relative risk on street segments.

Factors per lixel:

- ``unlit``: 1 when the lixel's street has ``lit`` "no" or missing (:func:`hotspot.network.read.is_unlit`);
- for each point feature layer (licensed premises, bus stops ...) and each distance ``d``:
  ``<name>_within_<d>m`` = 1 when the nearest feature is within ``d`` metres **along the streets**
  of the lixel's midpoint (features are snapped to the network first; network distance from one
  multi-source Dijkstra, :func:`hotspot.kernels.network.nearest_source_distance`).

:func:`fit_segment_risk` fits a Poisson GLM of records per lixel with ``log(length)`` as offset, so a
factor's relative risk value (RRV = exp(coef)) is the ratio of records per metre of street with and
without it, with a 95 % Wald interval (statsmodels, as :mod:`rtm.model` uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError

if TYPE_CHECKING:
    import geopandas as gpd

    from hotspot.io.provenance import Provenance

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


def network_factors(
    network, features=None, *, distances_m=DEFAULT_DISTANCES_M, snap_tolerance_m: float = 50.0
) -> pd.DataFrame:
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
        dist = nearest_source_distance(
            snapped.edge[ok],
            snapped.offset_m[ok],
            limit,
            *network.graph_arrays(),
            network.samp_ptr,
            network.samp_off,
            network.samp_edge,
            network.n_nodes,
        )
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
    table = pd.DataFrame(
        {
            "factor": list(X.columns),
            "coef": fit.params[1:],
            "se": fit.bse[1:],
            "rrv": np.exp(fit.params[1:]),
            "rrv_low": np.exp(ci[1:, 0]),
            "rrv_high": np.exp(ci[1:, 1]),
            "p_value": fit.pvalues[1:],
        }
    )
    return SegmentRiskModel(
        table=table.reset_index(drop=True),
        intercept_per_km=float(np.exp(fit.params[0]) * 1000),
        n_segments=int(y.size),
        n_records=int(y.sum()),
    )


def select_and_fit(counts, factors: pd.DataFrame, lengths_m):
    """Keep ``unlit`` and, per point feature, the one distance band with the lowest AIC; refit them together.

    A feature's bands nest (within 50 m implies within 100 m), so they are never fitted together: for
    each feature, ``unlit + <feature>_within_<d>m`` is fitted for every ``d`` and the lowest AIC wins.
    Returns ``(SegmentRiskModel, chosen columns)``.
    """
    import statsmodels.api as sm

    y = np.asarray(counts, np.float64)
    offset = np.log(np.asarray(lengths_m, np.float64))
    chosen = ["unlit"] if "unlit" in factors and factors["unlit"].nunique() > 1 else []
    groups: dict[str, list[str]] = {}
    for column in factors.columns:
        if "_within_" in column:
            groups.setdefault(column.rsplit("_within_", 1)[0], []).append(column)
    for _name, columns in groups.items():
        best, best_aic = None, np.inf
        for column in columns:
            if factors[column].nunique() < 2:
                continue
            design = sm.add_constant(factors[chosen[:1] + [column]].to_numpy(np.float64), has_constant="add")
            aic = sm.GLM(y, design, family=sm.families.Poisson(), offset=offset).fit().aic
            if aic < best_aic:
                best, best_aic = column, aic
        if best is not None:
            chosen.append(best)
    return fit_segment_risk(y, factors[chosen], lengths_m), chosen


def risk_frame(network, counts, factors: pd.DataFrame, model: SegmentRiskModel):
    """The lixels as a line layer: ``count``, ``per_km``, the model's factors, ``expected_per_km`` and ``relative_risk``."""
    frame = network.lixels[["lixel_id", "name", "length_m", "geometry"]].copy()
    frame.insert(3, "count", np.asarray(counts))
    frame.insert(4, "per_km", np.asarray(counts) / frame["length_m"].to_numpy() * 1000.0)
    log_rr = np.zeros(len(frame))
    for row in model.table.itertuples():
        frame.insert(frame.columns.get_loc("geometry"), row.factor, factors[row.factor].to_numpy())
        log_rr += row.coef * factors[row.factor].to_numpy(np.float64)
    frame.insert(frame.columns.get_loc("geometry"), "relative_risk", np.exp(log_rr))
    frame.insert(frame.columns.get_loc("geometry"), "expected_per_km", model.intercept_per_km * np.exp(log_rr))
    return frame


@dataclass(frozen=True)
class SegmentRisk:
    """What ``hotspot rtm --network`` makes: the fitted model and the street segments with their risk.

    Attributes
    ----------
    model : SegmentRiskModel
    frame : geopandas.GeoDataFrame
        :func:`risk_frame`: the lixels with counts, factors, ``expected_per_km`` and ``relative_risk``.
    """

    model: SegmentRiskModel
    frame: gpd.GeoDataFrame

    def write(self, path: str | Path, *, provenance: Provenance | None = None) -> list[Path]:
        """Line layer ``segment_risk`` of the GeoPackage ``path`` and the model as ``<stem>_segment_model.csv``."""
        from hotspot.io.outputs import write_csv, write_geopackage

        path = Path(path)
        return [
            write_geopackage(
                path,
                {"segment_risk": self.frame},
                styles={"segment_risk": ("areas", {"field": "relative_risk"})},
                provenance=provenance,
            ),
            write_csv(self.model.table, path.with_name(f"{path.stem}_segment_model.csv"), provenance=provenance),
        ]

    def summary(self, width: int = 100) -> list[str]:
        """The model table: each factor's relative risk value with its interval and p."""
        from rich.table import Table

        from hotspot.core.result import render

        model = self.model
        table = Table(
            title=f"Risk along the streets: records per km of street, {model.n_records:,} records on "
            f"{model.n_segments:,} segments (Poisson; baseline {model.intercept_per_km:,.1f} per km)"
        )
        for column in ("factor", "RRV", "95% CI", "p"):
            table.add_column(column, justify="left" if column == "factor" else "right")
        for row in model.table.itertuples():
            table.add_row(row.factor, f"{row.rrv:.2f}", f"{row.rrv_low:.2f}-{row.rrv_high:.2f}", f"{row.p_value:.2g}")
        return render(table, width)


def segment_risk(network, snapped, features=None, *, distances_m=DEFAULT_DISTANCES_M) -> SegmentRisk:
    """The network RTM in one call: factors along the streets, the model chosen and fitted, the segments' risk."""
    from hotspot.network.snap import lixel_counts

    factors = network_factors(network, features, distances_m=tuple(distances_m))
    counts = lixel_counts(network, snapped)
    model, _ = select_and_fit(counts, factors, network.lixels["length_m"])
    return SegmentRisk(model=model, frame=risk_frame(network, counts, factors, model))
