"""Default map styles, so a layer opens in QGIS already drawn the way an analyst would draw it.

Each style is generated as QGIS QML (what QGIS applies on open from a GeoPackage's
``layer_styles`` table or a raster's ``.qml`` sidecar) and, for vector layers, as OGC SLD 1.1
(what GeoServer and other clients read). Styles are built per layer because some depend on
the data: graduated class breaks and raster colour-ramp limits come from the values written.

The registry, keyed by the style name passed to :func:`hotspot.io.outputs.write_geopackage`:

==================  =========================================================================
style name          what it draws
==================  =========================================================================
``gistar``          categorised on ``gi_bin`` (-3..3): cold spots 99/95/90 % in blues, not
                    significant light grey, hot spots 90/95/99 % in reds; areas (LSOAs) outlined
``ranked``          places graduated by ``rank`` (top 5, 6-10, 11-20, the rest; darkest first),
                    outlined, only the top 10 labelled with their rank
``kde_hotspots``    as ``ranked``, for KDE hot-spot polygons
``priority_places`` as ``ranked``, for RTM priority places
``factor``          an RTM risk factor layer in one Okabe-Ito colour (each factor its own)
``trends``          categorised on ``category`` (emerging hot spot analysis): hot-spot patterns
                    in reds (new darkest to historical lightest), cold-spot patterns in blues,
                    no pattern light grey, as ArcGIS draws them
``areas``           graduated colour on a numeric field (option ``field``; quantile classes); on
                    line layers (street segments) the lines themselves are coloured
``raster_ramp``     single-band pseudocolour ramp for a GeoTIFF, stretched by quantiles of the
                    data (each colour step holds half the cells of the one below), so a county
                    surface whose peak is 100 times its typical value still shows its structure
==================  =========================================================================

Colours are ColorBrewer schemes (RdBu for Gi*, YlOrRd and YlOrBr for counts, densities and risk,
Purples for places) and Okabe-Ito for factors: dark-on-light, lightness rising or falling steadily along
each ramp, so they stay readable with deuteranopia (checked in tests/test_styles.py with the Machado et al.
2009 simulation) and in greyscale print.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from hotspot.core.errors import HotspotInputError

QGIS_VERSION_TAG = "3.22.0"
"""The QGIS version written into QML headers; QGIS 3.x reads styles written by older 3.x versions."""

GISTAR_CLASSES: tuple[tuple[int, str, str], ...] = (
    (3, "#b2182b", "Hot spot - 99 % confidence"),
    (2, "#ef8a62", "Hot spot - 95 % confidence"),
    (1, "#fddbc7", "Hot spot - 90 % confidence"),
    (0, "#f7f7f7", "Not significant"),
    (-1, "#d1e5f0", "Cold spot - 90 % confidence"),
    (-2, "#67a9cf", "Cold spot - 95 % confidence"),
    (-3, "#2166ac", "Cold spot - 99 % confidence"),
)
"""Gi* confidence bins (value, colour, legend label), hot first as the legend lists them: ColorBrewer RdBu with
its own near-white midpoint for "not significant" (a mid grey sat too close to the palest cold bin for a
deuteranope)."""

TRENDS_CLASSES: tuple[tuple[str, str], ...] = (
    ("new hot spot", "#7f0000"),
    ("consecutive hot spot", "#b30000"),
    ("intensifying hot spot", "#d7301f"),
    ("persistent hot spot", "#ef6548"),
    ("diminishing hot spot", "#fc8d59"),
    ("sporadic hot spot", "#fdbb84"),
    ("oscillating hot spot", "#fdd49e"),
    ("historical hot spot", "#fee8c8"),
    ("new cold spot", "#08306b"),
    ("consecutive cold spot", "#08519c"),
    ("intensifying cold spot", "#2171b5"),
    ("persistent cold spot", "#4292c6"),
    ("diminishing cold spot", "#6baed6"),
    ("sporadic cold spot", "#9ecae1"),
    ("oscillating cold spot", "#c6dbef"),
    ("historical cold spot", "#deebf7"),
    ("no pattern detected", "#f0f0f0"),
)
"""Emerging hot spot categories and their colours: ArcGIS's scheme of reds for hot-spot patterns and
blues for cold-spot patterns (ArcGIS also hatches some categories; these hex values are ours, darkest
for the newest and strongest patterns)."""

YLORRD = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
"""ColorBrewer YlOrRd, light to dark: counts, rates and densities."""

PLACE_CLASSES: tuple[tuple[int, int, str, str], ...] = (
    (1, 5, "#3f007d", "Top 5"),
    (6, 10, "#6a51a3", "6 - 10"),
    (11, 20, "#9e9ac8", "11 - 20"),
    (21, 10**9, "#dadaeb", "21 and below"),
)
"""Rank classes of places (first rank, last rank, colour, legend label): ColorBrewer Purples, darkest first, so
places stand out from the yellow-to-red density and risk surfaces drawn under them."""

PLACE_LABELS_TOP = 10
"""Only places ranked this high or better are labelled (a county map with 700 numbers on it is unreadable)."""

FACTOR_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
"""Okabe-Ito qualitative colours, one per risk factor layer: distinguishable with every common colour blindness."""

RAMPS: dict[str, tuple[str, ...]] = {
    "density": ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
    "risk": ("#ffffe5", "#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#8c2d04"),
    "viridis": ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"),
    "diverging": ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"),
}
"""Named colour ramps for ``raster_ramp`` (option ``ramp``), low to high."""


@dataclass(frozen=True)
class Style:
    """One layer's default style.

    Attributes
    ----------
    name : str
        The registry name (``"gistar"``, ``"ranked"`` ...); written as ``styleName``.
    qml : str
        QGIS style document (``<qgis>`` root).
    sld : str or None
        OGC SLD 1.1 document, or None where no SLD is produced (rasters).
    description : str
        One line shown in QGIS's style manager.
    """

    name: str
    qml: str
    sld: str | None
    description: str


# --- symbols ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Symbol:
    """A plain symbol both QML and SLD can express. Colours are ``#rrggbb``; widths in millimetres."""

    kind: str  # "fill", "marker" or "line"
    fill: str | None = None
    fill_alpha: float = 1.0
    stroke: str | None = "#323232"
    stroke_width_mm: float = 0.26
    size_mm: float = 3.0


