"""Style generation: every style is well-formed XML with the right renderer and data-driven limits."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from hotspot.errors import HotspotInputError
from hotspot.grid import Grid
from hotspot.styles import GISTAR_CLASSES, STYLE_NAMES, build_style, quantile_breaks, raster_ramp_qml, resolve_style_spec


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
        if name == "raster_ramp":
            continue
        style = build_style(name, cells())
        assert qml_root(style.qml).tag == "qgis"
        assert ET.fromstring(style.sld.encode()).tag.endswith("StyledLayerDescriptor")


def test_ranked_labels_by_rank_and_uses_markers_for_points():
    style = build_style("ranked", points())
    root = qml_root(style.qml)
    assert root.get("labelsEnabled") == "1"
    assert root.find("labeling/settings/text-style").get("fieldName") == "rank"
    assert root.find("renderer-v2/symbols/symbol").get("type") == "marker"
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

    from hotspot.styles import default_styles

    frame = cells()
    layers = {"gistar": frame, "areas": frame[["geometry"]], "ranked": points(), "lorenz": pd.DataFrame({"x": [1]}),
              "priority_places": frame, "factor_bars": frame}
    assert default_styles(layers) == {"gistar": "gistar", "ranked": "ranked", "priority_places": "priority_places"}
    assert default_styles({"areas": frame}) == {"areas": "areas"}
