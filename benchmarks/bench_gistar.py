"""Gi* on the real Bedfordshire records, 100 m study grid, 300 m band: ours vs esda, side by side, warm;
then the exact null at scale, and 1 vs 2 threads.

Both run in this process on the same counts over the same study-area cells (``Study.grid``), each
warmed first (esda's first permutation call compiles its Numba kernel; ours loads its Numba cache),
then measured alternately ``--repeats`` times; medians and ratios are printed. Like is compared with
like:

- weights: libpysal ``DistanceBand`` vs our stencil (built inside our analytic pass, so its time is
  the whole analytic pass);
- analytic z and p: ``G_Local(permutations=0)`` vs ``gi_star_grid(permutations=0)``;
- permutations vs permutations, binary weights: esda's 999 conditional permutations
  (``transform="B"``, its ``G_Local(999)`` minus ``G_Local(0)``) vs our permutation fallback (999,
  the step ``gi_star_grid(null="permutation")`` and rates run), the same Monte Carlo work;
- permutations vs permutations, weighted neighbours: esda's ``G_Local(transform="R")`` vs our
  weighted-neighbour permutations on the very weights esda used (row-standardised, its self
  weights), 999 each. Our inference steps (these and the exact null) are timed on their own, on
  the inputs the engine hands them: they take milliseconds, below the noise of subtracting two
  whole runs on a shared machine;
- exact null vs exact reference: our default inference (Newton's identity on the unit circle) vs the
  level-by-level dynamic programme it replaced (``method="levels"``, same p to 1e-13), on the 300 m and
  942 m bands, on the same records resampled to 20 M, and on the 20 M-record synthetic national grid
  (the cells ``hotspot national`` tests exactly). esda has no exact null: its 999 permutations beside
  our exact null are printed too, labelled as different work;
- threads: each of those at 1 and 2 Numba threads, optionally with the other core kept busy
  (``--busy`` runs ``yes > /dev/null`` during that part);
- end to end: esda's weights + ``G_Local`` with 999 permutations on counts we hand it (in this
  process, after its imports and warm-up) against ``hotspot gistar`` three ways:
  in this process through the library calls the command makes, after imports and warm-up, like the
  peer (ingest from the warm parsed-input cache, study area, grid counts, Gi* with the exact p and
  named clusters, provenance, every output file: GeoPackage with styles, CSV, three COG surfaces with
  styles, QGIS project), each stage timed; the command itself in this process (``cli.main()``, the
  same calls plus option parsing and reporting); and the command as a fresh process, which adds
  Python start-up and imports that the peer's figure does not include.

Usage: python benchmarks/bench_gistar.py [--repeats 3] [--permutations 999] [--no-end-to-end]
       [--end-to-end-only] [--no-scaling] [--busy] [--national-n 20000000]
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
from bench_end_to_end import _peer_cpu  # CPU of this process and its children (esda's joblib workers)

ROOT = Path(__file__).resolve().parent.parent


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cli_gistar(folder: Path, out: Path, cache: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOTSPOT_CACHE=str(cache))
    cmd = [
        sys.executable,
        "-c",
        "import cli; cli.main()",
        "gistar",
        str(folder),
        "--band",
        "300",
        "--cell-size",
        "100",
        "--out",
        str(out),
        "--quiet",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - t0


E2E_ARGS = ("--band", "300", "--cell-size", "100")
"""The end-to-end run: ``hotspot gistar FOLDER --band 300 --cell-size 100``."""


def _pipeline(folder: Path, out: Path, permutations: int) -> dict[str, float]:
    """``hotspot gistar FOLDER --band 300 --cell-size 100`` through the library calls the command makes, in
    this process; wall seconds of each stage (ingest, Gi* with clusters, provenance, writing) and CPU."""
    from hotspot.core.atomic import output_run
    from hotspot.ingest.study import load_study
    from hotspot.io.provenance import Provenance
    from hotspot.io.qgis_project import write_result_with_project
    from hotspot.places.clusters import gistar_for_study

    parameters = dict(band_m=300.0, band_rule="holdout", weights="band", k=8, correction="fdr", cell_size_m=100.0)
    marks = [(time.perf_counter(), time.process_time())]

    def mark():
        marks.append((time.perf_counter(), time.process_time()))

    with output_run():  # as the command: every file replaces the old one at the end, together
        study = load_study([str(folder)])
        mark()
        result = gistar_for_study(study, permutations=permutations, seed=0, **parameters)
        mark()
        parameters.update(study_area=study.describe_area(), study_area_km2=round(study.area_km2, 3))
        provenance = Provenance.capture(
            "gistar", {**parameters, "permutations": permutations, "seed": 0}, [str(folder)], study.records
        )
        mark()
        write_result_with_project(result, out, provenance=provenance)
    mark()
    stages: dict[str, float] = {}
    for i, name in enumerate(("ingest", "gistar", "provenance", "write")):
        stages[name] = marks[i + 1][0] - marks[i][0]
        stages[f"{name} cpu"] = marks[i + 1][1] - marks[i][1]
    stages["total"] = marks[-1][0] - marks[0][0]
    stages["cpu"] = marks[-1][1] - marks[0][1]
    return stages


def _cli_in_process(folder: Path, out: Path) -> tuple[float, float]:
    """(wall, cpu) of ``cli.main()`` in this process: the command's own code, after imports and warm-up."""
    import cli

    argv = sys.argv
    sys.argv = ["hotspot", "gistar", str(folder), *E2E_ARGS, "--out", str(out), "--quiet"]
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        cli.main()
    except SystemExit as exc:  # typer ends every run with sys.exit
        if exc.code not in (0, None):
            raise
    finally:
        sys.argv = argv
    return time.perf_counter() - t0, time.process_time() - c0


