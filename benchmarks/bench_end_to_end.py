"""Whole commands on the real Bedfordshire records, as an analyst runs them, against esda's Gi* in one run.

Ours: ``hotspot gistar --band 300 --cell-size 100``, ``hotspot rank``, ``hotspot rank --method combined``
and ``hotspot evaluate`` (all eleven methods), each a fresh process (imports, parsed-input cache, study
area, analysis, every output file), warm: one run first fills the parsed-input cache and Numba's cache.
The peer: libpysal ``DistanceBand`` + esda ``G_Local`` with 999 permutations on the same counts over the
same study-area cells, in this process, warmed first (its first permutation call compiles). Ours and the
peer run alternately, ``--repeats`` times; medians of wall time and of CPU time (user + system, which a
loaded machine inflates less) are printed, and the ratios.

Cold start: ``hotspot gistar`` and ``hotspot evaluate`` with an empty Numba cache (everything compiles)
against the same commands warm, and the cost of ``hotspot cache --compile`` that removes it.

With ``--against PATH`` (another checkout, e.g. ``/work/main``) each command also runs from that
checkout, alternating with this one in every repeat, and the ratios of the medians are printed: a
before/after comparison made under the same load. ``--all-methods`` adds ``rank --method kde`` and
``--method gistar`` (``rtm`` needs risk features, which the police.uk folder has not).

Usage: python benchmarks/bench_end_to_end.py [--repeats 3] [--permutations 999] [--no-peer] [--no-cold]
       [--against PATH] [--all-methods] [--only rank,evaluate,...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _peer_cpu() -> float:
    """CPU seconds of this process and of every child, live (esda's joblib workers) or finished."""
    total = time.process_time() + _children_cpu()
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    except ImportError:
        pass
    return total


def _run(args: list[str], env: dict, root: Path = ROOT) -> tuple[float, float]:
    """(wall, cpu) seconds of ``hotspot ARGS`` in a fresh process, from the checkout ``root``."""
    cmd = [sys.executable, "-c", "import cli; cli.main()", *args, *([] if args[0] == "cache" else ["--quiet"])]
    env = dict(env, PYTHONPATH=str(root))
    cpu0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, _children_cpu() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--no-peer", action="store_true", help="skip esda (ours only)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start runs")
    parser.add_argument("--against", type=Path, help="another checkout to run each command from too, alternating")
    parser.add_argument("--all-methods", action="store_true", help="also rank --method kde and gistar")
    parser.add_argument("--only", help="comma-separated commands to run (default: all)")
    args = parser.parse_args()

    from hotspot.core.settings import cache_dir, shared_data_dir

    folder = shared_data_dir() / "policeuk-bedfordshire"
    tmp = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOTSPOT_CACHE=str(cache_dir() / "bench_end_to_end"))
    commands = {
        "gistar": ["gistar", str(folder), "--band", "300", "--cell-size", "100", "--out", str(tmp / "g.gpkg")],
        "rank": ["rank", str(folder), "--out", str(tmp / "r.gpkg")],
        "rank combined": ["rank", str(folder), "--method", "combined", "--out", str(tmp / "rc.gpkg")],
        "evaluate": ["evaluate", str(folder), "--out", str(tmp / "e.csv")],
    }
    if args.all_methods:
        for method in ("kde", "gistar"):
            commands[f"rank {method}"] = [
                "rank",
                str(folder),
                "--method",
                method,
                "--out",
                str(tmp / f"r{method}.gpkg"),
            ]
    if args.only:
        commands = {k: v for k, v in commands.items() if k in args.only.split(",")}
    roots = {"": ROOT}
    if args.against is not None:
        roots[" @against"] = args.against.resolve()
        print(f"ours: {ROOT}; against: {roots[' @against']}")
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start; {args.repeats} repeats")
    for cmd in commands.values():  # fills the parsed-input cache and Numba's cache, as any first run would
        for root in roots.values():
            _run(cmd, env, root)

    peer = None
    if not args.no_peer:
        from esda import G_Local
        from libpysal.weights import DistanceBand

        from hotspot.ingest.study import load_study

        study = load_study([str(folder)])
        grid, mask = study.grid(100.0)
        xy = study.records.xy
        y = grid.count(xy[:, 0], xy[:, 1])[mask]
        xs, ys = grid.cell_centres()
        pts = np.column_stack([xs[mask], ys[mask]])

        def peer():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = DistanceBand(pts, threshold=300.0, binary=True, silence_warnings=True)
                G_Local(
                    y,
                    w,
                    transform="B",
                    star=True,
                    permutations=args.permutations,
                    n_jobs=-1,
                    keep_simulations=False,
                    seed=0,
                )

        with warnings.catch_warnings():  # warm esda: its first permutation call compiles its Numba kernel
            warnings.simplefilter("ignore")
            ww = DistanceBand(pts[:3000], threshold=300.0, binary=True, silence_warnings=True)
            G_Local(
                y[:3000],
                ww,
                transform="B",
                star=True,
                permutations=args.permutations,
                n_jobs=-1,
                keep_simulations=False,
                seed=0,
            )
        print(
            f"peer: esda DistanceBand + G_Local({args.permutations}) on {y.size:,} study-area cells of 100 m, band 300 m"
        )

    runs = {k + suffix: (cmd, root) for k, cmd in commands.items() for suffix, root in roots.items()}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    if peer is not None:
        wall["esda"], cpu["esda"] = [], []
    for rep in range(args.repeats):
        if peer is not None:
            c0, t0 = _peer_cpu(), time.perf_counter()
            peer()
            wall["esda"].append(time.perf_counter() - t0)
            cpu["esda"].append(_peer_cpu() - c0)
        for name, (cmd, root) in runs.items():
            w, c = _run(cmd, env, root)
            wall[name].append(w)
            cpu[name].append(c)
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in wall.items()), flush=True)

    med_w = {k: statistics.median(v) for k, v in wall.items()}
    med_c = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"\nmedians of {args.repeats} (seconds), load average {os.getloadavg()[0]:.1f} at end:")
    goals = {"rank": "< 3 s (issue 18)", "rank combined": "< 3 s", "rank kde": "< 3 s", "rank gistar": "< 3 s"}
    goals["evaluate"] = "< 10 s"
    print(f"  {'':<24} {'wall':>8} {'cpu':>8}  goal, on an idle machine")
    for k in wall:
        print(f"  {k:<24} {med_w[k]:8.2f} {med_c[k]:8.2f}  {goals.get(k, '')}")
    if args.against is not None:
        print("\nours / against (medians):")
        for k in commands:
            other = k + " @against"
            print(f"  {k:<24} {med_w[k] / med_w[other]:6.2f}x wall, {med_c[k] / med_c[other]:6.2f}x cpu")
    if peer is not None and "gistar" in med_w:
        print(
            f"\nesda weights + G_Local({args.permutations}) / `hotspot gistar` end to end: "
            f"{med_w['esda'] / med_w['gistar']:.1f}x wall, {med_c['esda'] / med_c['gistar']:.1f}x cpu "
            "(goal >= 100x)"
        )

    if not args.no_cold:
        print("\ncold start (empty Numba cache) against warm, one run each:")
        for name in [n for n in ("gistar", "evaluate") if n in commands]:
            cold_env = dict(env, NUMBA_CACHE_DIR=str(tmp / f"numba_{name}"))
            cw, cc = _run(commands[name], cold_env)
            ww, wc = _run(commands[name], cold_env)
            print(
                f"  {name:<10} cold {cw:6.2f} s wall ({cc:6.2f} s cpu), warm {ww:6.2f} s ({wc:6.2f} s cpu): "
                f"{cw - ww:+.2f} s wall, {cc - wc:+.2f} s cpu to compile"
            )
        if "gistar" in commands:
            ahead_env = dict(env, NUMBA_CACHE_DIR=str(tmp / "numba_ahead"))
            aw, ac = _run(["cache", "--compile"], ahead_env)
            gw, gc = _run(commands["gistar"], ahead_env)
            print(
                f"  `hotspot cache --compile` once: {aw:.2f} s wall ({ac:.2f} s cpu); the first gistar after it "
                f"{gw:.2f} s ({gc:.2f} s cpu)"
            )


if __name__ == "__main__":
    main()
