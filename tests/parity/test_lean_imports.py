"""The statistics computed without importing scipy.stats or scipy.signal (each costs about half a second
of every command's start) equal scipy's to the last bit (the normal approximation's p to 3e-15), and the
commands' modules do not import them, nor scipy.spatial (~0.2 s; the carrying's neighbour query is
:mod:`hotspot.core.neighbours`, tested against it); ``rank`` does not import scipy.special (~0.2 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from tests.support import REPO as ROOT


def _series():
    rng = np.random.default_rng(0)
    for n in [*range(2, 40), 60, 100, 180]:
        yield rng.permutation(n).astype(float)  # no ties: scipy's exact p (n <= 33)
        yield rng.poisson(3, n).astype(float)  # many ties: the normal approximation
        yield rng.poisson(40, n).astype(float)
        yield np.arange(n, dtype=float)
        yield np.arange(n, dtype=float)[::-1].copy()
        swapped = np.arange(n, dtype=float)
        swapped[[0, 1]] = swapped[[1, 0]]  # one pair out of order: exact p at any n
        yield swapped
    yield np.full(6, 5.0)  # all tied: NaN


def _same(a, b) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


def test_kendall_tau_and_theil_sen_equal_scipy_bit_for_bit():
    """tau, the slope and the exact p to the last bit; the normal approximation's p (the C library's erfc, not
    scipy.special's ndtr; 1.1e-15 apart at most on these series) within 3e-15 relative."""
    from scipy import stats

    from hotspot.places.timing import kendall_tau_in_order, theil_sen_slope

    approximated = 0
    for y in _series():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = stats.kendalltau(np.arange(len(y)), y)
            slope = stats.theilslopes(y).slope
        tau, p = kendall_tau_in_order(y)
        assert _same(float(ref.statistic), tau), y
        assert _same(float(slope), theil_sen_slope(y)), y
        exact = len(np.unique(y)) == len(y) and len(y) <= 33
        if exact or np.isnan(p):
            assert _same(float(ref.pvalue), p), y
        else:
            approximated += 1
            assert p == pytest.approx(float(ref.pvalue), rel=3e-15, abs=0), y
    assert approximated > 50  # the tied series take the normal approximation


def test_student_t_through_scipy_special_equals_scipy_stats():
    from scipy import stats

    from hotspot.forecast.compare import mean_interval, paired_comparison

    rng = np.random.default_rng(1)
    for n in (2, 3, 5, 23, 120):
        v = rng.normal(10, 2, n)
        w = v - rng.normal(0.5, 1, n)
        ci = mean_interval(v, 0.95)
        half = stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n)
        assert ci.high - ci.mean == pytest.approx(half, rel=1e-15)
        d = v - w
        t = d.mean() / (d.std(ddof=1) / np.sqrt(n))
        assert paired_comparison(v, w).p_value == 2 * stats.t.sf(abs(t), n - 1)


def test_fftconvolve_same_equals_scipy_signal_bit_for_bit():
    from scipy import signal

    from hotspot.core.convolve import fftconvolve_same

    rng = np.random.default_rng(2)
    for shape in [(1, 1), (1, 7), (7, 1), (5, 9), (120, 340), (3, 3)]:
        for kshape in [(1, 1), (3, 3), (1, 5), (5, 1), (9, 9), (41, 41)]:
            counts = rng.poisson(0.3, shape)
            kernel = rng.random(kshape)
            for image in (counts, counts.astype(float)):
                ref = signal.fftconvolve(image, kernel, mode="same")
                ours = fftconvolve_same(image, kernel)
                assert ours.shape == ref.shape and np.array_equal(ours, ref), (shape, kshape)


def _printed_by(code: str) -> str:
    """What ``code`` prints, run in a fresh interpreter (so only its own imports are in ``sys.modules``)."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    return out.stdout.strip()


def test_rank_and_evaluate_modules_do_not_import_scipy_stats_signal_or_spatial():
    code = (
        "import sys\n"
        "import hotspot.places.rank, hotspot.places.timing, hotspot.forecast.backtest, hotspot.forecast.compare\n"
        "import hotspot.forecast.baselines, hotspot.forecast.combined, hotspot.stats.gistar\n"
        "from hotspot.places.timing import monthly_trend\n"
        "import pandas as pd\n"
        "monthly_trend(pd.Series([1.0, 4, 2, 8, 5, 9]))\n"
        "from hotspot.forecast.compare import paired_comparison\n"
        "paired_comparison([1.0, 2, 3], [0.5, 2.5, 2])\n"
        "from hotspot.forecast.baselines import binned_quartic_kde\n"
        "import numpy as np\n"
        "binned_quartic_kde(np.ones((20, 20)), 100.0, 400.0)\n"
        "from hotspot.forecast.mapchange import carry_onto_current\n"
        "f = pd.DataFrame({'x': [0.0, 5.0, 300.0], 'y': [0.0, 1.0, 0.0], 'lsoa_code': ['a', 'a', 'b']})\n"
        "assert carry_onto_current(f, np.array([0, 1, 1]), 1, 1).index.tolist() == [0]\n"
        "heavy = sorted(m for m in ('scipy.stats', 'scipy.signal', 'scipy.spatial') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    assert _printed_by(code) == ""


def test_rank_does_not_import_scipy_special():
    """The trend's normal p, what ``rank`` imported scipy.special for."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import hotspot.places.rank\n"
        "from hotspot.places.timing import kendall_tau_in_order\n"
        "assert kendall_tau_in_order(np.repeat(np.arange(20.0), 2))[1] < 0.05  # tied: the normal p\n"
        "print('scipy.special' if 'scipy.special' in sys.modules else '')\n"
    )
    assert _printed_by(code) == ""


def test_gistar_modules_do_not_import_scipy_special_or_ndimage():
    """A grid Gi* with its named places needs neither (scipy.special ~0.25 s and scipy.ndimage ~0.05 s more of a fresh
    ``hotspot gistar``): the normal tail is the C library's erfc, the places' labels our own (both tested against scipy)."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from hotspot.core.grid import Grid\n"
        "from hotspot.stats.gistar import gi_star_grid\n"
        "from hotspot.scale.tiling import gistar_places\n"
        "counts = np.zeros((40, 40)); counts[10:14, 10:14] = 9.0\n"
        "result = gi_star_grid(counts, 150.0, 100.0)\n"
        "assert len(gistar_places(result, Grid(0.0, 4000.0, 100.0, 40, 40), min_bin=1)) >= 1\n"
        "print(','.join(m for m in ('scipy.special', 'scipy.ndimage', 'scipy.stats') if m in sys.modules))\n"
    )
    assert _printed_by(code) == ""
