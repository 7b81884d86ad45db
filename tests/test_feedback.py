"""Feedback HTML: the per-cell memo of the exporter must never change what a student sees."""

from __future__ import annotations

import factories as f
import pytest
from nbconvert import HTMLExporter

from autograder import feedback
from autograder.grading import grade_notebook

pytestmark = pytest.mark.platform


def _plain(result) -> str:
    """What nbconvert's own exporter renders, with the same score table on top."""
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(feedback.strip_hidden(result.graded_nb))
    return body.replace("<body>", "<body>" + feedback.summary_table(result), 1)


def test_feedback_equals_nbconvert_and_memo_never_mixes_students():
    answered = f.partial()  # the softmax answered, the rest blank
    other = f.with_extra_first_cell(f.solution(), "print('only in this notebook')")
    results = [grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK) for nb in (answered, other, answered)]
    pages = [feedback.render(r) for r in results]  # the third reuses the memo of the first
    for result, page in zip(results, pages, strict=True):
        assert page == _plain(result)
    assert "only in this notebook" in pages[1] and "only in this notebook" not in pages[0]
    assert "3 / 8" in pages[0] and "8 / 8" in pages[1]
    assert pages[2] == pages[0]
