"""main() builds only the command it runs; what that command parses and prints is the whole app's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

import cli


def _params(command):
    return [(p.name, tuple(p.opts), p.default, p.required) for p in command.params]


@pytest.mark.parametrize("info", cli.app.registered_commands, ids=lambda info: info.callback.__name__)
def test_each_command_alone_parses_as_in_the_whole_app(info):
    name = info.name or typer.main.get_command_name(info.callback.__name__)
    whole = typer.main.get_command(cli.app)
    one = typer.main.get_command(cli._app_for(["hotspot", name, "--quiet"]))
    assert list(one.commands) == [name]
    assert _params(one.commands[name]) == _params(whole.commands[name])
    assert one.commands[name].help == whole.commands[name].help


@pytest.mark.parametrize("argv", [["hotspot"], ["hotspot", "--help"], ["hotspot", "gistr"], ["hotspot", "_root"]])
def test_anything_but_a_command_gets_the_whole_app(argv):
    assert cli._app_for(argv) is cli.app


def test_a_misspelt_command_still_gets_a_suggestion():
    root = Path(cli.__file__).parent
    done = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "gistr"], capture_output=True, text=True, cwd=root
    )
    assert done.returncode == 2 and "Did you mean 'gistar'?" in done.stderr
