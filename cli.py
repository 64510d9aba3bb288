"""The ``hotspot`` command: parses options, calls the library, reports. No analysis lives here.

Heavy libraries (numba, geopandas, rasterio) are imported inside each command, so
``hotspot --help`` and ``hotspot COMMAND --help`` stay instant.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="hotspot",
    help=(
        "Crime hot spots for patrol planning: Getis-Ord Gi*, kernel density, risk terrain models "
        "and ranked places. Distances are metres in a projected CRS (British National Grid in Great Britain). "
        "With no INPUT, every command runs on the embedded demo town."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Crime hot spots for patrol planning. Run `hotspot COMMAND --help` for a command's options."""


# --- options every command shares ---------------------------------------------------------

Inputs = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Crime records: police.uk street CSVs (.csv or .csv.gz), folders of them, the downloaded zip, "
        "or point tables (CSV, GeoPackage, GeoJSON, Shapefile, Parquet). None: the embedded demo town.",
        show_default=False,
    ),
]
BoundariesOpt = Annotated[
    Path | None,
    typer.Option(
        "--boundaries",
        help="Area polygons (LSOAs, wards, a force area) as GeoPackage/GeoJSON/Shapefile; "
        "records outside them are rejected as outside the study area.",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="The GeoPackage to write; CSV tables go beside it with the same stem. "
        "Default: hotspot-out/<command>.gpkg.",
        show_default=False,
    ),
]
CrimeTypeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--crime-type",
        help="Keep only this police.uk crime type (case-insensitive); repeat for several.",
        show_default=False,
    ),
]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="First month or day kept, YYYY-MM or YYYY-MM-DD.", show_default=False)
]
ToOpt = Annotated[
    str | None,
    typer.Option("--to", help="Last month or day kept (inclusive), YYYY-MM or YYYY-MM-DD.", show_default=False),
]
HoursOpt = Annotated[
    str | None,
    typer.Option(
        "--hours",
        help="Time-of-day window HH:MM-HH:MM, may cross midnight (19:00-07:00). Needs records with times.",
        show_default=False,
    ),
]
WeekdaysOpt = Annotated[
    str | None,
    typer.Option(
        "--weekdays", help="Comma-separated weekdays kept, e.g. fri,sat. Needs records with dates.", show_default=False
    ),
]
CellSizeOpt = Annotated[
    float,
    typer.Option(
        "--cell-size",
        help="Grid cell side in metres (every command uses the same "
        "study grid: the boundaries, or the main body of the records).",
        min=1.0,
    ),
]
FactorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--factor",
        help="A risk factor as NAME=PATH (points, lines or polygons: GeoPackage, GeoJSON, Shapefile, "
        "or a CSV of points); repeat for several. Default on the demo town: its own factors.",
        show_default=False,
    ),
]
BandwidthRuleOpt = Annotated[
    str,
    typer.Option(
        "--bandwidth-rule",
        help="How the KDE radius is chosen when --bandwidth is not given: holdout (the "
        "street-level radius, 150 m to 1 km, whose density of the earlier months best predicted the latest "
        "quarter) or silverman (the county-scale rule ArcGIS uses).",
    ),
]
BandRuleOpt = Annotated[
    str,
    typer.Option(
        "--band-rule",
        help="How the Gi* band is chosen when --band is not given: holdout (as --bandwidth-rule) "
        "or moran (first peak of incremental spatial autocorrelation, about 1 km on county data).",
    ),
]
CrsOpt = Annotated[
    str | None,
    typer.Option(
        "--crs",
        help="Projected CRS (metres) to work in, e.g. EPSG:27700. Default: British National Grid "
        "in Great Britain, else the data's UTM zone.",
        show_default=False,
    ),
]
RejectsOpt = Annotated[
    Path | None,
    typer.Option("--rejects", help="Write every rejected row with its reason to this CSV.", show_default=False),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random step (permutations, cross-validation).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries; errors still print.")]
SuppressOpt = Annotated[
    int | None,
    typer.Option(
        "--suppress-below",
        help="Disclosure control: replace counts below K (1..K-1) in published tables and "
        "layers with a suppressed marker, and say so in the provenance. Default: none, or 5 with --public.",
        show_default=False,
        min=0,
    ),
]
WeightOpt = Annotated[
    str | None,
    typer.Option(
        "--weight",
        help="Weigh each crime: 'harm' (ONS Crime Severity Score, the median of each police.uk "
        "type's offence codes; anti-social behaviour weighs 0) or a CSV of crime_type (or code),weight. "
        "Default: every crime counts 1.",
        show_default=False,
    ),
]
PublicOpt = Annotated[
    bool,
    typer.Option(
        "--public", help="Output is for publication: suppress counts below 5 unless --suppress-below says otherwise."
    ),
]
NetworkOpt = Annotated[
    str | None,
    typer.Option(
        "--network",
        help="Street network to work on: road lines (GeoPackage, GeoJSON, Shapefile) or OpenStreetMap "
        ".osm.pbf; 'demo' (or no INPUT with --over segments): the demo town's streets with planted hot segments.",
        show_default=False,
        rich_help_panel="Street network",
    ),
]
SegmentLengthOpt = Annotated[
    float,
    typer.Option(
        "--segment-length",
        help="Street segment (lixel) length in metres; segments never cross a junction.",
        min=1.0,
        rich_help_panel="Street network",
    ),
]
SnapToleranceOpt = Annotated[
    float,
    typer.Option(
        "--snap-tolerance",
        help="Records farther than this many metres from every street are not snapped (they are counted and reported).",
        min=0.01,
        rich_help_panel="Street network",
    ),
]
JunctionsOpt = Annotated[
    str,
    typer.Option(
        "--junctions",
        help="Where streets connect: vertices (shared vertices, as in "
        "OpenStreetMap and OS Open Roads; bridges stay unconnected) or crossings (every crossing).",
        rich_help_panel="Street network",
    ),
]


# --- the reading and filter options, declared once ----------------------------------------------

_READING_PARAMETERS = {
    "lon_column": "Column holding longitude (degrees). Default: auto-detected (lon, long, longitude, x...).",
    "lat_column": "Column holding latitude (degrees). Default: auto-detected (lat, latitude, y...).",
    "x_column": "Column holding projected x / easting (metres). Default: auto-detected (easting, x...).",
    "y_column": "Column holding projected y / northing (metres). Default: auto-detected (northing, y...).",
    "date_column": "Column holding the date or date-time of each record. Default: auto-detected.",
    "time_column": "Column holding the time of day, when separate from the date. Default: auto-detected.",
    "type_column": "Column holding the crime type. Default: auto-detected (crime type, offence, category...).",
    "input_crs": "CRS of the input coordinates, e.g. EPSG:27700 for eastings/northings. Default: WGS84 for "
    "lon/lat, British National Grid for easting/northing.",
    "layer": "Layer to read from a GeoPackage with several layers.",
}
"""How INPUT tables are read: every command that takes INPUT gets these options (panel "Reading input tables")."""

FILTER_KEYS = (
    "boundaries",
    "crime_types",
    "date_from",
    "date_to",
    "hours",
    "weekdays",
    "crs",
    "weight",
    "suppress_below",
    "reading",
)
"""Provenance keys every command writes, from :class:`ReadOptions` (None when not used or not offered)."""


@dataclass(frozen=True)
class ReadOptions:
    """The options every analysis command shares: what to read, which records to keep, where to write.

    Parsed once by :func:`_shared_options`; commands read it, never re-list it.
    """

    inputs: tuple[Path, ...] = ()
    boundaries: Path | None = None
    crime_types: tuple[str, ...] | None = None
    date_from: str | None = None
    date_to: str | None = None
    hours: str | None = None
    weekdays: str | None = None
    crs: str | None = None
    rejects: Path | None = None
    quiet: bool = False
    reading: tuple[tuple[str, str], ...] = ()
    weight: str | None = None
    out: Path | None = None
    suppress_below: int | None = None
    public: bool = False

    def out_path(self, default: str) -> Path:
        """``--out``, or ``hotspot-out/<default>``."""
        return self.out if self.out is not None else Path("hotspot-out") / default

    @property
    def suppress_k(self) -> int | None:
        """The disclosure threshold: --suppress-below if given, else the public default with --public, else none."""
        if self.suppress_below is not None:
            return self.suppress_below
        if self.public:
            from hotspot.io.disclosure import DEFAULT_PUBLIC_K

            return DEFAULT_PUBLIC_K
        return None

    def filters(self) -> dict:
        """The :data:`FILTER_KEYS` of this run, as provenance records them."""
        return {
            "boundaries": str(self.boundaries) if self.boundaries else None,
            "crime_types": list(self.crime_types) if self.crime_types else None,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "hours": self.hours,
            "weekdays": self.weekdays,
            "crs": self.crs,
            "weight": self.weight,
            "suppress_below": self.suppress_k,
            "reading": dict(self.reading) or None,
        }


_SHARED = {
    "boundaries": (BoundariesOpt, None),
    "crime_type": (CrimeTypeOpt, None),
    "date_from": (FromOpt, None),
    "date_to": (ToOpt, None),
    "hours": (HoursOpt, None),
    "weekdays": (WeekdaysOpt, None),
    "crs": (CrsOpt, None),
    "rejects": (RejectsOpt, None),
    "quiet": (QuietOpt, False),
}


def _shared_options(*, out=(OutOpt, None), weight: bool = False, disclosure: bool = False):
    """Give a command the shared options (INPUT, filters, --out, reading options...) and hand it ``options``.

    The options are appended to the command's signature, which typer reads (``__signature__``); the
    wrapper takes them out of the call and passes one frozen :class:`ReadOptions` instead. ``out`` is
    the command's (annotation, default) for ``--out``; ``weight`` and ``disclosure`` add ``--weight`` and
    ``--suppress-below``/``--public`` to the commands that offer them.
    """
    import functools
    import inspect

    def decorate(command):
        signature = inspect.signature(command, eval_str=True)  # cli.py defers annotations; typer needs them resolved
        shared = {"inputs": (Inputs, None), **_SHARED, "out": out}
        if weight:
            shared["weight"] = (WeightOpt, None)
        if disclosure:
            shared.update(suppress_below=(SuppressOpt, None), public=(PublicOpt, False))
        reading = {
            name: (
                Annotated[
                    str | None,
                    typer.Option(
                        "--" + name.replace("_", "-"),
                        help=text,
                        show_default=False,
                        rich_help_panel="Reading input tables",
                    ),
                ],
                None,
            )
            for name, text in _READING_PARAMETERS.items()
        }
        keyword = inspect.Parameter.KEYWORD_ONLY
        own = [p for p in signature.parameters.values() if p.name != "options"]
        added = [
            inspect.Parameter(name, keyword, default=default, annotation=annotation)
            for name, (annotation, default) in {**shared, **reading}.items()
            if name != "inputs"
        ]
        inputs = inspect.Parameter("inputs", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Inputs)

        @functools.wraps(command)
        def wrapper(**kwargs):
            values = {name: kwargs.pop(name) for name in [*shared, *reading] if name in kwargs}
            options = ReadOptions(
                inputs=tuple(values.pop("inputs") or ()),
                crime_types=tuple(values.pop("crime_type") or ()) or None,
                reading=tuple((k, values.pop(k)) for k in reading if values.get(k) is not None),
                **{k: v for k, v in values.items() if k not in reading},
            )
            return command(options=options, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[inputs, *own, *added])
        return wrapper

    return decorate


# --- reporting helpers ------------------------------------------------------------------------


def _console(quiet: bool = False):
    from rich.console import Console

    return Console(stderr=True, quiet=quiet)


class _RichProgress:
    """Draws library progress callbacks ``(stage, done, total)`` as rich progress bars."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self._progress = None
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=_console(),
                transient=True,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if self._progress is None:
            return
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)


def _report(result, written, quiet: bool, **summary_options) -> None:
    """Print a result's summary (stdout: the command's answer) and every file written (stderr)."""
    from rich.console import Console

    out = Console(quiet=quiet, highlight=False)
    for line in result.summary(out.width, **summary_options):
        out.print(line, markup=False)
    console = _console(quiet)
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False)


def _write(result, out: Path, provenance, **write_options) -> list[Path]:
    """``result.write`` and the run's QGIS project (``<out stem>.qgs`` opening every map written beside ``out``)."""
    from hotspot.io.qgis_project import write_result_with_project

    return write_result_with_project(result, out, provenance=provenance, **write_options)


