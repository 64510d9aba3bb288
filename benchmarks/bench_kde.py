"""Kernel density speed: ours (exact and binned) against KDEpy FFTKDE and scikit-learn in the same process.

Real data: every Bedfordshire police.uk record with a location (24 months), 50 m cells, quartic
kernel with a 500 m search radius, on the force area's extent padded by the bandwidth. Then 10
million synthetic points over a county-sized (50 x 45 km) extent at the same settings.

    python benchmarks/bench_kde.py [--synthetic-points 10000000] [--repeats 3]

KDEpy's ``bw`` is the per-axis standard deviation (biweight support = bw * sqrt(7)), so it is
given ``500 / sqrt(7)``. scikit-learn has no quartic kernel; its Epanechnikov (same support,
bandwidth = 500) stands in, timed on a sample of cells with a KD-tree and scaled to the grid.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

BANDWIDTH_M = 500.0
CELL_M = 50.0


CPU = {}
"""CPU seconds (all threads) of the best run of each timed call, keyed by the function's name: the machine is shared,
so wall times swing with other people's load while CPU seconds do not."""


def best_of(repeats, fn, label=None):
    times = []
    result = None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    best = min(times)
    if label:
        CPU[label] = best[1]
    return best[0], result


def load_points():
    from hotspot.ingest import read_records
    from hotspot.core.settings import shared_data_dir

    import geopandas as gpd

    records = read_records([str(shared_data_dir() / "policeuk-bedfordshire")])
    force = gpd.read_file(shared_data_dir() / "boundaries-bedfordshire" / "lad_bedfordshire_dissolved_from_lsoa21.gpkg")
    bounds = force.to_crs(records.crs).total_bounds
    return records.frame["x"].to_numpy(np.float64), records.frame["y"].to_numpy(np.float64), bounds


def inside_centres(grid, x, y):
    """Points strictly inside the box of the grid's cell centres (what FFTKDE accepts)."""
    cx, cy = grid.column_centres(), grid.row_centres()
    return (x > cx[0]) & (x < cx[-1]) & (y > cy[-1]) & (y < cy[0])


def kdepy_time(x, y, grid, repeats):
    from KDEpy import FFTKDE

    gx, gy = np.meshgrid(grid.column_centres(), grid.row_centres()[::-1], indexing="ij")
    points = np.column_stack([gx.ravel(), gy.ravel()])
    data = np.column_stack([x, y])

    def run():
        return FFTKDE(kernel="biweight", bw=BANDWIDTH_M / math.sqrt(7), norm=2).fit(data).evaluate(points)

    seconds, values = best_of(repeats, run, "kdepy")
    return seconds, values.reshape(grid.ncols, grid.nrows).T[::-1] * len(x)