def end_to_end(args) -> None:
    """esda's weights + G_Local(permutations) against ``hotspot gistar`` in this process (library calls and
    ``cli.main()``) and as a fresh process, alternately, ``--repeats`` times; medians of wall and CPU."""
    from esda import G_Local
    from libpysal.weights import DistanceBand

    from hotspot.core.settings import cache_dir, shared_data_dir
    from hotspot.ingest.study import load_study

    R = args.permutations
    folder = shared_data_dir() / "policeuk-bedfordshire"
    cache = cache_dir() / "bench_gistar"
    os.environ.setdefault("HOTSPOT_CACHE", str(cache))  # the in-process runs and the fresh ones share it
    tmp = Path(tempfile.mkdtemp(prefix="bench_gistar_e2e_"))
    study = load_study([str(folder)])
    grid, mask = study.grid(100.0)
    xy = study.records.xy
    y = grid.count(xy[:, 0], xy[:, 1])[mask]
    xs, ys = grid.cell_centres()
    pts = np.column_stack([xs[mask], ys[mask]])

    def esda(points, values):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = DistanceBand(points, threshold=300.0, binary=True, silence_warnings=True)
            G_Local(values, w, transform="B", star=True, permutations=R, n_jobs=-1, keep_simulations=False, seed=0)

    esda(pts[:3000], y[:3000])  # esda's first permutation call compiles its Numba kernel
    _cli_gistar(folder, tmp / "warm.gpkg", Path(os.environ["HOTSPOT_CACHE"]))  # fills the parsed-input cache
    for _ in range(2):  # our warm-up: Numba cache loaded, lazy imports done
        _pipeline(folder, tmp / "lib.gpkg", R)
    _cli_in_process(folder, tmp / "cli.gpkg")
    print(
        f"\nend to end: {y.size:,} study-area cells of 100 m, band 300 m, {R} permutations; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f} at start",
        flush=True,
    )
    rows: dict[str, list[dict[str, float]]] = {"esda": [], "library": [], "cli in process": [], "fresh process": []}
    for rep in range(args.repeats):
        c0, t0 = _peer_cpu(), time.perf_counter()
        esda(pts, y)
        rows["esda"].append({"total": time.perf_counter() - t0, "cpu": _peer_cpu() - c0})
        rows["library"].append(_pipeline(folder, tmp / "lib.gpkg", R))
        wall, cpu = _cli_in_process(folder, tmp / "cli.gpkg")
        rows["cli in process"].append({"total": wall, "cpu": cpu})
        c0 = _peer_cpu()
        wall = _cli_gistar(folder, tmp / "fresh.gpkg", Path(os.environ["HOTSPOT_CACHE"]))
        rows["fresh process"].append({"total": wall, "cpu": _peer_cpu() - c0})
        print(
            f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]['total']:.3f} s" for k, v in rows.items()),
            f"(library stages: {', '.join(f'{k} {v:.3f}' for k, v in rows['library'][-1].items() if 'cpu' not in k)})",
            flush=True,
        )
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in rows.items()}
    esda_wall, esda_cpu = med["esda"]["total"], med["esda"]["cpu"]
    print(f"\nmedians of {args.repeats} (seconds), load average {os.getloadavg()[0]:.1f} at the end:")
    print(f"  {'':<34} {'wall':>8} {'cpu':>8}  esda/ours wall, cpu")
    for name, label in (
        ("esda", f"esda DistanceBand + G_Local({R})"),
        ("library", "ours in process (library calls)"),
        ("cli in process", "ours in process (cli.main())"),
        ("fresh process", "ours as a fresh process"),
    ):
        m = med[name]
        ratio = "" if name == "esda" else f"  {esda_wall / m['total']:6.1f}x {esda_cpu / m['cpu']:6.1f}x"
        print(f"  {label:<34} {m['total']:8.3f} {m['cpu']:8.3f}{ratio}")
    lib = med["library"]
    stages = ("ingest", "gistar", "provenance", "write")
    print("  ours in process, by stage, wall: " + ", ".join(f"{k} {lib[k]:.3f}" for k in stages))
    print("  ours in process, by stage, cpu:  " + ", ".join(f"{k} {lib[k + ' cpu']:.3f}" for k in stages))
    rest, rest_cpu = lib["total"] - lib["ingest"], lib["cpu"] - lib["ingest cpu"]
    print(
        f"  ours in process without ingest: {rest:.3f} s wall, {rest_cpu:.3f} s cpu: {esda_wall / rest:.1f}x, "
        f"{esda_cpu / rest_cpu:.1f}x esda (ingest is the parsed-input cache read, improved separately)"
    )


