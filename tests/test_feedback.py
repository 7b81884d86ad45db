"""Feedback HTML: is it what the student should see, and nothing a student's notebook can use
against the instructor who opens it? (The same page in a real browser, offline: test_browser.py.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import factories as f
import nbformat
import pytest

from autograder import feedback
from autograder.grading import grade_notebook

pytestmark = pytest.mark.platform


def _render_cold(result) -> str:
    """The page with every memo emptied first."""
    for memo in (feedback._exporter, feedback.clean, feedback.mathml):
        memo.cache_clear()
    return feedback.render(result)


def test_the_memo_never_changes_a_page_nor_mixes_students():
    answered = f.partial()  # the softmax answered, the rest blank
    other = f.with_extra_first_cell(f.solution(), "print('only in this notebook')")
    results = [grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK) for nb in (answered, other, answered)]
    pages = [feedback.render(r) for r in results]  # the third reuses the memo of the first
    for result, page in zip(results, pages, strict=True):
        assert page == _render_cold(result)
    assert "only in this notebook" in pages[1] and "only in this notebook" not in pages[0]
    assert "3 / 8" in pages[0] and "8 / 8" in pages[1]
    assert pages[2] == pages[0]


def test_the_page_shows_the_scores_and_equations_and_hides_the_hidden_tests():
    page = feedback.render(grade_notebook(f.partial(), module=f.MODULE, notebook=f.NOTEBOOK))
    assert re.search(r"<tr class=\"ag-passed\"><td>test-softmax</td><td class=\"ag-num\">3 / 3", page)
    assert re.search(r"<tr class=\"ag-failed\"><td>test-pairwise</td>.*?NotImplementedError", page, re.S)
    assert page.count("<math") >= 10 and "$$" not in page, "equations are rendered as MathML when the page is made"
    assert feedback.PLACEHOLDER in page and "scipy_softmax" not in page and "default_rng(1)" not in page


def test_the_notebooks_figures_reach_the_graded_copy_and_the_page():
    """Kernels come from a zygote that warms matplotlib up before forking them; the figures a
    notebook draws (module 00 draws one) must still come out as PNG outputs and be shown."""
    result = grade_notebook(f.solution(), module=f.MODULE, notebook=f.NOTEBOOK)
    pngs = [
        o for c in result.graded_nb.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(pngs) == 1, "module 00's solution draws one figure"
    assert re.search(r'<img [^>]*src="data:image/png;base64,', feedback.render(result))


HOSTILE_MARKDOWN = r"""
# Notes <script>window.pwned = 1</script>
<img src="x" onerror="window.pwned = 2"> <a href="javascript:window.pwned=3">click</a>
<iframe src="http://example.com"></iframe><style>body { display: none }</style>
<svg onload="window.pwned = 4"><circle r="5"/></svg>
<form action="http://example.com"><input name="q"></form>
and an equation that hides a tag: $\text{<script>window.pwned = 5</script>} x^2$
"""

HOSTILE_OUTPUTS = r"""
from IPython.display import HTML, Javascript, Markdown, display
display(HTML('<b>bold</b><script>window.pwned = 6</script><img src=x onerror="window.pwned=7">'))
display(Javascript('window.pwned = 8'))
display(Markdown('*fine* and <script>window.pwned = 9</script>'))
display({'image/png': 'iVBORw0KGgo='}, raw=True, metadata={'image/png': {'width': '1 onerror=window.pwned=10'}})
display({'text/html': '<a href="https://example.com" onclick="window.pwned=11">link</a>'}, raw=True)
"""


@pytest.fixture(scope="module")
def hostile_page():
    nb = f.with_extra_first_cell(f.solution(), HOSTILE_OUTPUTS)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    nb.cells[1]["id"] = 'x" onmouseover="window.pwned=12'  # a forged cell id
    nb.cells[1].metadata["tags"] = ['"><script>window.pwned=13</script>']
    result = grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK)
    assert result.score == f.MAX
    return feedback.render(result)


class Elements(HTMLParser):
    """Every element and attribute of a page, as a browser's parser sees them."""

    def __init__(self, page: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_the_students_html_cannot_run_anything(hostile_page):
    page = hostile_page
    elements = Elements(page).found
    tags = {tag for tag, _ in elements}
    body_tags = {tag for tag, _ in Elements(page.split("</head>", 1)[1]).found}
    assert "script" not in tags, "no script element of any kind"
    assert not body_tags & {"iframe", "form", "input", "style", "svg", "object", "embed", "link", "base", "meta"}
    handlers = [(tag, a) for tag, attrs in elements for a in attrs if a.lower().startswith("on")]
    assert not handlers, f"event handler attributes: {handlers}"
    links = [v for _, attrs in elements for k, v in attrs.items() if k in ("href", "src") and v]
    assert not [v for v in links if v.strip().lower().startswith(("javascript:", "vbscript:"))]
    assert all(v.startswith(("data:", "#", "https://example.com")) for v in links if not v.startswith("http")), links
    assert "<b>bold</b>" in page and "<em>fine</em>" in page, "harmless HTML still shows"
    head = page.split("</head>", 1)[0]
    images = [attrs for tag, attrs in elements if tag == "img"]
    assert images and all(attrs.get("alt") for attrs in images), "every image has an alt text"
    focusable = [a for tag, a in elements if tag == "div" and a.get("tabindex") == "0"]
    classes = " ".join(a.get("class", "") for a in focusable)
    assert "jp-Cell-inputWrapper" in classes and "jp-OutputArea-output" in classes, "cells take focus"
    first = Elements(head).found[:3]  # html, head, then the policy before anything else
    assert first[2] == ("meta", {"http-equiv": "Content-Security-Policy", "content": feedback.CSP}), first


def test_the_page_loads_nothing_from_elsewhere(hostile_page):
    head = hostile_page.split("</head>", 1)[0]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", head), "nothing from a CDN"
    assert "mathjax" not in hostile_page.lower() and "require.js" not in hostile_page.lower()
    assert "default-src 'none'" in feedback.CSP and "script-src" not in feedback.CSP


def test_a_huge_submission_gets_a_page_under_the_cap():
    """A 12 MB cell and two thousand cells: graded, and a feedback page under 5 MiB that says
    what it left out."""
    nb = f.solution()
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("x" * 12_000_000))
    for i in range(2000):
        nb.cells.append(nbformat.v4.new_code_cell(f"v{i} = {i}  # " + "y" * 2000))
    result = grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK)
    assert result.status == "graded" and result.score == f.MAX, result.reason
    page = feedback.render(result)
    assert len(page.encode()) <= feedback.MAX_PAGE_BYTES
    assert "more characters of this cell not shown" in page or "too large to show" in page
    assert "8 / 8" in page


def test_a_notebook_over_the_size_limit_is_refused_with_its_reason(tmp_path):
    from autograder.grading import MAX_NOTEBOOK_BYTES

    nb = f.solution()
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("x" * (MAX_NOTEBOOK_BYTES + 1)))
    path = f.write(nb, tmp_path / "big.ipynb")
    result = grade_notebook(path, module=f.MODULE, notebook=f.NOTEBOOK)
    assert result.status == "invalid_notebook" and "MiB" in result.reason, result.reason
    assert result.score == 0 and "too large" not in feedback.render(result)
