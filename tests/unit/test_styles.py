"""Style generation: every style is well-formed XML with the right renderer and data-driven limits."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.grid import Grid
from hotspot.io.styles import (
    GISTAR_CLASSES,
    RASTER_STYLES,
    STYLE_NAMES,
    build_style,
    quantile_breaks,
    raster_gistar_bins_qml,
    raster_ramp_qml,
    resolve_style_spec,
)


def qml_root(text: str) -> ET.Element:
    return ET.fromstring(text.split("\n", 1)[1])  # drop the DOCTYPE line, which ElementTree cannot resolve


def cells():
    grid = Grid(0.0, 1000.0, 100.0, 10, 10)
    values = np.arange(grid.size, dtype=float).reshape(grid.shape)
    return grid.to_geodataframe({"count": values, "gi_bin": (values.astype(int) % 7) - 3})


def points():
    import geopandas as gpd
    import shapely

    return gpd.GeoDataFrame({"rank": [1, 2]}, geometry=shapely.points([10.0, 20.0], [10.0, 20.0]), crs="EPSG:27700")


def test_gistar_has_seven_categories_in_diverging_colours():
    root = qml_root(build_style("gistar", cells()).qml)
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "gi_bin"
    cats = renderer.findall("categories/category")
    assert [c.get("value") for c in cats] == ["3", "2", "1", "0", "-1", "-2", "-3"]
    assert cats[0].get("label") == "Hot spot - 99 % confidence"
    assert cats[3].get("label") == "Not significant"
    assert cats[6].get("label") == "Cold spot - 99 % confidence"
    colours = {}
    for sym in renderer.findall("symbols/symbol"):
        props = {o.get("name"): o.get("value") for o in sym.find("layer/Option")}
        r, g, b, _ = (int(v) for v in props["color"].split(","))
        colours[int(sym.get("name"))] = (r, g, b)
    hot99, cold99, grey = colours[0], colours[6], colours[3]
    assert hot99[0] > hot99[2] and cold99[2] > cold99[0]  # red is red, blue is blue
    assert max(grey) - min(grey) < 10  # not significant is neutral grey


def test_every_vector_style_is_valid_xml_with_sld():
    for name in STYLE_NAMES:
        if name in RASTER_STYLES:
            continue
        style = build_style(name, cells())
        assert qml_root(style.qml).tag == "qgis"
        assert ET.fromstring(style.sld.encode()).tag.endswith("StyledLayerDescriptor")


def test_ranked_labels_by_rank_and_uses_markers_for_points():
    style = build_style("ranked", points())
    root = qml_root(style.qml)
    assert root.get("labelsEnabled") == "1"
    # Only the top 10 are labelled: a county map with every one of 700 ranks on it is a pile of numbers.
    text = root.find("labeling/settings/text-style")
    assert text.get("isExpression") == "1" and text.get("fieldName") == 'if("rank" <= 10, "rank", \'\')'
    assert root.find("renderer-v2/symbols/symbol").get("type") == "marker"
    # Graduated by rank: top 5, 6-10, 11-20, the rest, darkest first.
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "rank"
    bounds = [(float(r.get("lower")), float(r.get("upper"))) for r in renderer.findall("ranges/range")]
    assert bounds[:3] == [(0.5, 5.5), (5.5, 10.5), (10.5, 20.5)]
    assert "<se:TextSymbolizer>" in style.sld and "<ogc:PropertyName>rank</ogc:PropertyName>" in style.sld


def test_areas_breaks_follow_the_data_and_cover_it():
    frame = cells()
    root = qml_root(build_style("areas", frame, field="count", classes=4).qml)
    ranges = root.findall("renderer-v2/ranges/range")
    assert len(ranges) == 4
    assert float(ranges[0].get("lower")) == 0.0 and float(ranges[-1].get("upper")) == 99.0
    uppers = [float(r.get("upper")) for r in ranges]
    assert uppers == sorted(uppers)


def test_areas_without_numeric_field_is_a_clear_error():
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:27700")
    with pytest.raises(HotspotInputError, match="numeric field"):
        build_style("areas", frame)


def test_quantile_breaks_handles_constant_and_missing_values():
    assert quantile_breaks([np.nan, np.nan]) == [0.0, 1.0]
    assert quantile_breaks([0, 0, 0]) == [0.0, 1.0]
    assert quantile_breaks([1, 2, 3, 4, 5], classes=2) == [1.0, 3.0, 5.0]


def test_raster_ramp_limits_come_from_the_data_ignoring_nodata():
    data = np.array([[1.5, 2.0], [-9999.0, np.nan]])
    root = qml_root(raster_ramp_qml(data, nodata=-9999.0))
    shader = root.find("pipe/rasterrenderer/rastershader/colorrampshader")
    assert float(shader.get("minimumValue")) == 1.5 and float(shader.get("maximumValue")) == 2.0
    items = shader.findall("item")
    assert float(items[0].get("value")) == 1.5 and float(items[-1].get("value")) == 2.0
    assert items[0].get("alpha") == "0" and items[-1].get("alpha") == "255"


def test_flat_raster_still_gets_a_drawable_ramp():
    root = qml_root(raster_ramp_qml(np.zeros((3, 3))))
    shader = root.find("pipe/rasterrenderer/rastershader/colorrampshader")
    assert float(shader.get("maximumValue")) > float(shader.get("minimumValue"))


def test_unknown_names_and_options_are_clear_errors():
    with pytest.raises(HotspotInputError, match="unknown style"):
        build_style("heatmap", cells())
    with pytest.raises(HotspotInputError, match="gistar"):
        build_style("gistar", cells(), colour_scheme="x")
    with pytest.raises(HotspotInputError, match="ramp"):
        raster_ramp_qml(np.ones((2, 2)), ramp="rainbow")
    with pytest.raises(HotspotInputError):
        resolve_style_spec(("areas", "count"))
    assert resolve_style_spec(("areas", {"field": "rate"})) == ("areas", {"field": "rate"})


def test_gistar_classes_cover_all_bins():
    assert sorted(v for v, _, _ in GISTAR_CLASSES) == [-3, -2, -1, 0, 1, 2, 3]


def test_default_styles_pick_known_spatial_layers_only():
    import pandas as pd

    from hotspot.io.styles import default_styles

    frame = cells()
    layers = {
        "gistar": frame,
        "areas": frame[["geometry"]],
        "ranked": points(),
        "lorenz": pd.DataFrame({"x": [1]}),
        "priority_places": frame,
        "factor_bars": frame,
        "factor_pubs": points(),
        "gistar_places": points(),
    }
    assert default_styles(layers) == {
        "gistar": "gistar",
        "ranked": "ranked",
        "priority_places": "priority_places",
        "factor_bars": ("factor", {"colour": "#0072b2"}),
        "factor_pubs": ("factor", {"colour": "#e69f00"}),
        "gistar_places": "ranked",
    }
    assert default_styles({"areas": frame}) == {"areas": "areas"}


def test_raster_ramp_stretches_by_quantiles_so_a_skewed_surface_shows_its_structure():
    # A county density: most cells near zero, a few town-centre cells 100 times higher.
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.exponential(1.0, 20_000), rng.exponential(100.0, 200)])
    shader = qml_root(raster_ramp_qml(data, ramp="density")).find("pipe/rasterrenderer/rastershader/colorrampshader")
    values = np.array([float(i.get("value")) for i in shader.findall("item")])
    assert values[0] == pytest.approx(data.min()) and values[-1] == pytest.approx(data.max())
    # Colour k sits at the 1 - 2^-k quantile: each step up holds half the cells of the one below.
    share_below = [(data <= v).mean() for v in values[1:-1]]
    np.testing.assert_allclose(share_below, 1 - 0.5 ** np.arange(1, len(values) - 1), atol=0.01)
    # A linear ramp would have put 99 % of the cells under its first colour step.
    linear = qml_root(raster_ramp_qml(data, ramp="density", stretch="linear"))
    first_step = float(linear.findall(".//item")[1].get("value"))
    assert (data <= first_step).mean() > 0.98 and (data <= values[1]).mean() < 0.51


def test_gistar_outlines_areas_but_not_grid_cells():
    import geopandas as gpd
    import shapely

    areas = gpd.GeoDataFrame(
        {"gi_bin": [3, 0, -2]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 250, 90), shapely.box(0, 100, 40, 300)],
        crs="EPSG:27700",
    )

    def strokes(frame):
        layers = qml_root(build_style("gistar", frame).qml).findall("renderer-v2/symbols/symbol/layer")
        return {layer.find("Option/Option[@name='outline_color']").get("value") for layer in layers}

    assert strokes(areas) == {"97,97,97,255"}
    assert "97,97,97,255" not in strokes(cells())


# --- colour blindness -------------------------------------------------------------------------------
# Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation of color vision
# deficiency", IEEE TVCG 15(6): the published deuteranopia matrix (severity 1.0), applied in linear RGB.
DEUTERANOPIA = np.array(
    [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
)


def _linear(hex_colours):
    rgb = np.array([[int(h.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)] for h in hex_colours]) / 255.0
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb):
    xyz = (
        np.clip(linear_rgb, 0, 1)
        @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])])


def _as_deuteranope(hex_colours):
    return _lab(_linear(hex_colours) @ DEUTERANOPIA.T)


@pytest.mark.parametrize("ramp", ["density", "risk", "places"])
def test_sequential_ramps_stay_ordered_for_deuteranopes(ramp):
    from hotspot.io.styles import PLACE_CLASSES, RAMPS

    colours = RAMPS[ramp] if ramp != "places" else [c for _, _, c, _ in PLACE_CLASSES][::-1]
    lightness = _as_deuteranope(colours)[:, 0]
    # Seen with deuteranopia, every step of the ramp is still darker than the one before, by a visible amount.
    assert np.all(np.diff(lightness) < -4), lightness


def test_gistar_and_factor_colours_stay_apart_for_deuteranopes():
    from hotspot.io.styles import FACTOR_COLOURS

    for colours, min_delta in (([c for _, c, _ in GISTAR_CLASSES], 10), (FACTOR_COLOURS, 10)):
        lab = _as_deuteranope(colours)
        distance = np.linalg.norm(lab[:, None, :] - lab[None, :, :], axis=-1)
        np.fill_diagonal(distance, np.inf)
        assert distance.min() > min_delta, (colours, distance.min())
    # Hot stays hot: with deuteranopia, the hot bins are still told from the cold ones by lightness and hue (b*).
    lab = _as_deuteranope([c for _, c, _ in GISTAR_CLASSES])
    assert np.all(lab[:2, 2] > 0) and np.all(lab[-2:, 2] < 0)


def test_gistar_bin_raster_style_lists_every_bin_with_the_vector_colours():
    root = qml_root(raster_gistar_bins_qml())
    entries = root.findall(".//colorPalette/paletteEntry")
    assert [(int(e.get("value")), e.get("color"), e.get("label")) for e in entries] == list(GISTAR_CLASSES)
    assert {int(e.get("value")): int(e.get("alpha")) for e in entries}[0] == 0  # not significant: see-through


def test_geometry_types_and_symbol_kind_match_geopandas_type_names():
    """The type names counted from shapely's ids equal ``set(frame.geom_type.dropna())`` for every geometry type,
    missing ones included, and the symbol kind follows them (the class, not the rows, says it is a layer)."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from hotspot.io.styles import _geometry_kind, geometry_types

    pool = [
        shapely.Point(0, 0),
        shapely.LineString([(0, 0), (1, 1)]),
        shapely.box(0, 0, 1, 1),
        shapely.MultiPoint([(0, 0), (1, 1)]),
        shapely.MultiLineString([[(0, 0), (1, 1)]]),
        shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
        shapely.GeometryCollection([shapely.Point(0, 0)]),
        None,
        shapely.LinearRing([(0, 0), (1, 0), (1, 1)]),
    ]
    kinds = {(0,): "marker", (0, 3): "marker", (1,): "line", (1, 4): "line", (2, 5): "fill", (7,): "fill", (6,): "fill"}
    for picks, kind in kinds.items():
        frame = gpd.GeoDataFrame(geometry=[pool[i] for i in picks])
        assert geometry_types(frame) == set(frame.geom_type.dropna())
        assert _geometry_kind(frame) == kind
    everything = gpd.GeoDataFrame(geometry=pool * 3)
    assert geometry_types(everything) == set(everything.geom_type.dropna())
    assert _geometry_kind(pd.DataFrame({"a": [1]})) == _geometry_kind(None) == "fill"