def _exact_inputs(counts, mask, band_m, cell_size_m):
    """(pool, y, k, t, plan) of every study-area cell, as gi_star_grid hands them to the exact null."""
    from hotspot.kernels.gistar import stencil_sums
    from hotspot.stats.gistar import _exact_plan
    from hotspot.stats.weights import stencil_offsets

    dr, dc = stencil_offsets(band_m, cell_size_m)
    t2, k2 = stencil_sums(np.where(mask, counts, 0.0), mask, dr, dc)
    y, k, t = counts[mask], k2[mask], t2[mask]
    return y, y, k, t, _exact_plan(y, k, t)


def _national_inputs(n_records: int):
    """The 20 M synthetic national grid (100 m, every cell, 300 m band): (pool, y, k, t, plan) of the cells
    ``tiled_gi_star`` tests exactly (normal p <= 0.10), and the counts for the whole tiled pass."""
    from hotspot.core.grid import Grid
    from hotspot.kernels.gistar import stencil_sums_at
    from hotspot.scale.synthetic import synthetic_national
    from hotspot.scale.tiling import tiled_gi_star
    from hotspot.stats.gistar import _exact_plan
    from hotspot.stats.weights import stencil_offsets

    data = synthetic_national(n_records, seed=0)
    x, y, w = data.locations()
    grid = Grid.from_bounds(x.min(), y.min(), x.max(), y.max(), 100.0, pad_m=500.0)
    counts = grid.count(x, y, w)
    analytic = tiled_gi_star(counts, 300.0, 100.0, exact=False)
    cells = np.flatnonzero((np.nan_to_num(analytic.p, nan=1.0) <= 0.10) & (analytic.n_neighbours > 0))
    rows, cols = np.divmod(cells, counts.shape[1])
    dr, dc = stencil_offsets(300.0, 100.0)
    mask = np.ones(counts.shape, dtype=bool)
    t, _ = stencil_sums_at(counts, mask, rows, cols, dr, dc)
    k = analytic.n_neighbours.ravel()[cells].astype(np.int64)
    pool = counts.ravel()
    return (pool, pool[cells], k, t, _exact_plan(pool, k, t)), counts


