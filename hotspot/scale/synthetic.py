"""A reproducible synthetic national crime dataset for England and Wales, for benchmarks.

Built from real published data (``shared/data``, see ``SOURCES.md``): the ONS LSOA 2021
population-weighted centroids of all 35,672 LSOAs in England and Wales and Census 2021 usual
residents per LSOA.

How records are placed (all random steps from one seeded ``numpy.random.Generator``):

1. **Snap points.** police.uk publishes every record at one of a fixed set of anonymisation map
   points (roughly 750,000 nationally). Each LSOA gets ``snaps_per_lsoa`` (default 24, so 856,128
   in all) synthetic snap points scattered around its population-weighted centroid with an
   isotropic Gaussian of standard deviation ``spread_m`` (default 150 m) in British National Grid
   metres, then rounded to 6 decimal places of longitude/latitude as police.uk publishes them.
2. **Records per LSOA.** ``n_points`` records are shared among LSOAs by a multinomial draw with
   probabilities proportional to Census 2021 usual residents.
3. **Records per snap point.** Within its LSOA, a record picks snap point ``k`` (k = 0..K-1) with
   probability proportional to ``1 / (k + 1)`` (a Zipf profile: a few busy streets, many quiet
   ones), so duplicate coordinates are as common as in real police.uk data.
4. **Month and crime type** (for the CSV cache): uniform over the 12 months of ``year``, and one of
   the 14 police.uk categories with fixed national-like shares (:data:`CRIME_TYPE_SHARES`).

The same ``seed`` and parameters give the same records on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotspot.core.errors import HotspotInputError

CENTROIDS_FILE = "lookups/lsoa21_popweighted_centroids_ew.csv.gz"
POPULATION_FILE = "population/census2021_usual_residents_age6_lsoa21_ew_long.csv.gz"

CRIME_TYPE_SHARES = {
    "Violence and sexual offences": 0.33,
    "Anti-social behaviour": 0.17,
    "Public order": 0.09,
    "Criminal damage and arson": 0.08,
    "Other theft": 0.06,
    "Shoplifting": 0.06,
    "Vehicle crime": 0.06,
    "Burglary": 0.04,
    "Drugs": 0.03,
    "Other crime": 0.02,
    "Theft from the person": 0.02,
    "Bicycle theft": 0.01,
    "Robbery": 0.01,
    "Possession of weapons": 0.01,
}
"""Crime types of the synthetic records and their shares (sum 1)."""


@dataclass
class SyntheticNational:
    """The synthetic records as snap points plus, per record, which snap point and LSOA it is at.

    Attributes
    ----------
    snap_lon, snap_lat : float64 arrays
        Snap points in WGS84 degrees, rounded to 6 decimals (as police.uk publishes).
    snap_x, snap_y : float64 arrays
        The same points projected to British National Grid (EPSG:27700) metres, exactly as
        :mod:`hotspot.ingest` projects the published degrees.
    snap_lsoa : int array
        Index into ``lsoa_codes`` of each snap point.
    record_snap : int32 array, shape (n_points,)
        Snap point of each record.
    lsoa_codes : list of str
        LSOA 2021 codes.
    seed, spread_m, snaps_per_lsoa : as given.
    """

    snap_lon: np.ndarray
    snap_lat: np.ndarray
    snap_x: np.ndarray
    snap_y: np.ndarray
    snap_lsoa: np.ndarray
    record_snap: np.ndarray
    lsoa_codes: list
    seed: int
    spread_m: float
    snaps_per_lsoa: int

    @property
    def n_points(self) -> int:
        return int(self.record_snap.size)

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Record coordinates in BNG metres (n_points each)."""
        return self.snap_x[self.record_snap], self.snap_y[self.record_snap]

    def locations(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct locations and record counts (what streaming ingest of the CSV cache returns)."""
        from hotspot.stats.kde import aggregate_locations

        counts = np.bincount(self.record_snap, minlength=self.snap_x.size).astype(np.float64)
        used = counts > 0
        return aggregate_locations(self.snap_x[used], self.snap_y[used], counts[used])


def load_lsoas(data_dir: str | Path | None = None):
    """LSOA 2021 codes, centroid lon/lat (degrees), BNG x/y (metres) and Census 2021 usual residents.

    ``data_dir``: the shared data folder; default :func:`hotspot.core.settings.shared_data_dir`.
    """
    import pandas as pd

    from hotspot.core.settings import shared_data_dir
    from hotspot.ingest.projection import BNG, WGS84, transform

    folder = Path(data_dir) if data_dir is not None else shared_data_dir()
    cpath, ppath = folder / CENTROIDS_FILE, folder / POPULATION_FILE
    for path in (cpath, ppath):
        if not path.exists():
            raise HotspotInputError(f"{path}: not found; set HOTSPOT_DATA to the shared data folder")
    cent = pd.read_csv(cpath)
    pop = pd.read_csv(ppath).groupby("lsoa21_code")["usual_residents"].sum()
    cent = cent.sort_values("LSOA21CD").reset_index(drop=True)
    cent["population"] = cent["LSOA21CD"].map(pop).fillna(0).to_numpy(np.float64)
    cent["x"], cent["y"] = transform(cent["longitude"].to_numpy(), cent["latitude"].to_numpy(), WGS84, BNG)
    return cent


def synthetic_national(
    n_points: int = 20_000_000,
    *,
    seed: int = 0,
    spread_m: float = 150.0,
    snaps_per_lsoa: int = 24,
    data_dir: str | Path | None = None,
) -> SyntheticNational:
    """Generate the synthetic national records (see the module docstring for the method).

    Parameters
    ----------
    n_points : int, default 20,000,000
        Number of records.
    seed : int, default 0
        Seed of every random step.
    spread_m : float, default 150
        Standard deviation in metres of the isotropic Gaussian scattering snap points around each
        LSOA's population-weighted centroid.
    snaps_per_lsoa : int, default 24
        Snap points per LSOA.
    data_dir : path, optional
        The shared data folder; default ``$HOTSPOT_DATA`` or ``../shared/data``.
    """
    from hotspot.ingest.projection import BNG, WGS84, transform

    if n_points < 1 or snaps_per_lsoa < 1 or not spread_m >= 0:
        raise HotspotInputError("n_points and snaps_per_lsoa must be 1 or more and spread_m not negative")
    lsoas = load_lsoas(data_dir)
    rng = np.random.default_rng(seed)
    n_lsoa = len(lsoas)
    snap_lsoa = np.repeat(np.arange(n_lsoa), snaps_per_lsoa)
    sx = lsoas["x"].to_numpy()[snap_lsoa] + rng.normal(0.0, spread_m, snap_lsoa.size)
    sy = lsoas["y"].to_numpy()[snap_lsoa] + rng.normal(0.0, spread_m, snap_lsoa.size)
    lon, lat = transform(sx, sy, BNG, WGS84)
    # police.uk publishes 6 decimals; the metres are re-derived from them as ingest would.
    lon, lat = np.round(lon, 6), np.round(lat, 6)
    snap_x, snap_y = transform(lon, lat, WGS84, BNG)
    pop = lsoas["population"].to_numpy()
    per_lsoa = rng.multinomial(n_points, pop / pop.sum())
    zipf = 1.0 / np.arange(1, snaps_per_lsoa + 1)
    rank = np.searchsorted(np.cumsum(zipf / zipf.sum()), rng.random(n_points), side="right")
    rank = np.minimum(rank, snaps_per_lsoa - 1)
    record_snap = (np.repeat(np.arange(n_lsoa, dtype=np.int64), per_lsoa) * snaps_per_lsoa + rank).astype(np.int32)
    return SyntheticNational(
        lon,
        lat,
        snap_x,
        snap_y,
        snap_lsoa,
        record_snap,
        lsoas["LSOA21CD"].tolist(),
        int(seed),
        float(spread_m),
        int(snaps_per_lsoa),
    )


def write_policeuk_csvs(
    data: SyntheticNational, folder: str | Path, *, year: int = 2024, seed: int = 0, progress=None
) -> list[Path]:
    """Write the records as 12 monthly police.uk-shaped CSVs (``YYYY-MM-synthetic-street.csv``) in ``folder``.

    Columns are a subset of police.uk's, with its names: Crime ID (empty), Month, Longitude,
    Latitude, LSOA code, Crime type. Records are shuffled (seeded by ``seed``) before being split
    into months, so every file spans the whole country. Returns the paths, written atomically.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from hotspot.core.atomic import atomic_path
    from hotspot.core.progress import resolve

    progress = resolve(progress)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])
    order = rng.permutation(data.n_points)
    months = np.array_split(order, 12)
    types = np.array(list(CRIME_TYPE_SHARES))
    shares = np.array(list(CRIME_TYPE_SHARES.values()))
    codes = np.array(data.lsoa_codes)
    paths = []
    for m, idx in enumerate(months, 1):
        snap = data.record_snap[np.sort(idx)]
        n = snap.size
        crime = np.searchsorted(np.cumsum(shares / shares.sum()), rng.random(n), side="right").clip(0, len(types) - 1)
        table = pa.table(
            {
                "Crime ID": pa.array(np.full(n, ""), pa.string()),
                "Month": pa.array(np.full(n, f"{year}-{m:02d}"), pa.string()),
                "Longitude": data.snap_lon[snap],
                "Latitude": data.snap_lat[snap],
                "LSOA code": pa.DictionaryArray.from_arrays(
                    data.snap_lsoa[snap].astype(np.int32), pa.array(codes)
                ).cast(pa.string()),
                "Crime type": pa.DictionaryArray.from_arrays(crime.astype(np.int32), pa.array(types)).cast(pa.string()),
            }
        )
        path = folder / f"{year}-{m:02d}-synthetic-street.csv"
        with atomic_path(path) as tmp:
            pacsv.write_csv(table, tmp)
        paths.append(path)
        progress("writing synthetic CSVs", m, 12)
    return paths
