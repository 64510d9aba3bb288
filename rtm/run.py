"""Run an RTM on a ``hotspot.ingest.study.Study``: what ``hotspot rtm`` and ``hotspot rank --method rtm`` call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hotspot.core.errors import HotspotInputError
from hotspot.ingest.validate import Parameter, check_parameters

if TYPE_CHECKING:
    from hotspot.ingest.study import Study
    from hotspot.io.provenance import Provenance
    from rtm.pipeline import RTMResult
    from rtm.validation import ValidationResult


PARAMETERS = (
    Parameter("cell_size_m", "--cell-size", "metres"),
    Parameter("test_from", "--test-from", "month"),
)
"""What :func:`build_for_study` takes, checked in one place (the distances by :func:`parse_distances`)."""


def parse_distances(text: str | None) -> list[float] | None:
    """``"50,100,150"`` -> ``[50.0, 100.0, 150.0]`` (metres); None stays None."""
    if text is None:
        return None
    try:
        values = [float(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise HotspotInputError(f"--distances {text!r}: give metres separated by commas, e.g. 50,100,150") from None
    if not values or any(not np.isfinite(v) or v <= 0 for v in values):
        raise HotspotInputError(f"--distances {text!r}: give positive metres separated by commas, e.g. 50,100,150")
    return values


def demo_factors(demo) -> dict[str, object]:
    """The demo town's risk-factor layers named in its truth (the planted factors and the decoy)."""
    names = list(demo.truth.get("rtm", {}).get("factors", {})) or list(demo.features)
    return {name: demo.features[name] for name in names if name in demo.features}


def split_at_month(records, test_from: str):
    """Records before ``test_from`` (``YYYY-MM``) and from it on: the training and test periods."""
    import re

    if not re.fullmatch(r"\d{4}-\d{2}", str(test_from)):
        raise HotspotInputError(f"--test-from {test_from!r}: give a month as YYYY-MM")
    month = records.frame["month"].astype(str)
    train = records.with_frame(records.frame[month < test_from])
    test = records.with_frame(records.frame[month >= test_from])
    if len(train) == 0 or len(test) == 0:
        first, last = (month.min(), month.max()) if len(month) else ("-", "-")
        raise HotspotInputError(
            f"--test-from {test_from}: the records run {first} to {last}, so one period would be empty; pick a month inside"
        )
    return train, test


@dataclass(frozen=True)
class StudyRTM:
    """An RTM built on a study: the result, the validation (if a test period was held out) and notes."""

    result: RTMResult
    validation: ValidationResult | None = None
    notes: list[str] = field(default_factory=list)
    crime_types: list[str] = field(default_factory=list)

    def summary(self, width: int = 100) -> list[str]:
        """The model table, dropped factors, priority places with their narratives, the validation and timings."""
        import textwrap

        from rich.table import Table

        from hotspot.core.result import PRINTED_ROWS, render

        result = self.result
        model = result.model
        lines = [
            *self.notes,
            f"{model.n_crimes:,} crimes in {model.n_cells:,} cells of {result.grid.cell_size:g} m; "
            f"{len(result.candidates.names)} candidate layers; lasso penalty {result.selection.alpha:.3g} "
            f"({result.selection.n_folds}-fold CV, seed {result.selection.seed})",
        ]
        bic = ", ".join(f"{k.replace('_', ' ')} {v:,.1f}" for k, v in model.bic.items())
        table = Table(title=f"Risk terrain model ({model.family.replace('_', ' ')}; BIC {bic})")
        for column in ("factor", "operationalisation", "distance m", "coef", "RRV", "95% CI", "p"):
            table.add_column(
                column, justify="left" if column in ("factor", "operationalisation") else "right", overflow="fold"
            )
        for row in model.model_table.itertuples():
            table.add_row(
                str(row.factor),
                str(row.operationalisation),
                f"{row.distance_m:g}",
                f"{row.coef:.3f}",
                f"{row.rrv:.2f}",
                f"{row.rrv_low:.2f}-{row.rrv_high:.2f}",
                f"{row.p_value:.2g}",
            )
        lines.extend(render(table, width))
        if model.model_table.empty:
            lines.append("no factor raised risk significantly; the risk surface is flat (1 everywhere)")
        lines.extend(f"dropped {row.name}: {row.reason}" for row in model.dropped.itertuples())
        places = result.priority_places
        lines.append(
            f"{len(places):,} priority place(s) ({int(places['n_cells'].sum()) if len(places) else 0:,} cells "
            f"of {result.grid.cell_size:g} m); risk is against the average cell with crime (1 = average)"
        )

        def fit(line: str) -> str:
            return line if len(line) <= width else line[: width - 1] + "…"

        for place in places.head(PRINTED_ROWS).itertuples():
            # Figures on the first line, the factors in words on the next: each fits 80 columns.
            lines.append(
                fit(
                    f"  {place.rank:>3}. {place.name}: {place.risk_vs_average:.1f} x average risk, "
                    f"{place.area_m2 / 1e4:,.2f} ha"
                )
            )
            if hasattr(place, "expected_crimes") and hasattr(place, "crimes"):
                lines.append(
                    fit(
                        f"       model expects {place.expected_crimes:,.0f} records here over the period; "
                        f"{place.crimes:,.0f} recorded"
                    )
                )
            lines.extend(
                textwrap.wrap(place.narrative, width=max(width, 40), initial_indent=" " * 7, subsequent_indent=" " * 7)
            )
        if len(places) > PRINTED_ROWS:
            lines.append(f"  ... and {len(places) - PRINTED_ROWS:,} more in the priority_places layer")
        if self.validation is not None:
            v = self.validation
            check = Table(
                title=f"Validation on the test period ({v.n_test_crimes:,} crimes; KDE {v.kde_bandwidth_m:,.0f} m)"
            )
            for column in ("method", "area", "hit rate", "PAI", "AUC"):
                check.add_column(column, justify="right")
            for row in v.table.itertuples():
                check.add_row(
                    row.method, f"{row.area_share:.0%}", f"{row.hit_rate:.1%}", f"{row.pai:.1f}", f"{row.auc:.3f}"
                )
            lines.extend(render(check, width))
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
        lines.append(f"{timing}; total {sum(result.timings.values()):.1f} s")
        return lines

    def write(self, out: str | Path, *, provenance: Provenance | None = None) -> list[Path]:
        """Write the RTM outputs (see ``RTMResult.write``) plus ``<stem>_rtm_validation.csv`` when validated."""
        from hotspot.io.outputs import write_csv

        written = self.result.write(
            out,
            extra_tables={"rtm_validation": self.validation.table} if self.validation else None,
            provenance=provenance,
        )
        if self.validation is not None:
            out = Path(out)
            written.append(
                write_csv(self.validation.table, out.with_name(f"{out.stem}_rtm_validation.csv"), provenance=provenance)
            )
        return written


