"""Statistical disclosure control for published tables and layers.

A map or table showing that one place had one or two crimes can identify a victim. Before
outputs are published, :func:`suppress_small_counts` replaces counts from 1 to K-1 with a
marker and returns a note that goes into the output's provenance, so readers know the
figures were altered and how.

**Default for public outputs:** :data:`DEFAULT_PUBLIC_K` = 5, i.e. counts 1-4 are suppressed.
This is a choice, not a standard: UK bodies use thresholds from 3 to 10 depending on the
data's sensitivity; police.uk itself publishes single crimes (with snapped locations).
Analysts should follow their own force's publication policy and pass ``--suppress-below``.

What this does not do: secondary suppression (a suppressed cell recovered as a total minus
the published cells) and rounding. Shares derived from a suppressed count are blanked too
when named in ``derived``; cumulative columns still let a reader bound the suppressed value
to below K, which is the point of the marker anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from hotspot.core.errors import HotspotInputError

DEFAULT_PUBLIC_K = 5
"""Suppression threshold used for outputs marked public when no ``--suppress-below`` is given (a choice; see above)."""

COUNT_COLUMNS = ("count", "crimes", "n", "observed")
"""Columns treated as counts of records when the caller does not name them."""

DERIVED_COLUMNS = ("share", "cumulative_share", "rate", "per_1000", "per_km2", "density")
"""Columns computed from a count and blanked with it, when present."""

SUPPRESSED_FLAG = "suppressed"
"""Boolean column added to every suppressed table: True on rows where any value was suppressed."""


def _marker_text(marker: str | None, k: int) -> str | None:
    return None if marker is None else marker.format(k=k)


def suppress_small_counts(
    frame,
    columns: Iterable[str] | None = None,
    k: int = DEFAULT_PUBLIC_K,
    marker: str | None = "<{k}",
    *,
    derived: Iterable[str] | None = None,
    suppress_zero: bool = False,
    table: str = "table",
):
    """Replace counts below ``k`` with a marker; return the published copy and a note for the provenance.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        The table or layer to publish; not modified.
    columns : iterable of str, optional
        Count columns to check. Default: those of :data:`COUNT_COLUMNS` present in ``frame``.
    k : int
        Threshold, records: counts ``1 <= c < k`` are suppressed. Default :data:`DEFAULT_PUBLIC_K` (5).
        ``k <= 1`` suppresses nothing.
    marker : str or None
        Text put in place of a suppressed value; ``{k}`` is replaced by the threshold. Default
        ``"<{k}"`` (e.g. ``"<5"``), which turns the column into text: right for CSV. ``None``
        writes a missing value instead (NULL in a GeoPackage), which keeps the column numeric
        so graduated styles still work; the ``suppressed`` flag column marks those rows.
    derived : iterable of str, optional
        Columns computed from the counts (shares, rates) that would reveal a suppressed count;
        blanked (missing) on suppressed rows. Default: those of :data:`DERIVED_COLUMNS` present.
    suppress_zero : bool
        Also suppress zero counts. Default False: a zero reveals no one, and hiding zeros
        would hide where crime is absent.
    table : str
        Name used in the note, e.g. the layer name. Default ``"table"``.

    Returns
    -------
    (published, note) : (DataFrame, str or None)
        ``published`` is a copy with a boolean ``suppressed`` column added; ``note`` is one line
        for :meth:`hotspot.io.provenance.Provenance.with_disclosure`, or None when ``k <= 1``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise HotspotInputError(f"--suppress-below must be a whole number of records, got {k!r}")
    if k < 0:
        raise HotspotInputError(f"--suppress-below must be 0 or more, got {k}")
    published = frame.copy()
    if k <= 1:
        return published, None
    if columns is None:
        columns = [c for c in COUNT_COLUMNS if c in frame.columns]
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise HotspotInputError(f"cannot suppress small counts in {table}: no column {', '.join(missing)}")
    if derived is None:
        derived = [c for c in DERIVED_COLUMNS if c in frame.columns and c not in columns]
    derived = [c for c in derived if c in frame.columns]

    any_hidden = np.zeros(len(frame), dtype=bool)
    text = _marker_text(marker, k)
    suppressed_values = 0
    for column in columns:
        values = np.asarray(frame[column].to_numpy(dtype=np.float64, na_value=np.nan))
        low = 0 if suppress_zero else 1
        hide = np.isfinite(values) & (values >= low) & (values < k)
        suppressed_values += int(hide.sum())
        any_hidden |= hide
        if text is None:
            published[column] = frame[column].astype("float64").where(~hide, np.nan)
        else:
            # Whole numbers print without ".0", so "12" and "<5" sit together cleanly in one text column.
            shown = [text if h else (_plain(v)) for v, h in zip(frame[column].tolist(), hide)]
            published[column] = shown
    for column in derived:
        published[column] = frame[column].astype("float64").where(~any_hidden, np.nan)
    published[SUPPRESSED_FLAG] = any_hidden
    shown_as = f"shown as '{text}'" if text is not None else "left blank"
    zero = "0 to" if suppress_zero else "1 to"
    note = (
        f"{table}: counts of {zero} {k - 1} in {', '.join(columns) or '(no count columns)'} suppressed "
        f"({suppressed_values:,} value(s) in {int(any_hidden.sum()):,} row(s)), {shown_as}"
        + (f"; {', '.join(derived)} blanked on those rows" if derived else "")
    )
    return published, note


def _plain(value):
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


def suppress_layers(
    layers: Mapping[str, object],
    k: int,
    provenance=None,
    *,
    columns: Mapping[str, Iterable[str]] | None = None,
    marker: str | None = None,
):
    """Apply :func:`suppress_small_counts` to every layer that has count columns.

    Parameters
    ----------
    layers : mapping of str to DataFrame
        As passed to :func:`hotspot.io.outputs.write_geopackage`.
    k : int
        Threshold, records (see :func:`suppress_small_counts`); ``k <= 1`` returns the layers unchanged.
    provenance : Provenance, optional
        When given, a copy carrying one disclosure note per suppressed layer is returned.
    columns : mapping of layer name to columns, optional
        Count columns per layer; default the :data:`COUNT_COLUMNS` each layer has.
    marker : str or None
        Default None (missing values), which keeps GeoPackage columns numeric.

    Returns
    -------
    (layers, provenance) : (dict, Provenance or None)
    """
    out = {}
    for name, frame in layers.items():
        cols = (columns or {}).get(name)
        has_counts = cols is not None or any(c in getattr(frame, "columns", ()) for c in COUNT_COLUMNS)
        if k > 1 and has_counts:
            frame, note = suppress_small_counts(frame, cols, k, marker, table=name)
            if provenance is not None:
                provenance = provenance.with_disclosure(note)
        out[name] = frame
    return out, provenance