def _load_study(options: ReadOptions, progress=None, demo_scenario: str = "town"):
    """Read records (or the demo), apply filters and ``--weight``, report rejects and notes; returns the Study."""
    from dataclasses import replace

    from boundaries.demo import demo_scenario as demo_scenario_named
    from hotspot.ingest.study import load_study

    study = load_study(
        [str(p) for p in options.inputs],
        boundaries=options.boundaries,
        crime_types=options.crime_types,
        date_from=options.date_from,
        date_to=options.date_to,
        hours=options.hours,
        weekdays=options.weekdays,
        crs=options.crs,
        progress=progress,
        reading=dict(options.reading),
        demo=None if options.inputs else demo_scenario_named(demo_scenario),
    )
    console = _console(options.quiet)
    _report_rejects(study.records, console)
    boundary_notes = list(getattr(study.boundaries, "attrs", {}).get("notes", [])) if options.boundaries else []
    for note in study.records.notes + boundary_notes + study.notes:
        console.print(f"[dim]{note}[/dim]")
    if options.rejects is not None:
        from hotspot.io.outputs import write_rejects

        console.print(f"rejected rows written to {write_rejects(study.records, options.rejects)}")
    if options.weight is not None:
        from hotspot.stats.harm import apply_weights

        records, notes = apply_weights(study.records, options.weight)
        for note in notes:
            console.print(f"[dim]{note}[/dim]")
        study = replace(study, records=records, notes=list(study.notes) + notes)
    return study


def _report_rejects(records, console) -> None:
    from hotspot.core.records import REJECT_REASONS

    counts = {k: v for k, v in records.reject_counts.items() if v}
    source = "the demo town" if records.sources == ["demo"] else f"{len(records.sources)} file(s)"
    console.print(
        f"[bold]{len(records):,}[/bold] records kept from {source}; "
        f"{sum(counts.values()):,} rejected" + (":" if counts else ".")
    )
    for reason, n in counts.items():
        console.print(f"  {n:>9,}  {REJECT_REASONS.get(reason, reason)}")


def _preflight(options: ReadOptions, *outputs, checks=(), hours_option: str = "--hours", **values) -> None:
    """Check the parameters (``checks``: an analysis's declared table), filters, paths and outputs before
    any data is read; print what was cleaned up. ``outputs`` are ``(path, option)`` pairs."""
    from hotspot.ingest import validate

    validate.check_parameters(checks, **values)
    validate.check_filters(
        date_from=options.date_from,
        date_to=options.date_to,
        hours=options.hours,
        weekdays=options.weekdays,
        crs=options.crs,
        hours_option=hours_option,
    )
    validate.check_paths_exist(options.inputs, options.boundaries)
    for note in validate.check_outputs([*outputs, (options.rejects, "--rejects")]):
        _console(options.quiet).print(f"[dim]{note}[/dim]")


def _provenance(command: str, options: ReadOptions, study=None, *, inputs=None, **parameters):
    """Provenance for a command's outputs, built once from the shared options and the command's ``parameters``:
    version, command line, parameters with every :data:`FILTER_KEYS`, input files with sizes and SHA-256,
    records kept and rejected, UTC time."""
    from hotspot.io.provenance import Provenance

    parameters = {**parameters, **options.filters()}
    if study is not None and hasattr(study, "describe_area"):
        parameters.update(study_area=study.describe_area(), study_area_km2=round(study.area_km2, 3))
    inputs = inputs or options.inputs
    return Provenance.capture(
        command, parameters, [str(p) for p in inputs] if inputs else ["demo"], getattr(study, "records", None)
    )


def _factor_specs(factor):
    """Parse --factor NAME=PATH options (checked before any data is read)."""
    if not factor:
        return []
    from rtm.factors import collect_factor_specs

    return collect_factor_specs(factor, None)


def _add_factors(study, specs) -> None:
    """Read the --factor layers into the study's risk features (they replace the demo's)."""
    if specs:
        from rtm.factors import read_factors

        study.features = read_factors(specs, study.crs)


# --- commands -----------------------------------------------------------------------------------
# Each command: parse options, call one library function, write and report. Keep analysis in hotspot/, rtm/, boundaries/.


