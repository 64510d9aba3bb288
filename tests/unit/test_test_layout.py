"""The test layout check in tests/conftest.py: a real-data test outside tests/realdata, or a test file outside the
kind folders, fails with a line saying where it belongs; a test in its folder gets the folder's marker."""

from __future__ import annotations

from tests.support import run_pytest as _pytest

NEEDS_DATA = """
import pytest

@pytest.fixture
def rows(shared_data):  # real data through another fixture
    return shared_data


def test_planted(rows):
    pass
"""


def test_misplaced_tests_fail_saying_where_they_belong(tmp_path):
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_planted.py").write_text(NEEDS_DATA)
    (tmp_path / "tests" / "unit" / "test_small.py").write_text("def test_small():\n    pass\n")
    (tmp_path / "tests" / "test_flat.py").write_text("def test_flat():\n    pass\n")
    run = _pytest(tmp_path)
    assert run.returncode == 1 and "1 passed, 2 errors" in run.stdout, run.stdout
    assert "ERROR tests/unit/test_planted.py::test_planted" in run.stdout
    assert "needs the real data (shared_data) so it belongs in tests/realdata/" in run.stdout
    assert "ERROR tests/test_flat.py::test_flat" in run.stdout
    assert "put test files in one of tests/{unit,parity,recovery,realdata,cli}/" in run.stdout


def test_the_folder_sets_the_marker(tmp_path):
    (tmp_path / "tests" / "realdata").mkdir(parents=True)
    (tmp_path / "tests" / "realdata" / "test_planted.py").write_text(NEEDS_DATA)
    (tmp_path / "tests" / "unit").mkdir()
    (tmp_path / "tests" / "unit" / "test_small.py").write_text("def test_small():\n    pass\n")
    realdata = _pytest(tmp_path, "--collect-only", "-m", "realdata")
    assert realdata.returncode == 0, realdata.stdout
    assert "test_planted.py::test_planted" in realdata.stdout and "test_small" not in realdata.stdout
    not_realdata = _pytest(tmp_path, "--collect-only", "-m", "not realdata and unit").stdout
    assert "test_small.py::test_small" in not_realdata and "test_planted" not in not_realdata
