"""The seam between the test suite and the course notebooks (CS336's `adapters.py` idea).

Module test files declare plausible wrong answers; these helpers grade notebooks through the
autograder's own pipeline and say which graded cells passed.

    WRONG = {"logistic-regression.ipynb": {"ex-sigmoid": ["def sigmoid(z):\n    return ..."]}}

    @pytest.mark.parametrize("case", wrong_answer_cases("01-logistic-regression", WRONG), ids=str)
    def test_wrong_answer_is_rejected(case):
        check_wrong_answer(case)

    def test_every_exercise_has_a_wrong_answer():
        assert_every_exercise_covered("01-logistic-regression", WRONG)

Correct answers written differently (``RIGHT``, same shape) must keep full marks:
``right_answer_cases`` / ``check_right_answer``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import nbformat

from autograder import authoring, paths
from autograder.grading import grade_notebook


def source(module: str, notebook: str) -> nbformat.NotebookNode:
    return nbformat.read(str(paths.SOLUTIONS / module / notebook), as_version=4)


def released(module: str, notebook: str) -> nbformat.NotebookNode:
    return nbformat.read(str(paths.COURSE / module / notebook), as_version=4)


def reference_answer(module: str, notebook: str, exercise: str) -> str:
    """The instructor's answer to ``exercise`` (its cell's grade id), without the solution markers."""
    cell = next(c for c in source(module, notebook).cells if authoring.nbgrader_meta(c).get("grade_id") == exercise)
    lines = [ln for ln in cell.source.splitlines() if ln.strip() not in (authoring.BEGIN_SOLUTION, authoring.END_SOLUTION)]
    return "\n".join(lines) + "\n"


def mutant(module: str, notebook: str, exercise: str, *edits: tuple[str, str]) -> str:
    """The reference answer with each ``(old, new)`` edit made: one plausible mistake put in, so the
    wrong answer differs from a correct one by exactly the mistake it names. Each ``old`` must occur
    exactly once (an edit that matched nothing would leave a correct answer among the wrong ones)."""
    code = reference_answer(module, notebook, exercise)
    for old, new in edits:
        assert code.count(old) == 1, f"{exercise}: {old!r} is not in the reference answer exactly once"
        code = code.replace(old, new)
    return code


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


_REGISTRY: dict[tuple[str, str], dict[str, list[str]]] = {}


def wrong_answer_cases(module: str, wrong: dict[str, dict[str, list[str]]]):
    """pytest params, one per wrong answer; a module's cases share one xdist worker (and kernel)."""
    import pytest

    params = []
    for notebook, by_exercise in wrong.items():
        _REGISTRY[(module, notebook)] = by_exercise
        for exercise, codes in by_exercise.items():
            for i, code in enumerate(codes):
                case = WrongCase(module, notebook, exercise, i, code)
                params.append(pytest.param(case, id=str(case), marks=pytest.mark.xdist_group(module)))
    return params


