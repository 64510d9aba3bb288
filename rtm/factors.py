"""Reading risk-factor layers: ``NAME=PATH`` pairs, a TOML file of them, and the files themselves.

A factor layer is any set of point, line or polygon features (GeoPackage, GeoJSON, Shapefile, or a
CSV of points). Every layer is reprojected to the analysis CRS (metres) before use.

TOML format (paths relative to the TOML file)::

    [factors]
    licensed_premises = "pubs.gpkg"
    schools = { path = "schools.gpkg", layer = "schools" }
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from hotspot.core.errors import HotspotInputError

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_ -]*$")

# Column names tried, in order, when a CSV of points is read; projected pairs first so the
# source's own easting/northing are used when both are present.
_XY_COLUMNS = (
    ("easting", "northing", None),
    ("x", "y", None),
    ("longitude", "latitude", "EPSG:4326"),
    ("lon", "lat", "EPSG:4326"),
    ("long", "lat", "EPSG:4326"),
    ("lng", "lat", "EPSG:4326"),
)


def parse_factor_option(text: str) -> tuple[str, Path]:
    """Split one ``--factor NAME=PATH`` value into ``(name, path)``; the name is letters, digits, ``_``, ``-``, spaces."""
    if "=" not in text:
        raise HotspotInputError(f"--factor {text!r}: expected NAME=PATH, e.g. --factor licensed_premises=pubs.gpkg")
    name, path = text.split("=", 1)
    name = name.strip()
    if not _NAME_RE.match(name):
        raise HotspotInputError(f"--factor {text!r}: the name must start with a letter and use letters, digits, _ or -")
    return name, Path(path.strip())


def read_factors_toml(path: str | Path) -> dict[str, tuple[Path, str | None]]:
    """Read ``[factors]`` from a TOML file: name -> (path, layer or None). Relative paths resolve beside the file."""
    import tomllib

    path = Path(path)
    if not path.exists():
        raise HotspotInputError(f"--factors-toml {path}: file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HotspotInputError(f"--factors-toml {path}: not valid TOML ({exc})") from None
    table = data.get("factors")
    if not isinstance(table, dict) or not table:
        raise HotspotInputError(f'--factors-toml {path}: needs a [factors] table of name = "path" entries')
    out: dict[str, tuple[Path, str | None]] = {}
    for name, value in table.items():
        if not _NAME_RE.match(name):
            raise HotspotInputError(f"--factors-toml {path}: factor name {name!r} must start with a letter")
        if isinstance(value, str):
            file, layer = value, None
        elif isinstance(value, dict) and isinstance(value.get("path"), str):
            file, layer = value["path"], value.get("layer")
        else:
            raise HotspotInputError(
                f"--factors-toml {path}: factor {name!r} needs a path string or {{ path = ..., layer = ... }}"
            )
        file = Path(file)
        out[name] = (file if file.is_absolute() else path.parent / file, layer)
    return out


def read_factor_layer(path: str | Path, crs: str, *, name: str = "", layer: str | None = None):
    """Read one factor layer and reproject it to ``crs`` (a projected CRS in metres).

    Parameters
    ----------
    path : path
        GeoPackage, GeoJSON, Shapefile, or CSV of points (columns easting/northing, x/y — taken to be in
        ``crs`` — or longitude/latitude, lon/lat — WGS84 degrees).
    crs : str
        The analysis CRS, e.g. ``"EPSG:27700"``.
    name : str
        The factor's name, used in error messages.
    layer : str, optional
        GeoPackage layer; default the first layer.

    Returns
    -------
    geopandas.GeoDataFrame
        Features in ``crs`` with empty and missing geometries removed.
    """
    import geopandas as gpd
    import pandas as pd

    path = Path(path)
    label = f"--factor {name}={path}" if name else str(path)
    if not path.exists():
        raise HotspotInputError(f"{label}: file not found")
    if path.suffix.lower() in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
        try:
            table = pd.read_csv(path)
        except Exception as exc:  # pandas raises many parser types; all mean "not a readable CSV"
            raise HotspotInputError(f"{label}: could not read as CSV ({exc})") from None
        lower = {c.lower().strip(): c for c in table.columns}
        for xname, yname, source_crs in _XY_COLUMNS:
            if xname in lower and yname in lower:
                x = pd.to_numeric(table[lower[xname]], errors="coerce").to_numpy(np.float64)
                y = pd.to_numeric(table[lower[yname]], errors="coerce").to_numpy(np.float64)
                frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(x, y), crs=source_crs or crs)
                break
        else:
            raise HotspotInputError(f"{label}: a CSV factor needs easting/northing, x/y or longitude/latitude columns")
    else:
        try:
            frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
        except Exception as exc:  # pyogrio raises DataSourceError/DataLayerError and others
            raise HotspotInputError(f"{label}: could not read as a spatial layer ({exc})") from None
        if frame.crs is None:
            raise HotspotInputError(f"{label}: the layer has no CRS; save it with one (e.g. EPSG:27700)")
    import shapely

    geometry = frame.geometry
    values = np.asarray(geometry.values, dtype=object)
    keep = pd.Series(~shapely.is_missing(values) & ~shapely.is_empty(values), index=frame.index)
    if frame.geometry.geom_type.eq("Point").all():
        keep &= np.isfinite(geometry.x) & np.isfinite(geometry.y)
    frame = frame.loc[keep].reset_index(drop=True)
    if len(frame) == 0:
        raise HotspotInputError(f"{label}: no features with a location")
    return frame.to_crs(crs)


def read_factors(specs: Mapping[str, str | Path | tuple], crs: str) -> dict[str, object]:
    """Read several factor layers: ``{name: path or (path, layer)}`` -> ``{name: GeoDataFrame in crs}``."""
    out = {}
    for name, spec in specs.items():
        path, layer = spec if isinstance(spec, tuple) else (spec, None)
        out[name] = read_factor_layer(path, crs, name=name, layer=layer)
    return out


def collect_factor_specs(
    options: Iterable[str] | None, toml_path: str | Path | None
) -> dict[str, tuple[Path, str | None]]:
    """Merge ``--factor NAME=PATH`` options and a ``--factors-toml`` file; a name given twice is an error."""
    specs: dict[str, tuple[Path, str | None]] = {}
    if toml_path is not None:
        specs.update(read_factors_toml(toml_path))
    for text in options or []:
        name, path = parse_factor_option(text)
        if name in specs:
            raise HotspotInputError(f"--factor {text!r}: factor {name!r} is given twice")
        specs[name] = (path, None)
    return specs
