"""The code is ruff-clean (lint and format, settings in pyproject.toml), so CI checks it with every test run."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO


def _ruff(*args: str) -> subprocess.CompletedProcess:
    """ruff from the test extras (pinned in pyproject.toml); a missing ruff fails with pip's hint in the output."""
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)


def test_ruff_lint_is_clean():
    result = _ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout + result.stderr
