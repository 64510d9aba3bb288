"""The forecast evaluation API under its original name; the code lives in :mod:`hotspot.forecast`.

Kept so ``from hotspot.evaluate import ...`` (the CLI's ``evaluate`` and ``rank --method
combined``, ``rtm.validate``, user scripts) keeps working. Definitions of the metrics:
:mod:`hotspot.forecast.metrics`; the backtest: :mod:`hotspot.forecast.backtest`; ``combined``:
:mod:`hotspot.forecast.combined`.
"""

from __future__ import annotations

from hotspot.forecast.backtest import (  # noqa: F401
    AREA_SHARES,
    BacktestResult,
    Forecaster,
    KDEForecaster,
    RTMForecaster,
    backtest,
    default_forecasters,
)
from hotspot.forecast.baselines import (  # noqa: F401
    DecayedCounts,
    KDECrossValidated,
    NeighbourSmoothed,
    PreviousPeriod,
    PriorCounts,
    ProspectiveHotspot,
    SelfExciting,
    SinceMapChange,
    counts_all,
)
from hotspot.forecast.combined import (  # noqa: F401
    COMBINED_DEFAULT_WEIGHTS,
    COMBINED_SUMMARY,
    CombinedFit,
    CombinedForecaster,
    combined_candidates,
    combined_score,
    describe_weights,
    fit_combined,
    tune_combined,
)
from hotspot.forecast.metrics import (  # noqa: F401
    TIES,
    ForecastMetrics,
    check_area_share,
    forecast_metrics,
    hit_rate,
    metrics_at_budgets,
    pai,
    pei,
    rri,
    select_top_area,
    selection_weights,
)
from hotspot.forecast.months import month_index as _month_index  # noqa: F401
from hotspot.forecast.months import month_text as _month_text  # noqa: F401
