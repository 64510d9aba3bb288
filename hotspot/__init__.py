"""hotspot: crime hot spots, kernel density and risk terrain models.

The package is imported by the CLI before any heavy work, so this module imports
nothing heavy: numba, geopandas and rasterio load only in the modules that use them.
"""

__version__ = "0.1.0"

from hotspot.core.errors import HotspotInputError  # noqa: E402  (light, always safe)

__all__ = ["HotspotInputError", "__version__"]
