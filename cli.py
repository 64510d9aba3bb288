"""The ``hotspot`` command: parses options, calls the library, reports. No analysis lives here.

Heavy libraries (numba, geopandas, rasterio) are imported inside each command, so
``hotspot --help`` and ``hotspot COMMAND --help`` stay instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

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
    Optional[list[Path]],
    typer.Argument(
        help="Crime records: police.uk street CSVs (.csv or .csv.gz), folders of them, the downloaded zip, "
        "or point tables (CSV, GeoPackage, GeoJSON, Shapefile, Parquet). None: the embedded demo town.",
        show_default=False,
    ),
]
BoundariesOpt = Annotated[
    Optional[Path],
    typer.Option("--boundaries", help="Area polygons (LSOAs, wards, a force area) as GeoPackage/GeoJSON/Shapefile; "
                 "records outside them are rejected as outside the study area.", show_default=False),
]
OutOpt = Annotated[
    Optional[Path],
    typer.Option("--out", help="The GeoPackage to write; CSV tables go beside it with the same stem. "
                 "Default: hotspot-out/<command>.gpkg.", show_default=False),
]
CrimeTypeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--crime-type", help="Keep only this police.uk crime type (case-insensitive); repeat for several.",
                 show_default=False),
]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="First month or day kept, YYYY-MM or YYYY-MM-DD.", show_default=False)]
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Last month or day kept (inclusive), YYYY-MM or YYYY-MM-DD.", show_default=False)]
HoursOpt = Annotated[
    Optional[str],
    typer.Option("--hours", help="Time-of-day window HH:MM-HH:MM, may cross midnight (19:00-07:00). Needs records with times.",
                 show_default=False),
]
WeekdaysOpt = Annotated[
    Optional[str],
    typer.Option("--weekdays", help="Comma-separated weekdays kept, e.g. fri,sat. Needs records with dates.", show_default=False),
]
CellSizeOpt = Annotated[float, typer.Option("--cell-size", help="Grid cell side in metres (every command uses the same "
                        "study grid: the boundaries, or the main body of the records).", min=1.0)]
FactorOpt = Annotated[
    Optional[list[str]],
    typer.Option("--factor", help="A risk factor as NAME=PATH (points, lines or polygons: GeoPackage, GeoJSON, Shapefile, "
                 "or a CSV of points); repeat for several. Default on the demo town: its own factors.", show_default=False),
]
BandwidthRuleOpt = Annotated[
    str,
    typer.Option("--bandwidth-rule", help="How the KDE radius is chosen when --bandwidth is not given: holdout (the "
                 "street-level radius, 150 m to 1 km, whose density of the earlier months best predicted the latest "
                 "quarter) or silverman (the county-scale rule ArcGIS uses)."),
]
BandRuleOpt = Annotated[
    str,
    typer.Option("--band-rule", help="How the Gi* band is chosen when --band is not given: holdout (as --bandwidth-rule) "
                 "or moran (first peak of incremental spatial autocorrelation, about 1 km on county data)."),
]
CrsOpt = Annotated[
    Optional[str],
    typer.Option("--crs", help="Projected CRS (metres) to work in, e.g. EPSG:27700. Default: British National Grid "
                 "in Great Britain, else the data's UTM zone.", show_default=False),
]
RejectsOpt = Annotated[
    Optional[Path],
    typer.Option("--rejects", help="Write every rejected row with its reason to this CSV.", show_default=False),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random step (permutations, cross-validation).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries; errors still print.")]
SuppressOpt = Annotated[
    Optional[int],
    typer.Option("--suppress-below", help="Disclosure control: replace counts below K (1..K-1) in published tables and "
                 "layers with a suppressed marker, and say so in the provenance. Default: none, or 5 with --public.",
                 show_default=False, min=0),
]
WeightOpt = Annotated[
    Optional[str],
    typer.Option("--weight", help="Weigh each crime: 'harm' (ONS Crime Severity Score, the median of each police.uk "
                 "type's offence codes; anti-social behaviour weighs 0) or a CSV of crime_type (or code),weight. "
                 "Default: every crime counts 1.", show_default=False),
]
PublicOpt = Annotated[bool, typer.Option("--public", help="Output is for publication: suppress counts below 5 unless --suppress-below says otherwise.")]
NetworkOpt = Annotated[
    Optional[str],
    typer.Option("--network", help="Street network to work on: road lines (GeoPackage, GeoJSON, Shapefile) or OpenStreetMap "
                 ".osm.pbf; 'demo' (or no INPUT with --over segments): the demo town's streets with planted hot segments.",
                 show_default=False, rich_help_panel="Street network"),
]
SegmentLengthOpt = Annotated[float, typer.Option("--segment-length", help="Street segment (lixel) length in metres; "
                             "segments never cross a junction.", min=1.0, rich_help_panel="Street network")]
SnapToleranceOpt = Annotated[float, typer.Option("--snap-tolerance", help="Records farther than this many metres from "
                             "every street are not snapped (they are counted and reported).", min=0.01,
                             rich_help_panel="Street network")]
JunctionsOpt = Annotated[str, typer.Option("--junctions", help="Where streets connect: vertices (shared vertices, as in "
                         "OpenStreetMap and OS Open Roads; bridges stay unconnected) or crossings (every crossing).",
                         rich_help_panel="Street network")]


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
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                console=_console(), transient=True,
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


def _qgis_project(out: Path, written, provenance=None) -> Path:
    """One QGIS project per run: ``<out stem>.qgs`` beside the outputs, opening every layer written."""
    from hotspot.io.qgis_project import write_qgis_project

    out = Path(out)
    maps = [Path(p) for p in written if Path(p).suffix.lower() in (".gpkg", ".tif") and Path(p).parent == out.parent]
    return write_qgis_project(out.with_suffix(".qgs"), maps, provenance=provenance)


def _default_out(out: Optional[Path], command: str) -> Path:
    return out if out is not None else Path("hotspot-out") / f"{command}.gpkg"


def _load_study(
    inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours=None, weekdays=None, progress=None,
    demo_scenario="town",
):
    """Read records (or the demo), apply filters, report rejects; returns a ``hotspot.ingest.study.Study``."""
    from boundaries.demo import demo_scenario as demo_scenario_named
    from hotspot.ingest.study import load_study

    study = load_study(
        [str(p) for p in inputs or []], boundaries=boundaries, crime_types=crime_type, date_from=date_from,
        date_to=date_to, hours=hours, weekdays=weekdays, crs=crs, progress=progress, reading=dict(_READING_OPTIONS),
        demo=None if inputs else demo_scenario_named(demo_scenario),
    )
    _report_rejects(study.records, quiet)
    boundary_notes = list(getattr(study.boundaries, "attrs", {}).get("notes", [])) if boundaries is not None else []
    for note in study.records.notes + boundary_notes + study.notes:
        _console(quiet).print(f"[dim]{note}[/dim]")
    if rejects is not None:
        from hotspot.io.outputs import write_rejects

        path = write_rejects(study.records, rejects)
        _console(quiet).print(f"rejected rows written to {path}")
    return study


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


def _preflight(quiet, inputs=None, boundaries=None, date_from=None, date_to=None, hours=None, weekdays=None, crs=None,
               outputs=(), hours_option="--hours") -> None:
    """Check every option, path and output before any data is read; print what was cleaned up."""
    from hotspot.ingest import validate

    validate.check_filters(date_from=date_from, date_to=date_to, hours=hours, weekdays=weekdays, crs=crs,
                           hours_option=hours_option)
    validate.check_paths_exist(inputs, boundaries)
    for note in validate.check_outputs(list(outputs)):
        _console(quiet).print(f"[dim]{note}[/dim]")


def _apply_weight(study, weight, quiet: bool):
    """The study with harm weights on its records (``--weight``), notes printed; unchanged without it."""
    if weight is None:
        return study
    from dataclasses import replace

    from hotspot.stats.harm import apply_weights

    records, notes = apply_weights(study.records, weight)
    for note in notes:
        _console(quiet).print(f"[dim]{note}[/dim]")
    return replace(study, records=records, notes=list(study.notes) + notes)


def _report_rejects(records, quiet: bool) -> None:
    from hotspot.core.records import REJECT_REASONS

    console = _console(quiet)
    counts = {k: v for k, v in records.reject_counts.items() if v}
    source = "the demo town" if records.sources == ["demo"] else f"{len(records.sources)} file(s)"
    console.print(f"[bold]{len(records):,}[/bold] records kept from {source}; "
                  f"{sum(counts.values()):,} rejected" + (":" if counts else "."))
    for reason, n in counts.items():
        console.print(f"  {n:>9,}  {REJECT_REASONS.get(reason, reason)}")


# --- commands -----------------------------------------------------------------------------------
# Each command: parse options, call the library, report. Keep analysis in hotspot/, rtm/, boundaries/.


@app.command()
def rank(
    inputs: Inputs = None,
    method: Annotated[str, typer.Option("--method", help="How cells are scored: count (records per cell), gistar (Gi* z, "
                      "significant hot cells only), kde (quartic density), rtm (risk terrain score), combined "
                      "(recency-weighted counts blended with a small-bandwidth density and the RTM score; see hotspot.forecast.combined).")] = "count",
    over: Annotated[str, typer.Option("--over", help="What to rank: grid (cells merged into places), areas (the --boundaries polygons) "
                    "streets (police.uk 'On or near' locations) or segments (street stretches of --network).")] = "grid",
    merge: Annotated[bool, typer.Option("--merge/--no-merge", help="Merge top cells into named places (a best cell plus "
                     "top cells within one cell of it: at most 3 x 3 cells).")] = True,
    bandwidth: Annotated[Optional[float], typer.Option("--bandwidth", help="KDE search radius in metres for --method kde "
                         "(default: chosen by --bandwidth-rule and reported).", show_default=False)] = None,
    band: Annotated[Optional[float], typer.Option("--band", help="Gi* distance band in metres for --method gistar "
                    "(default: chosen by --band-rule and reported).", show_default=False)] = None,
    bandwidth_rule: BandwidthRuleOpt = "holdout",
    band_rule: BandRuleOpt = "holdout",
    factor: FactorOpt = None,
    top: Annotated[Optional[int], typer.Option("--top", help="How many places to list.", show_default="20")] = None,
    area_share: Annotated[Optional[float], typer.Option("--area-share", help="Instead of --top: the best places covering this share of the study area (0.01 = 1 %).", show_default=False)] = None,
    nte: Annotated[bool, typer.Option("--nte", help="Night-time economy: keep records between 19:00 and 07:00.")] = False,
    boundaries: BoundariesOpt = None,
    out: OutOpt = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    cell_size: CellSizeOpt = 100.0,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    suppress_below: SuppressOpt = None,
    public: PublicOpt = False,
    weight: WeightOpt = None,
    report_path: Annotated[Optional[Path], typer.Option("--report", help="Also write a self-contained HTML report "
                           "(map, ranked list, weekday x hour table, monthly trend) to this path.", show_default=False)] = None,
    network: NetworkOpt = None,
    segment_length: SegmentLengthOpt = 50.0,
    snap_tolerance: SnapToleranceOpt = 30.0,
    junctions: JunctionsOpt = "vertices",
):
    """Rank places for patrol planning and write them as a GeoPackage layer `ranked` plus a CSV.

    With --over segments: street stretches (lines) from --network, with rank, name, count, length_m and per_km."""
    from hotspot.core.errors import HotspotInputError

    if top is not None and area_share is not None:
        raise HotspotInputError("give either --top or --area-share, not both")
    if nte:
        if hours is not None:
            raise HotspotInputError(f"--nte sets --hours {NTE_HOURS}; give one of them")
        hours = NTE_HOURS
    from hotspot.ingest import validate
    from hotspot.places.rank import METHODS, OVER

    validate.check_choice(method, METHODS, "--method")
    validate.check_choice(over, OVER + ("segments",), "--over")
    validate.check_choice(bandwidth_rule, validate.BANDWIDTH_RULES, "--bandwidth-rule")
    validate.check_choice(band_rule, validate.BAND_RULES, "--band-rule")
    validate.check_count(top, "--top")
    validate.check_share(area_share, "--area-share")
    validate.check_metres(bandwidth, "--bandwidth")
    validate.check_metres(band, "--band")
    validate.check_metres(cell_size, "--cell-size")
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs, hours_option="--nte" if nte else "--hours",
               outputs=[(_default_out(out, "rank"), "--out"), (report_path, "--report"), (rejects, "--rejects")])
    if over == "segments":
        return _rank_segments(inputs, network, segment_length, snap_tolerance, junctions, method, top, area_share,
                              bandwidth, boundaries, out, crime_type, date_from, date_to, hours, weekdays, crs, rejects,
                              quiet, suppress_below, public, report_path)
    if network is not None:
        raise HotspotInputError("--network is used with --over segments; add --over segments")
    specs = _factor_specs(factor)
    with _RichProgress(quiet) as progress:
        try:
            study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays,
                                progress)
        except HotspotInputError as exc:
            if not nte:
                raise
            # the filter speaks of the window --nte set; name the option the user typed
            raise HotspotInputError(str(exc).replace(f"--hours {NTE_HOURS}", f"--nte ({NTE_HOURS})")) from None
        _add_factors(study, specs)
        study = _apply_weight(study, weight, quiet)
        from hotspot.places.rank import rank_places

        result = rank_places(study, method=method, over=over, cell_size_m=cell_size, top=top, area_share=area_share,
                             merge=merge, bandwidth_m=bandwidth, band_m=band, bandwidth_rule=bandwidth_rule,
                             band_rule=band_rule, seed=seed, progress=progress)
    out_path = _default_out(out, "rank")
    suppress = _suppression_k(suppress_below, public)
    provenance = _provenance("rank", inputs, study, method=method, over=over, top=top, area_share=area_share,
                             nte=nte, cell_size_m=cell_size, merge=merge, bandwidth_m=bandwidth, band_m=band, seed=seed,
                             bandwidth_rule=bandwidth_rule, band_rule=band_rule, factors=[str(x) for x in specs] or None,
                             crime_types=crime_type, date_from=date_from, date_to=date_to, hours=hours,
                             weekdays=weekdays, boundaries=str(boundaries) if boundaries else None, weight=weight)
    written = result.write(out_path, provenance=provenance, suppress_below=suppress)
    written.append(_qgis_project(written[0], written, provenance))
    if report_path is not None:
        from hotspot.report.html import build_report, report_title

        written.append(build_report(
            report_path, title=report_title(study), ranked=result, boundaries=study.boundaries,
            weekday_hour=result.weekday_hour(), monthly=result.monthly.sum(axis=1) if len(result.monthly) else None,
            notes=study.notes + result.notes, provenance=provenance, suppress_below=suppress,
        ))
    _print_ranked(result, quiet, rest_in=written[1])
    console = _console(quiet)
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    for path in written:
        console.print(f"wrote {path}")


NTE_HOURS = "19:00-07:00"
"""The time-of-day window ``rank --nte`` (night-time economy) keeps."""


# --- street networks (hotspot.network) ------------------------------------------------------------


def _network_study(inputs, network, segment_length, snap_tolerance, junctions, boundaries, crime_type, date_from,
                   date_to, hours, weekdays, crs, rejects, quiet, progress):
    """Records on a street network: the demo scenario (no INPUT, --network demo or none) or INPUT snapped to --network."""
    from hotspot.core.errors import HotspotInputError
    from boundaries.demo.network import demo_network_study
    from hotspot.network.study import network_study

    console = _console(quiet)
    if not inputs and network in (None, "demo"):
        if any(v is not None for v in (boundaries, crime_type, date_from, date_to, hours, weekdays, crs)):
            raise HotspotInputError("the street-network demo takes no filters; give INPUT records and --network ROADS")
        result = demo_network_study()
        console.print(f"[bold]{len(result.study.records):,}[/bold] records of the street-network demo")
    else:
        if network in (None, "demo"):
            raise HotspotInputError("--network ROADS is needed with INPUT records: a GeoPackage, GeoJSON, Shapefile or "
                                    ".osm.pbf of their streets")
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays,
                            progress)
        result = network_study(study, Path(network), segment_length_m=segment_length, junctions=junctions,
                               snap_tolerance_m=snap_tolerance, progress=progress)
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    console.print(result.snapped.describe())
    return result


def _rank_segments(inputs, network, segment_length, snap_tolerance, junctions, method, top, area_share, bandwidth,
                   boundaries, out, crime_type, date_from, date_to, hours, weekdays, crs, rejects, quiet,
                   suppress_below, public, report_path):
    with _RichProgress(quiet) as progress:
        ns = _network_study(inputs, network, segment_length, snap_tolerance, junctions, boundaries, crime_type,
                            date_from, date_to, hours, weekdays, crs, rejects, quiet, progress)
        from hotspot.places.segments import rank_segments

        result = rank_segments(ns.study, ns.network, ns.snapped, method=method, top=top, length_share=area_share,
                               bandwidth_m=bandwidth, progress=progress)
    out_path = _default_out(out, "rank")
    suppress = _suppression_k(suppress_below, public)
    provenance = _provenance("rank", inputs, ns.study, method=method, over="segments", top=top, area_share=area_share,
                             network=network or "demo", segment_length_m=segment_length, snap_tolerance_m=snap_tolerance,
                             junctions=junctions, bandwidth_m=bandwidth, crime_types=crime_type, date_from=date_from,
                             date_to=date_to, hours=hours, weekdays=weekdays, records_not_snapped=ns.snapped.n_not_snapped)
    written = result.write(out_path, provenance=provenance, suppress_below=suppress)
    written.append(_qgis_project(written[0], written, provenance))
    if report_path is not None:
        from hotspot.report.html import build_report

        written.append(build_report(
            report_path, title=result.title, ranked=result, boundaries=None, weekday_hour=result.weekday_hour(),
            monthly=result.monthly.sum(axis=1) if len(result.monthly) else None,
            notes=list(ns.notes) + result.notes, provenance=provenance, suppress_below=suppress,
        ))
    _print_ranked(result, quiet, rest_in=written[1] if len(written) > 1 else None)
    console = _console(quiet)
    for note in result.notes[1:]:
        console.print(f"[dim]{note}[/dim]")
    for path in written:
        console.print(f"wrote {path}")


def _kde_network(inputs, network, segment_length, snap_tolerance, junctions, estimator, kernel, bandwidth, out,
                 boundaries, crime_type, date_from, date_to, hours, weekdays, crs, rejects, quiet):
    from hotspot.core.errors import HotspotInputError
    from hotspot.network.nkde import DEFAULT_BANDWIDTH_M, check_options

    check_options(kernel=kernel, estimator=estimator, bandwidth_m=bandwidth)
    out_path = out if out is not None else Path("hotspot-out") / "kde_network.gpkg"
    if out_path.suffix.lower() != ".gpkg":
        raise HotspotInputError(f"--out {out_path}: network density is a line layer; give a path ending in .gpkg")
    bandwidth = bandwidth or DEFAULT_BANDWIDTH_M
    with _RichProgress(quiet) as progress:
        ns = _network_study(inputs, network, segment_length, snap_tolerance, junctions, boundaries, crime_type,
                            date_from, date_to, hours, weekdays, crs, rejects, quiet, progress)
        from hotspot.network.nkde import density_frame, network_kde
        from hotspot.network.snap import lixel_counts

        ok = ns.snapped.snapped
        density = network_kde(ns.network, ns.snapped.edge[ok], ns.snapped.offset_m[ok], bandwidth_m=bandwidth,
                              kernel=kernel, estimator=estimator, progress=progress)
        frame = density_frame(ns.network, density, lixel_counts(ns.network, ns.snapped))
        from hotspot.io.outputs import write_geopackage

        provenance = _provenance("kde", inputs, ns.study, network=network or "demo", estimator=estimator, kernel=kernel,
                                 bandwidth_m=bandwidth, segment_length_m=segment_length, snap_tolerance_m=snap_tolerance,
                                 junctions=junctions, records_not_snapped=ns.snapped.n_not_snapped, mass=density.mass)
        gpkg = write_geopackage(out_path, {"network_kde": frame},
                                styles={"network_kde": ("areas", {"field": "density_per_km"})}, provenance=provenance)
    console = _console(quiet)
    for note in density.notes:
        console.print(note)
    console.print(f"peak {density.per_km.max():,.1f} records per km of street; {ns.network.n_lixels:,} segments")
    console.print(f"wrote {gpkg} (layer network_kde)")
    console.print(f"wrote {_qgis_project(gpkg, [gpkg], provenance)}")


def _gistar_network(inputs, network, segment_length, snap_tolerance, junctions, band, permutations, seed, correction, out,
                    boundaries, crime_type, date_from, date_to, hours, weekdays, crs, rejects, quiet):
    from hotspot.network.gistar import DEFAULT_BAND_M

    out_path = _default_out(out, "gistar")
    band = band or DEFAULT_BAND_M
    with _RichProgress(quiet) as progress:
        ns = _network_study(inputs, network, segment_length, snap_tolerance, junctions, boundaries, crime_type,
                            date_from, date_to, hours, weekdays, crs, rejects, quiet, progress)
        from hotspot.network.gistar import gi_star_segments
        from hotspot.network.snap import lixel_counts

        frame, result = gi_star_segments(ns.network, lixel_counts(ns.network, ns.snapped), band_m=band,
                                         permutations=permutations, seed=seed, correction=correction, progress=progress)
        from hotspot.io.outputs import write_csv, write_geopackage

        provenance = _provenance("gistar", inputs, ns.study, network=network or "demo", band_m=band, weights="network band",
                                 permutations=permutations, seed=seed, correction=correction, p_used=result.p_used,
                                 segment_length_m=segment_length, snap_tolerance_m=snap_tolerance, junctions=junctions,
                                 records_not_snapped=ns.snapped.n_not_snapped)
        gpkg = write_geopackage(out_path, {"gistar": frame}, styles={"gistar": "gistar"}, provenance=provenance)
        csv = write_csv(frame.drop(columns="geometry"), out_path.with_suffix(".csv"), provenance=provenance)
    from hotspot.stats.gistar import summary_lines

    console = _console(quiet)
    for line in summary_lines(result):
        console.print(line.replace("areas", "street segments", 1) if line.startswith("Gi* over") or "no neighbours" in line
                      else line)
    console.print(f"wrote {gpkg} (layer gistar)")
    console.print(f"wrote {csv}")
    console.print(f"wrote {_qgis_project(gpkg, [gpkg], provenance)}")


def _rtm_network(inputs, network, segment_length, snap_tolerance, junctions, specs, distances_m, out, boundaries,
                 crime_type, date_from, date_to, hours, weekdays, crs, rejects, quiet):
    from rich.console import Console
    from rich.table import Table

    from rtm.factors import read_factors

    out_path = _default_out(out, "rtm")
    with _RichProgress(quiet) as progress:
        ns = _network_study(inputs, network, segment_length, snap_tolerance, junctions, boundaries, crime_type,
                            date_from, date_to, hours, weekdays, crs, rejects, quiet, progress)
        if specs:
            features = read_factors(specs, ns.network.crs)
        elif not inputs:
            from boundaries.demo.town import demo_town

            features = {k: v for k, v in demo_town().features.items() if k in ("licensed_premises", "bus_stops", "decoy")}
        else:
            features = {}
        from hotspot.network.factors import DEFAULT_DISTANCES_M, network_factors, risk_frame, select_and_fit
        from hotspot.network.snap import lixel_counts

        factors = network_factors(ns.network, features, distances_m=tuple(distances_m or DEFAULT_DISTANCES_M))
        counts = lixel_counts(ns.network, ns.snapped)
        model, _ = select_and_fit(counts, factors, ns.network.lixels["length_m"])
        frame = risk_frame(ns.network, counts, factors, model)
        from hotspot.io.outputs import write_csv, write_geopackage

        provenance = _provenance("rtm", inputs, ns.study, network=network or "demo",
                                 factors=[str(s) for s in specs] if specs else ("demo" if not inputs else None),
                                 distances_m=list(distances_m or DEFAULT_DISTANCES_M), segment_length_m=segment_length,
                                 snap_tolerance_m=snap_tolerance, junctions=junctions,
                                 records_not_snapped=ns.snapped.n_not_snapped)
        written = [write_geopackage(out_path, {"segment_risk": frame},
                                    styles={"segment_risk": ("areas", {"field": "relative_risk"})}, provenance=provenance),
                   write_csv(model.table, out_path.with_name(f"{out_path.stem}_segment_model.csv"), provenance=provenance)]
        written.append(_qgis_project(written[0], written, provenance))
    table = Table(title=f"Risk along the streets: records per km of street, {model.n_records:,} records on "
                        f"{model.n_segments:,} segments (Poisson; baseline {model.intercept_per_km:,.1f} per km)")
    for column in ("factor", "RRV", "95% CI", "p"):
        table.add_column(column, justify="left" if column == "factor" else "right")
    for row in model.table.itertuples():
        table.add_row(row.factor, f"{row.rrv:.2f}", f"{row.rrv_low:.2f}-{row.rrv_high:.2f}", f"{row.p_value:.2g}")
    Console(quiet=quiet).print(table)
    console = _console(quiet)
    for path in written:
        console.print(f"wrote {path}")


def _print_ranked(result, quiet: bool, rest_in=None) -> None:
    from rich.console import Console

    from hotspot.places.tables import ranked_table

    console = Console(quiet=quiet)
    printed = ranked_table(result, width=console.width, rest_in=str(rest_in) if rest_in else None)
    console.print(printed.table)
    for line in printed.footer:
        console.print(f"[dim]{line}[/dim]")


@app.command()
def kde(
    inputs: Inputs = None,
    kernel: Annotated[str, typer.Option("--kernel", help="quartic|epanechnikov|triangular|uniform|gaussian (gaussian: sd = bandwidth/3, cut at the bandwidth).")] = "quartic",
    bandwidth: Annotated[Optional[float], typer.Option("--bandwidth", help="Search radius in metres (the kernel reaches zero there). Default: chosen by --bandwidth-rule; the value and rule are printed.", show_default=False)] = None,
    units: Annotated[str, typer.Option("--units", help="per-km2 (crimes per square km), per-cell (expected crimes per cell) or relative (1 = study-area average).")] = "per-km2",
    hotspot_share: Annotated[Optional[float], typer.Option("--hotspot-share", help="Also write the top share of cells (0.05 = 5 % of the area) as ranked hotspot polygons, a GeoPackage beside the GeoTIFF.", show_default=False)] = None,
    edge_correction: Annotated[bool, typer.Option("--edge-correction", help="Divide each crime's weight by the share of its kernel inside the study area, so edges are not under-counted.")] = False,
    binned: Annotated[bool, typer.Option("--binned", help="Approximate by linear binning and FFT convolution instead of the exact sum.")] = False,
    bandwidth_rule: BandwidthRuleOpt = "holdout",
    boundaries: BoundariesOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="The GeoTIFF to write. Default: hotspot-out/kde.tif.", show_default=False)] = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    cell_size: CellSizeOpt = 100.0,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    quiet: QuietOpt = False,
    network: NetworkOpt = None,
    estimator: Annotated[str, typer.Option("--estimator", help="With --network: simple (shortest paths; mass not conserved "
                         "at junctions), discontinuous (equal split at junctions) or continuous (Okabe & Sugihara; "
                         "mass conserved exactly, slowest).", rich_help_panel="Street network")] = "discontinuous",
    segment_length: SegmentLengthOpt = 50.0,
    snap_tolerance: SnapToleranceOpt = 30.0,
    junctions: JunctionsOpt = "vertices",
    weight: WeightOpt = None,
):
    """Kernel density surface of crimes as a cloud-optimised GeoTIFF (and hotspot polygons with --hotspot-share).

    With --network: network kernel density along the streets (bandwidth in network metres, default 200), written
    as the line layer `network_kde` (density_per_km per segment) of a GeoPackage (default hotspot-out/kde_network.gpkg)."""
    from hotspot.core.errors import HotspotInputError

    if network is not None:
        return _kde_network(inputs, network, segment_length, snap_tolerance, junctions, estimator, kernel, bandwidth, out,
                            boundaries, crime_type, date_from, date_to, hours, weekdays, crs, rejects, quiet)
    out_path = out if out is not None else Path("hotspot-out") / "kde.tif"
    if out_path.suffix.lower() not in (".tif", ".tiff"):
        raise HotspotInputError(f"--out {out_path}: the kde surface is a GeoTIFF; give a path ending in .tif")
    from hotspot.stats.kde import check_options

    check_options(kernel=kernel, units=units, bandwidth_m=bandwidth)
    from hotspot.ingest import validate

    validate.check_share(hotspot_share, "--hotspot-share")
    validate.check_choice(bandwidth_rule, validate.BANDWIDTH_RULES, "--bandwidth-rule")
    validate.check_metres(cell_size, "--cell-size")
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(out_path, "--out"), (rejects, "--rejects")])
    with _RichProgress(quiet) as progress:
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays, progress)
        study = _apply_weight(study, weight, quiet)
        from hotspot.stats.density import density_for_study

        result = density_for_study(study, cell_size_m=cell_size, bandwidth_m=bandwidth, bandwidth_rule=bandwidth_rule,
                                   kernel=kernel, units=units, edge_correction=edge_correction, binned=binned,
                                   progress=progress)
        hotspots = None
        if hotspot_share is not None:
            from hotspot.places.surface import surface_hotspots

            frame = study.records.frame
            hotspots = surface_hotspots(result, top_share=hotspot_share, x=frame["x"].to_numpy(), y=frame["y"].to_numpy(),
                                        records=frame)
    import numpy as np

    console = _console(quiet)
    console.print(f"bandwidth {result.bandwidth_m:,.0f} m ({result.bandwidth_rule})")
    console.print(study.describe_area())
    console.print(f"grid {result.grid.nrows:,} rows x {result.grid.ncols:,} columns of {result.grid.cell_size:g} m cells; "
                  f"{result.n_points:,} crimes at {result.n_locations:,} distinct locations")
    from hotspot.places.tables import DENSITY_UNITS

    console.print(f"{result.description}; peak {float(np.nanmax(result.surface)):,.4g} {DENSITY_UNITS[result.units]}; "
                  f"{result.mass_on_grid:.1%} of the kernel mass lies on the mapped cells")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    provenance = _provenance("kde", inputs, study, kernel=kernel, bandwidth_m=result.bandwidth_m,
                             bandwidth_rule=result.bandwidth_rule, units=units, cell_size_m=cell_size,
                             edge_correction=edge_correction, binned=binned, hotspot_share=hotspot_share,
                             crime_types=crime_type, date_from=date_from, date_to=date_to, hours=hours, weekdays=weekdays,
                             weight=weight)
    maps = [result.to_geotiff(out_path, provenance=provenance)]
    console.print(f"wrote {maps[0]}")
    if hotspots is not None:
        from hotspot.io.outputs import write_geopackage

        gpkg = write_geopackage(out_path.with_suffix(".gpkg"), {"kde_hotspots": hotspots},
                                styles={"kde_hotspots": "kde_hotspots"}, provenance=provenance)
        covered_km2 = float(hotspots["area_m2"].sum()) / 1e6
        console.print(f"{len(hotspots):,} hotspot polygon(s) in the top {hotspot_share:.1%} of cells cover "
                      f"{covered_km2:,.2f} km2 ({covered_km2 / study.area_km2:.2%} of the study area) and hold "
                      f"{hotspots['share_of_points'].sum():.1%} of the crimes")
        from hotspot.places.tables import PRINTED_ROWS

        for spot in hotspots.head(PRINTED_ROWS).itertuples():
            console.print(f"  {spot.rank:>3}. {spot.name}: {spot.area_m2 / 1e6:,.2f} km², {spot.n_points:,.0f} records "
                          f"({spot.share_of_points:.1%})", overflow="ellipsis", no_wrap=True)
        if len(hotspots) > PRINTED_ROWS:
            console.print(f"  ... and {len(hotspots) - PRINTED_ROWS:,} more in {out_path.with_suffix('.gpkg')}")
        console.print(f"wrote {gpkg} (layer kde_hotspots)")
        maps.append(gpkg)
    console.print(f"wrote {_qgis_project(out_path, maps, provenance)}")


@app.command()
def gistar(
    inputs: Inputs = None,
    band: Annotated[Optional[float], typer.Option("--band", help="Distance band in metres between cell centres (or area centroids). Default: chosen by --band-rule; the rule is printed.", show_default=False)] = None,
    band_rule: BandRuleOpt = "holdout",
    weights: Annotated[str, typer.Option("--weights", help="band (grid cells, distance band) | queen | rook | knn | centroid-band (areas from --boundaries).")] = "band",
    k: Annotated[int, typer.Option("--k", help="Neighbours per area for --weights knn.")] = 8,
    area_counts: Annotated[Optional[Path], typer.Option("--area-counts", help="Instead of points: a CSV of area_code,count joined to --boundaries.", show_default=False)] = None,
    permutations: Annotated[int, typer.Option("--permutations", help="Conditional permutations for the pseudo p (0: analytic p only). Integer counts with binary weights use the exact null instead.", min=0)] = 999,
    correction: Annotated[str, typer.Option("--correction", help="fdr (Benjamini-Hochberg) | bonferroni | none, applied before the -3..3 bins.")] = "fdr",
    all_cells: Annotated[bool, typer.Option("--all-cells", help="Grid cells: write every study-area cell to the GeoPackage and CSV, not only the cells holding records or binned hot/cold (the rasters always hold every cell).")] = False,
    boundaries: BoundariesOpt = None,
    out: OutOpt = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    cell_size: CellSizeOpt = 100.0,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    network: NetworkOpt = None,
    segment_length: SegmentLengthOpt = 50.0,
    snap_tolerance: SnapToleranceOpt = 30.0,
    junctions: JunctionsOpt = "vertices",
    weight: WeightOpt = None,
):
    """Getis-Ord Gi* hot and cold spots: GeoPackage layer `gistar` (count, gi_z, gi_p, gi_p_sim, gi_bin) plus a CSV.

    On a grid (--weights band) the layer and CSV hold the cells with records or a hot/cold bin (all with
    --all-cells), and the whole surface is written as rasters <out>_z.tif, <out>_p.tif and <out>_bin.tif
    (cloud-optimised GeoTIFFs with QGIS styles).

    With --network: Gi* per street segment, neighbours within --band network metres (default 200)."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.stats.multiple_testing import check_correction

    check_correction(correction)
    if network is not None:
        if area_counts is not None or weights != "band":
            raise HotspotInputError("--network gives Gi* per street segment with network-distance neighbours; "
                                    "drop --area-counts and --weights")
        return _gistar_network(inputs, network, segment_length, snap_tolerance, junctions, band, permutations, seed,
                               correction, out, boundaries, crime_type, date_from, date_to, hours, weekdays, crs, rejects,
                               quiet)
    out_path = _default_out(out, "gistar")
    from hotspot.ingest import validate
    from hotspot.stats.gistar import AREA_KINDS, GRID_WEIGHTS

    validate.check_choice(weights, GRID_WEIGHTS + AREA_KINDS, "--weights")
    validate.check_choice(band_rule, validate.BAND_RULES, "--band-rule")
    validate.check_count(k, "--k")
    validate.check_metres(band, "--band")
    validate.check_metres(cell_size, "--cell-size")
    if area_counts is not None and not Path(area_counts).is_file():
        raise HotspotInputError(f"--area-counts {area_counts}: no such file; check the path")
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(out_path, "--out"), (rejects, "--rejects")])
    with _RichProgress(quiet) as progress:
        if area_counts is not None:
            if weight is not None:
                raise HotspotInputError("--weight weighs crime records; --area-counts gives counts per area already: drop one")
            if boundaries is None:
                raise HotspotInputError("--area-counts needs --boundaries PATH holding those area codes")
            if weights == "band":
                raise HotspotInputError("--area-counts works on areas: use --weights queen, rook, knn or centroid-band")
            from hotspot.ingest.boundaries import read_boundaries
            from hotspot.stats.gistar import area_values_from_table, gi_star_area_counts

            areas = read_boundaries(boundaries, crs=crs) if crs else read_boundaries(boundaries)
            values = area_values_from_table(area_counts, areas)
            frame, result = gi_star_area_counts(values, areas, weights=weights, k=k, band_m=band, permutations=permutations,
                                                seed=seed, correction=correction, progress=progress)
        else:
            study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays, progress)
            study = _apply_weight(study, weight, quiet)
            from hotspot.stats.gistar import gi_star_points

            from hotspot.core.memory import BYTES_PER_CELL

            grid, mask = (study.grid(cell_size, bytes_per_cell=BYTES_PER_CELL["gistar"]) if weights == "band"
                          else (None, None))
            frame, result = gi_star_points(study.records, grid=grid, mask=mask, cell_size_m=cell_size, band_m=band,
                                           band_rule_name=band_rule, boundaries=study.boundaries, weights=weights, k=k,
                                           permutations=permutations, seed=seed, correction=correction,
                                           cells="all" if all_cells else "needed", progress=progress)
        from hotspot.io.outputs import write_csv, write_geopackage

        provenance = _provenance("gistar", inputs or ([area_counts] if area_counts else None),
                                 None if area_counts is not None else study, cell_size_m=cell_size, band_m=result.band_m,
                                 band_rule=result.band_rule, weights=weights, k=k, permutations=permutations, seed=seed,
                                 bins=result.p_used,
                                 correction=correction, p_used=result.p_used, crime_types=crime_type,
                                 date_from=date_from, date_to=date_to, hours=hours, weekdays=weekdays, weight=weight)
        layers = {"gistar": frame}
        if area_counts is None and weights == "band":
            from hotspot.scale.tiling import named_gistar_places

            # Touching hot cells (95 % or more) as ranked, named clusters: the places an analyst briefs.
            layers["gistar_places"] = named_gistar_places(result, grid, study.records.frame)
        styles = {"gistar": "gistar", "gistar_places": "ranked"}
        gpkg = write_geopackage(out_path, layers, styles={k: v for k, v in styles.items() if k in layers},
                                provenance=provenance, progress=progress)
        csv = write_csv(frame, out_path.with_suffix(".csv"), provenance=provenance)
        surfaces = {}
        if area_counts is None and weights == "band":
            from hotspot.io.surfaces import write_gistar_surfaces

            surfaces = write_gistar_surfaces(out_path.with_suffix(""), result, grid, provenance=provenance)
    from hotspot.stats.gistar import summary_lines

    console = _console(quiet)
    if area_counts is None:
        console.print(study.describe_area())
        if weights == "band":
            hot_km2 = float((result.bin >= 1).sum()) * cell_size * cell_size / 1e6
            console.print(f"hot cells (90 % or more) cover {hot_km2:,.2f} km2 ({hot_km2 / study.area_km2:.2%} of the "
                          "study area)")
    for line in summary_lines(result):
        console.print(line)
    rows = "" if area_counts is not None or weights != "band" else (
        f", every study-area cell" if all_cells else f", {len(frame):,} cells with records or a hot/cold bin")
    console.print(f"wrote {gpkg} (layer gistar{rows}"
                  + (f"; layer gistar_places: {len(layers['gistar_places']):,} named hot clusters)"
                     if "gistar_places" in layers else ")"))
    console.print(f"wrote {csv}")
    for path in surfaces.values():
        console.print(f"wrote {path} (+ .qml style)")
    console.print(f"wrote {_qgis_project(gpkg, [gpkg, *surfaces.values()], provenance)}")


