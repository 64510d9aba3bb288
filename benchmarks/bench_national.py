"""National-scale benchmark: 20 M synthetic records over England and Wales, single process vs Dask.

Stages, each timed (wall) with the process's peak RSS after it:

1. ingest: stream the 12 monthly police.uk-shaped CSVs of the synthetic cache
   (:func:`hotspot.scale.stream.stream_locations`) into distinct BNG locations with record counts;
2. KDE: 100 m cells over all England and Wales, 500 m quartic (:func:`hotspot.scale.tiling.tiled_kernel_density`);
3. Gi*: 100 m cells, 300 m band (:func:`hotspot.scale.tiling.tiled_gi_star`): analytic z everywhere and the
   exact conditional-randomisation p for the cells whose normal p could reach a bin.

``--mode single`` runs everything in one process (Numba using every core); ``--mode dask`` runs
the same plan on the default local cluster, one worker thread inside the process with Numba on every core
(``dask_client()``, what ``hotspot national --engine dask`` starts), or with ``--processes`` on a 2-worker
``LocalCluster`` of processes (1 thread each; ``dask_client(processes=True)``); ``--mode both`` runs each in a fresh
subprocess (so peak memory is measured separately) and checks the results are identical (SHA-256 of
the KDE surface and of the Gi* z and bins).

The synthetic data (:mod:`hotspot.scale.synthetic`) is generated once into the cache folder outside the
checkout (``$HOTSPOT_CACHE``, default ``~/.cache/hotspot``; about 1 GB of CSV for 20 M records).

Usage::

    python benchmarks/bench_national.py --mode both             # 20 M records
    python benchmarks/bench_national.py --mode both --n 2000000 # a quick look
    python benchmarks/bench_national.py --mode single --write   # also time the COG and GeoPackage writers
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from hotspot.core.settings import cache_dir  # noqa: E402  (light: os and pathlib only)

CACHE = cache_dir() / "benchmarks"


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (VmHWM), GiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def ensure_cache(n: int, seed: int) -> Path:
    """The synthetic CSV folder for (n, seed), generated once."""
    from hotspot.scale.synthetic import synthetic_national, write_policeuk_csvs

    folder = CACHE / f"national_n{n}_seed{seed}"
    marker = folder / "DONE.json"
    if marker.exists():
        return folder
    t0 = time.perf_counter()
    data = synthetic_national(n, seed=seed)
    write_policeuk_csvs(data, folder, seed=seed)
    marker.write_text(
        json.dumps(
            {"n": n, "seed": seed, "snaps": int(data.snap_x.size), "seconds": round(time.perf_counter() - t0, 1)}
        )
    )
    print(f"generated {n:,} synthetic records in {time.perf_counter() - t0:.1f} s -> {folder}", file=sys.stderr)
    return folder


def digest(array) -> str:
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _warm_exact() -> None:
    """Load the exact-null kernels (the tiled Gi* tests its candidate cells exactly) in this process."""
    import numpy as np

    from hotspot.scale.tiling import tiled_gi_star

    counts = np.random.default_rng(0).poisson(0.5, (40, 40)).astype(float)
    counts[18:22, 18:22] += 6
    tiled_gi_star(counts, 300.0, 100.0, tile_cells=16)


def run(mode: str, folder: Path, write: bool, tile_cells: int, processes: bool = False) -> dict:
    """One full run in this process; returns timings, memory and result digests."""
    import numpy as np

    from hotspot.core.grid import Grid
    from hotspot.scale.distributed import in_process
    from hotspot.scale.stream import stream_locations
    from hotspot.scale.tiling import tiled_gi_star, tiled_kernel_density

    out = {"mode": mode, "stages": {}}
    client = None
    ctx = None
    if mode == "dask":
        from hotspot.scale.distributed import dask_client, warm_workers

        t = time.perf_counter()
        ctx = dask_client(n_workers=2, threads_per_worker=1, processes=processes)
        client = ctx.__enter__()
        out["stages"]["cluster start"] = {"s": time.perf_counter() - t, "rss_gib": peak_rss_gib()}
        t = time.perf_counter()
        warm_workers(client)
        _warm_exact()  # the exact p of the tested cells is computed here, in the client
        out["stages"]["warm workers"] = {"s": time.perf_counter() - t, "rss_gib": peak_rss_gib()}
    else:
        # The same warm-up in-process: load the Numba kernels from the cache before timing.
        from hotspot.scale.distributed import _warm

        t = time.perf_counter()
        _warm()
        _warm_exact()
        out["stages"]["warm kernels"] = {"s": time.perf_counter() - t, "rss_gib": peak_rss_gib()}
    engine = "dask" if mode == "dask" else "local"

    def stage(name, fn):
        t = time.perf_counter()
        value = fn()
        out["stages"][name] = {"s": time.perf_counter() - t, "rss_gib": peak_rss_gib()}
        print(
            f"  [{mode}] {name}: {out['stages'][name]['s']:.2f} s, peak RSS {peak_rss_gib():.2f} GiB", file=sys.stderr
        )
        return value

    # As run_national groups files: one task per file for worker processes, the local groups otherwise.
    spread = client is not None and not in_process(client)
    locs = stage(
        "ingest",
        lambda: stream_locations([folder], engine=engine, client=client, files_per_task=1 if spread else 4),
    )
    out["records"] = locs.n_records
    out["locations"] = locs.n_locations
    grid = Grid.from_bounds(locs.x.min(), locs.y.min(), locs.x.max(), locs.y.max(), 100.0, pad_m=500.0)
    out["grid"] = [grid.nrows, grid.ncols]
    kde = stage(
        "KDE",
        lambda: tiled_kernel_density(
            locs.x,
            locs.y,
            grid,
            weights=locs.weight,
            bandwidth_m=500.0,
            kernel="quartic",
            tile_cells=tile_cells,
            engine=engine,
            client=client,
        ),
    )
    out["kde_sha"] = digest(kde.surface)
    out["kde_mass_on_grid"] = kde.mass_on_grid

    def gistar():
        counts = grid.count(locs.x, locs.y, locs.weight)
        return tiled_gi_star(counts, 300.0, 100.0, tile_cells=tile_cells, engine=engine, client=client)

    gi = stage("Gi*", gistar)
    out["gi_z_sha"] = digest(np.nan_to_num(gi.z, nan=-1e300))
    out["gi_bin_sha"] = digest(gi.bin)
    out["gi_hot_cells"] = int((gi.bin > 0).sum())
    out["gi_exact_cells"] = int(np.isfinite(gi.p_sim).sum())
    out["gi_p_used"] = gi.p_used
    compute = ("ingest", "KDE", "Gi*")
    out["total_s"] = sum(out["stages"][s]["s"] for s in compute)
    if write:
        from hotspot.scale.tiling import gistar_layers

        tmp = CACHE / f"out_{mode}"
        tmp.mkdir(parents=True, exist_ok=True)
        stage("write COG", lambda: kde.to_geotiff(tmp / "kde.tif"))

        def gpkg():
            from hotspot.io.outputs import write_geopackage

            return write_geopackage(tmp / "gistar.gpkg", gistar_layers(gi, grid))

        stage("write GeoPackage", gpkg)
    if client is not None:
        from hotspot.scale.distributed import worker_peak_rss_bytes

        out["worker_peak_rss_gib"] = {k: v / 2**30 for k, v in worker_peak_rss_bytes(client).items()}
        t = time.perf_counter()
        ctx.__exit__(None, None, None)
        out["stages"]["cluster close"] = {"s": time.perf_counter() - t, "rss_gib": peak_rss_gib()}
    out["peak_rss_gib"] = peak_rss_gib()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000_000, help="synthetic records (default 20 M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("single", "dask", "both"), default="both")
    parser.add_argument("--tile-cells", type=int, default=1024, help="tile side in cells (default 1024)")
    parser.add_argument("--write", action="store_true", help="also time writing the COG and the Gi* GeoPackage")
    parser.add_argument(
        "--processes", action="store_true", help="dask: 2 worker processes instead of one in-process worker thread"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = ensure_cache(args.n, args.seed)
    if args.child or args.mode != "both":
        result = run(args.mode, folder, args.write, args.tile_cells, args.processes)
        print(json.dumps(result))
        return
    results = {}
    for mode in ("single", "dask"):
        cmd = (
            [
                sys.executable,
                __file__,
                "--n",
                str(args.n),
                "--seed",
                str(args.seed),
                "--mode",
                mode,
                "--tile-cells",
                str(args.tile_cells),
                "--child",
            ]
            + (["--write"] if args.write else [])
            + (["--processes"] if args.processes else [])
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "")
        if proc.returncode:
            raise SystemExit(f"{mode} run failed")
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    s, d = results["single"], results["dask"]
    print(
        f"\n{args.n:,} records -> {s['locations']:,} locations; grid {s['grid'][0]:,} x {s['grid'][1]:,} "
        f"= {s['grid'][0] * s['grid'][1] / 1e6:.1f} M cells of 100 m"
    )
    print(f"{'stage':<18}{'single s':>10}{'peak GiB':>10}{'dask s':>10}{'peak GiB':>10}")
    names = list(dict.fromkeys(list(s["stages"]) + list(d["stages"])))
    for name in names:
        a, b = s["stages"].get(name), d["stages"].get(name)
        cell = lambda r: f"{r['s']:>10.2f}{r['rss_gib']:>10.2f}" if r else f"{'':>10}{'':>10}"  # noqa: E731
        print(f"{name:<18}{cell(a)}{cell(b)}")
    print(
        f"{'ingest+KDE+Gi*':<18}{s['total_s']:>10.2f}{s['peak_rss_gib']:>10.2f}{d['total_s']:>10.2f}{d['peak_rss_gib']:>10.2f}"
    )
    workers = d.get("worker_peak_rss_gib", {})
    print(
        f"dask worker peak RSS: {', '.join(f'{v:.2f}' for v in workers.values())} GiB "
        f"(client {d['peak_rss_gib']:.2f} GiB; sum {d['peak_rss_gib'] + sum(workers.values()):.2f} GiB)"
    )
    ratio = d["total_s"] / s["total_s"]
    start = sum(d["stages"][k]["s"] for k in ("cluster start", "warm workers"))
    print(
        f"dask / single: {ratio:.2f}x (compute stages); {(d['total_s'] + start) / s['total_s']:.2f}x with cluster start"
    )
    same = all(s[k] == d[k] for k in ("kde_sha", "gi_z_sha", "gi_bin_sha", "locations", "records"))
    print(
        f"identical results: {same} (KDE {s['kde_sha']}, Gi* z {s['gi_z_sha']}, bins {s['gi_bin_sha']}); "
        f"{s['gi_hot_cells']:,} hot cells; exact p for {s['gi_exact_cells']:,} cells, bins from {s['gi_p_used']}"
    )
    print(f"machine load (1-min average) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