@app.command()
@_shared_options(weight=True, disclosure=True)
def rank(
    options: ReadOptions,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="How cells are scored: count (records per cell), gistar (Gi* z, "
            "significant hot cells only), kde (quartic density), rtm (risk terrain score), combined "
            "(recency-weighted counts blended with a small-bandwidth density and the RTM score; see hotspot.forecast.combined).",
        ),
    ] = "count",
    over: Annotated[
        str,
        typer.Option(
            "--over",
            help="What to rank: grid (cells merged into places), areas (the --boundaries polygons) "
            "streets (police.uk 'On or near' locations) or segments (street stretches of --network).",
        ),
    ] = "grid",
    merge: Annotated[
        bool,
        typer.Option(
            "--merge/--no-merge",
            help="Merge top cells into named places (a best cell plus "
            "top cells within one cell of it: at most 3 x 3 cells).",
        ),
    ] = True,
    bandwidth: Annotated[
        float | None,
        typer.Option(
            "--bandwidth",
            help="KDE search radius in metres for --method kde (default: chosen by --bandwidth-rule and reported).",
            show_default=False,
        ),
    ] = None,
    band: Annotated[
        float | None,
        typer.Option(
            "--band",
            help="Gi* distance band in metres for --method gistar (default: chosen by --band-rule and reported).",
            show_default=False,
        ),
    ] = None,
    bandwidth_rule: BandwidthRuleOpt = "holdout",
    band_rule: BandRuleOpt = "holdout",
    factor: FactorOpt = None,
    top: Annotated[int | None, typer.Option("--top", help="How many places to list.", show_default="20")] = None,
    area_share: Annotated[
        float | None,
        typer.Option(
            "--area-share",
            help="Instead of --top: the best places covering this share of the study area (0.01 = 1 %).",
            show_default=False,
        ),
    ] = None,
    nte: Annotated[
        bool, typer.Option("--nte", help="Night-time economy: keep records between 19:00 and 07:00.")
    ] = False,
    cell_size: CellSizeOpt = 100.0,
    seed: SeedOpt = 0,
    report_path: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write a self-contained HTML report "
            "(map, ranked list, weekday x hour table, monthly trend) to this path.",
            show_default=False,
        ),
    ] = None,
    network: NetworkOpt = None,
    segment_length: SegmentLengthOpt = 50.0,
    snap_tolerance: SnapToleranceOpt = 30.0,
    junctions: JunctionsOpt = "vertices",
):
    """Rank places for patrol planning and write them as a GeoPackage layer `ranked` plus a CSV.

    With --over segments: street stretches (lines) from --network, with rank, name, count, length_m and per_km."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.places.rank import PARAMETERS

    if nte:
        if options.hours is not None:
            raise HotspotInputError(f"--nte sets --hours {NTE_HOURS}; give one of them")
        options = replace(options, hours=NTE_HOURS)
    parameters = dict(
        method=method,
        over=over,
        cell_size_m=cell_size,
        top=top,
        area_share=area_share,
        bandwidth_m=bandwidth,
        band_m=band,
        bandwidth_rule=bandwidth_rule,
        band_rule=band_rule,
    )
    if top is not None and area_share is not None:
        raise HotspotInputError("give either --top or --area-share, not both")
    _preflight(
        options,
        (options.out_path("rank.gpkg"), "--out"),
        (report_path, "--report"),
        checks=PARAMETERS,
        hours_option="--nte" if nte else "--hours",
        **parameters,
    )
    if over != "segments" and network is not None:
        raise HotspotInputError("--network is used with --over segments; add --over segments")
    specs = _factor_specs(factor)
    with _RichProgress(options.quiet) as progress:
        if over == "segments":
            ns = _network_study(options, network, segment_length, snap_tolerance, junctions, progress)
            from hotspot.places.segments import rank_segments

            study = ns.study
            result = rank_segments(
                study,
                ns.network,
                ns.snapped,
                method=method,
                top=top,
                length_share=area_share,
                bandwidth_m=bandwidth,
                progress=progress,
            )
            parameters.update(
                network=network or "demo", **_network_parameters(segment_length, snap_tolerance, junctions, ns)
            )
        else:
            study = _load_nte_study(options, nte, progress)
            _add_factors(study, specs)
            from hotspot.places.rank import rank_places

            result = rank_places(study, merge=merge, seed=seed, progress=progress, **parameters)
    provenance = _provenance(
        "rank", options, study, nte=nte, merge=merge, seed=seed, factors=[str(x) for x in specs] or None, **parameters
    )
    written = _write(result, options.out_path("rank.gpkg"), provenance, suppress_below=options.suppress_k)
    if report_path is not None:
        from hotspot.report.html import build_report, report_title

        written.append(
            build_report(
                report_path,
                title=result.title if over == "segments" else report_title(study),
                ranked=result,
                boundaries=None if over == "segments" else study.boundaries,
                weekday_hour=result.weekday_hour(),
                monthly=result.monthly.sum(axis=1) if len(result.monthly) else None,
                notes=study.notes + result.notes,
                provenance=provenance,
                suppress_below=options.suppress_k,
            )
        )
    _report(result, written, options.quiet, rest_in=written[1])


NTE_HOURS = "19:00-07:00"
"""The time-of-day window ``rank --nte`` (night-time economy) keeps."""


def _load_nte_study(options: ReadOptions, nte: bool, progress):
    from hotspot.core.errors import HotspotInputError

    try:
        return _load_study(options, progress)
    except HotspotInputError as exc:
        if not nte:
            raise
        # the filter speaks of the window --nte set; name the option the user typed
        raise HotspotInputError(str(exc).replace(f"--hours {NTE_HOURS}", f"--nte ({NTE_HOURS})")) from None


# --- street networks (hotspot.network) ------------------------------------------------------------


def _network_study(options: ReadOptions, network, segment_length, snap_tolerance, junctions, progress):
    """Records on a street network: the demo scenario (no INPUT, --network demo or none) or INPUT snapped to --network."""
    from boundaries.demo.network import demo_network_study
    from hotspot.core.errors import HotspotInputError
    from hotspot.network.study import network_study

    console = _console(options.quiet)
    if not options.inputs and network in (None, "demo"):
        filters = (
            options.boundaries,
            options.crime_types,
            options.date_from,
            options.date_to,
            options.hours,
            options.weekdays,
            options.crs,
        )
        if any(v is not None for v in filters):
            raise HotspotInputError("the street-network demo takes no filters; give INPUT records and --network ROADS")
        result = demo_network_study()
        console.print(f"[bold]{len(result.study.records):,}[/bold] records of the street-network demo")
    else:
        if network in (None, "demo"):
            raise HotspotInputError(
                "--network ROADS is needed with INPUT records: a GeoPackage, GeoJSON, Shapefile or "
                ".osm.pbf of their streets"
            )
        study = _load_study(options, progress)
        result = network_study(
            study,
            Path(network),
            segment_length_m=segment_length,
            junctions=junctions,
            snap_tolerance_m=snap_tolerance,
            progress=progress,
        )
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    console.print(result.snapped.describe())
    return result


def _network_parameters(segment_length, snap_tolerance, junctions, ns) -> dict:
    """The street-network parameters every --network run records in its provenance."""
    return dict(
        segment_length_m=segment_length,
        snap_tolerance_m=snap_tolerance,
        junctions=junctions,
        records_not_snapped=ns.snapped.n_not_snapped,
    )


@app.command()
@_shared_options(
    out=(
        Annotated[
            Path | None,
            typer.Option("--out", help="The GeoTIFF to write. Default: hotspot-out/kde.tif.", show_default=False),
        ],
        None,
    ),
    weight=True,
)
def kde(
    options: ReadOptions,
    kernel: Annotated[
        str,
        typer.Option(
            "--kernel",
            help="quartic|epanechnikov|triangular|uniform|gaussian (gaussian: sd = bandwidth/3, cut at the bandwidth).",
        ),
    ] = "quartic",
    bandwidth: Annotated[
        float | None,
        typer.Option(
            "--bandwidth",
            help="Search radius in metres (the kernel reaches zero there). Default: chosen by --bandwidth-rule; the value and rule are printed.",
            show_default=False,
        ),
    ] = None,
    units: Annotated[
        str,
        typer.Option(
            "--units",
            help="per-km2 (crimes per square km), per-cell (expected crimes per cell) or relative (1 = study-area average).",
        ),
    ] = "per-km2",
    hotspot_share: Annotated[
        float | None,
        typer.Option(
            "--hotspot-share",
            help="Also write the top share of cells (0.05 = 5 % of the area) as ranked hotspot polygons, a GeoPackage beside the GeoTIFF.",
            show_default=False,
        ),
    ] = None,
    edge_correction: Annotated[
        bool,
        typer.Option(
            "--edge-correction",
            help="Divide each crime's weight by the share of its kernel inside the study area, so edges are not under-counted.",
        ),
    ] = False,
    binned: Annotated[
        bool,
        typer.Option("--binned", help="Approximate by linear binning and FFT convolution instead of the exact sum."),
    ] = False,
    bandwidth_rule: BandwidthRuleOpt = "holdout",
    cell_size: CellSizeOpt = 100.0,
    network: NetworkOpt = None,
    estimator: Annotated[
        str,
        typer.Option(
            "--estimator",
            help="With --network: simple (shortest paths; mass not conserved "
            "at junctions), discontinuous (equal split at junctions) or continuous (Okabe & Sugihara; "
            "mass conserved exactly, slowest).",
            rich_help_panel="Street network",
        ),
    ] = "discontinuous",
    segment_length: SegmentLengthOpt = 50.0,
    snap_tolerance: SnapToleranceOpt = 30.0,
    junctions: JunctionsOpt = "vertices",
):
    """Kernel density surface of crimes as a cloud-optimised GeoTIFF (and hotspot polygons with --hotspot-share).

    With --network: network kernel density along the streets (bandwidth in network metres, default 200), written
    as the line layer `network_kde` (density_per_km per segment) of a GeoPackage (default hotspot-out/kde_network.gpkg)."""
    from hotspot.core.errors import HotspotInputError

    if network is not None:
        return _kde_network(options, network, segment_length, snap_tolerance, junctions, estimator, kernel, bandwidth)
    out_path = options.out_path("kde.tif")
    if out_path.suffix.lower() not in (".tif", ".tiff"):
        raise HotspotInputError(f"--out {out_path}: the kde surface is a GeoTIFF; give a path ending in .tif")
    from hotspot.stats.density import PARAMETERS
    from hotspot.stats.kde import check_options

    check_options(kernel=kernel, units=units, bandwidth_m=bandwidth)
    parameters = dict(
        kernel=kernel,
        units=units,
        cell_size_m=cell_size,
        bandwidth_m=bandwidth,
        bandwidth_rule=bandwidth_rule,
        edge_correction=edge_correction,
        binned=binned,
    )
    _preflight(options, (out_path, "--out"), checks=PARAMETERS, hotspot_share=hotspot_share, **parameters)
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress)
        from hotspot.places.surface import density_map_for_study

        result = density_map_for_study(study, area_share=hotspot_share, progress=progress, **parameters)
    parameters.update(bandwidth_m=result.density.bandwidth_m, bandwidth_rule=result.density.bandwidth_rule)
    provenance = _provenance("kde", options, study, hotspot_share=hotspot_share, **parameters)
    _report(result, _write(result, out_path, provenance), options.quiet)


def _kde_network(
    options: ReadOptions, network, segment_length, snap_tolerance, junctions, estimator, kernel, bandwidth
):
    from hotspot.core.errors import HotspotInputError
    from hotspot.network.nkde import DEFAULT_BANDWIDTH_M, check_options

    check_options(kernel=kernel, estimator=estimator, bandwidth_m=bandwidth)
    out_path = options.out_path("kde_network.gpkg")
    if out_path.suffix.lower() != ".gpkg":
        raise HotspotInputError(f"--out {out_path}: network density is a line layer; give a path ending in .gpkg")
    bandwidth = bandwidth or DEFAULT_BANDWIDTH_M
    with _RichProgress(options.quiet) as progress:
        ns = _network_study(options, network, segment_length, snap_tolerance, junctions, progress)
        from hotspot.network.nkde import network_density_map

        result = network_density_map(
            ns.network, ns.snapped, bandwidth_m=bandwidth, kernel=kernel, estimator=estimator, progress=progress
        )
    provenance = _provenance(
        "kde",
        options,
        ns.study,
        network=network or "demo",
        estimator=estimator,
        kernel=kernel,
        bandwidth_m=bandwidth,
        mass=result.density.mass,
        **_network_parameters(segment_length, snap_tolerance, junctions, ns),
    )
    _report(result, _write(result, out_path, provenance), options.quiet)


@app.command()
@_shared_options(weight=True)
def gistar(
    options: ReadOptions,
    band: Annotated[
        float | None,
        typer.Option(
            "--band",
            help="Distance band in metres between cell centres (or area centroids). Default: chosen by --band-rule; the rule is printed.",
            show_default=False,
        ),
    ] = None,
    band_rule: BandRuleOpt = "holdout",
    weights: Annotated[
        str,
        typer.Option(
            "--weights",
            help="band (grid cells, distance band) | queen | rook | knn | centroid-band (areas from --boundaries).",
        ),
    ] = "band",
    k: Annotated[int, typer.Option("--k", help="Neighbours per area for --weights knn.")] = 8,
    area_counts: Annotated[
        Path | None,
        typer.Option(
            "--area-counts",
            help="Instead of points: a CSV of area_code,count joined to --boundaries.",
            show_default=False,
        ),
    ] = None,
    permutations: Annotated[
        int,
        typer.Option(
            "--permutations",
            help="Conditional permutations for the pseudo p (0: analytic p only). Integer counts with binary weights use the exact null instead.",
            min=0,
        ),
    ] = 999,
    correction: Annotated[
        str,
        typer.Option(
            "--correction", help="fdr (Benjamini-Hochberg) | bonferroni | none, applied before the -3..3 bins."
        ),
    ] = "fdr",
    all_cells: Annotated[
        bool,
        typer.Option(
            "--all-cells",
            help=(
                "Grid cells: write every study-area cell to the GeoPackage and CSV, not only the cells holding "
                "records or binned hot/cold (the rasters always hold every cell)."
            ),
        ),
    ] = False,
    cell_size: CellSizeOpt = 100.0,
    seed: SeedOpt = 0,
    network: NetworkOpt = None,
    segment_length: SegmentLengthOpt = 50.0,
    snap_tolerance: SnapToleranceOpt = 30.0,
    junctions: JunctionsOpt = "vertices",
):
    """Getis-Ord Gi* hot and cold spots: GeoPackage layer `gistar` (count, gi_z, gi_p, gi_p_sim, gi_bin) plus a CSV.

    On a grid (--weights band) the layer and CSV hold the cells with records or a hot/cold bin (all with
    --all-cells), and the whole surface is written as rasters <out>_z.tif, <out>_p.tif and <out>_bin.tif
    (cloud-optimised GeoTIFFs with QGIS styles).

    With --network: Gi* per street segment, neighbours within --band network metres (default 200)."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.stats.gistar import PARAMETERS

    parameters = dict(
        band_m=band, band_rule=band_rule, weights=weights, k=k, correction=correction, cell_size_m=cell_size
    )
    _preflight(options, (options.out_path("gistar.gpkg"), "--out"), checks=PARAMETERS, **parameters)
    if network is not None:
        if area_counts is not None or weights != "band":
            raise HotspotInputError(
                "--network gives Gi* per street segment with network-distance neighbours; "
                "drop --area-counts and --weights"
            )
        return _gistar_network(
            options, network, segment_length, snap_tolerance, junctions, band, permutations, seed, correction
        )
    if area_counts is not None:
        return _gistar_area_counts(options, area_counts, weights, k, band, permutations, seed, correction)
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress)
        from hotspot.places.clusters import gistar_for_study

        result = gistar_for_study(
            study, permutations=permutations, seed=seed, all_cells=all_cells, progress=progress, **parameters
        )
        statistic = result.statistic
        parameters.update(band_m=statistic.band_m, band_rule=statistic.band_rule)
        provenance = _provenance(
            "gistar",
            options,
            study,
            permutations=permutations,
            seed=seed,
            bins=statistic.p_used,
            p_used=statistic.p_used,
            **parameters,
        )
        written = _write(result, options.out_path("gistar.gpkg"), provenance, progress=progress)
    _report(result, written, options.quiet)


