"""Peak memory and wall time of whole commands on millions of records: `gistar`, `kde` and `rank`.

Each command runs in a fresh process on the synthetic national police.uk-shaped CSVs
(:mod:`hotspot.scale.synthetic`, generated once into ``$HOTSPOT_CACHE/benchmarks``, as
``bench_national.py`` does) and is measured from outside: wall time, and peak resident memory from
the kernel's accounting of the child (``wait4`` ``ru_maxrss``, what ``/usr/bin/time -v`` reports as
"Maximum resident set size"). An ``ingest`` line measures reading and filtering alone
(:func:`hotspot.ingest.study.load_study`), so the rest of each command's time and memory is its analysis.

These commands take no ``--boundaries``, so the study area is the main body of the records: on the
national synthetic data that keeps about a third of them (the rest are rejected as outside the study
area and kept in the ledger).

The parsed-input cache (``$HOTSPOT_CACHE/parsed``) is filled by a first, untimed ingest unless
``--cache off`` (then every command parses its CSVs, ``HOTSPOT_NO_CACHE=1``). Outputs go to a temporary
folder that is removed afterwards. Run one at a time: two 20 M runs at once measure each other.

Usage::

    python benchmarks/bench_memory.py                      # 20 M records, warm parsed-input cache
    python benchmarks/bench_memory.py --n 5000000 --cache off
    python benchmarks/bench_memory.py --commands ingest,kde
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

COMMANDS = {
    "ingest": None,
    "gistar": ["gistar", "--band", "300", "--out", "{out}/gistar.gpkg"],
    "kde": ["kde", "--out", "{out}/kde.tif"],
    "rank": ["rank", "--out", "{out}/rank.gpkg"],
}

_INGEST = (
    "import sys, glob; from hotspot.ingest.study import load_study; "
    "s = load_study(sorted(glob.glob(sys.argv[1] + '/*.csv'))); "
    "print(len(s.records), len(s.records.rejected))"
)


def measure(argv: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, peak RSS GiB, exit code) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        print(f"  exit {proc.returncode}: {err.splitlines()[-1] if err else ''}", file=sys.stderr)
    return wall, usage.ru_maxrss / 2**20, proc.returncode  # ru_maxrss is KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000_000, help="synthetic records (default 20 M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--commands", default="ingest,gistar,kde,rank")
    parser.add_argument(
        "--cache",
        choices=("warm", "off"),
        default="warm",
        help="warm: fill the parsed-input cache first (untimed); off: HOTSPOT_NO_CACHE=1",
    )
    args = parser.parse_args()
    from bench_national import ensure_cache

    folder = ensure_cache(args.n, args.seed)
    csvs = sorted(str(p) for p in folder.glob("*.csv"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if args.cache == "off":
        env["HOTSPOT_NO_CACHE"] = "1"
    python = sys.executable
    if args.cache == "warm":
        measure([python, "-c", _INGEST, str(folder)], env)
    out = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    rows = []
    try:
        for name in args.commands.split(","):
            if name not in COMMANDS:
                raise SystemExit(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
            if COMMANDS[name] is None:
                argv = [python, "-c", _INGEST, str(folder)]
            else:
                argv = [python, "-m", "hotspot", *[a.format(out=out) for a in COMMANDS[name]], *csvs, "--quiet"]
            wall, peak, code = measure(argv, env)
            rows.append((name, wall, peak, code))
            print(f"  {name}: {wall:.1f} s, peak RSS {peak:.2f} GiB", file=sys.stderr)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"\n{args.n:,} synthetic records, parsed-input cache {args.cache}, {os.cpu_count()} cores")
    print(f"{'command':<8} {'wall s':>8} {'peak RSS GiB':>13}")
    for name, wall, peak, code in rows:
        print(f"{name:<8} {wall:>8.1f} {peak:>13.2f}" + ("" if code == 0 else f"  (exit {code})"))


if __name__ == "__main__":
    main()
