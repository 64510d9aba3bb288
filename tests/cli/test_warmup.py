"""Compiling ahead (``hotspot cache --compile``) covers every kernel signature the grid commands use:
after it, gistar, rank (each method), kde and evaluate on the demo town compile nothing new.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO as ROOT

COMMANDS = """
import sys
import cli
out = {out!r}
for args in (["gistar", "--out", out + "/g.gpkg"], ["rank", "--out", out + "/r.gpkg"],
             ["rank", "--method", "gistar", "--out", out + "/rg.gpkg"],
             ["rank", "--method", "kde", "--out", out + "/rk.gpkg"],
             ["rank", "--method", "combined", "--out", out + "/rc.gpkg"],
             ["kde", "--out", out + "/k.tif"], ["evaluate", "--out", out + "/e.csv"]):
    sys.argv = ["hotspot", *args, "--quiet"]
    try:
        cli.main()
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
"""


def _compiled(cache: Path) -> set[str]:
    return {p.name for p in cache.rglob("*.nbc")}


def test_compiling_ahead_leaves_nothing_for_the_commands_to_compile(tmp_path):
    from importlib.util import cache_from_source

    cache = tmp_path / "numba"
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(cache), HOTSPOT_CACHE=str(tmp_path / "hs"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # as on CI machines: only `cache --compile` may write the .pyc below
    modules = ("cli.py", "hotspot/stats/gistar.py", "rtm/__init__.py")
    for module in modules:
        Path(cache_from_source(str(ROOT / module))).unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv = ['hotspot', 'cache', '--compile']; import cli; cli.main()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "compiled the kernels" in done.stderr
    ahead = _compiled(cache)
    # hotspot's own modules are byte-compiled too: an editable install has no .pyc, and none is written
    # where PYTHONDONTWRITEBYTECODE is set, so every command compiled them from source.
    for module in modules:
        assert Path(cache_from_source(str(ROOT / module))).exists(), module
    assert any(name.startswith("gistar.") for name in ahead) and any(name.startswith("kde.") for name in ahead)
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", COMMANDS.format(out=str(out))], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert _compiled(cache) - ahead == set(), (
        "these kernels compiled during the commands: add them to hotspot.scale.warmup"
    )
