"""Area boundaries (LSOAs, wards, force areas) and the embedded demo town.

- :mod:`boundaries.load`: ``read_boundaries`` reads area polygons and standardises them to
  ``area_code, area_name, geometry`` in a projected CRS.
- :mod:`boundaries.demo.town`: ``demo_town`` builds the synthetic town "Demoton" with an exactly known,
  exported crime model; ``write_demo`` writes it as ordinary input files.
"""
