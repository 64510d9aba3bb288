"""The gistar command's map: Gi* of a study with its touching hot cells as ranked, named clusters.

The clusters (:func:`hotspot.scale.tiling.named_gistar_places`) are what an analyst briefs from a Gi*
grid; :func:`gistar_for_study` is the one call ``hotspot gistar`` makes on records (grid or area weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hotspot.scale.tiling import named_gistar_places
from hotspot.stats.gistar import GiStarMap

if TYPE_CHECKING:
    from hotspot.ingest.study import Study


def gistar_for_study(
    study: Study,
    *,
    cell_size_m: float = 100.0,
    band_m: float | None = None,
    band_rule: str = "holdout",
    weights: str = "band",
    k: int = 8,
    permutations: int = 999,
    seed: int = 0,
    correction: str = "fdr",
    all_cells: bool = False,
    progress=None,
) -> GiStarMap:
    """Gi* of a study's records: on its grid with a distance band (``weights="band"``: the cells, the
    rasters and the named hot clusters) or over its boundary areas (queen, rook, knn, centroid-band).

    Parameters as in :func:`hotspot.stats.gistar.gi_star_points`; ``all_cells`` keeps every study-area
    cell in the table, not only those holding records or binned hot/cold.
    """
    from hotspot.core.memory import BYTES_PER_CELL
    from hotspot.ingest.validate import check_parameters
    from hotspot.stats.gistar import PARAMETERS, gi_star_points

    check_parameters(
        PARAMETERS,
        cell_size_m=cell_size_m,
        band_m=band_m,
        band_rule=band_rule,
        weights=weights,
        k=k,
        correction=correction,
    )
    on_grid = weights == "band"
    grid, mask = study.grid(cell_size_m, bytes_per_cell=BYTES_PER_CELL["gistar"]) if on_grid else (None, None)
    frame, result = gi_star_points(
        study.records,
        grid=grid,
        mask=mask,
        cell_size_m=cell_size_m,
        band_m=band_m,
        band_rule_name=band_rule,
        boundaries=study.boundaries,
        weights=weights,
        k=k,
        permutations=permutations,
        seed=seed,
        correction=correction,
        cells="all" if all_cells else "needed",
        progress=progress,
    )
    # Touching hot cells (95 % or more) as ranked, named clusters: the places an analyst briefs.
    places = named_gistar_places(result, grid, study.records.frame) if on_grid else None
    return GiStarMap(
        frame=frame,
        statistic=result,
        grid=grid,
        places=places,
        study_area=study.describe_area(),
        study_area_km2=study.area_km2,
        all_cells=all_cells,
    )
