"""An instructor's edit to a module's tests, made on a copy of ``solutions/`` (never the real
one): the hidden block of ``test-softmax`` gets stricter, so the solution loses its 3 points."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from autograder import paths

MODULE, NOTEBOOK, TEST = "00-getting-started", "getting-started.ipynb", "test-softmax"
POINTS_LOST = 3.0


def copy_solutions(into: Path) -> Path:
    """``into/solutions/<module>``, a copy of the real module; returns ``into/solutions``."""
    root = into / "solutions"
    shutil.copytree(paths.SOLUTIONS / MODULE, root / MODULE)
    return root


def make_test_stricter(solutions: Path) -> None:
    path = solutions / MODULE / NOTEBOOK
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == TEST)
    marker = "### BEGIN HIDDEN TESTS\n"
    assert marker in cell.source
    cell.source = cell.source.replace(marker, marker + "assert False, 'a stricter hidden test'\n")
    nbformat.write(nb, str(path))