_RASTER_QML_TAIL = (
    "    </rasterrenderer>\n"
    '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
    '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeStrength="100" '
    'colorizeRed="255" colorizeGreen="128" colorizeBlue="128"/>\n'
    '    <rasterresampler maxOversampling="2"/>\n'
    "  </pipe>\n"
    "  <blendMode>0</blendMode>\n"
    "</qgis>\n"
)
"""The end of every raster QML (renderer close, neutral colour pipe, blend mode): the same for ramps and palettes."""


def _rgba(hex_colour: str, alpha: float = 1.0) -> str:
    """``#rrggbb`` -> QGIS ``"r,g,b,a"`` (a 0..255)."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{int(round(alpha * 255))}"


def _options(props: Mapping[str, str], indent: str) -> str:
    # QGIS >= 3.20 reads <Option type="Map">, older 3.x reads <prop k v>; writing both, as QGIS 3.22
    # itself does, keeps the style readable by every QGIS 3 an analyst may have installed.
    inner = "".join(
        f'{indent}  <Option type="QString" name={quoteattr(k)} value={quoteattr(str(v))}/>\n' for k, v in props.items()
    )
    legacy = "".join(f"{indent}<prop k={quoteattr(k)} v={quoteattr(str(v))}/>\n" for k, v in props.items())
    return f'{indent}<Option type="Map">\n{inner}{indent}</Option>\n{legacy}'


@functools.lru_cache(maxsize=256)  # a run styles the same few symbols in every layer; XML-escaping them is the cost
def _symbol_qml(symbol: _Symbol, name: str, indent: str = "      ") -> str:
    if symbol.kind == "fill":
        cls = "SimpleFill"
        props = {
            "color": _rgba(symbol.fill or "#000000", symbol.fill_alpha if symbol.fill else 0.0),
            "style": "solid" if symbol.fill else "no",
            "outline_color": _rgba(symbol.stroke or "#000000", 1.0 if symbol.stroke else 0.0),
            "outline_style": "solid" if symbol.stroke else "no",
            "outline_width": f"{symbol.stroke_width_mm:g}",
            "outline_width_unit": "MM",
            "joinstyle": "miter",
            "offset": "0,0",
            "offset_unit": "MM",
        }
    elif symbol.kind == "marker":
        cls = "SimpleMarker"
        props = {
            "name": "circle",
            "color": _rgba(symbol.fill or "#000000", symbol.fill_alpha if symbol.fill else 0.0),
            "outline_color": _rgba(symbol.stroke or "#000000", 1.0 if symbol.stroke else 0.0),
            "outline_style": "solid" if symbol.stroke else "no",
            "outline_width": f"{symbol.stroke_width_mm:g}",
            "outline_width_unit": "MM",
            "size": f"{symbol.size_mm:g}",
            "size_unit": "MM",
            "scale_method": "diameter",
        }
    else:
        cls = "SimpleLine"
        props = {
            "line_color": _rgba(symbol.stroke or "#000000"),
            "line_style": "solid",
            "line_width": f"{symbol.stroke_width_mm:g}",
            "line_width_unit": "MM",
            "capstyle": "round",
            "joinstyle": "round",
        }
    return (
        f'{indent}<symbol type="{symbol.kind}" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">\n'
        f'{indent}  <layer class="{cls}" enabled="1" locked="0" pass="0">\n'
        f"{_options(props, indent + '    ')}"
        f"{indent}  </layer>\n"
        f"{indent}</symbol>\n"
    )


_GEOMETRY_TYPE_NAMES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)


def geometry_types(frame) -> set[str]:
    """The geometry type names (``"Polygon"``...) in a GeoDataFrame, missing geometries left out.

    As ``set(frame.geom_type.dropna())``, from shapely's type ids: no string per row."""
    import shapely

    # Type ids run from -1 (missing) to 7: counted rather than sorted by np.unique.
    present = np.bincount(shapely.get_type_id(np.asarray(frame.geometry.values)) + 1, minlength=9)
    return {_GEOMETRY_TYPE_NAMES[i - 1] for i in np.flatnonzero(present).tolist() if i >= 1}


