"""Mangled notebooks: every one becomes a row with a clear score, status and reason; none
fails the batch, and none earns what it did not answer."""

from __future__ import annotations

import csv
import json

import factories as f
import nbformat
import pytest

from autograder import authoring
from autograder.batch import grade

pytestmark = pytest.mark.platform


def _gid(cell):
    return authoring.nbgrader_meta(cell).get("grade_id")


def without_tests(nb):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if not authoring.is_test(c)]
    return nb


def with_tests_replaced(nb, code):
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if authoring.is_test(cell):
            cell.source = code
    return nb


def duplicated(nb):
    """Every cell twice (as copy-paste makes them: the copy gets an id of its own)."""
    nb = nbformat.from_dict(nb)
    cells = []
    for cell in nb.cells:
        copy = nbformat.from_dict(cell)
        copy["id"] = f"{cell.get('id', 'cell')}-copy"
        cells += [cell, copy]
    nb.cells = cells
    return nb


def exercises_reversed(nb):
    """The three exercises (answer + tests) in reverse order, after the set-up cells."""
    nb = nbformat.from_dict(nb)
    first = next(i for i, c in enumerate(nb.cells) if authoring.is_solution(c))
    head, body = nb.cells[:first], nb.cells[first:]
    groups, current = [], []
    for cell in body:
        if authoring.is_solution(cell) and current:
            groups.append(current)
            current = []
        current.append(cell)
    groups.append(current)
    nb.cells = head + [c for g in reversed(groups) for c in g]
    return nb


def forged_test(nb, marker):
    nb = nbformat.from_dict(nb)
    cell = nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'a').write(__name__ + '\\n')")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test-bonus", "points": 100, "solution": False,
                                 "locked": True, "schema_version": 3}
    nb.cells.append(cell)
    return nb


def other_kernelspec(nb):
    nb = nbformat.from_dict(nb)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return nb


def without_answer(nb, exercise):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if _gid(c) != exercise]
    return nb


def as_nbformat3(nb) -> bytes:
    return nbformat.writes(nbformat.convert(nbformat.from_dict(nb), 3), version=3).encode()


@pytest.fixture(scope="module")
def mangled(tmp_path_factory):
    root = tmp_path_factory.mktemp("mangled")
    marker = tmp_path_factory.mktemp("marker") / "forged-test-ran"
    sol = f.solution()
    students = {
        "ada": sol,
        "no_tests": without_tests(sol),
        "tests_say_pass": with_tests_replaced(f.blank(), "pass"),
        "tests_say_fail": with_tests_replaced(sol, "assert False"),
        "duplicated": duplicated(sol),
        "reordered": exercises_reversed(sol),
        "forged_test": forged_test(sol, marker),
        "kernelspec": other_kernelspec(sol),
        "nbformat3": as_nbformat3(sol),
        "no_softmax": without_answer(sol, "ex-softmax"),
        "not_a_notebook": json.dumps({"hello": 1}).encode(),
        "truncated": nbformat.writes(sol).encode()[:500],
    }
    f.nbgrader_layout(root, students)
    report = grade(root, module="00", out=tmp_path_factory.mktemp("out"), workers=2, cell_timeout=10,
                   notebook_timeout=60, progress=False)
    with open(report.csv_path, newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return rows, marker


EXPECTED = {
    "ada": (8.0, "graded"),
    "no_tests": (8.0, "graded"),  # deleted test cells are re-inserted and graded
    "tests_say_pass": (0.0, "graded"),  # edited tests are replaced by the instructor's
    "tests_say_fail": (8.0, "graded"),
    "duplicated": (8.0, "graded"),
    "reordered": (8.0, "graded"),
    "forged_test": (8.0, "graded"),  # no bonus points from a cell that calls itself a test
    "kernelspec": (8.0, "graded"),
    "nbformat3": (8.0, "graded"),
    "no_softmax": (5.0, "graded"),
    "not_a_notebook": (0.0, "invalid_notebook"),
    "truncated": (0.0, "invalid_notebook"),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_mangled_notebook_gets_its_row(mangled, student):
    rows, _ = mangled
    score, status = EXPECTED[student]
    row = rows[student]
    assert (float(row["score"]), row["status"]) == (score, status), row
    assert float(row["max_score"]) == 8.0
    if status != "graded":
        assert row["reason"], row


def test_a_cell_posing_as_a_test_never_runs_in_the_judge(mangled):
    _, marker = mangled
    ran_in = marker.read_text().split() if marker.exists() else []
    assert "__judge__" not in ran_in