def _gistar_area_counts(options: ReadOptions, area_counts, weights, k, band, permutations, seed, correction):
    """Gi* of counts given per area (``--area-counts``) over the --boundaries polygons: no records are read."""
    from hotspot.core.errors import HotspotInputError

    if not Path(area_counts).is_file():
        raise HotspotInputError(f"--area-counts {area_counts}: no such file; check the path")
    if options.weight is not None:
        raise HotspotInputError("--weight weighs crime records; --area-counts gives counts per area already: drop one")
    if options.boundaries is None:
        raise HotspotInputError("--area-counts needs --boundaries PATH holding those area codes")
    if weights == "band":
        raise HotspotInputError("--area-counts works on areas: use --weights queen, rook, knn or centroid-band")
    with _RichProgress(options.quiet) as progress:
        from hotspot.ingest.boundaries import read_boundaries
        from hotspot.stats.gistar import GiStarMap, area_values_from_table, gi_star_area_counts

        areas = (
            read_boundaries(options.boundaries, crs=options.crs) if options.crs else read_boundaries(options.boundaries)
        )
        frame, statistic = gi_star_area_counts(
            area_values_from_table(area_counts, areas),
            areas,
            weights=weights,
            k=k,
            band_m=band,
            permutations=permutations,
            seed=seed,
            correction=correction,
            progress=progress,
        )
        result = GiStarMap(frame=frame, statistic=statistic, unit="areas")
        provenance = _provenance(
            "gistar",
            options,
            inputs=[area_counts],
            band_m=statistic.band_m,
            band_rule=statistic.band_rule,
            weights=weights,
            k=k,
            permutations=permutations,
            seed=seed,
            bins=statistic.p_used,
            correction=correction,
            p_used=statistic.p_used,
        )
        written = _write(result, options.out_path("gistar.gpkg"), provenance, progress=progress)
    _report(result, written, options.quiet)