def _geometry_kind(frame) -> str:
    """``fill``, ``marker`` or ``line`` for a GeoDataFrame's geometry (``fill`` when unknown)."""
    # Asked of the class: on a GeoDataFrame, hasattr(frame, "geom_type") would compute every row's type name.
    if frame is None or not hasattr(type(frame), "geom_type") or len(frame) == 0:
        return "fill"
    types = geometry_types(frame)
    if types and types <= {"Point", "MultiPoint"}:
        return "marker"
    if types and types <= {"LineString", "MultiLineString"}:
        return "line"
    return "fill"


# --- QML documents ------------------------------------------------------------------------------


def _qml_document(renderer: str, labeling: str = "", labels_enabled: bool = False) -> str:
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION_TAG}" styleCategories="AllStyleCategories" '
        f'labelsEnabled="{1 if labels_enabled else 0}" hasScaleBasedVisibilityFlag="0">\n'
        f"{renderer}{labeling}"
        "  <blendMode>0</blendMode>\n"
        "  <featureBlendMode>0</featureBlendMode>\n"
        "  <layerOpacity>1</layerOpacity>\n"
        "</qgis>\n"
    )


def _single_renderer(symbol: _Symbol) -> str:
    return (
        '  <renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">\n'
        "    <symbols>\n"
        f"{_symbol_qml(symbol, '0')}"
        "    </symbols>\n"
        "  </renderer-v2>\n"
    )


def _categorized_renderer(field: str, categories: list[tuple[Any, str, _Symbol]]) -> str:
    cats = "".join(
        f'      <category value={quoteattr(str(value))} symbol="{i}" label={quoteattr(label)} render="true"/>\n'
        for i, (value, label, _) in enumerate(categories)
    )
    symbols = "".join(_symbol_qml(sym, str(i)) for i, (_, _, sym) in enumerate(categories))
    return (
        f'  <renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} symbollevels="0" enableorderby="0" forceraster="0">\n'
        f"    <categories>\n{cats}    </categories>\n"
        f"    <symbols>\n{symbols}    </symbols>\n"
        "  </renderer-v2>\n"
    )


def _graduated_renderer(field: str, ranges: list[tuple[float, float, str, _Symbol]], mode: str = "quantile") -> str:
    rng = "".join(
        f'      <range lower="{lo!r}" upper="{hi!r}" symbol="{i}" label={quoteattr(label)} render="true"/>\n'
        for i, (lo, hi, label, _) in enumerate(ranges)
    )
    symbols = "".join(_symbol_qml(sym, str(i)) for i, (_, _, _, sym) in enumerate(ranges))
    return (
        f'  <renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} graduatedMethod="GraduatedColor" '
        'symbollevels="0" enableorderby="0" forceraster="0">\n'
        f"    <ranges>\n{rng}    </ranges>\n"
        f"    <symbols>\n{symbols}    </symbols>\n"
        f'    <mode name="{mode}"/>\n'
        '    <labelformat format="%1 - %2" decimalplaces="1" trimtrailingzeroes="true"/>\n'
        "  </renderer-v2>\n"
    )


