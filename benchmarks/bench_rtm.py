"""RTM build time on a 100 m raster of Bedfordshire: 6 factors x 6 distances x 2 operationalisations.

Target (issue 5): the whole build (operationalise, select, refit, score) under 10 s on 2 cores.

Outcome: violence and sexual offences, every police.uk month in the shared folder. Study area: the
three Bedfordshire LADs. Factors (real files in the shared data folder): licensed premises, schools,
rail stations, and three police.uk snap-point facility types (parking areas, petrol stations,
supermarkets; circular as predictors — fine for timing, not for inference). Distances 100..600 m.
Reading the inputs is timed separately and not counted in the build.

Usage::

    python benchmarks/bench_rtm.py            # one cold and --repeat warm builds
    python benchmarks/bench_rtm.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SNAP_TYPES = {"parking_areas": "Parking Area", "petrol_stations": "Petrol Station", "supermarkets": "Supermarket"}


def load_inputs():
    import geopandas as gpd

    from hotspot.core.settings import shared_data_dir
    from hotspot.ingest.study import load_study
    from rtm.factors import read_factors

    data = shared_data_dir()
    study = load_study([str(data / "policeuk-bedfordshire")], crime_types=["Violence and sexual offences"])
    area = gpd.read_file(data / "boundaries-bedfordshire" / "lad_bedfordshire_dissolved_from_lsoa21.gpkg").to_crs(
        study.crs
    )
    factors = read_factors(
        {
            "licensed_premises": data / "poi-licensed-premises" / "open_pubs_fsa_bedford_luton.gpkg",
            "schools": data / "poi-schools" / "gias_schools_bedfordshire.gpkg",
            "rail_stations": data / "poi-railstations" / "rail_stations_bedfordshire_5km.gpkg",
        },
        study.crs,
    )
    snaps = gpd.read_file(
        data / "poi-policeuk-snappoints" / "policeuk_poi_snappoints_bedfordshire_2021-05_2023-04.gpkg"
    )
    snaps = snaps.to_crs(study.crs)
    for name, label in SNAP_TYPES.items():
        factors[name] = snaps[snaps["label"] == label].reset_index(drop=True)
    return study, area, factors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="warm builds after the cold one")
    parser.add_argument("--cell-size", type=float, default=100.0, help="metres")
    args = parser.parse_args()

    from rtm.pipeline import build

    t = time.perf_counter()
    study, area, factors = load_inputs()
    print(
        f"read inputs: {time.perf_counter() - t:.1f} s ({len(study.records):,} crimes, "
        f"{', '.join(f'{k} {len(v)}' for k, v in factors.items())})"
    )
    print(f"cores: {os.cpu_count()}, load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    distances = [args.cell_size * k for k in range(1, 7)]
    for run in range(1 + args.repeat):
        t = time.perf_counter()
        result = build(
            study.records, factors, study_area=area, cell_size_m=args.cell_size, distances_m=distances, seed=0
        )
        total = time.perf_counter() - t
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
        print(
            f"{'cold' if run == 0 else 'warm'} build: {total:.2f} s ({stages}); grid {result.grid.nrows}x"
            f"{result.grid.ncols}, {int(result.mask.sum()):,} study cells, {len(result.candidates.names)} layers"
        )
    print(result.model_table.to_string(index=False))


if __name__ == "__main__":
    main()
