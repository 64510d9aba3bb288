"""Grid stencil against libpysal DistanceBand, and libpysal W to CSR splitting."""

import numpy as np
import pytest
from libpysal.weights import DistanceBand, lat2W

from hotspot.core.errors import HotspotInputError
from hotspot.kernels import gistar as kg
from hotspot.stats.weights import csr_from_w, stencil_offsets, stencil_ring_offsets


@pytest.mark.parametrize("kernel", ["stencil_sums", "stencil_sums_serial"])  # all threads, and one
@pytest.mark.parametrize("band,cell", [(300.0, 100.0), (250.0, 100.0), (141.43, 100.0), (75.0, 50.0)])
def test_stencil_matches_distance_band(band, cell, kernel):
    nr, nc = 9, 11
    rng = np.random.default_rng(1)
    values = rng.poisson(2.0, (nr, nc)).astype(float)
    mask = rng.uniform(size=(nr, nc)) > 0.2
    xs, ys = np.meshgrid((np.arange(nc) + 0.5) * cell, -(np.arange(nr) + 0.5) * cell)
    pts = np.column_stack([xs[mask], ys[mask]])
    w = DistanceBand(pts, threshold=band, binary=True, silence_warnings=True)
    dense = w.full()[0]
    dr, dc = stencil_offsets(band, cell)
    sums, counts = getattr(kg, kernel)(values, mask, dr, dc)
    np.testing.assert_array_equal(counts[mask], dense.sum(axis=1))
    np.testing.assert_allclose(sums[mask], dense @ values[mask])
    assert counts[~mask].sum() == 0


def test_rings_partition_the_disc():
    dr, dc = stencil_offsets(500, 100)
    inner = stencil_offsets(200, 100)
    ring = stencil_ring_offsets(200, 500, 100)
    assert len(dr) == len(inner[0]) + len(ring[0])


def test_bad_band():
    with pytest.raises(HotspotInputError):
        stencil_offsets(-5, 100)


def test_csr_from_w_binary_and_self_weight():
    w = lat2W(3, 3, rook=True)
    csr = csr_from_w(w)
    assert csr.binary and csr.n == 9
    np.testing.assert_array_equal(csr.cardinalities, [2, 3, 2, 3, 4, 3, 2, 3, 2])
    assert np.all(csr.self_weight == 1.0)
    w.transform = "R"
    assert not csr_from_w(w).binary
