"""The statistics: Getis-Ord Gi* (grids and areas), kernel density, spatial weights and bands,
multiple testing, area rates and concentration, bandwidth choice, harm weights and forecast accuracy.

May import: :mod:`hotspot.core`, :mod:`hotspot.kernels`, :mod:`hotspot.io`, :mod:`hotspot.ingest`.
"""
