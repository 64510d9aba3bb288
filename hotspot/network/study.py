"""Put a study on a street network: read and clean the roads, snap the records (what the CLI calls).

With no INPUT and no ``--network`` the CLI uses the street-network demo scenario
(:mod:`boundaries.demo.network`): the demo town's streets with records drawn on them and planted hot segments.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import ProgressCallback
from hotspot.network.graph import DEFAULT_SEGMENT_LENGTH_M
from hotspot.network.snap import DEFAULT_TOLERANCE_M


@dataclass(frozen=True)
class NetworkStudy:
    """A study's records on a network: ``study`` (hotspot.ingest.study.Study), ``network``, ``snapped`` and ``notes``."""

    study: object
    network: object
    snapped: object
    notes: tuple = ()


def network_study(
    study,
    network_path,
    *,
    segment_length_m: float = DEFAULT_SEGMENT_LENGTH_M,
    junctions: str = "vertices",
    snap_tolerance_m: float = DEFAULT_TOLERANCE_M,
    layer: str | None = None,
    progress: ProgressCallback | None = None,
) -> NetworkStudy:
    """Read ``network_path`` in the study's CRS, clean it into lixels and snap the study's records.

    Parameters
    ----------
    study : hotspot.ingest.study.Study
    network_path : path
        Road layer (GeoPackage, GeoJSON, Shapefile or .osm.pbf).
    segment_length_m : float, default 50
        Lixel length, metres.
    junctions : {"vertices", "crossings"}, default "vertices"
        See :func:`hotspot.network.graph.build_network`.
    snap_tolerance_m : float, default 30
        Records farther than this from every street are not snapped (and counted).
    layer : str, optional
        GeoPackage layer of the roads.
    progress : callable, optional
    """
    from hotspot.network.graph import build_network
    from hotspot.network.read import read_roads
    from hotspot.network.snap import snap_points

    if network_path is None:
        raise HotspotInputError(
            "--network ROADS is needed with INPUT records: a GeoPackage, GeoJSON, Shapefile or "
            ".osm.pbf of the streets they lie on"
        )
    roads = read_roads(network_path, layer=layer, crs=study.crs)
    network = build_network(roads, segment_length_m=segment_length_m, junctions=junctions, progress=progress)
    frame = study.records.frame
    snapped = snap_points(network, frame["x"].to_numpy(), frame["y"].to_numpy(), tolerance_m=snap_tolerance_m)
    if len(frame) and snapped.n_snapped == 0:
        raise HotspotInputError(
            f"--network {network_path}: none of the {len(frame):,} records lies within "
            f"{snap_tolerance_m:g} m of its streets; check the network covers the records' area, "
            "or raise --snap-tolerance"
        )
    return NetworkStudy(study=study, network=network, snapped=snapped, notes=network.notes)
