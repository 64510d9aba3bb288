"""Writing results: GeoPackages, GeoTIFFs and CSVs with their QGIS styles, provenance and a QGIS
project; small-number disclosure control for published tables.

May import: :mod:`hotspot.core`.
"""
