"""Compile the Numba kernels (and byte-compile the modules) ahead of the first analysis, so no command pays for compiling.

Numba compiles each kernel the first time it is called and keeps the machine code in its cache
(``__pycache__`` beside the kernels, or ``$NUMBA_CACHE_DIR``); later processes load it in
milliseconds. The first ``hotspot gistar`` or ``hotspot evaluate`` after an install or upgrade
therefore spends several seconds compiling. :func:`compile_kernels` runs every kernel the
commands use once, on a few cells of synthetic data, through the same library calls the
commands make (so the compiled signatures are the ones the commands need): run it once after
installing (``hotspot cache --compile``) and the first real run starts warm.

The library calls, not the kernels, are exercised on purpose: kernels change, the calls that
pick them stay. ``tests`` check that after :func:`compile_kernels` the commands compile nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from hotspot.core.progress import ProgressCallback, resolve


def _gistar() -> None:
    from hotspot.scale.tiling import tiled_gi_star
    from hotspot.stats.gistar import gi_star_areas, gi_star_grid
    from hotspot.stats.weights import CSRWeights

    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, (40, 40)).astype(np.float64)
    mask = np.ones(counts.shape, dtype=bool)
    mask[:3] = False
    gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=99, seed=0)  # exact null (integer counts)
    gi_star_grid(counts + 0.5, 300.0, 100.0, mask=mask, permutations=99, seed=0)  # permutations (non-integer)
    gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=0)
    # The multi-threaded twins that national grids use (above SERIAL_WORK steps), on the same few cells.
    from hotspot.stats import weights

    serial_work, weights.SERIAL_WORK = weights.SERIAL_WORK, 0
    try:
        gi_star_grid(counts, 300.0, 100.0, mask=mask, permutations=99, seed=0)
    finally:
        weights.SERIAL_WORK = serial_work
    # A band wide for the grid (about k^2 / n = 20): the exact null folds value levels instead.
    gi_star_grid(counts[:10, :10], 400.0, 100.0, permutations=99, seed=0)
    # Weighted neighbours (row-standardised areas): the general permutation kernel.
    n = 30
    ring = CSRWeights(
        indptr=np.arange(0, 2 * n + 1, 2, dtype=np.int64),
        indices=np.array([(i + d) % n for i in range(n) for d in (1, n - 1)], dtype=np.int64),
        data=np.full(2 * n, 1.0 / 3.0),
        self_weight=np.full(n, 1.0 / 3.0),
        binary=False,
        ids=list(range(n)),
    )
    gi_star_areas(counts[0, :n], ring, permutations=99, seed=0)
    # hotspot national: exact p at the tested cells of a tiled grid.
    hot = counts.copy()
    hot[18:22, 18:22] += 8.0
    tiled_gi_star(hot, 300.0, 100.0, tile_cells=16)


def _kde() -> None:
    from hotspot.core.grid import Grid
    from hotspot.stats.kde import kernel_density

    rng = np.random.default_rng(1)
    for n, side, bandwidth in ((50, 20, 300.0), (250_000, 200, 500.0)):  # one thread for small jobs, all for large
        x = rng.uniform(0, side * 100.0, n)
        y = rng.uniform(0, side * 100.0, n)
        grid = Grid.from_bounds(0.0, 0.0, side * 100.0, side * 100.0, 100.0, "EPSG:27700")
        for units in ("per-km2", "per-cell"):
            kernel_density(x, y, grid, bandwidth_m=bandwidth, units=units)
        kernel_density(
            x,
            y,
            grid,
            bandwidth_m=bandwidth,
            weights=np.full(n, 2.0),
            edge_correction=True,
            mask=np.ones(grid.shape, dtype=bool),
        )
        kernel_density(x, y, grid, bandwidth_m=bandwidth, binned=True)


def _forecasts() -> None:
    from hotspot.stats.kde import kernel_stencil

    kernel_stencil(400.0, 100.0, "quartic")  # the binned KDE forecasts' stencil
    kernel_stencil(2000.0, 100.0, "quartic")


def _places() -> None:
    from hotspot.kernels.places import count_groups, grow_places, label_touching, nearest_points

    rng = np.random.default_rng(2)
    scores = rng.random((10, 10))
    candidates = scores > 0.5
    order = np.argsort(-np.where(candidates, scores, -np.inf).ravel(), kind="stable")[: int(candidates.sum())]
    grow_places(order.astype(np.int64), candidates, 1)
    nearest_points(scores[:, 0].copy(), scores[:, 1].copy(), scores[:2, 2].copy(), scores[:2, 3].copy())
    count_groups(np.flatnonzero(candidates.ravel()).astype(np.int64), candidates.shape[1])
    label_touching(np.ascontiguousarray(candidates))


def _near_repeat() -> None:
    """What the near-repeat forecast runs for dated records: a Knox test and the near-repeat surface."""
    import pandas as pd

    from hotspot.core.grid import Grid
    from hotspot.core.records import RECORD_COLUMNS, Records
    from hotspot.spacetime.interaction import near_repeat_surface
    from hotspot.spacetime.knox import knox_test, record_times

    rng = np.random.default_rng(3)
    n = 400
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    frame = pd.DataFrame({c: np.full(n, "", dtype=object) for c in RECORD_COLUMNS})
    frame["x"] = rng.uniform(0, 2000.0, n)
    frame["y"] = rng.uniform(0, 2000.0, n)
    frame["lon"] = frame["lat"] = np.nan
    frame["datetime"] = when.to_numpy()
    frame["month"] = when.strftime("%Y-%m")
    frame["source_row"] = np.arange(1, n + 1)
    records = Records(
        frame=frame,
        crs="EPSG:27700",
        rejected=pd.DataFrame(columns=["reason", "source", "source_row"]),
        has_times=True,
        sources=["warm-up"],
    )
    times, unit = record_times(records.frame, "days")
    knox = knox_test(records.xy, times, time_unit=unit, permutations=19, seed=0)
    grid = Grid.from_bounds(0.0, 0.0, 2000.0, 2000.0, 100.0, "EPSG:27700")
    near_repeat_surface(records, grid, "2024-05-01", knox)


def _bytecode() -> None:
    """Byte-compile hotspot's own modules (the package, ``cli`` and ``rtm``).

    A wheel is byte-compiled when pip installs it, but an editable install (the README's) is not, and Python
    writes no ``.pyc`` at all where ``PYTHONDONTWRITEBYTECODE`` is set (as on many shared and CI machines), so
    every command compiled every module it imports from source again: about 0.2 s of a 2.8 s ``gistar``.
    Folders that cannot be written are passed over silently (Python then compiles in memory, as before).
    """
    import compileall
    import importlib.util

    import hotspot

    compileall.compile_dir(Path(hotspot.__file__).parent, quiet=2, workers=1)
    for name in ("cli", "rtm"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if spec.submodule_search_locations:
            compileall.compile_dir(origin.parent, quiet=2, workers=1)
        elif origin.suffix == ".py":
            compileall.compile_file(origin, quiet=2)


STEPS: dict[str, Callable[[], None]] = {
    "Python modules (byte-compiled)": _bytecode,
    "Gi* (stencil sums, exact null, permutations)": _gistar,
    "kernel density": _kde,
    "ranked places": _places,
    "forecasts (binned KDE)": _forecasts,
    "near repeats (Knox test, for dated records)": _near_repeat,
}
"""What :func:`compile_kernels` compiles, in order."""


def compile_kernels(progress: ProgressCallback | None = None) -> list[str]:
    """Compile (or load from Numba's cache) every kernel the grid commands use; returns the steps run.

    Parameters
    ----------
    progress : callable, optional
        ``progress("compiling kernels", done, total)``.

    Returns
    -------
    list of str
        The names of the steps, as in :data:`STEPS`.
    """
    report = resolve(progress)
    report("compiling kernels", 0, len(STEPS))
    for i, step in enumerate(STEPS.values(), 1):
        step()
        report("compiling kernels", i, len(STEPS))
    return list(STEPS)
