"""Open a hotspot QGIS project in real QGIS, headless, and report what QGIS made of it as JSON.

Run with Debian's Python (which has PyQGIS), not the project venv::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/support/qgis_project_check.py RUN.qgs RENDER.png

Prints one JSON object: whether the project read, its title, metadata abstract and CRS, the layer
tree (groups and layers, top first), each layer's validity, renderer type, label state and
feature count, the canvas extent and the union of the layers' extents; then renders every layer
to RENDER.png and reports the share of non-white pixels. The pytest side (tests/cli/test_qgis_project.py)
makes the assertions. Stdlib + PyQGIS only.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    project_path, png = argv[0], argv[1]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import (
        QgsApplication,
        QgsLayerTreeGroup,
        QgsLayerTreeLayer,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsProject,
        QgsRectangle,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    report: dict = {"read": bool(project.read(project_path))}
    report["title"] = project.title()
    report["abstract"] = project.metadata().abstract()
    report["crs"] = project.crs().authid()
    tree = []
    for group in project.layerTreeRoot().children():
        if isinstance(group, QgsLayerTreeGroup):
            tree.append([group.name(), [c.name() for c in group.children() if isinstance(c, QgsLayerTreeLayer)]])
    report["tree"] = tree
    layers = {}
    extent = QgsRectangle()
    extent.setMinimal()
    for layer in project.mapLayers().values():
        entry = {"valid": layer.isValid(), "type": "vector" if layer.type() == 0 else "raster"}
        if layer.type() == 0:
            entry["renderer"] = layer.renderer().type() if layer.renderer() else None
            entry["labels"] = bool(layer.labelsEnabled())
            entry["features"] = layer.featureCount()
            if layer.renderer() and layer.renderer().type() == "graduatedSymbol":
                entry["attr"] = layer.renderer().classAttribute()
                entry["classes"] = len(layer.renderer().ranges())
            if layer.renderer() and layer.renderer().type() == "categorizedSymbol":
                entry["attr"] = layer.renderer().classAttribute()
                entry["classes"] = len(layer.renderer().categories())
        else:
            entry["renderer"] = layer.renderer().type() if layer.renderer() else None
        if layer.isValid() and not layer.extent().isEmpty():
            extent.combineExtentWith(layer.extent())
        layers[layer.name()] = entry
    report["layers"] = layers
    canvas = project.viewSettings().defaultViewExtent()
    report["canvas_extent"] = [canvas.xMinimum(), canvas.yMinimum(), canvas.xMaximum(), canvas.yMaximum()]
    report["layers_extent"] = [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()]

    settings = QgsMapSettings()
    ordered = [n.layer() for n in project.layerTreeRoot().findLayers()]
    settings.setLayers(ordered)
    settings.setDestinationCrs(project.crs())
    settings.setOutputSize(QSize(900, 700))
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png)
    step = 5
    drawn = sum(
        1
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
        if image.pixelColor(x, y) != QColor(255, 255, 255)
    )
    report["drawn_share"] = drawn / ((image.width() // step + 1) * (image.height() // step + 1))
    print(json.dumps(report))
    sys.stdout.flush()
    # PyQGIS can crash while tearing down offscreen; the report is out, so leave without teardown.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
