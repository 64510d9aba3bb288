"""Gi* grid results as raster surfaces: z, corrected p and bin as cloud-optimised GeoTIFFs with QGIS styles.

A county grid has ~100,000 study-area cells and most are empty and not significant; as rasters the
whole surface costs a few hundred kilobytes and a fraction of a second, where the same cells as
GeoPackage polygons cost tens of megabytes and seconds. The vector layer then carries only the
cells an analyst needs (:func:`hotspot.stats.gistar.cells_needed`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SURFACES = ("z", "p", "bin")
"""The surfaces written, in order; each goes to ``<stem>_<name>.tif`` with a ``.qml`` style beside it."""


def surface_paths(stem: str | Path) -> dict[str, Path]:
    """Where :func:`write_gistar_surfaces` writes each surface for the output stem (``out/gistar`` ->
    ``out/gistar_z.tif``, ``out/gistar_p.tif``, ``out/gistar_bin.tif``)."""
    stem = Path(stem)
    return {name: stem.with_name(f"{stem.name}_{name}.tif") for name in SURFACES}


def write_gistar_surfaces(stem: str | Path, result, grid, *, provenance=None) -> dict[str, Path]:
    """Write a grid Gi* result's z, corrected p and bin surfaces as COGs with QGIS style sidecars.

    Parameters
    ----------
    stem : path
        Output path without suffix; see :func:`surface_paths`.
    result : hotspot.stats.gistar.GiStarResult
        A grid result (``result.mask`` set) on ``grid``.
    grid : hotspot.core.grid.Grid
        The grid the result lies on (CRS and transform in metres).
    provenance : Provenance, optional
        Stored in each GeoTIFF's tags.

    Returns
    -------
    dict of surface name to path. Cells outside the study area and islands are no-data (-9999).
    The p surface is ``gi_p_adjusted``: the p the bins were drawn from, after the correction.
    """
    from hotspot.io.outputs import write_geotiff

    mask = result.mask
    z = np.where(mask, result.z, np.nan)
    finite = np.abs(z[np.isfinite(z)])
    zmax = max(3.0, float(finite.max())) if finite.size else 3.0
    bins = np.where(mask, result.bin.astype(np.float32), np.nan)
    band = f"{result.band_m:g} m band" if result.band_m is not None else "band"
    specs = {
        "z": (
            z,
            f"Gi* z-score ({band}, unadjusted)",
            "raster_ramp",
            {"ramp": "diverging", "vmin": -zmax, "vmax": zmax, "transparent_below_min": False, "stretch": "linear"},
        ),
        "p": (
            np.where(mask, result.p_adjusted, np.nan),
            f"Gi* p after {result.correction} correction ({result.p_used}), the p the bins use",
            "raster_ramp",
            {"ramp": "viridis", "vmin": 0.0, "vmax": 1.0, "transparent_below_min": False, "stretch": "linear"},
        ),
        "bin": (bins, "Gi* bin: -3..3 cold/hot at 99/95/90 % confidence after correction", "raster_gistar_bins", {}),
    }
    paths = surface_paths(stem)
    for name, (array, description, style, options) in specs.items():
        write_geotiff(
            paths[name],
            array.astype(np.float32),
            grid,
            description=description,
            style=style,
            style_options=options,
            provenance=provenance,
            predictor=False,
        )
    return paths