@app.command()
def trends(
    inputs: Inputs = None,
    slice_: Annotated[str, typer.Option("--slice", help="Time slice: month (police.uk's resolution), week (Monday to Sunday) or day; weeks and days need dated records.")] = "month",
    over: Annotated[str, typer.Option("--over", help="grid (cells over the study area) or areas (the --boundaries polygons, queen contiguity).")] = "grid",
    band: Annotated[Optional[float], typer.Option("--band", help="Spatial distance band in metres between cell centres. Default: chosen on all records together (peak of incremental spatial autocorrelation); the rule is printed.", show_default=False)] = None,
    time_window: Annotated[int, typer.Option("--time-window", help="Earlier slices in each bin's neighbourhood (ArcGIS's neighbourhood time step).", min=0)] = 1,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance of a hot/cold bin (after --correction) and of a Mann-Kendall trend.")] = 0.05,
    correction: Annotated[str, typer.Option("--correction", help="fdr (Benjamini-Hochberg) | bonferroni | none, over every bin of the cube.")] = "fdr",
    bins: Annotated[bool, typer.Option("--bins", help="Also write every bin (location x slice: count, Gi* z, corrected p, bin) as <stem>_bins.csv.")] = False,
    report_path: Annotated[Optional[Path], typer.Option("--report", help="Also write an HTML report with the category map and small multiples of the slices.", show_default=False)] = None,
    boundaries: BoundariesOpt = None,
    out: OutOpt = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    cell_size: CellSizeOpt = 100.0,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    quiet: QuietOpt = False,
):
    """Emerging hot spots (ArcGIS categories: new, consecutive, intensifying, persistent, diminishing, sporadic,
    oscillating, historical): GeoPackage layer `trends` (column `category`) plus a CSV. No INPUT: the demo town's
    space-time scenario."""
    from hotspot.stats.multiple_testing import check_correction

    check_correction(correction)
    from hotspot.spacetime.trends import check_options

    check_options(slice=slice_, over=over, alpha=alpha, time_window=time_window)
    out_path = _default_out(out, "trends")
    from hotspot.ingest import validate

    validate.check_metres(band, "--band")
    validate.check_metres(cell_size, "--cell-size")
    if report_path is not None and report_path.suffix.lower() not in (".html", ".htm"):
        from hotspot.core.errors import HotspotInputError

        raise HotspotInputError(f"--report {report_path}: the report is HTML; give a path ending in .html")
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(out_path, "--out"), (rejects, "--rejects"), (report_path, "--report")])
    if not inputs and not crime_type:
        from boundaries.demo.spacetime import TREND_TYPE

        crime_type = [TREND_TYPE]  # the demo scenario's planted trends
    with _RichProgress(quiet) as progress:
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays,
                            progress, demo_scenario="spacetime")
        from hotspot.spacetime.trends import trends_for_study

        result = trends_for_study(study, slice=slice_, over=over, cell_size_m=cell_size, band_m=band,
                                  time_window=time_window, alpha=alpha, correction=correction, progress=progress)
        from hotspot.io.outputs import write_csv, write_geopackage

        provenance = _provenance("trends", inputs, study, slice=slice_, over=over, cell_size_m=cell_size,
                                 band_m=result.gi.band_m, time_window=time_window, alpha=alpha, correction=correction,
                                 crime_types=crime_type, date_from=date_from, date_to=date_to, hours=hours,
                                 weekdays=weekdays, boundaries=str(boundaries) if boundaries else None)
        frame = result.frame()
        written = [write_geopackage(out_path, {"trends": frame}, styles={"trends": "trends"}, provenance=provenance),
                   write_csv(frame.drop(columns="geometry"), out_path.with_suffix(".csv"), provenance=provenance)]
        if bins:
            written.append(write_csv(result.bins_table(), out_path.with_name(f"{out_path.stem}_bins.csv"),
                                     provenance=provenance))
        written.append(_qgis_project(written[0], written, provenance))
        if report_path is not None:
            from hotspot.report.html import build_report, report_title

            written.append(build_report(report_path, title=f"Emerging hot spots: {report_title(study)}",
                                        trends=result, boundaries=study.boundaries, notes=study.notes + result.notes,
                                        provenance=provenance))
    console = _console(quiet)
    for line in result.summary_lines():
        console.print(line)
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def nearrepeat(
    inputs: Inputs = None,
    distance_band: Annotated[float, typer.Option("--distance-band", help="Width of each distance band in metres.")] = 100.0,
    distance_bands: Annotated[int, typer.Option("--distance-bands", help="Number of distance bands (a 'same location' band comes first and a 'beyond' band last).", min=1)] = 5,
    same_location: Annotated[bool, typer.Option("--same-location/--no-same-location", help="Give pairs at exactly the same point (0 m) their own first band.")] = True,
    time_band: Annotated[Optional[int], typer.Option("--time-band", help="Width of each time band in whole days (dated records; default 7) or months (police.uk; default 1).", show_default=False)] = None,
    time_bands: Annotated[Optional[int], typer.Option("--time-bands", help="Number of time bands before 'beyond' (default 4 for days, 3 for months).", show_default=False)] = None,
    time_unit: Annotated[Optional[str], typer.Option("--time-unit", help="days or months. Default: days when every record has a date, else months (police.uk).", show_default=False)] = None,
    permutations: Annotated[int, typer.Option("--permutations", help="Monte Carlo permutations of the records' times (at least 19).", min=19)] = 999,
    boundaries: BoundariesOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="The CSV of the Knox table (one row per distance band x time band). Default: hotspot-out/nearrepeat.csv.", show_default=False)] = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
):
    """Near-repeats: the Knox test (observed vs Monte Carlo expected pairs by distance and time band, Knox ratios and
    p-values, as the Near Repeat Calculator reports them). No INPUT: the demo town's space-time scenario (burglary)."""
    from hotspot.core.errors import HotspotInputError

    out_path = out if out is not None else Path("hotspot-out") / "nearrepeat.csv"
    if out_path.suffix.lower() != ".csv":
        raise HotspotInputError(f"--out {out_path}: the Knox table is a CSV; give a path ending in .csv")
    from hotspot.spacetime.knox import check_options

    check_options(distance_band_m=distance_band, distance_bands=distance_bands, time_band=time_band,
                  time_bands=time_bands, time_unit=time_unit, permutations=permutations)
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(out_path, "--out"), (rejects, "--rejects")])
    if not inputs and not crime_type:
        from boundaries.demo.spacetime import NEAR_REPEAT_TYPE

        crime_type = [NEAR_REPEAT_TYPE]  # the demo scenario's near-repeat chains
    with _RichProgress(quiet) as progress:
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays,
                            progress, demo_scenario="spacetime")
        from hotspot.spacetime.knox import knox_for_study

        result = knox_for_study(study, time_unit=time_unit, distance_band_m=distance_band, distance_bands=distance_bands,
                                same_location=same_location, time_band=time_band, time_bands=time_bands,
                                permutations=permutations, seed=seed, progress=progress)
        from hotspot.io.outputs import write_csv

        provenance = _provenance("nearrepeat", inputs, study, distance_band_m=distance_band,
                                 distance_bands=distance_bands, same_location=same_location,
                                 time_band=time_band, time_bands=time_bands, time_unit=result.time_unit,
                                 permutations=permutations, seed=seed, crime_types=crime_type, date_from=date_from,
                                 date_to=date_to, hours=hours, weekdays=weekdays)
        path = write_csv(result.table(), out_path, provenance=provenance)
    _print_knox(result, quiet)
    _console(quiet).print(f"wrote {path}")