def _labeling_qml(field: str, kind: str, font_size_pt: float = 10.0, is_expression: bool = False) -> str:
    # Points get the rank beside the dot (AroundPoint, 0) so the dot stays visible; polygons get it
    # on their centroid (OverPoint, 1). displayAll keeps every labelled
    # rank visible even where places crowd, since a missing rank reads as a missing place; only the top
    # places are labelled (an expression), so that crowd stays small.
    return (
        '  <labeling type="simple">\n'
        '    <settings calloutType="simple">\n'
        f'      <text-style fieldName={quoteattr(field)} isExpression="{int(is_expression)}" fontFamily="Sans Serif" '
        f'fontSize="{font_size_pt:g}" fontSizeUnit="Point" fontWeight="75" namedStyle="Bold" '
        'textColor="0,0,0,255" textOpacity="1" blendMode="0" multilineHeight="1" allowHtml="0">\n'
        '        <text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" '
        'bufferOpacity="1" bufferNoFill="1" bufferJoinStyle="128" bufferBlendMode="0"/>\n'
        "      </text-style>\n"
        '      <text-format wrapChar="" multilineAlign="3" plussign="0" decimals="3" formatNumbers="0" '
        'addDirectionSymbol="0" reverseDirectionSymbol="0" placeDirectionSymbol="0"/>\n'
        f'      <placement placement="{0 if kind == "marker" else 1}" centroidInside="1" centroidWhole="0" '
        f'dist="{1 if kind == "marker" else 0}" distUnits="MM" '
        f'offsetType="0" quadOffset="4" xOffset="0" yOffset="0" offsetUnits="MM" priority="5" '
        f'placementFlags="10" geometryGeneratorEnabled="0"/>\n'
        '      <rendering displayAll="1" obstacle="1" obstacleType="1" limitNumLabels="0" maxNumLabels="2000" '
        'upsidedownLabels="0" scaleVisibility="0" fontLimitPixelSize="0" mergeLines="0" drawLabels="1"/>\n'
        "    </settings>\n"
        "  </labeling>\n"
    )


# --- SLD documents ------------------------------------------------------------------------------


def _sld_symbolizer(symbol: _Symbol) -> str:
    stroke = ""
    if symbol.stroke:
        stroke = (
            "<se:Stroke>"
            f'<se:SvgParameter name="stroke">{symbol.stroke}</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-width">{symbol.stroke_width_mm * 96 / 25.4:.2f}</se:SvgParameter>'
            "</se:Stroke>"
        )
    fill = ""
    if symbol.fill:
        fill = (
            f'<se:Fill><se:SvgParameter name="fill">{symbol.fill}</se:SvgParameter>'
            f'<se:SvgParameter name="fill-opacity">{symbol.fill_alpha:g}</se:SvgParameter></se:Fill>'
        )
    if symbol.kind == "fill":
        return f"<se:PolygonSymbolizer>{fill}{stroke}</se:PolygonSymbolizer>"
    if symbol.kind == "marker":
        return (
            "<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName>"
            f"{fill}{stroke}</se:Mark><se:Size>{symbol.size_mm * 96 / 25.4:.1f}</se:Size></se:Graphic></se:PointSymbolizer>"
        )
    return f"<se:LineSymbolizer>{stroke}</se:LineSymbolizer>"


def _sld_document(layer: str, rules: list[tuple[str, str, _Symbol]], label_field: str | None = None) -> str:
    """Rules are (title, OGC filter XML or "", symbol)."""
    body = []
    for title, filt, symbol in rules:
        body.append(
            f"<se:Rule><se:Name>{escape(title)}</se:Name><se:Description><se:Title>{escape(title)}</se:Title></se:Description>"
            f"{filt}{_sld_symbolizer(symbol)}</se:Rule>"
        )
    if label_field:
        body.append(
            "<se:Rule><se:TextSymbolizer>"
            f"<se:Label><ogc:PropertyName>{escape(label_field)}</ogc:PropertyName></se:Label>"
            '<se:Font><se:SvgParameter name="font-family">Sans Serif</se:SvgParameter>'
            '<se:SvgParameter name="font-size">13</se:SvgParameter>'
            '<se:SvgParameter name="font-weight">bold</se:SvgParameter></se:Font>'
            '<se:Halo><se:Radius>2</se:Radius><se:Fill><se:SvgParameter name="fill">#ffffff</se:SvgParameter></se:Fill></se:Halo>'
            '<se:Fill><se:SvgParameter name="fill">#000000</se:SvgParameter></se:Fill>'
            "</se:TextSymbolizer></se:Rule>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc" '
        'xmlns:se="http://www.opengis.net/se" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1.0" '
        'xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
        f"<NamedLayer><se:Name>{escape(layer)}</se:Name><UserStyle><se:Name>{escape(layer)}</se:Name>"
        f"<se:FeatureTypeStyle>{''.join(body)}</se:FeatureTypeStyle></UserStyle></NamedLayer></StyledLayerDescriptor>\n"
    )


def _sld_equals(field: str, value: Any) -> str:
    return (
        f"<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>{escape(field)}</ogc:PropertyName>"
        f"<ogc:Literal>{escape(str(value))}</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>"
    )


