"""A content fingerprint of a demo scenario, so the tests can check that nobody changed the cached one."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import shapely


def fingerprint(value) -> str:
    """A SHA-256 of everything in ``value`` (dataclasses, dicts, frames, arrays, geometries), by content."""
    digest = hashlib.sha256()
    _feed(value, digest)
    return digest.hexdigest()


def _feed(value, digest) -> None:
    digest.update(type(value).__name__.encode())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            digest.update(field.name.encode())
            _feed(getattr(value, field.name), digest)
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(value[key], digest)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _feed(item, digest)
    elif isinstance(value, pd.DataFrame):
        digest.update(repr(list(value.columns)).encode() + repr(list(value.dtypes)).encode())
        for name in value.columns:
            _feed(value[name], digest)
        _feed(value.index, digest)
    elif isinstance(value, (pd.Series, pd.Index)):
        values = value.to_numpy()
        if values.dtype == object and len(values) and isinstance(values[0], shapely.Geometry):
            values = shapely.to_wkb(values)
        digest.update(
            pd.util.hash_array(
                np.asarray(values, dtype=object) if values.dtype == object else values, categorize=False
            ).tobytes()
        )
        crs = getattr(value, "crs", None)
        digest.update(repr(crs).encode())
    elif isinstance(value, np.ndarray):
        digest.update(repr((value.shape, value.dtype.str)).encode())
        digest.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else repr(value.tolist()).encode())
    elif isinstance(value, shapely.Geometry):
        digest.update(shapely.to_wkb(value))
    else:
        digest.update(repr(value).encode())