def build_for_study(
    study: Study,
    *,
    factors: Mapping[str, object] | None = None,
    cell_size_m: float | None = None,
    distances_m: Sequence[float] | None = None,
    seed: int = 0,
    test_from: str | None = None,
    progress=None,
    **options,
) -> StudyRTM:
    """Build (and optionally validate) an RTM for a study.

    Parameters
    ----------
    study : hotspot.ingest.study.Study
    factors : dict of str -> GeoDataFrame, optional
        Risk-factor layers; default: on the demo town, its planted factors and the decoy.
    cell_size_m : float, optional
        Cell side in metres; default ``rtm.DEFAULT_CELL_SIZE_M`` (50 m).
    distances_m : sequence of float, optional
        Spatial-influence distances in metres; default 1..6 cells.
    seed : int, default 0
        Seeds the cross-validation folds.
    test_from : str, optional
        ``YYYY-MM``: fit on the months before, validate on this month and later (hit rate, PAI, AUC
        against a KDE of the training crimes).
    **options
        Passed to :func:`rtm.pipeline.build` (``n_folds``, ``l1_ratio``, ``alpha_level``, ``priority_sd``, ``refine``).
    """
    from rtm.pipeline import build
    from rtm.validation import validate

    check_parameters(PARAMETERS, cell_size_m=cell_size_m, test_from=test_from)
    notes: list[str] = []
    records = study.records
    if factors is None:
        if study.demo is None:
            raise HotspotInputError("no risk factors given; add --factor NAME=PATH (repeatable) or --factors-toml PATH")
        factors = demo_factors(study.demo)
    if study.demo is not None:
        outcome = study.demo.truth.get("rtm", {}).get("outcome_crime_type")
        types = records.frame["crime_type"].astype(str).unique()
        if outcome and len(types) > 1:
            records = records.with_frame(records.frame[records.frame["crime_type"] == outcome])
            notes.append(
                f"demo town: modelling {outcome} (the planted RTM outcome); give --crime-type to choose another"
            )
    crime_types = sorted(records.frame["crime_type"].astype(str).unique().tolist())
    if len(records) == 0:
        raise HotspotInputError("no crimes left to model; check --crime-type, --from and --to")
    from rtm.pipeline import DEFAULT_CELL_SIZE_M

    validation = None
    train = records
    if test_from is not None:
        train, test = split_at_month(records, test_from)
    if study.study_area() is not None:
        # The study's one grid rule (hotspot.ingest.study.Study.grid), at the RTM's finer default cell.
        grid, mask = study.grid(DEFAULT_CELL_SIZE_M if cell_size_m is None else float(cell_size_m))
        result = build(
            train, factors, grid=grid, mask=mask, distances_m=distances_m, seed=seed, progress=progress, **options
        )
    else:
        import shapely

        notes.append("no study area: the convex hull of the crimes is used")
        result = build(
            train,
            factors,
            study_area=shapely.MultiPoint(records.xy).convex_hull,
            cell_size_m=cell_size_m,
            distances_m=distances_m,
            seed=seed,
            progress=progress,
            **options,
        )
    notes.extend(result.model.notes)
    if test_from is not None:
        validation = validate(result, test, train_records=train, progress=progress)
    return StudyRTM(result=result, validation=validation, notes=notes, crime_types=crime_types)
