"""Kernel density of a Study: its grid and study-area mask, and the search radius chosen by rule.

The estimator itself is :func:`hotspot.stats.kde.kernel_density`; the radius rules are in
:mod:`hotspot.stats.radius`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.ingest.validate import BANDWIDTH_RULES, Parameter, check_parameters
from hotspot.stats.kde import DensitySurface, _choose_bandwidth, check_options, kernel_density
from hotspot.stats.radius import choose_radius

PARAMETERS = (
    Parameter("cell_size_m", "--cell-size", "metres"),
    Parameter("bandwidth_m", "--bandwidth", "metres"),
    Parameter("bandwidth_rule", "--bandwidth-rule", "choice", BANDWIDTH_RULES),
)
"""The parameters :func:`density_for_study` takes beyond :func:`hotspot.stats.kde.check_options`, checked in one place."""


def density_for_study(
    study,
    *,
    cell_size_m: float = 100.0,
    bandwidth_m: float | None = None,
    bandwidth_rule: str = "holdout",
    kernel: str = "quartic",
    units: str = "per-km2",
    edge_correction: bool = False,
    binned: bool = False,
    progress=None,
) -> DensitySurface:
    """Kernel density of a :class:`hotspot.ingest.study.Study`'s records on its study grid (:meth:`Study.grid`).

    Cells outside the study area are NaN. Parameters as in :func:`kernel_density`; ``cell_size_m``
    is the cell side in metres (default 100). Without ``bandwidth_m`` the radius comes from
    ``bandwidth_rule``: ``"holdout"`` (default, :func:`hotspot.stats.radius.choose_radius`: the radius
    whose density of the earlier months best predicted the latest quarter, street-level
    candidates 150 m to 1 km; Silverman when there are fewer than two months) or ``"silverman"``
    (the spatial Silverman rule ArcGIS uses, :func:`default_bandwidth`).
    """
    check_options(kernel=kernel, units=units, bandwidth_m=bandwidth_m)
    check_parameters(PARAMETERS, cell_size_m=cell_size_m, bandwidth_rule=bandwidth_rule)
    records = study.records
    frame = records.frame
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    if x.size == 0:
        raise HotspotInputError("no records left to estimate a density from; check the input and the filters")
    if study.study_area() is not None:
        grid, mask = study.grid(cell_size_m)
    else:
        grid, mask = None, None
    rule = "given"
    if bandwidth_m is None and bandwidth_rule == "holdout" and grid is not None:
        bandwidth_m, rule = choose_radius(frame, grid, mask)
        if bandwidth_m is None:
            rule = f"{rule}; "
    if bandwidth_m is None:
        bandwidth_m, silverman = _choose_bandwidth(x, y, None, None, cell_size_m)
        rule = silverman if rule == "given" else rule + silverman
    if grid is None:
        # Without an area the points' extent is padded by the bandwidth, so almost no kernel mass falls off the grid.
        grid, mask = Grid.over_area(None, x, y, cell_size_m, crs=str(records.crs), pad_m=float(bandwidth_m))
    # A ``weight`` column (harm per record, hotspot.stats.harm) weighs each crime.
    weights = frame["weight"].to_numpy(np.float64) if "weight" in frame.columns else None
    result = kernel_density(
        x,
        y,
        grid,
        bandwidth_m=bandwidth_m,
        kernel=kernel,
        weights=weights,
        units=units,
        mask=mask,
        edge_correction=edge_correction,
        binned=binned,
        progress=progress,
    )
    return replace(result, bandwidth_rule=rule)
