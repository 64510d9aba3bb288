"""Months as integers (year x 12 + month - 1) and record subsets by month."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import Records


def month_index(months) -> np.ndarray:
    """``YYYY-MM`` strings to integer months (year * 12 + month - 1)."""
    codes, uniques = pd.factorize(pd.Series(months, dtype=object).astype(str), use_na_sentinel=False)
    text = pd.Series(uniques, dtype=object)
    parts = text.str.extract(r"^(\d{4})-(\d{2})$")
    if parts.isna().any().any():
        bad = text[parts.isna().any(axis=1)].iloc[0]
        raise HotspotInputError(f"month {bad!r} is not YYYY-MM; the backtest needs a month on every record")
    parsed = parts[0].astype(np.int64).to_numpy() * 12 + parts[1].astype(np.int64).to_numpy() - 1
    return parsed[codes]


def month_text(index: int) -> str:
    """An integer month back to ``YYYY-MM``."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def subset(records: Records, keep: np.ndarray) -> Records:
    """The records where ``keep`` is True, with an empty rejection ledger."""
    return Records(records.frame.loc[keep].reset_index(drop=True), records.crs, records.rejected.iloc[0:0],
                   records.has_times, list(records.sources))


def record_weights(records: Records) -> np.ndarray | None:
    """The ``weight`` column (harm per record) when present, else None (every record counts 1)."""
    if "weight" in records.frame.columns:
        return records.frame["weight"].to_numpy(np.float64)
    return None