def _gistar_network(
    options: ReadOptions, network, segment_length, snap_tolerance, junctions, band, permutations, seed, correction
):
    from hotspot.network.gistar import DEFAULT_BAND_M

    band = band or DEFAULT_BAND_M
    with _RichProgress(options.quiet) as progress:
        ns = _network_study(options, network, segment_length, snap_tolerance, junctions, progress)
        from hotspot.network.gistar import gistar_map
        from hotspot.network.snap import lixel_counts

        result = gistar_map(
            ns.network,
            lixel_counts(ns.network, ns.snapped),
            band_m=band,
            permutations=permutations,
            seed=seed,
            correction=correction,
            progress=progress,
        )
        provenance = _provenance(
            "gistar",
            options,
            ns.study,
            network=network or "demo",
            band_m=band,
            weights="network band",
            permutations=permutations,
            seed=seed,
            correction=correction,
            p_used=result.statistic.p_used,
            **_network_parameters(segment_length, snap_tolerance, junctions, ns),
        )
        written = _write(result, options.out_path("gistar.gpkg"), provenance)
    _report(result, written, options.quiet)


@app.command()
@_shared_options()
def trends(
    options: ReadOptions,
    slice_: Annotated[
        str,
        typer.Option(
            "--slice",
            help="Time slice: month (police.uk's resolution), week (Monday to Sunday) or day; weeks and days need dated records.",
        ),
    ] = "month",
    over: Annotated[
        str,
        typer.Option(
            "--over", help="grid (cells over the study area) or areas (the --boundaries polygons, queen contiguity)."
        ),
    ] = "grid",
    band: Annotated[
        float | None,
        typer.Option(
            "--band",
            help=(
                "Spatial distance band in metres between cell centres. Default: chosen on all records together (peak "
                "of incremental spatial autocorrelation); the rule is printed."
            ),
            show_default=False,
        ),
    ] = None,
    time_window: Annotated[
        int,
        typer.Option(
            "--time-window",
            help="Earlier slices in each bin's neighbourhood (ArcGIS's neighbourhood time step).",
            min=0,
        ),
    ] = 1,
    alpha: Annotated[
        float,
        typer.Option(
            "--alpha", help="Significance of a hot/cold bin (after --correction) and of a Mann-Kendall trend."
        ),
    ] = 0.05,
    correction: Annotated[
        str,
        typer.Option("--correction", help="fdr (Benjamini-Hochberg) | bonferroni | none, over every bin of the cube."),
    ] = "fdr",
    bins: Annotated[
        bool,
        typer.Option(
            "--bins", help="Also write every bin (location x slice: count, Gi* z, corrected p, bin) as <stem>_bins.csv."
        ),
    ] = False,
    report_path: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write an HTML report with the category map and small multiples of the slices.",
            show_default=False,
        ),
    ] = None,
    cell_size: CellSizeOpt = 100.0,
):
    """Emerging hot spots (ArcGIS categories: new, consecutive, intensifying, persistent, diminishing, sporadic,
    oscillating, historical): GeoPackage layer `trends` (column `category`) plus a CSV. No INPUT: the demo town's
    space-time scenario."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.spacetime.trends import PARAMETERS, check_options

    check_options(slice=slice_, over=over, alpha=alpha, time_window=time_window)
    if report_path is not None and report_path.suffix.lower() not in (".html", ".htm"):
        raise HotspotInputError(f"--report {report_path}: the report is HTML; give a path ending in .html")
    parameters = dict(
        slice=slice_,
        over=over,
        cell_size_m=cell_size,
        band_m=band,
        time_window=time_window,
        alpha=alpha,
        correction=correction,
    )
    _preflight(
        options, (options.out_path("trends.gpkg"), "--out"), (report_path, "--report"), checks=PARAMETERS, **parameters
    )
    if not options.inputs and not options.crime_types:
        from boundaries.demo.spacetime import TREND_TYPE

        options = replace(options, crime_types=(TREND_TYPE,))  # the demo scenario's planted trends
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress, demo_scenario="spacetime")
        from hotspot.spacetime.trends import trends_for_study

        result = trends_for_study(study, progress=progress, **parameters)
        provenance = _provenance("trends", options, study, **{**parameters, "band_m": result.gi.band_m})
        written = _write(result, options.out_path("trends.gpkg"), provenance, bins=bins)
        if report_path is not None:
            from hotspot.report.html import build_report, report_title

            written.append(
                build_report(
                    report_path,
                    title=f"Emerging hot spots: {report_title(study)}",
                    trends=result,
                    boundaries=study.boundaries,
                    notes=study.notes + result.notes,
                    provenance=provenance,
                )
            )
    _report(result, written, options.quiet)


@app.command()
@_shared_options(
    out=(
        Annotated[
            Path | None,
            typer.Option(
                "--out",
                help="The CSV of the Knox table (one row per distance band x time band). Default: hotspot-out/nearrepeat.csv.",
                show_default=False,
            ),
        ],
        None,
    )
)
def nearrepeat(
    options: ReadOptions,
    distance_band: Annotated[
        float, typer.Option("--distance-band", help="Width of each distance band in metres.")
    ] = 100.0,
    distance_bands: Annotated[
        int,
        typer.Option(
            "--distance-bands",
            help="Number of distance bands (a 'same location' band comes first and a 'beyond' band last).",
            min=1,
        ),
    ] = 5,
    same_location: Annotated[
        bool,
        typer.Option(
            "--same-location/--no-same-location",
            help="Give pairs at exactly the same point (0 m) their own first band.",
        ),
    ] = True,
    time_band: Annotated[
        int | None,
        typer.Option(
            "--time-band",
            help="Width of each time band in whole days (dated records; default 7) or months (police.uk; default 1).",
            show_default=False,
        ),
    ] = None,
    time_bands: Annotated[
        int | None,
        typer.Option(
            "--time-bands",
            help="Number of time bands before 'beyond' (default 4 for days, 3 for months).",
            show_default=False,
        ),
    ] = None,
    time_unit: Annotated[
        str | None,
        typer.Option(
            "--time-unit",
            help="days or months. Default: days when every record has a date, else months (police.uk).",
            show_default=False,
        ),
    ] = None,
    permutations: Annotated[
        int,
        typer.Option("--permutations", help="Monte Carlo permutations of the records' times (at least 19).", min=19),
    ] = 999,
    seed: SeedOpt = 0,
):
    """Near-repeats: the Knox test (observed vs Monte Carlo expected pairs by distance and time band, Knox ratios and
    p-values, as the Near Repeat Calculator reports them). No INPUT: the demo town's space-time scenario (burglary)."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.spacetime.knox import check_options

    out_path = options.out_path("nearrepeat.csv")
    if out_path.suffix.lower() != ".csv":
        raise HotspotInputError(f"--out {out_path}: the Knox table is a CSV; give a path ending in .csv")
    parameters = dict(
        distance_band_m=distance_band,
        distance_bands=distance_bands,
        time_band=time_band,
        time_bands=time_bands,
        time_unit=time_unit,
        permutations=permutations,
    )
    check_options(**parameters)
    _preflight(options, (out_path, "--out"))
    if not options.inputs and not options.crime_types:
        from boundaries.demo.spacetime import NEAR_REPEAT_TYPE

        options = replace(options, crime_types=(NEAR_REPEAT_TYPE,))  # the demo scenario's near-repeat chains
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress, demo_scenario="spacetime")
        from hotspot.spacetime.knox import knox_for_study

        result = knox_for_study(study, same_location=same_location, seed=seed, progress=progress, **parameters)
        provenance = _provenance(
            "nearrepeat",
            options,
            study,
            same_location=same_location,
            seed=seed,
            **{**parameters, "time_unit": result.time_unit},
        )
        written = _write(result, out_path, provenance)
    _report(result, written, options.quiet)


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write the demo town's files into (created if needed).")
    ] = Path("hotspot-demo"),
    quiet: QuietOpt = False,
):
    """Write the demo town (crimes as police.uk CSVs and with times, boundaries, risk features, truth) as ordinary files."""
    from boundaries.demo.town import write_demo
    from hotspot.ingest import validate

    for note in validate.check_outputs([(out / "README.txt", "--out")]):
        _console(quiet).print(f"[dim]{note}[/dim]")
    written = write_demo(out)
    console = _console(quiet)
    for path in written:
        console.print(f"wrote {path}")
    console.print(f"{len(written)} files in {out}; see {out / 'README.txt'}")


