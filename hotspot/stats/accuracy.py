"""Selection at an area budget and the metrics of a forecast: hit rate, PAI, PEI*, RRI, compactness.

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

PEI* (predictive efficiency index, Hunt 2016)
    PAI / the best PAI any selection of the same area could reach (the test period's own top
    cells), in [0, 1]: how much of the attainable concentration the forecast found.
compactness
    ``n_places``: 8-connected groups of selected whole cells (``ties="index"``), and
    ``mean_place_area``: the selected area / n_places, in the unit of ``cell_areas`` (m² in the
    backtest). Fewer, larger places are easier to patrol than scattered single cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotspot.core.errors import HotspotInputError

TIES = ("share", "index")
"""How cells tied at the cut-off score are treated; see the module docstring."""


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
        raise HotspotInputError(
            f"--area-share must be above 0 and at most 1 (0.01 = 1 % of the area), got {area_share:g}"
        )
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
    positive = values[values > 0]
    # When the positive scores fill the budget the cut-off is among them: partition those alone.
    pool = positive if positive.size >= kk else values
    cutoff = np.partition(pool, pool.size - kk)[pool.size - kk]
    above = candidates & (scores > cutoff)
    tied = candidates & (scores == cutoff)
    fraction = (k - above.sum()) / tied.sum()
    fraction = 1.0 if fraction > 1 - 1e-9 else max(float(fraction), 0.0)
    weights[above] = 1.0
    weights[tied] = fraction
    return weights


@dataclass(frozen=True)
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
    pei : float
        PEI*: pai / the best PAI at the same area (the test period's own top cells), in [0, 1].
    n_places : float
        8-connected groups of selected whole cells; NaN unless ``compactness=True``.
    mean_place_area : float
        Selected area / n_places in the unit of ``cell_areas``; NaN unless ``compactness=True``.
    """

    hit_rate: float
    pai: float
    rri: float
    area_selected: float
    n_test: float
    n_test_selected: float
    pei: float = math.nan
    n_places: float = math.nan
    mean_place_area: float = math.nan


