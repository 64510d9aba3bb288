"""Read a road layer (GeoPackage, GeoJSON, Shapefile or OpenStreetMap .osm.pbf) into street lines in metres.

Every reader returns the same columns, whatever the source calls them:

==========  ======================================================================================
column      meaning
==========  ======================================================================================
name        street name: OSM ``name`` (else ``ref``), OS Open Roads ``name1``/``roadName``/``road_name``
            (else the road number); "" when the source has none
lit         the lighting tag as published (OSM ``lit``: yes, no, 24/7, automatic ...), "" when missing
unlit       True when ``lit`` is "no" or missing: the unlit-street risk factor of the issue that asked
            for it (OSM records lighting only where a mapper surveyed it, so missing counts as unlit)
highway     road class (OSM ``highway``, OS ``roadFunction``/``class``), "" when unknown
geometry    LineString in the projected CRS (MultiLineStrings are split into their parts)
==========  ======================================================================================

``.osm.pbf`` files are read with pyosmium (the maintained binding of libosmium; pyrosm did not
install here): every way with a ``highway`` tag except those in :data:`SKIPPED_HIGHWAYS`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hotspot.core.errors import HotspotInputError

LIT_VALUES = frozenset({"yes", "24/7", "automatic", "limited", "interval", "sunset-sunrise", "dusk-dawn"})
"""OSM ``lit`` values that mean the street has lighting (any other non-empty value, e.g. "no", means unlit)."""

SKIPPED_HIGHWAYS = frozenset(
    {
        "proposed",
        "construction",
        "abandoned",
        "platform",
        "raceway",
        "elevator",
        "bus_stop",
        "street_lamp",
        "traffic_signals",
        "crossing",
        "stop",
        "give_way",
        "turning_circle",
        "motorway_junction",
        "speed_camera",
        "emergency_bay",
        "rest_area",
        "services",
    }
)
"""OSM highway values that are not travelled streets (or are nodes), skipped when reading .osm.pbf."""

_NAME_COLUMNS = ("name", "name1", "roadname", "road_name", "street", "street_name", "streetname")
_REF_COLUMNS = ("ref", "roadnumber", "road_number", "number")
_LIT_COLUMNS = ("lit", "lighting", "lit_status")
_HIGHWAY_COLUMNS = ("highway", "roadfunction", "road_function", "class", "fclass", "road_class")


def read_roads(path: str | Path, *, layer: str | None = None, crs: str | None = None):
    """Read street lines and reproject them to a metre CRS.

    Parameters
    ----------
    path : path
        GeoPackage, GeoJSON, Shapefile (anything GDAL reads as lines) or an OpenStreetMap ``.osm.pbf``.
    layer : str, optional
        Layer of a multi-layer GeoPackage; default the first line layer.
    crs : str, optional
        Projected CRS (metres) to return, e.g. ``"EPSG:27700"``. Default: British National Grid in
        Great Britain, else the layer's UTM zone (the same rule as for crime records).

    Returns
    -------
    GeoDataFrame with ``name``, ``lit``, ``unlit``, ``highway`` and LineString geometry (see the module docstring).
    """
    import geopandas as gpd

    path = Path(path)
    label = f"--network {path}"
    if not path.exists():
        raise HotspotInputError(
            f"{label}: file not found; give a GeoPackage, GeoJSON, Shapefile or .osm.pbf of streets"
        )
    if path.name.lower().endswith((".osm.pbf", ".pbf", ".osm")):
        frame = _read_osm(path, label)
    else:
        try:
            frame = gpd.read_file(path, layer=layer) if layer else _read_first_line_layer(path)
        except HotspotInputError:
            raise
        except Exception as exc:  # pyogrio raises several error types; all mean "not a readable layer"
            raise HotspotInputError(f"{label}: could not read as a spatial layer ({exc})") from None
        if frame.crs is None:
            raise HotspotInputError(f"{label}: the layer has no CRS; save it with one (e.g. EPSG:4326 or EPSG:27700)")
        frame = _standard_columns(frame)
    return _finish(frame, crs, label)


def _read_first_line_layer(path: Path):
    import geopandas as gpd
    import pyogrio

    layers = pyogrio.list_layers(path)
    for name, kind in layers:
        if kind is not None and "LineString" in str(kind):
            return gpd.read_file(path, layer=name)
    return gpd.read_file(path)


def _pick(columns, choices) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    for choice in choices:
        if choice in lower:
            return lower[choice]
    return None


def _text(frame, column) -> np.ndarray:
    if column is None:
        return np.full(len(frame), "", dtype=object)
    values = frame[column].astype(object)
    return np.array(
        ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip() for v in values], dtype=object
    )


def _standard_columns(frame):
    import geopandas as gpd

    name = _text(frame, _pick(frame.columns, _NAME_COLUMNS))
    ref = _text(frame, _pick(frame.columns, _REF_COLUMNS))
    name = np.where(name == "", ref, name)
    lit = _text(frame, _pick(frame.columns, _LIT_COLUMNS))
    highway = _text(frame, _pick(frame.columns, _HIGHWAY_COLUMNS))
    return gpd.GeoDataFrame(
        {"name": name, "lit": lit, "highway": highway}, geometry=frame.geometry.values, crs=frame.crs
    )


def is_unlit(lit) -> np.ndarray:
    """True where the lighting tag is "no" or missing (anything not in :data:`LIT_VALUES`, case-insensitive)."""
    values = np.asarray(lit, dtype=object)
    return np.array([str(v).strip().lower() not in LIT_VALUES for v in values], dtype=bool)


def _finish(frame, crs, label):
    import shapely

    from hotspot.ingest.projection import check_metre_crs, choose_crs

    frame = frame[~frame.geometry.isna() & ~frame.geometry.is_empty]
    frame = frame[frame.geometry.geom_type.isin(["LineString", "MultiLineString"])]
    if len(frame) == 0:
        raise HotspotInputError(f"{label}: no line features; give a layer of street centrelines")
    frame = frame.explode(index_parts=False).reset_index(drop=True)
    if crs is None:
        if frame.crs.is_geographic:
            c = shapely.get_coordinates(frame.geometry.values)
            crs = choose_crs(c[:, 0], c[:, 1])
        elif frame.crs.axis_info and frame.crs.axis_info[0].unit_name in ("metre", "meter"):
            crs = frame.crs.to_string()
        else:
            raise HotspotInputError(f"{label}: the layer's CRS is not in metres; give --crs (e.g. EPSG:27700)")
    else:
        crs = check_metre_crs(crs)
    frame = frame.to_crs(crs)
    frame["unlit"] = is_unlit(frame["lit"])
    return frame[["name", "lit", "unlit", "highway", "geometry"]]


def _read_osm(path: Path, label: str):
    import geopandas as gpd
    import shapely

    try:
        import osmium
    except ImportError:  # pragma: no cover - osmium is a dependency
        raise HotspotInputError(f"{label}: reading .osm.pbf needs the osmium package (pip install osmium)") from None
    names, lits, highways, lines = [], [], [], []
    try:
        processor = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
        for way in processor:
            if not way.is_way():
                continue
            tags = way.tags
            highway = tags.get("highway")
            if highway is None or highway in SKIPPED_HIGHWAYS:
                continue
            coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
            if len(coords) < 2:
                continue
            names.append(tags.get("name") or tags.get("ref") or "")
            lits.append(tags.get("lit") or "")
            highways.append(highway)
            lines.append(coords)
    except Exception as exc:  # libosmium raises RuntimeError for corrupt or truncated files
        raise HotspotInputError(f"{label}: could not read as OpenStreetMap data ({exc})") from None
    geometry = [shapely.LineString(c) for c in lines]
    return gpd.GeoDataFrame({"name": names, "lit": lits, "highway": highways}, geometry=geometry, crs="EPSG:4326")
