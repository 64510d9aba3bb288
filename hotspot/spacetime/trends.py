"""``hotspot trends``: a study's records to a space-time cube to emerging hot spot categories.

The cube is built on the study grid (:meth:`hotspot.ingest.study.Study.grid`; without a study area, the
cells holding at least one record, as ArcGIS does without an analysis mask) or on the study's
areas (``over="areas"``, contiguity weights); see :mod:`hotspot.spacetime.emerging` for the rules.
"""

from __future__ import annotations

from dataclasses import replace

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve
from hotspot.ingest.validate import Parameter
from hotspot.stats.multiple_testing import CORRECTIONS

OVER = ("grid", "areas")


PARAMETERS = (
    Parameter("cell_size_m", "--cell-size", "metres"),
    Parameter("band_m", "--band", "metres"),
    Parameter("correction", "--correction", "choice", CORRECTIONS),
)
"""What :func:`trends_for_study` takes beyond :func:`check_options`, checked in one place."""


def check_options(*, slice: str = "month", over: str = "grid", alpha: float = 0.05, time_window: int = 1) -> None:
    """Raise a one-line HotspotInputError for a bad ``--slice``, ``--over``, ``--alpha`` or ``--time-window``
    (so the command fails before reading anything)."""
    from hotspot.spacetime.cube import SLICES

    if slice not in SLICES:
        raise HotspotInputError(f"--slice must be one of {', '.join(SLICES)}, got {slice!r}")
    if over not in OVER:
        raise HotspotInputError(f"--over must be one of {', '.join(OVER)}, got {over!r}")
    if not 0 < alpha < 1:
        raise HotspotInputError(f"--alpha must be between 0 and 1, got {alpha}")
    if time_window < 0 or int(time_window) != time_window:
        raise HotspotInputError(f"--time-window must be a whole number of slices, 0 or more; got {time_window}")


def trends_for_study(
    study,
    *,
    slice: str = "month",
    over: str = "grid",
    cell_size_m: float = 100.0,
    band_m: float | None = None,
    area_weights: str = "queen",
    time_window: int = 1,
    alpha: float = 0.05,
    correction: str = "fdr",
    progress=None,
):
    """Emerging hot spots of a study.

    Parameters
    ----------
    study : hotspot.ingest.study.Study
    slice : {"month", "week", "day"}, default "month"
        Length of a time slice; weeks and days need dated records.
    over : {"grid", "areas"}, default "grid"
        Grid cells over the study area, or the study's boundary areas.
    cell_size_m : float, default 100
        Grid cell side, metres.
    band_m : float, optional
        Spatial distance band, metres, between cell centres. Default: the street-level radius every
        command uses (:func:`hotspot.stats.radius.choose_radius`: the radius whose density of the earlier
        months best predicted the latest quarter), else the first peak of incremental spatial
        autocorrelation (:func:`hotspot.stats.band.choose_band_grid`); the rule is reported in ``notes``.
    area_weights : {"queen", "rook"}, default "queen"
        Contiguity between areas (``over="areas"``).
    time_window : int, default 1
        Earlier slices in each bin's neighbourhood.
    alpha : float, default 0.05
        Significance of bins (after ``correction``) and of trends.
    correction : {"fdr", "bonferroni", "none"}, default "fdr"
    progress : callable or None

    Returns
    -------
    hotspot.spacetime.emerging.EmergingHotSpots
    """
    from hotspot.spacetime.cube import cube_on_areas, cube_on_grid
    from hotspot.spacetime.emerging import emerging_hot_spots

    progress = resolve(progress)
    check_options(slice=slice, over=over, alpha=alpha, time_window=time_window)
    records = study.records
    if len(records) == 0:
        raise HotspotInputError("no records left to analyse; check the input and the filters")
    notes: list[str] = []
    progress("building the space-time cube", 0, 1)
    if over == "areas":
        from hotspot.stats.weights import area_weights as build_weights

        if study.boundaries is None:
            raise HotspotInputError("--over areas needs --boundaries (LSOAs, wards ...)")
        cube = cube_on_areas(records, study.boundaries, slice=slice)
        weights = build_weights(study.boundaries, area_weights)
        band_m = None
    else:
        grid, mask = study.grid(cell_size_m)
        if study.study_area() is None:
            # No study area: as ArcGIS does without an analysis mask, the locations are the cells with at
            # least one record in some slice (a bounding box would add lakes and fields of empty cells).
            xy = records.xy
            mask = grid.count(xy[:, 0], xy[:, 1]) > 0
            notes.append(
                f"no study area: the {int(mask.sum()):,} cells holding at least one record are the "
                "locations analysed (give --boundaries to analyse every cell of a study area)"
            )
        cube = cube_on_grid(records, grid, mask, slice=slice)
        weights = None
        if band_m is None:
            from hotspot.stats.radius import choose_radius

            band_m, rule = choose_radius(records.frame, grid, mask)
            if band_m is None:
                from hotspot.stats.band import choose_band_grid

                band_m, rule = choose_band_grid(cube.counts.sum(axis=0), cell_size_m, mask, progress=progress)
            notes.append(f"distance band {band_m:,.0f} m ({rule})")
    progress("building the space-time cube", 1, 1)
    if cube.n_outside:
        notes.append(f"{cube.n_outside:,} records fall outside the study area's cells or areas and were not counted")
    result = emerging_hot_spots(
        cube,
        band_m=band_m,
        weights=weights,
        time_window=time_window,
        alpha=alpha,
        correction=correction,
        progress=progress,
    )
    return replace(result, notes=[*result.notes, *notes])
