"""police.uk street-level CSVs (data.police.uk downloads) into standard columns.

The published columns are Crime ID, Month, Reported by, Falls within, Longitude, Latitude,
Location ("On or near ..."), LSOA code, LSOA name, Crime type, Last outcome category, Context.
Coordinates are WGS84 degrees already snapped to anonymisation map points; the date is the
month only, so ``datetime`` is NaT and records carry no times of day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hotspot.core.records import CATEGORICAL_COLUMNS
from hotspot.ingest.tables import Standard, normalise, normalise_months, text, text_categorical, to_float

POLICEUK_CRS = "EPSG:4326"


def standardise_policeuk(raw: pd.DataFrame, label: str) -> Standard:
    """Standard columns for one police.uk street CSV; rows without Longitude and Latitude are ``no_location``."""
    col = {normalise(c): c for c in raw.columns}
    n = len(raw)
    commas: list[int] = []
    lon, lon_blank = to_float(raw[col["longitude"]], commas)
    lat, lat_blank = to_float(raw[col["latitude"]], commas)
    months, month_ok = normalise_months(text(raw[col["month"]], n))

    reason = np.full(n, None, dtype=object)
    bad_number = (np.isnan(lon) & ~lon_blank) | (np.isnan(lat) & ~lat_blank) | (lon_blank != lat_blank)
    reason[bad_number | ~month_ok] = "unparsable"
    reason[lon_blank & lat_blank] = "no_location"

    def get(name, role=None):
        # repeating text is kept as categoricals (hotspot.core.records.CATEGORICAL_COLUMNS)
        read = text_categorical if (role or name) in CATEGORICAL_COLUMNS else text
        return read(raw[col[name]], n) if name in col else read(None, n)

    columns = {
        "crime_id": get("crime_id"),
        "month": months,
        "datetime": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]"),
        "crime_type": get("crime_type"),
        "location": get("location"),
        "lsoa_code": get("lsoa_code"),
        "lsoa_name": get("lsoa_name"),
        "outcome": get("last_outcome_category", "outcome"),
    }
    return Standard(lon, lat, POLICEUK_CRS, columns, reason, raw, False, label, comma_note(label, commas))


def comma_note(label: str, counts: list[int]) -> list[str]:
    """The note saying coordinates were read with decimal commas, or none."""
    n = max(counts, default=0)
    if not n:
        return []
    return [f"{label}: {n:,} rows give coordinates with decimal commas (e.g. -0,47); they were read as decimal points"]
