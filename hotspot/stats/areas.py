"""Area statistics the way community-safety and public-health needs assessments report them.

Per area (LSOA, ward, ...): the count of records, its rank, share and quintile; with a
population table the crude rate per 1,000 residents with an exact Poisson 95 % confidence
interval and a flag against the whole-area rate; with populations by age band and records
carrying an age band, the directly age-standardised rate (2013 European Standard Population)
with a Dobson interval; with an IMD table, rates by deprivation decile; with an LSOA-to-ward
lookup, the wards holding the top-quintile areas. Plus the concentration summary (share of
records in the top 20 % of areas, the Lorenz curve and the Gini coefficient).

Methods
-------
Exact Poisson interval (Garwood 1936)
    For O events: lower = chi2.ppf(alpha / 2, 2 O) / 2 (0 when O = 0), upper =
    chi2.ppf(1 - alpha / 2, 2 (O + 1)) / 2; the rate interval divides by the population.
    0 events: 0 - 3.689; 10 events: 4.795 - 18.390.
Significance flag
    "higher" when the area's whole 95 % interval lies above the whole-area rate, "lower" when it
    lies below, else "similar" (the benchmark-comparison rule of the PHE/OHID Fingertips tools:
    the area's interval excludes the benchmark value). "" when the area has no population.
Direct age standardisation
    ASR = sum_i w_i O_i / n_i with w_i the 2013 European Standard Population (ESP) weight of age
    band i (summing to 1), O_i the records and n_i the residents in the band, x 1,000. The 19 ESP
    five-year groups (0-4 ... 85-89, 90+) are collapsed onto the population's bands by single
    years of age, a five-year group's weight split evenly over its years: the six Census 2021
    bands 0-15, 16-24, 25-34, 35-49, 50-64, 65+ get 17,100, 10,400, 12,500, 21,000, 19,500 and
    19,500 of the 100,000. This needs the records broken down by the same age bands (a column of
    band labels, e.g. a victim's age band); police.uk publishes no ages, so for police.uk data
    only crude rates exist and the ASR columns are NaN (said in ``notes``).
Dobson interval for the ASR (Dobson et al. 1991)
    With O = sum O_i and var = sum (w_i / n_i)^2 O_i, the limits are
    ASR + sqrt(var / O) (O_L - O) and ASR + sqrt(var / O) (O_U - O), (O_L, O_U) the exact
    Poisson limits of O. With O = 0 the interval is 0 to NaN (undefined).
Quintile
    Areas ordered by count, highest first (ties by area code); quintile 1 = the busiest fifth, by rank, so
    areas with equal counts share the better quintile.
Deprivation decile
    IMD decile as published: 1 = the most deprived 10 % of LSOAs in England.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot.core.assign import DEFAULT_TOLERANCE_M
from hotspot.core.errors import HotspotInputError
from hotspot.core.records import Records
from hotspot.ingest.validate import Parameter
from hotspot.stats.concentration import ConcentrationSummary, concentration

if TYPE_CHECKING:
    import geopandas as gpd

JOINS = ("auto", "code", "spatial")
"""How records are matched to areas: by their ``lsoa_code``, by point in polygon, or code when most match."""

ESP2013 = (
    5000,
    5500,
    5500,
    5500,
    6000,
    6000,
    6500,
    7000,
    7000,
    7000,
    7000,
    6500,
    6000,
    5500,
    5000,
    4000,
    2500,
    1500,
    1000,
)
"""2013 European Standard Population per 100,000: ages 0-4, 5-9, ..., 85-89, 90+."""

LEVELS = ("area", "ward")

PARAMETERS = (Parameter("join", "--join", "choice", JOINS), Parameter("level", "--level", "choice", LEVELS))
"""The choices :func:`area_statistics` takes, checked in one place."""
"""Report the given areas, or wards aggregated from them with a lookup."""

CENSUS_AGE_BANDS = ("age_0_15", "age_16_24", "age_25_34", "age_35_49", "age_50_64", "age_65_plus")
"""The six Census 2021 age bands of the shared population table."""

_TOTAL_COLUMNS = ("total", "population", "all_ages", "all_persons", "usual_residents")


# --- building blocks -------------------------------------------------------------------------------------


def poisson_ci(count, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) Poisson confidence limits of event counts.

    Parameters
    ----------
    count : int or array-like of int
        Observed events (>= 0).
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    (lower, upper) : ndarrays of float
        Limits for the expected count; divide by the population for a rate.
    """
    from scipy.stats import chi2

    o = np.asarray(count, dtype=np.float64)
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore"):
        lower = np.where(o > 0, chi2.ppf(alpha / 2, 2 * np.maximum(o, 1e-300)) / 2, 0.0)
    upper = chi2.ppf(1 - alpha / 2, 2 * (o + 1)) / 2
    return lower, upper


