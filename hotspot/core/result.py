"""The one shape every analysis returns: a frozen result that writes its own files and says what it found.

Learned from scikit-learn and esda: an analysis is a function of its inputs and declared parameters;
what it returns is a frozen dataclass with typed attributes (never mutated after return), and:

- ``write(path, *, provenance=None) -> list[Path]`` writes every format of that result (GeoPackage
  layers, GeoTIFFs, CSVs, QGIS styles) with the provenance in each file's metadata;
- ``summary(width=100) -> list[str]`` gives the lines ``hotspot COMMAND`` prints, tables laid out to
  ``width`` columns; the library itself never prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

PRINTED_ROWS = 20
"""Longest list a summary prints; the rest are in the files written."""

SUMMARY_WIDTH = 100
"""Columns a summary's tables are laid out to when the caller does not say (a wide terminal)."""


@runtime_checkable
class Result(Protocol):
    """What every analysis returns (see the module docstring)."""

    def write(self, path: str | Path, *, provenance: Any = None) -> list[Path]:
        """Write every format of the result beside ``path``; return the paths written.

        ``provenance`` is a :class:`hotspot.io.provenance.Provenance` (typed loosely here: core sits below io).
        """
        ...

    def summary(self, width: int = SUMMARY_WIDTH) -> list[str]:
        """The lines a command prints about the result, tables laid out to ``width`` columns."""
        ...


def render(renderable, width: int = SUMMARY_WIDTH) -> list[str]:
    """A rich table (or any rich renderable) as plain text lines ``width`` columns wide.

    Summaries are plain lines so any caller can show them; rich only lays the table out.
    """
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False, emoji=False).print(renderable)
    return buffer.getvalue().rstrip("\n").splitlines()


def measure(table) -> int:
    """The width in characters a rich table needs to print without wrapping."""
    import io

    from rich.console import Console

    return Console(width=10_000, file=io.StringIO()).measure(table).maximum


def fit_columns(build, columns: list[str], drop_order, width: int) -> list[str]:
    """The columns to print so ``build(columns)`` (a rich Table) fits ``width``: drop ``drop_order`` in turn."""
    columns = list(columns)
    for column in drop_order:
        if measure(build(columns)) <= width:
            break
        if column in columns:
            columns.remove(column)
    return columns
