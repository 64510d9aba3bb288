"""Street-level neighbourhood radii chosen from the data: the default KDE bandwidth and Gi* band.

County-scale rules (the spatial Silverman rule gives 1.2-2.9 km on police.uk county data; the
first peak of incremental spatial autocorrelation about 1 km) answer "where in the county", not
"which streets". The default here instead asks the data which radius would have predicted its own
later months best, the way a tasking meeting uses a map:

1. the records' months are split in time: the last quarter (at least one month) is held back;
2. for each candidate radius (:data:`CANDIDATES_M`, metres, those of at least 1.5 cells) a quartic
   kernel density of the earlier months is computed on the study grid;
3. the radius whose top ``area_share`` (default 1 %) of the study area holds the most held-back
   records wins; ties go to the smaller radius.

With fewer than two months there is nothing to hold back and the caller's fallback rule is used
(Silverman for KDE, the incremental spatial autocorrelation peak for Gi*). The rule and the hit
rates are reported so an analyst can see the choice.
"""

from __future__ import annotations

import numpy as np

CANDIDATES_M = (150.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0)
"""Candidate radii, metres: from a street block to a town centre."""
HOLDOUT_SHARE = 0.25
"""Share of the months (the latest) held back to judge each radius."""
AREA_SHARE = 0.01
"""Area budget, as a share of the study area, at which held-back records are counted."""
RULES = ("holdout", "silverman", "moran")
"""Radius rules: ``holdout`` (this module, the default), ``silverman`` (KDE), ``moran`` (Gi*)."""


def candidate_radii(cell_size_m: float) -> list[float]:
    """Candidate radii in metres for a grid of ``cell_size_m`` metres: at least 1.5 cells each."""
    radii = [r for r in CANDIDATES_M if r >= 1.5 * cell_size_m]
    return radii or [1.5 * cell_size_m, 2.0 * cell_size_m, 3.0 * cell_size_m]


def choose_radius(
    frame, grid, mask, *, area_share: float = AREA_SHARE, holdout_share: float = HOLDOUT_SHARE, candidates_m=None
) -> tuple[float | None, str]:
    """The radius (metres) whose density of earlier months best predicts the held-back months.

    Parameters
    ----------
    frame : DataFrame
        Records with ``x``, ``y`` (metres) and ``month`` (``YYYY-MM``).
    grid : hotspot.core.grid.Grid
        The study grid.
    mask : bool array (nrows, ncols)
        Cells of the study area.
    area_share : float, default 0.01
        Budget at which held-back records are counted (share of the study area).
    holdout_share : float, default 0.25
        Share of the months, the latest, held back (at least one).
    candidates_m : sequence of float, optional
        Radii to try, metres. Default :func:`candidate_radii`.

    Returns
    -------
    (radius_m, rule_text); ``radius_m`` is None when there are fewer than two months.
    """
    from hotspot.stats.accuracy import hit_rate
    from hotspot.stats.kde import kernel_density

    months = np.asarray(sorted(frame["month"].dropna().unique()))
    if months.size < 2:
        return None, "fewer than two months to hold back"
    n_test = max(1, int(round(holdout_share * months.size)))
    first_test = months[-n_test]
    test = (frame["month"] >= first_test).to_numpy()
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    if test.all() or not test.any():
        return None, "no records on one side of the hold-out split"
    test_counts = grid.count(x[test], y[test])
    candidates = list(candidates_m) if candidates_m is not None else candidate_radii(grid.cell_size)
    hits = []
    for radius in candidates:
        density = kernel_density(x[~test], y[~test], grid, bandwidth_m=radius, units="per-cell", mask=mask)
        hits.append(hit_rate(np.nan_to_num(density.surface, nan=0.0), test_counts, area_share, mask=mask))
    best = int(np.argmax(np.round(hits, 6)))
    shown = ", ".join(f"{r:g} m {h:.1%}" for r, h in zip(candidates, hits))
    text = (
        f"the radius whose density of {months[0]}..{months[-n_test - 1]} best predicted "
        f"{first_test}..{months[-1]} in the top {area_share:.0%} of the study area ({shown})"
    )
    return float(candidates[best]), text
