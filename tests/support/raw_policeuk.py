"""Rows of the raw police.uk CSVs read with the standard library only: the independent side of real-data parity tests."""

from __future__ import annotations

import csv
import gzip


def located_rows(crime_dir):
    """Each located row of every ``*.csv.gz`` in ``crime_dir`` once: a located row whose Crime ID was seen before
    is the same crime republished (hotspot's reader drops it too) and is skipped."""
    seen = set()
    for path in sorted(crime_dir.glob("*.csv.gz")):
        with gzip.open(path, "rt", newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                if not row["Longitude"]:
                    continue
                if row["Crime ID"]:
                    if row["Crime ID"] in seen:
                        continue
                    seen.add(row["Crime ID"])
                yield row
