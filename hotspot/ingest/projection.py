"""Choosing the metre CRS records are analysed in, and projecting coordinates into it (vectorised pyproj)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from hotspot.core.errors import HotspotInputError

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"

# Great Britain (with Shetland, the Scillies and Channel Islands' edge) as a lon/lat box; the
# Northern Ireland / Republic of Ireland corner is cut out below because BNG distorts badly there.
_GB_BOX = (-8.7, 49.8, 1.9, 60.95)
_IRELAND_BOX = (-10.7, 51.3, -5.35, 55.45)


def _in_gb(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    in_box = (lon >= _GB_BOX[0]) & (lon <= _GB_BOX[2]) & (lat >= _GB_BOX[1]) & (lat <= _GB_BOX[3])
    in_ireland = (
        (lon >= _IRELAND_BOX[0]) & (lon <= _IRELAND_BOX[2]) & (lat >= _IRELAND_BOX[1]) & (lat <= _IRELAND_BOX[3])
    )
    return in_box & ~in_ireland


def choose_crs(lon: np.ndarray, lat: np.ndarray) -> str:
    """The projected (metre) CRS to analyse points given in WGS84 degrees in.

    British National Grid (``"EPSG:27700"``) when the median point lies in Great Britain,
    otherwise the WGS84 UTM zone of the median point (``"EPSG:326zz"`` north, ``"EPSG:327zz"``
    south). The median is used so a few stray points do not move the whole study.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Longitudes and latitudes in degrees (WGS84); NaNs are ignored.

    Returns
    -------
    str
        An ``"EPSG:nnnnn"`` code.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    if not ok.any():
        raise HotspotInputError("no valid longitude/latitude to choose a CRS from; give --crs (e.g. EPSG:27700)")
    mlon = float(np.median(lon[ok]))
    mlat = float(np.median(lat[ok]))
    if _in_gb(np.array([mlon]), np.array([mlat]))[0]:
        return BNG
    zone = int(np.floor((mlon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if mlat >= 0 else 32700 + zone}"


@lru_cache(maxsize=64)
def parse_crs(text: str, parameter: str = "--crs") -> CRS:
    """A pyproj CRS from user text, or a one-line HotspotInputError naming ``parameter``."""
    try:
        return CRS.from_user_input(text)
    except (CRSError, TypeError, ValueError):
        raise HotspotInputError(
            f"{parameter} {text!r} is not a CRS pyproj recognises; give an EPSG code such as EPSG:27700"
        ) from None


def check_metre_crs(text: str, parameter: str = "--crs") -> str:
    """Validate that ``text`` names a projected CRS in metres; returns it normalised (``EPSG:n`` when possible)."""
    crs = parse_crs(text, parameter)
    if not crs.is_projected:
        raise HotspotInputError(
            f"{parameter} {text!r} is not a projected CRS; distances must be metres, e.g. EPSG:27700 (British National Grid)"
        )
    units = {axis.unit_name.lower() for axis in crs.axis_info}
    if units and not units <= {"metre", "meter", "metres", "meters"}:
        raise HotspotInputError(f"{parameter} {text!r} has units {sorted(units)}; choose a projected CRS in metres")
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def transform(x: np.ndarray, y: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays from ``src`` to ``dst`` (x = easting/longitude first); failures become NaN."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if src == dst or parse_crs(src) == parse_crs(dst):
        return x.copy(), y.copy()
    tx, ty = _transformer(src, dst).transform(x, y, errcheck=False)
    tx = np.asarray(tx, dtype=np.float64)
    ty = np.asarray(ty, dtype=np.float64)
    bad = ~(np.isfinite(tx) & np.isfinite(ty))
    tx[bad] = np.nan
    ty[bad] = np.nan
    return tx, ty


def area_of_use_mask(lon: np.ndarray, lat: np.ndarray, crs: str, margin_deg: float = 1.0) -> np.ndarray:
    """True where a WGS84 point lies within ``crs``'s area of use widened by ``margin_deg`` degrees.

    Points far outside a projection's area of use project with large distortion (or not at
    all), so they are rejected as out of range rather than analysed with wrong distances.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    area = parse_crs(crs).area_of_use
    if area is None:
        return ok
    west, south, east, north = (
        area.west - margin_deg,
        area.south - margin_deg,
        area.east + margin_deg,
        area.north + margin_deg,
    )
    if west <= east:
        in_lon = (lon >= west) & (lon <= east)
    else:  # an area crossing the antimeridian
        in_lon = (lon >= west) | (lon <= east)
    return ok & in_lon & (lat >= south) & (lat <= north)
