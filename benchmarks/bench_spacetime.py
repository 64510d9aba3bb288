"""Space-time speed: ours against the obvious NumPy/libpysal implementation, in the same process.

A. Emerging hot spots on the real Bedfordshire police.uk records: the cube (24 months x the 100 m study
   grid), space-time Gi* (300 m band, 1-slice window) and the Mann-Kendall trend of every cell.
   Peer: cube by numpy.histogramdd per month; space-time Gi* from libpysal DistanceBand weights on the
   cell centres (scipy sparse products, the way esda computes lags) and the Gi* formula in NumPy;
   Mann-Kendall by pymannkendall.original_test cell by cell (timed on a sample of cells and scaled
   to all of them, said so in the output). The z-scores of both are compared.
B. The Knox test on the latest 100,000 real Chicago assaults (dates in days), 100 m x 5 distance bands,
   7 days x 4 time bands, 999 permutations. Peer: the same k-d tree pairs, then per permutation
   numpy.random.permutation of the times, band lookups and numpy.bincount (timed on a few
   permutations and scaled to 999). Observed tables are compared.

Usage: python benchmarks/bench_spacetime.py [--part cube|knox|both] [--peer-permutations N] [--mk-sample N]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def bench_cube(mk_sample: int) -> None:
    from hotspot.core.settings import shared_data_dir
    from hotspot.ingest.study import load_study
    from hotspot.spacetime.cube import cube_on_grid
    from hotspot.spacetime.emerging import emerging_hot_spots

    data = shared_data_dir()
    study = load_study(
        [data / "policeuk-bedfordshire"], boundaries=data / "boundaries-bedfordshire" / "lsoa21_bedfordshire_bgc.gpkg"
    )
    from hotspot.core.grid import Grid

    xy = study.records.xy
    grid, mask = Grid.over_area(study.study_area(), xy[:, 0], xy[:, 1], 100.0, crs=study.crs)
    # warm the JIT on a small cube so compile time is not measured
    small = cube_on_grid(study.records.with_frame(study.records.frame.sample(3000, random_state=0)), grid, mask)
    emerging_hot_spots(small, band_m=300.0)

    t0 = time.perf_counter()
    cube = cube_on_grid(study.records, grid, mask)
    t_cube = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = emerging_hot_spots(cube, band_m=300.0, time_window=1)
    t_ehsa = time.perf_counter() - t0
    n_loc = int(mask.sum())
    print(
        f"A. {len(study.records):,} records; cube {cube.n_slices} months x {n_loc:,} cells "
        f"({cube.n_slices * n_loc:,} bins)"
    )
    print(
        f"   ours: cube {t_cube:.2f} s; Gi* + Mann-Kendall + categories {t_ehsa:.2f} s; total {t_cube + t_ehsa:.2f} s"
    )

    # --- peer ---------------------------------------------------------------------------------
    from libpysal.weights import DistanceBand

    frame = study.records.frame
    t0 = time.perf_counter()
    months = sorted(frame["month"].unique())
    peer_counts = np.zeros((len(months), grid.nrows, grid.ncols))
    x_edges = grid.xmin + np.arange(grid.ncols + 1) * grid.cell_size
    y_edges = grid.ymin + np.arange(grid.nrows + 1) * grid.cell_size
    for k, month in enumerate(months):
        sel = frame["month"].to_numpy() == month
        h, _ = np.histogramdd(
            np.column_stack([frame["y"].to_numpy()[sel], frame["x"].to_numpy()[sel]]), bins=[y_edges, x_edges]
        )
        peer_counts[k] = h[::-1]
    peer_counts[:, ~mask] = 0
    t_peer_cube = time.perf_counter() - t0
    t0 = time.perf_counter()
    xs, ys = grid.cell_centres()
    pts = np.column_stack([xs[mask], ys[mask]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = DistanceBand(pts, threshold=300.0 + 1e-6, binary=True, silence_warnings=True)
    sparse = w.sparse.tocsr()
    y = peer_counts[:, mask]  # (T, m)
    box = (sparse @ y.T).T + y  # spatial neighbourhood, self included
    k_box = np.asarray(sparse.sum(axis=1)).ravel() + 1.0
    lag = box.copy()
    lag[1:] += box[:-1]
    kk = np.tile(k_box, (len(months), 1))
    kk[1:] += k_box
    n = y.size
    mean = y.mean()
    s = np.sqrt((y * y).mean() - mean * mean)
    z_peer = (lag - mean * kk) / (s * np.sqrt((n * kk - kk * kk) / (n - 1)))
    t_peer_gi = time.perf_counter() - t0
    z_ours = ours.gi.z[:, mask]
    print(
        f"   peer: cube {t_peer_cube:.2f} s; Gi* (libpysal weights {t_peer_gi:.2f} s); "
        f"max |z ours - z peer| = {np.max(np.abs(z_ours - z_peer)):.2e}"
    )
    try:
        import pymannkendall as pmk
    except ImportError:
        print("   pymannkendall not installed: Mann-Kendall peer skipped")
        return
    rng = np.random.default_rng(0)
    sample = rng.choice(n_loc, size=min(mk_sample, n_loc), replace=False)
    series = z_ours.T[:, 1:]
    t0 = time.perf_counter()
    ref_p = np.array([pmk.original_test(series[i]).p for i in sample])
    t_mk_sample = time.perf_counter() - t0
    t_mk_peer = t_mk_sample * n_loc / len(sample)
    agree = np.max(np.abs(ref_p - ours.trend_p[sample]))
    total_peer = t_peer_cube + t_peer_gi + t_mk_peer
    print(
        f"   peer: Mann-Kendall {t_mk_sample:.2f} s on {len(sample):,} cells -> {t_mk_peer:.1f} s scaled to {n_loc:,} "
        f"(max |p ours - p pymannkendall| = {agree:.1e}); total {total_peer:.1f} s"
    )
    print(
        f"   ratio peer / ours: cube {t_peer_cube / t_cube:.1f}x; whole analysis {total_peer / (t_cube + t_ehsa):.1f}x"
    )


def bench_knox(peer_permutations: int) -> None:
    from scipy.spatial import cKDTree

    from hotspot.core.settings import shared_data_dir
    from hotspot.ingest import read_records
    from hotspot.spacetime.knox import knox_test, record_times

    records = read_records([shared_data_dir() / "crime-times-chicago" / "chicago_aggravated_assaults.csv.gz"])
    frame = records.frame.sort_values("datetime", kind="stable").tail(100_000)
    records = records.with_frame(frame)
    times, _ = record_times(records.frame)
    xy = records.xy
    knox_test(xy[:2000], times[:2000], permutations=19)  # warm the JIT
    t0 = time.perf_counter()
    c0 = time.process_time()
    ours = knox_test(xy, times, permutations=999, seed=0)
    t_ours = time.perf_counter() - t0
    c_ours = time.process_time() - c0
    print(f"B. Knox on {len(times):,} Chicago assaults, {ours.n_close_pairs:,} pairs within 500 m, 999 permutations")
    print(f"   ours: {t_ours:.1f} s wall, {c_ours:.1f} s CPU over all threads (wall time depends on other jobs' load)")

    t0 = time.perf_counter()
    pairs = cKDTree(xy).query_pairs(r=500.0, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    d = np.hypot(*(xy[i] - xy[j]).T)
    d_edges = ours.distance_edges_m
    t_edges = ours.time_edges
    dband = np.searchsorted(d_edges[1:], d, side="left")
    n_d, n_t = d_edges.size, t_edges.size
    t_pairs = time.perf_counter() - t0

    def table(t):
        dt = np.abs(t[i] - t[j])
        tband = np.searchsorted(t_edges[1:], dt, side="left")
        return np.bincount(dband * n_t + tband, minlength=n_d * n_t).reshape(n_d, n_t)

    observed = table(times)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(peer_permutations):
        table(rng.permutation(times))
    t_perm = (time.perf_counter() - t0) / peer_permutations
    c_perm = (time.process_time() - c0) / peer_permutations
    t_peer = t_pairs + 999 * t_perm
    same = np.array_equal(observed[:-1], ours.observed[:-1])
    print(
        f"   peer: pairs {t_pairs:.1f} s + {t_perm:.2f} s per permutation (timed on {peer_permutations}) "
        f"-> {t_peer:.0f} s for 999; observed tables equal: {same}"
    )
    print(f"   ratio peer / ours: {t_peer / t_ours:.1f}x wall; {(t_pairs + 999 * c_perm) / c_ours:.1f}x CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("cube", "knox", "both"), default="both")
    parser.add_argument("--peer-permutations", type=int, default=5)
    parser.add_argument("--mk-sample", type=int, default=2000)
    args = parser.parse_args()
    if args.part in ("cube", "both"):
        bench_cube(args.mk_sample)
    if args.part in ("knox", "both"):
        bench_knox(args.peer_permutations)


if __name__ == "__main__":
    main()
