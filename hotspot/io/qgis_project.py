"""One QGIS project per run: a ``.qgs`` beside the outputs that opens every layer styled, grouped and ordered.

The project is plain XML written with the standard library (QGIS need not be installed to write it).
It is built from the files a run wrote, read back: every spatial layer of each GeoPackage with the
default style stored in its ``layer_styles`` table, and every GeoTIFF with its ``.qml`` colour ramp.
Layer sources are relative to the project (``./rank.gpkg|layername=ranked``), so the output folder can
be moved or shared as a whole.

Layers are grouped and drawn in this order, top first (places over surfaces over areas):

=====================  ========================================================================
group                  layers
=====================  ========================================================================
Places                 ``ranked``, ``kde_hotspots``, ``priority_places``, ``gistar_places``
Risk factors           ``factor_<name>`` (RTM inputs)
Hot and cold spots     ``gistar``, ``gistar_cells``, ``trends`` (emerging hot spots)
Surfaces               GeoTIFFs (density, risk); ``network_kde`` and ``segment_risk`` street lines
Areas                  everything else (``areas`` and other polygons)
=====================  ========================================================================

The run's provenance (command line, parameters, inputs with their SHA-256, records kept and rejected)
goes into the project metadata (Project > Properties > Metadata), and the map opens on the extent of
the data.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from hotspot.core.errors import HotspotInputError

QGIS_PROJECT_VERSION = "3.22.0-Białowieża"
"""Version written into the project; QGIS 3.22 and later open it."""

GROUPS = ("Places", "Risk factors", "Hot and cold spots", "Surfaces", "Areas")
"""Layer-tree groups, top (drawn last, on top) first."""

_PLACE_LAYERS = frozenset({"ranked", "kde_hotspots", "priority_places", "gistar_places"})
_HOTSPOT_LAYERS = frozenset({"gistar", "gistar_cells", "trends"})
_SURFACE_LAYERS = frozenset({"network_kde", "segment_risk"})


def layer_group(name: str, raster: bool = False) -> str:
    """The layer-tree group a layer goes in (see the module docstring)."""
    if raster or name in _SURFACE_LAYERS:
        return "Surfaces"
    if name in _PLACE_LAYERS:
        return "Places"
    if name.startswith("factor_"):
        return "Risk factors"
    if name in _HOTSPOT_LAYERS:
        return "Hot and cold spots"
    return "Areas"


def _readable(path: Path) -> Path:
    """Where a run's file can be read now: inside :func:`hotspot.core.atomic.output_run` the new file waits under a
    temporary name until the whole run succeeds, so read that one, not the last run's file at ``path``."""
    from hotspot.core.atomic import current_run

    run = current_run()
    if run is not None:
        for key in (path, path.absolute(), path.resolve()):
            if key in run.staged:
                return Path(run.staged[key])
    return path


def _spatial_layers(gpkg: Path) -> list[tuple[str, str, str, tuple | None]]:
    """(table, geometry type, CRS, extent or None when empty) of each feature table, in the order they were written.

    Read from the GeoPackage's own tables (``gpkg_contents`` holds the extent GDAL wrote on closing the layer,
    ``gpkg_spatial_ref_sys`` the CRS), where asking GDAL for each layer's information took 4-5 ms a layer."""
    with contextlib.closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT c.table_name, g.geometry_type_name, c.min_x, c.min_y, c.max_x, c.max_y, "
            "s.organization, s.organization_coordsys_id, s.definition FROM gpkg_contents c "
            "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
            "LEFT JOIN gpkg_spatial_ref_sys s ON s.srs_id = g.srs_id "
            "WHERE c.data_type = 'features' ORDER BY c.rowid"
        ).fetchall()
        layers = []
        for table, geometry, x0, y0, x1, y1, organisation, code, definition in rows:
            crs = f"EPSG:{code}" if str(organisation).upper() == "EPSG" else definition
            extent = None if None in (x0, y0, x1, y1) else (float(x0), float(y0), float(x1), float(y1))
            if extent is None and db.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None:
                extent = _gdal_extent(gpkg, str(table))  # a writer that left the extent out
            layers.append((str(table), str(geometry), crs, extent))
    return layers


def _gdal_extent(gpkg: Path, table: str) -> tuple:
    import pyogrio

    return tuple(pyogrio.read_info(gpkg, layer=table, force_total_bounds=True)["total_bounds"])


def _styles(gpkg: Path) -> dict[str, str]:
    from hotspot.io.outputs import read_layer_styles

    table = read_layer_styles(gpkg)
    return {str(t): str(q) for t, q in zip(table["f_table_name"], table["styleQML"])}


def _srs(crs) -> ET.Element:
    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    authority = crs.to_authority()
    srs = ET.Element("spatialrefsys")
    ET.SubElement(srs, "wkt").text = crs.to_wkt()
    ET.SubElement(srs, "authid").text = ":".join(authority) if authority else ""
    ET.SubElement(srs, "description").text = crs.name
    ET.SubElement(srs, "geographicflag").text = "true" if crs.is_geographic else "false"
    return srs