def _print_knox(result, quiet: bool) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    reach_m, reach_t = result.reach()
    table = Table(title=f"Knox ratios: {result.n_records:,} records, {result.permutations} permutations "
                        f"(bold: ratio >= 1.2 and p <= 0.05)")
    table.add_column("distance")
    for label in result.time_labels:
        table.add_column(label, justify="right")
    for i, d_label in enumerate(result.distance_labels):
        cells = []
        for j in range(len(result.time_labels)):
            ratio, p = result.ratio[i, j], result.p[i, j]
            text = "-" if not np.isfinite(ratio) else f"{ratio:.2f}"
            if np.isfinite(ratio) and ratio >= 1.2 and p <= 0.05:
                text = f"[bold red]{text}[/bold red]"
            cells.append(text)
        table.add_row(d_label, *cells)
    console = Console(quiet=quiet)
    console.print(table)
    if reach_m > 0:
        console.print(f"near-repeat reach: up to {reach_m:,.0f} m and {reach_t:g} {result.time_unit} after a crime")
    elif reach_t > 0:
        console.print(f"repeats at the same location for up to {reach_t:g} {result.time_unit}; "
                      "no significant near repeats at other distances in the first time band")
    else:
        console.print("no significant near-repeat pattern in the first distance and time bands")
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the demo town's files into (created if needed).")] = Path("hotspot-demo"),
    quiet: QuietOpt = False,
):
    """Write the demo town (crimes as police.uk CSVs and with times, boundaries, risk features, truth) as ordinary files."""
    from boundaries.demo.town import write_demo

    _preflight(quiet, outputs=[(out / "README.txt", "--out")])
    written = write_demo(out)
    console = _console(quiet)
    for path in written:
        console.print(f"wrote {path}")
    console.print(f"{len(written)} files in {out}; see {out / 'README.txt'}")


