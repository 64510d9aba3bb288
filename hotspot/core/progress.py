"""Progress reporting shared by every long-running library function.

A progress callback is any callable ``progress(stage, done, total)``:

- ``stage`` (str): a short human label such as ``"reading CSVs"`` or ``"permutations"``;
- ``done`` (float): units of work finished so far in this stage;
- ``total`` (float or None): units expected in this stage, or None when unknown.

Library functions accept ``progress=None`` and never print; the CLI draws the callback
with rich and ``--quiet`` passes None.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, float, float | None], None]


def null_progress(stage: str, done: float, total: float | None) -> None:
    """A progress callback that does nothing."""


def resolve(progress: ProgressCallback | None) -> ProgressCallback:
    """Return ``progress`` or the no-op callback, so callers can always call it."""
    return progress if progress is not None else null_progress
