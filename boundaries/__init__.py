"""The embedded demo town "Demoton": its boundaries (LSOAs, wards, outline), streets, features and
records with an exactly known crime model (:mod:`boundaries.demo`).

Reading real area boundaries (LSOAs, wards, force areas) is ingest's job:
:func:`hotspot.ingest.boundaries.read_boundaries`. This package sits at the top of the layers: it
builds inputs the way a user would, with the library below it; only the CLI and tests import it.
"""
