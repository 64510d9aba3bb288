"""The simple forecasts the literature compares against, each a callable ``(train_records, grid) -> scores``.

Every forecaster scores the grid from the training records only; a ``weight`` column (harm)
is summed instead of counting records. Months are ``YYYY-MM``; ages are counted in months
before the forecast origin (the last training month is age 0).

=====================  ==========================================================================
``PriorCounts(n)``     counts in the last ``n`` training months (all months when ``n`` is None)
``DecayedCounts(h)``   counts weighted 0.5 ** (age / h): exponentially decayed, half-life h months
``NeighbourSmoothed``  **D**: decayed counts (6-month half-life) + 0.25 x mean of the 8 neighbours
``SinceMapChange``     **P**: counts since the latest police.uk anonymisation-map change
``KDECrossValidated``  quartic KDE (binned) at the bandwidth that best predicts the last training month
``ProspectiveHotspot`` Bowers, Johnson & Pease (2004): each recent crime adds
                       1 / (1 + distance in cells) x 1 / (1 + age in months) within 400 m, 2 months
``SelfExciting``       ETAS-style (Mohler et al. 2011, 2015): a long-run background plus crimes
                       raising nearby risk, decaying exponentially in days; needs dates
=====================  ==========================================================================
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hotspot.core.grid import Grid
from hotspot.core.records import Records
from hotspot.forecast.months import month_index, record_weights
from hotspot.stats.accuracy import BudgetScorer, forecast_metrics


def counts(records: Records, grid: Grid, weights: np.ndarray | None = None) -> np.ndarray:
    """Records (or harm) per cell, multiplied by ``weights`` per record when given."""
    w = record_weights(records)
    if weights is not None:
        w = weights if w is None else w * weights
    return grid.count(records.frame["x"].to_numpy(np.float64), records.frame["y"].to_numpy(np.float64), w)


def _ages(train: Records) -> np.ndarray:
    m = month_index(train.frame["month"])
    return (m.max() - m).astype(np.float64)


class PriorCounts:
    """Each cell's count in the last ``months`` training months (all of them when None).

    Parameters
    ----------
    months : int or None, default None
        Months counted back from the last training month (1 = last month only).
    """

    def __init__(self, months: int | None = None):
        self.months = None if months is None else int(months)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(grid.shape)
        if self.months is None:
            return counts(train, grid)
        return counts(train, grid, (_ages(train) < self.months).astype(np.float64))


class PreviousPeriod(PriorCounts):
    """Naive baseline: each cell's count in the last ``months`` months of training (default 1)."""

    def __init__(self, months: int = 1):
        super().__init__(months)


def counts_all(train: Records, grid: Grid) -> np.ndarray:
    """Each cell's count over all training months."""
    return PriorCounts(None)(train, grid)


class DecayedCounts:
    """Counts weighted by 0.5 ** (age / ``half_life_months``): exponentially decayed counts."""

    def __init__(self, half_life_months: float = 6.0):
        self.half_life_months = float(half_life_months)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(grid.shape)
        return counts(train, grid, 0.5 ** (_ages(train) / self.half_life_months))


class NeighbourSmoothed:
    """**D**: decayed counts plus ``neighbour_weight`` x the mean of the 8 neighbouring cells.

    Parameters
    ----------
    half_life_months : float, default 6
        Half-life of the decay in months.
    neighbour_weight : float, default 0.25
        Weight of the neighbours' mean.
    """

    def __init__(self, half_life_months: float = 6.0, neighbour_weight: float = 0.25):
        self.half_life_months = float(half_life_months)
        self.neighbour_weight = float(neighbour_weight)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        from scipy import ndimage

        base = DecayedCounts(self.half_life_months)(train, grid)
        kernel = np.full((3, 3), 1.0 / 8.0)
        kernel[1, 1] = 0.0
        return base + self.neighbour_weight * ndimage.convolve(base, kernel, mode="constant", cval=0.0)


