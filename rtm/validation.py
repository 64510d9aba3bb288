"""Does the risk terrain forecast where crime happens next? Hit rate, PAI and ROC AUC on a later period.

Definitions (all over the study cells):

- Cells are ranked by score, highest first. The top ``share`` of the study area is ``share x N`` cells
  (N study cells). Risk scores have many ties, so cells tied at the cut-off are taken in part: the
  crimes they hold are counted in proportion to the part taken — the expected hit rate if ties were
  broken at random. Formally: linear interpolation of cumulative crimes against cumulative cells at
  the tie-group boundaries.
- Hit rate = crimes in the selected cells / all crimes in the study cells (test period).
- PAI (predictive accuracy index) = hit rate / area share.
- AUC = ROC AUC of the score for "cell has at least one test crime" (``sklearn.metrics.roc_auc_score``,
  which counts ties as one half).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError

AREA_SHARES = (0.01, 0.05, 0.10)
"""Default area shares for hit rate and PAI."""


def hit_rate(score: np.ndarray, counts: np.ndarray, mask: np.ndarray | None = None, share: float = 0.05) -> float:
    """Share of crimes in the top ``share`` of study cells by ``score`` (ties taken in proportion).

    The study cells are ``mask`` (default all) with a finite score; the metric is the project's
    one definition, :func:`hotspot.stats.accuracy.forecast_metrics`, on those cells.
    """
    from hotspot.stats.accuracy import forecast_metrics

    score = np.asarray(score, dtype=np.float64)
    study = np.isfinite(score) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(score))
    return float(forecast_metrics(score, np.asarray(counts, dtype=np.float64), share, mask=study).hit_rate)


def pai(score, counts, mask=None, share: float = 0.05) -> float:
    """Predictive accuracy index: hit rate at ``share`` divided by ``share``."""
    return hit_rate(score, counts, mask, share) / share


def auc(score, counts, mask=None) -> float:
    """ROC AUC of ``score`` for study cells with at least one crime (NaN if all or none have one)."""
    from sklearn.metrics import roc_auc_score

    score = np.asarray(score, dtype=np.float64)
    mask = np.isfinite(score) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(score))
    label = np.asarray(counts)[mask] > 0
    if label.all() or not label.any():
        return float("nan")
    return float(roc_auc_score(label, score[mask]))


def compare(
    scores: dict[str, np.ndarray], counts: np.ndarray, mask: np.ndarray, area_shares=AREA_SHARES
) -> pd.DataFrame:
    """One row per (method, area share): hit_rate, pai, and the method's auc."""
    rows = []
    for method, s in scores.items():
        a = auc(s, counts, mask)
        for share in area_shares:
            h = hit_rate(s, counts, mask, share)
            rows.append({"method": method, "area_share": share, "hit_rate": h, "pai": h / share, "auc": a})
    return pd.DataFrame(rows)


@dataclass
class ValidationResult:
    """Out-of-period checks of a risk surface against a KDE of the training crimes.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns method (``"rtm"``, ``"kde"``), area_share, hit_rate, pai, auc.
    n_train_crimes, n_test_crimes : int
        Crimes in the study cells in each period.
    kde_bandwidth_m : float
        The KDE baseline's search radius in metres.
    kde_surface : ndarray, shape (nrows, ncols)
        The baseline surface (per km2).
    test_counts : ndarray, shape (nrows, ncols)
    """

    table: pd.DataFrame
    n_train_crimes: int
    n_test_crimes: int
    kde_bandwidth_m: float
    kde_surface: np.ndarray = field(repr=False)
    test_counts: np.ndarray = field(repr=False)

    def metric(self, method: str, name: str, share: float | None = None) -> float:
        """One figure, e.g. ``metric("rtm", "pai", 0.05)`` or ``metric("kde", "auc")``."""
        rows = self.table[self.table["method"] == method]
        if share is not None:
            rows = rows[np.isclose(rows["area_share"], share)]
        return float(rows[name].iloc[0])


def validate(
    result,
    test_records,
    *,
    train_records=None,
    kde_bandwidth_m: float | None = None,
    area_shares=AREA_SHARES,
    progress=None,
) -> ValidationResult:
    """Score a built RTM against a later period and compare it with a KDE of the training crimes.

    Parameters
    ----------
    result : RTMResult
        From :func:`rtm.build` on the training period.
    test_records : Records or ndarray (nrows, ncols)
        The later period's crimes (same crime types), or their counts on ``result.grid``.
    train_records : Records, optional
        Training crimes for the KDE baseline; default the counts the model was fitted on (cell centres).
    kde_bandwidth_m : float, optional
        KDE search radius in metres; default ``hotspot.stats.kde``'s rule on the training crimes.
    area_shares : sequence of float, default (0.01, 0.05, 0.10)
    """
    from hotspot.stats.kde import kernel_density

    grid, mask = result.grid, result.mask
    if isinstance(test_records, np.ndarray):
        test_counts = np.asarray(test_records, dtype=np.float64)
        if test_counts.shape != grid.shape:
            raise HotspotInputError(f"test counts have shape {test_counts.shape} but the grid is {grid.shape}")
    else:
        test_counts = grid.count(test_records.frame["x"].to_numpy(), test_records.frame["y"].to_numpy())
    if train_records is not None:
        tx, ty, tw = train_records.frame["x"].to_numpy(), train_records.frame["y"].to_numpy(), None
    else:
        r, c = np.nonzero(result.counts)
        tx, ty, tw = grid.column_centres()[c], grid.row_centres()[r], result.counts[r, c]
    kde = kernel_density(tx, ty, grid, bandwidth_m=kde_bandwidth_m, weights=tw, mask=mask, progress=progress)
    table = compare({"rtm": result.relative_risk, "kde": kde.surface}, test_counts, mask, area_shares)
    return ValidationResult(
        table=table,
        n_train_crimes=int(result.counts[mask].sum()),
        n_test_crimes=int(test_counts[mask].sum()),
        kde_bandwidth_m=float(kde.bandwidth_m),
        kde_surface=kde.surface,
        test_counts=test_counts,
    )