def forecast_metrics(
    scores,
    test_counts,
    area_share: float = 0.01,
    *,
    train_counts=None,
    cell_areas=None,
    mask=None,
    ties: str = "share",
    compactness: bool = False,
) -> ForecastMetrics:
    """Hit rate, PAI, PEI*, RRI (and compactness) of ``scores`` against ``test_counts`` at the area budget.

    Parameters
    ----------
    scores : ndarray, shape (nrows, ncols)
        Forecast scores.
    test_counts : ndarray, shape (nrows, ncols)
        Crimes (or harm) per cell in the test period.
    area_share : float, default 0.01
        Budget as a share of the eligible area (0.01 = 1 %).
    train_counts : ndarray, shape (nrows, ncols), optional
        Crimes per cell in the training period; needed for RRI.
    cell_areas : float or ndarray, optional
        Area of each cell (any unit, e.g. m²). Default: all cells equal (1).
    mask : ndarray of bool, optional
        The study-area cells: the budget is a share of their area and only test/training
        crimes in them count. Default: every cell.
    ties : {"share", "index"}, default "share"
        See :func:`selection_weights`.
    compactness : bool, default False
        Also count the places (8-connected groups of the whole cells :func:`select_top_area`
        picks) and their mean area.
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
    best_weight = selection_weights(
        np.where(region, test, np.nan), area_share, cell_areas=cell_areas, mask=mask, ties="share"
    )
    best_area = float((best_weight * areas).sum()) / total_area if total_area > 0 else math.nan
    best_hit = float((best_weight * test).sum()) / n_test if n_test > 0 else math.nan
    pei_value = pai_value / (best_hit / best_area) if best_hit and best_area else math.nan
    n_places = mean_area = math.nan
    if compactness:
        n_places, mean_area = place_compactness(select_top_area(scores, area_share, cell_areas, mask), areas)
    return ForecastMetrics(hit, pai_value, rri_value, area_selected, n_test, n_sel, pei_value, n_places, mean_area)


def place_compactness(selected: np.ndarray, cell_areas=None) -> tuple[float, float]:
    """Number of 8-connected groups of ``selected`` cells and their mean area (unit of ``cell_areas``)."""
    from scipy import ndimage

    selected = np.asarray(selected, dtype=bool)
    areas = _cell_area_array(cell_areas, selected.shape)
    _, n = ndimage.label(selected, structure=np.ones((3, 3), dtype=int))
    if n == 0:
        return 0.0, math.nan
    return float(n), float(areas[selected].sum()) / n


def pei(scores, test_counts, area_share: float = 0.01, *, cell_areas=None, mask=None, ties: str = "share") -> float:
    """PEI*: PAI / the best PAI at the same area. Parameters are those of :func:`forecast_metrics`."""
    return forecast_metrics(scores, test_counts, area_share, cell_areas=cell_areas, mask=mask, ties=ties).pei


def budget_hits(values: np.ndarray, test: np.ndarray, budget_cells: float, n_region: int, test_total: float) -> float:
    """Test crimes captured by the top ``budget_cells`` equal cells, from the non-zero cells only.

    The fast path of :func:`selection_weights` (``ties="share"``, equal cells) for sparse
    forecasts: ``values`` and ``test`` hold the scores and test counts of the study-area cells
    that may score above 0 (any order); the other ``n_region - values.size`` study-area cells
    score 0 and hold ``test_total - test.sum()`` test crimes. Cells tied at the cut-off (the
    zero-score cells included) share the remaining budget.

    Parameters
    ----------
    values, test : ndarray, shape (n,)
        Scores (>= 0) and test counts of the listed cells.
    budget_cells : float
        The budget in cells (area share x study-area cells).
    n_region : int
        Cells in the study area.
    test_total : float
        Test crimes in the whole study area.

    Returns
    -------
    float
        Test crimes in the selection (fractional at the cut-off).
    """
    if math.isnan(float(values.sum())):
        values = np.where(np.isnan(values), 0.0, values)  # a cell without a score scores nothing
    n_pos = int(np.count_nonzero(values))  # scores are >= 0: the non-zero ones are the positive ones
    if n_pos <= budget_cells:
        captured = float(test[values > 0].sum())
        n_zero = n_region - n_pos
        if n_zero <= 0:
            return captured
        share = min(max((budget_cells - n_pos) / n_zero, 0.0), 1.0)
        return captured + share * (test_total - captured)
    # The cut-off among all listed cells is the one among the positive cells (zeros sort below it), and the
    # cells above and at it are positive, in the same order: the same sums without copying out the positive
    # cells first (Bedfordshire, 68 k listed cells: ~1 ms -> ~0.3 ms a call, ~500 calls a rank).
    kk = min(max(int(math.ceil(budget_cells - 1e-9)), 1), n_pos)
    cutoff = k_largest(values, kk).min()
    above = values > cutoff
    tied = values == cutoff
    fraction = (budget_cells - np.count_nonzero(above)) / np.count_nonzero(tied)
    fraction = 1.0 if fraction > 1 - 1e-9 else max(float(fraction), 0.0)
    return float(test[above].sum()) + fraction * float(test[tied].sum())


def hit_rate(
    scores, test_counts, area_share: float = 0.01, *, cell_areas=None, mask=None, ties: str = "share"
) -> float:
    """Share of test crimes falling in the cells selected at the area budget (see the module docstring).

    Parameters are those of :func:`forecast_metrics`; the value is its ``hit_rate``, without the best
    selection PEI* needs (radius choice and ``combined`` tuning call this once per candidate).
    """
    scores = np.asarray(scores, dtype=np.float64)
    test = np.asarray(test_counts, dtype=np.float64)
    if test.shape != scores.shape:
        raise ValueError(f"test_counts has shape {test.shape}, the scores {scores.shape}")
    region = _region(scores.shape, mask)
    weight = selection_weights(scores, area_share, cell_areas=cell_areas, mask=mask, ties=ties)
    n_test = float(test[region].sum())
    return float((weight * test).sum()) / n_test if n_test > 0 else math.nan


def pai(scores, test_counts, area_share: float = 0.01, *, cell_areas=None, mask=None, ties: str = "share") -> float:
    """Predictive accuracy index: hit rate / share of the area actually selected.

    Parameters are those of :func:`forecast_metrics`.
    """
    return forecast_metrics(scores, test_counts, area_share, cell_areas=cell_areas, mask=mask, ties=ties).pai


def rri(
    scores, test_counts, train_counts, area_share: float = 0.01, *, cell_areas=None, mask=None, ties: str = "share"
) -> float:
    """Recapture rate index: (test / training crimes in the selection) / (all test / all training crimes).

    Parameters are those of :func:`forecast_metrics`; ``train_counts`` are the training period's
    crimes per cell.
    """
    return forecast_metrics(
        scores, test_counts, area_share, train_counts=train_counts, cell_areas=cell_areas, mask=mask, ties=ties
    ).rri


def metrics_at_budgets(
    scores, test_counts, area_shares, *, train_counts=None, mask=None, cell_area: float = 1.0
) -> list[ForecastMetrics]:
    """:func:`forecast_metrics` (``ties="share"``, equal cells, with compactness) at several budgets at once.

    Results equal those of :func:`forecast_metrics` with ``cell_areas=cell_area`` and
    ``compactness=True`` (checked in the tests); :class:`BudgetScorer` does the work and is
    faster still when many forecasts are scored against the same test period.

    Parameters
    ----------
    scores, test_counts : ndarray, shape (nrows, ncols)
        Forecast scores (NaN never selected) and test-period crimes per cell.
    area_shares : sequence of float
        Budgets as shares of the study area, each in (0, 1].
    train_counts : ndarray, optional
        Training-period crimes per cell, for RRI.
    mask : ndarray of bool, optional
        The study-area cells. Default: every cell.
    cell_area : float, default 1
        Area of one cell (m² for ``mean_place_area`` in m²).

    Returns
    -------
    list of ForecastMetrics, one per budget.
    """
    return BudgetScorer(test_counts, area_shares, train_counts=train_counts, mask=mask, cell_area=cell_area)(scores)


class BudgetScorer:
    """Scores forecasts against one test period at several budgets (see :func:`metrics_at_budgets`).

    What depends only on the test period -- the study-area cells, the test and training counts
    there, the best PAI at each budget -- is computed once; each forecast then costs one partial
    sort of its scores and a few passes over the study-area cells.
    """

    def __init__(self, test_counts, area_shares, *, train_counts=None, mask=None, cell_area: float = 1.0):
        test = np.asarray(test_counts, dtype=np.float64)
        self.shape = test.shape
        region = _region(test.shape, mask)
        self.region_flat = np.flatnonzero(region.ravel())
        self.t = test.ravel()[self.region_flat]
        self.tr = None if train_counts is None else np.asarray(train_counts, dtype=np.float64).ravel()[self.region_flat]
        self.n_region = self.region_flat.size
        self.n_test = float(self.t.sum())
        self.n_train = float(self.tr.sum()) if self.tr is not None else math.nan
        self.shares = [check_area_share(a) for a in area_shares]
        self.budgets = [a * self.n_region for a in self.shares]
        self.cell_area = float(cell_area)
        self._best_pai: list[float] | None = None

    @property
    def best_pai(self) -> list[float]:
        """The best PAI any selection reaches at each budget (the test period's own top cells), for PEI*."""
        if self._best_pai is None:
            everywhere = np.ones(self.t.size, dtype=bool)
            self._best_pai = []
            for k in self.budgets:
                best_test, _, best_cells, _ = _take(self.t, everywhere, self.t, self._top(self.t), k, self.t, None)
                ok = self.n_test > 0 and best_cells > 0
                self._best_pai.append((best_test / self.n_test) / (best_cells / self.n_region) if ok else math.nan)
        return self._best_pai

    def _top(self, values: np.ndarray) -> np.ndarray:
        return _top_sorted(values, self.budgets)

    def _region_values(self, scores):
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != self.shape:
            raise ValueError(f"scores have shape {scores.shape}, the test counts {self.shape}")
        vals = scores.ravel()[self.region_flat]
        finite = np.isfinite(vals)
        fvals = vals if bool(finite.all()) else vals[finite]
        return vals, finite, fvals, self._top(fvals)

    def hit_rates(self, scores) -> list[float]:
        """The hit rate at each budget alone, as :meth:`__call__` gives it (for tuning: no PEI*, RRI or places)."""
        vals, finite, fvals, top = self._region_values(scores)
        return [
            _take(vals, finite, fvals, top, k, self.t, None)[0] / self.n_test if self.n_test > 0 else math.nan
            for k in self.budgets
        ]

    def __call__(self, scores) -> list[ForecastMetrics]:
        vals, finite, fvals, top = self._region_values(scores)
        t, tr, n_region, n_test = self.t, self.tr, self.n_region, self.n_test
        out = []
        for k, best_pai in zip(self.budgets, self.best_pai):
            sel_test, sel_train, area_cells, whole = _take(vals, finite, fvals, top, k, t, tr)
            area_selected = area_cells / n_region if n_region else math.nan
            hit = sel_test / n_test if n_test > 0 else math.nan
            pai_value = hit / area_selected if area_selected > 0 else math.nan
            pei_value = pai_value / best_pai if best_pai and best_pai > 0 else math.nan
            rri_value = math.nan
            if tr is not None and sel_train > 0 and self.n_train > 0 and n_test > 0:
                rri_value = (sel_test / sel_train) / (n_test / self.n_train)
            n_places, mean_area = _compactness_of(self.region_flat[whole], self.shape, self.cell_area)
            out.append(
                ForecastMetrics(
                    hit, pai_value, rri_value, area_selected, n_test, sel_test, pei_value, n_places, mean_area
                )
            )
        return out


def _top_sorted(values: np.ndarray, budgets) -> np.ndarray:
    """The largest ceil(max budget) values, descending."""
    if values.size == 0:
        return values
    kmax = min(max(int(math.ceil(max(budgets) - 1e-9)), 1), values.size)
    return np.sort(k_largest(values, kmax))[::-1]


_THRESHOLD_SAMPLE = 2048
"""Values :func:`k_largest` reads, evenly spaced, to guess a threshold near the k-th largest."""


def k_largest(values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest of ``values`` (no NaN; 1 <= k <= size), in no particular order; exactly ``np.partition``'s.

    A budget takes the top 1-5 % of a grid's cells, a thousand times in ``evaluate`` and hundreds in
    ``rank --method combined``. Partitioning every cell costs 0.2 ms, but 4 ms when most scores tie at 0
    (NumPy's selection slows on ties), and copying out the positive scores first cost more than it
    saved on smooth forecasts. Instead a threshold is read off an evenly spaced sample, and only the values
    above it are partitioned; when fewer than ``k`` lie above it but ``k`` reach it, the rest of the ``k``
    are the threshold itself (ties); when fewer reach it, every value is partitioned. The answer does not
    depend on the sample.
    """
    n = values.size
    if n < 4 * _THRESHOLD_SAMPLE:
        return np.partition(values, n - k)[n - k :]
    sample = values[:: n // _THRESHOLD_SAMPLE]
    # about twice the sample's share of the top k, so that usually more than k values lie above it
    j = min(sample.size, 2 * int(math.ceil(k * sample.size / n)) + 8)
    threshold = np.partition(sample, sample.size - j)[sample.size - j]
    above = values[values > threshold]
    if above.size >= k:
        return np.partition(above, above.size - k)[above.size - k :]
    if above.size + np.count_nonzero(values == threshold) >= k:
        return np.concatenate([above, np.full(k - above.size, threshold, dtype=values.dtype)])
    return np.partition(values, n - k)[n - k :]


def _take(vals, finite, fvals, top, k, t, tr):
    """(test selected, train selected, cells selected, whole-cell selection) at a budget of ``k`` cells."""
    n_f = fvals.size
    if n_f == 0:
        return 0.0, 0.0, 0.0, np.zeros(0, dtype=np.int64)
    if k >= n_f - 1e-9:
        idx = np.flatnonzero(finite)
        return float(t[idx].sum()), float(tr[idx].sum()) if tr is not None else 0.0, float(n_f), idx
    kk = min(max(int(math.ceil(k - 1e-9)), 1), n_f)
    cutoff = top[kk - 1]
    n_above = int(np.searchsorted(-top, -cutoff, side="left"))  # top is descending: values above the cut-off
    above = np.flatnonzero(vals > cutoff) if n_above else np.zeros(0, dtype=np.int64)
    tied = np.flatnonzero(vals == cutoff)
    fraction = (k - n_above) / tied.size
    fraction = 1.0 if fraction > 1 - 1e-9 else max(float(fraction), 0.0)
    sel_test = float(t[above].sum()) + fraction * float(t[tied].sum())
    sel_train = (float(tr[above].sum()) + fraction * float(tr[tied].sum())) if tr is not None else 0.0
    # Whole cells as select_top_area: the fewest top cells reaching the budget, ties north-west first.
    n_whole = int(math.ceil(k * (1 - 1e-12) - 1e-9)) if k > 0 else 1
    n_whole = min(max(n_whole, 1), n_f)
    whole = np.concatenate([above, tied[: max(n_whole - n_above, 0)]])
    return sel_test, sel_train, n_above + fraction * tied.size, whole


def _compactness_of(flat_cells: np.ndarray, shape, cell_area: float) -> tuple[float, float]:
    """Places (8-connected groups) among the listed flat cells and their mean area, as :func:`place_compactness`.

    The groups are found from the cells' neighbour pairs, not by labelling the grid: a budget of 1 %
    spreads its cells over the whole grid, so a labelled box would be the grid, once per forecast.
    """
    if flat_cells.size == 0:
        return 0.0, math.nan
    cells = np.sort(flat_cells)
    cells = cells[np.r_[True, cells[1:] != cells[:-1]]]  # distinct: np.unique hashes first, 10x slower at these sizes
    n = _count_groups(cells, shape[1])
    return float(n), float(np.full(cells.size, float(cell_area)).sum()) / n


def _count_groups(cells: np.ndarray, ncols: int) -> int:
    """Number of 8-connected groups among the sorted distinct flat cells of a grid ``ncols`` wide."""
    from hotspot.kernels.places import count_groups

    # A union-find kernel: evaluate asks this about a thousand times, and a NumPy label propagation (or
    # scipy's connected components, whose sparse set-up dominates at these sizes) took 2-3 s of it.
    return int(count_groups(np.ascontiguousarray(cells, dtype=np.int64), int(ncols)))


def _compactness_cropped(selected: np.ndarray, cell_area: float) -> tuple[float, float]:
    rows = np.flatnonzero(selected.any(axis=1))
    if rows.size == 0:
        return 0.0, math.nan
    cols = np.flatnonzero(selected.any(axis=0))
    crop = selected[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return place_compactness(crop, cell_area)
