"""The compact records (categoricals, released CSV tables, one projection per distinct pair) hold exactly
the records and the ledger the plain-text reader held, on the real police.uk folders.

The expected digests were computed with the reader as it was before the records were made compact
(commit 10e38c0), by :func:`records_digest` below: every kept column and every ledger column, value by
value as text (coordinates in metres to 0.1 mm), plus the counts by reason and the grid counts every
analysis starts from. The CLI outputs of ``gistar``, ``kde`` and ``rank`` on these folders were compared
file by file at the same time (identical).

Those first digests hashed the ``source`` column as absolute paths, so they held only where the data folder was
``/work/shared/data``; CI mounts it elsewhere. The digests below hash ``source`` relative to the data folder and
were re-taken once the code had matched the original absolute-path digests on that machine (commit af46076).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hotspot.core.records import CATEGORICAL_COLUMNS
from hotspot.ingest import read_records
from hotspot.ingest.cache import NO_CACHE_ENV_VAR
from hotspot.ingest.study import load_study


def _column_digest(series: pd.Series, data_dir: Path) -> str:
    h = hashlib.sha256()
    if series.name == "source":  # file paths, relative to the data folder so the digest is the same on any machine
        h.update("\x00".join(Path(v).relative_to(data_dir).as_posix() for v in series.astype(str)).encode())
    elif series.dtype.kind == "f":
        values = series.to_numpy(np.float64)
        h.update(np.round(values, 4).tobytes() if series.name in ("x", "y") else values.tobytes())
    elif series.dtype.kind == "M":
        h.update(series.to_numpy().astype("datetime64[ns]").view(np.int64).tobytes())
    elif series.dtype.kind in "iu":
        h.update(series.to_numpy(np.int64).tobytes())
    else:
        h.update("\x00".join("<NA>" if pd.isna(v) else str(v) for v in series.tolist()).encode())
    return h.hexdigest()


def _frame_digest(frame: pd.DataFrame, data_dir: Path) -> str:
    h = hashlib.sha256()
    for column in frame.columns:
        h.update(f"{column}={_column_digest(frame[column], data_dir)};".encode())
    return h.hexdigest()[:16]


def records_digest(records, data_dir: Path) -> tuple:
    """(kept, {reason: rows}, kept frame digest, ledger digest); source paths count relative to ``data_dir``."""
    counts = {reason: n for reason, n in records.reject_counts.items() if n}
    return len(records), counts, _frame_digest(records.frame, data_dir), _frame_digest(records.rejected, data_dir)


EXPECTED = {  # the reader before the change (commit 10e38c0), re-based to relative source paths
    "read_beds": (116572, {"no_location": 3832, "duplicate": 184}, "29370a48e1cf2f40", "ff899d80668c9534"),
    "read_city": (25142, {"no_location": 2372, "duplicate": 390}, "95edcbbbb79f3002", "2b25d61171d54cc8"),
    "study_beds": (
        115950,
        {"no_location": 3832, "duplicate": 184, "outside_force_area": 622},
        "754a71f9ee5bea5d",
        "e3f99ea8286345af",
    ),
    "study_beds_bounds": (
        115983,
        {"no_location": 3832, "duplicate": 184, "outside_study_area": 589},
        "146fd47096131c03",
        "b58bbf5379b36578",
    ),
    "study_beds_filters": (
        7419,
        {
            "no_location": 3832,
            "duplicate": 184,
            "outside_force_area": 622,
            "filtered_crime_type": 101856,
            "filtered_date": 6675,
        },
        "7fe57a0dfc54c667",
        "f53d66549e6f6e26",
    ),
    "study_city": (
        24015,
        {"no_location": 2372, "duplicate": 390, "outside_force_area": 1127},
        "49cb0d70baaefeab",
        "48fcb594f0e4ac64",
    ),
}


def _cases(data):
    beds = data / "policeuk-bedfordshire"
    city = data / "policeuk-cityoflondon"
    lsoas = data / "boundaries-bedfordshire" / "lsoa21_bedfordshire_bgc.gpkg"
    return {
        "read_beds": lambda: read_records([beds]),
        "read_city": lambda: read_records([city]),
        "study_beds": lambda: load_study([beds]).records,
        "study_beds_bounds": lambda: load_study([beds], boundaries=lsoas).records,
        "study_beds_filters": lambda: (
            load_study(
                [beds], crime_types=["Burglary", "Vehicle crime"], date_from="2022-01", date_to="2022-12"
            ).records
        ),
        "study_city": lambda: load_study([city]).records,
    }


@pytest.fixture(scope="session")
def _warm_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("warm-cache")


@pytest.fixture(params=["no cache", "warm cache"])
def warm(request, monkeypatch, _warm_cache_dir):
    """False: the parsed-input cache off; True: a cache of this session's own, filled before the call measured
    (parsed tables, standard columns, the records and their main body all read back from it)."""
    if request.param == "no cache":
        monkeypatch.setenv(NO_CACHE_ENV_VAR, "1")
        return False
    monkeypatch.setenv("HOTSPOT_CACHE", str(_warm_cache_dir))
    monkeypatch.delenv(NO_CACHE_ENV_VAR, raising=False)
    return True


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_records_and_ledger_as_before(shared_data, case, warm):
    build = _cases(shared_data)[case]
    if warm:
        build()  # fills the cache (or finds it filled by another case on the same files)
    assert records_digest(build(), shared_data) == EXPECTED[case]


def test_text_held_compactly(shared_data):
    records = load_study([shared_data / "policeuk-bedfordshire"], crime_types=["Burglary"]).records
    for column in CATEGORICAL_COLUMNS:
        dtype = records.frame[column].dtype
        assert isinstance(dtype, pd.CategoricalDtype), column
        assert list(dtype.categories) == sorted(dtype.categories), column  # sorted: text order for sort and groupby
    assert isinstance(records.rejected["reason"].dtype, pd.CategoricalDtype)
    # the ledger keeps the raw text of rows rejected while reading, and the records' columns of later ones
    raw = records.rejected[records.rejected["reason"] == "no_location"]
    assert raw["Location"].eq("No Location").all() and raw["Crime ID"].notna().any()