def _exact_null(inputs, method):
    from hotspot.stats.gistar import _exact_pvalues

    pool, y, k, t, (feasible, reason, k_max, s_max, shift) = inputs
    assert feasible, reason
    return _exact_pvalues(y, k, t, k_max, s_max, shift, pool=pool, method=method)


def _busy():
    """A process keeping one core busy, as another user's job would."""
    return subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-end-to-end", action="store_true")
    parser.add_argument(
        "--end-to-end-only", action="store_true", help="only esda against `hotspot gistar` end to end (in process too)"
    )
    parser.add_argument("--no-scaling", action="store_true", help="skip the exact null at scale and the thread check")
    parser.add_argument("--busy", action="store_true", help="keep the other core busy during the thread check")
    parser.add_argument("--national-n", type=int, default=20_000_000, help="records on the synthetic national grid")
    args = parser.parse_args()
    R = args.permutations
    if args.end_to_end_only:
        end_to_end(args)
        return

    import numba
    import scipy.sparse as sp
    from esda import G_Local
    from libpysal.weights import DistanceBand

    from hotspot.core.settings import cache_dir, shared_data_dir
    from hotspot.ingest.study import load_study
    from hotspot.stats.gistar import _permutation_pvalues, gi_star_areas, gi_star_grid
    from hotspot.stats.weights import csr_from_w

    folder = shared_data_dir() / "policeuk-bedfordshire"
    study = load_study([str(folder)])
    grid, mask = study.grid(100.0)
    xy = study.records.xy
    counts = grid.count(xy[:, 0], xy[:, 1])
    y = counts[mask]
    xs, ys = grid.cell_centres()
    pts = np.column_stack([xs[mask], ys[mask]])
    threads = numba.get_num_threads()
    print(
        f"{len(study.records):,} records; study grid {grid.nrows} x {grid.ncols}, {int(mask.sum()):,} study-area "
        f"cells of 100 m; band 300 m; {R} permutations; {os.cpu_count()} cores, {threads} Numba threads; load "
        f"average {os.getloadavg()[0]:.1f} at start"
    )

    def esda_weights():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DistanceBand(pts, threshold=300.0, binary=True, silence_warnings=True)

    def esda_g(w, permutations, transform="B"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return G_Local(
                y,
                w,
                transform=transform,
                star=True,
                permutations=permutations,
                n_jobs=-1,
                keep_simulations=False,
                seed=0,
            )

    # --- warm both: esda's first permutation call compiles; ours loads the Numba cache
    warm_pts = pts[:3000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ww = DistanceBand(warm_pts, threshold=300.0, binary=True, silence_warnings=True)
        for transform in ("B", "R"):
            gw = G_Local(
                y[:3000], ww, transform=transform, star=True, permutations=R, n_jobs=-1, keep_simulations=False, seed=0
            )
    warm = np.random.default_rng(0).poisson(1.0, (60, 60)).astype(float)
    for null in ("exact", "permutation"):
        gi_star_grid(warm, 300.0, 100.0, permutations=R, null=null)
    gi_star_areas(y[:3000], csr_from_w(gw.w), permutations=R)  # the weighted-neighbour kernel

    beds_exact = _exact_inputs(counts, mask, 300.0, 100.0)
    _, _, beds_k, beds_t, _ = beds_exact
    beds_indptr = np.concatenate([[0], np.cumsum(beds_k)]).astype(np.int64)
    beds_lag = y + beds_t
    ones = np.ones(y.size)
    _permutation_pvalues(y[:3000], beds_indptr[:3001], None, ones[:3000], beds_lag[:3000], R, 0)
    _exact_null(beds_exact, "auto")

    rows: dict[str, list[float]] = {
        k: []
        for k in (
            "esda weights",
            "esda analytic",
            "esda permutations",
            "esda weighted permutations",
            "ours analytic",
            "ours permutations",
            "ours weighted permutations",
            "ours exact null",
            "esda end to end",
            "ours end to end",
        )
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench_gistar_"))
    cache = cache_dir() / "bench_gistar"
    if not args.no_end_to_end:  # the first CLI run fills the parsed-input cache, as any first run would
        _cli_gistar(folder, tmp / "warm.gpkg", cache)
    weighted = None
    for rep in range(args.repeats):
        t, w = _time(esda_weights)
        rows["esda weights"].append(t)
        t, g0 = _time(lambda w=w: esda_g(w, 0))
        rows["esda analytic"].append(t)
        t_all, g = _time(lambda w=w: esda_g(w, R))
        rows["esda permutations"].append(t_all - rows["esda analytic"][-1])
        rows["esda end to end"].append(rows["esda weights"][-1] + t_all)
        t_r0, gr0 = _time(lambda w=w: esda_g(w, 0, "R"))
        t_r, _ = _time(lambda w=w: esda_g(w, R, "R"))
        rows["esda weighted permutations"].append(t_r - t_r0)
        if weighted is None:  # the very weights esda's row-standardised Gi* used, self weights included
            weighted = csr_from_w(gr0.w)
            assert not weighted.binary
            off = sp.csr_matrix((weighted.data, weighted.indices, weighted.indptr), shape=(y.size, y.size))
            weighted_lag = off @ y + weighted.self_weight * y
        t, ours0 = _time(lambda: gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=0))
        rows["ours analytic"].append(t)
        # Our inference steps are timed on their own: tens of milliseconds, less than the noise of
        # subtracting two whole runs on a shared machine. The inputs are those gi_star_grid and
        # gi_star_areas hand them (stencil sums, the weights' CSR lists), built once above.
        t, _ = _time(lambda: _exact_null(beds_exact, "auto"))
        rows["ours exact null"].append(t)
        t, _ = _time(lambda: _permutation_pvalues(y, beds_indptr, None, ones, beds_lag, R, 0))
        rows["ours permutations"].append(t)
        t, _ = _time(
            lambda c=weighted, lag=weighted_lag: _permutation_pvalues(y, c.indptr, c.data, c.self_weight, lag, R, 0)
        )
        rows["ours weighted permutations"].append(t)
        if rep == 0:
            exact = gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=R, seed=0)
            perm = gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=R, seed=0, null="permutation")
        if not args.no_end_to_end:
            rows["ours end to end"].append(_cli_gistar(folder, tmp / f"run{rep}.gpkg", cache))
        if rep == 0:
            dz = np.nanmax(np.abs(g0.Zs - ours0.z[mask]))
            print(f"max |z_ours - z_esda| = {dz:.2e} over {y.size:,} cells")
            from hotspot.stats.multiple_testing import adjust_pvalues

            sig_esda = int(np.sum(adjust_pvalues(np.minimum(1, 2 * g.p_sim), "fdr") <= 0.05))
            sig_perm = int(np.sum(adjust_pvalues(perm.p_sim[mask], "fdr") <= 0.05))
            sig_exact = int(np.sum(adjust_pvalues(exact.p_sim[mask], "fdr") <= 0.05))
            print(
                f"cells with FDR-adjusted randomisation p <= 0.05: esda {sig_esda:,} (its p_sim folds ties with the "
                f"observed value into the tail, so every empty neighbourhood scores 1/(R+1)) and ours {sig_perm:,} "
                f"({R} permutations, floor {2 / (R + 1):.4f}); ours exact null {sig_exact:,}"
            )
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in rows.items() if v), flush=True)

    med = {k: statistics.median(v) for k, v in rows.items() if v}
    print(f"\nmedians of {args.repeats} (seconds), load average {os.getloadavg()[0]:.1f}:")
    for k, v in med.items():
        print(f"  {k:<28} {v:8.3f}")

    table: list[tuple[str, str, str, str]] = []

    def line(what, theirs_name, theirs, ours, note=""):
        table.append(
            (what, f"{theirs_name} {theirs:.3f} s", f"{ours:.3f} s", f"{theirs / max(ours, 1e-9):,.1f}x{note}")
        )

    line("weights + analytic z, p", "esda", med["esda weights"] + med["esda analytic"], med["ours analytic"])
    line("analytic only", "esda", med["esda analytic"], med["ours analytic"])
    line(
        f"{R} permutations, binary weights (like for like)",
        "esda",
        med["esda permutations"],
        med["ours permutations"],
        f"; per permutation {1e3 * med['esda permutations'] / R:.2f} vs {1e3 * med['ours permutations'] / R:.3f} ms",
    )
    line(
        f"{R} permutations, row-standardised (like for like)",
        "esda",
        med["esda weighted permutations"],
        med["ours weighted permutations"],
        f"; per permutation {1e3 * med['esda weighted permutations'] / R:.2f} vs "
        f"{1e3 * med['ours weighted permutations'] / R:.2f} ms",
    )
    line(
        f"esda {R} permutations vs our exact null (different work)",
        "esda",
        med["esda permutations"],
        med["ours exact null"],
    )
    if "ours end to end" in med:
        line(
            f"end to end: esda weights + G_Local({R}) vs `hotspot gistar`",
            "esda",
            med["esda end to end"],
            med["ours end to end"],
        )

    if not args.no_scaling:
        permutation_steps = {
            f"Bedfordshire {R} permutations, binary": lambda: _permutation_pvalues(
                y, beds_indptr, None, ones, beds_lag, R, 0
            ),
            f"Bedfordshire {R} permutations, row-standardised": lambda: _permutation_pvalues(
                y, weighted.indptr, weighted.data, weighted.self_weight, weighted_lag, R, 0
            ),
        }
        _scaling(args, counts, mask, y, table, permutation_steps)

    if not args.no_end_to_end:
        end_to_end(args)

    width = max(len(r[0]) for r in table)
    print(f"\nside by side (reference / ours), load average {os.getloadavg()[0]:.1f} at the end:")
    print(f"  {'':<{width}}  {'reference':>22}  {'ours':>10}  ratio")
    for what, theirs, ours, ratio in table:
        print(f"  {what:<{width}}  {theirs:>22}  {ours:>10}  {ratio}")


