"""Regrade only what changed: after an instructor edits a module's tests, does `grade` redo
every submission of that module (and only then), and does `force` redo all regardless?

(That the edited tests are the ones that run is checked on a Dask cluster in test_dask.py,
where the module's files travel with the batch.)"""

from __future__ import annotations

import course_edits
import factories as f
import pytest

from autograder import paths
from autograder.batch import grade
from autograder.gradebook import Records

pytestmark = pytest.mark.platform


def test_a_test_edit_regrades_the_module_and_force_regrades_all(tmp_path, monkeypatch):
    roots = paths.Roots(solutions=course_edits.copy_solutions(tmp_path))
    root = f.nbgrader_layout(tmp_path / "subs", {"a": f.solution(), "b": f.partial(), "c": f.blank()})
    out = tmp_path / "out"

    def run(**kwargs):
        report = grade(root, module="00", out=out, workers=1, progress=False, roots=roots, **kwargs)
        return report.graded_now, report.skipped

    assert run() == (3, 0)
    before = Records(f"sqlite:///{out / 'gradebook.db'}").done(course_edits.MODULE)
    assert run() == (0, 3)

    course_edits.make_test_stricter(roots.solutions)
    assert run() == (3, 0), "a change to the module's tests must regrade every submission"
    after = Records(f"sqlite:///{out / 'gradebook.db'}").done(course_edits.MODULE)
    assert set(after) == set(before) and all(after[s] != before[s] for s in before)
    assert run() == (0, 3)

    f.nbgrader_layout(root, {"c": f.partial()})
    assert run() == (1, 2), "a changed notebook alone is regraded"
    assert run(force=True) == (3, 0)
