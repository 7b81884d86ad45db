"""Rebuild the notebook that gets graded from a student's copy and the instructor's source.

The student's cells are kept as they are (their answers, scratch cells, edits to ordinary
cells). Every graded test cell is taken from the source (hidden tests included) and placed right
after the exercise it grades, whatever the student did to it: edited, deleted, duplicated or
moved. Student cells that pretend to be a test cell (same grade id) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from autograder import authoring


@dataclass
class Merged:
    nb: NotebookNode
    notes: list[str] = field(default_factory=list)


def _gid(cell: NotebookNode) -> str | None:
    return authoring.nbgrader_meta(cell).get("grade_id")


def merge(student: NotebookNode, source: NotebookNode) -> Merged:
    notes: list[str] = []
    source_tests = [c for c in source.cells if authoring.is_test(c)]
    test_ids = {_gid(c) for c in source_tests}
    # The exercise (or other graded cell) that each test follows in the source.
    anchor_of: dict[str, str | None] = {}
    last_anchor: str | None = None
    for cell in source.cells:
        gid = _gid(cell)
        if gid in test_ids:
            anchor_of[gid] = last_anchor
        elif gid:
            last_anchor = gid

    kept: list[NotebookNode] = []
    seen_solutions: set[str] = set()
    for cell in student.cells:
        gid = _gid(cell)
        if gid in test_ids:
            continue  # replaced by the instructor's version below
        if gid and authoring.is_solution(cell):
            if gid in seen_solutions:
                notes.append(
                    f"exercise cell {gid!r} appears more than once; the first copy is graded"
                )
                continue
            seen_solutions.add(gid)
        cell = nbformat.from_dict(cell)
        if authoring.is_test(cell):  # a student's cell posing as a test: an ordinary cell
            cell.metadata["nbgrader"]["grade"] = False
            cell.metadata["nbgrader"].pop("points", None)
            notes.append(
                f"cell {gid!r} claims to be a graded test but is not one of the instructor's: not graded"
            )
        kept.append(cell)

    missing_answers = [
        _gid(c) for c in source.cells if authoring.is_solution(c) and _gid(c) not in seen_solutions
    ]
    for gid in missing_answers:
        notes.append(f"exercise cell {gid!r} is missing from the submission")

    out: list[NotebookNode] = []
    pending: dict[str | None, list[NotebookNode]] = {}
    for test in source_tests:
        pending.setdefault(anchor_of[_gid(test)], []).append(nbformat.from_dict(test))
    placed: set[str] = set()
    # Tests whose anchor is not a graded cell (or has no anchor) go before the first student cell
    # only if the anchor is None; otherwise right after the anchor.
    for cell in kept:
        out.append(cell)
        gid = _gid(cell)
        if gid in pending and gid not in placed:
            out.extend(pending[gid])
            placed.add(gid)
    for anchor, tests in pending.items():
        if anchor not in placed:
            out.extend(tests)  # the exercise is gone: its tests still run (and fail) at the end
    nb = nbformat.from_dict(student)
    nb.cells = out
    nb.metadata["kernelspec"] = dict(source.metadata.get("kernelspec", {})) or nb.metadata.get(
        "kernelspec", {}
    )
    return Merged(nb, notes)
