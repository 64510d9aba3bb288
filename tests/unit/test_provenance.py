"""Provenance capture: hashes, sizes, record counts, time and JSON round trip."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.core.records import Records, empty_frame
from hotspot.io.provenance import Provenance, provenance_sidecar


def test_capture_hashes_files_and_folders(tmp_path):
    a = tmp_path / "a.csv"
    a.write_bytes(b"Crime ID,Month\n1,2024-01\n")
    folder = tmp_path / "months"
    folder.mkdir()
    (folder / "2024-02.csv").write_bytes(b"x")
    (folder / "sub").mkdir()
    (folder / "sub" / "2024-03.csv").write_bytes(b"yy")
    prov = Provenance.capture(
        "rank", {"out": tmp_path / "o.gpkg", "top": 20}, [a, folder, "demo"], None, argv=["hotspot", "rank"]
    )
    paths = [i["path"] for i in prov.inputs]
    assert paths == [str(a), str(folder / "2024-02.csv"), str(folder / "sub" / "2024-03.csv"), "demo"]
    assert prov.inputs[0]["size_bytes"] == len(a.read_bytes())
    assert prov.inputs[0]["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest()
    assert prov.inputs[2]["sha256"] == hashlib.sha256(b"yy").hexdigest()
    assert prov.inputs[3] == {"path": "demo", "size_bytes": None, "sha256": None}
    assert prov.parameters == {"out": str(tmp_path / "o.gpkg"), "top": 20}


def test_capture_counts_kept_and_rejected_records():
    frame = empty_frame().reindex(range(3))
    rejected = pd.DataFrame(
        {"reason": ["no_location", "no_location", "filtered_date"], "source": "x", "source_row": [1, 2, 3]}
    )
    records = Records(frame=frame, crs="EPSG:27700", rejected=rejected)
    prov = Provenance.capture("gistar", {}, [], records)
    assert prov.records_kept == 3
    assert prov.records_rejected == {"no_location": 2, "filtered_date": 1}
    assert prov.crs == "EPSG:27700"


def test_time_is_utc_and_json_round_trips():
    local = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    prov = Provenance.capture("kde", {"bandwidth_m": 250.0}, [], None, now=local).with_disclosure("note")
    assert prov.created_utc == "2026-03-01T10:00:00Z"
    data = json.loads(prov.to_json())
    assert data["tool"] == "hotspot" and data["disclosure"] == ["note"]
    assert Provenance.from_json(prov.to_json()) == prov
    assert prov.with_disclosure(None) is prov


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(HotspotInputError, match="does not exist"):
        Provenance.capture("rank", {}, [tmp_path / "nope.csv"], None)


def test_sidecar_name():
    assert provenance_sidecar("out/ranked.csv").name == "ranked.provenance.json"


def test_summary_lines_mention_rejects_and_inputs(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x")
    frame = empty_frame().reindex(range(2))
    rejected = pd.DataFrame({"reason": ["no_location"], "source": "x", "source_row": [1]})
    prov = Provenance.capture("rank", {}, [a], Records(frame=frame, crs="EPSG:27700", rejected=rejected))
    text = "\n".join(prov.summary_lines())
    assert "records kept: 2; rejected: 1 (no_location 1)" in text
    assert f"input: {a} (1 bytes" in text
