"""Streaming ingest drops repeated Crime IDs as read_records does and reports them; checked against an
independent pandas count of the same files (and against read_records where no filter applies)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from hotspot.ingest import read_records
from hotspot.ingest.projection import WGS84, transform
from hotspot.scale.stream import _crime_id_keys, stream_locations

HEADER = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three monthly files whose rows draw Crime IDs from a small pool: repeats within and across files, empty IDs,
    IDs that differ only by surrounding spaces, IDs that are not police.uk's hex, a repeat without a location
    and a repeat outside Great Britain (neither of which counts as a repeat or is repeated)."""
    folder = tmp_path_factory.mktemp("dups")
    rng = np.random.default_rng(7)
    pool = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(300)]
    pool += ["abc-1", " abc-1", "X 2", pool[0].upper()]
    for month in ("2023-01", "2023-02", "2023-03"):
        n = 400
        ids = [pool[i] if rng.random() > 0.25 else "" for i in rng.integers(0, len(pool), n)]
        lon = np.round(-0.46 + rng.normal(0, 0.01, n), 3)
        lat = np.round(52.13 + rng.normal(0, 0.006, n), 3)
        kinds = rng.choice(["Burglary", "Drugs"], n)
        rows = [
            f'"{i}",{month},P,P,{a},{b},On or near S{int(abs(a) * 1e3) % 5},E01,L {int(b * 1e3) % 3},{t},,\n'
            for i, a, b, t in zip(ids, lon, lat, kinds)
        ]
        rows[3] = f"{pool[5]},{month},P,P,,,No location,,,Burglary,,\n"
        rows[4] = f"{pool[6]},{month},P,P,10.5,45.0,Far away,,,Burglary,,\n"
        (folder / f"{month}-test-street.csv").write_text(HEADER + "".join(rows))
    return folder