class SinceMapChange:
    """**P**: counts since the latest police.uk anonymisation-map change in the training months.

    Without a change (:func:`hotspot.forecast.mapchange.detect_map_changes`) it is prior counts
    over all months.
    """

    def __init__(self):
        self._totals = None
        self._changes: tuple = ()

    def prepare(self, records: Records, grid: Grid) -> None:
        """Find the map changes of all the backtest's records once (each fold reads those up to its last month)."""
        from hotspot.forecast.mapchange import detect_map_changes
        from hotspot.forecast.months import MonthTotals

        self._totals = MonthTotals(records)
        self._changes = detect_map_changes(records).changes if len(records) else ()

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        from hotspot.forecast.mapchange import detect_map_changes

        if len(train) == 0:
            return np.zeros(grid.shape)
        if self._totals is not None and self._totals.covers(train):
            # A change is found from the months up to it only, so the training months' own search
            # would find exactly the prepared changes up to their last month.
            upto = int(month_index(train.frame["month"]).max())
            changes = tuple(c for c in self._changes if int(month_index([c])[0]) <= upto)
        else:
            changes = detect_map_changes(train).changes
        if not changes:
            return counts(train, grid)
        since = month_index(train.frame["month"]) >= int(month_index([changes[-1]])[0])
        return counts(train, grid, since.astype(np.float64))


KDE_CV_BANDWIDTHS_M = (100.0, 200.0, 400.0, 800.0)
"""Bandwidths, metres, :class:`KDECrossValidated` chooses among."""


def binned_quartic_kde(counts_grid: np.ndarray, cell_size_m: float, bandwidth_m: float) -> np.ndarray:
    """Quartic KDE of counts binned to cell centres: sum over cells j of count_j x K(|c_i - c_j|), per cell.

    K(d) = 3 / (pi h^2) x (1 - d^2 / h^2)^2 for d < h (h = ``bandwidth_m`` metres), times the cell
    area, so each cell holds the expected count (``units="per-cell"`` of :mod:`hotspot.stats.kde` for
    points at cell centres). FFT convolution: a few milliseconds for a county grid.
    """
    from hotspot.core.convolve import fftconvolve_same  # scipy.signal's fftconvolve, without its 0.5 s import
    from hotspot.stats.kde import kernel_stencil

    kernel = kernel_stencil(bandwidth_m, cell_size_m, "quartic") * cell_size_m**2
    return np.clip(fftconvolve_same(counts_grid, kernel), 0.0, None)


class KDECrossValidated:
    """Quartic KDE at the bandwidth with the best hit rate predicting the last training month.

    The bandwidth is cross-validated on the training months only: each candidate's KDE of the
    months before the last training month is scored (hit rate at ``area_share``) against that
    month; ties go to the larger bandwidth. Records are binned to their cell centres
    (:func:`binned_quartic_kde`). The chosen bandwidths are kept in ``chosen``.

    Parameters
    ----------
    bandwidths_m : sequence of float, default (100, 200, 400, 800)
        Candidate search radii in metres (raised to one cell if smaller).
    area_share : float, default 0.01
        Area budget of the validation (0.01 = 1 % of the study area).
    mask : ndarray of bool, optional
        Study-area cells.
    """

    def __init__(self, bandwidths_m=KDE_CV_BANDWIDTHS_M, *, area_share: float = 0.01, mask=None):
        self.bandwidths_m = tuple(float(b) for b in bandwidths_m)
        self.area_share = area_share
        self.mask = mask
        self.chosen: list[float] = []

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(grid.shape)
        ages = _ages(train)
        bandwidths = [max(b, grid.cell_size) for b in self.bandwidths_m]
        best = bandwidths[-1]
        if (ages > 0).any():
            earlier = counts(train, grid, (ages > 0).astype(np.float64))
            last = counts(train, grid, (ages == 0).astype(np.float64))
            scorer = BudgetScorer(last, [self.area_share], mask=self.mask)
            scores = [scorer.hit_rates(binned_quartic_kde(earlier, grid.cell_size, b))[0] for b in bandwidths]
            best = bandwidths[max(range(len(scores)), key=lambda i: (np.nan_to_num(scores[i]), i))]
        self.chosen.append(best)
        return binned_quartic_kde(counts(train, grid), grid.cell_size, best)


