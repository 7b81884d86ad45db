"""`from autograder import check; check()` in a notebook: what happens when that notebook is graded?"""

from __future__ import annotations

import factories as f
import nbformat
import pytest

from autograder.selfcheck import run_check

pytestmark = pytest.mark.platform


def test_a_check_cell_does_nothing_while_its_notebook_is_graded(tmp_path):
    """A saved check(<this file>) cell must not start a check of itself inside its own grading."""
    path = tmp_path / f.MODULE / f.NOTEBOOK
    nb = f.partial()
    nb.cells.append(nbformat.v4.new_code_cell(f"from autograder import check\ncheck({str(path)!r})"))
    f.write(nb, path)
    result = run_check(path, record=False)
    assert result.status == "graded" and result.score == 3, (result.status, result.reason)
    out = result.graded_nb.cells[-1].outputs
    text = "".join(o.get("text", "") for o in out if o.get("output_type") == "stream")
    assert "check() skipped" in text, out
