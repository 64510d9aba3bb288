"""Street networks: read road layers, clean them into a routable graph of lixels, snap records to them,
and compute network statistics (counts, network KDE, Gi* with network-distance neighbourhoods, ranked
street stretches, network risk factors).

Modules, each with one job:

- :mod:`~hotspot.network.read`: read GeoPackage/GeoJSON/Shapefile road layers and ``.osm.pbf``;
- :mod:`~hotspot.network.graph`: clean lines into a junction graph and lixels;
- :mod:`~hotspot.network.snap`: snap records to lixels within a tolerance, counting what does not snap;
- :mod:`~hotspot.network.nkde`: network kernel density (simple, discontinuous, continuous);
- :mod:`~hotspot.network.gistar`: Gi* per lixel with network-distance neighbourhoods;
- :mod:`~hotspot.network.stretches`: merge adjacent hot lixels into named street stretches;
- :mod:`~hotspot.places.segments`: ``rank --over segments``;
- :mod:`~hotspot.network.factors`: risk factors measured along the network (unlit streets, distance to features);
- :mod:`~hotspot.network.study`: load the network for a study and snap its records (what the CLI calls).
"""
