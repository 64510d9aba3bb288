"""The Knox test for near-repeats, reported as the Near Repeat Calculator reports it.

Every pair of records is placed in a cell of a table by how far apart the two are in space
(distance bands, metres) and in time (time bands, days; months for police.uk records). The observed
count of each cell is compared with the counts when the records' times are shuffled among them
(Monte Carlo permutations, seeded): places and the set of times stay fixed, only which time goes
with which place changes, so any excess of pairs close in both space and time is space-time
interaction. For each cell the table reports

- ``observed``: pairs in the cell;
- ``expected``: the mean count over the permutations;
- ``knox_ratio``: observed / expected (1 = no interaction, 1.5 = 50 % more pairs than chance);
- ``p_value``: ``(1 + #permutations with a count >= observed) / (permutations + 1)``, one-sided;
- ``z``: (observed - expected) / standard deviation over the permutations.

Bands: distance band 0 is the same location (0 m) when ``same_location`` (police.uk snap points and
address-geocoded data put repeats at exactly the same point), then ``(0, w]``, ``(w, 2w]``, ... metres
and a last band "beyond". With times in days, time band 0 is ``0..w`` days, then ``w+1..2w`` ... and
"beyond"; with months, band k holds differences of ``k w .. (k+1) w - 1`` months (``w = 1``: the
same month, 1 month apart, ...). Days are calendar days between the two dates.

Only pairs within the largest finite distance band are enumerated (a k-d tree); the "beyond"
distance column is the total number of pairs in each time band (which permutations do not change)
minus the closer ones, so the test is exact over all ``n (n - 1) / 2`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve

if TYPE_CHECKING:
    from hotspot.io.provenance import Provenance

TIME_UNITS = ("days", "months")
DEFAULT_DISTANCE_BAND_M = 100.0
DEFAULT_DISTANCE_BANDS = 5
DEFAULT_TIME_BAND_DAYS = 7
DEFAULT_TIME_BANDS = 4
DEFAULT_TIME_BAND_MONTHS = 1
DEFAULT_TIME_BANDS_MONTHS = 3
PROGRESS_CHUNK = 200
"""Permutations per kernel call, between progress reports."""
SIGNIFICANT_RATIO = 1.2
"""The Near Repeat Calculator highlights cells with a Knox ratio of at least 1.2 and p <= 0.05."""


@dataclass(frozen=True)
class KnoxResult:
    """A Knox table: arrays of shape ``(distance bands, time bands)``, "beyond" bands last.

    Attributes
    ----------
    observed : int array
    expected : float array
        Mean count over the permutations.
    sd : float array
        Standard deviation over the permutations.
    ratio : float array
        observed / expected (NaN where expected is 0).
    p : float array
        One-sided Monte Carlo p of at least the observed count.
    distance_edges_m, time_edges : float arrays
        Band edges (see the module docstring).
    distance_labels, time_labels : tuple of str
    time_unit : str
        "days" or "months".
    permutations, seed, n_records : int
    n_close_pairs : int
        Pairs within the largest finite distance band.
    notes : list of str
    """

    observed: np.ndarray
    expected: np.ndarray
    sd: np.ndarray
    ratio: np.ndarray
    p: np.ndarray
    distance_edges_m: np.ndarray
    time_edges: np.ndarray
    distance_labels: tuple
    time_labels: tuple
    time_unit: str
    permutations: int
    seed: int
    n_records: int
    n_close_pairs: int
    notes: list = field(default_factory=list)

    @property
    def z(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.sd > 0, (self.observed - self.expected) / self.sd, np.nan)

    def table(self) -> pd.DataFrame:
        """One row per cell: ``distance_band, time_band, observed, expected, knox_ratio, p_value, z, significant``."""
        nd, nt = self.observed.shape
        d_idx, t_idx = np.meshgrid(np.arange(nd), np.arange(nt), indexing="ij")
        frame = pd.DataFrame(
            {
                "distance_band": np.asarray(self.distance_labels, dtype=object)[d_idx.ravel()],
                "time_band": np.asarray(self.time_labels, dtype=object)[t_idx.ravel()],
                "observed": self.observed.ravel(),
                "expected": self.expected.ravel(),
                "knox_ratio": self.ratio.ravel(),
                "p_value": self.p.ravel(),
                "z": self.z.ravel(),
            }
        )
        frame["significant"] = (frame["knox_ratio"] >= SIGNIFICANT_RATIO) & (frame["p_value"] <= 0.05)
        return frame

    def write(self, path: str | Path, *, provenance: Provenance | None = None) -> list[Path]:
        """The Knox table (:meth:`table`) as the CSV ``path``."""
        from hotspot.io.outputs import write_csv

        return [write_csv(self.table(), path, provenance=provenance)]

    def summary(self, width: int = 100) -> list[str]:
        """The Knox ratios by distance and time band (``*``: significant), the near-repeat reach and the notes."""
        from rich.table import Table

        from hotspot.core.result import render

        reach_m, reach_t = self.reach()
        table = Table(
            title=f"Knox ratios: {self.n_records:,} records, {self.permutations} permutations "
            f"(*: ratio >= {SIGNIFICANT_RATIO:g} and p <= 0.05)"
        )
        table.add_column("distance")
        for label in self.time_labels:
            table.add_column(label, justify="right")
        for i, d_label in enumerate(self.distance_labels):
            cells = []
            for j in range(len(self.time_labels)):
                ratio, p = self.ratio[i, j], self.p[i, j]
                significant = np.isfinite(ratio) and ratio >= SIGNIFICANT_RATIO and p <= 0.05
                cells.append("-" if not np.isfinite(ratio) else f"{ratio:.2f}" + ("*" if significant else ""))
            table.add_row(d_label, *cells)
        lines = render(table, width)
        if reach_m > 0:
            lines.append(f"near-repeat reach: up to {reach_m:,.0f} m and {reach_t:g} {self.time_unit} after a crime")
        elif reach_t > 0:
            lines.append(
                f"repeats at the same location for up to {reach_t:g} {self.time_unit}; "
                "no significant near repeats at other distances in the first time band"
            )
        else:
            lines.append("no significant near-repeat pattern in the first distance and time bands")
        return [*lines, *self.notes]

    def matrix(self, what: str = "knox_ratio") -> pd.DataFrame:
        """A wide table like the Near Repeat Calculator's: distance bands as rows, time bands as columns."""
        values = {
            "observed": self.observed,
            "expected": self.expected,
            "knox_ratio": self.ratio,
            "p_value": self.p,
            "z": self.z,
        }
        if what not in values:
            raise HotspotInputError(f"what must be one of {', '.join(values)}, got {what!r}")
        return pd.DataFrame(values[what], index=list(self.distance_labels), columns=list(self.time_labels))

    def reach(self, alpha: float = 0.05, min_ratio: float = SIGNIFICANT_RATIO) -> tuple[float, float]:
        """The near-repeat reach ``(metres, time units)`` read from the significant finite cells
        (ratio >= ``min_ratio`` and p <= ``alpha``), as analysts read the calculator's table.

        Distance: the outer edge of the last distance band in the unbroken run of significant cells
        down the first time band (an insignificant same-location band does not break the run).
        Time: the outer edge of the last time band in the unbroken run of significant cells along the
        first significant distance band. ``(0, t)``: repeats at the same location only; ``(0, 0)``: none.
        """
        sig = ((self.ratio >= min_ratio) & (self.p <= alpha))[:-1, :-1]  # finite bands only
        same_location = self.distance_edges_m[1] == 0
        reach_d, reach_t, row = 0.0, 0.0, None
        for i in range(sig.shape[0]):
            if sig[i, 0]:
                reach_d = float(self.distance_edges_m[i + 1])
                row = i if row is None else row
            elif not (i == 0 and same_location):  # an empty same-location band does not end the run
                break
        if row is not None:
            for j in range(sig.shape[1]):
                if not sig[row, j]:
                    break
                reach_t = float(self.time_edges[j + 1])
        return reach_d, reach_t


