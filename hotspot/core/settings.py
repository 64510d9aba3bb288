"""Where hotspot finds the shared real data used by tests and benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "HOTSPOT_DATA"
"""Environment variable naming the real-data folder; default ``../shared/data`` beside the checkout."""


def shared_data_dir() -> Path:
    """The real-data folder: ``$HOTSPOT_DATA`` if set, else ``../shared/data`` relative to the checkout."""
    configured = os.environ.get(DATA_ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]  # hotspot/core/settings.py -> the checkout
    return (checkout.parent / "shared" / "data").resolve()


CACHE_ENV_VAR = "HOTSPOT_CACHE"
"""Environment variable naming where generated data (benchmark inputs) is kept; default ``~/.cache/hotspot``."""


def cache_dir() -> Path:
    """Folder for generated data such as the synthetic national benchmark records.

    ``$HOTSPOT_CACHE`` if set, else ``$XDG_CACHE_HOME/hotspot`` or ``~/.cache/hotspot``: outside the
    checkout, so gigabytes of generated CSVs never sit beside the source.
    """
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base) / "hotspot").resolve()
