"""Crime-record ingestion: police.uk street CSVs, force extracts and GIS point layers, in metres.

Public API
----------
read_records(inputs, ...) -> Records
    Read files, folders or the data.police.uk zip; project to a metre CRS; reject unusable rows by reason.
apply_filters(records, ...) -> Records
    Crime type, date range, time-of-day window, weekdays and study area; dropped rows are kept by reason.
choose_crs(lon, lat) -> str
    British National Grid in Great Britain, else the UTM zone.
parse_time_window("19:00-07:00") -> (start_minute, end_minute)
    A time-of-day window that may cross midnight.

The auto-detected column names are listed in :mod:`hotspot.ingest.tables`.
"""

from hotspot.ingest.filters import apply_filters, in_time_window, parse_time_window, parse_weekdays
from hotspot.ingest.projection import choose_crs
from hotspot.ingest.reader import read_records
from hotspot.ingest.tables import ALIASES

__all__ = [
    "read_records",
    "apply_filters",
    "choose_crs",
    "parse_time_window",
    "in_time_window",
    "parse_weekdays",
    "ALIASES",
]
