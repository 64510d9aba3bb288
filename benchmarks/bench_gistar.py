"""Gi* on the real Bedfordshire points, 100 m grid, 300 m band, 999 permutations: ours vs esda.

Runs both in this process on the same counts and prints the ratio for weights, analytic, permutations
(inference) and total. Usage: python benchmarks/bench_gistar.py [--no-esda] [--esda-permutations N]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-esda", action="store_true")
    parser.add_argument("--permutations", type=int, default=999)
    args = parser.parse_args()

    from hotspot.gistar import gi_star_grid
    from hotspot.grid import Grid
    from hotspot.ingest import read_records
    from hotspot.settings import shared_data_dir

    records = read_records([str(shared_data_dir() / "policeuk-bedfordshire")])
    # a few hundred rows carry coordinates hundreds of km away (other forces' snap points); keep the
    # rows police.uk places in a Bedfordshire LSOA so the grid covers the county, not half of England
    in_beds = records.frame["lsoa_name"].str.match(r"^(Bedford|Central Bedfordshire|Luton) ").to_numpy()
    records = records.with_frame(records.frame[in_beds])
    xy = records.xy
    grid = Grid.from_points(xy[:, 0], xy[:, 1], 100.0)
    counts = grid.count(xy[:, 0], xy[:, 1])
    print(f"{len(records):,} points, grid {grid.nrows} x {grid.ncols} = {grid.size:,} cells, band 300 m")

    # warm the JIT (on data with variance, so the inference kernels run) so compile time is not measured
    warm = np.random.default_rng(0).poisson(1.0, (60, 60)).astype(float)
    gi_star_grid(warm, 300.0, 100.0, permutations=args.permutations)
    gi_star_grid(warm, 300.0, 100.0, permutations=0)

    t0 = time.perf_counter()
    ours_analytic = gi_star_grid(counts, 300.0, 100.0, permutations=0)
    t_analytic = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = gi_star_grid(counts, 300.0, 100.0, permutations=args.permutations, seed=0)
    t_total = time.perf_counter() - t0
    t_infer = t_total - t_analytic
    print(f"ours: analytic (stencil weights + z) {t_analytic:.3f} s; total with inference {t_total:.3f} s "
          f"({ours.null_method}); bins {ours.bin_counts}")
    if args.no_esda:
        return

    from esda import G_Local
    from libpysal.weights import DistanceBand

    xs, ys = grid.cell_centres()
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        w = DistanceBand(pts, threshold=300.0, binary=True, silence_warnings=True)
        e_weights = time.perf_counter() - t0
        t0 = time.perf_counter()
        g0 = G_Local(counts.ravel(), w, transform="B", star=True, permutations=0)
        e_analytic = time.perf_counter() - t0
        t0 = time.perf_counter()
        g = G_Local(counts.ravel(), w, transform="B", star=True, permutations=args.permutations, n_jobs=-1,
                    keep_simulations=False, seed=0)
        e_perm_total = time.perf_counter() - t0
    e_infer = e_perm_total - e_analytic
    e_total = e_weights + e_perm_total
    dz = np.max(np.abs(g0.Zs - ours_analytic.z.ravel()))
    print(f"esda: weights {e_weights:.2f} s, analytic {e_analytic:.2f} s, permutations {e_infer:.2f} s, total {e_total:.2f} s")
    print(f"max |z_ours - z_esda| = {dz:.2e}")
    # ours has no separate weights step: the stencil is built inside the analytic pass
    t_weights = t_analytic
    print(f"ratio esda/ours  weights {e_weights / t_weights:,.0f}x  analytic {e_analytic / t_analytic:,.0f}x  "
          f"permutations {e_infer / max(t_infer, 1e-9):,.0f}x  total {e_total / t_total:,.0f}x")
    from hotspot.multiple_testing import adjust_pvalues

    sig_esda = int(np.sum(adjust_pvalues(np.minimum(1, 2 * g.p_sim), "fdr") <= 0.05))
    print(f"cells significant at FDR 5 %: ours {int(np.sum(ours.p_adjusted <= 0.05)):,}; "
          f"esda p_sim (two-sided, floor {2 / (args.permutations + 1):.3f}) {sig_esda:,}")


if __name__ == "__main__":
    main()
