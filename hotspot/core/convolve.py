"""2-D FFT convolution without importing ``scipy.signal``.

``scipy.signal`` takes about half a second to import (it builds the docstrings of hundreds of
functions), more than the convolutions ``hotspot evaluate`` runs with it. :func:`fftconvolve_same`
does what ``scipy.signal.fftconvolve(a, k, mode="same")`` does for real 2-D arrays, step by step
(the same ``scipy.fft`` calls on the same padded shapes), so the values are bit for bit the same;
``tests`` check it against ``scipy.signal``.
"""

from __future__ import annotations

import numpy as np


def fftconvolve_same(image, kernel) -> np.ndarray:
    """``scipy.signal.fftconvolve(image, kernel, mode="same")`` for real 2-D arrays, bit for bit.

    Parameters
    ----------
    image, kernel : array_like
        Real 2-D arrays (integers are taken as float64).

    Returns
    -------
    numpy.ndarray
        The full linear convolution's centre, ``image``'s shape.
    """
    from scipy import fft as sp_fft

    a = np.asarray(image)
    k = np.asarray(kernel)
    if a.ndim != 2 or k.ndim != 2:
        raise ValueError("fftconvolve_same takes 2-D arrays")
    if a.size == 0 or k.size == 0:
        return np.asarray([])
    if a.dtype.kind in "iub":
        a = a.astype(np.float64)
    if k.dtype.kind in "iub":
        k = k.astype(np.float64)
    s1, s2 = a.shape, k.shape
    axes = [ax for ax in (0, 1) if s1[ax] != 1 and s2[ax] != 1]  # length-1 axes broadcast, as scipy does
    shape = [s1[i] + s2[i] - 1 if i in axes else max(s1[i], s2[i]) for i in (0, 1)]
    if not axes:
        full = a * k
    else:
        fshape = [sp_fft.next_fast_len(shape[ax], True) for ax in axes]
        full = sp_fft.irfftn(sp_fft.rfftn(a, fshape, axes=axes) * _kernel_spectrum(k, fshape, axes), fshape, axes=axes)
        full = full[tuple(slice(n) for n in shape)]
    start = [(full.shape[i] - s1[i]) // 2 for i in (0, 1)]
    return full[start[0] : start[0] + s1[0], start[1] : start[1] + s1[1]].copy()


_SPECTRA: dict = {}
_SPECTRA_KEPT = 8


def _kernel_spectrum(kernel: np.ndarray, fshape, axes) -> np.ndarray:
    """``rfftn(kernel, fshape, axes=axes)``, remembered: a backtest convolves every fold with the same few
    kernels, and the padded kernel's transform costs as much as the image's."""
    from scipy import fft as sp_fft

    key = (kernel.shape, kernel.dtype.str, kernel.tobytes(), tuple(fshape), tuple(axes))
    spectrum = _SPECTRA.get(key)
    if spectrum is None:
        if len(_SPECTRA) >= _SPECTRA_KEPT:
            _SPECTRA.pop(next(iter(_SPECTRA)))
        spectrum = _SPECTRA[key] = sp_fft.rfftn(kernel, fshape, axes=axes)
        spectrum.flags.writeable = False
    return spectrum
