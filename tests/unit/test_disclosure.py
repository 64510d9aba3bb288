"""Small-count suppression for published outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hotspot.core.errors import HotspotInputError
from hotspot.io.disclosure import DEFAULT_PUBLIC_K, suppress_layers, suppress_small_counts
from hotspot.io.provenance import Provenance


def table():
    return pd.DataFrame(
        {
            "name": list("abcde"),
            "count": [0, 1, 4, 5, 12],
            "share": [0.0, 1 / 22, 4 / 22, 5 / 22, 12 / 22],
            "cumulative_share": [0.0, 1 / 22, 5 / 22, 10 / 22, 1.0],
        }
    )


def test_counts_one_to_k_minus_one_become_the_marker():
    published, note = suppress_small_counts(table(), k=5)
    assert published["count"].tolist() == [0, "<5", "<5", 5, 12]
    assert published["suppressed"].tolist() == [False, True, True, False, False]
    assert np.isnan(published["share"].iloc[1]) and np.isnan(published["share"].iloc[2])
    assert published["share"].iloc[4] == pytest.approx(12 / 22)
    assert "counts of 1 to 4 in count suppressed (2 value(s) in 2 row(s))" in note
    assert np.isnan(published["cumulative_share"].iloc[2]) and published["cumulative_share"].iloc[3] == pytest.approx(
        10 / 22
    )
    assert "share, cumulative_share blanked" in note


def test_the_input_is_not_modified():
    frame = table()
    suppress_small_counts(frame, k=5)
    assert frame["count"].tolist() == [0, 1, 4, 5, 12]


def test_marker_none_keeps_the_column_numeric():
    published, _ = suppress_small_counts(table(), ["count"], k=3, marker=None)
    assert published["count"].dtype.kind == "f"
    assert published["count"].isna().tolist() == [False, True, False, False, False]


def test_suppress_zero_and_threshold_of_one():
    published, _ = suppress_small_counts(table(), k=2, suppress_zero=True)
    assert published["count"].tolist()[:2] == ["<2", "<2"]
    same, note = suppress_small_counts(table(), k=1)
    assert note is None and same["count"].tolist() == [0, 1, 4, 5, 12]


def test_bad_threshold_and_missing_columns_are_clear_errors():
    with pytest.raises(HotspotInputError, match="whole number"):
        suppress_small_counts(table(), k=2.5)
    with pytest.raises(HotspotInputError, match="0 or more"):
        suppress_small_counts(table(), k=-1)
    with pytest.raises(HotspotInputError, match="no column crimes"):
        suppress_small_counts(table(), ["crimes"], k=5)


def test_suppress_layers_notes_each_layer_in_provenance():
    layers = {"ranked": table(), "model": pd.DataFrame({"factor": ["bars"], "coef": [0.5]})}
    prov = Provenance.capture("rank", {}, [], None)
    out, prov = suppress_layers(layers, DEFAULT_PUBLIC_K, prov)
    assert out["ranked"]["count"].isna().sum() == 2  # marker None by default for layers
    assert out["model"].equals(layers["model"])
    assert len(prov.disclosure) == 1 and prov.disclosure[0].startswith("ranked:")
