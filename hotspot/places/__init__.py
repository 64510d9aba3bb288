"""Places to act on: ``rank_places`` scores cells by any method, merges them into places, names
them and says when they peak; tables formatted for a terminal; hot polygons from a surface.

May import: everything below it (core, io, ingest, stats, spacetime, :mod:`rtm`, forecast).
"""