def _pandas_reference(folder, crime_type=None):
    """Kept records per (lon, lat) and the duplicate / crime-type counts, by plain pandas."""
    frames = [pd.read_csv(f, dtype={"Crime ID": str}) for f in sorted(folder.glob("*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    ids = df["Crime ID"].fillna("").str.strip()
    in_gb = df["Longitude"].between(-9, 3) & df["Latitude"].between(49, 62)  # no location: NaN, not between
    repeat = in_gb & (ids != "") & ids.where(in_gb & (ids != "")).duplicated(keep="first")
    kept = in_gb & ~repeat
    wanted = kept if crime_type is None else kept & (df["Crime type"] == crime_type)
    counts = df[wanted].groupby(["Longitude", "Latitude"]).size()
    x, y = transform(
        counts.index.get_level_values(0).to_numpy(float),
        counts.index.get_level_values(1).to_numpy(float),
        WGS84,
        "EPSG:27700",
    )
    order = np.lexsort((x, y))
    return x[order], y[order], counts.to_numpy(float)[order], int(repeat.sum()), int((kept & ~wanted).sum())


@pytest.mark.parametrize("with_text", [False, True])
@pytest.mark.parametrize("crime_type", [None, "Burglary"])
def test_repeated_crime_ids_are_dropped_and_reported(folder, with_text, crime_type):
    x, y, w, n_repeats, n_filtered = _pandas_reference(folder, crime_type)
    assert n_repeats > 100  # the fixture has repeats to find
    got = stream_locations(
        [folder], with_text=with_text, files_per_task=1, crime_types=[crime_type] if crime_type else None
    )
    assert np.array_equal(got.x, x) and np.array_equal(got.y, y) and np.array_equal(got.weight, w)
    assert got.rejected["duplicate"] == n_repeats
    assert got.rejected["filtered_crime_type"] == n_filtered
    assert got.notes and f"{n_repeats:,} records repeat a Crime ID" in got.notes[0]
    if with_text:
        assert got.text["weight"].sum() == got.weight.sum()
    if crime_type is None:
        records = read_records([folder])
        assert got.rejected["duplicate"] == records.reject_counts["duplicate"]
        assert got.n_records == len(records.frame)


def test_crime_id_keys_follow_the_text():
    import pyarrow as pa

    hexid = hashlib.sha256(b"1").hexdigest()
    ids = pa.array([hexid, "abc", hexid, "abc ", hexid[:-1] + "g", hexid.upper()])
    key = _crime_id_keys(ids)
    assert key[0] == key[2] and key[0] == _crime_id_keys(pa.array([hexid]))[0]
    assert len(set(key.tolist())) == 5  # "abc " is its own text here (the caller strips); the rest differ
    assert np.isfinite(key.real).all() and (key.real >= 1).all() and (key.imag < 2).all()
    # A police.uk-shaped ID and the same ID with one digit changed, at every position: never the same key.
    variants = [hexid[:i] + ("0" if hexid[i] != "0" else "1") + hexid[i + 1 :] for i in range(64)]
    keys = _crime_id_keys(pa.array([hexid, *variants]))
    assert (keys[1:] != keys[0]).all()


@pytest.mark.parametrize("processes", [False, True])
def test_dask_ingest_drops_the_same_repeats(folder, processes):
    """One Dask task per file: worker processes merge partial results pairwise (Crime-ID rows included), the
    in-process worker hands them back whole; both equal the local engine."""
    pytest.importorskip("distributed")
    from hotspot.scale.distributed import dask_client

    local = stream_locations([folder], with_text=True, files_per_task=1)
    with dask_client(processes=processes, n_workers=2) as client:
        got = stream_locations([folder], with_text=True, files_per_task=1, engine="dask", client=client)
    assert np.array_equal(got.x, local.x) and np.array_equal(got.weight, local.weight)
    assert got.rejected == local.rejected and got.notes == local.notes
    assert got.text.equals(local.text)


def test_national_summary_reports_the_repeats(folder):
    from hotspot.scale.national import run_national

    _, _, w, n_repeats, _ = _pandas_reference(folder)
    result = run_national([folder], kde=False, tile_cells=32)
    text = "\n".join(result.summary())
    assert result.locations.n_records == int(w.sum())
    assert f"{n_repeats:,} duplicate" in text and f"{n_repeats:,} records repeat a Crime ID" in text


def test_a_file_given_twice_is_read_once(folder, tmp_path):
    """The same folder twice, one file copied under another name and one gzipped: each repeat is read once and
    its rows counted as duplicates, with a note naming it, as read_records does (rows without a Crime ID
    included, which the Crime-ID check alone would count twice)."""
    import gzip
    import shutil

    files = sorted(folder.glob("*.csv"))
    copy = tmp_path / "renamed.csv"
    shutil.copy(files[0], copy)
    gz = tmp_path / "2023-02-again-street.csv.gz"
    gz.write_bytes(gzip.compress(files[1].read_bytes()))
    inputs = [folder, folder, copy, gz]
    once = stream_locations([folder])
    for engine_options in ({}, {"files_per_task": 1}):
        got = stream_locations(inputs, with_text=True, **engine_options)
        assert np.array_equal(got.x, once.x) and np.array_equal(got.weight, once.weight)
        rows = [len(pd.read_csv(f)) for f in files]
        repeated_rows = sum(rows) + rows[0] + rows[1]
        assert got.n_rows == once.n_rows + repeated_rows
        assert got.rejected["duplicate"] == once.rejected["duplicate"] + repeated_rows
        assert sum(got.rejected.values()) + got.n_records == got.n_rows
        assert sum("is given twice" in note for note in got.notes) == len(files)
        assert sum("has the same bytes as" in note for note in got.notes) == 2
        assert any(note.startswith(f"{copy} has the same bytes as") for note in got.notes)
    records = read_records(inputs)
    assert got.n_records == len(records.frame)
    assert got.rejected["duplicate"] == records.reject_counts["duplicate"]


def test_files_of_equal_size_but_other_text_are_both_read(tmp_path):
    a = HEADER + '"1",2023-01,P,P,-0.460,52.130,On or near A,E01,L 1,Burglary,,\n'
    b = HEADER + '"2",2023-01,P,P,-0.461,52.130,On or near A,E01,L 1,Burglary,,\n'
    assert len(a) == len(b)
    (tmp_path / "a.csv").write_text(a)
    (tmp_path / "b.csv").write_text(b)
    got = stream_locations([tmp_path])
    assert got.n_records == 2 and got.rejected["duplicate"] == 0 and not got.notes


def test_a_zip_member_repeating_a_file_is_read_once(folder, tmp_path):
    """A police.uk zip holding a month also given as a file (and one month gzipped inside it): the member is
    counted as duplicate rows, sized from the zip's directory, as read_records counts it."""
    import gzip
    import zipfile

    files = sorted(folder.glob("*.csv"))
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(files[0], f"2023-01/{files[0].name}")
        zf.writestr(f"2023-02/{files[1].name}.gz", gzip.compress(files[1].read_bytes()))
    inputs = [folder, archive]
    once = stream_locations([folder])
    got = stream_locations(inputs)
    assert np.array_equal(got.x, once.x) and np.array_equal(got.weight, once.weight)
    rows = [len(pd.read_csv(f)) for f in files[:2]]
    assert got.rejected["duplicate"] == once.rejected["duplicate"] + sum(rows)
    assert sum("has the same bytes as" in note for note in got.notes) == 2
    records = read_records(inputs)
    assert got.n_records == len(records.frame)
    assert got.rejected["duplicate"] == records.reject_counts["duplicate"]