class ProspectiveHotspot:
    """Prospective hotspotting (Bowers, Johnson & Pease 2004) on monthly data.

    Each crime in the last ``window_months`` training months within ``bandwidth_m`` metres of a
    cell centre adds 1 / (1 + d) x 1 / (1 + a) to the cell, where d is the distance between the
    cell centres in whole cells (the crime binned to its cell) and a the crime's age in months
    (0 for the last training month). The original used weeks and 50 m cells; police.uk gives
    months only.

    Parameters
    ----------
    bandwidth_m : float, default 400
        Search radius in metres (the original's 400 m).
    window_months : int, default 2
        Months counted back (the original's two months).
    """

    def __init__(self, bandwidth_m: float = 400.0, window_months: int = 2):
        self.bandwidth_m = float(bandwidth_m)
        self.window_months = int(window_months)

    def kernel(self, cell_size_m: float) -> np.ndarray:
        """The distance weights 1 / (1 + d), d in whole cells, zero beyond ``bandwidth_m``."""
        r = int(math.floor(self.bandwidth_m / cell_size_m))
        offsets = np.arange(-r, r + 1)
        dx, dy = np.meshgrid(offsets, offsets)
        d = np.hypot(dx, dy)
        return np.where(d * cell_size_m <= self.bandwidth_m, 1.0 / (1.0 + np.round(d)), 0.0)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        from hotspot.core.convolve import fftconvolve_same

        if len(train) == 0:
            return np.zeros(grid.shape)
        ages = _ages(train)
        recent = np.where(ages < self.window_months, 1.0 / (1.0 + ages), 0.0)
        binned = counts(train, grid, recent)
        return np.clip(fftconvolve_same(binned, self.kernel(grid.cell_size)), 0.0, None)