def with_answer(nb: nbformat.NotebookNode, exercise: str, code: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose solution cell ``exercise`` holds ``code``."""
    nb = nbformat.from_dict(nb)
    cells = [c for c in nb.cells if authoring.nbgrader_meta(c).get("grade_id") == exercise]
    assert cells and authoring.is_solution(cells[0]), f"no exercise {exercise!r} in the notebook"
    cells[0].source = code
    return nb


def _isolated(case: WrongCase, judged: bool = True) -> float:
    """Points the wrong answer earns alone in an otherwise correct notebook (one kernel each)."""
    nb = source(case.module, case.notebook)
    exercise = next(e for e in authoring.exercises(nb) if e.grade_id == case.exercise)
    result = grade_notebook(with_answer(nb, case.exercise, case.code), module=case.module,
                            notebook=case.notebook, through=case.exercise, judge=judged)
    return sum(result.cells[t].score for t in exercise.tests)


@functools.cache
def _shared_kernel_verdicts(module: str, notebook: str, judged: bool = True) -> dict[tuple[str, int], float] | None:
    """Every wrong answer of a notebook in ONE kernel run: before each exercise's correct
    answer runs, each wrong answer is defined and the exercise's test cells run against it; then
    the correct answer restores the state. Same verdicts as isolated runs, a fraction of the
    time. None when the run cannot be trusted (then each case runs isolated). ``judged=False``
    runs the test cells in the kernel instead of the judge."""
    from autograder.execute import execute
    from autograder.grading import stage_module_files
    from autograder.judge import Judge
    from autograder.kernel import Kernel
    from autograder.merge import merge
    from autograder.score import failure as _failure

    wrong = _REGISTRY.get((module, notebook), {})
    src = source(module, notebook)
    merged = merge(src, src).nb
    tests_of = {e.grade_id: e.tests for e in authoring.exercises(src)}
    points = authoring.test_points(src)
    last_test = max(i for i, c in enumerate(merged.cells) if authoring.is_test(c))
    cells, tags = [], []
    by_id = {authoring.nbgrader_meta(c).get("grade_id"): c for c in merged.cells}
    for cell in merged.cells[: last_test + 1]:
        gid = authoring.nbgrader_meta(cell).get("grade_id")
        if authoring.is_solution(cell):
            for i, code in enumerate(wrong.get(gid, [])):
                cells.append(nbformat.v4.new_code_cell(code))
                tags.append(None)
                for t in tests_of[gid]:
                    cells.append(nbformat.from_dict(by_id[t]))
                    tags.append((gid, i, t))
                cells.append(nbformat.from_dict(cell))  # the next wrong answer starts clean
                tags.append(None)
        cells.append(nbformat.from_dict(cell))
        tags.append(("ok", 0, gid) if authoring.is_test(cell) else None)
    nb = nbformat.from_dict(merged)
    nb.cells = cells
    kernel = Kernel()
    stage_module_files(module, kernel.workdir)
    run = execute(nb, kernel, judge=Judge(src) if judged else None)  # in the judge, as in grading
    if run.status == "kernel_died":
        return None
    earned: dict[tuple[str, int], float] = {}
    for index, (cell, tag) in enumerate(zip(nb.cells, tags, strict=True)):
        if tag is None:
            continue
        passed = index in run.ran and _failure(cell) is None
        if tag[0] == "ok":
            if not passed:
                return None  # the correct answer failed after the wrong ones: state leaked
            continue
        key = (tag[0], tag[1])
        earned[key] = earned.get(key, 0.0) + (points[tag[2]] if passed else 0.0)
    return earned


def check_wrong_answer(case: WrongCase) -> None:
    """The wrong answer, in an otherwise correct notebook, must lose points."""
    exercise = next(e for e in authoring.exercises(source(case.module, case.notebook)) if e.grade_id == case.exercise)
    verdicts = _shared_kernel_verdicts(case.module, case.notebook, True)
    if verdicts is not None and (case.exercise, case.index) in verdicts:
        earned = verdicts[(case.exercise, case.index)]
    else:
        earned = _isolated(case)
    assert earned < exercise.points, (
        f"{case}: this wrong answer earned full marks ({earned}/{exercise.points}); "
        f"the tests {exercise.tests} do not catch it"
    )


def right_answer_cases(module: str, right: dict[str, dict[str, list[str]]]):
    """pytest params for correct answers written differently from the reference (another
    formula, a loop where the reference vectorises, a list where it returns an array): each must
    earn the exercise's full marks. Same shape as the wrong answers' table."""
    import pytest

    params = []
    for notebook, by_exercise in right.items():
        for exercise, codes in by_exercise.items():
            for i, code in enumerate(codes):
                case = WrongCase(module, notebook, exercise, i, code)
                params.append(pytest.param(case, id=f"right:{case}", marks=pytest.mark.xdist_group(module)))
    return params


def check_right_answer(case: WrongCase) -> None:
    """A correct answer, in an otherwise correct notebook, must earn every point of its tests."""
    exercise = next(e for e in authoring.exercises(source(case.module, case.notebook)) if e.grade_id == case.exercise)
    nb = source(case.module, case.notebook)
    result = grade_notebook(with_answer(nb, case.exercise, case.code), module=case.module,
                            notebook=case.notebook, through=case.exercise)
    failed = {t: result.cells[t].message for t in exercise.tests if not result.cells[t].passed}
    assert not failed, f"{case}: a correct answer lost points: {failed}"


def assert_every_exercise_covered(module: str, wrong: dict[str, dict[str, list[str]]]) -> None:
    for notebook in paths.module_notebooks(module):
        have = set(wrong.get(notebook, {}))
        need = {e.grade_id for e in authoring.exercises(source(module, notebook))}
        assert need <= have, f"{module}/{notebook}: no wrong answer for {sorted(need - have)}"
        assert have <= need, f"{module}/{notebook}: wrong answers for unknown exercises {sorted(have - need)}"


# --- the judge grades as a plain kernel does ------------------------------------------------


@functools.cache
def scores(module: str, notebook: str, which: str, judged: bool = True):
    """The grade of the solution (``which="solution"``) or of the unmodified release
    (``"blank"``), with the tests in the judge or (``judged=False``) in the kernel; cached, so
    that the suite grades each once per mode."""
    folder = paths.SOLUTIONS if which == "solution" else paths.COURSE
    return grade_notebook(folder / module / notebook, module=module, notebook=notebook, judge=judged)


def wrong_answers(module: str) -> dict[str, dict[str, list[str]]]:
    """The module's table of wrong answers, read from its test file (tests/test_module_NN_*.py)."""
    import importlib
    from pathlib import Path

    found = sorted(Path(__file__).parent.glob(f"test_module_{module[:2]}_*.py"))
    if not found:
        return {}
    return dict(getattr(importlib.import_module(found[0].stem), "WRONG", {}))


def wrong_verdicts(module: str, notebook: str, judged: bool) -> dict[tuple[str, int], float]:
    """Points each wrong answer of the notebook earns, in one mode."""
    wrong = wrong_answers(module).get(notebook, {})
    _REGISTRY.setdefault((module, notebook), wrong)
    shared = _shared_kernel_verdicts(module, notebook, judged)
    out = {}
    for exercise, codes in wrong.items():
        for i, code in enumerate(codes):
            key = (exercise, i)
            out[key] = shared[key] if shared is not None and key in shared else _isolated(
                WrongCase(module, notebook, exercise, i, code), judged)
    return out


def assert_judge_equals_kernel(module: str, notebook: str) -> None:
    """The solution, the blank release and every wrong answer get the same points per cell
    whether the tests run in the judge or in the student's kernel (hostile kernels aside, the
    two must always agree)."""
    for which in ("solution", "blank"):
        judged, plain = scores(module, notebook, which, True), scores(module, notebook, which, False)
        differ = {g: (judged.cells[g].score, plain.cells[g].score, judged.cells[g].message, plain.cells[g].message)
                  for g in judged.cells if judged.cells[g].score != plain.cells[g].score}
        assert not differ, f"{module}/{notebook} {which}: judge and kernel disagree (judge, kernel): {differ}"
    judged, plain = wrong_verdicts(module, notebook, True), wrong_verdicts(module, notebook, False)
    differ = {k: (judged[k], plain[k]) for k in judged if judged[k] != plain[k]}
    assert not differ, f"{module}/{notebook} wrong answers: judge and kernel disagree (judge, kernel): {differ}"