def sklearn_time(x, y, grid, n_cells=2000, seed=0):
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(seed)
    cx, cy = grid.cell_centres()
    pick = rng.choice(grid.size, size=min(n_cells, grid.size), replace=False)
    sample = np.column_stack([cx.ravel()[pick], cy.ravel()[pick]])
    start = time.perf_counter()
    model = KernelDensity(kernel="epanechnikov", bandwidth=BANDWIDTH_M).fit(np.column_stack([x, y]))
    model.score_samples(sample)
    return (time.perf_counter() - start) * grid.size / len(pick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-points", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numba

    from hotspot.core.grid import Grid
    from hotspot.stats.kde import kernel_density

    print(f"numba threads: {numba.get_num_threads()}")
    x, y, bounds = load_points()
    # The force area, not the points' extent: a few records carry coordinates hundreds of km away.
    grid = Grid.from_bounds(*bounds, CELL_M, pad_m=BANDWIDTH_M)
    n_loc = np.unique(np.column_stack([x, y]), axis=0).shape[0]
    print(f"Bedfordshire: {x.size:,} records at {n_loc:,} distinct locations; grid {grid.nrows} x {grid.ncols} "
          f"= {grid.size:,} cells of {CELL_M:g} m; quartic, bandwidth {BANDWIDTH_M:g} m")

    kernel_density(x[:100], y[:100], grid, bandwidth_m=BANDWIDTH_M)  # compile / load the Numba cache
    kernel_density(x[:100], y[:100], grid, bandwidth_m=BANDWIDTH_M, binned=True)
    t_exact, ours = best_of(args.repeats, lambda: kernel_density(x, y, grid, bandwidth_m=BANDWIDTH_M, units="per-cell"),
                            "exact")
    t_binned, ours_b = best_of(args.repeats, lambda: kernel_density(x, y, grid, bandwidth_m=BANDWIDTH_M, units="per-cell",
                                                                       binned=True), "binned")
    # FFTKDE refuses points outside its grid; hand it those inside (the rest are hundreds of km away or at the edge).
    on_grid = inside_centres(grid, x, y)
    t_kdepy, theirs = kdepy_time(x[on_grid], y[on_grid], grid, args.repeats)
    same_points = kernel_density(x[on_grid], y[on_grid], grid, bandwidth_m=BANDWIDTH_M, units="per-cell")
    t_sklearn = sklearn_time(x, y, grid)
    per_m2 = same_points.surface / grid.cell_area_m2
    print(f"  ours exact        {t_exact:8.3f} s   (cpu {CPU['exact']:.3f} s; mass on grid {ours.mass_on_grid:.6f})")
    print(f"  ours binned       {t_binned:8.3f} s   (cpu {CPU['binned']:.3f} s; max |binned - exact| / peak = "
          f"{np.abs(ours_b.surface - ours.surface).max() / ours.surface.max():.2e})")
    print(f"  KDEpy FFTKDE      {t_kdepy:8.3f} s   (cpu {CPU['kdepy']:.3f} s; {on_grid.sum():,} points on the grid; "
          "max |KDEpy - exact| / peak = "
          f"{np.abs(theirs - per_m2).max() / per_m2.max():.2e})")
    print(f"  sklearn (est.)    {t_sklearn:8.3f} s   (Epanechnikov, timed on 2,000 cells and scaled)")
    print(f"  ratio ours exact / KDEpy   = {t_exact / t_kdepy:.3f}  (target <= 0.2; in CPU seconds "
          f"{CPU['exact'] / CPU['kdepy']:.3f})")
    print(f"  ratio ours exact / sklearn = {t_exact / t_sklearn:.5f}")

    n = args.synthetic_points
    rng = np.random.default_rng(0)
    x0, y0 = 500_000.0, 200_000.0
    # Clustered like crime: half the points around 40 town centres, half spread over the county.
    centres = rng.uniform([x0, y0], [x0 + 50_000, y0 + 45_000], (40, 2))
    k = n // 2
    pick = rng.integers(0, 40, k)
    sx = np.concatenate([centres[pick, 0] + rng.normal(0, 800, k), rng.uniform(x0, x0 + 50_000, n - k)])
    sy = np.concatenate([centres[pick, 1] + rng.normal(0, 800, k), rng.uniform(y0, y0 + 45_000, n - k)])
    sgrid = Grid.from_bounds(x0, y0, x0 + 50_000, y0 + 45_000, CELL_M, pad_m=BANDWIDTH_M)
    t_synth, synth = best_of(1, lambda: kernel_density(sx, sy, sgrid, bandwidth_m=BANDWIDTH_M), "synth_exact")
    t_synth_b, _ = best_of(1, lambda: kernel_density(sx, sy, sgrid, bandwidth_m=BANDWIDTH_M, binned=True), "synth_binned")
    print(f"Synthetic: {n:,} points ({synth.n_locations:,} distinct) on {sgrid.nrows} x {sgrid.ncols} = {sgrid.size:,} cells")
    print(f"  ours exact        {t_synth:8.3f} s   (cpu {CPU['synth_exact']:.3f} s)")
    print(f"  ours binned       {t_synth_b:8.3f} s   (cpu {CPU['synth_binned']:.3f} s)")
    if n <= 20_000_000:
        inside = inside_centres(sgrid, sx, sy)
        t_kdepy_s, _ = kdepy_time(sx[inside], sy[inside], sgrid, 1)
        print(f"  KDEpy FFTKDE      {t_kdepy_s:8.3f} s   (cpu {CPU['kdepy']:.3f} s; ratio ours exact / KDEpy = "
              f"{t_synth / t_kdepy_s:.2f})")


if __name__ == "__main__":
    main()
