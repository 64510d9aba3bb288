"""Forecasting next period's crime places and measuring the forecasts the way the field does.

Modules, lowest first:

- :mod:`hotspot.forecast.months`: ``YYYY-MM`` months as integers and record subsets by month.
- :mod:`hotspot.stats.accuracy`: selection at an area budget; hit rate, PAI, PEI*, RRI, compactness.
- :mod:`hotspot.forecast.mapchange`: police.uk anonymisation-map changes found and older records
  carried onto the current snap points.
- :mod:`hotspot.forecast.baselines`: the simple forecasts the literature compares against.
- :mod:`hotspot.forecast.combined`: ``combined``, a blend chosen on training months only.
- :mod:`hotspot.forecast.compare`: means over folds with confidence intervals and paired comparisons.
- :mod:`hotspot.forecast.backtest`: the rolling-origin backtest.
"""
