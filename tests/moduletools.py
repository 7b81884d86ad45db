"""The seam between the test suite and the course notebooks (CS336's `adapters.py` idea).

Module test files declare plausible wrong answers; these helpers grade notebooks through the
autograder's own pipeline and say which graded cells passed.

    WRONG = {"logistic-regression.ipynb": {"ex-sigmoid": ["def sigmoid(z):\n    return ..."]}}

    @pytest.mark.parametrize("case", wrong_answer_cases("01-logistic-regression", WRONG), ids=str)
    def test_wrong_answer_is_rejected(case):
        check_wrong_answer(case)

    def test_every_exercise_has_a_wrong_answer():
        assert_every_exercise_covered("01-logistic-regression", WRONG)
"""

from __future__ import annotations

from dataclasses import dataclass

import nbformat

from autograder import authoring, paths
from autograder.grading import grade_notebook


def source(module: str, notebook: str) -> nbformat.NotebookNode:
    return nbformat.read(str(paths.SOLUTIONS / module / notebook), as_version=4)


def released(module: str, notebook: str) -> nbformat.NotebookNode:
    return nbformat.read(str(paths.COURSE / module / notebook), as_version=4)


def graded_cells(module: str, notebook: str, nb: nbformat.NotebookNode, *, through: str | None = None):
    """Grade ``nb`` as the autograder would; ``{test grade_id: CellResult}``.

    ``through`` stops after the last test cell of that exercise (used for wrong answers, where
    the rest of the notebook cannot change the verdict).
    """
    result = grade_notebook(nb, module=module, notebook=notebook, through=through)
    return result


@dataclass(frozen=True)
class WrongCase:
    module: str
    notebook: str
    exercise: str
    index: int
    code: str

    def __str__(self) -> str:
        return f"{self.notebook}:{self.exercise}:{self.index}"


def wrong_answer_cases(module: str, wrong: dict[str, dict[str, list[str]]]) -> list[WrongCase]:
    return [
        WrongCase(module, notebook, exercise, i, code)
        for notebook, by_exercise in wrong.items()
        for exercise, codes in by_exercise.items()
        for i, code in enumerate(codes)
    ]


def with_answer(nb: nbformat.NotebookNode, exercise: str, code: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose solution cell ``exercise`` holds ``code``."""
    nb = nbformat.from_dict(nb)
    cells = [c for c in nb.cells if authoring.nbgrader_meta(c).get("grade_id") == exercise]
    assert cells and authoring.is_solution(cells[0]), f"no exercise {exercise!r} in the notebook"
    cells[0].source = code
    return nb


def check_wrong_answer(case: WrongCase) -> None:
    """The wrong answer, alone in an otherwise correct notebook, must lose points."""
    nb = source(case.module, case.notebook)
    exercise = next(e for e in authoring.exercises(nb) if e.grade_id == case.exercise)
    result = graded_cells(case.module, case.notebook, with_answer(nb, case.exercise, case.code), through=case.exercise)
    earned = sum(result.cells[t].score for t in exercise.tests)
    assert earned < exercise.points, (
        f"{case}: this wrong answer earned full marks ({earned}/{exercise.points}); "
        f"the tests {exercise.tests} do not catch it"
    )


def assert_every_exercise_covered(module: str, wrong: dict[str, dict[str, list[str]]]) -> None:
    for notebook in paths.module_notebooks(module):
        have = set(wrong.get(notebook, {}))
        need = {e.grade_id for e in authoring.exercises(source(module, notebook))}
        assert need <= have, f"{module}/{notebook}: no wrong answer for {sorted(need - have)}"
        assert have <= need, f"{module}/{notebook}: wrong answers for unknown exercises {sorted(have - need)}"