def _sld_between(field: str, lower: float, upper: float, first: bool) -> str:
    # Half-open (lower, upper] like QGIS's graduated renderer, except the first class keeps its lower bound.
    low_op = "PropertyIsGreaterThanOrEqualTo" if first else "PropertyIsGreaterThan"
    return (
        f"<ogc:Filter><ogc:And><ogc:{low_op}><ogc:PropertyName>{escape(field)}</ogc:PropertyName>"
        f"<ogc:Literal>{lower!r}</ogc:Literal></ogc:{low_op}>"
        f"<ogc:PropertyIsLessThanOrEqualTo><ogc:PropertyName>{escape(field)}</ogc:PropertyName>"
        f"<ogc:Literal>{upper!r}</ogc:Literal></ogc:PropertyIsLessThanOrEqualTo></ogc:And></ogc:Filter>"
    )


# --- the styles -----------------------------------------------------------------------------------


def _gistar(frame, layer: str, field: str = "gi_bin", outline: bool | None = None) -> Style:
    """Categorised Gi* bins. Options: ``field`` (default ``gi_bin``), ``outline`` (grey edges; default: on for
    areas such as LSOAs, whose borders an analyst needs to see, off for grid cells)."""
    kind = _geometry_kind(frame)
    if outline is None:
        outline = kind == "fill" and not _is_grid(frame)
    cats = [
        # Without outline, each cell is edged in its own colour: an unstroked fill leaves anti-aliasing
        # seams between neighbouring cells that read as a grid.
        (
            value,
            label,
            _Symbol(kind, stroke=colour, stroke_width_mm=0.9)
            if kind == "line"
            else _Symbol(
                kind, fill=colour, stroke="#616161" if outline else colour, stroke_width_mm=0.2 if outline else 0.1
            ),
        )
        for value, colour, label in GISTAR_CLASSES
    ]
    qml = _qml_document(_categorized_renderer(field, cats))
    sld = _sld_document(layer, [(label, _sld_equals(field, value), sym) for value, label, sym in cats])
    return Style("gistar", qml, sld, "Getis-Ord Gi* hot and cold spots by confidence (99/95/90 %)")


def _trends(frame, layer: str, field: str = "category") -> Style:
    """Categorised emerging hot spot patterns. Options: ``field`` (default ``category``)."""
    kind = _geometry_kind(frame)
    cats = [
        (name, name[0].upper() + name[1:], _Symbol(kind, fill=colour, stroke=colour, stroke_width_mm=0.1))
        for name, colour in TRENDS_CLASSES
    ]
    qml = _qml_document(_categorized_renderer(field, cats))
    sld = _sld_document(layer, [(label, _sld_equals(field, value), sym) for value, label, sym in cats])
    return Style("trends", qml, sld, "Emerging hot spot patterns (new, consecutive, intensifying ...)")


def _is_grid(frame) -> bool:
    """True when every polygon is the same size (grid cells), False for areas such as LSOAs or wards."""
    if frame is None or len(frame) < 2 or not hasattr(frame, "geometry"):
        return True
    import shapely

    area = shapely.area(np.asarray(frame.geometry.values))  # what GeoSeries.area returns, without building a Series
    return bool(np.ptp(area) <= 1e-6 * max(float(area.max()), 1.0))


def _ranked(
    frame,
    layer: str,
    field: str = "rank",
    colour: str | None = None,
    label_top: int = PLACE_LABELS_TOP,
    style_name: str = "ranked",
    description: str = "Ranked places",
) -> Style:
    """Places graduated by rank (top 5, 6-10, 11-20, the rest: darkest first), outlined, the top
    ``label_top`` (default 10) labelled with their rank. Options: ``field`` (rank field, default ``rank``),
    ``colour`` (one colour for every place instead of the rank classes), ``label_top``.
    Without a numeric ``field`` in the data, every place gets one symbol."""
    kind = _geometry_kind(frame)

    def symbol(fill: str, level: int = 0) -> _Symbol:
        if kind == "marker":
            return _Symbol("marker", fill=fill, stroke="#ffffff", stroke_width_mm=0.4, size_mm=3.5 - 0.5 * level)
        if kind == "line":
            return _Symbol("line", stroke=fill, stroke_width_mm=1.2 - 0.2 * level)
        # Every place outlined, so even the palest class reads against the surface under it; the outline
        # thins and pales down the ranks, or at county scale the lower ranks' edges would all read as top 5.
        stroke, width = (("#3f007d", 0.6), ("#3f007d", 0.45), ("#54278f", 0.3), ("#807dba", 0.2))[min(level, 3)]
        return _Symbol("fill", fill=fill, fill_alpha=0.6, stroke=stroke, stroke_width_mm=width)

    graded = (
        colour is None
        and frame is not None
        and field in getattr(frame, "columns", ())
        and np.issubdtype(np.asarray(frame[field]).dtype, np.number)
    )
    label = f'if("{field}" <= {int(label_top)}, "{field}", \'\')'
    labeling = _labeling_qml(label, kind, is_expression=True)
    if graded:
        ranges = [
            (lo - 0.5, hi + 0.5, text, symbol(fill, level)) for level, (lo, hi, fill, text) in enumerate(PLACE_CLASSES)
        ]
        qml = _qml_document(_graduated_renderer(field, ranges, mode="manual"), labeling, labels_enabled=True)
        rules = [(text, _sld_between(field, lo, hi, i == 0), sym) for i, (lo, hi, text, sym) in enumerate(ranges)]
    else:
        sym = symbol(colour or PLACE_CLASSES[0][2])
        qml = _qml_document(_single_renderer(sym), labeling, labels_enabled=True)
        rules = [(description, "", sym)]
    sld = _sld_document(layer, rules, label_field=field)
    return Style(style_name, qml, sld, f"{description} by {field}, the top {label_top} labelled")


