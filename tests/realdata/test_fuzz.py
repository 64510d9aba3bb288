"""Fuzzing: no input file and no option string may produce a traceback; only exit codes 0 and 2.

The CSV reader gets random bytes, real police.uk rows in random column orders and encodings, and
rows with random cell text; the option parser gets random option strings on every command. Each
case ends in a result or one ``HotspotInputError`` line (exit code 2), never anything else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotspot.core.errors import HotspotInputError
from hotspot.ingest import read_records
from tests.realdata.test_faults import run_main

EXAMPLES = int(os.environ.get("HOTSPOT_FUZZ_EXAMPLES", "60"))
"""Examples per fuzz test; raise it locally (e.g. HOTSPOT_FUZZ_EXAMPLES=1500) for a longer search."""
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def real_rows(bedfordshire_crime_dir) -> pd.DataFrame:
    """40 rows of a real month, as published (text), including rows without a location."""
    frame = pd.read_csv(bedfordshire_crime_dir / "2022-02-bedfordshire-street.csv.gz", dtype=str, keep_default_na=False)
    return pd.concat([frame.head(30), frame[frame["Longitude"] == ""].head(10)], ignore_index=True)


def _read(path: Path) -> None:
    try:
        read_records([path])
    except HotspotInputError as exc:
        message = str(exc)
        assert message and "\n" not in message, message


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".csv.gz", ".txt", ".tsv"]))
def test_random_bytes(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("bytes") / f"crimes{suffix}"
    path.write_bytes(data)
    _read(path)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]


@pytest.mark.realdata
@FUZZ
@given(
    order=st.permutations(list(range(12))),
    encoding=st.sampled_from(ENCODINGS),
    sep=st.sampled_from([",", ";", "\t"]),
    keep=st.integers(1, 12),
    n=st.integers(0, 40),
    crlf=st.booleans(),
)
def test_real_rows_in_random_orders_and_encodings(tmp_path_factory, real_rows, order, encoding, sep, keep, n, crlf):
    columns = [real_rows.columns[i] for i in order[:keep]]
    text = real_rows.head(n)[columns].to_csv(index=False, sep=sep, lineterminator="\r\n" if crlf else "\n")
    path = tmp_path_factory.mktemp("orders") / "crimes.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    _read(path)


CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "NaN", "inf", "-inf", "1e309", "52,13", "-0,47", "0x1F", "  ", "\u00a0", "2022-13", "N/A"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@pytest.mark.realdata
@FUZZ
@given(data=st.data())
def test_real_header_with_random_cells(tmp_path_factory, real_rows, data):
    rows = data.draw(st.integers(1, 8))
    frame = pd.DataFrame({c: data.draw(st.lists(CELL, min_size=rows, max_size=rows)) for c in real_rows.columns})
    path = tmp_path_factory.mktemp("cells") / "crimes.csv"
    frame.to_csv(path, index=False)
    _read(path)


# --- the option parser ----------------------------------------------------------------------------------

COMMANDS = {
    "rank": [
        "--method",
        "--over",
        "--top",
        "--area-share",
        "--bandwidth",
        "--band",
        "--cell-size",
        "--hours",
        "--weekdays",
        "--from",
        "--to",
        "--crs",
        "--crime-type",
        "--suppress-below",
        "--seed",
        "--boundaries",
        "--band-rule",
        "--bandwidth-rule",
    ],
    "kde": [
        "--kernel",
        "--bandwidth",
        "--units",
        "--hotspot-share",
        "--cell-size",
        "--hours",
        "--from",
        "--crs",
        "--bandwidth-rule",
    ],
    "gistar": [
        "--band",
        "--weights",
        "--k",
        "--permutations",
        "--correction",
        "--cell-size",
        "--area-counts",
        "--weekdays",
        "--band-rule",
    ],
    "areas": ["--join", "--level", "--population", "--imd", "--lookup", "--from", "--to", "--boundaries"],
    "evaluate": ["--area-share", "--train-months", "--test-months", "--folds", "--method", "--cell-size"],
    "rtm": ["--factor", "--distances", "--test-from", "--cell-size", "--factors-toml"],
    "report": ["--section", "--top", "--permutations", "--cell-size", "--title"],
    "national": ["--cell-size", "--bandwidth", "--kernel", "--band", "--correction", "--from", "--to", "--tile-cells"],
}
FLAGS = [
    "--nte",
    "--quiet",
    "--public",
    "--merge",
    "--no-merge",
    "--binned",
    "--edge-correction",
    "--per-year",
    "--rtm",
    "--no-kde",
    "--help-me",
    "-x",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "5",
            "0.01",
            "1e309",
            "nan",
            "inf",
            "-inf",
            "",
            " ",
            "abc",
            "19:00-07:00",
            "25:99",
            "2022-02",
            "2022-13",
            "2022-02-30",
            "fri,sat",
            "moon",
            "EPSG:27700",
            "EPSG:4326",
            "quartic",
            "count",
            "gistar",
            "areas",
            "band",
            "queen",
            "fdr",
            "x=nowhere.gpkg",
            "50,100",
            "--quiet",
            "-",
            "/proc",
            "\u00e9\u00e8",
            "holdout",
            "moran",
            "silverman",
        ]
    ),
    st.text(max_size=8),
    st.integers(-10, 10**6).map(str),
)


def _run(args: list[str]) -> tuple[int, str]:
    return run_main(*args)


@pytest.mark.realdata
@settings(
    max_examples=max(10, EXAMPLES // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_option_strings_exit_0_or_2(tmp_path_factory, real_rows, data):
    folder = tmp_path_factory.mktemp("opts")
    crimes = folder / "crimes.csv"
    real_rows.to_csv(crimes, index=False)
    command = data.draw(st.sampled_from(sorted(COMMANDS)))
    args = [command]
    for _ in range(data.draw(st.integers(0, 4))):
        if data.draw(st.booleans()):
            args += [data.draw(st.sampled_from(COMMANDS[command])), data.draw(VALUES)]
        else:
            args.append(data.draw(st.sampled_from(FLAGS)))
    # always on real rows and into the temporary folder, so a run that is valid is also quick
    out = "--out-dir" if command == "national" else "--out"
    suffix = {"kde": ".tif", "evaluate": ".csv", "report": ".html"}.get(command, ".gpkg")
    args += [str(crimes), out, str(folder / ("nat" if command == "national" else f"o{suffix}")), "--quiet"]
    if command in ("rank", "gistar", "report"):
        args += ["--permutations", "0"] if command != "rank" else []
    code, stderr = _run(args)
    assert code in (0, 2), (args, code, stderr)
    assert "Traceback" not in stderr, (args, stderr)
