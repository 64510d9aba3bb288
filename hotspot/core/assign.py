"""Which area each record belongs to: one rule for every command that counts records per area.

The rule: a record whose own LSOA code (police.uk publishes one per record) is among the
boundaries' area codes belongs to that area; any other record is placed by its position: the
polygon containing it, or, when it lies outside every polygon but within ``tolerance_m`` metres
(default 20 m, the generalisation of ONS BGC boundaries) of one, the nearest polygon. A point on a
shared edge goes to the area listed first. ``gistar --weights queen``, ``rank --over areas``,
``areas`` and the report all count with :func:`assign_records`, so they agree on every count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_TOLERANCE_M = 20.0
"""Metres outside every polygon within which a point still joins the nearest one.

ONS BGC boundaries are generalised to 20 m and police.uk snap points sit on boundary roads, so a
strict point-in-polygon test would lose records that are really inside. Every join (study area,
Gi* over areas, area statistics) uses this one value."""

RULES = ("auto", "code", "spatial")
"""``auto``: the record's own code when it matches, else its position (the default everywhere);
``code``: the code only; ``spatial``: the position only."""


def assign_records(frame: pd.DataFrame, areas, *, rule: str = "auto", tolerance_m: float = DEFAULT_TOLERANCE_M):
    """Index into ``areas`` (row order) of each record, -1 where none, and unmatched counts by reason.

    Parameters
    ----------
    frame : DataFrame
        Records with ``x``, ``y`` (metres, in the CRS of ``areas``) and optionally ``lsoa_code``.
    areas : GeoDataFrame
        Polygons with ``area_code``.
    rule : {"auto", "code", "spatial"}, default "auto"
        See :data:`RULES`.
    tolerance_m : float, default 20
        Metres outside every polygon within which a point joins the nearest.

    Returns
    -------
    (index, reasons, n_by_code, n_near)
        ``index`` int64 array; ``reasons`` maps a reason in words to the records it left unmatched;
        ``n_by_code`` records matched by their own code; ``n_near`` records matched within the tolerance.
    """
    import shapely

    if rule not in RULES:
        from hotspot.core.errors import HotspotInputError

        raise HotspotInputError(f"--join must be one of {', '.join(RULES)}, got {rule!r}")
    n = len(frame)
    index = np.full(n, -1, dtype=np.int64)
    codes = pd.Index(areas["area_code"].astype(str).str.strip())
    if rule != "spatial" and "lsoa_code" in frame:
        own = frame["lsoa_code"].fillna("").astype(str).str.strip()
        index = codes.get_indexer(own).astype(np.int64)
    else:
        own = pd.Series([""] * n, index=frame.index)
    n_by_code = int((index >= 0).sum())
    if rule == "code":
        reasons = {
            "no area code on the record": int(((index < 0) & own.eq("").to_numpy()).sum()),
            "area code not among the boundaries": int(((index < 0) & own.ne("").to_numpy()).sum()),
        }
        return index, reasons, n_by_code, 0

    todo = np.flatnonzero(index < 0)
    x = frame["x"].to_numpy(np.float64)[todo]
    y = frame["y"].to_numpy(np.float64)[todo]
    ok = np.isfinite(x) & np.isfinite(y)
    n_near = 0
    if todo.size:
        points = shapely.points(np.where(ok, x, 0.0), np.where(ok, y, 0.0))
        tree = shapely.STRtree(np.asarray(areas.geometry.values))
        pairs = tree.query(points, predicate="intersects")
        found = np.full(todo.size, -1, dtype=np.int64)
        order = np.lexsort((pairs[1], pairs[0]))
        first_pt, first_at = np.unique(pairs[0][order], return_index=True)
        found[first_pt] = pairs[1][order][first_at]
        found[~ok] = -1
        if tolerance_m > 0:
            missing = np.flatnonzero((found < 0) & ok)
            if missing.size:
                got = tree.query_nearest(points[missing], max_distance=tolerance_m, all_matches=False)
                found[missing[got[0]]] = got[1]
                n_near = int(got[0].size)
        index[todo] = found
    unmatched = index[todo] < 0
    reasons = {
        "no coordinates": int((unmatched & ~ok).sum()),
        f"outside every area (beyond {tolerance_m:g} m)": int((unmatched & ok).sum()),
    }
    return index, reasons, n_by_code, n_near


def count_per_area(frame: pd.DataFrame, areas, *, rule: str = "auto", tolerance_m: float = DEFAULT_TOLERANCE_M):
    """Records per area (row order of ``areas``, float64) and how many matched no area."""
    index, _, _, _ = assign_records(frame, areas, rule=rule, tolerance_m=tolerance_m)
    ok = index >= 0
    return np.bincount(index[ok], minlength=len(areas)).astype(np.float64), int((~ok).sum())
