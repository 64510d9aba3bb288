"""Writers for the files analysts open: CSV tables, GeoPackages and GeoTIFFs, each written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from hotspot.atomic import atomic_path


def write_csv(frame, path: str | Path) -> Path:
    """Write a DataFrame (geometry column dropped) as UTF-8 CSV atomically; returns the path."""
    frame = frame.drop(columns="geometry", errors="ignore") if hasattr(frame, "drop") else frame
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def write_geopackage(path: str | Path, layers: Mapping[str, object]) -> Path:
    """Write several layers into one GeoPackage atomically; returns the path.

    ``layers`` maps layer name to a GeoDataFrame (spatial layer) or a plain DataFrame
    (attribute table). The file is replaced as a whole: layers from an earlier run that are
    not in ``layers`` do not survive.
    """
    import pandas as pd
    import pyogrio

    path = Path(path)
    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            if hasattr(frame, "geometry") and hasattr(frame, "crs"):
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
            else:
                table = pd.DataFrame(frame).copy()
                pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG")
    return path


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    grid,
    *,
    nodata: float | None = -9999.0,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Write a 2-D array on ``grid`` as a cloud-optimised GeoTIFF (DEFLATE, 512 px tiles, overviews) atomically.

    ``array`` has shape ``grid.shape`` with row 0 at the north edge. NaN cells are written as
    ``nodata``. ``description`` becomes the band description (say kernel, bandwidth and units);
    ``tags`` are stored as dataset metadata.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.io import MemoryFile

    data = np.asarray(array, dtype=np.float32 if array.dtype != np.float64 else np.float64)
    if data.shape != grid.shape:
        raise ValueError(f"array shape {data.shape} does not match the grid {grid.shape}")
    if nodata is not None:
        data = np.where(np.isnan(data), nodata, data)
    profile = dict(
        driver="GTiff", height=grid.nrows, width=grid.ncols, count=1, dtype=data.dtype.name,
        crs=grid.crs, transform=grid.transform, nodata=nodata,
    )
    path = Path(path)
    with MemoryFile() as memfile:
        with memfile.open(**profile) as staging:
            staging.write(data, 1)
            if description:
                staging.set_band_description(1, description)
            if tags:
                staging.update_tags(**{k: str(v) for k, v in tags.items()})
        with memfile.open() as staging, atomic_path(path) as tmp:
            rasterio.shutil.copy(
                staging, tmp, driver="COG", compress="DEFLATE", predictor="YES" if data.dtype.kind == "f" else "NO",
                blocksize=512, overview_resampling="average",
            )
    return path
