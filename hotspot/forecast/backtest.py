"""The rolling-origin backtest: every forecaster predicts each test window from the months before it.

The backtest rolls forward month by month: each fold trains on the months before its test
window (all of them, or the last ``train_months``) and tests on the next ``test_months``
months; the folds are the last ``folds`` such windows, stepping by ``test_months`` and
ending at the latest month. Each fold is scored at every budget in ``area_shares``
(:class:`hotspot.stats.accuracy.BudgetScorer`); the summary gives each method's mean
over folds with a confidence interval, and ``comparisons`` pairs ``combined`` (or every
method, without it) fold by fold against each other method
(:mod:`hotspot.forecast.compare`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.core.progress import resolve
from hotspot.core.records import Records
from hotspot.forecast.baselines import (
    DecayedCounts,
    KDECrossValidated,
    NearRepeat,
    NeighbourSmoothed,
    PreviousPeriod,
    PriorCounts,
    ProspectiveHotspot,
    SelfExciting,
    SinceMapChange,
    counts_all,
)
from hotspot.forecast.combined import CombinedForecaster, describe_weights
from hotspot.forecast.compare import mean_interval, paired_comparison
from hotspot.forecast.mapchange import MapChanges, detect_map_changes
from hotspot.forecast.months import month_index, month_text, record_weights, subset
from hotspot.ingest.validate import Parameter, check_parameters
from hotspot.stats.accuracy import BudgetScorer, check_area_share

if TYPE_CHECKING:
    from hotspot.ingest.study import Study
    from hotspot.io.provenance import Provenance

Forecaster = Callable[[Records, Grid], np.ndarray]
"""A forecaster takes the training records and the grid and returns scores of shape ``grid.shape``."""

AREA_SHARES = (0.005, 0.01, 0.02, 0.05)
"""The budgets the field reports at: 0.5, 1, 2 and 5 % of the study area."""

BASELINE_D = "D_decay6m_neighbours"
BASELINE_P = "P_since_map_change"


class KDEForecaster:
    """Quartic kernel density of the training records (``hotspot.stats.kde``), radius ``bandwidth_m`` metres."""

    def __init__(self, bandwidth_m: float = 400.0):
        self.bandwidth_m = float(bandwidth_m)

    def __call__(self, train: Records, grid: Grid) -> np.ndarray:
        from hotspot.stats.kde import kernel_density

        if len(train) == 0:
            return np.zeros(grid.shape)
        result = kernel_density(
            train.frame["x"].to_numpy(np.float64),
            train.frame["y"].to_numpy(np.float64),
            grid,
            bandwidth_m=self.bandwidth_m,
            kernel="quartic",
            weights=record_weights(train),
            units="per-cell",
        )
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


def default_forecasters(
    *,
    test_months: int = 1,
    area_share: float = 0.01,
    mask=None,
    rtm_score=None,
    kde_bandwidth_m: float = 400.0,
    features=None,
    study_area=None,
    seed: int = 0,
    has_times: bool = False,
    snap_points=None,
) -> dict[str, Forecaster]:
    """The standard methods a backtest compares.

    Parameters
    ----------
    test_months : int, default 1
        Length of the test period; ``previous_period`` uses the same number of last training
        months and ``combined`` chooses its blend for this horizon.
    area_share : float, default 0.01
        Area budget ``combined``, ``kde_cv`` and ``self_exciting`` are tuned for.
    mask : ndarray of bool, optional
        Study-area cells for the tuning.
    rtm_score : ndarray, optional
        Risk terrain score on the grid, an extra layer for ``combined``.
    kde_bandwidth_m : float, default 400
        Search radius in metres of the fixed-bandwidth KDE baseline.
    features : dict of str -> GeoDataFrame, optional
        Risk features; adds ``rtm`` (risk terrain model fitted on each fold's training records)
        and ``combined_rtm`` (``combined`` with that RTM score as an extra layer). Slow.
    study_area : GeoDataFrame or shapely geometry, optional
        Study area for the RTM.
    seed : int, default 0
        Seed of the RTM's cross-validation.
    has_times : bool, default False
        Records carry dates: adds ``self_exciting`` (ETAS-style).
    snap_points : pandas.DataFrame, optional
        Every located record of the force (:func:`hotspot.forecast.mapchange.snap_points`), for
        ``combined``'s carrying of older records. Default: the backtest's own records.

    Returns
    -------
    dict
        ``previous_period`` (last training period's counts), ``prior_3m``, ``prior_12m``,
        ``counts_all`` (prior counts over 1, 3, 12 and all months), ``decayed_3m``
        (exponentially decayed counts, 3-month half-life), ``D_decay6m_neighbours`` (D),
        ``P_since_map_change`` (P), ``kde_400m`` (fixed-bandwidth KDE), ``kde_cv`` (KDE at a
        cross-validated bandwidth), ``prospective`` (Bowers, Johnson & Pease 2004),
        ``self_exciting`` and ``near_repeat`` (the Knox near-repeat surface, :class:`NearRepeat`; both with
        dates), ``combined``, and with ``features`` also ``rtm`` and
        ``combined_rtm``.
    """
    methods: dict[str, Forecaster] = {
        "previous_period": PreviousPeriod(test_months),
        "prior_3m": PriorCounts(3),
        "prior_12m": PriorCounts(12),
        "counts_all": counts_all,
        "decayed_3m": DecayedCounts(3.0),
        BASELINE_D: NeighbourSmoothed(6.0, 0.25),
        BASELINE_P: SinceMapChange(),
    }
    methods[f"kde_{kde_bandwidth_m:g}m"] = KDEForecaster(kde_bandwidth_m)
    methods["kde_cv"] = KDECrossValidated(area_share=area_share, mask=mask)
    methods["prospective"] = ProspectiveHotspot()
    if has_times:
        methods["self_exciting"] = SelfExciting(area_share=area_share, mask=mask)
        methods["near_repeat"] = NearRepeat(seed=seed)
    methods["combined"] = CombinedForecaster(
        area_share=area_share, mask=mask, rtm_score=rtm_score, horizon_months=test_months, snap_points=snap_points
    )
    if features:
        rtm_forecaster = RTMForecaster(features, study_area=study_area, seed=seed)
        methods["rtm"] = rtm_forecaster
        methods["combined_rtm"] = CombinedForecaster(
            area_share=area_share, mask=mask, horizon_months=test_months, rtm=rtm_forecaster, snap_points=snap_points
        )
    return methods


@dataclass(frozen=True)
class BacktestResult:
    """Results of :func:`backtest`.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per fold, method and budget: fold, train_from, train_to, test_from, test_to,
        method, area_share, hit_rate, pai, pei, rri, area_selected, n_places,
        mean_place_area_m2, n_test.
    means : pandas.DataFrame
        One row per method at the main budget ``area_share``: means over folds of hit_rate,
        pai (with pai_low and pai_high, the confidence interval), pei, rri, n_places,
        mean_place_area_m2, and n_folds.
    area_share : float
        The main budget.
    notes : list of str
        What the reader should know (map changes, the blend ``combined`` chose in each fold).
    budgets : pandas.DataFrame
        Mean PAI (with interval) and PEI* per method at every budget in ``area_shares``.
    comparisons : pandas.DataFrame
        At the main budget: method, baseline, mean PAI difference with its interval
        (diff, diff_low, diff_high), ratio of the means, paired t-test p, folds won, n_folds.
    map_changes : MapChanges or None
        Anonymisation-map changes found in the records.
    strongest_baseline : str or None
        The method other than ``combined*`` with the highest mean PAI at the main budget.
    """

    folds: pd.DataFrame
    means: pd.DataFrame
    area_share: float
    notes: list = field(default_factory=list)
    budgets: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    map_changes: MapChanges | None = None
    strongest_baseline: str | None = None
    study_area: str = ""

    def write(self, path: str | Path, *, provenance: Provenance | None = None) -> list[Path]:
        """The per-fold CSV at ``path``, the means beside it as ``<stem>_summary.csv`` and, when there are
        any, the paired comparisons as ``<stem>_comparisons.csv``."""
        from hotspot.io.outputs import write_csv

        path = Path(path)
        written = [
            write_csv(self.folds, path, provenance=provenance),
            write_csv(self.means, path.with_name(f"{path.stem}_summary.csv"), provenance=provenance),
        ]
        if len(self.comparisons):
            written.append(
                write_csv(self.comparisons, path.with_name(f"{path.stem}_comparisons.csv"), provenance=provenance)
            )
        return written

    def summary(self, width: int = 100) -> list[str]:
        """The means per method, PAI by budget, the paired comparisons, what the measures mean, and the notes."""
        import math

        from rich.table import Table

        from hotspot.core.result import render

        f = self.folds
        title = (
            f"Backtest: {self.means['n_folds'].iloc[0]} fold(s), tests {f['test_from'].min()} to "
            f"{f['test_to'].max()}, area budget {self.area_share:.1%}"
        )
        table = Table(title=title)
        for c in ("method", "hit rate", "PAI (95 % CI)", "PEI*", "RRI", "places", "mean place m2"):
            table.add_column(c, justify="left" if c == "method" else "right")

        def num(value, fmt):
            return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)

        for _, row in self.means.iterrows():
            ci = "" if math.isnan(row["pai_low"]) else f" ({row['pai_low']:.1f}-{row['pai_high']:.1f})"
            table.add_row(
                str(row["method"]),
                f"{row['hit_rate']:.1%}",
                f"{row['pai']:.1f}{ci}",
                num(row["pei"], ".2f"),
                num(row["rri"], ".2f"),
                num(row["n_places"], ",.0f"),
                num(row["mean_place_area_m2"], ",.0f"),
            )
        lines = render(table, width)
        shares = sorted(self.budgets["area_share"].unique()) if len(self.budgets) else []
        if len(shares) > 1:
            pivot = self.budgets.pivot(index="method", columns="area_share", values="pai")
            budget_table = Table(title="Mean PAI by area budget")
            budget_table.add_column("method", justify="left")
            for share in shares:
                budget_table.add_column(f"{share:.1%}", justify="right")
            for name in self.means["method"]:
                budget_table.add_row(str(name), *[f"{pivot.loc[name, share]:.1f}" for share in shares])
            lines.extend(render(budget_table, width))
        if len(self.comparisons):
            comp = Table(title=f"Paired comparison at {self.area_share:.1%} (PAI difference, 95 % CI; folds won)")
            for c in ("method", "against", "difference", "ratio", "p", "won"):
                comp.add_column(c, justify="left" if c in ("method", "against") else "right")
            for _, row in self.comparisons.iterrows():
                against = f"{row['baseline']} (strongest)" if row["strongest"] else str(row["baseline"])
                low = "" if math.isnan(row["diff_low"]) else f" ({row['diff_low']:+.1f} to {row['diff_high']:+.1f})"
                comp.add_row(
                    str(row["method"]),
                    against,
                    f"{row['diff']:+.2f}{low}",
                    num(row["ratio"], ".3f"),
                    num(row["p_value"], ".3f"),
                    f"{int(row['wins'])}/{int(row['n_folds'])}",
                )
            lines.extend(render(comp, width))
        lines.append(
            "hit rate: share of test-period crimes in the selected cells; PAI: hit rate / share of area "
            "selected; PEI*: PAI / the best PAI possible at that area; RRI (recapture rate index): (test / "
            "training crimes in the selection) / (all test / all training crimes); places: groups of touching "
            "selected cells. Means over folds; intervals are Student t over folds."
        )
        if self.study_area:
            lines.append(f"area budgets are shares of the {self.study_area}")
        lines.extend(self.notes)
        return lines


PARAMETERS = (
    Parameter("area_share", "--area-share", "share"),
    Parameter("train_months", "--train-months", "count"),
    Parameter("test_months", "--test-months", "count"),
    Parameter("folds", "--folds", "count"),
    Parameter("cell_size_m", "--cell-size", "metres"),
)
"""What :func:`backtest_for_study` takes, checked in one place."""


def parse_budgets(text: str) -> list[float]:
    """``"0.005,0.01"`` -> the area budgets as shares of the study area, each checked."""
    try:
        shares = [float(b) for b in str(text).split(",") if b.strip()]
    except ValueError:
        raise HotspotInputError(
            f"--budgets {text!r}: give shares of the study area separated by commas, e.g. 0.005,0.01"
        ) from None
    return [check_area_share(share) for share in shares]


def backtest_for_study(
    study: Study,
    *,
    cell_size_m: float = 100.0,
    area_share: float = 0.01,
    area_shares: Sequence[float] = (),
    train_months: int | None = None,
    test_months: int = 1,
    folds: int | None = None,
    methods: Sequence[str] | None = None,
    with_rtm: bool = False,
    seed: int = 0,
    progress=None,
) -> BacktestResult:
    """The evaluate command in one call: the standard forecasters (:func:`default_forecasters`, only
    ``methods`` when given; with ``with_rtm`` also the RTM ones) backtested on the study's grid."""
    from dataclasses import replace

    from hotspot.forecast.mapchange import snap_points

    check_parameters(
        PARAMETERS,
        area_share=area_share,
        train_months=train_months,
        test_months=test_months,
        folds=folds,
        cell_size_m=cell_size_m,
    )
    check_area_share(area_share)
    records = study.records
    grid, mask = study.grid(cell_size_m)
    if with_rtm and not study.features:
        raise HotspotInputError("--rtm needs risk features; run on the demo or use `hotspot rtm` to prepare factors")
    forecasters = default_forecasters(
        test_months=test_months,
        area_share=area_share,
        mask=mask,
        features=study.features if with_rtm else None,
        study_area=study.study_area(),
        seed=seed,
        has_times=bool(records.has_times),
        snap_points=snap_points(records),
    )
    if methods:
        unknown = [m for m in methods if m not in forecasters]
        if unknown:
            raise HotspotInputError(f"--method {unknown[0]}: choose from {', '.join(forecasters)}")
        forecasters = {m: f for m, f in forecasters.items() if m in methods}
    result = backtest(
        records,
        grid,
        forecasters,
        area_share=area_share,
        train_months=train_months,
        test_months=test_months,
        folds=folds,
        mask=mask,
        area_shares=list(area_shares),
        progress=progress,
    )
    return replace(result, study_area=study.describe_area())


def backtest(
    records: Records,
    grid: Grid,
    forecasters: Mapping[str, Forecaster],
    *,
    area_share: float = 0.01,
    train_months: int | None = None,
    test_months: int = 1,
    folds: int | None = None,
    mask=None,
    area_shares=None,
    progress=None,
) -> BacktestResult:
    """Rolling-origin backtest of forecasters over months.

    Parameters
    ----------
    records : Records
        Records with ``month`` (``YYYY-MM``) and x/y in metres in ``grid.crs``; a ``weight``
        column (harm) makes every count a sum of harm, the test period's included.
    grid : Grid
        The grid forecasts are scored on (cell size in metres).
    forecasters : dict of name -> callable(train_records, grid) -> scores (nrows, ncols)
        Methods to compare, e.g. :func:`default_forecasters`. A forecaster with a
        ``prepare(records, grid)`` method is given all the records once first, to build what
        the folds share (it must read only each fold's training months).
    area_share : float, default 0.01
        The main budget as a share of the study area (0.01 = 1 %).
    train_months : int, optional
        Training window in months before each test window. Default: all earlier months.
    test_months : int, default 1
        Length of each test window in months; folds step forward by this much.
    folds : int, optional
        Keep only the last ``folds`` folds. Default: every fold with a full training window
        (at least ``test_months`` months when ``train_months`` is None).
    mask : ndarray of bool, optional
        Eligible cells (the study area); crimes elsewhere are not counted. Default: all cells.
    area_shares : sequence of float, optional
        Budgets to report besides the main one. Default: the main one only.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    BacktestResult
    """
    area_share = check_area_share(area_share)
    shares = sorted({area_share, *(check_area_share(a) for a in (area_shares or ()))})
    if test_months < 1:
        raise HotspotInputError(f"--test-months must be at least 1, got {test_months}")
    if train_months is not None and train_months < 1:
        raise HotspotInputError(f"--train-months must be at least 1, got {train_months}")
    last_folds = folds  # the name ``folds`` holds the per-fold table below
    if last_folds is not None and last_folds < 1:
        raise HotspotInputError(f"--folds must be at least 1, got {last_folds}")
    if not forecasters:
        raise ValueError("no forecasters to compare")
    if len(records) == 0:
        raise HotspotInputError("no records to backtest; check the input and the filters")
    months = month_index(records.frame["month"])
    first, last = int(months.min()), int(months.max())
    min_train = train_months if train_months is not None else test_months
    starts = list(range(last - test_months + 1, first + min_train - 1, -test_months))[::-1]
    if last_folds is not None:
        starts = starts[-last_folds:]
    if not starts:
        span = last - first + 1
        raise HotspotInputError(
            f"the records span {span} month(s) ({month_text(first)} to {month_text(last)}); a fold needs "
            f"{min_train} training + {test_months} test months; lower --train-months/--test-months or add months"
        )
    x = records.frame["x"].to_numpy(np.float64)
    y = records.frame["y"].to_numpy(np.float64)
    w = record_weights(records)
    progress = resolve(progress)
    for forecaster in forecasters.values():
        prepare = getattr(forecaster, "prepare", None)
        if prepare is not None:
            prepare(records, grid)
    rows = []
    total = len(starts) * len(forecasters)
    done = 0
    for fold, start in enumerate(starts, 1):
        train_from = first if train_months is None else start - train_months
        in_train = (months >= train_from) & (months < start)
        in_test = (months >= start) & (months < start + test_months)
        train = subset(records, in_train)
        train_counts = grid.count(x[in_train], y[in_train], None if w is None else w[in_train])
        test_counts = grid.count(x[in_test], y[in_test], None if w is None else w[in_test])
        scorer = BudgetScorer(test_counts, shares, train_counts=train_counts, mask=mask, cell_area=grid.cell_area_m2)
        for name, forecaster in forecasters.items():
            scores = np.asarray(forecaster(train, grid), dtype=np.float64)
            if scores.shape != grid.shape:
                raise ValueError(f"forecaster {name!r} returned shape {scores.shape}, the grid is {grid.shape}")
            measured = scorer(scores)
            for share, m in zip(shares, measured):
                rows.append(
                    {
                        "fold": fold,
                        "train_from": month_text(max(train_from, first)),
                        "train_to": month_text(start - 1),
                        "test_from": month_text(start),
                        "test_to": month_text(start + test_months - 1),
                        "method": name,
                        "area_share": share,
                        "hit_rate": m.hit_rate,
                        "pai": m.pai,
                        "pei": m.pei,
                        "rri": m.rri,
                        "area_selected": m.area_selected,
                        "n_places": m.n_places,
                        "mean_place_area_m2": m.mean_place_area,
                        "n_test": float(m.n_test),
                    }
                )
            done += 1
            progress("backtest", done, total)
    folds = pd.DataFrame(rows)
    if w is None:
        folds["n_test"] = folds["n_test"].round().astype(int)
    main = folds[np.isclose(folds["area_share"], area_share)]
    summary, budgets = _summaries(folds, main)
    summary["n_folds"] = len(starts)
    strongest, comparisons = _comparisons(main)
    changes = detect_map_changes(records)
    notes = []
    if changes.changes:
        notes.append(changes.describe())
    for name, forecaster in forecasters.items():
        fits = getattr(forecaster, "fits", None)
        if fits:
            # One line for the terminal (the latest blend); every test month's blend goes in the folds table.
            blends = {month_text(start): describe_weights(f.weights) for start, f in zip(starts, fits[-len(starts) :])}
            if "blend" not in folds:
                folds["blend"] = ""
            rows = folds["method"] == name
            folds.loc[rows, "blend"] = folds.loc[rows, "test_from"].map(blends).fillna("")
            last = list(blends)[-1]
            notes.append(
                f"{name}: blend for the latest test month ({last}): {blends[last]}; every test month's "
                "blend is in the folds table (column blend)"
            )
        chosen = getattr(forecaster, "chosen", None)
        if chosen and not fits and isinstance(chosen[0], float):
            notes.append(f"{name} bandwidth by fold (m): " + ", ".join(f"{b:g}" for b in chosen[-len(starts) :]))
    return BacktestResult(folds, summary, area_share, notes, budgets, comparisons, changes, strongest)


def _summaries(folds: pd.DataFrame, main: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for name, group in main.groupby("method", sort=False):
        ci = mean_interval(group["pai"])
        rows.append(
            {
                "method": name,
                "hit_rate": group["hit_rate"].mean(),
                "pai": ci.mean,
                "pai_low": ci.low,
                "pai_high": ci.high,
                "pei": group["pei"].mean(),
                "rri": group["rri"].mean(),
                "n_places": group["n_places"].mean(),
                "mean_place_area_m2": group["mean_place_area_m2"].mean(),
            }
        )
    budget_rows = []
    for (name, share), group in folds.groupby(["method", "area_share"], sort=False):
        ci = mean_interval(group["pai"])
        budget_rows.append(
            {
                "method": name,
                "area_share": share,
                "hit_rate": group["hit_rate"].mean(),
                "pai": ci.mean,
                "pai_low": ci.low,
                "pai_high": ci.high,
                "pei": group["pei"].mean(),
                "n_places": group["n_places"].mean(),
                "mean_place_area_m2": group["mean_place_area_m2"].mean(),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(budget_rows)


def _comparisons(main: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    table = main.pivot(index="fold", columns="method", values="pai")
    names = list(dict.fromkeys(main["method"]))
    challengers = [n for n in names if n.startswith("combined")] or names
    baselines = [n for n in names if not n.startswith("combined")]
    strongest = max(baselines, key=lambda n: table[n].mean()) if baselines else None
    rows = []
    for a in challengers:
        for b in names:
            if a == b:
                continue
            c = paired_comparison(table[a].to_numpy(), table[b].to_numpy())
            rows.append(
                {
                    "method": a,
                    "baseline": b,
                    "diff": c.difference.mean,
                    "diff_low": c.difference.low,
                    "diff_high": c.difference.high,
                    "ratio": c.ratio,
                    "p_value": c.p_value,
                    "wins": c.wins,
                    "n_folds": c.n,
                    "strongest": b == strongest,
                }
            )
    return strongest, pd.DataFrame(rows)
