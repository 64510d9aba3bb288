"""Helpers shared by the tests: paths, raw police.uk rows and the QGIS check scripts (run by the system Python)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The checkout's root folder."""
