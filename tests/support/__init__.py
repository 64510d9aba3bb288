"""Helpers shared by the tests: paths, raw police.uk rows and the QGIS check scripts (run by the system Python)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The checkout's root folder."""


def run_pytest(root: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest in a fresh process on a planted tree ``root/tests/...`` with our tests/conftest.py and settings."""
    tests = root / "tests"
    shutil.copy(REPO / "tests" / "conftest.py", tests / "conftest.py")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        str(REPO / "pyproject.toml"),
        "--rootdir",
        str(root),
        str(tests),
        *args,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=root, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
