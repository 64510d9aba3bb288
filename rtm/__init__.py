"""Risk terrain modelling (Caplan and Kennedy): which features of a place raise crime risk, how far, and where.

The steps are separate functions so each stage can be inspected::

    candidates = rtm.operationalise(features, grid, distances_m, mask)   # proximity + density layers
    selection  = rtm.select(counts, candidates, seed=0)                  # cross-validated lasso (glum)
    model      = rtm.fit(counts, selection)                               # Poisson vs NB refit (statsmodels)
    surface    = rtm.score(model)                                         # relative risk per cell
    places     = rtm.priority_places(surface, counts=counts)              # top tier + risk narratives
    check      = rtm.validate(result, later_records)                      # hit rate, PAI, AUC vs KDE

or all at once with :func:`build`.

Cell size and distances (defaults)
----------------------------------
RTM practice sets the cell to about half a street block and measures spatial influence in
increments of that. The default cell is 50 m (half a typical 100 m urban block face in England) and
the default distances are 1 to 6 cells (50, 100, ..., 300 m: half a block to three blocks).

Modules: the steps are functions named as verbs (``rtm.select``); their modules are nouns
(:mod:`rtm.layers`, :mod:`rtm.selection`, :mod:`rtm.model`, :mod:`rtm.surface`, :mod:`rtm.validation`,
:mod:`rtm.pipeline`, :mod:`rtm.factors`, :mod:`rtm.run`), so no function shadows its own module.
"""

from __future__ import annotations

from rtm.factors import parse_factor_option, read_factor_layer, read_factors, read_factors_toml
from rtm.layers import CandidateLayers, default_distances, operationalise
from rtm.model import MODEL_COLUMNS, RiskModel, fit
from rtm.pipeline import DEFAULT_CELL_SIZE_M, RTMResult, build
from rtm.run import StudyRTM, build_for_study, parse_distances
from rtm.selection import Selection, select
from rtm.surface import RiskSurface, priority_mask, priority_places, score
from rtm.validation import ValidationResult, validate

__all__ = [
    "DEFAULT_CELL_SIZE_M",
    "MODEL_COLUMNS",
    "CandidateLayers",
    "RTMResult",
    "RiskModel",
    "RiskSurface",
    "Selection",
    "StudyRTM",
    "ValidationResult",
    "build",
    "build_for_study",
    "default_distances",
    "fit",
    "operationalise",
    "parse_distances",
    "parse_factor_option",
    "priority_mask",
    "priority_places",
    "read_factor_layer",
    "read_factors",
    "read_factors_toml",
    "score",
    "select",
    "validate",
]
