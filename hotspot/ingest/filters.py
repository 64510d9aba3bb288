"""Filters on crime records: crime type, date range, time-of-day window, weekdays and study area.

Every filter moves the rows it drops to ``Records.rejected`` with its own reason, so the
counts reported on each run add up to the rows read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import WEEKDAYS as RECORD_WEEKDAYS
from hotspot.core.records import Records, reason_column

WEEKDAYS = tuple(day.lower() for day in RECORD_WEEKDAYS)
"""Weekday words ``--weekdays`` accepts, lower case, Monday first."""
_WEEKDAY_NAMES = {
    **{d: i for i, d in enumerate(WEEKDAYS)},
    **{d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))},
    **{d: i for i, d in enumerate(("mo", "tu", "we", "th", "fr", "sa", "su"))},
    "tues": 1,
    "wednes": 2,
    "thur": 3,
    "thurs": 3,
}
_CLOCK = re.compile(r"^(\d{1,2})(?::?(\d{2}))?$")


def _minute(text: str, window: str) -> int:
    match = _CLOCK.match(text.strip())
    if not match:
        raise HotspotInputError(
            f"--hours {window!r}: {text.strip()!r} is not a time; use HH:MM-HH:MM, e.g. 19:00-07:00"
        )
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise HotspotInputError(f"--hours {window!r}: {text.strip()!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def parse_time_window(window: str) -> tuple[int, int]:
    """Parse a time-of-day window ``"HH:MM-HH:MM"`` into (start, end) minutes after midnight.

    The start is inclusive and the end exclusive. A window whose end is earlier than its
    start crosses midnight: ``"19:00-07:00"`` -> ``(1140, 420)`` keeps 19:00 to 06:59.
    ``24:00`` is accepted as an end (1440). ``HHMM`` and bare hours (``"19-7"``) also parse.

    Raises
    ------
    HotspotInputError
        When the text is not two times or the start equals the end (an empty window).
    """
    parts = str(window).split("-")
    if len(parts) != 2:
        raise HotspotInputError(f"--hours {window!r} is not a time window; use HH:MM-HH:MM, e.g. 19:00-07:00")
    start, end = _minute(parts[0], window), _minute(parts[1], window)
    if start == 1440:
        raise HotspotInputError(f"--hours {window!r}: a window cannot start at 24:00; use 00:00")
    if start == end:
        raise HotspotInputError(
            f"--hours {window!r} starts and ends at the same time; for the whole day leave --hours out"
        )
    return start, end


def in_time_window(minutes: np.ndarray, start: int, end: int) -> np.ndarray:
    """True where ``minutes`` (after midnight) fall in the window ``[start, end)``, wrapping past midnight."""
    minutes = np.asarray(minutes)
    if start < end:
        return (minutes >= start) & (minutes < end)
    return (minutes >= start) | (minutes < end)


def parse_weekdays(weekdays: str | Sequence[str]) -> set[int]:
    """Weekday names (``"fri,sat"``, ``["Friday", "sat"]``) as a set of numbers, Monday = 0."""
    items = weekdays.split(",") if isinstance(weekdays, str) else [w for item in weekdays for w in str(item).split(",")]
    days = set()
    for item in items:
        key = item.strip().lower().rstrip(".")
        if not key:
            continue
        if key not in _WEEKDAY_NAMES:
            raise HotspotInputError(f"--weekdays: {item.strip()!r} is not a weekday; use names such as mon,tue,...,sun")
        days.add(_WEEKDAY_NAMES[key])
    if not days:
        raise HotspotInputError("--weekdays is empty; give names such as fri,sat")
    return days


def _type_key(value: str) -> str:
    # police.uk API slugs ("anti-social-behaviour") and CSV labels ("Anti-social behaviour") match
    return re.sub(r"[^0-9a-z]+", " ", str(value).lower()).strip()


def _month_bound(text: str, parameter: str) -> tuple[str, bool]:
    """(normalised bound, is_day) from ``YYYY-MM`` or ``YYYY-MM-DD``."""
    text = str(text).strip()
    if re.fullmatch(r"\d{4}-\d{2}", text):
        if not 1 <= int(text[5:]) <= 12:
            raise HotspotInputError(f"{parameter} {text!r}: month must be 01 to 12")
        return text, False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            pd.Timestamp(text)
        except ValueError:
            raise HotspotInputError(f"{parameter} {text!r} is not a real date; use YYYY-MM-DD") from None
        return text, True
    raise HotspotInputError(f"{parameter} {text!r} is not a month or date; use YYYY-MM or YYYY-MM-DD")


def _study_geometry(study_area, crs: str):
    import shapely

    if hasattr(study_area, "geometry") and hasattr(study_area, "crs"):
        series = study_area.geometry if hasattr(study_area.geometry, "crs") else study_area
        if series.crs is not None and crs and not series.crs.equals(crs):
            series = series.to_crs(crs)
        geometry = series.union_all()
    elif hasattr(study_area, "union_all"):
        geometry = study_area.union_all()
    else:
        geometry = study_area
    if geometry is None or shapely.is_empty(geometry):
        raise HotspotInputError("the study area (--boundaries) is empty; check the boundaries file")
    return geometry


def apply_filters(
    records: Records,
    *,
    crime_types: str | Sequence[str] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    hours: str | None = None,
    weekdays: str | Sequence[str] | None = None,
    study_area=None,
    tolerance_m: float = 0.0,
    require_nonempty: bool = True,
) -> Records:
    """Keep the records that pass every filter; the rest go to ``rejected`` with the filter's reason.

    Filters run in this order and a row is counted once, under the first filter it fails:
    crime type, date range, time of day, weekday, study area.

    Parameters
    ----------
    records : Records
        The records to filter.
    crime_types : str or sequence of str, optional
        police.uk categories (or the source's type labels) to keep, case-insensitive; a string
        may hold several separated by commas. Default None: all types.
    date_from, date_to : str, optional
        Inclusive bounds, ``YYYY-MM`` (compared by month) or ``YYYY-MM-DD`` (needs records
        with dates). Default None: open.
    hours : str, optional
        Time-of-day window ``"HH:MM-HH:MM"``, start inclusive, end exclusive; may cross midnight
        (``"19:00-07:00"``). Needs records with times. Default None: all day.
    weekdays : str or sequence of str, optional
        Days kept, e.g. ``"fri,sat"``. Needs records with dates. Default None: every day.
    study_area : GeoDataFrame, GeoSeries or shapely geometry, optional
        Area in ``records.crs`` (a GeoDataFrame/GeoSeries in another CRS is reprojected);
        points outside it are rejected as ``outside_study_area``. Points on the boundary are
        kept. Default None: no spatial filter.
    tolerance_m : float, default 0.0
        Metres by which the study area is widened before testing (e.g. 20 for boundaries
        generalised to 20 m).
    require_nonempty : bool, default True
        Raise HotspotInputError naming the filter that left no records.

    Returns
    -------
    Records
        A new Records; the input is not modified.
    """
    frame = records.frame
    if require_nonempty and frame.empty:
        raise HotspotInputError("there are no records to filter; check the inputs")
    steps = []

    if crime_types is not None:
        wanted = [crime_types] if isinstance(crime_types, str) else list(crime_types)
        wanted = [w for item in wanted for w in str(item).split(",") if w.strip()]
        if wanted:
            present = sorted({str(t) for t in frame["crime_type"].dropna().unique() if str(t)})
            if not present:
                raise HotspotInputError(
                    "--crime-type: the records have no crime type column; name it with type_column or drop --crime-type"
                )
            keys = {_type_key(t) for t in present}
            unknown = [w.strip() for w in wanted if _type_key(w) not in keys]
            if unknown:
                raise HotspotInputError(
                    f"--crime-type {', '.join(repr(u) for u in unknown)} not in the data; types present: {'; '.join(present)}"
                )
            wanted_keys = {_type_key(w) for w in wanted}
            # match on the few distinct labels, then select rows by exact label (no per-row Python)
            labels = [t for t in present if _type_key(t) in wanted_keys]
            steps.append(
                (
                    "filtered_crime_type",
                    f"--crime-type {','.join(w.strip() for w in wanted)}",
                    lambda f: f["crime_type"].isin(labels).to_numpy(dtype=bool),
                )
            )

    has_dates = bool(frame["datetime"].notna().any()) if len(frame) else False
    if date_from is not None or date_to is not None:
        bounds = {}
        for name, value in (("--from", date_from), ("--to", date_to)):
            if value is not None:
                bounds[name] = _month_bound(value, name)
                if bounds[name][1] and not has_dates:
                    raise HotspotInputError(
                        f"{name} {value!r} is a day but the data has month only (police.uk); use YYYY-MM"
                    )
        lo, hi = bounds.get("--from"), bounds.get("--to")
        width = 10 if (lo and hi and lo[1] and hi[1]) else 7
        if lo and hi and lo[0][:width] > hi[0][:width]:
            raise HotspotInputError(f"--from {date_from} is after --to {date_to}; swap them")

        def date_mask(f, lo=lo, hi=hi):
            keep = np.ones(len(f), dtype=bool)
            month = f["month"].astype(str)
            day = f["datetime"].dt.normalize()
            for bound, is_low in ((lo, True), (hi, False)):
                if bound is None:
                    continue
                value, is_day = bound
                if is_day:
                    ts = pd.Timestamp(value)
                    keep &= ((day >= ts) if is_low else (day <= ts)).fillna(False).to_numpy(dtype=bool)
                else:
                    keep &= ((month >= value) if is_low else (month <= value)).to_numpy(dtype=bool) & (
                        month != ""
                    ).to_numpy()
            return keep

        label = " ".join(f"{k} {v}" for k, v in (("--from", date_from), ("--to", date_to)) if v is not None)
        steps.append(("filtered_date", label, date_mask))

    if hours is not None:
        start, end = parse_time_window(hours)
        if not records.has_times:
            raise HotspotInputError(
                f"--hours {hours} needs records with times of day, but the data has month only or dates without times"
            )

        def time_mask(f, start=start, end=end):
            dt = f["datetime"]
            minutes = (dt.dt.hour * 60 + dt.dt.minute).to_numpy(dtype=np.float64, na_value=np.nan)
            return in_time_window(minutes, start, end) & np.isfinite(minutes)

        steps.append(("filtered_time", f"--hours {hours}", time_mask))

    if weekdays is not None:
        days = parse_weekdays(weekdays)
        if not has_dates:
            raise HotspotInputError("--weekdays needs records with dates, but the data has month only (police.uk)")
        names = ",".join(WEEKDAYS[d] for d in sorted(days))
        steps.append(
            (
                "filtered_weekday",
                f"--weekdays {names}",
                lambda f: f["datetime"].dt.day_of_week.isin(sorted(days)).to_numpy(dtype=bool),
            )
        )

    if study_area is not None:
        import shapely

        geometry = _study_geometry(study_area, records.crs)
        if tolerance_m and tolerance_m > 0:
            geometry = shapely.buffer(geometry, float(tolerance_m))
        shapely.prepare(geometry)
        steps.append(
            (
                "outside_study_area",
                "the study area (--boundaries)",
                lambda f: shapely.intersects_xy(geometry, f["x"].to_numpy(np.float64), f["y"].to_numpy(np.float64)),
            )
        )

    result = records
    for reason, label, mask_of in steps:
        frame = result.frame
        keep = np.asarray(mask_of(frame), dtype=bool)
        if keep.all():
            continue
        dropped = frame.loc[~keep]  # a selection is already a copy
        dropped.insert(0, "reason", reason_column(reason, len(dropped)))
        if require_nonempty and not keep.any():
            raise HotspotInputError(
                f"no records left after {label} ({len(frame):,} before it); widen the filter or check the inputs"
            )
        result = result.with_frame(frame.loc[keep], dropped)
    return result