def _places(name: str, description: str):
    def build(frame, layer: str, **options) -> Style:
        return _ranked(frame, layer, style_name=name, description=description, **options)

    build.__doc__ = f"{description}: as ``ranked`` (graduated by ``rank``, top 10 labelled). Same options."
    return build


def _factor(frame, layer: str, colour: str = FACTOR_COLOURS[0]) -> Style:
    """A risk factor's features (points, lines or areas) in one Okabe-Ito colour. Option: ``colour``."""
    kind = _geometry_kind(frame)
    if kind == "marker":
        symbol = _Symbol("marker", fill=colour, stroke="#ffffff", stroke_width_mm=0.2, size_mm=2.0)
    elif kind == "line":
        symbol = _Symbol("line", stroke=colour, stroke_width_mm=0.6)
    else:
        symbol = _Symbol("fill", fill=colour, fill_alpha=0.35, stroke=colour, stroke_width_mm=0.4)
    qml = _qml_document(_single_renderer(symbol))
    sld = _sld_document(layer, [(layer, "", symbol)])
    return Style("factor", qml, sld, f"Risk factor {layer.removeprefix('factor_')}")


def _numeric_field(frame, preferred: tuple[str, ...] = ("count", "rate", "value", "risk")) -> str | None:
    if frame is None:
        return None
    for name in preferred:
        if name in frame.columns and np.issubdtype(np.asarray(frame[name]).dtype, np.number):
            return name
    for name in frame.columns:
        if name != "geometry" and np.issubdtype(np.asarray(frame[name]).dtype, np.number):
            return name
    return None


