"""Every module, every notebook: does the solution earn full marks, the blank release zero?"""

from __future__ import annotations

import nbformat
import pytest
from moduletools import assert_judge_equals_kernel, scores

from autograder import authoring, paths

NOTEBOOKS = [(m, n) for m in paths.modules() for n in paths.module_notebooks(m)]
IDS = [f"{m}/{n}" for m, n in NOTEBOOKS]


def _marker(module: str):
    return getattr(pytest.mark, f"module{module[:2]}")


# One xdist worker per module: the grades are cached there and shared by the tests below.
PARAMS = [pytest.param(m, n, marks=[_marker(m), pytest.mark.xdist_group(m)]) for m, n in NOTEBOOKS]


@pytest.mark.parametrize("module,notebook", PARAMS, ids=IDS)
def test_solution_follows_the_authoring_rules(module, notebook):
    nb = nbformat.read(str(paths.SOLUTIONS / module / notebook), as_version=4)
    assert authoring.validate(nb) == []
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{module}/{notebook}: commit notebooks without outputs"


@pytest.mark.parametrize("module,notebook", PARAMS, ids=IDS)
def test_solution_earns_full_marks(module, notebook):
    result = scores(module, notebook, "solution", True)
    failed = {g: c.message for g, c in result.cells.items() if not c.passed}
    assert result.status == "graded", result.reason
    assert not failed, f"the solution fails: {failed}"
    assert result.score == result.max_score > 0


@pytest.mark.parametrize("module,notebook", PARAMS, ids=IDS)
def test_unmodified_release_scores_zero(module, notebook):
    result = scores(module, notebook, "blank", True)
    assert result.status == "graded", result.reason
    earned = {g: c.score for g, c in result.cells.items() if c.score}
    assert not earned, f"the blank notebook earns points: {earned}"
    assert all(c.message for c in result.cells.values())


@pytest.mark.parametrize("module,notebook", PARAMS, ids=IDS)
def test_the_judge_grades_as_a_plain_kernel(module, notebook):
    """Solution, blank release and every wrong answer in tests/, graded with the tests in the
    judge and in the kernel: every cell's points agree."""
    assert_judge_equals_kernel(module, notebook)