@app.command()
def areas(
    inputs: Inputs = None,
    population: Annotated[Optional[Path], typer.Option("--population", help="CSV of residents per area: an area-code column and a total and/or age bands (age_0_15 ... age_65_plus). Gives rates per 1,000 with exact Poisson 95 % intervals. Demo: its own table.", show_default=False)] = None,
    imd: Annotated[Optional[Path], typer.Option("--imd", help="CSV of deprivation per area with a decile column (e.g. IMD25_DECILE; 1 = most deprived): adds rates by decile.", show_default=False)] = None,
    lookup: Annotated[Optional[Path], typer.Option("--lookup", help="CSV mapping area codes to wards (ward_code/ward_name or WDyyCD/WDyyNM): lists the wards holding the top-quintile areas.", show_default=False)] = None,
    join: Annotated[str, typer.Option("--join", help="code (the records' LSOA code) | spatial (point in polygon, 20 m tolerance) | auto (code when most codes match).")] = "auto",
    per_year: Annotated[bool, typer.Option("--per-year", help="Rates per 1,000 residents per year instead of over the whole period.")] = False,
    level: Annotated[str, typer.Option("--level", help="area (the --boundaries areas) | ward (LSOAs aggregated to wards with --lookup; the demo has its own).")] = "area",
    boundaries: BoundariesOpt = None,
    out: OutOpt = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    quiet: QuietOpt = False,
):
    """Area table (counts, rank, share, quintile 1 = busiest, rates with exact CIs, IMD deciles, Gini): layer `areas` plus CSVs."""
    from hotspot.core.errors import HotspotInputError

    out_path = _default_out(out, "areas")
    from hotspot.stats.areas import JOINS, LEVELS

    if join not in JOINS:
        raise HotspotInputError(f"--join must be one of {', '.join(JOINS)}, got {join!r}")
    if level not in LEVELS:
        raise HotspotInputError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    for path, option in ((population, "--population"), (imd, "--imd"), (lookup, "--lookup")):
        if path is not None and not Path(path).is_file():
            raise HotspotInputError(f"{option} {path}: no such file; check the path")
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(out_path, "--out"), (rejects, "--rejects")])
    with _RichProgress(quiet) as progress:
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays, progress)
        if study.boundaries is None:
            raise HotspotInputError("areas needs area polygons: give --boundaries PATH (LSOAs or wards)")
        demo_lookup = None
        if study.is_demo and boundaries is None:
            from boundaries.demo.town import population_table

            if population is None:
                population = population_table()
            if lookup is None:
                wards = study.demo.wards[["area_code", "area_name"]].rename(columns={"area_code": "ward_code", "area_name": "ward_name"})
                demo_lookup = study.boundaries[["area_code", "ward_code"]].merge(wards, on="ward_code", how="left")
        from hotspot.stats.areas import area_statistics

        result = area_statistics(study.records, study.boundaries, population=population, imd=imd,
                                 lookup=lookup if lookup is not None else demo_lookup, join=join, per_year=per_year,
                                 level=level)
        provenance = _provenance(
            "areas", inputs, study, level=level, join=join, per_year=per_year, population=str(population) if
            isinstance(population, (str, Path)) else None, imd=str(imd) if imd else None,
            lookup=str(lookup) if isinstance(lookup, (str, Path)) else None, crime_types=crime_type,
            date_from=date_from, date_to=date_to)
        written = result.write(out_path, provenance=provenance)
        written.append(_qgis_project(out_path, written, provenance))
    _print_areas(result, quiet)
    console = _console(quiet)
    for path in written:
        console.print(f"wrote {path}")