def parse_age_band(label: str) -> tuple[int, int | None]:
    """``(first, last)`` years of an age-band label, ``last`` None for an open band.

    Accepts ``age_16_24``, ``16-24``, ``age_65_plus``, ``65+``, ``85 and over``.
    """
    text = str(label).lower()
    match = re.search(r"(\d+)\D+?(\d+|plus|\+|and over|over)\s*$", text) or re.search(r"(\d+)\s*(\+)", text)
    if not match:
        raise HotspotInputError(
            f"age band {label!r} is not like age_16_24 or age_65_plus; rename the population column"
        )
    first = int(match.group(1))
    last = match.group(2)
    return (first, None) if not last.isdigit() else (first, int(last))


def esp_weights(bands) -> np.ndarray:
    """2013 European Standard Population weights of age bands, collapsed by single year and summing to 1.

    Parameters
    ----------
    bands : list of str
        Age-band labels (see :func:`parse_age_band`); must not overlap.

    Returns
    -------
    ndarray of float, shape (len(bands),)
    """
    single = np.repeat(np.asarray(ESP2013[:-1], dtype=np.float64) / 5.0, 5)  # ages 0..89
    weights = []
    covered: set[int] = set()
    for label in bands:
        first, last = parse_age_band(label)
        years = range(first, 90 if last is None else min(last, 89) + 1)
        if covered & set(years):
            raise HotspotInputError(f"age band {label!r} overlaps another band; give non-overlapping bands")
        covered |= set(years)
        w = single[first : (90 if last is None else min(last, 89) + 1)].sum()
        if last is None or last >= 90:
            w += ESP2013[-1]
        weights.append(w)
    weights = np.asarray(weights)
    if weights.sum() <= 0:
        raise HotspotInputError("the age bands carry no European Standard Population weight")
    return weights / weights.sum()