@app.command()
@_shared_options()
def areas(
    options: ReadOptions,
    population: Annotated[
        Path | None,
        typer.Option(
            "--population",
            help=(
                "CSV of residents per area: an area-code column and a total and/or age bands (age_0_15 ... "
                "age_65_plus). Gives rates per 1,000 with exact Poisson 95 % intervals. Demo: its own table."
            ),
            show_default=False,
        ),
    ] = None,
    imd: Annotated[
        Path | None,
        typer.Option(
            "--imd",
            help="CSV of deprivation per area with a decile column (e.g. IMD25_DECILE; 1 = most deprived): adds rates by decile.",
            show_default=False,
        ),
    ] = None,
    lookup: Annotated[
        Path | None,
        typer.Option(
            "--lookup",
            help="CSV mapping area codes to wards (ward_code/ward_name or WDyyCD/WDyyNM): lists the wards holding the top-quintile areas.",
            show_default=False,
        ),
    ] = None,
    join: Annotated[
        str,
        typer.Option(
            "--join",
            help="code (the records' LSOA code) | spatial (point in polygon, 20 m tolerance) | auto (code when most codes match).",
        ),
    ] = "auto",
    per_year: Annotated[
        bool, typer.Option("--per-year", help="Rates per 1,000 residents per year instead of over the whole period.")
    ] = False,
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="area (the --boundaries areas) | ward (LSOAs aggregated to wards with --lookup; the demo has its own).",
        ),
    ] = "area",
):
    """Area table (counts, rank, share, quintile 1 = busiest, rates with exact CIs, IMD deciles, Gini): layer `areas` plus CSVs."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.stats.areas import PARAMETERS

    for path, option in ((population, "--population"), (imd, "--imd"), (lookup, "--lookup")):
        if path is not None and not Path(path).is_file():
            raise HotspotInputError(f"{option} {path}: no such file; check the path")
    _preflight(options, (options.out_path("areas.gpkg"), "--out"), checks=PARAMETERS, join=join, level=level)
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress)
        if study.boundaries is None:
            raise HotspotInputError("areas needs area polygons: give --boundaries PATH (LSOAs or wards)")
        if study.is_demo and options.boundaries is None:
            from boundaries.demo.town import demo_area_tables

            population, lookup = demo_area_tables(study, population, lookup)
        from hotspot.stats.areas import area_statistics

        result = area_statistics(
            study.records,
            study.boundaries,
            population=population,
            imd=imd,
            lookup=lookup,
            join=join,
            per_year=per_year,
            level=level,
        )
        provenance = _provenance(
            "areas",
            options,
            study,
            level=level,
            join=join,
            per_year=per_year,
            population=str(population) if isinstance(population, (str, Path)) else None,
            imd=str(imd) if imd else None,
            lookup=str(lookup) if isinstance(lookup, (str, Path)) else None,
        )
        written = _write(result, options.out_path("areas.gpkg"), provenance)
    _report(result, written, options.quiet)


@app.command()
@_shared_options(
    out=(
        Annotated[
            Path | None,
            typer.Option(
                "--out",
                help=(
                    "CSV of per-fold results; the mean over folds goes beside it as <stem>_summary.csv, the paired "
                    "comparisons as <stem>_comparisons.csv. Default: hotspot-out/evaluate.csv."
                ),
                show_default=False,
            ),
        ],
        None,
    ),
    weight=True,
)
def evaluate(
    options: ReadOptions,
    area_share: Annotated[
        float,
        typer.Option(
            "--area-share",
            help="Main area budget, as a share of the study area (0.01 = 1 %): combined is tuned for it and the comparisons use it.",
        ),
    ] = 0.01,
    budgets: Annotated[
        str,
        typer.Option(
            "--budgets", help="Also report PAI and PEI* at these budgets, comma-separated shares of the study area."
        ),
    ] = "0.005,0.01,0.02,0.05",
    train_months: Annotated[
        int | None,
        typer.Option(
            "--train-months",
            help="Months of training before each test window. Default: all earlier months.",
            show_default=False,
        ),
    ] = None,
    test_months: Annotated[
        int, typer.Option("--test-months", help="Months in each test window; folds step forward by this much.")
    ] = 1,
    folds: Annotated[
        int | None,
        typer.Option("--folds", help="Keep only the last N folds. Default: every fold.", show_default=False),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            help=(
                "Only this method (previous_period, prior_3m, prior_12m, counts_all, decayed_3m, "
                "D_decay6m_neighbours, P_since_map_change, kde_400m, kde_cv, prospective, combined; self_exciting "
                "with dated records; with --rtm also rtm, combined_rtm); repeat for several."
            ),
            show_default=False,
        ),
    ] = None,
    with_rtm: Annotated[
        bool,
        typer.Option(
            "--rtm",
            help=(
                "Also backtest a risk terrain model fitted on each fold's training records, alone and as a layer of "
                "combined (needs risk features; the demo has them). Slow."
            ),
        ),
    ] = False,
    cell_size: CellSizeOpt = 100.0,
    seed: SeedOpt = 0,
):
    """Rolling-origin backtest: hit rate, PAI, PEI*, RRI and compactness per method with intervals, as CSV."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.forecast.backtest import PARAMETERS, parse_budgets

    out_path = options.out_path("evaluate.csv")
    if out_path.suffix.lower() != ".csv":
        raise HotspotInputError(f"--out {out_path}: evaluate writes CSV; give a path ending in .csv")
    parameters = dict(
        cell_size_m=cell_size, area_share=area_share, train_months=train_months, test_months=test_months, folds=folds
    )
    _preflight(options, (out_path, "--out"), checks=PARAMETERS, **parameters)
    shares = parse_budgets(budgets)
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress)
        from hotspot.forecast.backtest import backtest_for_study

        result = backtest_for_study(
            study, area_shares=shares, methods=method, with_rtm=with_rtm, seed=seed, progress=progress, **parameters
        )
        provenance = _provenance(
            "evaluate",
            options,
            study,
            budgets=shares,
            methods=list(result.means["method"]),
            rtm=with_rtm,
            seed=seed,
            **parameters,
        )
        written = _write(result, out_path, provenance)
    _report(result, written, options.quiet)