def _print_areas(result, quiet: bool, n_rows: int = 10) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    console = Console(quiet=quiet)
    t = result.table.sort_values(["rank", "area_code"]).head(n_rows)
    unit = "wards" if result.level == "ward" else "areas"
    title = f"Busiest {len(t)} of {len(result.table):,} {unit} ({result.n_matched:,} records joined by {result.join})"
    columns = {"rank": "rank", "area_name": "area", "count": "records", "share": "share", "quintile": "quintile"}
    if "rate_per_1000" in t:
        columns.update({"rate_per_1000": "per 1,000 (95% CI)", "flag": "vs all"})
    columns.update({k: v for k, v in (("imd_decile", "IMD decile"), ("ward_name", "ward")) if k in t})
    rows = []
    for _, row in t.iterrows():
        cells = {c: _area_cell(c, row[c]) for c in columns}
        if "rate_per_1000" in columns and not pd.isna(row["rate_per_1000"]):
            nd = 0 if row["rate_per_1000"] >= 100 else 1
            cells["rate_per_1000"] = f"{row['rate_per_1000']:,.{nd}f} ({row['rate_low']:,.{nd}f}-{row['rate_high']:,.{nd}f})"
        rows.append(cells)

    def build(shown):
        from rich import box

        table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
        for c in shown:
            table.add_column(columns[c], justify="left" if c in ("area_name", "flag", "ward_name") else "right",
                             no_wrap=True, overflow="ellipsis")
        for cells in rows:
            table.add_row(*[cells[c] for c in shown])
        return table

    from hotspot.places.tables import fit_columns

    # One line per area at any width: the ward, IMD decile and quintile go first when the terminal is narrow.
    table = build(fit_columns(build, list(columns), ("ward_name", "imd_decile", "quintile", "flag"), console.width))
    console.print(table)
    console.print(result.concentration.describe())
    o = result.overall
    if o["rate_per_1000"] == o["rate_per_1000"]:
        console.print(f"whole-area rate {o['rate_per_1000']:,.1f} per 1,000 (95 % CI {o['rate_low']:,.1f}-{o['rate_high']:,.1f}); "
                      f"areas significantly higher: {(result.table['flag'] == 'higher').sum():,}, "
                      f"lower: {(result.table['flag'] == 'lower').sum():,}")
    if result.by_decile is not None and "rate_per_1000" in result.by_decile:
        d = result.by_decile
        rates = ", ".join(f"{int(k)}: {r:,.1f}" for k, r in zip(d["imd_decile"], d["rate_per_1000"]) if r == r)
        console.print(f"rate per 1,000 by IMD decile (1 = most deprived): {rates}")
    if result.wards_with_top_quintile is not None and len(result.wards_with_top_quintile):
        w = result.wards_with_top_quintile.head(5)
        text = "; ".join(f"{n} ({k})" for n, k in zip(w["ward_name"], w["top_quintile_areas"]))
        console.print(f"{len(result.wards_with_top_quintile):,} wards hold top-quintile areas; most: {text}")
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")


