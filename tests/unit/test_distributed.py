"""The Dask engine on a 2-worker LocalCluster gives the single-process results, bit for bit (streaming the real
files: tests/realdata/test_distributed_realdata.py).
"""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from hotspot.core.errors import HotspotInputError  # noqa: E402
from hotspot.core.grid import Grid  # noqa: E402
from hotspot.scale.tiles import plan_tiles  # noqa: E402
from hotspot.scale.tiling import tiled_gi_star, tiled_kernel_density  # noqa: E402


@pytest.fixture(scope="module")
def client():
    from hotspot.scale.distributed import dask_client, warm_workers

    with dask_client(n_workers=2, threads_per_worker=1, processes=True) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        warm_workers(c)
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    centres = rng.uniform([400_000, 300_000], [430_000, 325_000], size=(15, 2))
    xy = np.round(centres[rng.integers(0, 15, 30_000)] + rng.normal(0, 700, size=(30_000, 2)))
    grid = Grid.from_bounds(400_000, 300_000, 430_000, 325_000, 100.0)
    return xy[:, 0], xy[:, 1], grid


def test_dask_kde_equals_single_process(client, data):
    from hotspot.stats.kde import kernel_density

    x, y, grid = data
    seen = []
    local = tiled_kernel_density(x, y, grid, bandwidth_m=500.0, tile_cells=100)
    dask = tiled_kernel_density(
        x,
        y,
        grid,
        bandwidth_m=500.0,
        tile_cells=100,
        engine="dask",
        client=client,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert np.array_equal(dask.surface, local.surface)
    assert np.allclose(dask.surface, kernel_density(x, y, grid, bandwidth_m=500.0).surface, rtol=1e-9, atol=1e-12)
    n_tiles = len(plan_tiles(grid, halo_m=500.0, tile_cells=100))
    assert n_tiles == 12 and seen[-1] == ("KDE tiles", n_tiles, n_tiles)  # one report per tile


def test_dask_gistar_equals_single_process(client, data):
    x, y, grid = data
    counts = grid.count(x, y)
    mask = np.ones(grid.shape, dtype=bool)
    mask[:50, :50] = False
    local = tiled_gi_star(counts, 300.0, grid.cell_size, mask=mask, tile_cells=90)
    dask = tiled_gi_star(counts, 300.0, grid.cell_size, mask=mask, tile_cells=90, engine="dask", client=client)
    for name in ("z", "p", "p_adjusted"):
        assert np.array_equal(getattr(dask, name), getattr(local, name), equal_nan=True)
    assert np.array_equal(dask.bin, local.bin) and (local.bin != 0).any()


def test_bad_scheduler_address_is_one_line():
    from hotspot.scale.distributed import dask_client

    with pytest.raises(HotspotInputError, match="--scheduler"):
        with dask_client("tcp://127.0.0.1:9", connect_timeout_s=2.0):
            pass


def test_in_process_cluster_gives_the_single_process_results(data):
    """processes=False: one worker thread in this process, Numba on every core inside its tasks; same bits."""
    import numba

    from hotspot.scale.distributed import dask_client

    x, y, grid = data
    counts = grid.count(x, y)
    local_kde = tiled_kernel_density(x, y, grid, bandwidth_m=500.0, tile_cells=100)
    local_gi = tiled_gi_star(counts, 300.0, 100.0, tile_cells=64)
    with dask_client(processes=False) as c:
        workers = c.scheduler_info()["workers"]
        assert len(workers) == 1 and all(a.startswith("inproc://") for a in workers)
        kde = tiled_kernel_density(x, y, grid, bandwidth_m=500.0, tile_cells=100, engine="dask", client=c)
        gi = tiled_gi_star(counts, 300.0, 100.0, tile_cells=64, engine="dask", client=c)
        from hotspot.scale.distributed import _set_worker_threads

        assert c.submit(lambda: (_set_worker_threads(), numba.get_num_threads())[1]).result() == (
            numba.config.NUMBA_NUM_THREADS
        )
    assert np.array_equal(kde.surface, local_kde.surface)
    assert np.array_equal(gi.z, local_gi.z, equal_nan=True) and np.array_equal(gi.bin, local_gi.bin)
