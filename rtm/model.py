"""Refit the selected layers without a penalty, by Poisson and negative binomial, and keep the better.

Why statsmodels here: it reports standard errors, Wald confidence intervals and p-values, and has
both a Poisson GLM and a negative binomial (NB2, variance mu + alpha mu^2) GLM with frequency weights
under one API; glum (used for the penalised selection) gives point estimates only. Cells with the
same layers and the same count are merged first (:func:`merge_cells`, exact), which turns 100,000+
cells into a few thousand weighted rows; ``alpha`` is estimated by profile likelihood.

Rules (documented choices):

- Family: the one with the lower BIC = -2 log-likelihood + k ln(n), k counting the intercept, the
  coefficients and (for NB) ``alpha``; n the number of study cells.
- Backward elimination: after each refit, a term with a coefficient <= 0 (relative risk value <= 1:
  RTM treats factors as risk-raising) is dropped first (the most negative); otherwise the term with the
  largest p-value relative to its threshold is dropped if that p-value is >= its threshold. The
  threshold is ``alpha_level`` (default 0.05) divided by the number of candidate layers of that factor
  (Bonferroni): the kept band is the best of all of them, so an unadjusted test would keep a factor
  with no effect far more often than 5 % of the time (with 12 layers per factor, the threshold is
  0.0042). The p-values reported are the plain Wald p-values of the final model. The model is
  refitted (and the family re-chosen) after each drop until every term is risk-raising and significant.
- ``rrv = exp(coef)``; ``rrv_low``/``rrv_high`` are exp of the 95 % Wald interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from rtm.selection import Selection

MODEL_COLUMNS = ("factor", "operationalisation", "distance_m", "coef", "rrv", "rrv_low", "rrv_high", "p_value")
"""Columns of the model table (the ``rtm_model`` GeoPackage table), in order."""


@dataclass
class RiskModel:
    """A fitted risk terrain model.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per factor kept, columns :data:`MODEL_COLUMNS` plus ``layer`` (candidate index) and
        ``se``; ordered by decreasing ``rrv``.
    intercept : float
        Log expected crimes per cell where no factor is present.
    family : str
        ``"poisson"`` or ``"negative_binomial"``.
    bic : dict of str -> float
        BIC of the final terms under each family.
    nb_alpha : float
        NB2 dispersion of the final terms (variance = mu + alpha mu^2); NaN if NB could not be fitted.
    dropped : pandas.DataFrame
        Layers removed in the refit: name, factor, reason.
    n_cells, n_crimes : int
        Study cells and crimes in them.
    selection : Selection
    notes : list of str
        What the reader should know about the fit, e.g. that the negative binomial could not be fitted
        and the model fell back to Poisson.
    """

    table: pd.DataFrame
    intercept: float
    family: str
    bic: dict
    nb_alpha: float
    dropped: pd.DataFrame
    n_cells: int
    n_crimes: int
    selection: Selection = field(repr=False)
    notes: list = field(default_factory=list)

    @property
    def model_table(self) -> pd.DataFrame:
        """The model table with only :data:`MODEL_COLUMNS`."""
        return self.table.loc[:, list(MODEL_COLUMNS)].reset_index(drop=True)


def merge_cells(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge cells with the same 0/1 layer row **and** the same count: (rows, counts, number of cells).

    Cells that agree on both contribute identical terms to any likelihood whose mean depends on the
    row only (Poisson and NB2 alike), so fitting the merged table with the number of cells as
    frequency weights gives exactly the per-cell estimates, standard errors and log-likelihood.
    """
    key = (
        np.column_stack([np.packbits(X > 0.5, axis=1).astype(np.int64), y.astype(np.int64)])
        if X.size
        else y.astype(np.int64)[:, None]
    )
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return (
        (X[first] if X.size else np.zeros((first.size, 0))),
        y[first],
        np.bincount(inverse.ravel()).astype(np.float64),
    )


def _fit_both(y: np.ndarray, X: np.ndarray):
    """Poisson and NB2 fits of y on [1, X]; returns ({family: (...)}, {family: BIC}, why NB failed or None).

    Each fit is ``(params, bse, pvalues, llf, k, nb_alpha)``.

    Both run as statsmodels GLMs on :func:`merge_cells` output with frequency weights. The NB2
    dispersion ``alpha`` is estimated by maximising the profile log-likelihood over log(alpha)
    (``scipy.optimize.minimize_scalar``); the coefficients' standard errors are those at that alpha
    (in NB2 the information matrix is block-diagonal in (beta, alpha), so they equal the joint MLE's
    asymptotically; the test suite checks them against ``statsmodels.discrete.NegativeBinomial``).
    """
    import statsmodels.api as sm
    from scipy.optimize import minimize_scalar
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, DomainWarning, PerfectSeparationWarning

    n = y.size
    Xm, ym, wm = merge_cells(y, X)
    design = sm.add_constant(Xm, has_constant="add") if Xm.shape[1] else np.ones((ym.size, 1))
    k = design.shape[1]
    out = {}
    nb_failure = None
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", category=(ConvergenceWarning, DomainWarning, PerfectSeparationWarning, RuntimeWarning)
        )
        pois = sm.GLM(ym, design, family=sm.families.Poisson(), freq_weights=wm).fit()
        out["poisson"] = (
            np.asarray(pois.params),
            np.asarray(pois.bse),
            np.asarray(pois.pvalues),
            float(pois.llf),
            k,
            np.nan,
        )
        start = np.asarray(pois.params)

        def nb_fit(log_alpha):
            family = sm.families.NegativeBinomial(alpha=float(np.exp(log_alpha)))
            return sm.GLM(ym, design, family=family, freq_weights=wm).fit(start_params=start)

        try:
            best = minimize_scalar(
                lambda a: -nb_fit(a).llf, bounds=(-12.0, 6.0), method="bounded", options={"xatol": 1e-6}
            )
            nb = nb_fit(best.x)
            if np.all(np.isfinite(nb.params)) and np.all(np.isfinite(nb.bse)):
                out["negative_binomial"] = (
                    np.asarray(nb.params),
                    np.asarray(nb.bse),
                    np.asarray(nb.pvalues),
                    float(nb.llf),
                    k + 1,
                    float(np.exp(best.x)),
                )
            else:
                nb_failure = "its coefficients or standard errors were not finite"
        except (np.linalg.LinAlgError, ValueError) as exc:
            nb_failure = (
                f"the fit failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})"
            )
    bic = {fam: -2.0 * v[3] + v[4] * np.log(n) for fam, v in out.items()}
    return out, bic, nb_failure


