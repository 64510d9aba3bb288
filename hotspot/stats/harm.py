"""Harm weights per record: ONS Crime Severity Score defaults per police.uk crime type, or the user's own.

Default table (``--weight harm``)
---------------------------------
``hotspot/data/harm_weights_policeuk.csv`` is derived by :func:`derive_type_weights` (run
``scripts/derive_harm_weights.py``) from the ONS Crime Severity Score weights (September 2019
list) for 128 Home Office offence codes, each hand-matched to a police.uk crime type by the
M-O-P-D/Police-Supply-Demand project (``../shared/data/harm-weights/``, OGL v3; the raw file is
not shipped). Per police.uk type:

1. keep one row per distinct ONS severity code in the type (the source repeats a code's weight
   for several Home Office sub-codes, which would otherwise count it twice);
2. the type's weight is the **median** of those codes' weights.

Why the median: a police.uk type mixes offences of very different severity (violence and
sexual offences spans 7.5 to 7,973), and the fair average -- weighted by each offence's
national volume -- needs volumes this source does not have. An unweighted mean would be set
by the rarest, gravest code (homicide); the median is the severity of the type's middle
offence code and moves little when one extreme code is added or removed. It is still an
average over *codes*, not crimes: treat the result as a ranking of types, not a calibrated
harm per crime. The table keeps each type's number of codes, mean, min and max so readers can
see the spread.

Anti-social behaviour is not a notifiable crime and has no ONS weight: under ``harm`` its
records weigh 0 (they stay in counts and are reported in a note, never dropped). Give
``--weight FILE`` with an ``Anti-social behaviour`` row to weigh it.

Own weights (``--weight FILE``)
-------------------------------
A CSV with a ``weight`` column and a key column, ``crime_type`` (or ``code``/``offence_code``
for Home Office codes, matched against the records' crime type text, for sources that carry
codes there). Keys match case-insensitively. Every crime type in the records must have a row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import Records

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "data" / "harm_weights_policeuk.csv"  # hotspot/data
"""The shipped per-type defaults, derived by :func:`derive_type_weights`."""

RAW_RELATIVE = Path("harm-weights") / "ons_css_weights_2019_with_policeuk_category.csv"
"""Where the raw ONS weights sit in the shared data folder."""

NO_WEIGHT_TYPES = ("Anti-social behaviour",)
"""police.uk types with no ONS severity weight; ``harm`` gives them 0."""


def derive_type_weights(raw_csv: str | Path) -> pd.DataFrame:
    """Per police.uk crime type: the median ONS CSS weight of its distinct codes (module docstring).

    Returns
    -------
    pandas.DataFrame
        crime_type (police.uk spelling), weight (the median), n_codes, mean, min, max; sorted by type.
    """
    raw = pd.read_csv(raw_csv)
    needed = {"ONS_SEVERITY_code", "ONS_SEVERITY_weight", "POLICE_UK_CAT_MAP_category"}
    if not needed <= set(raw.columns):
        raise HotspotInputError(f"{raw_csv}: expected columns {sorted(needed)}")
    raw = raw.dropna(subset=["ONS_SEVERITY_weight", "POLICE_UK_CAT_MAP_category"])
    raw["crime_type"] = raw["POLICE_UK_CAT_MAP_category"].map(_policeuk_spelling)
    distinct = raw.drop_duplicates(["crime_type", "ONS_SEVERITY_code"])
    g = distinct.groupby("crime_type")["ONS_SEVERITY_weight"]
    table = pd.DataFrame(
        {"weight": g.median(), "n_codes": g.size(), "mean": g.mean(), "min": g.min(), "max": g.max()}
    ).reset_index()
    return table.sort_values("crime_type").reset_index(drop=True)


def _policeuk_spelling(category: str) -> str:
    """'Violence and Sexual Offences' -> 'Violence and sexual offences' (police.uk CSV spelling)."""
    text = str(category).strip()
    return text[:1].upper() + text[1:].lower()


def load_weights(spec: str | Path) -> tuple[dict, str]:
    """The weight per crime-type key (lower case) and a description, for ``"harm"`` or a CSV path."""
    if str(spec).lower() == "harm":
        table = pd.read_csv(DEFAULT_TABLE)
        weights = {str(k).strip().lower(): float(v) for k, v in zip(table["crime_type"], table["weight"])}
        for name in NO_WEIGHT_TYPES:
            weights.setdefault(name.lower(), 0.0)
        return weights, "harm: ONS Crime Severity Score, median of each police.uk type's offence codes"
    path = Path(spec)
    if not path.exists():
        raise HotspotInputError(f"--weight {spec}: no such file; give 'harm' or a CSV of crime_type,weight")
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # pandas raises several types for unreadable CSVs
        raise HotspotInputError(f"--weight {path}: cannot read it as CSV ({exc})") from None
    key = next((c for c in ("crime_type", "code", "offence_code") if c in table.columns), None)
    if key is None or "weight" not in table.columns:
        raise HotspotInputError(
            f"--weight {path}: needs a 'weight' column and a 'crime_type' (or 'code') column; "
            f"found {', '.join(map(str, table.columns))}"
        )
    values = pd.to_numeric(table["weight"], errors="coerce")
    bad = table.index[values.isna() | (values < 0)]
    if len(bad):
        row = int(bad[0])
        raise HotspotInputError(
            f"--weight {path}: row {row + 2} has weight {table['weight'].iloc[row]!r}; weights must be numbers >= 0"
        )
    keys = table[key].astype(str).str.strip().str.lower()
    if keys.duplicated().any():
        raise HotspotInputError(
            f"--weight {path}: {table[key].iloc[int(np.flatnonzero(keys.duplicated())[0])]!r} "
            "appears twice; give one weight per crime type"
        )
    return dict(zip(keys, values.astype(float))), f"weights from {path.name}"


def apply_weights(records: Records, spec: str | Path | None) -> tuple[Records, list[str]]:
    """Records with a ``weight`` column (harm per record) and notes on how it was set.

    Parameters
    ----------
    records : Records
        Records with ``crime_type``.
    spec : "harm", a CSV path, or None
        ``None`` returns the records unchanged (every record counts 1).

    Returns
    -------
    (Records, list of str)
    """
    if spec is None or str(spec).lower() in ("", "count", "none"):
        return records, []
    weights, description = load_weights(spec)
    frame = records.frame.copy()
    keys = frame["crime_type"].astype(str).str.strip().str.lower()
    w = keys.map(weights)
    missing = keys[w.isna()]
    if len(missing):
        example = frame.loc[missing.index[0]]
        raise HotspotInputError(
            f"--weight {spec}: crime type {example['crime_type']!r} (e.g. {example.get('source', '')} row "
            f"{example.get('source_row', '')}) has no weight; add a row for it"
        )
    frame["weight"] = w.astype(np.float64).to_numpy()
    notes = [description]
    zero = frame["weight"] == 0
    if zero.any():
        kinds = ", ".join(sorted(frame.loc[zero, "crime_type"].astype(str).unique()))
        notes.append(
            f"{int(zero.sum()):,} records weigh 0 ({kinds}: no ONS severity weight); they stay in the "
            "counts but add no harm"
        )
    if float(frame["weight"].sum()) <= 0:
        raise HotspotInputError(
            f"--weight {spec}: every record weighs 0 ({kinds} has no ONS severity weight); "
            "give --weight FILE with a weight for it"
        )
    return records.with_frame(frame), notes
