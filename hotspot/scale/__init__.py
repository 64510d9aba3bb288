"""Scale: tiles with overlapping halos, tiled KDE and Gi*, streaming ingest of national extracts,
the national run, the optional Dask engine and the synthetic national generator.

May import: core, kernels, io, ingest, stats.
"""
