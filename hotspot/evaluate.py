"""How well a forecast surface picks out next period's crime: hit rate, PAI, RRI and a rolling backtest.

Definitions (all at an **area budget**: the share of the study area a forecast may select)
-----------------------------------------------------------------------------------------
selection
    Cells are taken in descending order of forecast score until the budget (``area_share`` x
    the area of the study-area cells, ``mask``) is used; cells with a NaN score are never
    taken. With ``ties="share"`` (the default for the metrics) the budget is met exactly: the cells at the cut-off score -- all cells tied there,
    or the single cell crossing the budget -- are each counted as selected by the same fraction
    of the remaining budget. That is the expected result over random orders of tied cells, so a
    forecast is never rewarded or punished for an arbitrary tie-break, and a flat (uninformative)
    forecast scores PAI = 1 exactly. ``ties="index"`` selects whole cells instead, breaking ties
    by row-major cell position (north-west first), as :func:`select_top_area` does.
hit rate
    Share of the test-period crimes in the study area (``mask``) that fall in the selected cells.
PAI (predictive accuracy index, Chainey et al. 2008)
    hit rate / share of the area actually selected. A perfect forecast reaches 1 / area share
    when the test crimes fit in the budget; a uniform forecast scores 1.
RRI (recapture rate index, Levine 2008)
    (test crimes in the selected cells / training crimes in the selected cells) divided by
    (all test crimes / all training crimes), crimes counted in the study area only. Above 1:
    the selected places keep more of their crime than the study area as a whole. NaN when the
    selected cells held no training crimes.

The backtest (:func:`backtest`) rolls forward month by month: each fold trains on the months
before its test window (all of them, or the last ``train_months``) and tests on the next
``test_months`` months; the folds are the last ``n_folds`` such windows, stepping by
``test_months`` and ending at the latest month.

``combined`` (:func:`combined_score`) is described in its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from hotspot.errors import HotspotInputError
from hotspot.grid import Grid
from hotspot.progress import resolve
from hotspot.records import Records

TIES = ("share", "index")
"""How cells tied at the cut-off score are treated; see the module docstring."""

Forecaster = Callable[[Records, Grid], np.ndarray]
"""A forecaster takes the training records and the grid and returns scores of shape ``grid.shape``."""


# --- selection and metrics -----------------------------------------------------------------------------


def _region(shape, mask: np.ndarray | None) -> np.ndarray:
    """The study-area cells: ``mask`` or every cell."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask has shape {mask.shape}, the scores {tuple(shape)}")
    return mask


def _cell_area_array(cell_areas, shape) -> np.ndarray:
    if cell_areas is None:
        return np.ones(shape, dtype=np.float64)
    areas = np.broadcast_to(np.asarray(cell_areas, dtype=np.float64), shape)
    if np.any(areas < 0):
        raise ValueError("cell_areas must be non-negative")
    return areas


def check_area_share(area_share: float) -> float:
    """``area_share`` as a float, or HotspotInputError unless 0 < area_share <= 1."""
    area_share = float(area_share)
    if not (0.0 < area_share <= 1.0):
        raise HotspotInputError(f"--area-share must be above 0 and at most 1 (0.01 = 1 % of the area), got {area_share:g}")
    return area_share


