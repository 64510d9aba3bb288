"""``rank --over segments``: the street stretches with most crime, for patrols that walk streets.

1. Records are snapped to lixels (:mod:`hotspot.network.snap`); those not snapped are counted and reported.
2. Each lixel is scored: ``count`` (records on it; ties broken by the records within 100 network
   metres) or ``kde`` (network density, discontinuous estimator).
3. Candidate lixels are the best-scoring ones covering the length budget (``length_share`` of the
   network's length, default 2 %, doubled until ``top`` stretches exist when only ``top`` is given).
4. Adjacent candidates of the same street merge into stretches (:mod:`hotspot.network.stretches`),
   ranked by records (ties by records per km).

Each stretch has ``rank``, ``name`` (e.g. "High Street, 120 m from Bute Street to George Street"),
``street``, ``from_street``, ``to_street``, ``count``, ``share``, ``cumulative_share``, ``length_m``,
``per_km`` (records per km of the stretch), ``n_segments``, ``unlit_share`` (share of its length on
unlit streets), its monthly trend (and weekday x hour peak for timed records) and top crime types.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hotspot.core.errors import HotspotInputError
from hotspot.core.naming import disambiguate_names
from hotspot.core.progress import ProgressCallback, resolve
from hotspot.places.rank import DEFAULT_TOP, RankResult

METHODS = ("count", "kde")
DEFAULT_LENGTH_SHARE = 0.02
TIE_BREAK_M = 100.0


@dataclass(frozen=True)
class SegmentRankResult(RankResult):
    """A :class:`hotspot.places.rank.RankResult` of street stretches (line geometry); see the module docstring.

    Extra attributes: ``network`` (the Network), ``snapped`` (the Snapped records), ``lixel_scores``.
    """

    network: object = None
    snapped: object = None
    lixel_scores: np.ndarray | None = None

    @property
    def title(self) -> str:
        return f"Top {len(self.places)} street stretches by {self.method} ({self.total_records:,} records)"

    @property
    def display_columns(self) -> list[str]:
        columns = ["rank", "name", "count", "share", "cumulative_share", "length_m", "per_km", "unlit_share"]
        columns.append("peak" if self.has_times else "trend")
        columns.append("top_types")
        return columns

    @property
    def printed_notes(self) -> list[str]:
        """The notes but the first: it describes the snapping, already reported when the records were snapped."""
        return list(self.notes[1:])


def score_lixels(network, snapped, method: str = "count", *, bandwidth_m: float | None = None) -> np.ndarray:
    """Score per lixel: records (plus a tie-break below 1 from the records within 100 m) or network density."""
    from hotspot.network.gistar import network_distances
    from hotspot.network.snap import lixel_counts

    counts = lixel_counts(network, snapped).astype(np.float64)
    if method == "count":
        near = network_distances(network, TIE_BREAK_M) @ counts
        return counts + near / (near.max() + 1.0)
    from hotspot.network.nkde import DEFAULT_BANDWIDTH_M, network_kde

    ok = snapped.snapped
    density = network_kde(
        network, snapped.edge[ok], snapped.offset_m[ok], bandwidth_m=bandwidth_m or DEFAULT_BANDWIDTH_M
    )
    return density.per_km


def choose_lixels(scores: np.ndarray, lengths: np.ndarray, length_share: float) -> np.ndarray:
    """The best-scoring lixels (score > 0, ties by lixel order) until their length reaches ``length_share`` of the network."""
    order = np.lexsort((np.arange(scores.size), -scores))
    order = order[scores[order] > 0]
    budget = length_share * lengths.sum()
    cum = np.cumsum(lengths[order])
    take = order[: int(np.searchsorted(cum, budget, side="left")) + 1] if order.size else order
    chosen = np.zeros(scores.size, bool)
    chosen[take] = True
    return chosen


def rank_segments(
    study,
    network,
    snapped,
    *,
    method: str = "count",
    top: int | None = None,
    length_share: float | None = None,
    bandwidth_m: float | None = None,
    progress: ProgressCallback | None = None,
) -> SegmentRankResult:
    """Rank street stretches (see the module docstring).

    Parameters
    ----------
    study : hotspot.ingest.study.Study
        The records (their ``location``, ``crime_type``, ``month`` and times describe the stretches).
    network : hotspot.network.graph.Network
    snapped : hotspot.network.snap.Snapped
        The study's records snapped to ``network``, in record order.
    method : {"count", "kde"}, default "count"
    top : int, optional
        Stretches to list; default 20 unless ``length_share`` is given.
    length_share : float, optional
        Budget as a share of the network's length (0.01 = the best stretches covering 1 % of the streets).
    bandwidth_m : float, optional
        Network KDE bandwidth, metres, for ``method="kde"`` (default 200).
    progress : callable, optional
    """
    import geopandas as gpd
    import shapely

    from hotspot.core.naming import top_types
    from hotspot.network.snap import lixel_counts
    from hotspot.network.stretches import describe_stretch, label_stretches
    from hotspot.places.rank import add_point_columns
    from hotspot.places.timing import add_timing_columns, time_profiles

    progress = resolve(progress)
    if method not in METHODS:
        raise HotspotInputError(f"--method {method!r}: with --over segments choose one of {', '.join(METHODS)}")
    if top is not None and top < 1:
        raise HotspotInputError(f"--top must be at least 1, got {top}")
    if length_share is not None and not (0 < length_share <= 1):
        raise HotspotInputError(
            f"--area-share must be in (0, 1] (with --over segments: a share of the network's length); got {length_share}"
        )
    frame = study.records.frame
    if snapped.n_snapped == 0:
        raise HotspotInputError(
            f"no record lies within {snapped.tolerance_m:g} m of a street of --network; check the "
            "network covers the records, or raise --snap-tolerance"
        )
    progress(f"scoring segments ({method})", 0, 1)
    scores = score_lixels(network, snapped, method, bandwidth_m=bandwidth_m)
    progress(f"scoring segments ({method})", 1, 1)
    counts = lixel_counts(network, snapped)
    lengths = network.lixels["length_m"].to_numpy()
    if top is None and length_share is None:
        top = DEFAULT_TOP
    budget = length_share if length_share is not None else DEFAULT_LENGTH_SHARE
    while True:
        chosen = choose_lixels(scores, lengths, budget)
        labels = label_stretches(network, chosen)
        if length_share is not None or labels.max() >= top or budget >= 1.0:
            break
        budget = min(1.0, budget * 2)
    n = int(labels.max())
    notes = [
        snapped.describe(),
        f"candidate segments: the best {int(chosen.sum()):,} lixels by {method} covering "
        f"{lengths[chosen].sum() / lengths.sum():.1%} of the network's length",
    ]
    lix_label = labels
    record_label = np.where(snapped.snapped, lix_label[np.clip(snapped.lixel, 0, None)], 0)
    count = np.bincount(lix_label, weights=counts, minlength=n + 1)[1:]
    length = np.bincount(lix_label, weights=lengths, minlength=n + 1)[1:]
    unlit = np.bincount(lix_label, weights=lengths * network.lixels["unlit"].to_numpy(float), minlength=n + 1)[1:]
    score = np.bincount(lix_label, weights=scores, minlength=n + 1)[1:]
    rows = []
    geoms = np.asarray(network.lixels.geometry.values, dtype=object)
    members = pd.Series(np.arange(lix_label.size)).groupby(lix_label).apply(np.asarray)
    for i in range(1, n + 1):
        ids = members[i]
        described = describe_stretch(network, ids)
        merged = shapely.line_merge(shapely.union_all(geoms[ids]))
        rows.append(described | {"geometry": merged, "n_segments": ids.size})
    table = pd.DataFrame(rows)
    table["count"] = count.astype(np.int64)
    table["length_m"] = np.round(length, 1)
    table["per_km"] = np.round(count / np.maximum(length, 1e-9) * 1000.0, 1)
    table["unlit_share"] = np.round(unlit / np.maximum(length, 1e-9), 3)
    table["score"] = score
    table["_label"] = np.arange(1, n + 1)
    in_any = record_label > 0
    placed = frame.loc[in_any, ["location", "lsoa_name", "crime_type"]].copy()
    placed["place"] = record_label[in_any] - 1
    table["top_types"] = top_types(placed, n)
    places = gpd.GeoDataFrame(table, geometry="geometry", crs=network.crs)
    empty = places["count"] == 0
    if empty.any():  # with method kde a stretch can be dense yet hold no record itself; it is no patrol target
        notes.append(f"{int(empty.sum()):,} candidate stretch(es) without records left out")
        places = places[~empty]
    places = places.sort_values(
        ["count", "per_km", "_label"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    total = max(len(frame), 1)
    places["share"] = places["count"] / total
    places["cumulative_share"] = places["share"].cumsum()
    if top is not None:
        places = places.iloc[:top].copy()
    places["rank"] = np.arange(1, len(places) + 1)
    places["id"] = [f"S{i:03d}" for i in places["rank"]]
    places["name"] = disambiguate_names(places["description"])
    profiles, monthly = time_profiles(places, record_label, frame, study.records.has_times)
    add_timing_columns(places, profiles, monthly, study.records.has_times)
    add_point_columns(places)
    first = [
        "rank",
        "name",
        "id",
        "street",
        "from_street",
        "to_street",
        "count",
        "share",
        "cumulative_share",
        "length_m",
        "per_km",
        "n_segments",
        "unlit_share",
        "lat",
        "lon",
        "easting",
        "northing",
    ]
    rest = [
        c for c in ("peak", "trend", "trend_tau", "trend_p", "trend_per_month", "top_types", "score") if c in places
    ]
    places = places[first + rest + ["geometry"]]
    return SegmentRankResult(
        places=places,
        method=method,
        over="segments",
        total_records=len(frame),
        profiles=profiles,
        monthly=monthly,
        notes=notes,
        has_times=study.records.has_times,
        network=network,
        snapped=snapped,
        lixel_scores=scores,
    )
