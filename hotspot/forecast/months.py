"""Months as integers (year x 12 + month - 1) and record subsets by month."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import Records


def month_index(months) -> np.ndarray:
    """``YYYY-MM`` strings to integer months (year * 12 + month - 1)."""
    # Factorise the values as they are (arrow strings factorise in C) and parse only the few distinct
    # months: converting every value to Python str first cost ~20 ms a call, hundreds of calls per backtest.
    values = months if isinstance(months, (pd.Series, pd.Index, np.ndarray)) else np.asarray(list(months), dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    text = pd.Series([str(u) for u in np.asarray(uniques, dtype=object)], dtype=object)
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
    return Records(
        records.frame.loc[keep].reset_index(drop=True),
        records.crs,
        records.rejected.iloc[0:0],
        records.has_times,
        list(records.sources),
    )


def record_weights(records: Records) -> np.ndarray | None:
    """The ``weight`` column (harm per record) when present, else None (every record counts 1)."""
    if "weight" in records.frame.columns:
        return records.frame["weight"].to_numpy(np.float64)
    return None
