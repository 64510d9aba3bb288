"""Gi* on the real Bedfordshire records, 100 m study grid, 300 m band: ours vs esda, side by side, warm.

Both run in this process on the same counts over the same study-area cells (``Study.grid``), each
warmed first (esda's first permutation call compiles its Numba kernel; ours loads its Numba cache),
then measured alternately ``--repeats`` times; medians and ratios are printed. Like is compared with
like:

- weights: libpysal ``DistanceBand`` vs our stencil (built inside our analytic pass, so its time is
  the whole analytic pass);
- analytic z and p: ``G_Local(permutations=0)`` vs ``gi_star_grid(permutations=0)``;
- permutations vs permutations: esda's 999 conditional permutations vs our permutation fallback
  (``null="permutation"``, 999), the same Monte Carlo work;
- our default inference, the exact null, is *different work* from esda's permutations (exact
  p-values instead of 999 draws); its time is printed beside esda's permutations, labelled so;
- end to end: ``hotspot gistar`` as a user runs it (a fresh process: imports, CSV ingest, study
  area, Gi* with the exact null, GeoPackage + CSV of the cells with records or a bin, three COG
  surfaces) against esda's weights + ``G_Local`` with 999 permutations on counts we hand it.

Usage: python benchmarks/bench_gistar.py [--repeats 3] [--permutations 999] [--no-end-to-end]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cli_gistar(folder: Path, out: Path, cache: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOTSPOT_CACHE=str(cache))
    cmd = [sys.executable, "-c", "import cli; cli.main()", "gistar", str(folder), "--band", "300",
           "--cell-size", "100", "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-end-to-end", action="store_true")
    args = parser.parse_args()
    R = args.permutations

    from esda import G_Local
    from libpysal.weights import DistanceBand

    from hotspot.stats.gistar import gi_star_grid
    from hotspot.core.settings import cache_dir, shared_data_dir
    from hotspot.ingest.study import load_study

    folder = shared_data_dir() / "policeuk-bedfordshire"
    study = load_study([str(folder)])
    grid, mask = study.grid(100.0)
    xy = study.records.xy
    counts = grid.count(xy[:, 0], xy[:, 1])
    y = counts[mask]
    xs, ys = grid.cell_centres()
    pts = np.column_stack([xs[mask], ys[mask]])
    print(f"{len(study.records):,} records; study grid {grid.nrows} x {grid.ncols}, {int(mask.sum()):,} study-area "
          f"cells of 100 m; band 300 m; {R} permutations; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f} at start")

    def esda_weights():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DistanceBand(pts, threshold=300.0, binary=True, silence_warnings=True)

    def esda_g(w, permutations):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return G_Local(y, w, transform="B", star=True, permutations=permutations, n_jobs=-1,
                           keep_simulations=False, seed=0)

    # --- warm both: esda's first permutation call compiles; ours loads the Numba cache
    warm_pts = pts[:3000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ww = DistanceBand(warm_pts, threshold=300.0, binary=True, silence_warnings=True)
        G_Local(y[:3000], ww, transform="B", star=True, permutations=R, n_jobs=-1, keep_simulations=False, seed=0)
    warm = np.random.default_rng(0).poisson(1.0, (60, 60)).astype(float)
    for null in ("exact", "permutation"):
        gi_star_grid(warm, 300.0, 100.0, permutations=R, null=null)

    rows: dict[str, list[float]] = {k: [] for k in (
        "esda weights", "esda analytic", "esda permutations", "ours analytic", "ours permutations",
        "ours exact null", "esda end to end", "ours end to end")}
    tmp = Path(tempfile.mkdtemp(prefix="bench_gistar_"))
    cache = cache_dir() / "bench_gistar"
    if not args.no_end_to_end:  # the first CLI run fills the parsed-input cache, as any first run would
        _cli_gistar(folder, tmp / "warm.gpkg", cache)
    for rep in range(args.repeats):
        t, w = _time(esda_weights)
        rows["esda weights"].append(t)
        t, g0 = _time(lambda: esda_g(w, 0))
        rows["esda analytic"].append(t)
        t_all, g = _time(lambda: esda_g(w, R))
        rows["esda permutations"].append(t_all - rows["esda analytic"][-1])
        rows["esda end to end"].append(rows["esda weights"][-1] + t_all)
        t, ours0 = _time(lambda: gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=0))
        rows["ours analytic"].append(t)
        t, exact = _time(lambda: gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=R, seed=0))
        rows["ours exact null"].append(t - rows["ours analytic"][-1])
        t, perm = _time(lambda: gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=R, seed=0,
                                             null="permutation"))
        rows["ours permutations"].append(t - rows["ours analytic"][-1])
        if not args.no_end_to_end:
            rows["ours end to end"].append(_cli_gistar(folder, tmp / f"run{rep}.gpkg", cache))
        if rep == 0:
            dz = np.nanmax(np.abs(g0.Zs - ours0.z[mask]))
            print(f"max |z_ours - z_esda| = {dz:.2e} over {y.size:,} cells")
            from hotspot.stats.multiple_testing import adjust_pvalues

            sig_esda = int(np.sum(adjust_pvalues(np.minimum(1, 2 * g.p_sim), "fdr") <= 0.05))
            sig_perm = int(np.sum(adjust_pvalues(perm.p_sim[mask], "fdr") <= 0.05))
            sig_exact = int(np.sum(adjust_pvalues(exact.p_sim[mask], "fdr") <= 0.05))
            print(f"cells with FDR-adjusted randomisation p <= 0.05: esda {sig_esda:,} and ours {sig_perm:,} "
                  f"({R} permutations, floor {2 / (R + 1):.4f}); ours exact null {sig_exact:,}")
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in rows.items() if v))

    med = {k: statistics.median(v) for k, v in rows.items() if v}
    print(f"\nmedians of {args.repeats} (seconds), load average {os.getloadavg()[0]:.1f} at end:")
    for k, v in med.items():
        print(f"  {k:<20} {v:8.3f}")

    def ratio(a, b):
        return med[a] / max(med[b], 1e-9)

    print("\nratios esda / ours (same process, same counts, alternating runs):")
    both = med["esda weights"] + med["esda analytic"]
    print(f"  weights + analytic z, p          {both / med['ours analytic']:,.0f}x   "
          f"(esda {both:.2f} s vs ours {med['ours analytic']:.3f} s)")
    print(f"  analytic only                    {ratio('esda analytic', 'ours analytic'):,.1f}x")
    print(f"  {R} permutations vs {R} permutations  {ratio('esda permutations', 'ours permutations'):,.2f}x   (like for like)")
    print(f"  {R} permutations vs exact null      {ratio('esda permutations', 'ours exact null'):,.0f}x   "
          "(different work: exact p-values instead of Monte Carlo)")
    if "ours end to end" in med:
        print(f"  end to end: esda weights + G_Local({R}) {med['esda end to end']:.2f} s vs `hotspot gistar` "
              f"{med['ours end to end']:.2f} s (fresh process, ingest, outputs)  {ratio('esda end to end', 'ours end to end'):,.1f}x")


if __name__ == "__main__":
    main()
