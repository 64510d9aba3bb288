"""The near-repeat (space-time interaction) surface: a per-cell score usable as a forecast component.

After a crime the risk nearby stays raised for a while; the Knox table measures by how much for each
(distance band, time band). The score of a cell at a forecast time is the sum, over the records
before that time, of the excess risk the Knox table gives for the record's distance from the cell
centre and its age::

    score(cell) = sum_records weight[distance band(cell, record), time band(age of record)]
    weight      = knox_ratio - 1 where the cell of the Knox table is significant (ratio >= 1.2 and
                  p <= alpha), else 0; pairs in the "beyond" bands add nothing.

It is a plain function of arrays so a forecasting method can add it to (or blend it with) any other
per-cell score; 0 everywhere means no near-repeat risk is expected.
"""

from __future__ import annotations

import numpy as np

from hotspot.core.errors import HotspotInputError


def knox_weights(knox, *, alpha: float = 0.05, min_ratio: float | None = None) -> np.ndarray:
    """Excess-risk weights ``ratio - 1`` of the finite, significant cells of a Knox table (else 0)."""
    from hotspot.spacetime.knox import SIGNIFICANT_RATIO

    min_ratio = SIGNIFICANT_RATIO if min_ratio is None else min_ratio
    ratio = np.nan_to_num(knox.ratio[:-1, :-1], nan=0.0)
    sig = (ratio >= min_ratio) & (knox.p[:-1, :-1] <= alpha)
    return np.where(sig, ratio - 1.0, 0.0)


def near_repeat_scores(
    xy: np.ndarray,
    times: np.ndarray,
    at_time: float,
    cell_x: np.ndarray,
    cell_y: np.ndarray,
    *,
    knox=None,
    weights: np.ndarray | None = None,
    distance_edges_m: np.ndarray | None = None,
    time_edges: np.ndarray | None = None,
    alpha: float = 0.05,
) -> np.ndarray:
    """Near-repeat score of each cell at ``at_time`` from the records before it.

    Parameters
    ----------
    xy : array (n, 2)
        Record coordinates, metres.
    times : array (n,)
        Record times in the Knox table's unit (whole days or months, see
        :func:`hotspot.spacetime.knox.record_times`).
    at_time : float
        The forecast time in the same unit; records at or after it are ignored (age = at_time - time
        must be positive).
    cell_x, cell_y : arrays
        Cell centres, metres (any shape, e.g. ``grid.cell_centres()``); the result has their shape.
    knox : KnoxResult, optional
        Supplies the band edges and the weights (:func:`knox_weights`).
    weights, distance_edges_m, time_edges : arrays, optional
        Instead of ``knox``: weights of shape ``(len(distance_edges_m) - 1, len(time_edges) - 1)``
        over the finite bands, edges as in :func:`hotspot.spacetime.knox.band_edges`.
    alpha : float, default 0.05
        Significance of a Knox cell for it to carry weight (with ``knox``).

    Returns
    -------
    float array shaped like ``cell_x``: the summed excess risk.
    """
    from hotspot.kernels.spacetime import interaction_surface

    if knox is not None:
        weights = knox_weights(knox, alpha=alpha)
        distance_edges_m, time_edges = knox.distance_edges_m, knox.time_edges
    if weights is None or distance_edges_m is None or time_edges is None:
        raise HotspotInputError("near_repeat_scores needs a Knox result, or weights with distance and time edges")
    d_edges = np.asarray(distance_edges_m, dtype=np.float64)
    t_edges = np.asarray(time_edges, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (d_edges.size - 1, t_edges.size - 1):
        raise HotspotInputError(
            f"weights {weights.shape} do not match {d_edges.size - 1} distance and {t_edges.size - 1} time bands"
        )
    xy = np.asarray(xy, dtype=np.float64)
    age = float(at_time) - np.asarray(times, dtype=np.float64)
    use = (age > 0) & (age <= t_edges[-1])
    cx = np.asarray(cell_x, dtype=np.float64)
    cy = np.asarray(cell_y, dtype=np.float64)
    out = interaction_surface(
        cx.ravel(), cy.ravel(), xy[use, 0].copy(), xy[use, 1].copy(), age[use].copy(), d_edges, t_edges, weights
    )
    return out.reshape(cx.shape)


def near_repeat_surface(records, grid, at, knox, *, alpha: float = 0.05) -> np.ndarray:
    """:func:`near_repeat_scores` for a study's records on a grid: a ``grid.shape`` array of scores.

    Parameters
    ----------
    records : hotspot.core.records.Records
        The records (metres); their times are read as the Knox table's unit (days or months).
    grid : hotspot.core.grid.Grid
        Cells to score (their centres).
    at : str or Timestamp
        The forecast time: a date (``YYYY-MM-DD``, for tables in days) or a month (``YYYY-MM``, for tables
        in months). Only records before it count.
    knox : KnoxResult
        The Knox table (e.g. from the training period).
    alpha : float, default 0.05
    """
    import pandas as pd

    from hotspot.spacetime.knox import record_times

    frame = records.frame
    times, unit = record_times(frame, knox.time_unit)
    if unit == "days":
        epoch = pd.to_datetime(frame["datetime"]).dt.normalize().min()
        at_time = float((pd.Timestamp(at).normalize() - epoch).days)
    else:
        first = pd.PeriodIndex(frame["month"].astype(str), freq="M").min()
        at_time = float(pd.Period(str(at)[:7], freq="M").ordinal - first.ordinal)
    cx, cy = grid.cell_centres()
    return near_repeat_scores(records.xy, times, at_time, cx, cy, knox=knox, alpha=alpha)
