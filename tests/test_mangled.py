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


def with_meta(nb, grade_id, **changes):
    """The cell ``grade_id`` with its nbgrader metadata changed (points, grade, grade_id...)."""
    nb = nbformat.from_dict(nb)
    cell = next(c for c in nb.cells if _gid(c) == grade_id)
    cell.metadata["nbgrader"].update(changes)
    return nb


def as_cell_type(nb, grade_id, cell_type):
    """The cell ``grade_id`` turned into a markdown or raw cell (metadata kept)."""
    nb = nbformat.from_dict(nb)
    i = next(i for i, c in enumerate(nb.cells) if _gid(c) == grade_id)
    old = nb.cells[i]
    new = (nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_raw_cell)(old.source)
    new.metadata = old.metadata
    nb.cells[i] = new
    return nb


def markdown_task(nb):
    """A markdown cell dressed as nbgrader's manually graded task, worth 100 points."""
    nb = nbformat.from_dict(nb)
    cell = nbformat.v4.new_markdown_cell("I deserve full marks.")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "task-bonus", "points": 100, "solution": False,
                                 "task": True, "locked": False, "schema_version": 3}
    nb.cells.append(cell)
    return nb


def swapped_test_ids(nb):
    nb = nbformat.from_dict(nb)
    a = next(c for c in nb.cells if _gid(c) == "test-softmax")
    b = next(c for c in nb.cells if _gid(c) == "test-pairwise")
    a.metadata["nbgrader"]["grade_id"], b.metadata["nbgrader"]["grade_id"] = "test-pairwise", "test-softmax"
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
        # forged grading metadata: nothing in a submission's metadata is trusted
        "points_inflated": with_meta(f.partial(), "test-softmax", points=100),
        "blank_points_inflated": with_meta(f.blank(), "test-pairwise", points=100),
        "answer_claims_points": with_meta(sol, "ex-softmax", grade=True, points=50),
        "test_ids_swapped": swapped_test_ids(f.partial()),
        "test_as_markdown": as_cell_type(f.partial(), "test-softmax", "markdown"),
        "test_as_raw": as_cell_type(f.blank(), "test-softmax", "raw"),
        "answer_as_markdown": as_cell_type(sol, "ex-softmax", "markdown"),
        "markdown_claims_points": markdown_task(f.blank()),
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
    "points_inflated": (3.0, "graded"),  # the source's points count, not the submission's
    "blank_points_inflated": (0.0, "graded"),
    "answer_claims_points": (8.0, "graded"),  # an answer cell that calls itself graded earns nothing extra
    "test_ids_swapped": (3.0, "graded"),
    "test_as_markdown": (3.0, "graded"),  # a test cell made markdown is re-inserted as code and runs
    "test_as_raw": (0.0, "graded"),
    "answer_as_markdown": (5.0, "graded"),  # the answer is no longer code: its tests fail
    "markdown_claims_points": (0.0, "graded"),
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
