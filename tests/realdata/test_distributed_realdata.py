"""The Dask engine streams the real Bedfordshire files to the locations the local stream finds, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """A 2-worker LocalCluster, as in tests/unit/test_distributed.py."""
    from hotspot.scale.distributed import dask_client, warm_workers

    with dask_client(n_workers=2, threads_per_worker=1, processes=True) as c:
        warm_workers(c)
        yield c


@pytest.mark.realdata
def test_dask_stream_equals_local(client, bedfordshire_crime_dir):
    from hotspot.scale.stream import stream_locations

    local = stream_locations([bedfordshire_crime_dir])
    dask = stream_locations([bedfordshire_crime_dir], engine="dask", client=client, files_per_task=6)
    assert np.array_equal(dask.x, local.x) and np.array_equal(dask.weight, local.weight)
    assert dask.rejected == local.rejected and dask.sources == local.sources
