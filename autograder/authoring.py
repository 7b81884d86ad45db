"""Cells in the course's nbgrader convention, and a checker for a whole notebook.

The convention (what every solution notebook in ``solutions/`` follows):

* an exercise is one *solution cell* (``grade_id`` ``ex-<name>``) holding the reference answer
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
* it is followed by one or more *test cells* (``grade_id`` ``test-<name>``, locked, with
  points): visible asserts first, then a ``### BEGIN HIDDEN TESTS`` block;
* every other cell is ordinary markdown or code.

Authors build notebooks with these factories (or in JupyterLab with nbgrader's toolbar) and
check them with :func:`validate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.names import NotebookCode, unseen_names

SCHEMA_VERSION = 3
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(text: str) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(source: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source.strip("\n"))


def solution(grade_id: str, source: str) -> NotebookNode:
    """An exercise cell; ``source`` must contain a BEGIN/END SOLUTION region."""
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    cell.metadata.update(_meta(grade_id, grade=False, solution=True, locked=False))
    return cell


def tests(grade_id: str, source: str, points: float) -> NotebookNode:
    """A graded, locked test cell worth ``points``."""
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    cell.metadata.update(_meta(grade_id, grade=True, solution=False, locked=True, points=points))
    return cell


def notebook(cells: Iterable[NotebookNode]) -> NotebookNode:
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write(nb: NotebookNode, path: str | Path) -> Path:
    """Write a notebook with stable cell ids (derived from the grade id or the position)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for index, cell in enumerate(nb.cells):
        gid = nbgrader_meta(cell).get("grade_id")
        cell["id"] = gid if gid else f"cell-{index:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


# --- reading the convention -------------------------------------------------------------------


def nbgrader_meta(cell: NotebookNode) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def is_solution(cell: NotebookNode) -> bool:
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("solution"))


def is_test(cell: NotebookNode) -> bool:
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("grade"))


@dataclass
class Exercise:
    """One solution cell and the test cells that grade it."""

    grade_id: str
    tests: list[str] = field(default_factory=list)
    points: float = 0.0


def exercises(nb: NotebookNode) -> list[Exercise]:
    """The exercises of a notebook in order: each solution cell with the tests after it."""
    found: list[Exercise] = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if is_solution(cell):
            found.append(Exercise(meta["grade_id"]))
        elif is_test(cell) and found:
            found[-1].tests.append(meta["grade_id"])
            found[-1].points += float(meta.get("points", 0))
    return found


def test_points(nb: NotebookNode) -> dict[str, float]:
    """``{grade_id: points}`` of every graded test cell, in notebook order."""
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
        for c in nb.cells
        if is_test(c)
    }


def code_of(nb: NotebookNode) -> NotebookCode:
    """The notebook's code cells sorted by this convention, for :mod:`autograder.names`."""
    code = NotebookCode()
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        if is_test(cell):
            code.tests[nbgrader_meta(cell).get("grade_id")] = cell.source
        elif is_solution(cell):
            code.exercises.append(cell.source)
        else:
            code.other.append(cell.source)
    return code


def _bare_hidden_asserts(source: str) -> list[int]:
    import ast

    hidden = source.split(BEGIN_HIDDEN, 1)[1].split(END_HIDDEN, 1)[0]
    try:
        tree = ast.parse(hidden)
    except SyntaxError:
        return []
    return sorted(n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.msg is None)


def validate(nb: NotebookNode) -> list[str]:
    """Problems with a solution notebook, as sentences; an empty list means it follows the rules."""
    problems: list[str] = []
    seen: set[str] = set()
    pending_solution: str | None = None
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid:
            if gid in seen:
                problems.append(f"cell {index}: duplicate grade_id {gid!r}")
            seen.add(gid)
        if is_solution(cell):
            if pending_solution:
                problems.append(f"exercise {pending_solution!r} has no test cell after it")
            pending_solution = gid
            if BEGIN_SOLUTION not in cell.source or END_SOLUTION not in cell.source:
                problems.append(f"solution cell {gid!r} lacks a BEGIN/END SOLUTION region")
            if not str(gid).startswith("ex-"):
                problems.append(f"solution cell {gid!r}: grade ids of exercises start with 'ex-'")
        elif is_test(cell):
            if not meta.get("points") or float(meta["points"]) <= 0:
                problems.append(f"test cell {gid!r} has no points")
            if not meta.get("locked"):
                problems.append(f"test cell {gid!r} is not locked")
            if not str(gid).startswith("test-"):
                problems.append(f"test cell {gid!r}: grade ids of tests start with 'test-'")
            if pending_solution is None and not any(e.tests for e in exercises(nb)):
                problems.append(f"test cell {gid!r} comes before any exercise")
            pending_solution = None
            if BEGIN_HIDDEN not in cell.source:
                problems.append(f"test cell {gid!r} has no hidden tests")
            elif _bare_hidden_asserts(cell.source):
                problems.append(
                    f"test cell {gid!r}: a hidden assert without a message (feedback shows the "
                    f"message, never the code) on line {_bare_hidden_asserts(cell.source)[0]} of its hidden block"
                )
        elif cell.cell_type == "code" and BEGIN_SOLUTION in cell.source:
            problems.append(f"cell {index} has a SOLUTION region but is not a solution cell")
    if pending_solution:
        problems.append(f"exercise {pending_solution!r} has no test cell after it")
    if not any(is_test(c) for c in nb.cells):
        problems.append("the notebook has no graded test cell")
    for gid, names in unseen_names(code_of(nb)).items():
        problems.append(
            f"test cell {gid!r} reads {', '.join(names)}: the judge sees only the notebook's imports and the "
            "names its exercises define; set such values inside the test cell"
        )
    return problems
