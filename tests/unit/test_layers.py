"""The architecture as a test: every import points down the layers of docs/architecture.md, and no
module imports itself back through others.

Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO as ROOT

# Lowest first. A module may import modules of its own layer or of a lower one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("hotspot.kernels",),
    ("hotspot", "hotspot.core"),
    ("hotspot.io",),
    ("hotspot.ingest",),
    ("hotspot.stats",),
    ("hotspot.spacetime", "hotspot.network", "hotspot.scale"),
    ("rtm",),
    ("hotspot.forecast",),
    ("hotspot.places",),
    ("hotspot.report",),
    ("boundaries",),
    ("cli", "hotspot.__main__"),
)


def _modules() -> dict[str, Path]:
    paths = [
        *ROOT.glob("hotspot/**/*.py"),
        *ROOT.glob("rtm/**/*.py"),
        *ROOT.glob("boundaries/**/*.py"),
        ROOT / "cli.py",
    ]
    modules = {}
    for path in paths:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def _layer(module: str) -> int:
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")
    return best


MODULES = _modules()
EDGES = _imports(MODULES)


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_imports_point_down():
    upward = sorted(
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in EDGES.items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


def test_no_import_cycles():
    """Depth-first search for a back edge; the cycle found is printed whole."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(EDGES[module]):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(MODULES):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_checker_sees_a_planted_upward_import(tmp_path):
    """The checker is not vacuous: a core module importing the places layer is reported."""
    assert _layer("hotspot.core.grid") < _layer("hotspot.places.rank")
    planted = ast.parse("def f():\n    from hotspot.places.rank import rank_places\n")
    found = [n.module for n in ast.walk(planted) if isinstance(n, ast.ImportFrom)]
    assert found == ["hotspot.places.rank"] and "hotspot.places.rank" in MODULES
