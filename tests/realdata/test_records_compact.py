"""The compact records (categoricals, released CSV tables, one projection per distinct pair) hold exactly
the records and the ledger the plain-text reader held, on the real police.uk folders.

The expected digests were computed with the reader as it was before the records were made compact
(commit 10e38c0), by :func:`records_digest` below: every kept column and every ledger column, value by
value as text (coordinates in metres to 0.1 mm), plus the counts by reason and the grid counts every
analysis starts from. The CLI outputs of ``gistar``, ``kde`` and ``rank`` on these folders were compared
file by file at the same time (identical).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from hotspot.core.records import CATEGORICAL_COLUMNS
from hotspot.ingest import read_records
from hotspot.ingest.study import load_study


def _column_digest(series: pd.Series) -> str:
    h = hashlib.sha256()
    if series.dtype.kind == "f":
        values = series.to_numpy(np.float64)
        h.update(np.round(values, 4).tobytes() if series.name in ("x", "y") else values.tobytes())
    elif series.dtype.kind == "M":
        h.update(series.to_numpy().astype("datetime64[ns]").view(np.int64).tobytes())
    elif series.dtype.kind in "iu":
        h.update(series.to_numpy(np.int64).tobytes())
    else:
        h.update("\x00".join("<NA>" if pd.isna(v) else str(v) for v in series.tolist()).encode())
    return h.hexdigest()


def _frame_digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for column in frame.columns:
        h.update(f"{column}={_column_digest(frame[column])};".encode())
    return h.hexdigest()[:16]


def records_digest(records) -> tuple:
    """(kept, {reason: rows}, kept frame digest, ledger digest)."""
    counts = {reason: n for reason, n in records.reject_counts.items() if n}
    return len(records), counts, _frame_digest(records.frame), _frame_digest(records.rejected)


EXPECTED = {  # from the reader before the change (commit 10e38c0)
    "read_beds": (116572, {"no_location": 3832, "duplicate": 184}, "77c05b9889dec482", "6b86911fd8d154fb"),
    "read_city": (25142, {"no_location": 2372, "duplicate": 390}, "6595431ba28698ac", "a7a305c35073a71e"),
    "study_beds": (
        115950,
        {"no_location": 3832, "duplicate": 184, "outside_force_area": 622},
        "5421f28d81af4156",
        "f70f6bace49285c7",
    ),
    "study_beds_bounds": (
        115983,
        {"no_location": 3832, "duplicate": 184, "outside_study_area": 589},
        "30d9dd4e486d0b68",
        "929e255f8babd9bc",
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
        "ae1a0fb885c7835f",
        "30966ba8f7aa4bc1",
    ),
    "study_city": (
        24015,
        {"no_location": 2372, "duplicate": 390, "outside_force_area": 1127},
        "822d0a8fd2a71164",
        "c0e5ce52417ea52a",
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


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_records_and_ledger_as_before(shared_data, case):
    records = _cases(shared_data)[case]()
    assert records_digest(records) == EXPECTED[case]


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