def _descending_order(scores_flat: np.ndarray, eligible_flat: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(eligible_flat)
    # lexsort: last key is primary -> score descending, then cell index ascending (deterministic ties).
    return idx[np.lexsort((idx, -scores_flat[idx]))]


def select_top_area(scores, area_share: float, cell_areas=None, mask=None) -> np.ndarray:
    """Whole cells with the highest scores covering ``area_share`` of the study area.

    Parameters
    ----------
    scores : ndarray, shape (nrows, ncols)
        Forecast scores; higher is more likely. NaN cells are never selected (they still count
        in the study area the budget is a share of).
    area_share : float
        Budget as a share of the study area, in (0, 1]; 0.01 = 1 %.
    cell_areas : float or ndarray, optional
        Area of each cell (any unit, e.g. m²). Default: all cells equal.
    mask : ndarray of bool, optional
        The study-area cells; cells outside are never selected. Default: every cell.

    Returns
    -------
    ndarray of bool, shape of ``scores``
        The fewest top cells whose area reaches the budget (at least one cell; all scored
        cells when they cannot fill it). Ties in score are broken by row-major cell position,
        north-west first, so runs repeat exactly.
    """
    scores = np.asarray(scores, dtype=np.float64)
    area_share = check_area_share(area_share)
    region = _region(scores.shape, mask)
    areas = _cell_area_array(cell_areas, scores.shape).ravel()
    order = _descending_order(scores.ravel(), (region & np.isfinite(scores)).ravel())
    selected = np.zeros(scores.size, dtype=bool)
    if order.size == 0:
        return selected.reshape(scores.shape)
    cumulative = np.cumsum(areas[order])
    target = area_share * float(areas[region.ravel()].sum())
    # Relative slack so a budget of exactly k equal cells is not pushed to k + 1 by rounding.
    k = int(np.searchsorted(cumulative, target * (1 - 1e-12), side="left")) + 1
    selected[order[: min(k, order.size)]] = True
    return selected.reshape(scores.shape)


def selection_weights(scores, area_share: float, *, cell_areas=None, mask=None, ties: str = "share") -> np.ndarray:
    """How much of each cell a forecast selects at the area budget: 0, 1, or a fraction at the cut-off.

    Parameters
    ----------
    scores : ndarray, shape (nrows, ncols)
        Forecast scores; NaN cells are never selected (they still count in the study area).
    area_share : float
        Budget as a share of the study area, in (0, 1].
    cell_areas : float or ndarray, optional
        Area of each cell (any unit). Default: all equal.
    mask : ndarray of bool, optional
        The study-area cells. Default: every cell.
    ties : {"share", "index"}, default "share"
        ``"share"``: the cut-off cells share the remaining budget (expected value over tie
        orders; the selected area equals the budget exactly unless too few cells have a
        score). ``"index"``: whole cells as :func:`select_top_area`.

    Returns
    -------
    ndarray of float64 in [0, 1], shape of ``scores``
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    scores = np.asarray(scores, dtype=np.float64)
    if ties == "index":
        return select_top_area(scores, area_share, cell_areas, mask).astype(np.float64)
    area_share = check_area_share(area_share)
    region = _region(scores.shape, mask)
    candidates = region & np.isfinite(scores)
    if cell_areas is None:
        return _equal_area_weights(scores, candidates, area_share * float(region.sum()))
    areas = _cell_area_array(cell_areas, scores.shape).ravel()
    order = _descending_order(scores.ravel(), candidates.ravel())
    weights = np.zeros(scores.size, dtype=np.float64)
    if order.size == 0:
        return weights.reshape(scores.shape)
    sorted_scores = scores.ravel()[order]
    group = np.concatenate([[0], np.cumsum(sorted_scores[1:] != sorted_scores[:-1])])
    group_area = np.bincount(group, weights=areas[order])
    end = np.cumsum(group_area)
    start = end - group_area
    target = area_share * float(areas[region.ravel()].sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(group_area > 0, (target - start) / group_area, 0.0)
    fraction = np.clip(fraction, 0.0, 1.0)
    fraction[fraction > 1 - 1e-9] = 1.0
    fraction[fraction < 1e-12] = 0.0
    weights[order] = fraction[group]
    return weights.reshape(scores.shape)


def _equal_area_weights(scores: np.ndarray, candidates: np.ndarray, k: float) -> np.ndarray:
    """``selection_weights`` for equal cells and a budget of ``k`` cells, finding the cut-off by partition."""
    weights = np.zeros(scores.shape, dtype=np.float64)
    values = scores[candidates]
    if values.size == 0:
        return weights
    if k >= values.size - 1e-9:
        weights[candidates] = 1.0
        return weights
    kk = min(max(int(math.ceil(k - 1e-9)), 1), values.size)
    cutoff = np.partition(values, values.size - kk)[values.size - kk]
    above = candidates & (scores > cutoff)
    tied = candidates & (scores == cutoff)
    fraction = (k - above.sum()) / tied.sum()
    fraction = 1.0 if fraction > 1 - 1e-9 else max(float(fraction), 0.0)
    weights[above] = 1.0
    weights[tied] = fraction
    return weights


@dataclass
class ForecastMetrics:
    """Metrics of one forecast against one test period (definitions in the module docstring).

    Attributes
    ----------
    hit_rate : float
        Share of the study area's test crimes in the selected cells, in [0, 1].
    pai : float
        hit_rate / area_selected.
    rri : float
        Recapture rate index; NaN without training counts or when the selection held none.
    area_selected : float
        Share of the study area selected (equals the budget with ``ties="share"``).
    n_test : float
        Test crimes in the study area.
    n_test_selected : float
        Test crimes in the selected cells (fractional at the cut-off with ``ties="share"``).
    """

    hit_rate: float
    pai: float
    rri: float
    area_selected: float
    n_test: float
    n_test_selected: float


def forecast_metrics(scores, test_counts, area_share: float = 0.01, *, train_counts=None, cell_areas=None,
                     mask=None, ties: str = "share") -> ForecastMetrics:
    """Hit rate, PAI and RRI of ``scores`` against ``test_counts`` at the area budget.

    Parameters
    ----------
    scores : ndarray, shape (nrows, ncols)
        Forecast scores.
    test_counts : ndarray, shape (nrows, ncols)
        Crimes per cell in the test period.
    area_share : float, default 0.01
        Budget as a share of the eligible area (0.01 = 1 %).
    train_counts : ndarray, shape (nrows, ncols), optional
        Crimes per cell in the training period; needed for RRI.
    cell_areas : float or ndarray, optional
        Area of each cell (any unit). Default: all equal.
    mask : ndarray of bool, optional
        The study-area cells: the budget is a share of their area and only test/training
        crimes in them count. Default: every cell.
    ties : {"share", "index"}, default "share"
        See :func:`selection_weights`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    test = np.asarray(test_counts, dtype=np.float64)
    if test.shape != scores.shape:
        raise ValueError(f"test_counts has shape {test.shape}, the scores {scores.shape}")
    region = _region(scores.shape, mask)
    areas = _cell_area_array(cell_areas, scores.shape)
    weight = selection_weights(scores, area_share, cell_areas=cell_areas, mask=mask, ties=ties)
    n_test = float(test[region].sum())
    n_sel = float((weight * test).sum())
    total_area = float(areas[region].sum())
    area_selected = float((weight * areas).sum()) / total_area if total_area > 0 else math.nan
    hit = n_sel / n_test if n_test > 0 else math.nan
    pai_value = hit / area_selected if area_selected and area_selected > 0 else math.nan
    rri_value = math.nan
    if train_counts is not None:
        train = np.asarray(train_counts, dtype=np.float64)
        if train.shape != scores.shape:
            raise ValueError(f"train_counts has shape {train.shape}, the scores {scores.shape}")
        n_train = float(train[region].sum())
        train_sel = float((weight * train).sum())
        if train_sel > 0 and n_train > 0 and n_test > 0:
            rri_value = (n_sel / train_sel) / (n_test / n_train)
    return ForecastMetrics(hit, pai_value, rri_value, area_selected, n_test, n_sel)


def hit_rate(scores, test_counts, area_share: float = 0.01, *, cell_areas=None, mask=None, ties: str = "share") -> float:
    """Share of test crimes falling in the cells selected at the area budget (see the module docstring).

    Parameters are those of :func:`forecast_metrics`.
    """
    return forecast_metrics(scores, test_counts, area_share, cell_areas=cell_areas, mask=mask, ties=ties).hit_rate


def pai(scores, test_counts, area_share: float = 0.01, *, cell_areas=None, mask=None, ties: str = "share") -> float:
    """Predictive accuracy index: hit rate / share of the area actually selected.

    Parameters are those of :func:`forecast_metrics`.
    """
    return forecast_metrics(scores, test_counts, area_share, cell_areas=cell_areas, mask=mask, ties=ties).pai


def rri(scores, test_counts, train_counts, area_share: float = 0.01, *, cell_areas=None, mask=None,
        ties: str = "share") -> float:
    """Recapture rate index: (test / training crimes in the selection) / (all test / all training crimes).

    Parameters are those of :func:`forecast_metrics`; ``train_counts`` are the training period's
    crimes per cell.
    """
    return forecast_metrics(scores, test_counts, area_share, train_counts=train_counts, cell_areas=cell_areas,
                            mask=mask, ties=ties).rri


# --- months ----------------------------------------------------------------------------------------------


def _month_index(months) -> np.ndarray:
    """``YYYY-MM`` strings to integer months (year * 12 + month - 1)."""
    codes, uniques = pd.factorize(pd.Series(months, dtype=object).astype(str), use_na_sentinel=False)
    text = pd.Series(uniques, dtype=object)
    parts = text.str.extract(r"^(\d{4})-(\d{2})$")
    if parts.isna().any().any():
        bad = text[parts.isna().any(axis=1)].iloc[0]
        raise HotspotInputError(f"month {bad!r} is not YYYY-MM; the backtest needs a month on every record")
    parsed = parts[0].astype(np.int64).to_numpy() * 12 + parts[1].astype(np.int64).to_numpy() - 1
    return parsed[codes]


def _month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _subset(records: Records, keep: np.ndarray) -> Records:
    return Records(records.frame.loc[keep].reset_index(drop=True), records.crs, records.rejected.iloc[0:0],
                   records.has_times, list(records.sources))


# --- combined --------------------------------------------------------------------------------------------

COMBINED_SUMMARY = (
    "recency-weighted counts per cell (half-life 1-12 months or none) blended with a 150 or 300 m quartic density "
    "of the same counts (and the RTM score when risk features exist); the half-life and blend weights are those "
    "with the best hit rate when predicting each of the last 3 months of the input from the months before it"
)
"""One sentence describing ``combined`` for help texts and reports."""

COMBINED_DEFAULT_WEIGHTS = {"half_life_months": 6.0, "kde_weight": 0.1, "bandwidth_m": 150.0, "rtm_weight": 0.0}
"""Weights ``combined`` uses when too few months exist to choose them (fewer than 3)."""

COMBINED_HALF_LIVES = (1.0, 3.0, 6.0, 12.0, math.inf)
COMBINED_KDE_WEIGHTS = (0.0, 0.02, 0.1, 0.3)
COMBINED_BANDWIDTHS_M = (150.0, 300.0)
COMBINED_RTM_WEIGHTS = (0.0, 0.05, 0.2)


def combined_candidates(with_rtm: bool = False) -> list[dict]:
    """The weight settings ``combined`` chooses among, simplest first (ties go to the earlier one)."""
    out = []
    for h in COMBINED_HALF_LIVES:
        for b_rtm in (COMBINED_RTM_WEIGHTS if with_rtm else (0.0,)):
            out.append({"half_life_months": h, "kde_weight": 0.0, "bandwidth_m": COMBINED_BANDWIDTHS_M[0], "rtm_weight": b_rtm})
            for a in COMBINED_KDE_WEIGHTS[1:]:
                for bw in COMBINED_BANDWIDTHS_M:
                    out.append({"half_life_months": h, "kde_weight": a, "bandwidth_m": bw, "rtm_weight": b_rtm})
    return out


def _quartic_kernel(cell_size_m: float, bandwidth_m: float) -> np.ndarray:
    """Quartic (biweight) weights on the cell-centre offsets within ``bandwidth_m``, summing to 1."""
    r = int(math.floor(bandwidth_m / cell_size_m))
    offsets = np.arange(-r, r + 1) * cell_size_m
    dx, dy = np.meshgrid(offsets, offsets)
    u2 = (dx * dx + dy * dy) / (bandwidth_m * bandwidth_m)
    kernel = np.where(u2 < 1.0, (1.0 - u2) ** 2, 0.0)
    return kernel / kernel.sum()


def _smooth(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each (nrows, ncols) layer of ``stack`` with ``kernel`` (same size, zero outside the grid)."""
    from scipy import ndimage

    if kernel.shape == (1, 1):
        return stack.copy()
    return ndimage.convolve(stack, kernel[None, :, :], mode="constant", cval=0.0)


class _CombinedLayers:
    """Monthly count grids and their smoothed versions, so any weight setting is a cheap weighted sum.

    Only cells that are non-zero in some layer are stored (``cells``, flat indices); the rest score 0.
    """

    def __init__(self, records: Records, grid: Grid, bandwidths, last_month: int):
        frame = records.frame
        months = _month_index(frame["month"]) if len(frame) else np.zeros(0, dtype=np.int64)
        keep = months <= last_month
        first = int(months[keep].min()) if keep.any() else last_month
        self.grid = grid
        self.months = np.arange(first, last_month + 1)
        flat, inside = grid.flat_index(frame["x"].to_numpy(np.float64)[keep], frame["y"].to_numpy(np.float64)[keep])
        m = months[keep][inside] - first
        full = np.bincount(m * grid.size + flat[inside], minlength=self.months.size * grid.size)
        full = full.reshape(self.months.size, grid.nrows, grid.ncols).astype(np.float64)
        smoothed = {float(b): _smooth(full, _quartic_kernel(grid.cell_size, b)) for b in set(bandwidths)}
        active = (full > 0).any(axis=0)
        for layer in smoothed.values():
            active |= (layer > 0).any(axis=0)
        self.cells = np.flatnonzero(active)
        self.counts = full.reshape(self.months.size, -1)[:, self.cells]
        self.smoothed = {b: layer.reshape(self.months.size, -1)[:, self.cells] for b, layer in smoothed.items()}

    def month_counts(self, month: int) -> np.ndarray:
        """Counts per cell in one (integer) month, shape ``grid.shape``."""
        return self._full(self.counts[month - self.months[0]])

    def _full(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(self.grid.size, dtype=np.float64)
        out[self.cells] = values
        return out.reshape(self.grid.shape)

    def score(self, weights: Mapping[str, float], upto: int, rtm_share: np.ndarray | None) -> np.ndarray:
        """The combined score from months up to and including ``upto`` (an integer month), shape ``grid.shape``."""
        n = int(upto - self.months[0] + 1)
        if n < 1:
            return np.zeros(self.grid.shape) if rtm_share is None else rtm_share.copy()
        age = (self.months[n - 1] - self.months[:n]).astype(np.float64)
        h = float(weights["half_life_months"])
        recency = np.ones(n) if math.isinf(h) else 0.5 ** (age / h)
        a = float(weights.get("kde_weight", 0.0))
        c = float(weights.get("rtm_weight", 0.0)) if rtm_share is not None else 0.0
        values = (1.0 - a - c) * _share(recency @ self.counts[:n])
        if a > 0:
            values = values + a * _share(recency @ self.smoothed[float(weights["bandwidth_m"])][:n])
        score = self._full(values)
        if c > 0:
            score = score + c * rtm_share
        return score


def _share(layer: np.ndarray) -> np.ndarray:
    total = float(np.nansum(layer))
    return layer / total if total > 0 else np.zeros_like(layer)


def _rtm_share(rtm_score, grid: Grid) -> np.ndarray | None:
    if rtm_score is None:
        return None
    rtm = np.asarray(rtm_score, dtype=np.float64)
    if rtm.shape != grid.shape:
        raise ValueError(f"rtm_score has shape {rtm.shape}, the grid is {grid.shape}")
    return _share(np.clip(np.nan_to_num(rtm, nan=0.0), 0.0, None))


@dataclass
class CombinedFit:
    """How ``combined`` chose its weights.

    Attributes
    ----------
    weights : dict
        ``half_life_months``, ``kde_weight``, ``bandwidth_m`` (metres), ``rtm_weight``.
    validation : pandas.DataFrame
        One row per candidate with its mean hit rate over the validation months (empty when the
        defaults were used).
    validation_months : list of str
        The validation windows (``YYYY-MM`` or ``YYYY-MM..YYYY-MM``), each predicted from the
        months before it.
    horizon_months : int
        Length of each validation window in months.
    """

    weights: dict
    validation: pd.DataFrame = field(default_factory=pd.DataFrame)
    validation_months: list = field(default_factory=list)
    horizon_months: int = 1


def tune_combined(records: Records, grid: Grid, *, area_share: float = 0.01, mask=None, rtm_score=None,
                  reference_month: str | None = None, n_validation: int = 3, candidates: list[dict] | None = None,
                  horizon_months: int = 1, progress=None) -> CombinedFit:
    """Choose ``combined``'s weights by a backtest inside ``records`` (never beyond ``reference_month``).

    Each of the last ``n_validation`` windows of ``horizon_months`` months ending at or before
    ``reference_month`` (stepping back a month at a time) is predicted from the months before
    it; the candidate with the highest mean hit rate at ``area_share`` wins (ties: the simpler,
    earlier candidate). A window is cut to half the history when the history is short (12
    months of history and a 12-month horizon validate on 5-month windows). Needs at least 3
    months, else the defaults :data:`COMBINED_DEFAULT_WEIGHTS` are returned.

    Parameters
    ----------
    records : Records
        Training records; months after ``reference_month`` are ignored.
    grid : Grid
        The grid scores are made on (cell size in metres).
    area_share : float, default 0.01
        Area budget the weights are tuned for (0.01 = 1 % of the eligible area).
    mask : ndarray of bool, optional
        Eligible cells (the study area). Default: all cells.
    rtm_score : ndarray, shape (nrows, ncols), optional
        A risk terrain score (any non-negative scale); adds RTM weights to the candidates.
    reference_month : str, optional
        ``YYYY-MM``: the last month that may be used. Default: the latest month in ``records``.
    n_validation : int, default 3
        Months used for validation (fewer when history is short; each needs 2 earlier months).
    candidates : list of dict, optional
        Weight settings to try. Default: :func:`combined_candidates`.
    horizon_months : int, default 1
        How many months ahead the forecast is for (the backtest's ``test_months``).
    progress : callable, optional
        ``progress(stage, done, total)``.
    """
    rtm_share = _rtm_share(rtm_score, grid)
    candidates = candidates or combined_candidates(rtm_share is not None)
    if len(records) == 0:
        return CombinedFit(dict(COMBINED_DEFAULT_WEIGHTS))
    last = _last_month(records, reference_month)
    layers = _CombinedLayers(records, grid, [c["bandwidth_m"] for c in candidates], last)
    return _tune_layers(layers, candidates, area_share, mask, rtm_share, n_validation, progress, horizon_months)


def _last_month(records: Records, reference_month: str | None) -> int:
    if reference_month:
        return int(_month_index([reference_month])[0])
    return int(_month_index(records.frame["month"]).max())


def _tune_layers(layers: _CombinedLayers, candidates, area_share, mask, rtm_share, n_validation, progress,
                 horizon_months: int = 1) -> CombinedFit:
    n_months = layers.months.size
    # Validation windows as long as the forecast horizon, but leaving each at least half the history.
    h = max(1, min(int(horizon_months), (n_months - 2) // 2))
    n_val = min(int(n_validation), n_months - 2 - h + 1)
    if n_val < 1:
        return CombinedFit(dict(COMBINED_DEFAULT_WEIGHTS))
    report = resolve(progress)
    ends = layers.months[n_months - n_val:]
    hits = np.zeros((len(candidates), n_val))
    for j, end in enumerate(ends):
        origin = int(end) - h + 1
        test = sum(layers.month_counts(m) for m in range(origin, int(end) + 1))
        for i, cand in enumerate(candidates):
            score = layers.score(cand, origin - 1, rtm_share)
            hits[i, j] = forecast_metrics(score, test, area_share, mask=mask).hit_rate
        report("tuning combined", j + 1, n_val)
    mean = np.where(np.isnan(hits), 0.0, hits).mean(axis=1)
    best = int(np.argmax(mean))
    table = pd.DataFrame(candidates)
    table["mean_hit_rate"] = mean
    windows = [f"{_month_text(int(e) - h + 1)}..{_month_text(int(e))}" if h > 1 else _month_text(int(e)) for e in ends]
    return CombinedFit(dict(candidates[best]), table, windows, h)


def _combined(records: Records, grid: Grid, weights, reference_month, rtm_score, area_share, mask, progress,
              horizon_months: int = 1):
    """The combined score and the fit that chose its weights (one pass over the records)."""
    rtm_share = _rtm_share(rtm_score, grid)
    if len(records) == 0:
        return np.zeros(grid.shape), CombinedFit(dict(COMBINED_DEFAULT_WEIGHTS))
    last = _last_month(records, reference_month)
    if weights is None:
        candidates = combined_candidates(rtm_share is not None)
        layers = _CombinedLayers(records, grid, [c["bandwidth_m"] for c in candidates], last)
        fit = _tune_layers(layers, candidates, area_share, mask, rtm_share, 3, progress, horizon_months)
    else:
        fit = CombinedFit({**COMBINED_DEFAULT_WEIGHTS, **dict(weights)})
        layers = _CombinedLayers(records, grid, [fit.weights["bandwidth_m"]], last)
    return layers.score(fit.weights, last, rtm_share), fit


def combined_score(records: Records, grid: Grid, *, weights: Mapping[str, float] | None = None,
                   reference_month: str | None = None, rtm_score=None, area_share: float = 0.01, mask=None,
                   horizon_months: int = 1, progress=None) -> np.ndarray:
    """The ``combined`` forecast: recency-weighted counts at each cell, blended with a small-bandwidth density.

    ``combined`` = (1 - a - c) x R / sum(R) + a x K / sum(K) + c x Q / sum(Q), where

    - R is the recency-weighted count of records in each cell: a record ``k`` months older than
      ``reference_month`` counts 0.5 ** (k / half_life_months) (police.uk snaps records to fixed
      anonymisation points, so past counts at a point are the strongest single predictor);
    - K is R smoothed with a quartic kernel of radius ``bandwidth_m`` metres over the cell
      centres (binned: records at their cell centre), so cells next to busy points rank above
      empty ones with equal counts;
    - Q is the risk terrain score (``rtm_score``, clipped at 0), when given.

    The weights (half-life in months, a, the bandwidth in metres, c) are chosen by
    :func:`tune_combined`: a backtest inside the given records predicting each of their last 3
    months (windows of ``horizon_months``) from the months before it, picking the setting with
    the best hit rate at ``area_share`` among :func:`combined_candidates`. Only the records passed in are used, so in :func:`backtest` the choice sees
    training months only, never the test period. With fewer than 3 months the defaults
    :data:`COMBINED_DEFAULT_WEIGHTS` are used.

    Parameters
    ----------
    records : Records
        Records with a ``month``; months after ``reference_month`` are ignored.
    grid : Grid
        The grid to score (cell size in metres).
    weights : dict, optional
        ``half_life_months`` (months; ``inf`` = no decay), ``kde_weight`` (a, 0-1),
        ``bandwidth_m`` (metres), ``rtm_weight`` (c, 0-1). Default: chosen by :func:`tune_combined`.
    reference_month : str, optional
        ``YYYY-MM`` the ages are counted from (age 0). Default: the latest month in ``records``.
    rtm_score : ndarray, shape (nrows, ncols), optional
        Risk terrain score on ``grid``.
    area_share : float, default 0.01
        Area budget the weights are tuned for.
    mask : ndarray of bool, optional
        Eligible cells for tuning. Default: all cells.
    horizon_months : int, default 1
        Months ahead the forecast is for; the weights are tuned on windows this long.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    ndarray of float64, shape (nrows, ncols)
        Non-negative scores summing to 1 over the grid (0 everywhere without records).
    """
    return _combined(records, grid, weights, reference_month, rtm_score, area_share, mask, progress, horizon_months)[0]


# --- forecasters and the backtest -------------------------------------------------------------------------


def _counts(records: Records, grid: Grid) -> np.ndarray:
    return grid.count(records.frame["x"].to_numpy(np.float64), records.frame["y"].to_numpy(np.float64))


class PreviousPeriod:
    """Naive baseline: each cell's count in the last ``months`` months of training."""

    def __init__(self, months: int = 1):
        self.months = int(months)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(grid.shape)
        m = _month_index(train.frame["month"])
        return _counts(_subset(train, m > m.max() - self.months), grid)


def counts_all(train: Records, grid: Grid) -> np.ndarray:
    """Each cell's count over all training months."""
    return _counts(train, grid)


class KDEForecaster:
    """Quartic kernel density of the training records (``hotspot.kde``), radius ``bandwidth_m`` metres."""

    def __init__(self, bandwidth_m: float = 400.0):
        self.bandwidth_m = float(bandwidth_m)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        from hotspot.kde import kernel_density

        if len(train) == 0:
            return np.zeros(grid.shape)
        result = kernel_density(train.frame["x"].to_numpy(np.float64), train.frame["y"].to_numpy(np.float64), grid,
                                bandwidth_m=self.bandwidth_m, kernel="quartic", units="per-cell")
        return np.nan_to_num(np.asarray(result.surface, dtype=np.float64), nan=0.0)


def _rtm_array(result, grid: Grid) -> np.ndarray:
    """The relative risk array of an ``rtm.build`` result, shape ``grid.shape`` (NaN -> 0)."""
    for name in ("risk", "relative_risk"):
        value = getattr(result, name, None)
        value = value() if callable(value) else value
        if value is not None:
            break
    else:
        value = getattr(getattr(result, "surface", None), "relative_risk", None)
    if value is None:
        raise ValueError("the RTM result carries no relative risk array")
    value = np.nan_to_num(np.asarray(value, dtype=np.float64), nan=0.0)
    if value.shape != grid.shape:
        raise ValueError(f"the RTM risk has shape {value.shape}, the grid is {grid.shape}")
    return value


class RTMForecaster:
    """Risk terrain relative risk fitted on the training records only (``rtm.build``), as a forecaster.

    The last fold's result is kept, so ``combined`` with RTM reuses the model fitted for ``rtm``
    on the same training records instead of fitting it twice.
    """

    def __init__(self, features, *, study_area=None, seed: int = 0):
        self.features = features
        self.study_area = study_area
        self.seed = seed
        self._last: tuple | None = None

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        # The submodule import works even when a stale install left ``rtm`` a namespace package.
        from rtm.pipeline import build

        months = train.frame["month"]
        key = (id(train), len(train), months.min() if len(train) else "", months.max() if len(train) else "", grid)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        result = build(train, self.features, grid=grid, study_area=self.study_area, seed=self.seed)
        score = _rtm_array(result, grid)
        self._last = (key, score)
        return score


class CombinedForecaster:
    """``combined`` as a forecaster; remembers the weights chosen in each fold (``chosen``).

    ``rtm`` (a forecaster, e.g. :class:`RTMForecaster`) adds a per-fold RTM layer fitted on the
    same training records; ``rtm_score`` a fixed one.
    """

    def __init__(self, *, area_share: float = 0.01, mask=None, rtm_score=None, horizon_months: int = 1, rtm=None):
        self.area_share = area_share
        self.horizon_months = horizon_months
        self.mask = mask
        self.rtm_score = rtm_score
        self.rtm = rtm
        self.chosen: list[dict] = []

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(grid.shape)
        rtm_score = self.rtm(train, grid) if self.rtm is not None else self.rtm_score
        score, fit = _combined(train, grid, None, None, rtm_score, self.area_share, self.mask, None,
                               self.horizon_months)
        self.chosen.append(fit.weights)
        return score


def default_forecasters(*, test_months: int = 1, area_share: float = 0.01, mask=None, rtm_score=None,
                        kde_bandwidth_m: float = 400.0, features=None, study_area=None,
                        seed: int = 0) -> dict[str, Forecaster]:
    """The standard methods a backtest compares.

    Parameters
    ----------
    test_months : int, default 1
        Length of the test period; ``previous_period`` uses the same number of last training
        months and ``combined`` tunes its weights for this horizon.
    area_share : float, default 0.01
        Area budget ``combined`` tunes its weights for.
    mask : ndarray of bool, optional
        Eligible cells for ``combined``'s tuning.
    rtm_score : ndarray, optional
        Risk terrain score on the grid, an extra layer for ``combined``.
    kde_bandwidth_m : float, default 400
        Search radius in metres of the KDE baseline.
    features : dict of str -> GeoDataFrame, optional
        Risk features; adds ``rtm`` (risk terrain model fitted on each fold's training records)
        and ``combined_rtm`` (``combined`` with that RTM score as an extra layer). Slow: one RTM
        fit per fold.
    study_area : GeoDataFrame or shapely geometry, optional
        Study area for the RTM.
    seed : int, default 0
        Seed of the RTM's cross-validation.

    Returns
    -------
    dict
        ``previous_period`` (naive baseline: the last training period's counts), ``counts_all``
        (all training months' counts), ``kde_400m`` (quartic KDE; left out when
        ``hotspot.kde`` is unavailable), ``combined`` (:func:`combined_score`), and with
        ``features`` also ``rtm`` and ``combined_rtm``.
    """
    methods: dict[str, Forecaster] = {"previous_period": PreviousPeriod(test_months), "counts_all": counts_all}
    try:
        import hotspot.kde  # noqa: F401

        methods[f"kde_{kde_bandwidth_m:g}m"] = KDEForecaster(kde_bandwidth_m)
    except ImportError:
        pass
    methods["combined"] = CombinedForecaster(area_share=area_share, mask=mask, rtm_score=rtm_score,
                                             horizon_months=test_months)
    if features:
        rtm_forecaster = RTMForecaster(features, study_area=study_area, seed=seed)
        methods["rtm"] = rtm_forecaster
        methods["combined_rtm"] = CombinedForecaster(area_share=area_share, mask=mask, horizon_months=test_months,
                                                     rtm=rtm_forecaster)
    return methods


@dataclass
class BacktestResult:
    """Results of :func:`backtest`.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per fold and method: fold, train_from, train_to, test_from, test_to, method,
        hit_rate, pai, rri, area_selected, n_test.
    summary : pandas.DataFrame
        One row per method: the mean of hit_rate, pai and rri over folds, and the number of folds.
    area_share : float
        The area budget.
    notes : list of str
        What the reader should know (e.g. the weights ``combined`` chose).
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    area_share: float
    notes: list = field(default_factory=list)


def backtest(records: Records, grid: Grid, forecasters: Mapping[str, Forecaster], *, area_share: float = 0.01,
             train_months: int | None = None, test_months: int = 1, n_folds: int | None = None, mask=None,
             progress=None) -> BacktestResult:
    """Rolling-origin backtest of forecasters over months.

    Parameters
    ----------
    records : Records
        Records with ``month`` (``YYYY-MM``) and x/y in metres in ``grid.crs``.
    grid : Grid
        The grid forecasts are scored on (cell size in metres).
    forecasters : dict of name -> callable(train_records, grid) -> scores (nrows, ncols)
        Methods to compare, e.g. :func:`default_forecasters`.
    area_share : float, default 0.01
        Area budget as a share of the eligible area (0.01 = 1 %).
    train_months : int, optional
        Training window in months before each test window. Default: all earlier months.
    test_months : int, default 1
        Length of each test window in months; folds step forward by this much.
    n_folds : int, optional
        Keep only the last ``n_folds`` folds. Default: every fold with a full training window
        (at least ``test_months`` months when ``train_months`` is None).
    mask : ndarray of bool, optional
        Eligible cells (the study area); crimes elsewhere are not counted. Default: all cells.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    BacktestResult
    """
    area_share = check_area_share(area_share)
    if test_months < 1:
        raise HotspotInputError(f"--test-months must be at least 1, got {test_months}")
    if train_months is not None and train_months < 1:
        raise HotspotInputError(f"--train-months must be at least 1, got {train_months}")
    if n_folds is not None and n_folds < 1:
        raise HotspotInputError(f"--folds must be at least 1, got {n_folds}")
    if not forecasters:
        raise ValueError("no forecasters to compare")
    if len(records) == 0:
        raise HotspotInputError("no records to backtest; check the input and the filters")
    months = _month_index(records.frame["month"])
    first, last = int(months.min()), int(months.max())
    min_train = train_months if train_months is not None else test_months
    starts = list(range(last - test_months + 1, first + min_train - 1, -test_months))[::-1]
    if n_folds is not None:
        starts = starts[-n_folds:]
    if not starts:
        span = last - first + 1
        raise HotspotInputError(
            f"the records span {span} month(s) ({_month_text(first)} to {_month_text(last)}); a fold needs "
            f"{min_train} training + {test_months} test months; lower --train-months/--test-months or add months"
        )
    x = records.frame["x"].to_numpy(np.float64)
    y = records.frame["y"].to_numpy(np.float64)
    report = resolve(progress)
    rows = []
    total = len(starts) * len(forecasters)
    done = 0
    for fold, start in enumerate(starts, 1):
        train_from = first if train_months is None else start - train_months
        in_train = (months >= train_from) & (months < start)
        in_test = (months >= start) & (months < start + test_months)
        train = _subset(records, in_train)
        train_counts = grid.count(x[in_train], y[in_train])
        test_counts = grid.count(x[in_test], y[in_test])
        for name, forecaster in forecasters.items():
            scores = np.asarray(forecaster(train, grid), dtype=np.float64)
            if scores.shape != grid.shape:
                raise ValueError(f"forecaster {name!r} returned shape {scores.shape}, the grid is {grid.shape}")
            m = forecast_metrics(scores, test_counts, area_share, train_counts=train_counts, mask=mask)
            rows.append({
                "fold": fold, "train_from": _month_text(max(train_from, first)), "train_to": _month_text(start - 1),
                "test_from": _month_text(start), "test_to": _month_text(start + test_months - 1), "method": name,
                "hit_rate": m.hit_rate, "pai": m.pai, "rri": m.rri, "area_selected": m.area_selected,
                "n_test": int(round(m.n_test)),
            })
            done += 1
            report("backtest", done, total)
    folds = pd.DataFrame(rows)
    summary = (folds.groupby("method", sort=False)[["hit_rate", "pai", "rri"]].mean().reset_index())
    summary["n_folds"] = len(starts)
    notes = []
    for name, forecaster in forecasters.items():
        chosen = getattr(forecaster, "chosen", None)
        if chosen:
            text = "; ".join(_describe_weights(w) for w in chosen[-len(starts):])
            notes.append(f"{name} weights by fold: {text}")
    return BacktestResult(folds, summary, area_share, notes)


def _describe_weights(w: Mapping[str, float]) -> str:
    h = w["half_life_months"]
    half = "no decay" if math.isinf(h) else f"half-life {h:g} mo"
    text = f"{half}, kde {w['kde_weight']:g} at {w['bandwidth_m']:g} m"
    if w.get("rtm_weight", 0):
        text += f", rtm {w['rtm_weight']:g}"
    return text
