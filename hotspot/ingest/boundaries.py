"""Read area polygons (LSOAs, wards, force areas) and standardise them for analysis."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hotspot.core.errors import HotspotInputError

_CODE_PATTERNS = (
    # ONS style first (LSOA21CD, WD22CD, LAD24CD, MSOA11CD, ...), then common generic names
    re.compile(r"^(lsoa|msoa|oa|wd|ward|lad|lau|cty|ctyua|pfa|csp|rgn|ctry|bua|ttwa)\d{0,2}cd$", re.I),
    re.compile(r"^[a-z]{2,6}\d{0,2}cd$", re.I),
    re.compile(r"^(area_code|code|area_id|id_code|geo_code|lsoa_code|ward_code|lsoa|lsoa21|lsoa11)$", re.I),
    re.compile(r".*_code$", re.I),
)


def _detect(columns: list[str], kind: str) -> str | None:
    """The first column that looks like an area code (``kind="code"``) or name (``kind="name"``)."""
    cols = [c for c in columns if c != "geometry"]
    if kind == "code":
        for pattern in _CODE_PATTERNS:
            for c in cols:
                if pattern.match(c):
                    return c
        return None
    # a name column pairs with the code column: LSOA21CD -> LSOA21NM, area_code -> area_name
    lowered = {c.lower(): c for c in cols}
    for c in cols:
        if re.match(r"^[a-z]{2,6}\d{0,2}nm$", c, re.I):
            return c
    for candidate in ("area_name", "name", "lsoa_name", "ward_name", "lad_name", "label"):
        if candidate in lowered:
            return lowered[candidate]
    for c in cols:
        if c.lower().endswith("_name"):
            return c
    return None


def read_boundaries(
    path: str | Path,
    *,
    crs: str = "EPSG:27700",
    code_column: str | None = None,
    name_column: str | None = None,
    layer: str | None = None,
):
    """Read area polygons and standardise them to ``area_code, area_name, geometry`` in ``crs``.

    Parameters
    ----------
    path : str or Path
        A GeoPackage, GeoJSON, Shapefile or any file pyogrio reads.
    crs : str, default "EPSG:27700"
        The projected CRS (metres) to return the polygons in.
    code_column : str, optional
        The column holding area codes. Default: detected (``LSOA21CD``, ``WD22CD``, any ``*CD``,
        ``area_code``, ``code``, ...).
    name_column : str, optional
        The column holding area names. Default: detected (``LSOA21NM``, any ``*NM``, ``name``, ...);
        when none is found, ``area_name`` repeats the code.
    layer : str, optional
        The layer to read from a multi-layer file. Default: the first layer with polygons.

    Returns
    -------
    GeoDataFrame
        ``area_code`` and ``area_name`` (text) first, then the file's own columns, then ``geometry``.
        Invalid polygons (self-intersecting, bow-ties) are repaired with ``shapely.make_valid``
        (keeping only their polygon parts); features with no polygon area are left out. Both are
        said, one line each, in ``attrs["notes"]``.

    Raises
    ------
    HotspotInputError
        A missing or unreadable file, a missing layer, no polygons, no CRS, a metre CRS on degree
        coordinates, or no code column found.
    """
    import geopandas as gpd
    import pyogrio
    import shapely

    path = Path(path)
    if not path.exists():
        raise HotspotInputError(f"boundaries file {path} does not exist; check the --boundaries path")
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio raises its own DataSourceError types for unreadable files
        raise HotspotInputError(
            f"cannot read boundaries file {path}: {str(exc).splitlines()[0] if str(exc) else exc}; "
            "give a GeoPackage, GeoJSON or Shapefile"
        ) from None
    names = [str(row[0]) for row in layers]
    if layer is None:
        polygonal = [str(row[0]) for row in layers if row[1] is not None and "polygon" in str(row[1]).lower()]
        layer = polygonal[0] if polygonal else (names[0] if names else None)
    elif layer not in names:
        raise HotspotInputError(f"boundaries file {path} has no layer {layer!r}; its layers are: {', '.join(names)}")
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:
        raise HotspotInputError(
            f"cannot read layer {layer!r} of boundaries file {path}: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from None

    where = f"boundaries file {path}" + (f" (layer {layer})" if layer and len(names) > 1 else "")
    if "geometry" not in frame or frame.geometry.isna().all() or len(frame) == 0:
        raise HotspotInputError(f"{where} has no features with geometry; give a file of area polygons")
    if frame.crs is None:
        raise HotspotInputError(
            f"{where} has no CRS; save it with its coordinate reference system (e.g. EPSG:27700) set"
        )

    geoms = frame.geometry.values
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    notes = []
    if invalid.any():
        reasons = shapely.is_valid_reason(geoms[invalid])
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
        first = f"first: feature {int(np.flatnonzero(invalid)[0]) + 1}, {reasons[0]}"
        notes.append(
            f"{where}: {int(invalid.sum()):,} of {len(geoms):,} polygons were invalid ({first}) and were "
            "repaired with make_valid; fix them in your GIS if the areas look wrong"
        )
    # make_valid can return collections; keep the polygonal parts only
    polygons = [_polygonal(g) for g in geoms]
    frame = frame.set_geometry(gpd.GeoSeries(polygons, index=frame.index, crs=frame.crs))
    keep = (~frame.geometry.isna() & ~frame.geometry.is_empty).to_numpy()
    frame = frame[keep]
    if len(frame) == 0:
        raise HotspotInputError(
            f"{where} has no polygons (found {', '.join(sorted(set(map(str, geoms.geom_type))))}); "
            "give area polygons, not points or lines"
        )
    if not keep.all():
        notes.append(
            f"{where}: {int((~keep).sum()):,} features without polygon area were left out "
            f"(first: feature {int(np.flatnonzero(~keep)[0]) + 1})"
        )

    columns = [c for c in frame.columns if c != "geometry"]
    if code_column is not None and code_column not in frame.columns:
        raise HotspotInputError(f"{where} has no column {code_column!r}; its columns are: {', '.join(columns)}")
    if name_column is not None and name_column not in frame.columns:
        raise HotspotInputError(f"{where} has no column {name_column!r}; its columns are: {', '.join(columns)}")
    code = code_column or _detect(columns, "code")
    if code is None:
        raise HotspotInputError(
            f"{where}: no area-code column found among: {', '.join(columns) or '(none)'}; "
            "pass code_column (CLI: --code-column)"
        )
    name = name_column or _detect([c for c in columns if c != code], "name")

    if not frame.crs.is_geographic:
        xmin, ymin, xmax, ymax = frame.total_bounds
        if all(abs(v) <= 180 for v in (xmin, xmax)) and all(abs(v) <= 90 for v in (ymin, ymax)):
            raise HotspotInputError(
                f"{where} says its CRS is {frame.crs.to_string()} (metres), but its coordinates look like degrees "
                f"({xmin:g}..{xmax:g}, {ymin:g}..{ymax:g}); set its CRS to EPSG:4326 in your GIS and save it again"
            )

    try:
        frame = frame.to_crs(crs)
    except Exception as exc:
        raise HotspotInputError(f"cannot project {where} to {crs}: {exc}") from None
    codes = frame[code].astype("string").fillna("").str.strip().astype(object).to_numpy()
    names_out = frame[name].astype("string").fillna("").str.strip().astype(object).to_numpy() if name else codes
    # a source's own area_code/area_name columns are replaced by the standardised ones
    out = frame.drop(columns=["area_code", "area_name"], errors="ignore")
    out.insert(0, "area_code", codes)
    out.insert(1, "area_name", names_out)
    geometry_last = [c for c in out.columns if c != "geometry"] + ["geometry"]
    out = out[geometry_last].reset_index(drop=True)
    out.attrs["notes"] = notes
    return out


def _polygonal(geom):
    import shapely

    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]
