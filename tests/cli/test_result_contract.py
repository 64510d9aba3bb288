"""One shape for every analysis: each command's result is a frozen hotspot.core.result.Result, and every
command's provenance carries the same filter keys (built once from the shared options)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import cli
from hotspot.core.result import Result
from hotspot.io.provenance import Provenance
from tests.realdata.test_faults import run_main  # the one in-process runner (as test_fuzz uses)

# (command line, the result class it reports); every command that writes an analysis, on the demo data.
RUNS = [
    (["rank", "--top", "3"], "RankResult"),
    (["rank", "--over", "segments", "--top", "3"], "SegmentRankResult"),
    (["kde", "--bandwidth", "300", "--hotspot-share", "0.02"], "DensityMap"),
    (["kde", "--network", "demo"], "NetworkDensityMap"),
    (["gistar", "--band", "300", "--permutations", "0"], "GiStarMap"),
    (["gistar", "--network", "demo", "--permutations", "0"], "GiStarMap"),
    (["rtm", "--distances", "100,200"], "StudyRTM"),
    (["rtm", "--network", "demo"], "SegmentRisk"),
    (["areas"], "AreaStatistics"),
    (["evaluate", "--folds", "1", "--method", "previous_period"], "BacktestResult"),
    (["trends", "--band", "300"], "EmergingHotSpots"),
    (["nearrepeat", "--permutations", "19"], "KnoxResult"),
    (["report", "--section", "concentration"], "StudyReport"),
]
OUT_SUFFIX = {"kde": ".tif", "evaluate": ".csv", "nearrepeat": ".csv", "report": ".html"}


@pytest.fixture
def captured(monkeypatch):
    """Every provenance a run builds (its parameters) and every result it reports."""
    seen = {"parameters": [], "results": []}
    capture = Provenance.capture.__func__

    def recording_capture(cls, command, parameters=None, *args, **kwargs):
        seen["parameters"].append(dict(parameters or {}))
        return capture(cls, command, parameters, *args, **kwargs)

    report = cli._report

    def recording_report(result, *args, **kwargs):
        seen["results"].append(result)
        return report(result, *args, **kwargs)

    monkeypatch.setattr(Provenance, "capture", classmethod(recording_capture))
    monkeypatch.setattr(cli, "_report", recording_report)
    return seen


@pytest.mark.parametrize("args, result_class", RUNS, ids=[" ".join(a) for a, _ in RUNS])
def test_every_command_reports_a_frozen_result_and_the_same_filter_keys(args, result_class, captured, tmp_path):
    out = tmp_path / f"out{'.gpkg' if '--network' in args else OUT_SUFFIX.get(args[0], '.gpkg')}"
    code, err = run_main(*args, "--quiet", "--out", str(out))
    assert code == 0, err
    assert captured["parameters"], "no provenance was built"
    for parameters in captured["parameters"]:
        missing = [key for key in cli.FILTER_KEYS if key not in parameters]
        assert not missing, f"{args[0]} provenance lacks {missing}"
    if result_class is None:
        return
    (result,) = captured["results"]
    assert type(result).__name__ == result_class
    assert isinstance(result, Result)
    assert dataclasses.is_dataclass(result) and type(result).__dataclass_params__.frozen
    lines = result.summary(80)
    assert lines and all(isinstance(line, str) for line in lines)
    assert "provenance" in inspect.signature(result.write).parameters


def test_national_reports_a_frozen_result_with_the_same_filter_keys(captured, tmp_path):
    from boundaries.demo.town import write_demo

    write_demo(tmp_path / "demo")
    folder = next((tmp_path / "demo").rglob("*-street.csv")).parent
    code, err = run_main("national", str(folder), "--quiet", "--out-dir", str(tmp_path / "national"), "--no-kde")
    assert code == 0, err
    (result,) = captured["results"]
    assert isinstance(result, Result) and type(result).__dataclass_params__.frozen
    assert all(key in captured["parameters"][0] for key in cli.FILTER_KEYS)
    assert (tmp_path / "national" / "gistar.gpkg").exists()


def test_provenance_records_the_filters_given(captured, tmp_path):
    code, err = run_main(
        "evaluate",
        "--folds",
        "1",
        "--method",
        "previous_period",
        "--from",
        "2023-06",
        "--hours",
        "19:00-07:00",
        "--crime-type",
        "Burglary",
        "--quiet",
        "--out",
        str(tmp_path / "e.csv"),
    )
    assert code == 0, err
    (parameters,) = captured["parameters"]
    assert parameters["date_from"] == "2023-06" and parameters["hours"] == "19:00-07:00"
    assert parameters["crime_types"] == ["Burglary"] and parameters["date_to"] is None
