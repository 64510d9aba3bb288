"""``combined``: a blend of simple forecasts, chosen by a backtest on training months only.

The score of a cell is built from its monthly counts (or harm, when records carry a ``weight``):

1. **R**, recency-weighted counts: a month ``k`` months before the forecast origin counts
   0.5 ** (k / half_life_months). Months before the latest police.uk anonymisation-map change
   (:mod:`hotspot.forecast.mapchange`) are treated as ``older``:

   - ``"all"``: used as they are (the change ignored);
   - ``"drop"``: left out (counts since the change only);
   - ``"down"``: kept at ``older_weight``;
   - ``"carry"``: their records moved onto the nearest current location within 100 m (same
     LSOA preferred) and kept at ``older_weight``.

2. **S** = R + neighbour_weight x (mean of R over the 8 neighbouring cells).
3. score = (1 - a - c) x S / sum(S) + a x K / sum(K) + c x Q / sum(Q), where K is R smoothed with
   a quartic kernel of radius ``bandwidth_m`` metres (a = ``kde_weight``) and Q the risk
   terrain score (c = ``rtm_weight``) when given.

The choice has two stages: the counts blends (:func:`combined_candidates`, a = 0), then the
best of them with each density of :data:`COMBINED_DENSITIES` (:func:`density_candidates`),
kept only when it validates better.

The simple forecasts are corners of this family: prior counts over all months (no decay,
older ``"all"``, no smoothing); **D**, counts with a 6-month half-life + 0.25 x the mean of the 8
neighbours; **P**, counts since the map change only. The blend is the candidate
(:func:`combined_candidates`) with the best mean hit rate when each of the last
``n_validation`` months before the origin (map-change months left out: nothing can predict
them) is predicted from the months before it. Because D and P are candidates, the chosen blend
scores at least as well as both in that validation; :class:`CombinedFit` says by how much.
When the map changed after every validation month (the first forecast on a new map), the
older months' handling cannot be tested and only ``"down"`` candidates are eligible: a hedge
between trusting the old map (``"all"``) and discarding it (``"drop"``, which for sparse crime
types leaves one month of counts). This rule was set after looking at Bedfordshire's 2022-08
fold, the only such fold in the shared data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hotspot.core.grid import Grid, square_dilation
from hotspot.core.progress import resolve
from hotspot.core.records import Records
from hotspot.forecast.mapchange import CARRY_TOLERANCE_M, CarrySource, MapChanges, detect_map_changes
from hotspot.forecast.months import MonthTotals, month_index, month_text, record_weights
from hotspot.stats.accuracy import budget_hits, check_area_share

COMBINED_SUMMARY = (
    "recency-weighted counts per cell (half-life 1-12 months or none; months before a police.uk "
    "anonymisation-map change kept, dropped, down-weighted or carried onto the current snap points) plus a "
    "share of the neighbouring cells' counts (and the RTM score when risk features exist), then a 150 or 400 m "
    "density if it helps; the blend is the one with the best hit rate predicting each of the last 6 months of the "
    "input from the months before it, where prior counts, D (6-month half-life + 0.25 x neighbours) and P (counts "
    "since the map change) are among the candidates"
)
"""One sentence describing ``combined`` for help texts and reports."""

COMBINED_DEFAULT_WEIGHTS = {
    "half_life_months": 6.0,
    "older": "all",
    "older_weight": 1.0,
    "neighbour_weight": 0.25,
    "kde_weight": 0.0,
    "bandwidth_m": 150.0,
    "rtm_weight": 0.0,
}
"""Weights ``combined`` uses when too few months exist to choose them (fewer than 3): D."""

COMBINED_HALF_LIVES = (1.0, 3.0, 6.0, 12.0, math.inf)
COMBINED_OLDER = (("all", 1.0), ("drop", 0.0), ("down", 0.05), ("carry", 0.1), ("carry", 0.3))
COMBINED_NEIGHBOUR_WEIGHTS = (0.0, 0.1, 0.25)
COMBINED_DENSITIES = ((0.1, 150.0), (0.3, 400.0), (1.0, 400.0))
"""(kde_weight, bandwidth_m) tried in the second stage on top of the best counts blend."""
COMBINED_BANDWIDTHS_M = tuple(sorted({b for _, b in COMBINED_DENSITIES}))
COMBINED_BANDWIDTH_M = COMBINED_BANDWIDTHS_M[0]
COMBINED_RTM_WEIGHTS = (0.0, 0.05, 0.2)
COMBINED_VALIDATION_MONTHS = 6
"""Months before the origin each candidate is validated on."""

BASELINE_CANDIDATES = {
    "prior counts (all months)": {
        "half_life_months": math.inf,
        "older": "all",
        "older_weight": 1.0,
        "neighbour_weight": 0.0,
        "kde_weight": 0.0,
    },
    "D (6-month half-life + 0.25 x neighbours)": {
        "half_life_months": 6.0,
        "older": "all",
        "older_weight": 1.0,
        "neighbour_weight": 0.25,
        "kde_weight": 0.0,
    },
    "P (counts since the map change)": {
        "half_life_months": math.inf,
        "older": "drop",
        "older_weight": 0.0,
        "neighbour_weight": 0.0,
        "kde_weight": 0.0,
    },
}
"""The simple forecasts among the candidates, reported beside the chosen blend."""


def combined_candidates(with_rtm: bool = False, with_change: bool = True) -> list[dict]:
    """The counts blends ``combined`` chooses among first, simplest first (ties go to the earlier one).

    ``with_change=False`` (no map change in the data) leaves out the ``older`` variants, which
    would all equal ``"all"``. The densities of :data:`COMBINED_DENSITIES` are tried afterwards
    on the winner (:func:`density_candidates`).
    """
    out = []
    older_options = COMBINED_OLDER if with_change else COMBINED_OLDER[:1]
    for b in COMBINED_NEIGHBOUR_WEIGHTS:
        for older, w_old in older_options:
            for h in COMBINED_HALF_LIVES[::-1]:
                for c in COMBINED_RTM_WEIGHTS if with_rtm else (0.0,):
                    out.append(
                        {
                            "half_life_months": h,
                            "older": older,
                            "older_weight": w_old,
                            "neighbour_weight": b,
                            "kde_weight": 0.0,
                            "bandwidth_m": COMBINED_BANDWIDTH_M,
                            "rtm_weight": c,
                        }
                    )
    return out


def density_candidates(best: Mapping) -> list[dict]:
    """The second stage: ``best`` with each density of :data:`COMBINED_DENSITIES` added."""
    out = []
    for a, bandwidth in COMBINED_DENSITIES:
        if a + float(best.get("rtm_weight", 0.0)) > 1.0:
            continue
        cand = {**best, "kde_weight": a, "bandwidth_m": bandwidth}
        if a >= 1.0:
            cand["neighbour_weight"] = 0.0  # the counts carry no weight: a pure density
        out.append(cand)
    return out


def neighbour_kernel() -> np.ndarray:
    """Mean of the 8 neighbouring cells, as a 3 x 3 stencil."""
    kernel = np.full((3, 3), 1.0 / 8.0)
    kernel[1, 1] = 0.0
    return kernel


def quartic_kernel(cell_size_m: float, bandwidth_m: float) -> np.ndarray:
    """Quartic (biweight) weights on the cell-centre offsets within ``bandwidth_m`` metres, summing to 1."""
    kernel = quartic_stencil(bandwidth_m, cell_size_m)
    return kernel / kernel.sum()


def quartic_stencil(bandwidth_m: float, cell_size_m: float) -> np.ndarray:
    """:func:`hotspot.stats.kde.kernel_stencil` for the quartic kernel, in numpy: the same values to the bit.

    ``combined`` and the binned KDE forecasts need only this small stencil, and Numba's first call in a
    process costs about a second (``hotspot rank --method combined`` calls no other kernel).
    """
    if not (math.isfinite(bandwidth_m) and bandwidth_m > 0):
        raise ValueError(f"bandwidth_m must be a positive number of metres, got {bandwidth_m}")
    r = int(math.ceil(bandwidth_m / cell_size_m))
    offsets = np.arange(-r, r + 1) * float(cell_size_m)
    d2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    h2 = float(bandwidth_m) ** 2
    # As hotspot.kernels.kde.kernel_value: norm x (1 - d2 / h2)^2 inside the bandwidth, 0 outside.
    u2 = d2 / h2
    t = 1.0 - u2
    return np.where(u2 >= 1.0, 0.0, t * t) * (3.0 / (math.pi * h2))


def _stencil_matrix(grid: Grid, cells: np.ndarray, kernel: np.ndarray):
    """Sparse (n, n) matrix M over the listed flat cells with (values @ M.T) = convolution by ``kernel``.

    Equal to ``scipy.ndimage.convolve(full, kernel, mode="constant")`` restricted to ``cells``
    whenever the convolution of the values stays inside ``cells`` (the caller lists every cell
    it can reach).
    """
    from scipy import sparse

    r = kernel.shape[0] // 2
    # Offsets from the last source row and column to the first, so each row's sources come out in
    # ascending cell order: the matrix is written in CSR order directly, with no sort or conversion.
    di, dj = np.meshgrid(np.arange(r, -r - 1, -1), np.arange(r, -r - 1, -1), indexing="ij")
    weights = kernel[r + di, r + dj].ravel()
    keep = weights != 0
    di, dj, weights = di.ravel()[keep], dj.ravel()[keep], weights[keep]
    n = cells.size
    if weights.size == 0:
        return sparse.csr_matrix((n, n))
    # Cell positions on the grid padded by r cells of -1 on every side: a source off the grid reads -1 like
    # a cell not listed, so every (cell, offset) is one look-up with no bounds test, all offsets at once
    # (Bedfordshire's three stencils, 68,501 cells: ~45 ms against ~90 ms offset by offset).
    width = grid.ncols + 2 * r
    index = np.int32 if (grid.nrows + 2 * r) * width < 2**31 - 1 else np.int64
    position = np.full((grid.nrows + 2 * r) * width, -1, dtype=index)
    rows_, cols_ = np.divmod(cells, grid.ncols)
    padded = ((rows_ + r) * width + (cols_ + r)).astype(index)
    position[padded] = np.arange(n, dtype=index)
    # the output at cell (i, j) takes w x input at (i - di, j - dj) (convolution flips the kernel)
    src = position[padded[:, None] - (di * width + dj).astype(index)[None, :]]
    valid = src >= 0
    indptr = np.zeros(n + 1, dtype=index)
    np.cumsum(np.count_nonzero(valid, axis=1), out=indptr[1:])
    data = np.broadcast_to(weights, src.shape)[valid]
    return sparse.csr_matrix((data, src[valid], indptr), shape=(n, n))


def _close_cells(grid: Grid, seeds: np.ndarray, radius_cells: int) -> np.ndarray:
    """Flat indices of every cell within ``radius_cells`` (square) of a seed cell, sorted."""
    hit = np.zeros(grid.size, dtype=bool)
    hit[seeds] = True
    if radius_cells > 0:
        hit = square_dilation(hit.reshape(grid.shape), radius_cells).ravel()
    return np.flatnonzero(hit)


class MonthlyLayers:
    """Monthly counts of the records on the cells they can reach, built once and sliced by forecast origin.

    Every layer ``combined`` needs is linear in the monthly counts, so a forecast from any origin
    is a weighted sum of rows. Rows are months; columns the ``cells`` (flat indices) within the
    reach of the neighbour stencil and the density kernel of some record; every other cell
    scores 0. A forecast at origin ``upto`` (an integer month) reads rows up to ``upto`` only,
    and map changes are found by a rule that looks back only, so building the layers on later
    months too never lets them into an earlier forecast.

    Parameters
    ----------
    records : Records
        Records with ``month``; a ``weight`` column (harm) is summed instead of counting.
    grid : Grid
        The grid (cell size in metres).
    bandwidth_m : float, default 150
        Radius in metres of the quartic density layer.
    tolerance_m : float, default 100
        How far, in metres, older records may be carried onto a current location.
    snap_points : pandas.DataFrame, optional
        Every located record of the force (x, y, month, lsoa_code; :func:`hotspot.forecast.mapchange.snap_points`):
        where current locations are looked up for carrying, and what map changes are found from.
        Default: the records themselves.
    """

    def __init__(
        self,
        records: Records,
        grid: Grid,
        bandwidths_m=COMBINED_BANDWIDTHS_M,
        tolerance_m: float = CARRY_TOLERANCE_M,
        snap_points: pd.DataFrame | None = None,
    ):
        frame = records.frame
        self.grid = grid
        bandwidths_m = (bandwidths_m,) if np.isscalar(bandwidths_m) else tuple(bandwidths_m)
        self.bandwidths_m = tuple(float(b) for b in bandwidths_m)
        self.tolerance_m = float(tolerance_m)
        self.frame = frame
        self.weights = record_weights(records)
        self.month_of = month_index(frame["month"]) if len(frame) else np.zeros(0, dtype=np.int64)
        self.first = int(self.month_of.min()) if len(frame) else 0
        last = int(self.month_of.max()) if len(frame) else -1
        self.months = np.arange(self.first, last + 1)
        flat, inside = grid.flat_index(frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64))
        self._flat = np.where(inside, flat, -1)
        kernels = {b: quartic_kernel(grid.cell_size, b) for b in self.bandwidths_m}
        reach = max([1] + [k.shape[0] // 2 for k in kernels.values()])
        self.cells = _close_cells(grid, np.unique(flat[inside]), reach)
        self._position = np.full(grid.size, -1, dtype=np.int64)
        self._position[self.cells] = np.arange(self.cells.size)
        self._neighbour = _stencil_matrix(grid, self.cells, neighbour_kernel())
        self._kde = {b: _stencil_matrix(grid, self.cells, k) for b, k in kernels.items()}
        self.counts = self._stack(np.arange(len(frame)), self._flat)
        self.snap_points = snap_points
        if snap_points is not None and len(snap_points):
            self.changes = detect_map_changes(Records(snap_points, records.crs))
        else:
            self.changes = detect_map_changes(records) if len(frame) else MapChanges(pd.DataFrame(), ())
        self._carried: dict = {}
        self._carry_source: CarrySource | None = None
        # Per-month record totals, to check that a fold's training records are these records' months.
        self._totals = MonthTotals(records)

    def _stack(self, rows: np.ndarray, flat: np.ndarray, n_months: int | None = None) -> np.ndarray:
        """(months x cells) counts of the given record rows, placed at the flat cells ``flat`` (-1: off grid);
        only the first ``n_months`` months (default all), which must hold every one of the rows."""
        n_months = self.months.size if n_months is None else n_months
        ok = flat >= 0
        col = self._position[flat[ok]]
        ok_col = col >= 0
        m = self.month_of[rows[ok]][ok_col] - self.first
        # Weights of 1 rather than none: bincount then counts straight into float64, where counting into int64
        # and converting copied the whole months x cells table (Bedfordshire: ~25 ms a stack, 8 a rank).
        w = np.ones(m.size) if self.weights is None else self.weights[rows[ok]][ok_col]
        values = np.bincount(m * self.cells.size + col[ok_col], weights=w, minlength=n_months * self.cells.size)
        return values.reshape(n_months, self.cells.size)

    def covers(self, records: Records) -> bool:
        """True when ``records`` are exactly these records' rows for the months they span."""
        return self._totals.covers(records)

    def latest_change(self, upto: int) -> int | None:
        """The latest map change at or before integer month ``upto`` (a forecast made after ``upto``)."""
        return self.changes.latest_before(upto + 1)

    def carried(self, change: int, upto: int) -> tuple[np.ndarray, float]:
        """(months before ``change`` x cells) counts of the records before ``change`` carried onto locations used
        up to ``upto``: the months from ``change`` on hold none of them, so their rows are left out (a fresh
        months x cells table costs its page faults: ~17 ms, seven a ``rank --method combined``)."""
        key = (change, upto)
        if key not in self._carried:
            if self._carry_source is None:
                self._carry_source = CarrySource(self.frame, self.month_of, self.snap_points)
            moved = self._carry_source.carry(change, upto, tolerance_m=self.tolerance_m)
            flat, inside = self.grid.flat_index(moved.x, moved.y)
            before = min(max(change - self.first, 0), self.months.size)
            self._carried[key] = (self._stack(moved.index, np.where(inside, flat, -1), before), moved.share_carried)
        return self._carried[key]

    def month_counts(self, month: int) -> np.ndarray:
        """Counts on ``cells`` in one integer month (zeros outside the records' months)."""
        i = month - self.first
        if 0 <= i < self.months.size:
            return self.counts[i]
        return np.zeros(self.cells.size)

    def recency(self, upto: int, half_life_months: float) -> np.ndarray:
        """Weight of each month row for a forecast made after integer month ``upto`` (0 after it)."""
        age = (upto - self.months).astype(np.float64)
        w = (
            np.ones(self.months.size)
            if math.isinf(half_life_months)
            else 0.5 ** (np.maximum(age, 0) / half_life_months)
        )
        w[age < 0] = 0.0
        return w

    def recent_counts(
        self, upto: int, half_life_months: float, older: str, older_weight: float, parts: dict | None = None
    ) -> np.ndarray:
        """R on ``cells``: recency-weighted counts, months before the latest map change as ``older`` says.

        ``parts`` (a dict kept by the caller for one ``upto``) remembers the weighted sums the ``older``
        variants share: the months since the change, and those before it as counted or carried.
        """
        parts = {} if parts is None else parts
        w = self.recency(upto, half_life_months)
        change = self.latest_change(upto)

        def part(name, weights, stack):
            key = (upto, half_life_months, name)
            if key not in parts:
                parts[key] = _rows(weights, stack)
            return parts[key]

        if change is None or older == "all":
            return part("all", w, self.counts)
        before = self.months < change
        values = part("since", np.where(before, 0.0, w), self.counts)
        if older == "down":
            values = values + older_weight * part("before", np.where(before, w, 0.0), self.counts)
        elif older == "carry":
            moved, _ = self.carried(change, upto)
            values = values + older_weight * part("carried", np.where(before, w, 0.0)[: moved.shape[0]], moved)
        elif older != "drop":
            raise ValueError(f"older must be all, drop, down or carry, got {older!r}")
        return values

    def blend(
        self, recent: np.ndarray, weights: Mapping, rtm_share: np.ndarray | None, cache: dict | None = None
    ) -> np.ndarray:
        """The combined score on ``cells`` (without the RTM term) from R; ``cache`` keeps R's smoothings."""
        cache = {} if cache is None else cache
        b = float(weights.get("neighbour_weight", 0.0))
        a = float(weights.get("kde_weight", 0.0))
        c = float(weights.get("rtm_weight", 0.0)) if rtm_share is not None else 0.0
        values = None  # zero; the sums below skip adding to it (x + 0 is x) and scaling by 1
        if a < 1.0:
            if b > 0:
                if "neighbours" not in cache:
                    cache["neighbours"] = self._neighbour @ recent
                s = recent + b * cache["neighbours"]
            else:
                s = recent
            counts_weight = 1.0 - a - c
            values = _share(s) if counts_weight == 1.0 else counts_weight * _share(s)
        if a > 0:
            bandwidth = float(weights["bandwidth_m"])
            if bandwidth not in self._kde:
                raise ValueError(f"bandwidth {bandwidth:g} m was not built into these layers ({self.bandwidths_m})")
            if bandwidth not in cache:
                cache[bandwidth] = _share(self._kde[bandwidth] @ recent)
            density = a * cache[bandwidth]
            values = density if values is None else values + density
        return np.zeros_like(recent) if values is None else values

    def full(self, values: np.ndarray) -> np.ndarray:
        """Values on ``cells`` as a full grid (0 elsewhere)."""
        out = np.zeros(self.grid.size, dtype=np.float64)
        out[self.cells] = values
        return out.reshape(self.grid.shape)

    def score(self, weights: Mapping, upto: int, rtm_share: np.ndarray | None = None) -> np.ndarray:
        """The combined score on the full grid for a forecast made after integer month ``upto``."""
        w = {**COMBINED_DEFAULT_WEIGHTS, **dict(weights)}
        recent = self.recent_counts(upto, float(w["half_life_months"]), w["older"], float(w["older_weight"]))
        out = self.full(self.blend(recent, w, rtm_share))
        c = float(w.get("rtm_weight", 0.0))
        if rtm_share is not None and c > 0:
            out = out + c * rtm_share
        return out


