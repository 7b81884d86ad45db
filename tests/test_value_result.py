"""Side effects are visible: when a student's function changes its argument in place, does the
test that passed the argument see the change, under `grade`, under `check` and in a plain kernel
alike?

The module is a copy of module 00 whose softmax test also asks "is my input left alone?", the
promise a test could never check when arguments crossed to the kernel as copies only.
"""

from __future__ import annotations

import csv
import shutil

import factories as f
import nbformat
import pytest
from moduletools import with_answer

from autograder import paths, release
from autograder.batch import grade
from autograder.grading import grade_notebook
from autograder.selfcheck import run_check
from autograder.settings import Settings

pytestmark = pytest.mark.platform

LEFT_ALONE = '''
_z = np.random.default_rng(5).normal(size=(3, 4))
_before = _z.copy()
_p = softmax(_z)
assert np.array_equal(_z, _before), "softmax must return a new array and leave its input unchanged"
'''

# A plausible answer: np.asarray returns the caller's own float array, which is then overwritten.
IN_PLACE = '''
def softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    z -= z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z
'''


@pytest.fixture
def module_asking_for_its_input(tmp_path):
    """solutions/ and course/ with module 00 whose softmax test checks the input is left alone."""
    solutions, course = tmp_path / "solutions", tmp_path / "course"
    shutil.copytree(paths.SOLUTIONS / f.MODULE, solutions / f.MODULE)
    path = solutions / f.MODULE / f.NOTEBOOK
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test-softmax")
    cell.source = cell.source.replace("### END HIDDEN TESTS", LEFT_ALONE.strip() + "\n### END HIDDEN TESTS")
    nbformat.write(nb, str(path))
    release.release([f.MODULE], course_dir=course, solutions=solutions)
    return nb, paths.Roots(solutions, course)


def _in_place(source):
    return with_answer(source, "ex-softmax", IN_PLACE)


def test_an_argument_changed_in_place_costs_the_points_everywhere(module_asking_for_its_input, tmp_path, monkeypatch):
    source, roots = module_asking_for_its_input
    # grade: the instructor's batch, in a worker process
    root = f.nbgrader_layout(tmp_path / "subs", {"ada": source, "mutates": _in_place(source)})
    report = grade(root, module="00", out=tmp_path / "out", workers=1, progress=False, roots=roots)
    with open(report.csv_path, newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert float(rows["ada"]["score"]) == f.MAX, rows["ada"]
    assert float(rows["mutates"]["score"]) == f.MAX - 3, rows["mutates"]

    # check: the self-learner's checkpoint
    saved = f.write(_in_place(source), tmp_path / "mine" / f.MODULE / f.NOTEBOOK)
    checked = run_check(saved, record=False, roots=roots)
    # (The first hidden assert already fails: softmax(z) overwrote z before scipy's softmax of z
    # was taken, exactly as in a plain kernel.)
    assert not checked.cells["test-softmax"].passed, checked.cells["test-softmax"]
    assert checked.score == f.MAX - 3

    # a plain kernel (the tests run there, as in the learner's JupyterLab): the same verdict
    plain = grade_notebook(_in_place(source), module=f.MODULE, notebook=f.NOTEBOOK, judge=False,
                           settings=Settings(roots=roots))
    assert not plain.cells["test-softmax"].passed and plain.score == f.MAX - 3
