"""Numba kernels, kept together: small pure functions over arrays, compiled with ``cache=True``.

One module per topic (``kde``, ``gistar``, ...). The Python modules around them validate
and shape data; nothing here validates input or prints.
"""
