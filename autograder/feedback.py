"""Feedback HTML: the graded notebook with a score table on top and no hidden test source.

Hidden test blocks are replaced by a one-line placeholder, and failures inside test cells are
reduced to ``ErrorName: message`` (a traceback would quote the hidden line that failed).
"""

from __future__ import annotations

import functools
import html
import json
import re

import nbformat
from nbformat import NotebookNode

from autograder import authoring
from autograder.authoring import BEGIN_HIDDEN, END_HIDDEN

_HIDDEN = re.compile(re.escape(BEGIN_HIDDEN) + r".*?(" + re.escape(END_HIDDEN) + r"|\Z)", re.S)
PLACEHOLDER = "# (hidden tests: they ran when your notebook was graded; see the table above)"


def strip_hidden(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` whose test cells show no hidden test source and no tracebacks."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if not authoring.is_test(cell):
            continue
        cell.source = _HIDDEN.sub(PLACEHOLDER, cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return nb


def summary_table(result) -> str:
    rows = []
    for cell in result.cells.values():
        verdict = "passed" if cell.passed else "failed"
        rows.append(
            f"<tr class='{verdict}'><td>{html.escape(cell.grade_id)}</td>"
            f"<td>{cell.score:g} / {cell.points:g}</td><td>{verdict}</td>"
            f"<td>{html.escape(cell.message)}</td></tr>"
        )
    status = html.escape(result.status) + (f": {html.escape(result.reason)}" if result.reason else "")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return (
        "<section class='autograder-summary' style='font-family:sans-serif;margin:1em'>"
        f"<h2>{html.escape(result.module)} / {html.escape(result.notebook)}: "
        f"{result.score:g} / {result.max_score:g}</h2><p>Status: {status}</p>"
        + (f"<ul>{notes}</ul>" if notes else "")
        + "<table border='1' cellpadding='4' style='border-collapse:collapse'>"
        "<tr><th>question</th><th>points</th><th>result</th><th>message</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


@functools.cache
def _exporter():
    """One exporter per process (building one compiles its Jinja templates, about 0.1 s), whose
    pure per-cell filters remember their answers.

    A class's notebooks share most of their cells (the text, the given code, the tests), and
    sanitising and highlighting them was most of the time feedback took per notebook."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters import clean_html
    from nbconvert.filters.highlight import Highlight2HTML

    class Highlight(Highlight2HTML):
        @functools.lru_cache(maxsize=_CACHED)  # noqa: B019 (one instance per process)
        def _cached(self, source: str, language: str | None, metadata: str) -> str:
            return super().__call__(source, language, json.loads(metadata))

        def __call__(self, source, language=None, metadata=None):
            language = language or self.pygments_lexer
            return self._cached(source, language, json.dumps(metadata or {}, sort_keys=True, default=str))

    class Exporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            info = nb.metadata.get("language_info", {})  # the notebook's lexer, as HTMLExporter's
            self.filters["highlight_code"].pygments_lexer = info.get("pygments_lexer", info.get("name")) or "ipython3"
            return super().from_notebook_node(nb, resources, **kw)

        def default_filters(self):
            yield from super().default_filters()
            yield "clean_html", functools.lru_cache(maxsize=_CACHED)(clean_html)

        @pass_context
        def markdown2html(self, context, source):
            if context.get("cell", {}).get("attachments"):
                return super().markdown2html(context, source)
            return self._markdown(source, context.get("resources", {}).get("metadata", {}).get("path", ""))

        @functools.lru_cache(maxsize=_CACHED)  # noqa: B019
        def _markdown(self, source: str, path: str) -> str:
            return super().markdown2html({"resources": {"metadata": {"path": path}}}, source)

    # HTMLExporter takes its code highlighter from ``filters`` when one is there.
    return Exporter(template_name="classic", filters={"highlight_code": Highlight()})


_CACHED = 4096  # cells remembered per filter and worker


def render(result) -> str:
    """Self-contained HTML feedback for one graded notebook."""
    table = summary_table(result)
    if result.graded_nb is None:
        return f"<!DOCTYPE html><html><body>{table}</body></html>"
    body, _ = _exporter().from_notebook_node(strip_hidden(result.graded_nb))
    return body.replace("<body>", "<body>" + table, 1) if "<body>" in body else table + body
