"""Space and time: emerging hot spots and near-repeats.

One statistic per module:

============================  ====================================================================
module                        job
============================  ====================================================================
``cube``                      records counted per (time slice, grid cell or area)
``stgistar``                  space-time Getis-Ord Gi* of every bin of a cube
``mannkendall``               the Mann-Kendall trend test, vectorised over locations
``emerging``                  ArcGIS's emerging hot spot categories from Gi* and Mann-Kendall
``trends``                    a study's records to emerging hot spots (``hotspot trends``)
``knox``                      the Knox near-repeat test as the Near Repeat Calculator reports it
``interaction``               the near-repeat surface: per-cell scores for forecasting
============================  ====================================================================

Numba kernels live in :mod:`hotspot.kernels.spacetime` (and the Gi* stencil in
:mod:`hotspot.kernels.gistar`).
"""