_GEOMETRY = {
    "POINT": "Point",
    "MULTIPOINT": "Point",
    "LINESTRING": "Line",
    "MULTILINESTRING": "Line",
    "POLYGON": "Polygon",
    "MULTIPOLYGON": "Polygon",
}


def _project_layers(files: Iterable[str | Path]) -> list[dict]:
    """Every spatial layer of the files, with what the project needs to show it."""
    layers = []
    for file in files:
        path = Path(file)
        suffix = path.suffix.lower()
        readable = _readable(path)
        if suffix == ".gpkg":
            styles = _styles(readable)
            for table, geometry, crs, extent in _spatial_layers(readable):
                layers.append(
                    {
                        "name": table,
                        "path": path,
                        "source": f"{path.name}|layername={table}",
                        "provider": "ogr",
                        "type": "vector",
                        "geometry": _GEOMETRY.get(geometry.upper(), "Polygon"),
                        "crs": crs,
                        "bounds": extent,
                        "style": styles.get(table),
                        "group": layer_group(table),
                    }
                )
        elif suffix in (".tif", ".tiff"):
            import rasterio

            from hotspot.io.outputs import qml_sidecar

            with rasterio.open(readable) as src:
                crs, bounds = src.crs.to_wkt(), tuple(src.bounds)
            sidecar = _readable(qml_sidecar(path))
            layers.append(
                {
                    "name": path.stem,
                    "path": path,
                    "source": path.name,
                    "provider": "gdal",
                    "type": "raster",
                    "geometry": None,
                    "crs": crs,
                    "bounds": bounds,
                    "style": sidecar.read_text(encoding="utf-8") if sidecar.exists() else None,
                    "group": "Surfaces",
                }
            )
    return layers


def _extent(element: ET.Element, bounds) -> None:
    for key, value in zip(("xmin", "ymin", "xmax", "ymax"), bounds):
        ET.SubElement(element, key).text = repr(float(value))


