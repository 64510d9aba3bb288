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
    checkout = Path(__file__).resolve().parent.parent
    return (checkout.parent / "shared" / "data").resolve()