@app.command("rtm")
@_shared_options()
def rtm_command(
    options: ReadOptions,
    factor: Annotated[
        list[str] | None,
        typer.Option(
            "--factor",
            help=(
                "A risk factor as NAME=PATH (points, lines or polygons: GeoPackage, GeoJSON, Shapefile, or a CSV of "
                "points); repeat for several. None and no INPUT: the demo town's factors."
            ),
            show_default=False,
        ),
    ] = None,
    factors_toml: Annotated[
        Path | None,
        typer.Option(
            "--factors-toml",
            help='A TOML file with a \\[factors] table of name = "path" entries (paths relative to the file).',
            show_default=False,
        ),
    ] = None,
    distances: Annotated[
        str | None,
        typer.Option(
            "--distances",
            help="Spatial-influence distances in metres, comma-separated (each at least one cell). Default: 1 to 6 cells (50,100,...,300 at 50 m).",
            show_default=False,
        ),
    ] = None,
    test_from: Annotated[
        str | None,
        typer.Option(
            "--test-from",
            help="YYYY-MM: fit on earlier months, then report hit rate, PAI and AUC on this month and later against a KDE of the training crimes.",
            show_default=False,
        ),
    ] = None,
    cell_size: CellSizeOpt = 50.0,
    seed: SeedOpt = 0,
    network: NetworkOpt = None,
    segment_length: SegmentLengthOpt = 50.0,
    snap_tolerance: SnapToleranceOpt = 30.0,
    junctions: JunctionsOpt = "vertices",
):
    """Risk terrain model: which features raise crime risk, how far, and where they combine.

    Writes the GeoPackage (table rtm_model, layer priority_places, factor layers), the model table as
    <stem>_model.csv and the risk surface (1 = the average cell with crime) as <stem>_risk.tif.

    With --network: risk per street segment instead: unlit streets (lit=no or missing) and point --factor
    layers within 50/100/200 network metres (or --distances), a Poisson model of records per metre of street;
    writes layer segment_risk and <stem>_segment_model.csv.
    """
    from rtm.factors import collect_factor_specs, read_factors
    from rtm.run import PARAMETERS, parse_distances

    distances_m = parse_distances(distances)
    specs = collect_factor_specs(factor, factors_toml)
    _preflight(
        options, (options.out_path("rtm.gpkg"), "--out"), checks=PARAMETERS, cell_size_m=cell_size, test_from=test_from
    )
    if network is not None:
        return _rtm_network(options, network, segment_length, snap_tolerance, junctions, specs, distances_m)
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress)
        from rtm.run import build_for_study

        result = build_for_study(
            study,
            factors=read_factors(specs, study.crs) if specs else None,
            cell_size_m=cell_size,
            distances_m=distances_m,
            seed=seed,
            test_from=test_from,
            progress=progress,
        )
    provenance = _provenance(
        "rtm",
        options,
        study,
        factors=[str(s) for s in specs] if specs else "demo",
        distances_m=distances_m,
        cell_size_m=cell_size,
        test_from=test_from,
        seed=seed,
    )
    _report(result, _write(result, options.out_path("rtm.gpkg"), provenance), options.quiet)


def _rtm_network(options: ReadOptions, network, segment_length, snap_tolerance, junctions, specs, distances_m):
    from hotspot.network.factors import DEFAULT_DISTANCES_M, segment_risk
    from rtm.factors import read_factors

    distances_m = list(distances_m or DEFAULT_DISTANCES_M)
    with _RichProgress(options.quiet) as progress:
        ns = _network_study(options, network, segment_length, snap_tolerance, junctions, progress)
        if specs:
            features = read_factors(specs, ns.network.crs)
        elif not options.inputs:
            from boundaries.demo.town import demo_town

            features = {
                k: v for k, v in demo_town().features.items() if k in ("licensed_premises", "bus_stops", "decoy")
            }
        else:
            features = {}
        result = segment_risk(ns.network, ns.snapped, features, distances_m=distances_m)
        provenance = _provenance(
            "rtm",
            options,
            ns.study,
            network=network or "demo",
            factors=[str(s) for s in specs] if specs else ("demo" if not options.inputs else None),
            distances_m=distances_m,
            **_network_parameters(segment_length, snap_tolerance, junctions, ns),
        )
        written = _write(result, options.out_path("rtm.gpkg"), provenance)
    _report(result, written, options.quiet)


def _in_one_output_run(callback):
    """Run a command inside ``hotspot.core.atomic.output_run``: its files replace the old ones together, or none do."""
    import functools
    import inspect

    signature = inspect.signature(callback, eval_str=True)  # cli.py defers annotations; typer needs them resolved

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        from hotspot.core.atomic import output_run

        with output_run():
            return callback(*args, **kwargs)

    wrapper.__signature__ = signature
    return wrapper


def _wire_output_runs() -> None:
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = _in_one_output_run(command.callback)


def _cli_words(message: str) -> str:
    """Library messages name Python parameters (``input_crs``); on the command line say ``--input-crs``."""
    import re

    # Only the names with an underscore: "layer" is also an English word ("a point layer").
    names = "|".join(name for name in _READING_PARAMETERS if "_" in name)
    return re.sub(rf"\b({names})\b", lambda m: "--" + m.group(1).replace("_", "-"), message)