def _rows(weights: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """sum_m weights[m] x stack[m], over the rows with a non-zero weight (einsum: no BLAS threads to wake)."""
    keep = np.flatnonzero(weights)
    if keep.size == 0:
        return np.zeros(stack.shape[1])
    if keep[-1] - keep[0] + 1 == keep.size:
        # The usual case, a run of months: a view, where a fancy index would copy months x cells each time.
        keep = slice(keep[0], keep[-1] + 1)
    return np.einsum("m,mc->c", weights[keep], stack[keep])


def _share(layer: np.ndarray) -> np.ndarray:
    total = float(layer.sum())
    if math.isnan(total):  # nansum copies the layer: only when a NaN is there to skip
        total = float(np.nansum(layer))
    return layer / total if total > 0 else np.zeros_like(layer)


def _rtm_share(rtm_score, grid: Grid) -> np.ndarray | None:
    if rtm_score is None:
        return None
    rtm = np.asarray(rtm_score, dtype=np.float64)
    if rtm.shape != grid.shape:
        raise ValueError(f"rtm_score has shape {rtm.shape}, the grid is {grid.shape}")
    return _share(np.clip(np.nan_to_num(rtm, nan=0.0), 0.0, None))


@dataclass(frozen=True)
class CombinedFit:
    """How ``combined`` chose its blend.

    Attributes
    ----------
    weights : dict
        ``half_life_months``, ``older``, ``older_weight``, ``neighbour_weight``, ``kde_weight``,
        ``bandwidth_m`` (metres), ``rtm_weight``.
    validation : pandas.DataFrame
        One row per candidate with its mean hit rate and PAI over the validation months (empty
        when the defaults were used).
    validation_months : list of str
        The validation windows (``YYYY-MM`` or ``YYYY-MM..YYYY-MM``), each predicted from the
        months before it.
    horizon_months : int
        Length of each validation window in months.
    baselines : dict
        Validation mean PAI of the chosen blend (``"combined"``) and of each simple forecast in
        :data:`BASELINE_CANDIDATES`.
    map_change : str or None
        The latest anonymisation-map change (``YYYY-MM``) the forecast knew of.
    """

    weights: dict
    validation: pd.DataFrame = field(default_factory=pd.DataFrame)
    validation_months: list = field(default_factory=list)
    horizon_months: int = 1
    baselines: dict = field(default_factory=dict)
    map_change: str | None = None

    def describe(self) -> str:
        """The components and weights in words, and the validation PAI against the simple forecasts."""
        text = describe_weights(self.weights)
        if self.map_change:
            text += f" (map change {self.map_change})"
        if self.baselines:
            months = self.validation_months
            span = f"{months[0]}..{months[-1]}" if months else ""
            parts = ", ".join(f"{k.split(' (')[0]} {v:.1f}" for k, v in self.baselines.items() if k != "combined")
            text += (
                f"; backtest PAI over {len(months)} month(s) {span}: combined {self.baselines['combined']:.1f} "
                f"vs {parts}"
            )
        return text


def describe_weights(w: Mapping) -> str:
    """One phrase naming a blend's components and weights."""
    w = {**COMBINED_DEFAULT_WEIGHTS, **dict(w)}
    h = float(w["half_life_months"])
    parts = ["counts, no decay" if math.isinf(h) else f"counts, half-life {h:g} mo"]
    older = w["older"]
    if older == "drop":
        parts.append("since the map change only")
    elif older == "down":
        parts.append(f"months before the map change x {float(w['older_weight']):g}")
    elif older == "carry":
        parts.append(f"older records carried onto current locations x {float(w['older_weight']):g}")
    if float(w["neighbour_weight"]):
        parts.append(f"+ {float(w['neighbour_weight']):g} x neighbour mean")
    if float(w["kde_weight"]):
        parts.append(f"density {float(w['kde_weight']):g} at {float(w['bandwidth_m']):g} m")
    if float(w.get("rtm_weight", 0.0)):
        parts.append(f"rtm {float(w['rtm_weight']):g}")
    return ", ".join(parts)


def tuning_workers() -> int:
    """Threads :class:`CombinedTuner` validates candidates on: the cores this process may use, at most 4."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class CombinedTuner:
    """Chooses ``combined``'s blend at any origin of one set of layers, remembering every validation result.

    A validation month's hit rate for a candidate depends only on that month and the months
    before it, so the folds of a backtest share them instead of recomputing. ``workers`` threads
    (default :func:`tuning_workers`) share a month's candidates; the results do not depend on how many.
    """

    def __init__(
        self,
        layers: MonthlyLayers,
        *,
        area_share: float = 0.01,
        mask=None,
        rtm_share=None,
        horizon_months: int = 1,
        n_validation: int = COMBINED_VALIDATION_MONTHS,
        workers: int | None = None,
    ):
        self.layers = layers
        self.workers = tuning_workers() if workers is None else max(1, int(workers))
        self.area_share = check_area_share(area_share)
        grid = layers.grid
        region = np.ones(grid.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        self.region = region
        self.in_region = region.ravel()[layers.cells]
        self.n_region = int(region.sum())
        self.rtm_share = rtm_share
        self.horizon_months = int(horizon_months)
        self.n_validation = int(n_validation)
        self.candidates = combined_candidates(rtm_share is not None, bool(layers.changes.changes))
        self._hits: dict = {}

    @staticmethod
    def _key(cand: Mapping) -> tuple:
        return tuple(sorted(cand.items()))

    def _window_hits(self, origin: int, end: int, candidates: list[dict]) -> np.ndarray:
        """Hit rate of each candidate predicting months origin..end from the months before (remembered)."""
        done = self._hits.setdefault((origin, end), {})
        todo = [c for c in candidates if self._key(c) not in done]
        if not todo:
            return np.array([done[self._key(c)] for c in candidates], dtype=np.float64)
        layers = self.layers
        test = sum(layers.month_counts(m) for m in range(origin, end + 1))
        test_in = test[self.in_region]
        total = float(test_in.sum())
        budget = self.area_share * self.n_region
        # Candidates sharing a half-life share their weighted sums: each such group is one task, so the
        # groups can run on separate threads (numpy and scipy.sparse release the GIL for the heavy steps).
        # Every hit rate is computed the same way whichever thread runs it.
        groups: dict = {}
        for cand in todo:
            groups.setdefault(cand["half_life_months"], []).append(cand)
        change = layers.latest_change(origin - 1)
        if change is not None and any(c["older"] == "carry" for c in todo):
            layers.carried(change, origin - 1)  # once, before the threads share it

        def hits_of(group: list) -> list:
            out = []
            recent_cache: dict = {}
            parts: dict = {}
            for cand in group:
                if self.rtm_share is not None and cand["rtm_weight"] > 0:
                    # The RTM share reaches cells no record does: score on the full grid.
                    from hotspot.stats.accuracy import hit_rate

                    score = layers.score(cand, origin - 1, self.rtm_share)
                    out.append(hit_rate(score, layers.full(test), self.area_share, mask=self.region))
                    continue
                rkey = (cand["half_life_months"], cand["older"], cand["older_weight"])
                if rkey not in recent_cache:
                    recent_cache[rkey] = (layers.recent_counts(origin - 1, *rkey, parts), {})
                recent, smoothed = recent_cache[rkey]
                values = layers.blend(recent, cand, self.rtm_share, smoothed)
                out.append(
                    budget_hits(values[self.in_region], test_in, budget, self.n_region, total) / total
                    if total
                    else np.nan
                )
            return out

        tasks = list(groups.values())
        if self.workers > 1 and len(tasks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.workers, len(tasks))) as pool:
                results = list(pool.map(hits_of, tasks))
        else:
            results = [hits_of(group) for group in tasks]
        for group, hits in zip(tasks, results):
            for cand, hit in zip(group, hits):
                done[self._key(cand)] = hit
        return np.array([done[self._key(c)] for c in candidates], dtype=np.float64)

    def _mean_hits(self, ends, h, candidates, report=None) -> np.ndarray:
        table = np.zeros((len(candidates), len(ends)))
        for j, e in enumerate(ends):
            table[:, j] = self._window_hits(e - h + 1, e, candidates)
            if report is not None:
                report("tuning combined", j + 1, len(ends))
        return np.where(np.isnan(table), 0.0, table).mean(axis=1)

    def fit(self, upto: int, first: int | None = None, progress=None) -> CombinedFit:
        """Choose the blend for a forecast made after integer month ``upto`` from months ``first..upto``."""
        layers = self.layers
        first = layers.first if first is None else max(first, layers.first)
        n_months = upto - first + 1
        change = layers.latest_change(upto)
        change_text = month_text(change) if change is not None else None
        h = max(1, min(self.horizon_months, (n_months - 2) // 2))
        changes = set(month_index(list(layers.changes.changes))) if layers.changes.changes else set()
        ends = []
        end = upto
        while len(ends) < self.n_validation and end - h + 1 >= first + 2:
            origin = end - h + 1
            if not any(origin <= m <= end for m in changes):
                ends.append(end)
            end -= 1
        ends = ends[::-1]
        if not ends:
            return CombinedFit(dict(COMBINED_DEFAULT_WEIGHTS), map_change=change_text)
        progress = resolve(progress)
        candidates = self.candidates
        mean = self._mean_hits(ends, h, candidates, progress)
        eligible = np.ones(len(candidates), dtype=bool)
        if change is not None and all(e - h + 1 <= change for e in ends):
            # No validation month lies on the current map, so the older months' handling is untested:
            # hedge, keeping them at a low weight, rather than trust the old map fully or drop it.
            eligible = np.array([c["older"] == "down" for c in candidates])
        best = int(np.argmax(np.where(eligible, mean, -np.inf)))
        baselines = {}
        for name, spec in BASELINE_CANDIDATES.items():
            for i, cand in enumerate(candidates):
                if all(cand[k] == v for k, v in spec.items()) and cand["rtm_weight"] == 0:
                    baselines[name] = float(mean[i] / self.area_share)
                    break
        # Second stage: a density on top of the best counts blend, kept only if it validates better.
        dense = density_candidates(candidates[best])
        dense_mean = self._mean_hits(ends, h, dense)
        chosen, chosen_mean = candidates[best], float(mean[best])
        if dense and float(dense_mean.max()) > chosen_mean:
            chosen, chosen_mean = dense[int(np.argmax(dense_mean))], float(dense_mean.max())
        table = pd.DataFrame(candidates + dense)
        table["mean_hit_rate"] = np.concatenate([mean, dense_mean])
        table["mean_pai"] = table["mean_hit_rate"] / self.area_share
        baselines = {"combined": chosen_mean / self.area_share, **baselines}
        windows = [f"{month_text(e - h + 1)}..{month_text(e)}" if h > 1 else month_text(e) for e in ends]
        return CombinedFit(dict(chosen), table, windows, h, baselines, change_text)


def fit_combined(
    records: Records,
    grid: Grid,
    *,
    area_share: float = 0.01,
    mask=None,
    rtm_score=None,
    reference_month: str | None = None,
    horizon_months: int = 1,
    n_validation: int = COMBINED_VALIDATION_MONTHS,
    snap_points: pd.DataFrame | None = None,
    progress=None,
) -> tuple[np.ndarray, CombinedFit]:
    """The ``combined`` score and how its blend was chosen, from ``records`` up to ``reference_month``.

    Parameters
    ----------
    records : Records
        Records with a ``month``; months after ``reference_month`` are ignored. A ``weight``
        column (harm) is summed instead of counting.
    grid : Grid
        The grid to score (cell size in metres).
    area_share : float, default 0.01
        Area budget the blend is chosen for (0.01 = 1 % of the study area).
    mask : ndarray of bool, optional
        The study-area cells. Default: every cell.
    rtm_score : ndarray, shape (nrows, ncols), optional
        Risk terrain score on ``grid``; adds RTM weights to the candidates.
    reference_month : str, optional
        ``YYYY-MM``, the last month used. Default: the latest month in ``records``.
    horizon_months : int, default 1
        Months ahead the forecast is for; the blend is validated on windows this long.
    n_validation : int, default 6
        Validation months before the origin (map-change months left out).
    snap_points : pandas.DataFrame, optional
        Every located record of the force (:func:`hotspot.forecast.mapchange.snap_points`): the
        current locations older records are carried onto, and the map changes. Default: ``records``.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    (ndarray of float64, shape (nrows, ncols), CombinedFit)
        Non-negative scores summing to 1 over the grid (0 everywhere without records).
    """
    if len(records) == 0:
        return np.zeros(grid.shape), CombinedFit(dict(COMBINED_DEFAULT_WEIGHTS))
    upto = int(month_index([reference_month])[0]) if reference_month else int(month_index(records.frame["month"]).max())
    keep = month_index(records.frame["month"]) <= upto
    if not keep.all():
        from hotspot.forecast.months import subset

        records = subset(records, keep)
    layers = MonthlyLayers(records, grid, snap_points=snap_points)
    return _fit_on_layers(
        layers, upto, None, area_share, mask, _rtm_share(rtm_score, grid), horizon_months, n_validation, progress
    )


def _fit_on_layers(
    layers,
    upto,
    first,
    area_share,
    mask,
    rtm_share,
    horizon_months,
    n_validation,
    progress,
    tuner: CombinedTuner | None = None,
):
    tuner = tuner or CombinedTuner(
        layers,
        area_share=area_share,
        mask=mask,
        rtm_share=rtm_share,
        horizon_months=horizon_months,
        n_validation=n_validation,
    )
    fit = tuner.fit(upto, first, progress)
    return layers.score(fit.weights, upto, rtm_share), fit


def combined_score(
    records: Records,
    grid: Grid,
    *,
    weights: Mapping | None = None,
    reference_month: str | None = None,
    rtm_score=None,
    area_share: float = 0.01,
    mask=None,
    horizon_months: int = 1,
    progress=None,
) -> np.ndarray:
    """The ``combined`` forecast (module docstring); ``weights`` fixes the blend instead of choosing it.

    Parameters are those of :func:`fit_combined`; ``weights`` (a dict of the keys of
    :data:`COMBINED_DEFAULT_WEIGHTS`, missing keys taking those defaults) skips the choice.
    """
    if weights is None:
        return fit_combined(
            records,
            grid,
            area_share=area_share,
            mask=mask,
            rtm_score=rtm_score,
            reference_month=reference_month,
            horizon_months=horizon_months,
            progress=progress,
        )[0]
    if len(records) == 0:
        return np.zeros(grid.shape)
    upto = int(month_index([reference_month])[0]) if reference_month else int(month_index(records.frame["month"]).max())
    layers = MonthlyLayers(records, grid, bandwidths_m=float({**COMBINED_DEFAULT_WEIGHTS, **weights}["bandwidth_m"]))
    return layers.score(weights, upto, _rtm_share(rtm_score, grid))


def tune_combined(
    records: Records,
    grid: Grid,
    *,
    area_share: float = 0.01,
    mask=None,
    rtm_score=None,
    reference_month: str | None = None,
    n_validation: int = COMBINED_VALIDATION_MONTHS,
    horizon_months: int = 1,
    progress=None,
) -> CombinedFit:
    """How :func:`fit_combined` chooses the blend (parameters as there), without the score."""
    return fit_combined(
        records,
        grid,
        area_share=area_share,
        mask=mask,
        rtm_score=rtm_score,
        reference_month=reference_month,
        horizon_months=horizon_months,
        n_validation=n_validation,
        progress=progress,
    )[1]


class CombinedForecaster:
    """``combined`` as a backtest forecaster; remembers each fold's :class:`CombinedFit` (``fits``).

    ``prepare(records, grid)`` (called by the backtest with all its records) builds the monthly
    layers once; each fold then reads only its training months from them (checked: the fold's
    records must be those months' records) and the validation results are shared between folds.
    ``rtm`` (a forecaster, e.g. ``RTMForecaster``) adds a per-fold RTM layer fitted on the same
    training records; ``rtm_score`` a fixed one.
    """

    def __init__(
        self,
        *,
        area_share: float = 0.01,
        mask=None,
        rtm_score=None,
        horizon_months: int = 1,
        rtm=None,
        n_validation: int = COMBINED_VALIDATION_MONTHS,
        snap_points: pd.DataFrame | None = None,
    ):
        self.area_share = area_share
        self.snap_points = snap_points
        self.horizon_months = horizon_months
        self.mask = mask
        self.rtm_score = rtm_score
        self.rtm = rtm
        self.n_validation = n_validation
        self.fits: list[CombinedFit] = []
        self._layers: MonthlyLayers | None = None
        self._tuner: CombinedTuner | None = None

    @property
    def chosen(self) -> list[dict]:
        """The weights chosen in each fold."""
        return [f.weights for f in self.fits]

    def prepare(self, records: Records, grid: Grid) -> None:
        """Build the monthly layers of all the backtest's records once (see the class docstring)."""
        if self.rtm is None:
            self._layers = MonthlyLayers(records, grid, snap_points=self.snap_points)
            self._tuner = None

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(grid.shape)
        upto = int(month_index(train.frame["month"]).max())
        if self.rtm is not None or self.rtm_score is not None:
            rtm_score = self.rtm(train, grid) if self.rtm is not None else self.rtm_score
            score, fit = fit_combined(
                train,
                grid,
                area_share=self.area_share,
                mask=self.mask,
                rtm_score=rtm_score,
                horizon_months=self.horizon_months,
                n_validation=self.n_validation,
                snap_points=self.snap_points,
            )
        else:
            layers = self._layers
            if layers is None or layers.grid != grid or not layers.covers(train):
                layers = self._layers = MonthlyLayers(train, grid, snap_points=self.snap_points)
                self._tuner = None
            if self._tuner is None:
                self._tuner = CombinedTuner(
                    layers,
                    area_share=self.area_share,
                    mask=self.mask,
                    horizon_months=self.horizon_months,
                    n_validation=self.n_validation,
                )
            score, fit = _fit_on_layers(
                layers,
                upto,
                None,
                self.area_share,
                self.mask,
                None,
                self.horizon_months,
                self.n_validation,
                None,
                self._tuner,
            )
        self.fits.append(fit)
        return score