class SelfExciting:
    """ETAS-style self-exciting forecast (Mohler et al. 2011; 2015) for records with dates.

    rate(cell) = mu(cell) + theta x sum over past crimes i of omega x exp(-omega x (T - t_i)) x g(cell - x_i),

    where mu is the cell's mean daily count over the training period, T the end of the last
    training day, t_i the crime's date (days), g a Gaussian of ``sigma_m`` metres (binned to cells,
    normalised to 1) and omega = 1 / ``decay_days``. ``theta`` (expected offspring per crime) and
    ``decay_days`` are chosen among the candidates by the hit rate of predicting the last
    ``validation_days`` days of training from the earlier days (a backtest inside the training
    period). Records without a date (police.uk: month only) cannot be used: the forecaster
    raises ``ValueError``; :func:`hotspot.forecast.backtest.default_forecasters` adds it only for
    timed data.

    Parameters
    ----------
    sigma_m : float, default 100
        Spatial spread of the triggering kernel in metres.
    decay_days : sequence of float, default (7, 30)
        Candidate mean delays in days.
    thetas : sequence of float, default (0.0, 0.5, 2.0)
        Candidate triggering strengths (0: background only).
    validation_days : int, default 30
        Length of the inner validation window in days.
    area_share : float, default 0.01
        Area budget of the validation.
    mask : ndarray of bool, optional
        Study-area cells.
    """

    def __init__(
        self,
        sigma_m: float = 100.0,
        decay_days=(7.0, 30.0),
        thetas=(0.0, 0.5, 2.0),
        validation_days: int = 30,
        *,
        area_share: float = 0.01,
        mask=None,
    ):
        self.sigma_m = float(sigma_m)
        self.decay_days = tuple(float(d) for d in decay_days)
        self.thetas = tuple(float(t) for t in thetas)
        self.validation_days = int(validation_days)
        self.area_share = area_share
        self.mask = mask
        self.chosen: list[dict] = []

    def _rate(self, days: np.ndarray, x, y, w, grid: Grid, end_day: float, theta: float, decay: float):
        from scipy import ndimage

        span = max(float(end_day - days.min()), 1.0)
        background = grid.count(x, y, w) / span
        if theta == 0:
            return background
        omega = 1.0 / decay
        trig = grid.count(x, y, w * omega * np.exp(-omega * (end_day - days)))
        trig = ndimage.gaussian_filter(trig, self.sigma_m / grid.cell_size, mode="constant", truncate=3.0)
        return background + theta * trig

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        if len(train) == 0:
            return np.zeros(grid.shape)
        times = train.frame["datetime"]
        if not train.has_times or times.isna().any():
            raise ValueError("the self-exciting forecast needs a date on every record (police.uk gives months only)")
        days = (times - times.min()).dt.total_seconds().to_numpy() / 86400.0
        x = train.frame["x"].to_numpy(np.float64)
        y = train.frame["y"].to_numpy(np.float64)
        w = record_weights(train)
        w = np.ones(len(train)) if w is None else w
        end = float(np.floor(days.max()) + 1.0)
        cut = end - self.validation_days
        best = {"theta": 0.0, "decay_days": self.decay_days[0]}
        early = days < cut
        if early.sum() > 0 and (~early).sum() > 0:
            test = grid.count(x[~early], y[~early], w[~early])
            scored = []
            for theta in self.thetas:
                for decay in self.decay_days if theta > 0 else self.decay_days[:1]:
                    rate = self._rate(days[early], x[early], y[early], w[early], grid, cut, theta, decay)
                    hit = forecast_metrics(rate, test, self.area_share, mask=self.mask).hit_rate
                    scored.append((np.nan_to_num(hit), -theta, {"theta": theta, "decay_days": decay}))
            best = max(scored, key=lambda s: (s[0], s[1]))[2]
        self.chosen.append(best)
        return self._rate(days, x, y, w, grid, end, best["theta"], best["decay_days"])


class NearRepeat:
    """The near-repeat surface (:mod:`hotspot.spacetime.interaction`) as a forecast, for records with dates.

    The Knox table is measured on the last ``window_days`` days of the training records (``permutations``
    seeded permutations of their times); each cell's score is the excess risk that table gives for the
    distance and age of every record in that window, at the day after training ends. Cells with no
    near-repeat risk keep their order by 3-month decayed counts (a tie-break far below any near-repeat
    score), so the forecast is always a full ranking. Records without dates raise ``ValueError``, like
    :class:`SelfExciting`.

    Parameters
    ----------
    window_days : int, default 90
        Days of training records the Knox table and the surface use.
    permutations : int, default 99
        Knox permutations per fold.
    seed : int, default 0
    """

    def __init__(self, window_days: int = 90, permutations: int = 99, seed: int = 0):
        self.window_days = int(window_days)
        self.permutations = int(permutations)
        self.seed = int(seed)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        from hotspot.spacetime.interaction import near_repeat_surface
        from hotspot.spacetime.knox import knox_test, record_times

        when = pd.to_datetime(train.frame["datetime"])
        if len(train) == 0 or when.isna().any():
            raise ValueError("near_repeat needs a date on every record")
        end = when.max().normalize()
        recent = train.with_frame(train.frame[(when > end - pd.Timedelta(days=self.window_days)).to_numpy()])
        base = DecayedCounts(3.0)(train, grid)
        if len(recent) < 3:
            return base
        times, unit = record_times(recent.frame, "days")
        knox = knox_test(recent.xy, times, time_unit=unit, permutations=self.permutations, seed=self.seed)
        surface = near_repeat_surface(recent, grid, (end + pd.Timedelta(days=1)).strftime("%Y-%m-%d"), knox)
        return surface + base / (base.max() + 1.0) * 1e-6
