"""Choose risk layers: a cross-validated penalised Poisson regression over every candidate layer.

Why glum: it fits the whole lasso / elastic-net path of a Poisson GLM with a log link in compiled
code (coordinate descent inside IRLS), takes sample weights, and supports lower bounds on the
coefficients. statsmodels' ``fit_regularized`` has no path or bounds and is far slower on 100,000+
cells; scikit-learn's ``PoissonRegressor`` has only a ridge penalty.

Cross-validation: folds are a seeded ``KFold(n_folds, shuffle=True, random_state=seed)`` over the
study cells in row-major order (same seed, same folds, same model). Within each fold the training
cells with identical 0/1 layer rows are merged (:func:`aggregate_rows`) before glum fits the path;
this is exact for the Poisson likelihood and cuts the rows from all cells to the distinct
combinations of layers (usually 5-20x fewer). (glum's own ``GeneralizedLinearRegressorCV`` fits the
unmerged cells and was 10-80x slower here.) The held-out deviance is computed on the unmerged cells.

Rules (documented choices):

- Coefficients are bounded below at 0 (``nonnegative=True``): RTM factors are risk-raising, and a
  "protective" reading of one proximity band only makes sense as a contrast with a neighbouring band,
  which would then be kept for the wrong reason.
- Layers that are constant over the study area (all 0 or all 1) cannot be estimated and are skipped.
- The penalty is the one with the lowest mean cross-validated Poisson deviance (glum's ``alpha_``).
- At most one operationalisation is kept per factor. Among a factor's layers with a non-zero lasso
  coefficient, the one kept is the one giving the lowest Poisson deviance in an unpenalised model
  holding it together with the currently kept layer of every other surviving factor (start: the largest
  lasso coefficient of each factor; one pass over the factors in order). Nested proximity bands are
  strongly correlated, and the lasso often splits a planted effect between neighbouring bands; the
  deviance step picks the band that explains the counts best, not the one the penalty favoured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve
from rtm.layers import CandidateLayers


@dataclass
class Selection:
    """The outcome of :func:`select`.

    Attributes
    ----------
    candidates : CandidateLayers
        The layers selected from (kept so :func:`rtm.fit` needs only counts and this).
    mask : ndarray of bool, shape (nrows, ncols)
        Cells the model is fitted on.
    chosen : list of int
        Layer indices kept, at most one per factor, in factor order.
    table : pandas.DataFrame
        One row per candidate: name, factor, operationalisation, distance_m, cover, lasso_coef,
        refit_deviance (for a factor with several non-zero layers: the Poisson deviance, up to a
        constant, of the model with that layer and the other factors' kept layers — lower is better), status
        (``"kept"``, ``"lasso non-zero, another band kept"``, ``"lasso zero"``, ``"constant"``).
    alpha : float
        The penalty chosen by cross-validation.
    l1_ratio : float
        1 = lasso; between 0 and 1 = elastic net.
    cv_deviance : ndarray, shape (n_alphas,)
        Mean cross-validated deviance along the penalty path.
    alphas : ndarray, shape (n_alphas,)
        The penalty path.
    n_folds, seed : int
        The folds: ``KFold(n_folds, shuffle=True, random_state=seed)`` over the study cells in row-major order.
    """

    candidates: CandidateLayers
    mask: np.ndarray
    chosen: list[int]
    table: pd.DataFrame
    alpha: float
    l1_ratio: float
    cv_deviance: np.ndarray = field(repr=False)
    alphas: np.ndarray = field(repr=False)
    n_folds: int = 5
    seed: int = 0

    @property
    def chosen_names(self) -> list[str]:
        return [self.candidates.names[i] for i in self.chosen]


def _poisson_deviance(rows: np.ndarray, totals: np.ndarray, cells: np.ndarray) -> float:
    """-2 x the per-cell Poisson log-likelihood (without log y!) of the unpenalised fit on merged rows.

    ``rows`` are distinct 0/1 layer rows, ``totals`` the crimes and ``cells`` the number of cells
    sharing each; the likelihood of the merged table equals the per-cell one up to the log y! terms.
    """
    import statsmodels.api as sm

    # A few columns have at most 2^k distinct rows: merge again so the GLM runs on a handful of rows.
    rows, inverse = unique_rows(rows)
    totals = np.bincount(inverse, weights=totals, minlength=len(rows))
    cells = np.bincount(inverse, weights=cells, minlength=len(rows))
    design = sm.add_constant(rows, has_constant="add")
    result = sm.GLM(totals, design, family=sm.families.Poisson(), exposure=cells).fit()
    eta = design @ np.asarray(result.params)
    return float(-2.0 * np.sum(totals * eta - cells * np.exp(eta)))


def select(
    counts: np.ndarray,
    candidates: CandidateLayers,
    mask: np.ndarray | None = None,
    *,
    seed: int = 0,
    n_folds: int = 5,
    l1_ratio: float = 1.0,
    n_alphas: int = 25,
    nonnegative: bool = True,
    progress=None,
) -> Selection:
    """Select risk layers by a cross-validated penalised Poisson regression.

    Parameters
    ----------
    counts : ndarray, shape (nrows, ncols)
        Crimes per cell in the outcome period.
    candidates : CandidateLayers
        From :func:`rtm.operationalise`.
    mask : ndarray of bool, shape (nrows, ncols), optional
        Cells to fit on; default ``candidates.mask``.
    seed : int, default 0
        Seeds the cross-validation folds.
    n_folds : int, default 5
        Cross-validation folds (at least 2).
    l1_ratio : float, default 1.0
        1 is the lasso; values in (0, 1) give an elastic net.
    n_alphas : int, default 25
        Length of the penalty path.
    nonnegative : bool, default True
        Bound coefficients below at 0 (risk-raising factors only).
    progress : callable, optional

    Returns
    -------
    Selection
    """
    progress = resolve(progress)
    counts = np.asarray(counts, dtype=np.float64)
    mask = candidates.mask if mask is None else np.asarray(mask, dtype=bool)
    if counts.shape != candidates.grid.shape:
        raise HotspotInputError(f"counts have shape {counts.shape} but the grid is {candidates.grid.shape}")
    if not (0 < l1_ratio <= 1):
        raise HotspotInputError(f"l1_ratio must be in (0, 1], got {l1_ratio}")
    if n_folds < 2:
        raise HotspotInputError(f"n_folds must be at least 2, got {n_folds}")
    y = counts[mask]
    if y.sum() < 1:
        raise HotspotInputError("no crimes fall in the study area; check the crime type, dates and boundaries")
    progress("selecting layers (cross-validated lasso)", 0, 1)
    X = candidates.design(mask)
    cover = X.mean(axis=0)
    usable = np.nonzero((cover > 0) & (cover < 1))[0]
    table = candidates.table.copy()
    table["lasso_coef"] = 0.0
    table["refit_deviance"] = np.nan
    table["status"] = np.where((cover > 0) & (cover < 1), "lasso zero", "constant")
    chosen: list[int] = []
    alpha, cv_dev, alphas = np.nan, np.zeros(0), np.zeros(0)
    if usable.size:
        # Merge cells with identical layer rows once; every later fit works on the merged rows.
        rows, inverse = unique_rows(X)
        coef, alpha, alphas, cv_dev = _lasso_cv(
            rows[:, usable],
            inverse,
            y,
            seed=seed,
            n_folds=n_folds,
            l1_ratio=l1_ratio,
            n_alphas=n_alphas,
            nonnegative=nonnegative,
        )
        table.loc[usable, "lasso_coef"] = coef
        nonzero = usable[np.abs(coef) > 1e-8]
        table.loc[nonzero, "status"] = "lasso non-zero, another band kept"
        totals = np.bincount(inverse, weights=y, minlength=len(rows))
        cells = np.bincount(inverse, minlength=len(rows)).astype(np.float64)
        chosen = _one_per_factor(rows, totals, cells, nonzero, table, candidates)
        table.loc[chosen, "status"] = "kept"
    progress("selecting layers (cross-validated lasso)", 1, 1)
    return Selection(
        candidates=candidates,
        mask=mask,
        chosen=chosen,
        table=table,
        alpha=alpha,
        l1_ratio=l1_ratio,
        cv_deviance=cv_dev,
        alphas=alphas,
        n_folds=n_folds,
        seed=seed,
    )


def unique_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct 0/1 rows of ``X`` and, for each row of ``X``, the index of its distinct row."""
    keys = np.ascontiguousarray(np.packbits(X > 0.5, axis=1))
    view = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
    return X[first], inverse.ravel()


def aggregate_rows(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge cells with identical 0/1 layer rows: (unique rows, mean count per cell, number of cells).

    A Poisson fit of the mean count with the number of cells as weight has exactly the score equations
    (and, since glum normalises weights, the same penalised objective) as the fit over single cells.
    """
    keys = np.ascontiguousarray(np.packbits(X > 0.5, axis=1))
    view = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
    n = np.bincount(inverse).astype(np.float64)
    total = np.bincount(inverse, weights=y)
    return X[first], total / n, n


def _path_model(alphas, l1_ratio, nonnegative, k):
    from glum import GeneralizedLinearRegressor

    return GeneralizedLinearRegressor(
        family="poisson",
        l1_ratio=l1_ratio,
        alpha_search=True,
        alpha=alphas,
        solver="irls-cd",
        lower_bounds=np.zeros(k) if nonnegative else None,
        fit_intercept=True,
    )


def _lasso_cv(rows, inverse, y, *, seed, n_folds, l1_ratio, n_alphas, nonnegative, min_alpha_ratio=1e-3):
    """Cross-validated penalised Poisson path over cells, fitted on merged rows.

    ``rows`` are the distinct layer rows and ``inverse`` maps each cell to its row. The path runs
    from the smallest penalty that zeroes every layer down by ``min_alpha_ratio`` (log-spaced). Folds
    split the cells; each fold's training cells are merged per row (crimes summed, cells counted) for
    glum, and its held-out Poisson deviance — summed over the held-out cells, computed exactly from
    the per-row sums — is averaged over folds. The penalty with the lowest mean is refitted on all cells.
    """
    from sklearn.model_selection import KFold
    from threadpoolctl import threadpool_limits

    # After merging rows the problems are small; glum's OpenMP (and BLAS) threads then spin more than
    # they work (4-5x slower on a busy 2-core machine), so the path fits run single-threaded.
    with threadpool_limits(limits=1):
        return _lasso_cv_inner(
            rows,
            inverse,
            y,
            KFold,
            seed=seed,
            n_folds=n_folds,
            l1_ratio=l1_ratio,
            n_alphas=n_alphas,
            nonnegative=nonnegative,
            min_alpha_ratio=min_alpha_ratio,
        )


def _merged(rows, inverse, y, which):
    n_rows = len(rows)
    cells = np.bincount(inverse[which], minlength=n_rows).astype(np.float64)
    totals = np.bincount(inverse[which], weights=y[which], minlength=n_rows)
    keep = cells > 0
    return rows[keep], totals[keep], cells[keep]


def _lasso_cv_inner(rows, inverse, y, KFold, *, seed, n_folds, l1_ratio, n_alphas, nonnegative, min_alpha_ratio):
    everyone = np.arange(y.size)
    R, T, C = _merged(rows, inverse, y, everyone)
    gradient = R.T @ (T - C * y.mean()) / y.size
    alpha_max = max(float(np.max(gradient if nonnegative else np.abs(gradient))), 1e-12) / l1_ratio
    alphas = np.geomspace(alpha_max, alpha_max * min_alpha_ratio, n_alphas)
    deviance = np.zeros((n_folds, n_alphas))
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(y > 0, y * np.log(y), 0.0) - y
    for f, (train, test) in enumerate(KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(everyone)):
        Ra, Ta, Ca = _merged(rows, inverse, y, train)
        path = _path_model(alphas, l1_ratio, nonnegative, rows.shape[1]).fit(Ra, Ta / Ca, sample_weight=Ca)
        Rt, Tt, Ct = _merged(rows, inverse, y, test)
        eta = np.asarray(path.intercept_path_)[None, :] + Rt @ np.asarray(path.coef_path_).T
        # Per-cell deviance 2 sum[y log(y/mu) - (y - mu)] = 2 sum[y log y - y] + 2 sum_rows[C mu - T log mu].
        deviance[f] = 2.0 * (ylogy[test].sum() + np.sum(Ct[:, None] * np.exp(eta) - Tt[:, None] * eta, axis=0))
    mean_dev = deviance.mean(axis=0)
    best = int(np.argmin(mean_dev))
    full = _path_model(alphas[: best + 1], l1_ratio, nonnegative, rows.shape[1]).fit(R, T / C, sample_weight=C)
    return np.asarray(full.coef_, dtype=np.float64), float(alphas[best]), alphas, mean_dev


def _one_per_factor(rows, totals, cells, nonzero, table, candidates) -> list[int]:
    by_factor: dict[str, list[int]] = {}
    for i in nonzero:
        by_factor.setdefault(candidates.factor[i], []).append(int(i))
    factors = [f for f in candidates.factors if f in by_factor]
    current = {f: max(by_factor[f], key=lambda i: table.at[i, "lasso_coef"]) for f in factors}
    for f in factors:
        if len(by_factor[f]) == 1:
            continue
        others = [current[g] for g in factors if g != f]
        devs = [_poisson_deviance(rows[:, others + [i]], totals, cells) for i in by_factor[f]]
        table.loc[by_factor[f], "refit_deviance"] = devs
        current[f] = by_factor[f][int(np.argmin(devs))]
    return [current[f] for f in factors]