def _scaling(args, counts, mask, y, table, permutation_steps):
    """The exact null vs the level-by-level reference at scale, then 1 vs 2 threads."""
    import numba

    rng = np.random.default_rng(1)
    dense = np.zeros_like(counts)
    dense[mask] = rng.multinomial(20_000_000, y / y.sum())  # the same places, 20 M records
    print("\nbuilding the exact-null inputs (the 20 M synthetic national grid takes a minute) ...", flush=True)
    national, national_counts = _national_inputs(args.national_n)
    cases = {
        "Bedfordshire 100 m, 300 m band": _exact_inputs(counts, mask, 300.0, 100.0),
        "Bedfordshire 100 m, 942 m band (276 neighbours)": _exact_inputs(counts, mask, 942.0, 100.0),
        "Bedfordshire resampled to 20 M records, 300 m": _exact_inputs(dense, mask, 300.0, 100.0),
        f"synthetic national, {args.national_n / 1e6:g} M records, tested cells": national,
    }
    from hotspot.stats.gistar import _sum_cdf

    _sum_cdf(np.array([5, 3, 2]), 10, 3, 4, "levels")  # load the reference's kernel from the Numba cache
    for name, inputs in cases.items():
        pool, ycells, _, _, plan = inputs
        _exact_null(inputs, "auto")  # warm
        ours, p_ours = [], None
        for _ in range(args.repeats):
            dt, p_ours = _time(lambda x=inputs: _exact_null(x, "auto"))
            ours.append(dt)
        ref_t, p_ref = _time(lambda x=inputs: _exact_null(x, "levels"))  # once: up to minutes
        diff = float(np.nanmax(np.abs(p_ours - p_ref)))
        print(
            f"{name}: {pool.size:,} pool, {ycells.size:,} cells tested, k_max {plan[2]}, s_max {plan[3]:,}, "
            f"{np.unique(pool).size:,} distinct values: ours {statistics.median(ours):.3f} s, level DP {ref_t:.2f} s, "
            f"max |p difference| {diff:.1e}",
            flush=True,
        )
        line = (
            f"exact null vs level DP: {name}",
            f"DP {ref_t:.3f} s",
            f"{statistics.median(ours):.3f} s",
            f"{ref_t / max(statistics.median(ours), 1e-9):,.1f}x",
        )
        table.append(line)

    from hotspot.scale.tiling import tiled_gi_star

    tiled_gi_star(national_counts[:300, :300], 300.0, 100.0)  # warm the tiled path
    t_an, _ = _time(lambda: tiled_gi_star(national_counts, 300.0, 100.0, exact=False))
    t_ex, res = _time(lambda: tiled_gi_star(national_counts, 300.0, 100.0))
    print(
        f"tiled Gi* on the synthetic national grid ({national_counts.size / 1e6:.1f} M cells): analytic only "
        f"{t_an:.2f} s, with the exact p {t_ex:.2f} s; {int((res.bin > 0).sum()):,} hot cells",
        flush=True,
    )
    table.append(
        (
            "tiled national Gi*: analytic only vs with exact p",
            f"analytic {t_an:.3f} s",
            f"{t_ex:.3f} s",
            f"exact adds {t_ex - t_an:.2f} s",
        )
    )

    # --- 1 vs 2 threads, optionally with the other core busy
    busy = _busy() if args.busy else None
    label = "other core busy" if busy else "no extra load"
    try:
        before = numba.get_num_threads()
        runs = {name: (lambda inputs=inputs: _exact_null(inputs, "auto")) for name, inputs in cases.items()}
        runs.update(permutation_steps)
        runs["tiled national Gi* with exact p"] = lambda: tiled_gi_star(national_counts, 300.0, 100.0)
        timing = {}
        for name, fn in runs.items():
            for _ in range(args.repeats):
                for n_threads in (1, 2):
                    numba.set_num_threads(min(n_threads, before))
                    timing.setdefault((name, n_threads), []).append(_time(fn)[0])
        numba.set_num_threads(before)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    print(f"\n1 vs 2 Numba threads ({label}), medians of {args.repeats}:")
    for name in runs:
        one, two = statistics.median(timing[(name, 1)]), statistics.median(timing[(name, 2)])
        print(f"  {name:<60} 1 thread {one:7.3f} s   2 threads {two:7.3f} s   2/1 = {two / max(one, 1e-9):.2f}")
        table.append(
            (
                f"threads ({label}): {name}",
                f"1 thread {one:.3f} s",
                f"{two:.3f} s",
                f"2 threads take {two / max(one, 1e-9):.2f}x",
            )
        )


if __name__ == "__main__":
    main()