def quantile_breaks(values, classes: int = 5) -> list[float]:
    """Class edges (``classes + 1`` ascending values, duplicates removed) splitting ``values`` into quantile classes.

    NaN values are ignored. Fewer distinct values than ``classes`` give fewer classes.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [0.0, 1.0]
    edges = np.unique(np.quantile(v, np.linspace(0.0, 1.0, classes + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0] + 1.0]) if edges[0] == 0 else np.array([edges[0], edges[0]])
    return [float(e) for e in edges]


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.3g}"


def _areas(frame, layer: str, field: str | None = None, classes: int = 5, breaks: list[float] | None = None) -> Style:
    """Graduated colour. Options: ``field`` (default ``count``, else the first numeric column),
    ``classes`` (quantile classes, default 5), ``breaks`` (explicit ascending class edges, overrides ``classes``)."""
    field = field or _numeric_field(frame)
    if field is None:
        raise HotspotInputError(
            f"style 'areas' for layer {layer!r} needs a numeric field; pass ('areas', {{'field': NAME}})"
        )
    if breaks is None:
        if frame is None or field not in frame.columns:
            raise HotspotInputError(f"style 'areas' for layer {layer!r}: field {field!r} is not in the layer")
        breaks = quantile_breaks(frame[field].to_numpy(dtype=np.float64, na_value=np.nan), classes)
    breaks = [float(b) for b in breaks]
    n = max(len(breaks) - 1, 1)
    palette = [YLORRD[min(int(round(i * (len(YLORRD) - 1) / max(n - 1, 1))), len(YLORRD) - 1)] for i in range(n)]
    kind = _geometry_kind(frame)
    # lines (street segments) carry the class colour in the stroke itself, drawn wide enough to read
    ranges = [
        (
            breaks[i],
            breaks[i + 1] if i + 1 < len(breaks) else breaks[i],
            f"{_fmt(breaks[i])} - {_fmt(breaks[min(i + 1, len(breaks) - 1)])}",
            _Symbol(kind, stroke=palette[i], stroke_width_mm=0.9)
            if kind == "line"
            else _Symbol(kind, fill=palette[i], stroke="#6e6e6e", stroke_width_mm=0.15),
        )
        for i in range(n)
    ]
    qml = _qml_document(_graduated_renderer(field, ranges))
    sld = _sld_document(
        layer, [(label, _sld_between(field, lo, hi, i == 0), sym) for i, (lo, hi, label, sym) in enumerate(ranges)]
    )
    return Style("areas", qml, sld, f"{field} in {n} quantile classes")


_VECTOR_STYLES: dict[str, Callable[..., Style]] = {
    "gistar": _gistar,
    "ranked": _ranked,
    "trends": _trends,
    "areas": _areas,
    "kde_hotspots": _places("kde_hotspots", "Kernel density hot-spot areas"),
    "priority_places": _places("priority_places", "Risk terrain priority places"),
    "factor": _factor,
}

RASTER_STYLES = ("raster_ramp", "raster_gistar_bins")
"""Styles for GeoTIFFs (``write_geotiff(style=...)``), written as ``.qml`` sidecars."""

STYLE_NAMES = tuple(_VECTOR_STYLES) + RASTER_STYLES
"""Every style name :func:`build_style` and the writers accept."""


def build_style(name: str, frame=None, layer: str | None = None, **options) -> Style:
    """Build the named vector style for one layer.

    Parameters
    ----------
    name : str
        A vector style from the registry (``gistar``, ``ranked``, ``areas``, ``kde_hotspots``,
        ``priority_places``). ``raster_ramp`` is built by :func:`raster_ramp_qml` instead.
    frame : GeoDataFrame, optional
        The layer's data; used for the geometry type (fill / marker / line symbol) and for
        data-driven class breaks. Default None: polygon symbols, and ``areas`` then needs ``breaks``.
    layer : str, optional
        The layer name written into the SLD; default the style name.
    **options
        Style-specific options, documented on each style (e.g. ``field`` for ``areas``).
    """
    if name in RASTER_STYLES:
        raise HotspotInputError(f"style {name!r} is for GeoTIFFs: pass style={name!r} to write_geotiff")
    if name not in _VECTOR_STYLES:
        raise HotspotInputError(f"unknown style {name!r}; choose one of {', '.join(STYLE_NAMES)}")
    try:
        return _VECTOR_STYLES[name](frame, layer or name, **options)
    except TypeError as exc:
        raise HotspotInputError(f"style {name!r}: {exc}") from None


def raster_ramp_qml(
    array=None,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    ramp: str = "density",
    nodata: float | None = None,
    transparent_below_min: bool = True,
    stretch: str = "quantile",
) -> str:
    """A single-band pseudocolour QML for a GeoTIFF, with the ramp stretched over the data.

    Parameters
    ----------
    array : array-like, optional
        The band's values; ``vmin``/``vmax`` default to its finite minimum and maximum
        (``nodata`` cells ignored). Needed unless both ``vmin`` and ``vmax`` are given.
    vmin, vmax : float, optional
        Ramp limits in the band's units. Default: from ``array``.
    ramp : str
        A name in :data:`RAMPS`: ``density`` (default, for KDE), ``risk`` (for RTM), ``viridis``.
    nodata : float, optional
        Value excluded from the min/max. Default None.
    transparent_below_min : bool
        Draw cells at the minimum fully transparent (default True) so the
        near-zero background of a density surface does not hide the boundaries under it.
    stretch : str
        ``quantile`` (default; see :func:`ramp_stops`) or ``linear`` (colours evenly from ``vmin`` to ``vmax``).
    """
    if ramp not in RAMPS:
        raise HotspotInputError(f"unknown colour ramp {ramp!r}; choose one of {', '.join(RAMPS)}")
    if stretch not in ("quantile", "linear"):
        raise HotspotInputError(f"unknown stretch {stretch!r}; choose quantile or linear")
    colours = RAMPS[ramp]
    finite = np.zeros(0)
    # limits given and a linear ramp (the Gi* z and p surfaces): the data are not looked at
    if array is not None and (vmin is None or vmax is None or stretch == "quantile"):
        data = np.asarray(array, dtype=np.float64)
        finite = data[np.isfinite(data)]
        if nodata is not None:
            finite = finite[finite != nodata]
    if vmin is None or vmax is None:
        if array is None:
            raise HotspotInputError("raster_ramp needs the data or both vmin and vmax")
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    vmin, vmax = float(vmin), float(vmax)
    if not vmax > vmin:
        vmax = vmin + 1.0  # a flat surface still needs a non-empty ramp to draw at all
    stops = ramp_stops(finite, vmin, vmax, len(colours), stretch)
    items = []
    for i, (value, colour) in enumerate(zip(stops, colours)):
        alpha = 0 if (i == 0 and transparent_below_min) else 255
        items.append(
            f'          <item alpha="{alpha}" value="{float(value)!r}" label={quoteattr(f"{value:,.4g}")} color="{colour}"/>\n'
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION_TAG}" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0">\n'
        "  <pipe>\n"
        f'    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
        f'classificationMin="{vmin!r}" classificationMax="{vmax!r}" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Exact</statAccuracy>"
        "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        "      <rastershader>\n"
        f'        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        f'minimumValue="{vmin!r}" maximumValue="{vmax!r}" labelPrecision="4">\n'
        + "".join(items)
        + "        </colorrampshader>\n"
        "      </rastershader>\n" + _RASTER_QML_TAIL
    )


def ramp_stops(values, vmin: float, vmax: float, n: int, stretch: str = "quantile") -> np.ndarray:
    """The value at each of ``n`` colours of a ramp, ascending from ``vmin`` to ``vmax``.

    ``linear`` spaces them evenly. ``quantile`` puts colour k (k = 1 .. n-2) at the quantile 1 - 2^-k of the
    cells above ``vmin`` (the median, the 75th, 87.5th ... percentile): each colour step up holds half the
    cells of the one below, the top colour only the peak's surroundings. A linear ramp on a county density
    surface paints everything but the town centres in the palest colour; this one shows estates and
    villages too. Falls back to linear where the data have too few distinct values.
    """
    linear = np.linspace(vmin, vmax, n)
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > vmin) & (v <= vmax)]
    if stretch == "linear" or v.size < n or n < 3:
        return linear
    if v.size > 4_000_000:  # a national surface: a regular sample gives the same quantiles to the colour
        v = v[:: v.size // 2_000_000]
    inner = np.quantile(v, 1.0 - 0.5 ** np.arange(1, n - 1))
    stops = np.concatenate([[vmin], inner, [vmax]])
    if not np.all(np.diff(stops) > 0):
        return linear
    return stops


def raster_gistar_bins_qml(not_significant_alpha: int = 0) -> str:
    """A paletted QML for a Gi* bin GeoTIFF (values -3..3): the colours and labels of the ``gistar`` layer style.

    ``not_significant_alpha`` (0..255, default 0) is the opacity of bin 0: transparent by default, so
    the basemap shows between the hot and cold spots.
    """
    entries = "".join(
        f'        <paletteEntry value="{value}" color="{colour}" alpha="{not_significant_alpha if value == 0 else 255}" '
        f"label={quoteattr(label)}/>\n"
        for value, colour, label in GISTAR_CLASSES
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION_TAG}" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0">\n'
        "  <pipe>\n"
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>"
        "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        "      <colorPalette>\n" + entries + "      </colorPalette>\n" + _RASTER_QML_TAIL
    )


def resolve_style_spec(spec) -> tuple[str, dict]:
    """``"name"`` or ``("name", {options})`` -> ``(name, options)``; bad specs raise HotspotInputError."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], Mapping):
        return spec[0], dict(spec[1])
    raise HotspotInputError(f"a style is a name or (name, options), got {spec!r}")


