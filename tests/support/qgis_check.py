"""Open hotspot's outputs in real QGIS, headless, the way an analyst's QGIS would.

Run with Debian's Python (which has PyQGIS), not the project venv::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/support/qgis_check.py OUT.gpkg OUT.tif RENDER.png [--expect LAYER=RENDERER:COUNT ...]

Checks, for every spatial layer of the GeoPackage: it loads and is valid, its default style from
``layer_styles`` is applied (the renderer type given by ``--expect``; labels on for ``ranked``),
and it has the expected number of features. The GeoTIFF must load valid with its ``.qml``
sidecar applied (a single-band pseudocolour renderer). Then all layers are rendered to
RENDER.png, which must not be blank. Prints one line per check; exits 1 with a message on the
first failure. Stdlib + PyQGIS only.
"""

from __future__ import annotations

import os
import sqlite3
import sys


def fail(message: str) -> None:
    print(f"QGIS CHECK FAILED: {message}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)  # not sys.exit: see the note at the bottom on PyQGIS teardown


def spatial_layers(gpkg: str) -> list[str]:
    with sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True) as db:
        return [
            r[0]
            for r in db.execute("SELECT table_name FROM gpkg_contents WHERE data_type='features' ORDER BY table_name")
        ]


def check_top_labels(layer, top: int = 10) -> None:
    """The label expression, evaluated by QGIS on each feature, gives the rank for the top places and nothing else."""
    from qgis.core import QgsExpression, QgsExpressionContext, QgsExpressionContextUtils

    settings = layer.labeling().settings()
    text = settings.fieldName if settings.isExpression else f'"{settings.fieldName}"'
    expression = QgsExpression(text)
    context = QgsExpressionContext()
    context.appendScopes(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    for feature in layer.getFeatures():
        context.setFeature(feature)
        value = expression.evaluate(context)
        rank = int(feature["rank"])
        want = str(rank) if rank <= top else ""
        got = "" if value is None or str(value) in ("", "NULL") else str(int(float(value)))
        if got != want:
            fail(f"layer {layer.name()}: rank {rank} labelled {got!r}, expected {want!r} (only the top {top} labelled)")
    print(f"  labels: only ranks <= {top} labelled")


def parse_expectations(args: list[str]) -> dict[str, tuple[str, int | None]]:
    expected = {}
    for arg in args:
        layer, _, rest = arg.partition("=")
        renderer, _, count = rest.partition(":")
        expected[layer] = (renderer, int(count) if count else None)
    return expected


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        fail("usage: qgis_check.py OUT.gpkg OUT.tif RENDER.png [--expect LAYER=RENDERER:COUNT ...]")
    gpkg, tif, png = argv[0], argv[1], argv[2]
    rest = argv[3:]
    expect_args = [rest[i + 1] for i, a in enumerate(rest) if a == "--expect" and i + 1 < len(rest)]
    expected = parse_expectations(expect_args)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import (
        QgsApplication,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsRasterLayer,
        QgsRectangle,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    app = QgsApplication([], False)
    app.initQgis()
    try:
        from qgis.core import Qgis

        print(f"QGIS {Qgis.QGIS_VERSION}")
        layers = []
        names = spatial_layers(gpkg)
        if not names:
            fail(f"{gpkg} has no feature layers")
        missing = sorted(set(expected) - set(names))
        if missing:
            fail(f"{gpkg} lacks expected layers: {', '.join(missing)}")
        for name in names:
            layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
            if not layer.isValid():
                fail(f"layer {name} is not valid in QGIS")
            if not layer.crs().isValid() or layer.crs().isGeographic():
                fail(f"layer {name} has CRS {layer.crs().authid()!r}; expected a valid projected CRS")
            renderer = layer.renderer().type() if layer.renderer() else None
            count = layer.featureCount()
            labels = layer.labelsEnabled()
            print(
                f"layer {name}: valid, crs {layer.crs().authid()}, {count} features, renderer {renderer}, labels {labels}"
            )
            if name in expected:
                want_renderer, want_count = expected[name]
                if want_renderer and renderer != want_renderer:
                    fail(f"layer {name}: default style not applied (renderer {renderer}, expected {want_renderer})")
                if want_count is not None and count != want_count:
                    fail(f"layer {name}: {count} features, expected {want_count}")
                if name == "ranked" and not labels:
                    fail("layer ranked: labels are not enabled; the default style should label by rank")
                if name == "ranked" and labels:
                    check_top_labels(layer)
                if renderer == "categorizedSymbol":
                    cats = layer.renderer().categories()
                    legend = [c.label() for c in cats]
                    print(f"  legend: {legend}")
                    if not any("99 %" in label for label in legend):
                        fail(f"layer {name}: legend lacks the 99 % classes: {legend}")
            layers.append(layer)

        raster = QgsRasterLayer(tif, "raster", "gdal")
        if not raster.isValid():
            fail(f"{tif} is not a valid raster in QGIS")
        raster_renderer = raster.renderer().type() if raster.renderer() else None
        print(
            f"raster: valid, crs {raster.crs().authid()}, {raster.width()}x{raster.height()}, renderer {raster_renderer}"
        )
        if os.path.exists(os.path.splitext(tif)[0] + ".qml") and raster_renderer != "singlebandpseudocolor":
            fail(f"raster: the .qml sidecar was not applied (renderer {raster_renderer})")

        settings = QgsMapSettings()
        # QgsMapSettings draws the first layer on top: points of interest over hot spots over areas over the raster.
        order = {"ranked": 0, "priority_places": 1, "kde_hotspots": 2, "gistar": 3, "areas": 9}
        layers.sort(key=lambda lyr: order.get(lyr.name(), 5))
        settings.setLayers(layers + [raster])
        settings.setDestinationCrs(layers[0].crs())
        extent = QgsRectangle(raster.extent())
        for layer in layers:
            extent.combineExtentWith(layer.extent())
        extent.scale(1.05)
        settings.setExtent(extent)
        settings.setOutputSize(QSize(800, 600))
        settings.setBackgroundColor(QColor(255, 255, 255))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage()
        if image.isNull():
            fail("rendering produced no image")
        if not image.save(png, "PNG"):
            fail(f"could not save {png}")
        colours = set()
        for y in range(0, image.height(), 7):
            for x in range(0, image.width(), 7):
                colours.add(image.pixel(x, y))
                if len(colours) > 8:
                    break
        if len(colours) <= 2:
            fail(f"the rendered map {png} is blank ({len(colours)} colour(s))")
        print(f"rendered {png}: {image.width()}x{image.height()}, not blank")
    except SystemExit:
        raise
    except Exception as exc:  # any PyQGIS error is a failed check, reported in one line
        fail(f"{type(exc).__name__}: {exc}")
    print("QGIS CHECK OK")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # PyQGIS often segfaults while tearing down layers at interpreter exit; the checks are done
    # and reported by now, so leave without running the teardown.
    os._exit(code)
