"""Is the design in docs/architecture.md still the code's? Every room it names exists, the rooms
import each other one way only, and settings are read at the edge."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.platform

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "autograder"
DOC = REPO / "docs" / "architecture.md"


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    """The package's rooms a module imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autograder":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("autograder.")}
    return found & known


def test_every_room_the_design_names_exists():
    rooms = re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(), re.M)
    assert len(rooms) >= 20, "the table of rooms is missing from docs/architecture.md"
    missing = [r for r in rooms if not (PACKAGE / f"{r}.py").is_file()]
    assert not missing, f"docs/architecture.md names rooms that do not exist: {missing}"
    undocumented = sorted(set(_modules()) - set(rooms))
    assert not undocumented, f"rooms without a line in docs/architecture.md: {undocumented}"


def test_no_room_imports_one_that_imports_it_back():
    modules = _modules()
    graph = {name: _imports(tree, set(modules)) - {name} for name, tree in modules.items()}
    cycles = []

    def visit(node, path):
        for nxt in graph[node]:
            if nxt == path[0]:
                cycles.append(path + [nxt])
            elif nxt not in path and len(path) < len(graph):
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    assert not cycles, f"import cycles: {sorted({' -> '.join(c) for c in cycles})}"


SETTINGS_VARIABLES = ("AUTOGRADER_SANDBOX", "AUTOGRADER_MEMORY", "AUTOGRADER_DISK", "AUTOGRADER_JUDGE",
                      "AUTOGRADER_ZYGOTE")


def test_settings_are_read_at_the_edge_and_no_room_rewrites_another():
    """The variables that configure grading are read in settings (and the sandbox's from_env it
    calls); no module assigns to another module's globals (paths.SOLUTIONS = ...)."""
    readers = {}
    for path in PACKAGE.glob("*.py"):
        text = path.read_text()
        for var in SETTINGS_VARIABLES:
            if re.search(rf'"{var}"', text):
                readers.setdefault(var, set()).add(path.stem)
    allowed = {"settings", "sandbox", "cli"}  # cli: only in help texts
    strays = {var: sorted(mods - allowed) for var, mods in readers.items() if mods - allowed}
    assert not strays, f"settings read outside autograder/settings.py: {strays}"
    modules = _modules()
    rewrites = []
    for name, tree in modules.items():
        imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    for a in n.names if a.name in modules}
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign) else []
            for target in targets:
                for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in imported:
                        rewrites.append(f"{name}: {t.value.id}.{t.attr}")
    assert not rewrites, f"modules that change another module's globals: {rewrites}"