def _area_cell(column: str, value) -> str:
    import numpy as np
    import pandas as pd

    if pd.isna(value):
        return ""
    if column == "share":
        return f"{value:.1%}"
    if column.startswith("rate"):
        return f"{value:,.1f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


@app.command()
def evaluate(
    inputs: Inputs = None,
    area_share: Annotated[float, typer.Option("--area-share", help="Main area budget, as a share of the study area (0.01 = 1 %): combined is tuned for it and the comparisons use it.")] = 0.01,
    budgets: Annotated[str, typer.Option("--budgets", help="Also report PAI and PEI* at these budgets, comma-separated shares of the study area.")] = "0.005,0.01,0.02,0.05",
    train_months: Annotated[Optional[int], typer.Option("--train-months", help="Months of training before each test window. Default: all earlier months.", show_default=False)] = None,
    test_months: Annotated[int, typer.Option("--test-months", help="Months in each test window; folds step forward by this much.")] = 1,
    folds: Annotated[Optional[int], typer.Option("--folds", help="Keep only the last N folds. Default: every fold.", show_default=False)] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", help="Only this method (previous_period, prior_3m, prior_12m, counts_all, decayed_3m, D_decay6m_neighbours, P_since_map_change, kde_400m, kde_cv, prospective, combined; self_exciting with dated records; with --rtm also rtm, combined_rtm); repeat for several.", show_default=False)] = None,
    with_rtm: Annotated[bool, typer.Option("--rtm", help="Also backtest a risk terrain model fitted on each fold's training records, alone and as a layer of combined (needs risk features; the demo has them). Slow.")] = False,
    boundaries: BoundariesOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="CSV of per-fold results; the mean over folds goes beside it as <stem>_summary.csv, the paired comparisons as <stem>_comparisons.csv. Default: hotspot-out/evaluate.csv.", show_default=False)] = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    cell_size: CellSizeOpt = 100.0,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
    weight: WeightOpt = None,
):
    """Rolling-origin backtest: hit rate, PAI, PEI*, RRI and compactness per method with intervals, as CSV."""
    from hotspot.core.errors import HotspotInputError

    out_path = out if out is not None else Path("hotspot-out") / "evaluate.csv"
    if out_path.suffix.lower() != ".csv":
        raise HotspotInputError(f"--out {out_path}: evaluate writes CSV; give a path ending in .csv")
    from hotspot.stats.accuracy import check_area_share

    from hotspot.ingest import validate

    validate.check_share(area_share, "--area-share")
    check_area_share(area_share)
    validate.check_count(train_months, "--train-months")
    validate.check_count(test_months, "--test-months")
    validate.check_count(folds, "--folds")
    validate.check_metres(cell_size, "--cell-size")
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(out_path, "--out"), (rejects, "--rejects")])
    try:
        shares = [float(b) for b in budgets.split(",") if b.strip()]
    except ValueError:
        raise HotspotInputError(f"--budgets {budgets!r}: give shares of the study area separated by commas, e.g. 0.005,0.01") from None
    for share in shares:
        check_area_share(share)
    with _RichProgress(quiet) as progress:
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays, progress)
        study = _apply_weight(study, weight, quiet)
        from hotspot.forecast.backtest import backtest, default_forecasters
        from hotspot.core.grid import Grid

        records = study.records
        area = study.study_area()
        grid, mask = study.grid(cell_size)
        if with_rtm and not study.features:
            raise HotspotInputError("--rtm needs risk features; run on the demo or use `hotspot rtm` to prepare factors")
        from hotspot.forecast.mapchange import snap_points

        methods = default_forecasters(test_months=test_months, area_share=area_share, mask=mask,
                                      features=study.features if with_rtm else None, study_area=area, seed=seed,
                                      has_times=bool(records.has_times), snap_points=snap_points(records))
        if method:
            unknown = [m for m in method if m not in methods]
            if unknown:
                raise HotspotInputError(f"--method {unknown[0]}: choose from {', '.join(methods)}")
            methods = {m: f for m, f in methods.items() if m in method}
        result = backtest(records, grid, methods, area_share=area_share, train_months=train_months,
                          test_months=test_months, n_folds=folds, mask=mask, area_shares=shares, progress=progress)
        from hotspot.io.outputs import write_csv

        provenance = _provenance("evaluate", inputs, study, cell_size_m=cell_size, area_share=area_share,
                                 budgets=shares, train_months=train_months, test_months=test_months, folds=folds,
                                 methods=list(methods), rtm=with_rtm, seed=seed, crime_types=crime_type, weight=weight)
        written = [write_csv(result.folds, out_path, provenance=provenance),
                   write_csv(result.summary, out_path.with_name(f"{out_path.stem}_summary.csv"), provenance=provenance)]
        if len(result.comparisons):
            written.append(write_csv(result.comparisons, out_path.with_name(f"{out_path.stem}_comparisons.csv"),
                                     provenance=provenance))
    _print_backtest(result, study.describe_area(), quiet)
    console = _console(quiet)
    for path in written:
        console.print(f"wrote {path}")