def direct_standardised_rate(counts, population, weights, per: float = 1000.0, confidence: float = 0.95):
    """Directly age-standardised rates with Dobson confidence limits.

    Parameters
    ----------
    counts : array-like, shape (n_groups, n_bands)
        Events per group and age band.
    population : array-like, shape (n_groups, n_bands)
        Residents per group and age band.
    weights : array-like, shape (n_bands,)
        Standard population weights (rescaled to sum to 1).
    per : float, default 1000
        Rates per this many residents.
    confidence : float, default 0.95

    Returns
    -------
    (rate, lower, upper) : ndarrays of shape (n_groups,); NaN where a band with events has no residents.
    """
    c = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    n = np.atleast_2d(np.asarray(population, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(n > 0, w / n, np.where(c > 0, np.nan, 0.0))
        rate = (ratio * c).sum(axis=1)
        var = (ratio**2 * c).sum(axis=1)
        o = c.sum(axis=1)
        lo, hi = poisson_ci(o, confidence)
        scale = np.sqrt(var / o)
        lower = np.where(o > 0, rate + scale * (lo - o), 0.0)
        upper = np.where(o > 0, rate + scale * (hi - o), np.nan)
    return rate * per, np.maximum(lower, 0.0) * per, upper * per


# --- input tables --------------------------------------------------------------------------------------


def _code_column(table: pd.DataFrame, codes: pd.Index, label: str) -> str:
    """The column of ``table`` holding area codes: ``area_code`` if present, else the one matching most codes."""
    if "area_code" in table.columns:
        return "area_code"
    best, best_hits = None, 0
    for column in table.columns:
        if table[column].dtype != object and not pd.api.types.is_string_dtype(table[column]):
            continue
        hits = int(table[column].astype(str).str.strip().isin(codes).sum())
        if hits > best_hits:
            best, best_hits = column, hits
    if best is None:
        raise HotspotInputError(
            f"the {label} table has no column of area codes matching the boundaries "
            f"(e.g. {codes[0]}); add an area_code column"
        )
    return best


def _find(columns, patterns) -> str | None:
    for pattern in patterns:
        for column in columns:
            if re.fullmatch(pattern, str(column), flags=re.IGNORECASE):
                return column
    return None


def _as_frame(table, label: str) -> pd.DataFrame:
    if table is None:
        return None
    if isinstance(table, (str, Path)):
        path = Path(table)
        if not path.exists():
            raise HotspotInputError(f"{label} table {path} does not exist; check the path")
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise HotspotInputError(f"cannot read the {label} table {path} as CSV ({exc}); give a CSV file") from None
    return pd.DataFrame(table)


def _numeric(series: pd.Series, label: str, column: str) -> np.ndarray:
    values = pd.to_numeric(series.astype(str).str.replace(",", "").str.strip(), errors="coerce")
    bad = values.isna() & series.astype(str).str.strip().ne("")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise HotspotInputError(f"{label} table row {row}: {column} = {series.iloc[row - 1]!r} is not a number")
    return values.to_numpy(np.float64)


# --- result --------------------------------------------------------------------------------------------


def _area_cell(column: str, value) -> str:
    """One printed cell of the areas table."""
    if pd.isna(value):
        return ""
    if column == "share":
        return f"{value:.1%}"
    if column.startswith("rate"):
        return f"{value:,.1f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


@dataclass(frozen=True)
class AreaStatistics:
    """Area statistics (definitions in the module docstring).

    Attributes
    ----------
    table : GeoDataFrame
        One row per area: ``area_code, area_name, count, rank`` (1 = most records, ties share
        the best rank), ``share`` (of matched records; sums to 1), ``quintile`` (1 = highest
        counts); with a population: ``population, rate_per_1000, rate_low, rate_high`` (exact
        Poisson 95 %), ``flag`` ("higher"/"lower"/"similar" than the whole-area rate), and with
        age bands ``asr_per_1000, asr_low, asr_high`` (ESP 2013, Dobson); with an IMD table
        ``imd_decile`` (1 = most deprived); with a lookup ``ward_code, ward_name``; geometry.
    by_decile : DataFrame or None
        Per IMD decile: ``imd_decile, areas, count, share, population, rate_per_1000, rate_low,
        rate_high`` (and ASR columns when available).
    concentration : ConcentrationSummary
        Top-20 % share, Gini and Lorenz curve of the per-area counts.
    wards_with_top_quintile : DataFrame or None
        Wards holding top-quintile areas: ``ward_code, ward_name, top_quintile_areas, areas,
        top_quintile_count, top_quintile_area_codes``, most top-quintile areas first.
    overall : dict
        Whole-area ``count, population, rate_per_1000, rate_low, rate_high`` (areas with a population).
    n_records, n_matched, n_unmatched : int
        Records in, matched to an area, and not matched (reported, never dropped silently).
    join : str
        "code" or "spatial": how records were matched.
    notes : list of str
        What the reader should know (unmatched records, missing populations, no ASR, ...).
    level : str
        "area" (the given areas) or "ward" (aggregated with the lookup).
    month_of_year : DataFrame or None
        ``month`` (1-12), ``name``, ``months_in_period`` (how many of that calendar month the
        records span), ``count`` and ``per_month`` (count / months_in_period, so a month that
        occurs three times in a 26-month period is not favoured); None without months.
    out_of_area : int
        Records the force placed outside its area (rejected as out of area or outside the study
        area), reported on their own line as needs assessments do; not in ``n_records``.
    """

    table: gpd.GeoDataFrame
    by_decile: pd.DataFrame | None
    concentration: ConcentrationSummary
    wards_with_top_quintile: pd.DataFrame | None
    overall: dict
    n_records: int
    n_matched: int
    n_unmatched: int
    join: str
    notes: list = field(default_factory=list)
    level: str = "area"
    month_of_year: pd.DataFrame | None = None
    out_of_area: int = 0

    def summary(self, width: int = 100, rows: int = 10) -> list[str]:
        """The busiest ``rows`` areas (columns dropped to fit ``width``), concentration, rates, deciles, wards, notes."""
        from rich import box
        from rich.table import Table

        from hotspot.core.result import fit_columns, render

        t = self.table.sort_values(["rank", "area_code"]).head(rows)
        unit = "wards" if self.level == "ward" else "areas"
        title = f"Busiest {len(t)} of {len(self.table):,} {unit} ({self.n_matched:,} records joined by {self.join})"
        columns = {"rank": "rank", "area_name": "area", "count": "records", "share": "share", "quintile": "quintile"}
        if "rate_per_1000" in t:
            columns.update({"rate_per_1000": "per 1,000 (95% CI)", "flag": "vs all"})
        columns.update({k: v for k, v in (("imd_decile", "IMD decile"), ("ward_name", "ward")) if k in t})
        cells_by_row = []
        for _, row in t.iterrows():
            cells = {c: _area_cell(c, row[c]) for c in columns}
            if "rate_per_1000" in columns and not pd.isna(row["rate_per_1000"]):
                nd = 0 if row["rate_per_1000"] >= 100 else 1
                cells["rate_per_1000"] = (
                    f"{row['rate_per_1000']:,.{nd}f} ({row['rate_low']:,.{nd}f}-{row['rate_high']:,.{nd}f})"
                )
            cells_by_row.append(cells)

        def build(shown):
            table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
            for c in shown:
                table.add_column(
                    columns[c],
                    justify="left" if c in ("area_name", "flag", "ward_name") else "right",
                    no_wrap=True,
                    overflow="ellipsis",
                )
            for cells in cells_by_row:
                table.add_row(*[cells[c] for c in shown])
            return table

        # One line per area at any width: the ward, IMD decile and quintile go first when the terminal is narrow.
        lines = render(
            build(fit_columns(build, list(columns), ("ward_name", "imd_decile", "quintile", "flag"), width)), width
        )
        lines.append(self.concentration.describe())
        o = self.overall
        if o["rate_per_1000"] == o["rate_per_1000"]:
            lines.append(
                f"whole-area rate {o['rate_per_1000']:,.1f} per 1,000 (95 % CI {o['rate_low']:,.1f}-"
                f"{o['rate_high']:,.1f}); areas significantly higher: {(self.table['flag'] == 'higher').sum():,}, "
                f"lower: {(self.table['flag'] == 'lower').sum():,}"
            )
        if self.by_decile is not None and "rate_per_1000" in self.by_decile:
            d = self.by_decile
            rates = ", ".join(f"{int(k)}: {r:,.1f}" for k, r in zip(d["imd_decile"], d["rate_per_1000"]) if r == r)
            lines.append(f"rate per 1,000 by IMD decile (1 = most deprived): {rates}")
        if self.wards_with_top_quintile is not None and len(self.wards_with_top_quintile):
            w = self.wards_with_top_quintile.head(5)
            text = "; ".join(f"{n} ({k})" for n, k in zip(w["ward_name"], w["top_quintile_areas"]))
            lines.append(f"{len(self.wards_with_top_quintile):,} wards hold top-quintile areas; most: {text}")
        return [*lines, *self.notes]

    def lorenz_table(self) -> pd.DataFrame:
        """The Lorenz curve as a table: ``share_of_areas, share_of_records``."""
        return pd.DataFrame(
            {"share_of_areas": self.concentration.lorenz_x, "share_of_records": self.concentration.lorenz_y}
        )

    def write(self, out: str | Path, *, provenance=None) -> list[Path]:
        """Write the GeoPackage ``out`` (layer ``areas`` plus attribute tables) and CSVs beside it; returns the paths.

        The ``areas`` layer carries its QGIS default style (graduated on ``count``); ``provenance``
        goes into the GeoPackage metadata and beside each CSV.

        CSVs: ``<stem>.csv`` (areas), ``<stem>_lorenz.csv``, and when present
        ``<stem>_by_decile.csv`` and ``<stem>_wards_top_quintile.csv``.
        """
        from hotspot.io.outputs import write_csv, write_geopackage

        out = Path(out)
        if out.suffix.lower() != ".gpkg":
            out = out.with_suffix(".gpkg")
        layers = {"areas": self.table, "lorenz": self.lorenz_table()}
        extra = {
            "by_decile": self.by_decile,
            "wards_top_quintile": self.wards_with_top_quintile,
            "month_of_year": self.month_of_year,
        }
        layers.update({k: v for k, v in extra.items() if v is not None})
        written = [write_geopackage(out, layers, styles={"areas": "areas"}, provenance=provenance)]
        written.append(write_csv(self.table, out.with_suffix(".csv"), provenance=provenance))
        for name, frame in layers.items():
            if name != "areas":
                written.append(write_csv(frame, out.with_name(f"{out.stem}_{name}.csv"), provenance=provenance))
        return written


# --- the statistic ---------------------------------------------------------------------------------------


def _match_records(records: Records, areas, join: str, tolerance_m: float) -> tuple[np.ndarray, str, dict]:
    """Index into ``areas`` of each record (-1 unmatched), the join used, and unmatched counts by reason."""
    from hotspot.core.assign import assign_records

    index, reasons, _, near = assign_records(records.frame, areas, rule=join, tolerance_m=tolerance_m)
    if near:
        reasons[f"_near {near}"] = near
    return index, join, reasons


def area_statistics(
    records: Records,
    areas,
    *,
    population=None,
    age_bands: list[str] | None = None,
    imd=None,
    lookup=None,
    join: str = "auto",
    age_column: str = "age_band",
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    confidence: float = 0.95,
    per_year: bool = False,
    level: str = "area",
) -> AreaStatistics:
    """Counts, ranks, shares, quintiles, rates, age-standardised rates and deprivation gradients per area.

    Parameters
    ----------
    records : Records
        Crime records; ``lsoa_code`` for ``join="code"``, x/y in metres for ``join="spatial"``.
    areas : GeoDataFrame
        ``area_code``, ``area_name``, geometry (reprojected to ``records.crs`` when needed).
    population : DataFrame or path, optional
        Residents per area: a code column (``area_code`` or any column of matching codes) and
        a total (``total``/``population``) and/or age bands. Enables rates.
    age_bands : list of str, optional
        Population columns holding residents by age band (labels like ``age_16_24``,
        ``age_65_plus``). Default: every ``age_*`` column. ASRs also need records carrying
        the band in ``age_column``.
    imd : DataFrame or path, optional
        Deprivation per area: a code column and a decile column (``decile``, ``IMD25_DECILE``
        or any one column with "decile" in its name); 1 = most deprived.
    lookup : DataFrame or path, optional
        Area to ward: a code column and ward code/name columns (``ward_code``/``ward_name``
        or ONS ``WDyyCD``/``WDyyNM``, the first pair found).
    join : {"auto", "code", "spatial"}, default "auto"
        How records are matched to areas (:mod:`hotspot.core.assign`): "auto", the rule every command
        uses, takes the record's own ``lsoa_code`` when it is among the areas and its position
        otherwise; "code" the code only; "spatial" the position only.
    age_column : str, default "age_band"
        Record column with each record's age band (labels as in ``age_bands``).
    tolerance_m : float, default 20
        Spatial join only: points outside every polygon but within this many metres of one
        are matched to the nearest (ONS generalised boundaries are simplified to 20 m).
    confidence : float, default 0.95
        Confidence level of the intervals.
    per_year : bool, default False
        False: rates per 1,000 residents over the whole period the records cover. True: per
        1,000 residents per year, dividing by the months from the first to the last record's
        month / 12 (months without records inside that span count).
    level : {"area", "ward"}, default "area"
        ``"ward"``: report wards instead of the given areas, aggregating areas (LSOAs) to wards
        with ``lookup`` (counts, populations and age bands summed; every statistic
        recomputed at ward level; ``by_decile`` stays per LSOA, as IMD is an LSOA measure;
        the table gains ``lsoas`` and the number of LSOAs in IMD decile 1 and deciles 1-2).

    Returns
    -------
    AreaStatistics
    """
    import geopandas as gpd

    if join not in JOINS:
        raise HotspotInputError(f"--join must be one of {', '.join(JOINS)}, got {join!r}")
    if level not in LEVELS:
        raise HotspotInputError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    if areas is None or len(areas) == 0:
        raise HotspotInputError("no areas given; pass --boundaries with LSOA or ward polygons")
    missing = {"area_code", "area_name"} - set(areas.columns)
    if missing:
        raise HotspotInputError(
            f"the boundaries lack {', '.join(sorted(missing))}; read them with hotspot.ingest.boundaries.read_boundaries"
        )
    areas = areas.reset_index(drop=True)
    if areas.crs is not None and records.crs and str(areas.crs) != str(records.crs):
        areas = areas.to_crs(records.crs)
    areas = areas.assign(area_code=areas["area_code"].astype(str).str.strip())
    if areas["area_code"].duplicated().any():
        dup = areas.loc[areas["area_code"].duplicated(), "area_code"].iloc[0]
        raise HotspotInputError(f"area code {dup} appears twice in the boundaries; dissolve or remove duplicates")
    notes: list[str] = []
    codes = pd.Index(areas["area_code"])
    n_areas = len(areas)

    # Counts.
    index, join, reasons = _match_records(records, areas, join, tolerance_m)
    matched = index >= 0
    counts = np.bincount(index[matched], minlength=n_areas).astype(np.int64)
    n_records, n_matched = len(records), int(matched.sum())
    n_unmatched = n_records - n_matched
    near = [k for k in reasons if k.startswith("_near")]
    for k in near:
        notes.append(
            f"{reasons.pop(k):,} records outside every polygon but within {tolerance_m:g} m matched to the nearest area"
        )
    if n_unmatched:
        detail = ", ".join(f"{n:,} {why}" for why, n in reasons.items() if n)
        notes.append(f"{n_unmatched:,} of {n_records:,} records matched no area ({detail}); they are not in the table")
    table = pd.DataFrame(
        {"area_code": areas["area_code"], "area_name": areas["area_name"].astype(str), "count": counts}
    )

    # Population by area (and by age band).
    per, period = _rate_scale(records, per_year)
    pop_table = _as_frame(population, "population")
    pop = band_pop = band_cols = rec_band = band_counts = None
    if pop_table is not None:
        code_col = _code_column(pop_table, codes, "population")
        pop_table = pop_table.assign(**{code_col: pop_table[code_col].astype(str).str.strip()})
        pop_table = pop_table.drop_duplicates(code_col).set_index(code_col)
        band_cols = (
            list(age_bands) if age_bands else [c for c in pop_table.columns if str(c).lower().startswith("age_")]
        )
        absent = [c for c in band_cols if c not in pop_table.columns]
        if absent:
            raise HotspotInputError(f"the population table has no column {absent[0]!r}; check --age-bands")
        total_col = _find(pop_table.columns, _TOTAL_COLUMNS)
        aligned = pop_table.reindex(codes)
        if band_cols:
            band_pop = np.column_stack([_numeric(aligned[c].fillna(""), "population", c) for c in band_cols])
        if total_col is not None:
            pop = _numeric(aligned[total_col].fillna(""), "population", total_col)
        elif band_cols:
            pop = band_pop.sum(axis=1)
        else:
            raise HotspotInputError("the population table has neither a total/population column nor age_* bands")
        no_pop = int(np.isnan(pop).sum())
        if no_pop:
            notes.append(f"{no_pop:,} areas have no population row; their rates are blank")
        extra = int((~pop_table.index.isin(codes)).sum())
        if extra:
            notes.append(f"{extra:,} population rows match no area and were not used")
        notes.append(f"rates are per 1,000 residents {period}")
        if band_cols:
            if age_column in records.frame.columns:
                rec_band = _record_bands(records, age_column, band_cols)
                use = matched & (rec_band >= 0)
                if (matched & (rec_band < 0)).any():
                    notes.append(
                        f"{int((matched & (rec_band < 0)).sum()):,} matched records have no usable "
                        f"{age_column}; they are left out of the age-standardised rates only"
                    )
                band_counts = np.zeros((n_areas, len(band_cols)))
                np.add.at(band_counts, (index[use], rec_band[use]), 1.0)
            else:
                notes.append(
                    f"age-standardised rates need each record's age band (a {age_column!r} column); these "
                    "records have none (police.uk publishes no ages), so only crude rates are given"
                )
    overall = _fill_area_columns(table, counts, pop, band_counts, band_pop, band_cols, per, confidence)

    # Deprivation.
    imd_table = _as_frame(imd, "IMD")
    by_decile = None
    if imd_table is not None:
        code_col = _code_column(imd_table, codes, "IMD")
        decile_col = _find(imd_table.columns, ("decile", "imd_decile", r"imd\d*_decile", r".*decile.*"))
        if decile_col is None:
            raise HotspotInputError("the IMD table has no decile column (e.g. IMD25_DECILE); add one named decile")
        imd_table = imd_table.assign(**{code_col: imd_table[code_col].astype(str).str.strip()})
        deciles = imd_table.drop_duplicates(code_col).set_index(code_col)[decile_col].reindex(codes)
        table["imd_decile"] = pd.array(_numeric(deciles.fillna(""), "IMD", decile_col), dtype="Int64")
        no_imd = int(table["imd_decile"].isna().sum())
        if no_imd:
            notes.append(f"{no_imd:,} areas have no IMD decile; they are left out of the decile table")
        by_decile = _by_decile(table, band_cols, band_pop, confidence, rec_band, index, matched, per)

    # Wards.
    wards = None
    lookup_table = _as_frame(lookup, "lookup")
    if lookup_table is not None:
        code_col = _code_column(lookup_table, codes, "lookup")
        ward_code = _find(lookup_table.columns, ("ward_code", r"wd\d\dcd"))
        ward_name = _find(lookup_table.columns, ("ward_name", r"wd\d\dnm"))
        if ward_code is None:
            raise HotspotInputError("the lookup has no ward code column (ward_code or WDyyCD); check --lookup")
        lk = lookup_table.assign(**{code_col: lookup_table[code_col].astype(str).str.strip()})
        lk = lk.drop_duplicates(code_col).set_index(code_col).reindex(codes)
        table["ward_code"] = lk[ward_code].to_numpy()
        table["ward_name"] = lk[ward_name].to_numpy() if ward_name is not None else ""
        no_ward = int(table["ward_code"].isna().sum())
        if no_ward:
            notes.append(f"{no_ward:,} areas have no ward in the lookup")
        wards = _wards_top_quintile(table)
    elif level == "ward":
        raise HotspotInputError("ward-level statistics need --lookup (LSOA code to ward code and name)")

    result_table = gpd.GeoDataFrame(table, geometry=areas.geometry.values, crs=areas.crs)
    summary = concentration(counts)
    if level == "ward":
        result_table, overall = _to_wards(result_table, band_counts, band_pop, band_cols, per, confidence, notes)
        summary = concentration(result_table["count"].to_numpy())
        wards = None
    out_of_area = _out_of_area(records)
    if out_of_area:
        notes.append(
            f"out of area: {out_of_area:,} records ({out_of_area / (n_records + out_of_area):.1%} of the "
            "located records) were placed outside the force or study area and are not in the table"
        )
    return AreaStatistics(
        result_table,
        by_decile,
        summary,
        wards,
        overall,
        n_records,
        n_matched,
        n_unmatched,
        join,
        notes,
        level,
        month_of_year_profile(records.frame["month"]),
        out_of_area,
    )


def _out_of_area(records: Records) -> int:
    """Records rejected as out of area or outside the study area, of the kept records' crime types and months."""
    from hotspot.ingest.study import Study

    return Study(records=records).out_of_area()


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_of_year_profile(months) -> pd.DataFrame | None:
    """Records per calendar month, and per occurrence of that month in the period the records span.

    ``months`` are ``YYYY-MM`` strings. The period runs from the first to the last month present
    (months without records inside it count). Returns None when there are no months.
    """
    months = pd.Series(months).dropna().astype(str)
    if months.empty:
        return None
    period = pd.period_range(months.min(), months.max(), freq="M")
    occurrences = np.bincount(period.month - 1, minlength=12)
    counts = np.bincount(pd.PeriodIndex(months, freq="M").month - 1, minlength=12)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_month = np.where(occurrences > 0, counts / np.maximum(occurrences, 1), np.nan)
    return pd.DataFrame(
        {
            "month": np.arange(1, 13),
            "name": MONTH_NAMES,
            "months_in_period": occurrences,
            "count": counts,
            "per_month": per_month,
        }
    )


def _fill_area_columns(table, counts, pop, band_counts, band_pop, band_cols, per, confidence) -> dict:
    """Add rank, share, quintile and (with a population) rates, flags and ASRs to ``table``; returns the overall rate."""
    n_areas = len(table)
    total = int(counts.sum())
    table["rank"] = pd.Series(counts).rank(ascending=False, method="min").astype(np.int64).to_numpy()
    table["share"] = counts / total if total > 0 else np.nan
    # Quintiles by rank, so areas with the same count share a quintile (the better one).
    table["quintile"] = 1 + (5 * (table["rank"].to_numpy() - 1)) // n_areas
    overall = {
        "count": total,
        "population": math.nan,
        "rate_per_1000": math.nan,
        "rate_low": math.nan,
        "rate_high": math.nan,
    }
    if pop is None:
        return overall
    table["population"] = pop
    lo, hi = poisson_ci(counts, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        valid = pop > 0
        table["rate_per_1000"] = np.where(valid, counts / pop * per, np.nan)
        table["rate_low"] = np.where(valid, lo / pop * per, np.nan)
        table["rate_high"] = np.where(valid, hi / pop * per, np.nan)
    table["flag"] = ""
    if valid.any():
        o, n = int(counts[valid].sum()), float(pop[valid].sum())
        olo, ohi = poisson_ci(o, confidence)
        overall.update(
            population=n,
            rate_per_1000=o / n * per,
            rate_low=float(olo) / n * per,
            rate_high=float(ohi) / n * per,
            count=o,
        )
        benchmark = overall["rate_per_1000"]
        flag = np.where(
            table["rate_low"] > benchmark, "higher", np.where(table["rate_high"] < benchmark, "lower", "similar")
        )
        table["flag"] = np.where(valid, flag, "")
    if band_cols:
        table["asr_per_1000"] = np.nan
        table["asr_low"] = np.nan
        table["asr_high"] = np.nan
        if band_counts is not None:
            people = np.nan_to_num(band_pop, nan=0.0)
            rate, low, high = direct_standardised_rate(
                band_counts, people, esp_weights(band_cols), per=per, confidence=confidence
            )
            nopop = ~(people.sum(axis=1) > 0)
            table["asr_per_1000"] = np.where(nopop, np.nan, rate)
            table["asr_low"] = np.where(nopop, np.nan, low)
            table["asr_high"] = np.where(nopop, np.nan, high)
    return overall


def _to_wards(table, band_counts, band_pop, band_cols, per, confidence, notes):
    """Aggregate the per-LSOA table to wards via its ward_code/ward_name columns and recompute every statistic."""
    import geopandas as gpd

    known = table["ward_code"].notna().to_numpy()
    if not known.all():
        notes.append(
            f"{int((~known).sum()):,} areas without a ward are left out of the ward table "
            f"({int(table.loc[~known, 'count'].sum()):,} records)"
        )
    t = table.loc[known]
    ward_codes, ward_index = np.unique(t["ward_code"].astype(str).to_numpy(), return_inverse=True)
    n_wards = ward_codes.size
    counts = np.bincount(ward_index, weights=t["count"].to_numpy(np.float64), minlength=n_wards).astype(np.int64)
    names = t.groupby(ward_index)["ward_name"].first().reindex(range(n_wards)).astype(str).to_numpy()
    pop = None
    if "population" in t:
        raw = t["population"].to_numpy(np.float64)
        pop = np.bincount(ward_index, weights=np.nan_to_num(raw, nan=0.0), minlength=n_wards)
        missing = np.bincount(ward_index, weights=np.isnan(raw).astype(float), minlength=n_wards) > 0
        pop = np.where(missing, np.nan, pop)  # a ward with an LSOA lacking population has no reliable rate
    wb_counts = wb_pop = None
    if band_cols and band_pop is not None:
        wb_pop = np.zeros((n_wards, len(band_cols)))
        np.add.at(wb_pop, ward_index, np.nan_to_num(band_pop[known], nan=0.0))
        if band_counts is not None:
            wb_counts = np.zeros((n_wards, len(band_cols)))
            np.add.at(wb_counts, ward_index, band_counts[known])
    wards = pd.DataFrame({"area_code": ward_codes, "area_name": names, "count": counts})
    overall = _fill_area_columns(wards, counts, pop, wb_counts, wb_pop, band_cols, per, confidence)
    wards["lsoas"] = np.bincount(ward_index, minlength=n_wards)
    if "imd_decile" in t:
        # Share of each ward's LSOAs in the most deprived 10 % and 20 % nationally.
        dec = t["imd_decile"].to_numpy(dtype=np.float64, na_value=np.nan)
        wards["lsoas_imd_decile_1"] = np.bincount(
            ward_index, weights=(dec == 1).astype(float), minlength=n_wards
        ).astype(int)
        wards["lsoas_imd_decile_1_2"] = np.bincount(
            ward_index, weights=(dec <= 2).astype(float), minlength=n_wards
        ).astype(int)
    geometry = gpd.GeoSeries(t.geometry.values, crs=table.crs).groupby(ward_index).agg(lambda g: g.union_all())
    notes.append(f"{known.sum():,} LSOAs aggregated to {n_wards:,} wards with the lookup (best-fit: whole LSOAs)")
    return gpd.GeoDataFrame(wards, geometry=list(geometry.reindex(range(n_wards)).values), crs=table.crs), overall


def _rate_scale(records: Records, per_year: bool) -> tuple[float, str]:
    """Multiplier turning count / population into the reported rate, and the period in words."""
    months = records.frame["month"].dropna().astype(str) if "month" in records.frame else pd.Series([], dtype=str)
    months = months[months.str.fullmatch(r"\d{4}-\d{2}")]
    if months.empty:
        if per_year:
            raise HotspotInputError("per-year rates need a month on the records; none has one")
        return 1000.0, "over the records' period"
    first, last = months.min(), months.max()
    span = (int(last[:4]) * 12 + int(last[5:])) - (int(first[:4]) * 12 + int(first[5:])) + 1
    if per_year:
        return 1000.0 * 12.0 / span, f"per year ({span} months, {first} to {last}, divided by {span / 12:g} years)"
    return 1000.0, f"over the {span} months {first} to {last} (not per year)"


def _record_bands(records: Records, age_column: str, band_cols) -> np.ndarray:
    """Index into ``band_cols`` of each record's age band (-1 when missing or not one of the bands)."""
    band_keys = [parse_age_band(c) for c in band_cols]
    labels = records.frame[age_column].fillna("").astype(str)
    code = {}
    for label in pd.unique(labels):
        try:
            key = parse_age_band(label)
        except HotspotInputError:
            key = None
        code[label] = band_keys.index(key) if key in band_keys else -1
    return labels.map(code).to_numpy(np.int64)


def _by_decile(table, band_cols, band_pop, confidence, rec_band, index, matched, per) -> pd.DataFrame:
    known = table["imd_decile"].notna().to_numpy()
    t = table.loc[known]
    agg = {"areas": ("area_code", "size"), "count": ("count", "sum")}
    if "population" in t:
        agg["population"] = ("population", "sum")
    out = t.groupby("imd_decile").agg(**agg).reindex(pd.RangeIndex(1, 11, name="imd_decile"), fill_value=0)
    out = out.reset_index()
    out["share"] = out["count"] / max(int(table["count"].sum()), 1)
    if "population" in out:
        lo, hi = poisson_ci(out["count"].to_numpy(), confidence)
        pop = out["population"].to_numpy(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["rate_per_1000"] = np.where(pop > 0, out["count"] / pop * per, np.nan)
            out["rate_low"] = np.where(pop > 0, lo / pop * per, np.nan)
            out["rate_high"] = np.where(pop > 0, hi / pop * per, np.nan)
        if rec_band is not None:
            dec = table["imd_decile"].to_numpy(dtype=np.float64, na_value=np.nan)
            rec_dec = np.where(matched, dec[np.where(matched, index, 0)], np.nan)
            use = matched & (rec_band >= 0) & np.isfinite(rec_dec)
            counts = np.zeros((10, len(band_cols)))
            np.add.at(counts, (rec_dec[use].astype(int) - 1, rec_band[use]), 1.0)
            pops = np.zeros((10, len(band_cols)))
            np.add.at(pops, dec[known].astype(int) - 1, np.nan_to_num(band_pop[known], nan=0.0))
            rate, low, high = direct_standardised_rate(
                counts, pops, esp_weights(band_cols), per=per, confidence=confidence
            )
            out["asr_per_1000"], out["asr_low"], out["asr_high"] = rate, low, high
    return out


def _wards_top_quintile(table: pd.DataFrame) -> pd.DataFrame:
    t = table[table["ward_code"].notna()]
    top = t[t["quintile"] == 1]
    sizes = t.groupby("ward_code").size().rename("areas")
    grouped = top.groupby("ward_code").agg(
        ward_name=("ward_name", "first"),
        top_quintile_areas=("area_code", "size"),
        top_quintile_count=("count", "sum"),
        top_quintile_area_codes=("area_code", lambda s: ",".join(sorted(s))),
    )
    out = grouped.join(sizes).reset_index()
    out = out[
        ["ward_code", "ward_name", "top_quintile_areas", "areas", "top_quintile_count", "top_quintile_area_codes"]
    ]
    return out.sort_values(
        ["top_quintile_areas", "top_quintile_count", "ward_code"], ascending=[False, False, True]
    ).reset_index(drop=True)