@app.command()
@_shared_options(
    out=(
        Annotated[
            Path, typer.Option("--out", help="The HTML report to write; PNG figures go in <stem>_figures/ beside it.")
        ],
        Path("hotspot-out/report.html"),
    ),
    disclosure=True,
)
def report(
    options: ReadOptions,
    title: Annotated[
        str | None,
        typer.Option(
            "--title",
            help="Report heading. Default: the crime types, study area and period, e.g. 'Burglary in Luton, May 2021 to April 2023'.",
            show_default=False,
        ),
    ] = None,
    section: Annotated[
        list[str] | None,
        typer.Option(
            "--section",
            help="Only these sections (repeat): rank, gistar, kde, rtm, concentration, trends. Default: all.",
            show_default=False,
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="How many ranked places to list.", min=1)] = 20,
    permutations: Annotated[
        int,
        typer.Option(
            "--permutations", help="Gi* permutations for the pseudo p (integer counts use the exact null).", min=0
        ),
    ] = 99,
    factor: FactorOpt = None,
    cell_size: CellSizeOpt = 100.0,
    seed: SeedOpt = 0,
):
    """A self-contained HTML report (maps, weekday x hour, trend, concentration, model table, ranked list) plus PNG figures."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.report.html import SECTIONS

    sections = tuple(section) if section else SECTIONS
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise HotspotInputError(f"--section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    out = options.out
    if out.suffix.lower() not in (".html", ".htm"):
        raise HotspotInputError(f"--out {out}: the report is HTML; give a path ending in .html")
    specs = _factor_specs(factor)
    from hotspot.ingest.validate import Parameter

    _preflight(
        options, (out, "--out"), checks=(Parameter("cell_size_m", "--cell-size", "metres"),), cell_size_m=cell_size
    )
    with _RichProgress(options.quiet) as progress:
        study = _load_study(options, progress)
        _add_factors(study, specs)
        from hotspot.report.html import report_for_study

        provenance = _provenance(
            "report",
            options,
            study,
            cell_size_m=cell_size,
            top=top,
            permutations=permutations,
            seed=seed,
            sections=list(sections),
            factors=[str(x) for x in specs] or None,
        )
        result = report_for_study(
            study,
            title=title,
            cell_size_m=cell_size,
            top=top,
            permutations=permutations,
            seed=seed,
            sections=sections,
            suppress_below=options.suppress_k,
            progress=progress,
        )
        written = result.write(out, provenance=provenance)
    _report(result, written, options.quiet)


@app.command("cache")
def cache_command(
    clear: Annotated[bool, typer.Option("--clear", help="Delete every cached table.")] = False,
    compile_kernels: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="Compile the Numba kernels now (once after "
            "installing or upgrading), so the first analysis starts warm.",
        ),
    ] = False,
    quiet: QuietOpt = False,
):
    """The parsed-input cache: CSVs already read are kept as Arrow tables so the next command skips parsing.

    It lives in $HOTSPOT_CACHE/parsed (default ~/.cache/hotspot/parsed), keyed by each file's path, size,
    modification time and first megabyte, and keeps under HOTSPOT_CACHE_MAX_MB (default 10,000 MB) by deleting
    the entries used longest ago. Set HOTSPOT_NO_CACHE=1 to neither read nor write it."""
    from hotspot.ingest.cache import cache_enabled, cache_limit_bytes, cache_usage, clear_cache

    folder, n, size = cache_usage()
    console = _console(quiet)
    if compile_kernels:
        from hotspot.scale.warmup import compile_kernels as compile_all

        with _RichProgress(quiet) as progress:
            steps = compile_all(progress=progress)
        console.print(f"compiled the kernels for {len(steps)} analyses into Numba's cache: {'; '.join(steps)}")
        return
    if clear:
        removed, freed = clear_cache()
        console.print(f"removed {removed:,} cached tables ({freed / 1e6:,.1f} MB) from {folder}")
        return
    state = "on" if cache_enabled() else "off (HOTSPOT_NO_CACHE is set)"
    console.print(
        f"parsed-input cache {state}: {folder}, {n:,} tables, {size / 1e6:,.1f} MB of at most "
        f"{cache_limit_bytes() / 1e6:,.0f} MB (HOTSPOT_CACHE_MAX_MB); clear with `hotspot cache --clear`"
    )


@app.command()
def national(
    archives: Annotated[
        list[Path],
        typer.Argument(
            help=(
                "police.uk street CSVs (.csv/.csv.gz), folders of them or data.police.uk zips, any number of months "
                "and forces; streamed with bounded memory."
            ),
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir", help="Folder for kde.tif (COG) and gistar.gpkg (layers gistar_cells, gistar_places)."
        ),
    ] = Path("hotspot-out") / "national",
    cell_size: Annotated[float, typer.Option("--cell-size", help="Grid cell side in metres.", min=1.0)] = 100.0,
    bandwidth: Annotated[float, typer.Option("--bandwidth", help="KDE search radius in metres.")] = 500.0,
    kernel: Annotated[
        str, typer.Option("--kernel", help="KDE kernel: quartic|epanechnikov|triangular|uniform|gaussian.")
    ] = "quartic",
    band: Annotated[
        float, typer.Option("--band", help="Gi* distance band in metres (analytic z at national scale).")
    ] = 300.0,
    correction: Annotated[
        str, typer.Option("--correction", help="Gi* multiple-testing correction: fdr|bonferroni|none.")
    ] = "fdr",
    no_kde: Annotated[bool, typer.Option("--no-kde", help="Skip the density surface.")] = False,
    no_gistar: Annotated[bool, typer.Option("--no-gistar", help="Skip Gi*.")] = False,
    crime_type: CrimeTypeOpt = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First month kept, YYYY-MM.", show_default=False)
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last month kept (inclusive), YYYY-MM.", show_default=False)
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this process, every core) or dask (one task per tile and per file).")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help=(
                "Dask scheduler address, e.g. tcp://10.0.0.5:8786. Default: a local cluster, one worker thread "
                "in this process whose tasks use every core (the fastest Dask run on one machine)."
            ),
            show_default=False,
        ),
    ] = None,
    processes: Annotated[
        bool,
        typer.Option(
            "--processes",
            help=(
                "Local Dask cluster of --workers single-threaded worker processes instead of the in-process worker "
                "(rehearses a cluster; on one machine it only adds pickling, 2-2.7x the local time)."
            ),
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", help="Worker processes of the local Dask cluster, with --processes.", min=1)
    ] = 2,
    tile_cells: Annotated[
        int,
        typer.Option(
            "--tile-cells",
            help="Tile side in cells; each tile is computed with a halo at least the bandwidth/band.",
            min=1,
        ),
    ] = 1024,
    quiet: QuietOpt = False,
):
    """National scale: stream many police.uk archives, then tiled KDE (COG) and tiled analytic Gi* (GeoPackage)."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.scale.national import PARAMETERS
    from hotspot.scale.tiles import check_engine

    check_engine(engine)
    if scheduler and engine != "dask":
        raise HotspotInputError("--scheduler needs --engine dask")
    if processes and engine != "dask":
        raise HotspotInputError("--processes needs --engine dask")
    if processes and scheduler:
        raise HotspotInputError(
            "--processes starts a local Dask cluster; with --scheduler the cluster's workers are used"
        )
    options = ReadOptions(
        inputs=tuple(archives),
        crime_types=tuple(crime_type) if crime_type else None,
        date_from=date_from,
        date_to=date_to,
        quiet=quiet,
    )
    parameters = dict(cell_size_m=cell_size, bandwidth_m=bandwidth, kernel=kernel, band_m=band, correction=correction)
    _preflight(
        options,
        (out_dir / "kde.tif", "--out-dir"),
        (out_dir / "gistar.gpkg", "--out-dir"),
        checks=PARAMETERS,
        **parameters,
    )
    with _RichProgress(quiet) as progress:
        from hotspot.scale.national import run_national

        result = run_national(
            archives,
            kde=not no_kde,
            gistar=not no_gistar,
            crime_types=options.crime_types,
            date_from=date_from,
            date_to=date_to,
            tile_cells=tile_cells,
            engine=engine,
            scheduler=scheduler,
            n_workers=workers,
            processes=processes,
            progress=progress,
            **parameters,
        )
        provenance = _provenance("national", options, engine=engine, tile_cells=tile_cells, **parameters)
        written = result.write(out_dir, provenance=provenance)
        if written:
            from hotspot.io.qgis_project import write_qgis_project

            written.append(write_qgis_project(out_dir / "national.qgs", written, provenance=provenance))
    _report(result, written, quiet)


def main() -> None:
    """Console-script entry point: bad input is one line on stderr and exit code 2, never a traceback."""
    from hotspot.core.errors import HotspotInputError

    try:
        with _collector_paused_while_short():
            _app_for(sys.argv)()
    except HotspotInputError as exc:
        print(f"hotspot: error: {_cli_words(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except SystemExit as exc:
        # typer turns Ctrl-C into a silent exit 130; say what state the outputs are in.
        if exc.code == 130:
            print(_INTERRUPTED, file=sys.stderr)
        raise
    except KeyboardInterrupt:
        print(_INTERRUPTED, file=sys.stderr)
        sys.exit(130)


GC_GRACE_S = 5.0
"""Seconds a command runs before Python's cyclic garbage collector is switched back on (see below)."""


@contextlib.contextmanager
def _collector_paused_while_short():
    """Python's cyclic garbage collector off for the first ``GC_GRACE_S`` seconds of a command, then on again
    over a frozen heap.

    A command imports pandas, SciPy, GeoPandas and more as it goes, and the collector keeps walking
    those modules' objects: 0.2-0.5 s of a 3 s ``hotspot gistar`` or ``rank`` (465 collections), for
    almost nothing to collect. A short command skips that; a long one (a national run, ``evaluate``)
    gets one full collection after the grace period and the collector back, with everything alive
    until then frozen out of its walks, so garbage in reference cycles cannot pile up for long.
    """
    import gc
    import threading

    if not gc.isenabled():
        yield
        return
    frozen_before = gc.get_freeze_count()
    lock = threading.Lock()
    running = [True]
    gc.disable()

    def resume():
        with lock:
            if running[0]:
                gc.collect()  # once, so that what the grace period left in cycles is not frozen with the rest
                gc.freeze()
                gc.enable()

    timer = threading.Timer(GC_GRACE_S, resume)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            running[0] = False
            timer.cancel()
            # Frozen first, so switching the collector on does not start with a walk over the whole run's objects.
            gc.freeze()
            if frozen_before == 0:
                gc.unfreeze()  # back among the oldest objects, collected as usual in a longer-lived caller
            gc.enable()


def _app_for(argv: list[str]) -> typer.Typer:
    """The app holding only the command ``argv`` names, else the whole app (no command, ``--help``, a typo).

    typer builds a click command for every registered command on each run, reading each one's type hints
    (about 30 ms, a tenth of an in-process ``hotspot gistar``); a run uses one of them.
    """
    import copy

    if len(argv) > 1:
        for info in app.registered_commands:
            if info.callback is not None and argv[1] == (
                info.name or typer.main.get_command_name(info.callback.__name__)
            ):
                one = copy.copy(app)
                one.registered_commands = [info]
                return one
    return app


_INTERRUPTED = (
    "hotspot: interrupted; a run's files replace the old ones together or not at all, so the last good "
    "files are still in place"
)


# After every command above is registered, so each one runs in one output run.
_wire_output_runs()

if __name__ == "__main__":
    main()