DEFAULT_LAYER_STYLES: dict[str, str] = {
    "gistar": "gistar",
    "gistar_cells": "gistar",
    "ranked": "ranked",
    "trends": "trends",
    "gistar_places": "ranked",
    "areas": "areas",
    "kde_hotspots": "kde_hotspots",
    "priority_places": "priority_places",
}
"""The style each well-known layer name gets from :func:`default_styles`."""


def default_styles(layers: Mapping[str, object]) -> dict[str, object]:
    """The ``styles=`` argument for :func:`hotspot.io.outputs.write_geopackage` that styles every well-known layer.

    ``layers`` is the mapping about to be written; layers named as in :data:`DEFAULT_LAYER_STYLES`
    (``gistar``, ``ranked``, ``areas``, ``kde_hotspots``, ``priority_places``, national ``gistar_cells`` and
    ``gistar_places``) that are spatial get their style; ``areas`` only when it has a numeric column to grade;
    RTM ``factor_<name>`` layers each get ``factor`` in their own Okabe-Ito colour. Other layers are unstyled.
    """
    chosen: dict[str, object] = {}
    factors = 0
    for name, frame in layers.items():
        if name.startswith("factor_") and hasattr(frame, "geometry") and hasattr(frame, "crs"):
            chosen[name] = ("factor", {"colour": FACTOR_COLOURS[factors % len(FACTOR_COLOURS)]})
            factors += 1
            continue
        style = DEFAULT_LAYER_STYLES.get(name)
        if style is None or not hasattr(frame, "geometry") or not hasattr(frame, "crs"):
            continue
        if style == "areas" and _numeric_field(frame) is None:
            continue
        chosen[name] = style
    return chosen
