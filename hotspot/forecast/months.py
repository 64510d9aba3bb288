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
    fixed = _fixed_width_months(values)
    if fixed is not None:
        return fixed
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    text = pd.Series([str(u) for u in np.asarray(uniques, dtype=object)], dtype=object)
    parts = text.str.extract(r"^(\d{4})-(\d{2})$")
    if parts.isna().any().any():
        bad = text[parts.isna().any(axis=1)].iloc[0]
        raise HotspotInputError(f"month {bad!r} is not YYYY-MM; the backtest needs a month on every record")
    parsed = parts[0].astype(np.int64).to_numpy() * 12 + parts[1].astype(np.int64).to_numpy() - 1
    return parsed[codes]


def _fixed_width_months(values) -> np.ndarray | None:
    """``month_index`` read straight from the bytes of an arrow string column when every value is
    ``DDDD-DD``; None otherwise (the general path then parses, or reports the bad value).

    A backtest asks for the months of each fold's records, for each forecaster: hundreds of calls
    over ~10^5 records, where even factorising the strings cost a second or more in all.
    """
    array = getattr(values, "array", None)
    if not hasattr(array, "__arrow_array__"):
        return None
    import pyarrow as pa

    arrow = pa.array(array)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    n = len(arrow)
    if n == 0 or arrow.null_count or not (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)):
        return None
    _, offsets_buffer, data_buffer = arrow.buffers()
    offset_type = np.int64 if pa.types.is_large_string(arrow.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[arrow.offset : arrow.offset + n + 1]
    if not (np.diff(offsets) == 7).all():
        return None
    start = int(offsets[0])

    def column(at: int, dtype: str) -> np.ndarray:
        # The bytes at position ``at`` of every value, read in place (values are 7 bytes apart).
        return np.ndarray((n,), dtype=dtype, buffer=data_buffer, offset=start + at, strides=(7,)).copy()

    year, month = column(0, "<u4"), column(5, "<u2")  # ASCII digits, the first one in the lowest byte
    # Every byte a digit: high nibble 3 and low nibble at most 9 (adding 6 to a nibble above 9 carries).
    digits_ok = (
        ((year & 0xF0F0F0F0) == 0x30303030).all()
        and (((year + 0x06060606) & 0xF0F0F0F0) == 0x30303030).all()
        and ((month & 0xF0F0) == 0x3030).all()
        and (((month + 0x0606) & 0xF0F0) == 0x3030).all()
    )
    if not digits_ok or (column(4, "u1") != ord("-")).any():
        return None
    year = year.astype(np.int64)
    month = month.astype(np.int64)
    whole_year = (year & 0xF) * 1000 + ((year >> 8) & 0xF) * 100 + ((year >> 16) & 0xF) * 10 + ((year >> 24) & 0xF)
    return whole_year * 12 + (month & 0xF) * 10 + ((month >> 8) & 0xF) - 1


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


class MonthTotals:
    """Records per month and their weighted x sum: a fingerprint telling whether other records are
    exactly these records' rows for the months they span, as a backtest fold's training records are
    of all the backtest's records (what a forecaster prepared from all of them can then serve)."""

    def __init__(self, records: Records):
        frame = records.frame
        self.months = month_index(frame["month"]) if len(frame) else np.zeros(0, dtype=np.int64)
        self.first = int(self.months.min()) if len(frame) else 0
        self.last = int(self.months.max()) if len(frame) else -1
        self.stats = _month_stats(records, self.months, self.first, self.last - self.first + 1)

    def covers(self, records: Records) -> bool:
        """True when ``records`` are exactly these records' rows for the months they span, from the first."""
        if len(records) == 0 or self.months.size == 0:
            return False
        months = month_index(records.frame["month"])
        lo, hi = int(months.min()), int(months.max())
        if lo < self.first or hi > self.last or lo != self.first:
            return False
        stats = _month_stats(records, months, lo, hi - lo + 1)
        return bool(np.allclose(stats, self.stats[: hi - lo + 1], rtol=1e-12, atol=1e-6))


def _month_stats(records: Records, months: np.ndarray, first: int, n: int) -> np.ndarray:
    if len(records) == 0:
        return np.zeros((0, 2))
    w = record_weights(records)
    w = np.ones(len(records)) if w is None else w
    return np.column_stack(
        [
            np.bincount(months - first, minlength=n).astype(np.float64),
            np.bincount(months - first, weights=records.frame["x"].to_numpy(np.float64) * w, minlength=n),
        ]
    )