def _int_label(lo: float, hi: float, unit: str) -> str:
    lo_i, hi_i = int(round(lo)), int(round(hi))
    if lo_i == hi_i:
        return f"{lo_i} {unit[:-1] if lo_i == 1 else unit}"
    return f"{lo_i}-{hi_i} {unit}"


def band_edges(
    *,
    distance_band_m: float,
    distance_bands: int,
    same_location: bool,
    time_band: int,
    time_bands: int,
    time_unit: str,
):
    """(distance edges, time edges, distance labels, time labels) for the Knox table."""
    if not (distance_band_m > 0) or not np.isfinite(distance_band_m):
        raise HotspotInputError(f"--distance-band must be a positive number of metres, got {distance_band_m}")
    if distance_bands < 1 or time_bands < 1:
        raise HotspotInputError("--distance-bands and --time-bands must be at least 1")
    if time_band < 1 or int(time_band) != time_band:
        raise HotspotInputError(f"--time-band must be a whole number of {time_unit} (1 or more), got {time_band}")
    if time_unit not in TIME_UNITS:
        raise HotspotInputError(f"time unit must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    w = float(distance_band_m)
    d_edges = [0.0] + ([0.0] if same_location else []) + [w * (k + 1) for k in range(distance_bands)]
    d_labels = (["same location (0 m)"] if same_location else []) + [
        f"{(0 if (k == 0 and not same_location) else 1) + int(w * k)}-{int(w * (k + 1))} m"
        if w == int(w)
        else f"{w * k:g}-{w * (k + 1):g} m"
        for k in range(distance_bands)
    ]
    d_labels.append(f"more than {d_edges[-1]:g} m")
    tb = int(time_band)
    if time_unit == "days":
        t_edges = [0.0] + [float(tb * (k + 1)) for k in range(time_bands)]
        t_labels = [_int_label(0 if k == 0 else tb * k + 1, tb * (k + 1), "days") for k in range(time_bands)]
    else:
        t_edges = [0.0] + [float(tb * (k + 1) - 1) for k in range(time_bands)]
        t_labels = [_int_label(tb * k, tb * (k + 1) - 1, "months") for k in range(time_bands)]
    t_labels.append(f"more than {int(t_edges[-1])} {time_unit}")
    return np.asarray(d_edges), np.asarray(t_edges), tuple(d_labels), tuple(t_labels)


def check_options(
    *,
    distance_band_m: float,
    distance_bands: int,
    time_band: int | None,
    time_bands: int | None,
    time_unit: str | None,
    permutations: int,
) -> None:
    """Raise a one-line HotspotInputError for bad Knox options before any records are read."""
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise HotspotInputError(f"--time-unit must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    if permutations < 19:
        raise HotspotInputError(f"--permutations must be at least 19 so a p-value can reach 0.05, got {permutations}")
    band_edges(
        distance_band_m=distance_band_m,
        distance_bands=distance_bands,
        same_location=True,
        time_band=1 if time_band is None else time_band,
        time_bands=1 if time_bands is None else time_bands,
        time_unit=time_unit or "days",
    )


def record_times(frame: pd.DataFrame, time_unit: str | None = None) -> tuple[np.ndarray, str]:
    """Each record's time as a whole number of days (dated records) or months (police.uk), and the unit.

    ``time_unit`` None chooses days when every record has a date, else months.
    """
    when = pd.to_datetime(frame["datetime"])
    if time_unit is None:
        time_unit = "days" if len(frame) and when.notna().all() else "months"
    if time_unit == "days":
        if when.isna().any():
            raise HotspotInputError(
                f"{int(when.isna().sum()):,} records have no date, so time bands in days are "
                "impossible; use --time-unit months (police.uk records carry months only)"
            )
        epoch = when.dt.normalize().min()
        return (when.dt.normalize() - epoch).dt.days.to_numpy(np.float64), "days"
    if time_unit != "months":
        raise HotspotInputError(f"--time-unit must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    months = pd.PeriodIndex(frame["month"].astype(str), freq="M")
    return np.asarray([p.ordinal for p in months], dtype=np.float64) - float(months.min().ordinal), "months"


def _morton(xy: np.ndarray, cell_size_m: float) -> np.ndarray:
    """Z-order (Morton) key of each point's cell of side ``cell_size_m`` metres."""

    def spread(v):
        v = v.astype(np.uint64) & np.uint64(0xFFFFFFFF)
        for shift, mask in (
            (16, 0x0000FFFF0000FFFF),
            (8, 0x00FF00FF00FF00FF),
            (4, 0x0F0F0F0F0F0F0F0F),
            (2, 0x3333333333333333),
            (1, 0x5555555555555555),
        ):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    ix = np.floor((xy[:, 0] - xy[:, 0].min()) / cell_size_m)
    iy = np.floor((xy[:, 1] - xy[:, 1].min()) / cell_size_m)
    return spread(ix) | (spread(iy) << np.uint64(1))


def knox_test(
    xy: np.ndarray,
    times: np.ndarray,
    *,
    time_unit: str = "days",
    distance_band_m: float = DEFAULT_DISTANCE_BAND_M,
    distance_bands: int = DEFAULT_DISTANCE_BANDS,
    same_location: bool = True,
    time_band: int | None = None,
    time_bands: int | None = None,
    permutations: int = 999,
    seed: int = 0,
    progress=None,
) -> KnoxResult:
    """Knox test of space-time interaction with Monte Carlo permutations of the times.

    Parameters
    ----------
    xy : array (n, 2)
        Record coordinates, metres.
    times : array (n,)
        Record times as whole days or months (see :func:`record_times`).
    time_unit : {"days", "months"}, default "days"
    distance_band_m : float, default 100
        Width of each distance band, metres.
    distance_bands : int, default 5
        Finite distance bands after the same-location band (a "beyond" band is always added).
    same_location : bool, default True
        Give pairs at exactly the same point (0 m) their own first band, as the calculator does.
    time_band : int, optional
        Width of each time band: default 7 days, or 1 month.
    time_bands : int, optional
        Finite time bands (a "beyond" band is always added): default 4 (days) or 3 (months).
    permutations : int, default 999
        Monte Carlo permutations of the times (at least 19 so that p can reach 0.05).
    seed : int, default 0
        Permutation r uses a stream seeded from (seed, r): the same seed gives the same table on any
        number of threads.
    progress : callable or None
    """
    from scipy.spatial import cKDTree

    from hotspot.kernels.spacetime import close_pairs_csr, knox_tables, pairs_by_time_band

    progress = resolve(progress)
    xy = np.asarray(xy, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if xy.shape != (n, 2):
        raise HotspotInputError(f"xy must be (n, 2) for the {n} times, got {xy.shape}")
    if n < 3:
        raise HotspotInputError(f"the Knox test needs at least 3 records, got {n}")
    if not (np.all(np.isfinite(xy)) and np.all(np.isfinite(t))):
        raise HotspotInputError("records without coordinates or times cannot enter the Knox test; filter them first")
    if not np.all(t == np.round(t)):
        raise HotspotInputError("Knox times must be whole days or months (see hotspot.spacetime.knox.record_times)")
    if permutations < 19:
        raise HotspotInputError(f"--permutations must be at least 19 so a p-value can reach 0.05, got {permutations}")
    if time_band is None:
        time_band = DEFAULT_TIME_BAND_DAYS if time_unit == "days" else DEFAULT_TIME_BAND_MONTHS
    if time_bands is None:
        time_bands = DEFAULT_TIME_BANDS if time_unit == "days" else DEFAULT_TIME_BANDS_MONTHS
    d_edges, t_edges, d_labels, t_labels = band_edges(
        distance_band_m=distance_band_m,
        distance_bands=distance_bands,
        same_location=same_location,
        time_band=time_band,
        time_bands=time_bands,
        time_unit=time_unit,
    )
    n_d, n_t = d_edges.size, t_edges.size

    # Neighbours in memory: sort the records along a Z-order curve of small cells so that a record's
    # close partners sit near it in the arrays the permutation sweep reads.
    d_max = float(d_edges[-1])
    key = np.argsort(_morton(xy, max(d_max / 4.0, 1.0)), kind="stable")
    xy_s, t_s = xy[key], t[key]
    progress("Knox: close pairs", 0, 1)
    pairs = cKDTree(xy_s).query_pairs(r=d_max, output_type="ndarray")
    indptr, pj, dband = close_pairs_csr(xy_s, pairs.astype(np.int64, copy=False), d_edges[1:].copy())
    del pairs
    progress("Knox: close pairs", 1, 1)

    # time band of every whole difference up to just beyond the last edge (the last entry serves the rest)
    diffs = np.arange(int(t_edges[-1]) + 2, dtype=np.float64)
    lut = np.searchsorted(t_edges[1:], diffs, side="left").astype(np.int64)
    progress("Knox: permutations", 0, permutations)
    t32 = t_s.astype(np.int32)
    chunks = []
    for first in range(0, int(permutations), PROGRESS_CHUNK):  # chunks only to report progress; same result
        m = min(PROGRESS_CHUNK, int(permutations) - first)
        observed, part = knox_tables(indptr, pj, dband, t32, lut, n_d, n_t, m, int(seed), first)
        chunks.append(part)
        progress("Knox: permutations", first + m, permutations)
    sims = np.concatenate(chunks)
    totals = pairs_by_time_band(np.sort(t_s), t_edges, n_t)
    observed[n_d - 1] = totals - observed[: n_d - 1].sum(axis=0)
    sims[:, n_d - 1] = totals[None, :] - sims[:, : n_d - 1].sum(axis=1)
    expected = sims.mean(axis=0)
    sd = sims.std(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    p = (1.0 + (sims >= observed[None]).sum(axis=0)) / (permutations + 1.0)
    notes = []
    if (observed[: n_d - 1, : n_t - 1].sum()) == 0:
        notes.append(
            "no pair of records is close in both space and time at these bands; widen --distance-band or --time-band"
        )
    return KnoxResult(
        observed=observed,
        expected=expected,
        sd=sd,
        ratio=ratio,
        p=p,
        distance_edges_m=d_edges,
        time_edges=t_edges,
        distance_labels=d_labels,
        time_labels=t_labels,
        time_unit=time_unit,
        permutations=int(permutations),
        seed=int(seed),
        n_records=n,
        n_close_pairs=int(pj.size),
        notes=notes,
    )


def knox_for_study(study, *, time_unit: str | None = None, progress=None, **options) -> KnoxResult:
    """:func:`knox_test` on a study's records (times from :func:`record_times`); ``options`` as there."""
    records = study.records
    if len(records) < 3:
        raise HotspotInputError("fewer than 3 records left; check the input and the filters")
    times, unit = record_times(records.frame, time_unit)
    return knox_test(records.xy, times, time_unit=unit, progress=progress, **options)
