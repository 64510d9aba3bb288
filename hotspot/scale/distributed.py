"""The Dask engine: the same tile plan as :mod:`hotspot.scale.tiling`, one ``dask.distributed`` task per tile.

Nothing here changes a number: each task calls the same tile function the local engine calls, on
the same inputs, and results are stitched in tile order, so the Dask result equals the
single-process one (the tests check it on a 2-worker ``LocalCluster``).

- :func:`dask_client` connects to a running scheduler (``tcp://host:8786``) or starts a local
  cluster and closes what it started. The local cluster is one worker thread inside this process by
  default (its tasks use every core through Numba, and their inputs and results pass by reference);
  ``processes=True`` starts worker processes instead, which on one machine only adds pickling
  (bench_national measured 2.1-2.7x the single process with 2 worker processes).
- :func:`map_tiles` scatters each tile's inputs (the tile's points or counts plus its halo) to
  the workers, runs one task per tile and gathers the results in order, reporting progress per tile.
- :func:`warm_workers` loads the Numba kernels on every worker (from the on-disk cache when warm)
  so the first tiles do not pay for compilation.

Inside a task, Numba uses as many threads as the worker has (``threads_per_worker``; every core in the
in-process worker), so two single-threaded workers on a 2-core machine do not fight over cores. The kernels give the same
bits on any thread count. See ``docs/distributed.md`` for running on a real cluster.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from hotspot.core.errors import HotspotInputError
from hotspot.core.progress import resolve

DEFAULT_WORKERS = 2
"""Worker processes of a local cluster started with ``processes=True``."""


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise HotspotInputError(
            "--engine dask needs Dask: pip install 'hotspot[dask]' (or pip install 'dask[distributed]')"
        ) from None
    return distributed


@contextmanager
def dask_client(
    scheduler: str | None = None,
    *,
    n_workers: int = DEFAULT_WORKERS,
    threads_per_worker: int = 1,
    memory_limit: str | float = "auto",
    connect_timeout_s: float = 20.0,
    processes: bool = False,
):
    """A ``dask.distributed.Client``: to ``scheduler`` if given, else to a new local cluster; closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``. Default None: start a
        ``LocalCluster`` (closed when the block ends), in this process unless ``processes``.
    n_workers : int, default 2
        Worker processes of the local cluster (``processes=True`` only).
    threads_per_worker : int, default 1
        Threads per local worker process (Numba inside a task uses this many; ``processes=True`` only).
    memory_limit : str or float, default "auto"
        Memory limit per local worker, as Dask takes it ("auto" shares the machine's memory).
    connect_timeout_s : float, default 20
        Seconds to wait for the scheduler at ``scheduler`` before giving up.
    processes : bool, default False
        Local cluster only. False (default): one worker thread inside this process (``n_workers`` and
        ``threads_per_worker`` ignored), whose tasks use every core through Numba, as the local engine does,
        and whose inputs and results are passed by reference instead of being pickled between processes:
        on one machine the fastest Dask run. True: ``n_workers`` worker processes of ``threads_per_worker``
        threads (what a cluster does, rehearsed on one machine).
    """
    distributed = _import_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=f"{connect_timeout_s}s")
        except (OSError, TimeoutError) as exc:
            raise HotspotInputError(
                f"--scheduler {scheduler}: cannot connect to a Dask scheduler there ({exc}); "
                "check the address and that dask-scheduler is running"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    if n_workers < 1 or threads_per_worker < 1:
        raise HotspotInputError(
            f"a local Dask cluster needs at least 1 worker and 1 thread, got {n_workers} and {threads_per_worker}"
        )
    # ":0" takes any free port for the dashboard (client.dashboard_link says which), so two local
    # clusters, such as parallel test workers, never fight over the default 8787.
    cluster = distributed.LocalCluster(
        n_workers=n_workers if processes else 1,
        threads_per_worker=threads_per_worker if processes else 1,
        processes=processes,
        memory_limit=memory_limit,
        dashboard_address=":0",
        # A task's failure reaches the caller as an exception from the client; what the workers would log
        # beyond that is shutdown noise (a heartbeat racing the scheduler's close), printed as a traceback.
        silence_logs=logging.CRITICAL,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def in_process(client) -> bool:
    """True when every worker of ``client`` lives in this process (``dask_client(processes=False)``): its tasks'
    inputs and results pass by reference, so nothing is gained by reducing results on the workers."""
    workers = client.scheduler_info().get("workers", {})
    return bool(workers) and all(str(a).startswith("inproc://") for a in workers)


def _set_worker_threads() -> None:
    """Numba threads = this worker's threads, so tasks on one machine do not oversubscribe its cores."""
    import numba

    try:
        from distributed import get_worker

        worker = get_worker()
        threads = int(worker.state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return
    if str(worker.address).startswith("inproc://"):
        # The single in-process worker runs one task at a time: Numba may use every core, as locally.
        threads = numba.config.NUMBA_NUM_THREADS
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != threads:
        numba.set_num_threads(threads)


def _run_tile(payload, tile_func, args):
    _set_worker_threads()
    return tile_func(payload, *args)


def scatter_payloads(client, payloads: list) -> list:
    """Send each payload to a worker once; returns futures :func:`map_tiles` accepts (drop them when done:
    the data is released with the last reference)."""
    return client.scatter(list(payloads), hash=False)


def map_tiles(
    func,
    payloads: list,
    *,
    scheduler: str | None = None,
    client=None,
    progress=None,
    stage: str = "tiles",
    args: tuple = (),
    combine=None,
) -> list:
    """``[func(p, *args) for p in payloads]`` as one Dask task per payload, results in payload order.

    Parameters
    ----------
    func : callable
        A module-level function (workers import it by name, so they need ``hotspot`` installed).
    payloads : list
        One tile's inputs each, scattered to the workers before the tasks run; or futures from
        :func:`scatter_payloads` (left for the caller to drop).
    scheduler : str, optional
        Scheduler address used when ``client`` is None; default None: a local 2-worker cluster for this call.
    client : dask.distributed.Client, optional
        An existing client (recommended: one cluster for several calls). Default None.
    progress : callable, optional
        ``progress(stage, tiles_done, n_tiles)`` as tiles finish.
    stage : str
        The progress label.
    args : tuple
        Extra arguments for every call (small; sent with each task).
    combine : callable, optional
        ``combine(a, b)`` of two results (associative, keeping ``a`` before ``b``). When given, results
        are reduced pairwise on the workers, neighbours in payload order, and a one-item list of the
        final result is returned: only that travels back to the client. Ignored on an in-process
        cluster (:func:`in_process`), where results cost nothing to gather and the caller merges them
        once, as the local engine does, instead of once per level of the tree.
    """
    progress = resolve(progress)
    if client is None:
        with dask_client(scheduler) as own:
            return map_tiles(func, payloads, client=own, progress=progress, stage=stage, args=args, combine=combine)
    distributed = _import_distributed()
    progress(stage, 0, len(payloads))
    if not payloads:
        return []
    owned = not all(isinstance(p, distributed.Future) for p in payloads)
    # Scatter sends each tile's arrays straight to a worker instead of through the task graph.
    data = scatter_payloads(client, payloads) if owned else list(payloads)
    futures = client.map(_run_tile, data, tile_func=func, args=tuple(args), pure=False)
    level = list(futures)
    if combine is not None and not in_process(client):
        # A tree of pairwise merges on the workers, adjacent results first, so order is kept.
        while len(level) > 1:
            paired = [client.submit(combine, level[i], level[i + 1], pure=False) for i in range(0, len(level) - 1, 2)]
            level = paired + ([level[-1]] if len(level) % 2 else [])
    done = 0
    for _ in distributed.as_completed(futures):
        done += 1
        progress(stage, done, len(payloads))
    results = client.gather(level)
    # Release by dropping the references, never by cancelling finished futures: a cancel also
    # cancels their dependents, and when one of those was already released by this client (an
    # intermediate merge of ``combine``) the scheduler fails ``assert ts.who_wants`` and logs an
    # AssertionError traceback in the middle of a successful run.
    del futures, level, data
    return results


def _warm() -> bool:
    import numpy as np

    from hotspot.core.grid import Grid
    from hotspot.kernels.gistar import stencil_sums
    from hotspot.stats.kde import kernel_density
    from hotspot.stats.weights import stencil_offsets

    _set_worker_threads()
    grid = Grid(0.0, 1000.0, 100.0, 10, 10)
    kernel_density(np.array([500.0, 420.0]), np.array([500.0, 380.0]), grid, bandwidth_m=300.0)
    dr, dc = stencil_offsets(300.0, 100.0)
    stencil_sums(np.ones((10, 10)), np.ones((10, 10), dtype=bool), dr, dc)
    return True


def warm_workers(client) -> dict:
    """Load (or compile) the KDE and Gi* Numba kernels on every worker; returns ``{worker: True}``."""
    return client.run(_warm)


def worker_peak_rss_bytes(client) -> dict:
    """Peak resident memory (bytes) of each worker process so far, from ``getrusage`` (Linux reports KiB)."""
    return client.run(_peak_rss_bytes)


def _peak_rss_bytes() -> int:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
