"""Memory a grid will need, checked against the memory actually available before anything is allocated.

A grid that fits the cell limit can still be far beyond the machine (``gistar --cell-size 7`` over a
county is 44.5 million cells, about 24 GB); without this check the process is killed by the kernel
after minutes, with no message. The per-cell figures below were measured on the Bedfordshire
records (peak resident memory at two cell sizes, the slope between them) and rounded up.
"""

from __future__ import annotations

import math
from pathlib import Path

from hotspot.core.errors import HotspotInputError

BYTES_PER_CELL = {
    "grid": 96,  # counts, masks and scores on a grid (rank measured 62 B/cell, kde 31 B/cell)
    "gistar": 640,  # Gi* plus one polygon per cell in the GeoPackage and CSV (measured 540 B/cell)
    "national": 24,  # the national KDE surface and Gi* bins, tiled (float32 + float64 per cell, plus slack)
}
"""Working memory per grid cell, in bytes, for each kind of analysis."""
RTM_BYTES_PER_LAYER = 8
"""Extra bytes per cell for each risk-terrain candidate layer (a float64 column of the design)."""
USABLE_SHARE = 0.7
"""A grid may use at most this share of the available memory; the rest is for the data and libraries."""
CHECK_ABOVE_BYTES = 256 * 2**20
"""Grids estimated below this (256 MiB) are not checked."""


def _meminfo_available() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> float | None:
    """Memory left under this process's cgroup limit (v2, then v1), or None when unlimited or unknown."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = float(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or float(limit) >= 2**60:
            return None
        return max(0.0, float(limit) - usage)
    return None


def available_bytes() -> float | None:
    """Memory this process can still use, in bytes: the smaller of the system's available memory
    (``psutil`` if installed, else ``/proc/meminfo`` MemAvailable) and what the cgroup limit leaves;
    None when neither can be read (then nothing is refused)."""
    system = None
    try:
        import psutil

        system = float(psutil.virtual_memory().available)
    except Exception:  # psutil absent or unsupported platform
        system = _meminfo_available()
    limits = [v for v in (system, _cgroup_available()) if v is not None]
    return min(limits) if limits else None


def _nice_cell_size(cell_size_m: float) -> float:
    """Round a cell side (metres) up to a round number: 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten."""
    exponent = math.floor(math.log10(cell_size_m))
    for step in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= cell_size_m - 1e-9:
            return float(candidate)
    return float(10 ** (exponent + 1))


def check_grid_memory(
    n_cells: int, cell_size_m: float, bytes_per_cell: float, *, available: float | None = None
) -> None:
    """Refuse a grid whose estimated memory exceeds what is available, suggesting a cell size.

    Parameters
    ----------
    n_cells : int
        Cells in the grid.
    cell_size_m : float
        Cell side in metres.
    bytes_per_cell : float
        Working memory per cell in bytes (see :data:`BYTES_PER_CELL`).
    available : float, optional
        Bytes available; default None: :func:`available_bytes`.

    Raises
    ------
    HotspotInputError
        When ``n_cells * bytes_per_cell`` exceeds ``USABLE_SHARE`` (70 %) of the available memory; the
        message gives the estimate, the memory available and a cell size (metres) that fits.
    """
    need = float(n_cells) * float(bytes_per_cell)
    if need < CHECK_ABOVE_BYTES:
        return
    if available is None:
        available = available_bytes()
    if available is None or need <= USABLE_SHARE * available:
        return
    # cells scale with 1 / cell side squared
    fits = cell_size_m * math.sqrt(need / (0.5 * available)) if available > 0 else cell_size_m * 10
    suggestion = _nice_cell_size(fits)
    raise HotspotInputError(
        f"a {cell_size_m:g} m grid over this extent has {n_cells:,} cells and needs about {need / 1e9:,.1f} GB, "
        f"but only {available / 1e9:,.1f} GB of memory is available; use --cell-size {suggestion:g} or larger, "
        "or a smaller study area (--boundaries)"
    )
