"""Forecast backtest on the shared Bedfordshire months: combined against prior counts, D and P.

Runs what ``hotspot evaluate`` runs (rolling origin, each test month predicted from every month
before it, PAI at 1 % of the true study area, the LSOA 2021 outline) for all crime and four crime
types, and prints one table: mean PAI over folds with its 95 % interval, and combined's paired
difference from each baseline. Also times ``combined`` (the blend chosen on training months only)
and the whole backtest of those four methods.

    PYTHONPATH=. python benchmarks/bench_forecast.py [--types all,violence,burglary,asb,robbery] [--harm]

Needs the shared data folder (``$HOTSPOT_DATA``, default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import sys
import time

TYPES = {
    "all": ("all crime", None),
    "violence": ("violence and sexual offences", ["Violence and sexual offences"]),
    "burglary": ("burglary", ["Burglary"]),
    "asb": ("anti-social behaviour", ["Anti-social behaviour"]),
    "robbery": ("robbery", ["Robbery"]),
}
METHODS = ("counts_all", "D_decay6m_neighbours", "P_since_map_change", "combined")


def run(kind: str, crime_types, area_share: float = 0.01, harm: bool = False):
    from hotspot.core.settings import shared_data_dir
    from hotspot.forecast.backtest import backtest, default_forecasters
    from hotspot.ingest.study import load_study

    data = shared_data_dir()
    study = load_study(
        [data / "policeuk-bedfordshire"],
        crime_types=crime_types,
        boundaries=data / "boundaries-bedfordshire" / "lsoa21_bedfordshire_bgc.gpkg",
    )
    records = study.records
    if harm:
        from hotspot.stats.harm import apply_weights

        records, _ = apply_weights(records, "harm")
    grid, mask = study.grid(100.0)  # the grid and study-area mask `hotspot evaluate` uses
    from hotspot.forecast.mapchange import snap_points

    # Older records are carried onto the current snap points of every crime type, as `hotspot evaluate` does.
    methods = default_forecasters(area_share=area_share, mask=mask, snap_points=snap_points(records))
    methods = {m: methods[m] for m in METHODS}
    t0 = time.perf_counter()
    result = backtest(records, grid, methods, area_share=area_share, mask=mask)
    return result, time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default=",".join(TYPES))
    parser.add_argument("--harm", action="store_true", help="weight records by ONS crime severity (--weight harm)")
    args = parser.parse_args(argv)
    print(
        f"PAI at 1 % of Bedfordshire (LSOA 2021 outline), 100 m cells, rolling origin, {'harm' if args.harm else 'count'}"
    )
    print(
        f"{'crime':<30}{'folds':>6}  "
        + "  ".join(f"{m[:22]:>22}" for m in METHODS)
        + f"  {'combined / best of D,P':>24}  {'combined / counts':>18}  {'seconds':>8}"
    )
    for key in args.types.split(","):
        label, types = TYPES[key]
        result, seconds = run(key, types, harm=args.harm)
        s = result.means.set_index("method")
        cells = [f"{s.loc[m, 'pai']:6.1f} ({s.loc[m, 'pai_low']:.1f}-{s.loc[m, 'pai_high']:.1f})" for m in METHODS]
        best = max(s.loc["D_decay6m_neighbours", "pai"], s.loc["P_since_map_change", "pai"])
        c = result.comparisons.set_index("baseline")
        print(
            f"{label:<30}{int(s['n_folds'].iloc[0]):>6}  "
            + "  ".join(f"{x:>22}" for x in cells)
            + f"  {s.loc['combined', 'pai'] / best:>24.3f}  {s.loc['combined', 'pai'] / s.loc['counts_all', 'pai']:>18.3f}"
            + f"  {seconds:>8.1f}"
        )
        for base in METHODS[:-1]:
            r = c.loc[base]
            print(
                f"    combined - {base:<24} {r['diff']:+6.2f} ({r['diff_low']:+.2f} to {r['diff_high']:+.2f}), "
                f"paired t p = {r['p_value']:.3f}, wins {int(r['wins'])}/{int(r['n_folds'])}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
