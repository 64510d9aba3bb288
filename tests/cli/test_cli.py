"""The command line: help for every command, reading options, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.support import REPO


def _hotspot(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "cli", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def _commands():
    sys.path.insert(0, str(REPO))
    import cli

    return [c.name or c.callback.__name__ for c in cli.app.registered_commands]


def test_help_lists_every_command_and_imports_nothing_heavy():
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, cli; "
            "heavy = [m for m in ('numba', 'geopandas', 'rasterio', 'pandas', 'shapely') if m in sys.modules]; "
            "print(heavy)",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "[]", run.stdout + run.stderr
    top = _hotspot("--help")
    assert top.returncode == 0
    for name in _commands():
        assert name in top.stdout


@pytest.mark.parametrize("command", _commands())
def test_every_command_help_names_units_or_defaults(command):
    run = _hotspot(command, "--help")
    assert run.returncode == 0, run.stderr
    assert "Usage" in run.stdout
    if "--cell-size" in run.stdout:
        assert "metres" in run.stdout


def _extract(tmp_path, columns=("E", "N")):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            columns[0]: rng.uniform(505_000, 506_000, 200),
            columns[1]: rng.uniform(225_000, 226_000, 200),
            "When": pd.date_range("2024-01-05 20:00", periods=200, freq="7h").strftime("%d/%m/%Y %H:%M"),
            "Offence": "Burglary",
        }
    )
    path = tmp_path / "extract.csv"
    frame.to_csv(path, index=False)
    return path


def test_reading_options_name_the_columns(tmp_path):
    path = _extract(tmp_path, columns=("Grid E", "Grid N"))
    out = tmp_path / "ranked.gpkg"
    run = _hotspot(
        "rank",
        path,
        "--x-column",
        "Grid E",
        "--y-column",
        "Grid N",
        "--date-column",
        "When",
        "--type-column",
        "Offence",
        "--quiet",
        "--out",
        out,
    )
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out.with_suffix(".csv"))
    assert table["count"].sum() > 0 and "peak" in table


def test_unknown_columns_error_names_the_cli_options(tmp_path):
    path = _extract(tmp_path, columns=("Grid E", "Grid N"))
    run = _hotspot("rank", path, "--quiet")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "extract.csv" in lines[0]
    assert "--x-column" in lines[0] or "--lon-column" in lines[0]


@pytest.mark.parametrize(
    "args, words",
    [
        (["rank", "--method", "magic"], "--method"),
        (["rank", "--area-share", "3"], "--area-share"),
        (["rank", "--crime-type", "Piracy"], "Piracy"),
        (["rank", "--from", "2031-01"], "--from 2031-01"),
        (["rank", "--x-column", "E"], "no INPUT"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, words):
    run = _hotspot(*args, "--quiet")
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert words.lower() in lines[0].lower()


def test_python_dash_m_hotspot_runs_the_same_command_and_the_version_has_one_source():
    import subprocess
    import sys
    from importlib.metadata import version

    import hotspot

    result = subprocess.run([sys.executable, "-m", "hotspot", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage: python -m hotspot" in result.stdout
    assert version("hotspot") == hotspot.__version__