def _print_backtest(result, describe_area: str, quiet: bool) -> None:
    import math

    from rich.console import Console
    from rich.table import Table

    console = Console(quiet=quiet)
    f = result.folds
    title = (f"Backtest: {result.summary['n_folds'].iloc[0]} fold(s), tests {f['test_from'].min()} to {f['test_to'].max()}, "
             f"area budget {result.area_share:.1%}")
    table = Table(title=title)
    for c in ("method", "hit rate", "PAI (95 % CI)", "PEI*", "RRI", "places", "mean place m2"):
        table.add_column(c, justify="left" if c == "method" else "right")

    def num(value, fmt):
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)

    for _, row in result.summary.iterrows():
        ci = "" if math.isnan(row["pai_low"]) else f" ({row['pai_low']:.1f}-{row['pai_high']:.1f})"
        table.add_row(str(row["method"]), f"{row['hit_rate']:.1%}", f"{row['pai']:.1f}{ci}", num(row["pei"], ".2f"),
                      num(row["rri"], ".2f"), num(row["n_places"], ",.0f"), num(row["mean_place_area_m2"], ",.0f"))
    console.print(table)
    shares = sorted(result.budgets["area_share"].unique()) if len(result.budgets) else []
    if len(shares) > 1:
        pivot = result.budgets.pivot(index="method", columns="area_share", values="pai")
        budget_table = Table(title="Mean PAI by area budget")
        budget_table.add_column("method", justify="left")
        for share in shares:
            budget_table.add_column(f"{share:.1%}", justify="right")
        for name in result.summary["method"]:
            budget_table.add_row(str(name), *[f"{pivot.loc[name, share]:.1f}" for share in shares])
        console.print(budget_table)
    if len(result.comparisons):
        comp = Table(title=f"Paired comparison at {result.area_share:.1%} (PAI difference, 95 % CI; folds won)")
        for c in ("method", "against", "difference", "ratio", "p", "won"):
            comp.add_column(c, justify="left" if c in ("method", "against") else "right")
        for _, row in result.comparisons.iterrows():
            against = f"{row['baseline']} (strongest)" if row["strongest"] else str(row["baseline"])
            low = "" if math.isnan(row["diff_low"]) else f" ({row['diff_low']:+.1f} to {row['diff_high']:+.1f})"
            comp.add_row(str(row["method"]), against, f"{row['diff']:+.2f}{low}", num(row["ratio"], ".3f"),
                         num(row["p_value"], ".3f"), f"{int(row['wins'])}/{int(row['n_folds'])}")
        console.print(comp)
    console.print("[dim]hit rate: share of test-period crimes in the selected cells; PAI: hit rate / share of area "
                  "selected; PEI*: PAI / the best PAI possible at that area; RRI (recapture rate index): (test / "
                  "training crimes in the selection) / (all test / all training crimes); places: groups of touching "
                  "selected cells. Means over folds; intervals are Student t over folds.[/dim]")
    if describe_area:
        console.print(f"[dim]area budgets are shares of the {describe_area}[/dim]")
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")


@app.command("rtm")
def rtm_command(
    inputs: Inputs = None,
    factor: Annotated[Optional[list[str]], typer.Option("--factor", help="A risk factor as NAME=PATH (points, lines or polygons: GeoPackage, GeoJSON, Shapefile, or a CSV of points); repeat for several. None and no INPUT: the demo town's factors.", show_default=False)] = None,
    factors_toml: Annotated[Optional[Path], typer.Option("--factors-toml", help="A TOML file with a \\[factors] table of name = \"path\" entries (paths relative to the file).", show_default=False)] = None,
    distances: Annotated[Optional[str], typer.Option("--distances", help="Spatial-influence distances in metres, comma-separated (each at least one cell). Default: 1 to 6 cells (50,100,...,300 at 50 m).", show_default=False)] = None,
    test_from: Annotated[Optional[str], typer.Option("--test-from", help="YYYY-MM: fit on earlier months, then report hit rate, PAI and AUC on this month and later against a KDE of the training crimes.", show_default=False)] = None,
    boundaries: BoundariesOpt = None,
    out: OutOpt = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    cell_size: CellSizeOpt = 50.0,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
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
    import time

    from rtm.factors import collect_factor_specs, read_factors
    from rtm.run import build_for_study, parse_distances

    distances_m = parse_distances(distances)
    specs = collect_factor_specs(factor, factors_toml)
    from hotspot.ingest import validate

    validate.check_metres(cell_size, "--cell-size")
    if test_from is not None:
        validate.check_filters(date_from=test_from)
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(_default_out(out, "rtm"), "--out"), (rejects, "--rejects")])
    if network is not None:
        return _rtm_network(inputs, network, segment_length, snap_tolerance, junctions, specs, distances_m, out,
                            boundaries, crime_type, date_from, date_to, hours, weekdays, crs, rejects, quiet)
    started = time.perf_counter()
    with _RichProgress(quiet) as progress:
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays, progress)
        factors = read_factors(specs, study.crs) if specs else None
        built = build_for_study(study, factors=factors, cell_size_m=cell_size, distances_m=distances_m, seed=seed,
                                test_from=test_from, progress=progress)
    provenance = _provenance(
        "rtm", inputs, study, factors=[str(s) for s in specs] if specs else "demo", distances_m=distances_m,
        cell_size_m=cell_size, test_from=test_from, seed=seed, crime_types=crime_type, date_from=date_from,
        date_to=date_to, hours=hours, weekdays=weekdays)
    written = built.write(_default_out(out, "rtm"), provenance=provenance)
    written.append(_qgis_project(written[0], written, provenance))
    _print_rtm(built, quiet, time.perf_counter() - started)
    console = _console(quiet)
    for path in written:
        console.print(f"wrote {path}")


def _print_rtm(built, quiet: bool, seconds: float) -> None:
    import textwrap

    from rich.console import Console
    from rich.table import Table

    result = built.result
    model = result.model
    console = _console(quiet)
    for note in built.notes:
        console.print(f"[dim]{note}[/dim]")
    console.print(f"{model.n_crimes:,} crimes in {model.n_cells:,} cells of {result.grid.cell_size:g} m; "
                  f"{len(result.candidates.names)} candidate layers; lasso penalty {result.selection.alpha:.3g} "
                  f"({result.selection.n_folds}-fold CV, seed {result.selection.seed})")
    bic = ", ".join(f"{k.replace('_', ' ')} {v:,.1f}" for k, v in model.bic.items())
    table = Table(title=f"Risk terrain model ({model.family.replace('_', ' ')}; BIC {bic})")
    for column in ("factor", "operationalisation", "distance m", "coef", "RRV", "95% CI", "p"):
        table.add_column(column, justify="left" if column in ("factor", "operationalisation") else "right",
                         overflow="fold")
    for row in model.model_table.itertuples():
        table.add_row(str(row.factor), str(row.operationalisation), f"{row.distance_m:g}", f"{row.coef:.3f}",
                      f"{row.rrv:.2f}", f"{row.rrv_low:.2f}-{row.rrv_high:.2f}", f"{row.p_value:.2g}")
    Console(quiet=quiet).print(table)
    if model.model_table.empty:
        console.print("no factor raised risk significantly; the risk surface is flat (1 everywhere)")
    for row in model.dropped.itertuples():
        console.print(f"[dim]dropped {row.name}: {row.reason}[/dim]")
    places = result.priority_places
    console.print(f"{len(places):,} priority place(s) ({int(places['n_cells'].sum()) if len(places) else 0:,} cells of "
                  f"{result.grid.cell_size:g} m); risk is against the average cell with crime (1 = average)")
    from hotspot.places.tables import PRINTED_ROWS

    for place in places.head(PRINTED_ROWS).itertuples():
        # Figures on the first line, the factors in words on the next: each fits 80 columns.
        console.print(f"  {place.rank:>3}. {place.name}: {place.risk_vs_average:.1f} x average risk, "
                      f"{place.area_m2 / 1e4:,.2f} ha", overflow="ellipsis", no_wrap=True)
        if hasattr(place, "expected_crimes") and hasattr(place, "crimes"):
            console.print(f"       model expects {place.expected_crimes:,.0f} records here over the period; "
                          f"{place.crimes:,.0f} recorded", overflow="ellipsis", no_wrap=True)
        console.print(textwrap.fill(place.narrative, width=max(console.width, 40), initial_indent=" " * 7,
                                    subsequent_indent=" " * 7), highlight=False)
    if len(places) > PRINTED_ROWS:
        console.print(f"  ... and {len(places) - PRINTED_ROWS:,} more in the priority_places layer")
    if built.validation is not None:
        v = built.validation
        check = Table(title=f"Validation on the test period ({v.n_test_crimes:,} crimes; KDE {v.kde_bandwidth_m:,.0f} m)")
        for column in ("method", "area", "hit rate", "PAI", "AUC"):
            check.add_column(column, justify="right")
        for row in v.table.itertuples():
            check.add_row(row.method, f"{row.area_share:.0%}", f"{row.hit_rate:.1%}", f"{row.pai:.1f}", f"{row.auc:.3f}")
        Console(quiet=quiet).print(check)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(f"[dim]{timing}; total {seconds:.1f} s[/dim]")


# --- how input tables are read: options every command that takes INPUT gets --------------------

_READING_OPTIONS: dict = {}
"""Column names and CRS for reading INPUT tables, set by the options below for the running command."""

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


def _add_reading_options(callback):
    """Give a command the table-reading options without repeating them in every signature.

    The options are appended to the command's signature (typer reads ``__signature__``); the
    wrapper takes them out and leaves them in ``_READING_OPTIONS`` for ``_load_study``.
    """
    import functools
    import inspect

    signature = inspect.signature(callback, eval_str=True)  # cli.py defers annotations; typer needs them resolved
    extra = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[Optional[str], typer.Option("--" + name.replace("_", "-"), help=help_text,
                                                             show_default=False, rich_help_panel="Reading input tables")],
        )
        for name, help_text in _READING_PARAMETERS.items()
    ]

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        _READING_OPTIONS.clear()
        _READING_OPTIONS.update({k: kwargs.pop(k) for k in _READING_PARAMETERS if kwargs.get(k) is not None})
        for k in _READING_PARAMETERS:
            kwargs.pop(k, None)
        return callback(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])
    return wrapper


def _wire_reading_options() -> None:
    import inspect

    for command in app.registered_commands:
        if command.callback is not None and "inputs" in inspect.signature(command.callback).parameters:
            command.callback = _add_reading_options(command.callback)


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

    names = "|".join(_READING_PARAMETERS)
    return re.sub(rf"\b({names})\b", lambda m: "--" + m.group(1).replace("_", "-"), message)


