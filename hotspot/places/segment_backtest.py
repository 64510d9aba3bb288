"""Backtest: street-segment ranking against grid ranking at the same coverage of the street network.

Both methods see the same records (those snapped to the network), train on the months before
``test_from`` and are scored on the months from ``test_from`` on. Coverage is measured, for both, as
a share of the network's **length** (Rosser et al. 2017 compare network and grid hot spots this way):

- segments: lixels by training records (ties broken by the training records within 100 network
  metres), best first, until their length reaches the coverage;
- grid: cells of ``cell_size_m`` by training records (ties by the 3 x 3 neighbourhood's records),
  best first, until the street length inside them (each lixel counted in the cell holding its
  midpoint) reaches the coverage.

Hit rate = share of test records on the chosen lixels (in the chosen cells, by their coordinates);
PAI = hit rate / the coverage actually reached (the last lixel or cell may overshoot the target).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError

DEFAULT_COVERAGES = (0.01, 0.02, 0.05, 0.10)


def segment_vs_grid(
    study, network, snapped, *, test_from: str, coverages=DEFAULT_COVERAGES, cell_size_m: float = 100.0
) -> pd.DataFrame:
    """Hit rate and PAI of segment and grid rankings per coverage; columns ``coverage, method, covered, hit_rate, pai, n_test``."""
    from scipy.ndimage import uniform_filter

    from hotspot.core.grid import Grid
    from hotspot.network.gistar import network_distances
    from hotspot.places.segments import TIE_BREAK_M, choose_lixels

    frame = study.records.frame
    month = frame["month"].astype(str).to_numpy()
    ok = snapped.snapped
    train = ok & (month < test_from)
    test = ok & (month >= test_from)
    if not train.any() or not test.any():
        raise HotspotInputError(f"test_from {test_from}: need snapped records both before and from that month")
    n_lix = network.n_lixels
    lengths = network.lixels["length_m"].to_numpy()
    total_length = lengths.sum()
    seg_train = np.bincount(snapped.lixel[train], minlength=n_lix).astype(float)
    seg_test = np.bincount(snapped.lixel[test], minlength=n_lix)
    near = network_distances(network, TIE_BREAK_M) @ seg_train
    seg_score = seg_train + near / (near.max() + 1.0)

    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    mid = network.lixels.geometry.interpolate(0.5, normalized=True)
    mx, my = mid.x.to_numpy(), mid.y.to_numpy()
    grid = Grid.from_points(np.concatenate([x[ok], mx]), np.concatenate([y[ok], my]), cell_size_m, crs=network.crs)
    cell_train = grid.count(x[train], y[train]).astype(float)
    hood = uniform_filter(cell_train, size=3, mode="constant") * 9.0
    cell_score = (cell_train + hood / (hood.max() + 1.0)).ravel()
    flat_mid, on_mid = grid.flat_index(mx, my)
    cell_length = np.bincount(flat_mid[on_mid], weights=lengths[on_mid], minlength=grid.size)
    flat_test, on_test = grid.flat_index(x[test], y[test])
    cell_test = np.bincount(flat_test[on_test], minlength=grid.size)
    n_test = int(test.sum())
    rows = []
    for c in coverages:
        chosen = choose_lixels(seg_score, lengths, c)
        covered = lengths[chosen].sum() / total_length
        hit = seg_test[chosen].sum() / n_test
        rows.append({"coverage": c, "method": "segments", "covered": covered, "hit_rate": hit, "pai": hit / covered})
        order = np.lexsort((np.arange(grid.size), -cell_score))
        order = order[cell_score[order] > 0]
        cum = np.cumsum(cell_length[order])
        take = order[: int(np.searchsorted(cum, c * total_length, side="left")) + 1]
        covered = cell_length[take].sum() / total_length
        hit = cell_test[take].sum() / n_test
        rows.append(
            {
                "coverage": c,
                "method": f"grid {cell_size_m:g} m",
                "covered": covered,
                "hit_rate": hit,
                "pai": hit / covered if covered > 0 else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    table["n_test"] = n_test
    return table