def write_qgis_project(
    path: str | Path, files: Iterable[str | Path], *, title: str | None = None, provenance=None
) -> Path:
    """Write a QGIS project (``.qgs``) opening every spatial layer of ``files``, styled, grouped and ordered.

    Parameters
    ----------
    path : path
        The project to write; must end in ``.qgs`` and sit in the same folder as the files.
    files : paths
        What the run wrote. GeoPackages contribute each feature layer (with its ``layer_styles`` default
        style), GeoTIFFs themselves (with their ``.qml`` sidecar); CSVs and other files are skipped.
    title : str, optional
        The project title. Default: from the provenance's command, else the file name.
    provenance : hotspot.io.provenance.Provenance, optional
        Written into the project metadata. Default: read from the first GeoPackage or GeoTIFF.

    Returns
    -------
    Path
        The project written (atomically).
    """
    from hotspot.core.atomic import atomic_path
    from hotspot.io.outputs import read_provenance

    path = Path(path)
    if path.suffix.lower() != ".qgs":
        raise HotspotInputError(f"{path}: a QGIS project file ends in .qgs")
    files = [Path(f) for f in files]
    layers = _project_layers(files)
    if not layers:
        raise HotspotInputError(f"{path}: none of the files given holds a map layer, so there is no project to write")
    for layer in layers:
        if layer["path"].resolve().parent != path.resolve().parent:
            raise HotspotInputError(
                f"{layer['path']} is not beside {path}; the project refers to its layers relatively"
            )
    if provenance is None:
        provenance = next(
            (
                p
                for p in (read_provenance(_readable(f)) for f in files if f.suffix.lower() in (".gpkg", ".tif"))
                if p is not None
            ),
            None,
        )
    title = title or (f"hotspot {provenance.command}: {path.stem}" if provenance is not None else path.stem)

    order = sorted(range(len(layers)), key=lambda i: (GROUPS.index(layers[i]["group"]), i))
    # QGIS keeps a layer id from the file only when it is longer than 10 characters (else it makes a new one
    # and the layer tree no longer finds its layers): name plus a digest of the source, stable between runs.
    ids = {
        i: f"{layers[i]['name']}_{hashlib.sha1(layers[i]['source'].encode()).hexdigest()[:16]}"
        for i in range(len(layers))
    }
    crs = layers[order[0]]["crs"]

    root = ET.Element("qgis", {"projectname": title, "version": QGIS_PROJECT_VERSION})
    ET.SubElement(root, "homePath", {"path": ""})
    ET.SubElement(root, "title").text = title
    ET.SubElement(ET.SubElement(root, "projectCrs"), "spatialrefsys").extend(list(_srs(crs)))

    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    for group in GROUPS:
        members = [i for i in order if layers[i]["group"] == group]
        if not members:
            continue
        node = ET.SubElement(tree, "layer-tree-group", {"name": group, "checked": "Qt::Checked", "expanded": "1"})
        ET.SubElement(node, "customproperties")
        for i in members:
            ET.SubElement(
                node,
                "layer-tree-layer",
                {
                    "id": ids[i],
                    "name": layers[i]["name"],
                    "source": "./" + layers[i]["source"],
                    "providerKey": layers[i]["provider"],
                    "checked": "Qt::Checked",
                    "expanded": "0",
                },
            )

    bounds = [layer["bounds"] for layer in layers if layer["bounds"] is not None]
    canvas = ET.SubElement(root, "mapcanvas", {"name": "theMapCanvas", "annotationsVisible": "1"})
    ET.SubElement(canvas, "units").text = "meters"
    if bounds:
        full = (
            min(b[0] for b in bounds),
            min(b[1] for b in bounds),
            max(b[2] for b in bounds),
            max(b[3] for b in bounds),
        )
        _extent(ET.SubElement(canvas, "extent"), full)
    ET.SubElement(canvas, "rotation").text = "0"
    ET.SubElement(ET.SubElement(canvas, "destinationsrs"), "spatialrefsys").extend(list(_srs(crs)))

    project_layers = ET.SubElement(root, "projectlayers")
    for i in order:
        layer = layers[i]
        attributes = {
            "type": layer["type"],
            "hasScaleBasedVisibilityFlag": "0",
            "refreshOnNotifyEnabled": "0",
            "autoRefreshEnabled": "0",
            "minScale": "1e+08",
            "maxScale": "0",
            "styleCategories": "AllStyleCategories",
        }
        if layer["type"] == "vector":
            attributes.update(
                {"geometry": layer["geometry"], "labelsEnabled": "0", "simplifyDrawingHints": "1", "readOnly": "0"}
            )
        element = ET.SubElement(project_layers, "maplayer", attributes)
        if layer["bounds"] is not None:
            _extent(ET.SubElement(element, "extent"), layer["bounds"])
        ET.SubElement(element, "id").text = ids[i]
        ET.SubElement(element, "datasource").text = "./" + layer["source"]
        ET.SubElement(element, "layername").text = layer["name"]
        ET.SubElement(ET.SubElement(element, "srs"), "spatialrefsys").extend(list(_srs(layer["crs"])))
        ET.SubElement(element, "provider", {"encoding": "UTF-8"} if layer["type"] == "vector" else {}).text = layer[
            "provider"
        ]
        if layer["style"]:
            style_root = ET.fromstring(
                layer["style"].split("\n", 1)[1] if layer["style"].startswith("<!DOCTYPE") else layer["style"]
            )
            if layer["type"] == "vector":
                element.set("labelsEnabled", style_root.get("labelsEnabled", "0"))
            element.extend(list(style_root))

    layer_order = ET.SubElement(root, "layerorder")
    for i in order:
        ET.SubElement(layer_order, "layer", {"id": ids[i]})

    properties = ET.SubElement(root, "properties")
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"
    # QGIS reads <projectCrs> only when the project says projections are on.
    ET.SubElement(ET.SubElement(properties, "SpatialRefSys"), "ProjectionsEnabled", {"type": "int"}).text = "1"
    if bounds:
        view = ET.SubElement(root, "ProjectViewSettings", {"UseProjectScales": "0", "rotation": "0"})
        ET.SubElement(view, "Scales")
        default = ET.SubElement(
            view, "DefaultViewExtent", {k: repr(float(v)) for k, v in zip(("xmin", "ymin", "xmax", "ymax"), full)}
        )
        default.append(_srs(crs))

    metadata = ET.SubElement(root, "projectMetadata")
    ET.SubElement(metadata, "identifier").text = path.stem
    ET.SubElement(metadata, "parentidentifier")
    ET.SubElement(metadata, "language").text = "en"
    ET.SubElement(metadata, "type").text = "dataset"
    ET.SubElement(metadata, "title").text = title
    abstract = ["Written by hotspot. Layers: " + ", ".join(layers[i]["name"] for i in order) + "."]
    if provenance is not None:
        abstract += provenance.summary_lines() + ["", "Provenance (JSON):", provenance.to_json()]
    ET.SubElement(metadata, "abstract").text = "\n".join(abstract)
    keywords = ET.SubElement(metadata, "keywords", {"vocabulary": "gmd:topicCategory"})
    ET.SubElement(keywords, "keyword").text = "crime"
    ET.SubElement(metadata, "author").text = f"hotspot {provenance.version}" if provenance is not None else "hotspot"
    ET.SubElement(metadata, "creation").text = provenance.created_utc if provenance is not None else ""

    ET.indent(root, space="  ")
    text = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_result_with_project(result, out: str | Path, *, provenance=None, **write_options) -> list[Path]:
    """``result.write(out, provenance=..., **write_options)`` and the run's QGIS project beside it
    (``<out stem>.qgs`` opening every GeoPackage and GeoTIFF written in ``out``'s folder); returns every path.

    What every command does with its result, so a benchmark can call exactly what the command runs.
    """
    out = Path(out)
    written = result.write(out, provenance=provenance, **write_options)
    maps = [Path(p) for p in written if Path(p).suffix.lower() in (".gpkg", ".tif") and Path(p).parent == out.parent]
    if maps:
        written.append(write_qgis_project(out.with_suffix(".qgs"), maps, provenance=provenance))
    return written