def _provenance(command: str, inputs, study=None, **parameters):
    """Provenance for a command's outputs (pass as ``provenance=`` to write_geopackage/write_csv/write_geotiff):
    version, command line, ``parameters``, input files with sizes and SHA-256, records kept and rejected, UTC time."""
    from hotspot.io.provenance import Provenance

    if study is not None and hasattr(study, "describe_area"):
        parameters = {**parameters, "study_area": study.describe_area(), "study_area_km2": round(study.area_km2, 3)}
    return Provenance.capture(command, parameters, [str(p) for p in inputs] if inputs else ["demo"],
                              getattr(study, "records", None))


def _suppression_k(suppress_below: Optional[int], public: bool) -> Optional[int]:
    """The disclosure threshold: --suppress-below if given, else the public default with --public, else none."""
    if suppress_below is not None:
        return suppress_below
    if public:
        from hotspot.io.disclosure import DEFAULT_PUBLIC_K

        return DEFAULT_PUBLIC_K
    return None


@app.command()
def report(
    inputs: Inputs = None,
    out: Annotated[Path, typer.Option("--out", help="The HTML report to write; PNG figures go in <stem>_figures/ beside it.")] = Path("hotspot-out/report.html"),
    title: Annotated[Optional[str], typer.Option("--title", help="Report heading. Default: the crime types, study area and period, e.g. 'Burglary in Luton, May 2021 to April 2023'.", show_default=False)] = None,
    section: Annotated[Optional[list[str]], typer.Option("--section", help="Only these sections (repeat): rank, gistar, kde, rtm, concentration, trends. Default: all.", show_default=False)] = None,
    top: Annotated[int, typer.Option("--top", help="How many ranked places to list.", min=1)] = 20,
    permutations: Annotated[int, typer.Option("--permutations", help="Gi* permutations for the pseudo p (integer counts use the exact null).", min=0)] = 99,
    factor: FactorOpt = None,
    boundaries: BoundariesOpt = None,
    crime_type: CrimeTypeOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    hours: HoursOpt = None,
    weekdays: WeekdaysOpt = None,
    cell_size: CellSizeOpt = 100.0,
    crs: CrsOpt = None,
    rejects: RejectsOpt = None,
    suppress_below: SuppressOpt = None,
    public: PublicOpt = False,
    seed: SeedOpt = 0,
    quiet: QuietOpt = False,
):
    """A self-contained HTML report (maps, weekday x hour, trend, concentration, model table, ranked list) plus PNG figures."""
    from hotspot.core.errors import HotspotInputError
    from hotspot.report.html import SECTIONS

    sections = tuple(section) if section else SECTIONS
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise HotspotInputError(f"--section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise HotspotInputError(f"--out {out}: the report is HTML; give a path ending in .html")
    k = _suppression_k(suppress_below, public)
    specs = _factor_specs(factor)
    from hotspot.ingest import validate

    validate.check_metres(cell_size, "--cell-size")
    _preflight(quiet, inputs, boundaries, date_from, date_to, hours, weekdays, crs,
               outputs=[(out, "--out"), (rejects, "--rejects")])
    with _RichProgress(quiet) as progress:
        study = _load_study(inputs, boundaries, crime_type, date_from, date_to, crs, rejects, quiet, hours, weekdays, progress)
        _add_factors(study, specs)
        from hotspot.report.html import report_for_study

        provenance = _provenance(
            "report", inputs, study, cell_size_m=cell_size, top=top, permutations=permutations, seed=seed,
            sections=list(sections), crime_type=crime_type, date_from=date_from, date_to=date_to, hours=hours,
            weekdays=weekdays, boundaries=boundaries, crs=crs, suppress_below=k, factors=[str(x) for x in specs] or None,
        )
        path, skipped = report_for_study(study, out, title=title, cell_size_m=cell_size, top=top, permutations=permutations,
                                         seed=seed, sections=sections, provenance=provenance, suppress_below=k,
                                         progress=progress)
    console = _console(quiet)
    for line in skipped:
        console.print(f"[yellow]{line}[/yellow]")
    if k:
        console.print(f"counts below {k} suppressed in the ranked table")
    from hotspot.report.html import figures_folder

    console.print(f"wrote {path}")
    console.print(f"wrote {figures_folder(path)}/")


@app.command("cache")
def cache_command(
    clear: Annotated[bool, typer.Option("--clear", help="Delete every cached table.")] = False,
):
    """The parsed-input cache: CSVs already read are kept as Arrow tables so the next command skips parsing.

    It lives in $HOTSPOT_CACHE/parsed (default ~/.cache/hotspot/parsed), keyed by each file's path, size,
    modification time and first megabyte. Set HOTSPOT_NO_CACHE=1 to neither read nor write it."""
    from hotspot.ingest.cache import cache_enabled, cache_usage, clear_cache

    folder, n, size = cache_usage()
    console = _console()
    if clear:
        removed, freed = clear_cache()
        console.print(f"removed {removed:,} cached tables ({freed / 1e6:,.1f} MB) from {folder}")
        return
    state = "on" if cache_enabled() else "off (HOTSPOT_NO_CACHE is set)"
    console.print(f"parsed-input cache {state}: {folder}, {n:,} tables, {size / 1e6:,.1f} MB; clear with "
                  "`hotspot cache --clear`")


@app.command()
def national(
    archives: Annotated[list[Path], typer.Argument(help="police.uk street CSVs (.csv/.csv.gz), folders of them or data.police.uk zips, any number of months and forces; streamed with bounded memory.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for kde.tif (COG) and gistar.gpkg (layers gistar_cells, gistar_places).")] = Path("hotspot-out") / "national",
    cell_size: Annotated[float, typer.Option("--cell-size", help="Grid cell side in metres.", min=1.0)] = 100.0,
    bandwidth: Annotated[float, typer.Option("--bandwidth", help="KDE search radius in metres.")] = 500.0,
    kernel: Annotated[str, typer.Option("--kernel", help="KDE kernel: quartic|epanechnikov|triangular|uniform|gaussian.")] = "quartic",
    band: Annotated[float, typer.Option("--band", help="Gi* distance band in metres (analytic z at national scale).")] = 300.0,
    correction: Annotated[str, typer.Option("--correction", help="Gi* multiple-testing correction: fdr|bonferroni|none.")] = "fdr",
    no_kde: Annotated[bool, typer.Option("--no-kde", help="Skip the density surface.")] = False,
    no_gistar: Annotated[bool, typer.Option("--no-gistar", help="Skip Gi*.")] = False,
    crime_type: CrimeTypeOpt = None,
    month_from: Annotated[Optional[str], typer.Option("--from", help="First month kept, YYYY-MM.", show_default=False)] = None,
    month_to: Annotated[Optional[str], typer.Option("--to", help="Last month kept (inclusive), YYYY-MM.", show_default=False)] = None,
    engine: Annotated[str, typer.Option("--engine", help="local (this process, every core) or dask (one task per tile and per file).")] = "local",
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786. Default: a local cluster of --workers workers.", show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", help="Workers of the local Dask cluster.", min=1)] = 2,
    tile_cells: Annotated[int, typer.Option("--tile-cells", help="Tile side in cells; each tile is computed with a halo at least the bandwidth/band.", min=1)] = 1024,
    quiet: QuietOpt = False,
):
    """National scale: stream many police.uk archives, then tiled KDE (COG) and tiled analytic Gi* (GeoPackage)."""
    from hotspot.scale.tiles import check_engine

    check_engine(engine)
    if scheduler and engine != "dask":
        from hotspot.core.errors import HotspotInputError

        raise HotspotInputError("--scheduler needs --engine dask")
    from hotspot.ingest.sources import expand_inputs

    expand_inputs(archives)  # a missing or unsupported path is reported before anything else
    from hotspot.ingest import validate

    validate.check_metres(cell_size, "--cell-size")
    validate.check_metres(bandwidth, "--bandwidth")
    validate.check_metres(band, "--band")
    _preflight(quiet, date_from=month_from, date_to=month_to,
               outputs=[(out_dir / "kde.tif", "--out-dir"), (out_dir / "gistar.gpkg", "--out-dir")])
    with _RichProgress(quiet) as progress:
        from hotspot.scale.national import run_national

        provenance = _provenance("national", archives, cell_size_m=cell_size, bandwidth_m=bandwidth, kernel=kernel,
                                 band_m=band, correction=correction, engine=engine, tile_cells=tile_cells)
        result = run_national(archives, out_dir, cell_size_m=cell_size, bandwidth_m=bandwidth, kernel=kernel,
                              band_m=band, correction=correction, kde=not no_kde, gistar=not no_gistar,
                              crime_types=crime_type, month_from=month_from, month_to=month_to, tile_cells=tile_cells,
                              engine=engine, scheduler=scheduler, n_workers=workers, provenance=provenance,
                              progress=progress)
    console = _console(quiet)
    locs = result.locations
    dropped = ", ".join(f"{n:,} {r.replace('_', ' ')}" for r, n in locs.rejected.items() if n)
    console.print(f"{locs.n_records:,} records from {len(locs.sources):,} files at {locs.n_locations:,} distinct locations"
                  + (f"; dropped {dropped}" if dropped else ""))
    console.print(f"grid {result.grid.nrows:,} x {result.grid.ncols:,} cells of {result.grid.cell_size:g} m; engine {engine}")
    if result.gistar is not None:
        from hotspot.stats.gistar import summary_lines

        for line in summary_lines(result.gistar):
            console.print(line)
        console.print(f"{len(result.places):,} hot places (touching cells at the chosen confidence)")
    for name, path in result.paths.items():
        console.print(f"wrote {path}")
    if result.paths:
        console.print(f"wrote {_qgis_project(out_dir / 'national.qgs', list(result.paths.values()), provenance)}")
    console.print("; ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))


def main() -> None:
    """Console-script entry point: bad input is one line on stderr and exit code 2, never a traceback."""
    from hotspot.core.errors import HotspotInputError

    try:
        app()
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


_INTERRUPTED = ("hotspot: interrupted; a run's files replace the old ones together or not at all, so the last good "
                "files are still in place")


# After every command above is registered, so each one that takes INPUT gets the options.
_wire_reading_options()
_wire_output_runs()

if __name__ == "__main__":
    main()
