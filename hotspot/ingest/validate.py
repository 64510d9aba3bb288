"""Option checks that need no data, so a command refuses a bad option before it reads anything.

Each check raises :class:`hotspot.core.errors.HotspotInputError` with one line naming the option as the
user typed it (``option=``), and returns the value it checked (normalised where that helps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotspot.core.errors import HotspotInputError

BANDWIDTH_RULES = ("holdout", "silverman")
"""How a KDE bandwidth is chosen when none is given (``--bandwidth-rule``)."""
BAND_RULES = ("holdout", "moran")
"""How a Gi* distance band is chosen when none is given (``--band-rule``)."""


def check_share(value: float | None, option: str) -> float | None:
    """A share of the study area or of cells, as a fraction strictly between 0 and 1.

    ``1`` is refused rather than read: users type ``--area-share 1`` meaning 1 %, and taking it as
    100 % silently ranks every place. Values of 1 or more, 0 or less, and NaN are refused with
    the fraction to type instead. None passes through.
    """
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise HotspotInputError(f"{option} {value:g}: give a fraction above 0, e.g. 0.01 for 1 % of the study area")
    if value >= 1:
        hint = f"{value / 100:g}"
        raise HotspotInputError(
            f"{option} {value:g} is ambiguous: shares are fractions (0.01 = 1 %), so {value:g} would mean "
            f"{value:.0%} of the study area; for {value:g} % give {option} {hint}"
        )
    return value


def check_metres(value: float | None, option: str, *, minimum: float = 0.0) -> float | None:
    """A distance in metres: finite and above ``minimum`` (default 0). None passes through."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or value <= minimum:
        above = f"above {minimum:g} " if minimum else "a positive number of "
        raise HotspotInputError(f"{option} {value:g}: give {above}metres")
    return value


def check_count(value: int | None, option: str, *, minimum: int = 1) -> int | None:
    """A whole number at least ``minimum``. None passes through."""
    if value is None:
        return None
    if int(value) < minimum:
        raise HotspotInputError(f"{option} {value}: give a whole number of at least {minimum}")
    return int(value)


def check_choice(value: str | None, choices: Sequence[str], option: str) -> str | None:
    """``value`` is one of ``choices``. None passes through."""
    if value is not None and value not in choices:
        raise HotspotInputError(f"{option} {value!r} is not one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Parameter:
    """One row of an analysis's parameter table: its Python name, the option a user types, and its kind.

    ``kind`` is ``"metres"`` (:func:`check_metres`), ``"share"`` (:func:`check_share`), ``"count"``
    (:func:`check_count`, at least ``minimum``, default 1), ``"choice"`` (:func:`check_choice` of ``choices``)
    or ``"month"`` (``YYYY-MM`` or ``YYYY-MM-DD``, as ``--from`` takes).
    """

    name: str
    option: str
    kind: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None


def check_parameters(table: Sequence[Parameter], **values: Any) -> None:
    """Check ``values`` against an analysis's declared ``table`` (None passes; names not in it are ignored).

    Each analysis declares its table once (``PARAMETERS`` beside the function) and calls this on
    entry; the CLI calls the same table before reading any data, so a bad option fails fast.
    """
    for parameter in table:
        if parameter.name not in values:
            continue
        value = values[parameter.name]
        if parameter.kind == "metres":
            check_metres(value, parameter.option, minimum=parameter.minimum or 0.0)
        elif parameter.kind == "share":
            check_share(value, parameter.option)
        elif parameter.kind == "count":
            check_count(value, parameter.option, minimum=int(parameter.minimum if parameter.minimum is not None else 1))
        elif parameter.kind == "choice":
            check_choice(value, parameter.choices, parameter.option)
        elif parameter.kind == "month":
            if value is not None:
                from hotspot.ingest.filters import _month_bound

                _month_bound(value, parameter.option)
        else:
            raise ValueError(f"parameter {parameter.name}: unknown kind {parameter.kind!r}")


def check_filters(
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    hours: str | None = None,
    weekdays: str | Sequence[str] | None = None,
    crs: str | None = None,
    hours_option: str = "--hours",
) -> None:
    """The record filters and ``--crs`` parse, before any data is read.

    ``hours_option`` names the option that set ``hours`` (``--nte`` sets 19:00-07:00), so a
    message names what the user typed.
    """
    from hotspot.ingest.filters import _month_bound, parse_time_window, parse_weekdays
    from hotspot.ingest.projection import check_metre_crs

    bounds = {}
    for name, value in (("--from", date_from), ("--to", date_to)):
        if value is not None:
            bounds[name] = _month_bound(value, name)
    if len(bounds) == 2:
        (lo, lo_day), (hi, hi_day) = bounds["--from"], bounds["--to"]
        width = 10 if lo_day and hi_day else 7
        if lo[:width] > hi[:width]:
            raise HotspotInputError(f"--from {date_from} is after --to {date_to}; swap them")
    if hours is not None:
        try:
            parse_time_window(hours)
        except HotspotInputError as exc:
            if hours_option == "--hours":
                raise
            raise HotspotInputError(str(exc).replace(f"--hours {hours!r}", f"{hours_option} ({hours})")) from None
    if weekdays is not None:
        parse_weekdays(weekdays)
    if crs is not None:
        check_metre_crs(crs, "--crs")


def check_paths_exist(inputs: Sequence[str | Path] | None, boundaries: str | Path | None = None) -> None:
    """Every INPUT and the ``--boundaries`` file exist and have a readable type (nothing is read)."""
    if inputs:
        from hotspot.ingest.sources import expand_inputs

        expand_inputs(list(inputs))
    if boundaries is not None:
        path = Path(boundaries)
        if not path.exists():
            raise HotspotInputError(f"--boundaries {path}: no such file; check the path")
        if path.is_dir() and path.suffix.lower() != ".gdb":
            raise HotspotInputError(f"--boundaries {path} is a folder; give a GeoPackage, GeoJSON or Shapefile")


def check_outputs(paths: Sequence[tuple[str | Path | None, str]]) -> list[str]:
    """Each ``(path, option)`` can be written (see :func:`hotspot.core.atomic.check_writable`); returns notes.

    Paths that are None are skipped. Notes say which stale temporary files of earlier killed runs
    were removed.
    """
    from hotspot.core.atomic import check_writable

    notes: list[str] = []
    for path, option in paths:
        if path is not None:
            notes.extend(check_writable(path, option))
    return notes
