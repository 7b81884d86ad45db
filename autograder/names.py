"""What the code of a notebook reads and defines, without running it (the static analysis that
release validation, kernel preloading and the judge share). It reads code only; which cell is a
test and which an exercise is the authoring convention's to say (``authoring.code_of``)."""

from __future__ import annotations

import ast
import builtins
import types
from dataclasses import dataclass, field


@dataclass
class NotebookCode:
    """A notebook's code cells, sorted by the authoring convention."""

    tests: dict[str, str] = field(
        default_factory=dict
    )  # grade id -> source of each graded test cell
    exercises: list[str] = field(default_factory=list)  # the solution cells
    other: list[str] = field(default_factory=list)  # every other code cell

    @property
    def kernel_cells(self) -> list[str]:
        """What runs in the student's kernel, in notebook order within each kind."""
        return [*self.exercises, *self.other]


def top_level_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


def imports(source: str) -> list[ast.stmt]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


def kernel_imports(code: NotebookCode) -> list[str]:
    """The modules a notebook's own code cells import (``import a.b`` and ``from a.b import c``
    give ``a.b``), in order; test cells are left out: they run in the judge."""
    found: list[str] = []
    for source in code.kernel_cells:
        for node in imports(source):
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif node.level == 0 and node.module:
                found.append(node.module)
    return list(dict.fromkeys(found))


def code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= code_names(const)
    return names


def unseen_names(code: NotebookCode) -> dict[str, list[str]]:
    """Names each test cell reads that the judge cannot give it: not bound in the cell, not a
    builtin, not imported by the notebook and not defined by an exercise (a variable set by an
    ordinary cell, say). ``{grade_id: [names]}``; checked by ``authoring.validate``."""
    exercise_names: set[str] = set()
    imported: set[str] = set()
    for source in code.kernel_cells:
        for node in imports(source):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
    for source in code.exercises:
        exercise_names |= top_level_names(source)
    found: dict[str, list[str]] = {}
    for grade_id, source in code.tests.items():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        bound: set[str] = set()
        loads: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (loads if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
        missing = sorted(loads - bound - set(dir(builtins)) - exercise_names - imported)
        if missing:
            found[grade_id] = missing
    return found