def fit(
    counts: np.ndarray,
    selection: Selection,
    *,
    alpha_level: float = 0.05,
    family: str = "auto",
    bonferroni: bool = True,
) -> RiskModel:
    """Refit the selected layers by Poisson and negative binomial regression and keep the better model.

    Parameters
    ----------
    counts : ndarray, shape (nrows, ncols)
        Crimes per cell (the same outcome the selection used).
    selection : Selection
        From :func:`rtm.select`.
    alpha_level : float, default 0.05
        A term stays only if its Wald p-value is below this (divided by its factor's number of
        candidate layers when ``bonferroni``).
    family : str, default "auto"
        ``"auto"`` (lower BIC), ``"poisson"`` or ``"negative_binomial"``.
    bonferroni : bool, default True
        Divide ``alpha_level`` by the number of candidate layers searched for each factor.

    Returns
    -------
    RiskModel
    """
    if family not in ("auto", "poisson", "negative_binomial"):
        raise HotspotInputError(f"family must be auto, poisson or negative_binomial; got {family!r}")
    candidates = selection.candidates
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != candidates.grid.shape:
        raise HotspotInputError(f"counts have shape {counts.shape} but the grid is {candidates.grid.shape}")
    mask = selection.mask
    y = counts[mask]
    terms = list(selection.chosen)
    searched = {f: int(np.sum(candidates.factor == f)) if bonferroni else 1 for f in candidates.factors}
    dropped = []
    while True:
        X = candidates.design(mask, terms) if terms else np.zeros((y.size, 0))
        fits, bic, nb_failure = _fit_both(y, X)
        chosen_family = family if family != "auto" else min(bic, key=bic.get)
        if chosen_family not in fits:
            chosen_family = "poisson"
        params, bse, pvalues = fits[chosen_family][:3]
        if not terms:
            break
        coef, p = params[1:], pvalues[1:]
        limit = np.asarray([alpha_level / searched[candidates.factor[i]] for i in terms])
        ratio = np.where(np.isnan(p), np.inf, p / limit)
        if np.any(coef <= 0):
            worst = int(np.argmin(coef))
            reason = f"relative risk value {np.exp(coef[worst]):.3f} <= 1 (not risk-raising)"
        elif ratio.max() >= 1:
            worst = int(np.argmax(ratio))
            reason = f"p = {p[worst]:.3g} >= {limit[worst]:.3g} ({alpha_level:g} / {searched[candidates.factor[terms[worst]]]} layers)"
        else:
            break
        layer = terms.pop(worst)
        dropped.append({"name": candidates.names[layer], "factor": candidates.factor[layer], "reason": reason})
    z = 1.959963984540054
    coef, se, p = params[1:], bse[1:], pvalues[1:]
    table = pd.DataFrame(
        {
            "factor": [candidates.factor[i] for i in terms],
            "operationalisation": [candidates.operationalisation[i] for i in terms],
            "distance_m": [float(candidates.distance_m[i]) for i in terms],
            "coef": coef,
            "rrv": np.exp(coef),
            "rrv_low": np.exp(coef - z * se),
            "rrv_high": np.exp(coef + z * se),
            "p_value": p,
            "se": se,
            "layer": np.asarray(terms, dtype=np.int64),
        }
    )
    table = table.sort_values("rrv", ascending=False, kind="stable").reset_index(drop=True)
    notes = []
    if nb_failure is not None:
        notes.append(
            f"the negative binomial could not be fitted to the final terms ({nb_failure}); the model is Poisson, whose "
            "standard errors are too small if the counts are overdispersed"
        )
    return RiskModel(
        table=table,
        intercept=float(params[0]),
        family=chosen_family,
        bic={k: float(v) for k, v in bic.items()},
        nb_alpha=float(fits["negative_binomial"][5]) if "negative_binomial" in fits else float("nan"),
        dropped=pd.DataFrame(dropped, columns=["name", "factor", "reason"]),
        n_cells=int(y.size),
        n_crimes=int(y.sum()),
        selection=selection,
        notes=notes,
    )
