"""The HTML report laid out by a real browser (headless Chromium) at desktop and phone width.

Screenshots are left in the test's tmp folder (``report_1400.png``, ``report_390.png``) as artefacts to look
at. Skips on a machine without Chromium; in CI (CI=true) ``.ci/install-system-deps`` installs it and the
test must run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest
from typer.testing import CliRunner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI", "").lower() not in ("1", "true", "yes"),
    reason="headless Chromium is not installed",
)

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium(*args: str) -> str:
    assert CHROMIUM, "Chromium is missing in CI: .ci/install-system-deps must install it"
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    from cli import app

    folder = tmp_path_factory.mktemp("browser")
    out = folder / "report.html"
    result = CliRunner().invoke(app, ["rank", "--out", str(folder / "rank.gpkg"), "--report", str(out), "--quiet"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


@pytest.mark.parametrize("width", [1400, 390])
def test_report_fits_the_window_and_draws(demo_report, width):
    # Headless Chromium will not make a window narrower than 500 px, so the report is laid out in an iframe
    # exactly `width` px wide; the page's own measure of its width is read back through the DOM.
    frame = demo_report.with_name(f"frame_{width}.html")
    frame.write_text(
        f'<!DOCTYPE html><html><head><title>waiting</title></head><body style="margin:0">'
        f'<iframe id="r" src="{demo_report.name}" style="width:{width}px;height:2800px;border:0"></iframe><script>'
        "document.getElementById('r').onload = function () { var d = this.contentDocument;"
        "  var right = Math.max(...[...d.images].map(i => i.getBoundingClientRect().right));"
        "  document.title = 'W=' + d.documentElement.scrollWidth + ';IMG=' + right; };"
        "</script></body></html>",
        encoding="utf-8",
    )
    window = f"--window-size={max(width, 500) + 20},2800"
    dom = _chromium(
        window, "--allow-file-access-from-files", "--virtual-time-budget=8000", "--dump-dom", frame.as_uri()
    )
    found = re.search(r"<title>W=(\d+);IMG=([\d.]+)</title>", dom)
    assert found, dom[:500]
    scroll_width, widest_image = int(found.group(1)), float(found.group(2))
    assert scroll_width <= width, f"the page is {scroll_width} px wide in a {width} px window"
    assert widest_image <= width
    if width == 1400:
        # Maps use the page: the hot-spot map is at least 1,100 px wide on a desktop.
        assert widest_image >= 1100
    shot = demo_report.with_name(f"report_{width}.png")
    _chromium(
        window, "--allow-file-access-from-files", "--virtual-time-budget=8000", f"--screenshot={shot}", frame.as_uri()
    )
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one


def test_report_speaks_to_an_analyst(demo_report):
    text = demo_report.read_text(encoding="utf-8")
    assert "<h1>All crime (14 types) in Demoton, January 2023 to December 2024 (24,978 records)</h1>" in text
    # The demo has times: the weekday x hour chart, and close-ups of the town holding the top places.
    assert "<h2>When: day of the week and hour</h2>" in text
    assert "<h2>The top places, town by town</h2>" in text and 'alt="Demoton close up"' in text
    assert text.count("How to read this.") >= 4
    assert "<th>Busiest times (share of the place&#x27;s records)</th>" in text
