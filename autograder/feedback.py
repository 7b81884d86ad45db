"""Feedback HTML: the graded notebook with a score table on top and no hidden test source.

The page comes from a Jinja template (``templates/feedback``) that extends nbconvert's
JupyterLab page, as nbgrader's own feedback extends nbconvert's. What makes it safe to open and
able to stand alone:

* hidden test blocks are replaced by a one-line placeholder, and failures inside test cells are
  reduced to ``ErrorName: message`` (a traceback would quote the hidden line that failed);
* the student's HTML (markdown, ``text/html`` outputs, raw cells) is sanitised, output metadata
  and cell ids are reduced to what the page needs, JavaScript and widget outputs are left out,
  and the page's Content-Security-Policy lets no script run and nothing load from elsewhere;
* equations are rendered when the page is made (TeX to MathML, which browsers draw natively), so
  the page needs no MathJax and shows its math offline;
* sizes are capped: a cell's source, an attachment, the page (under :data:`MAX_PAGE_BYTES`).
"""

from __future__ import annotations

import functools
import html
import json
import re
import secrets
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from autograder import authoring
from autograder.authoring import BEGIN_HIDDEN, END_HIDDEN

_HIDDEN = re.compile(re.escape(BEGIN_HIDDEN) + r".*?(" + re.escape(END_HIDDEN) + r"|\Z)", re.S)
PLACEHOLDER = "# (hidden tests: they ran when your notebook was graded; see the table above)"
TEMPLATES = Path(__file__).resolve().parent / "templates"

# Nothing runs and nothing loads: images and fonts only as data: URLs, styles only inline.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)
MAX_PAGE_BYTES = 5 * 1024 * 1024
MAX_SOURCE_CHARS = 100_000  # a cell's source shown in feedback
MAX_ATTACHMENT_CHARS = 1_000_000  # a markdown cell's attached image (base64)

CSS = """
.ag-summary { font: 15px/1.45 system-ui, sans-serif; margin: 1rem auto 2rem; max-width: 1100px; padding: 0 1rem; }
.ag-summary h1 { font-size: 1.35rem; margin: 0 0 .2rem; }
.ag-total { font-size: 1.6rem; font-weight: 600; margin: .2rem 0; }
.ag-status { margin: .2rem 0 .8rem; } .ag-status-bad { color: #a4262c; font-weight: 600; }
.ag-table { border-collapse: collapse; width: 100%; }
.ag-table th, .ag-table td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.ag-num { white-space: nowrap; font-variant-numeric: tabular-nums; }
.ag-badge { display: inline-block; border-radius: 3px; padding: 0 .45rem; color: #fff; font-weight: 600; }
tr.ag-passed .ag-badge { background: #2e7d32; } tr.ag-failed .ag-badge { background: #c62828; }
tr.ag-failed td { background: #fff5f5; } tr.ag-passed td { background: #f4fbf4; }
.ag-notes, .ag-trimmed { color: #7a4d00; }
.ag-omitted { color: #666; font-style: italic; }
math { font-size: 1.1em; } math[display="block"] { margin: .6em 0; }
"""


def strip_hidden(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` whose test cells show no hidden test source and no tracebacks."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if not authoring.is_test(cell):
            continue
        cell.source = _HIDDEN.sub(PLACEHOLDER, cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [
                    f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                ]
    return nb


def _number(value):
    return (
        value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e5
        else None
    )


def neutralise(
    nb: NotebookNode, max_source: int = MAX_SOURCE_CHARS, outputs: bool = True
) -> NotebookNode:
    """What of a submitted notebook the page may show: cell ids, tags and output metadata reduced
    to safe values, long sources and attachments cut (in the page only), and, with
    ``outputs=False``, no outputs at all."""
    nb = nbformat.from_dict(nb)
    nb.metadata = {"language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
        cell.metadata = {}
        if len(cell.source) > max_source:
            cut = len(cell.source) - max_source
            cell.source = (
                cell.source[:max_source]
                + f"\n\n[feedback: {cut:,} more characters of this cell not shown]"
            )
        if cell.cell_type in ("markdown", "raw") and "attachments" in cell:
            kept = {
                name: data
                for name, data in (cell.attachments or {}).items()
                if isinstance(data, dict)
                and sum(len(str(v)) for v in data.values()) <= MAX_ATTACHMENT_CHARS
            }
            cell.attachments = kept
            if not kept:
                del cell["attachments"]
        if cell.cell_type == "code":
            if not outputs:
                cell.outputs = []
            for output in cell.get("outputs", []):
                meta = output.get("metadata") or {}
                clean = {}
                for mime, value in meta.items():
                    if isinstance(value, dict):
                        sizes = {k: _number(value.get(k)) for k in ("width", "height")}
                        clean[mime] = {k: v for k, v in sizes.items() if v is not None}
                if "metadata" in output:
                    output["metadata"] = clean
    return nb


# --- equations: TeX to MathML when the page is made ---------------------------------------------

MATHML_TAGS = [
    "math",
    "semantics",
    "annotation",
    "mrow",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "mspace",
    "msub",
    "msup",
    "msubsup",
    "mfrac",
    "msqrt",
    "mroot",
    "mover",
    "munder",
    "munderover",
    "mtable",
    "mtr",
    "mtd",
    "mstyle",
    "mpadded",
    "mphantom",
    "menclose",
    "merror",
    "mprescripts",
    "mmultiscripts",
    "none",
]
MATHML_ATTRS = [
    "display",
    "xmlns",
    "mathvariant",
    "stretchy",
    "accent",
    "accentunder",
    "linebreak",
    "fence",
    "separator",
    "lspace",
    "rspace",
    "width",
    "height",
    "depth",
    "columnalign",
    "rowalign",
    "columnspacing",
    "rowspacing",
    "displaystyle",
    "scriptlevel",
    "minsize",
    "maxsize",
    "movablelimits",
    "notation",
    "form",
    "largeop",
    "symmetric",
    "columnlines",
    "rowlines",
    "frame",
    "encoding",
]


@functools.lru_cache(maxsize=8192)
def mathml(tex: str, display: bool) -> str:
    """``tex`` as sanitised MathML (``\\text{<script>}`` stays text); TeX that cannot be
    converted is shown as TeX source."""
    import bleach
    import latex2mathml.converter

    try:
        converted = latex2mathml.converter.convert(tex, display="block" if display else "inline")
    except Exception:
        shown = html.escape(f"$${tex}$$" if display else f"${tex}$")
        return f'<code class="ag-tex">{shown}</code>'
    return bleach.clean(converted, tags=MATHML_TAGS, attributes={"*": MATHML_ATTRS}, strip=True)


# What a student's HTML may keep (JupyterLab's own sanitiser allows about this much): text
# structure, tables, links and images; no script, style, form, frame or event attribute.
HTML_TAGS = [
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "var",
]


def _image_attribute(tag: str, name: str, value: str) -> bool:
    # An image shows only from the page itself: a URL would be a request leaving it.
    return name in ("alt", "width", "height", "class", "title") or (
        name == "src" and value.startswith("data:image/")
    )


HTML_ATTRS = {
    "*": ["class", "id", "title"],
    "a": ["href"],
    "img": _image_attribute,
    "td": ["colspan", "rowspan", "align"],
    "th": ["colspan", "rowspan", "align"],
    "ol": ["start"],
}


@functools.lru_cache(maxsize=4096)
def clean(text: str) -> str:
    """A student's HTML with only :data:`HTML_TAGS` and :data:`HTML_ATTRS` left (links to
    http(s) and mail, images as data: URLs)."""
    import bleach

    return bleach.clean(
        str(text),
        tags=HTML_TAGS,
        attributes=HTML_ATTRS,
        protocols=["http", "https", "mailto", "data"],
        strip=True,
    )


def _markdown_html(source: str, attachments: dict | None = None, path: str = "") -> str:
    """Markdown as sanitised HTML, its equations as MathML: the renderer leaves a marker for each
    equation (a nonce the student cannot guess), bleach cleans the rest, then the markers become
    MathML."""
    from nbconvert.filters import strip_files_prefix
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    nonce = secrets.token_hex(8)
    spans: list[str] = []

    def mark(tex: str, display: bool) -> str:
        spans.append(mathml(tex, display))
        return f"@@math-{nonce}-{len(spans) - 1}@@"

    class Renderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return mark(body, True)

        def inline_math(self, body: str) -> str:
            return mark(body, False)

        def latex_environment(self, name: str, body: str) -> str:
            return mark(f"\\begin{{{name}}}{body}\\end{{{name}}}", True)

    renderer = Renderer(
        escape=False, attachments=attachments or {}, path=path, exclude_anchor_links=True
    )
    text = clean(strip_files_prefix(MarkdownWithMath(renderer=renderer).render(source)))
    return re.sub(f"@@math-{nonce}-([0-9]+)@@", lambda m: spans[int(m.group(1))], text)


@functools.cache
def _exporter():
    """One exporter per process (building one compiles its Jinja templates, about 0.1 s), whose
    pure per-cell filters remember their answers.

    A class's notebooks share most of their cells (the text, the given code, the tests), and
    sanitising and highlighting them was most of the time feedback took per notebook."""
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.highlight import Highlight2HTML

    class Highlight(Highlight2HTML):
        @functools.lru_cache(maxsize=_CACHED)  # noqa: B019 (one instance per process)
        def _cached(self, source: str, language: str | None, metadata: str) -> str:
            return super().__call__(source, language, json.loads(metadata))

        def __call__(self, source, language=None, metadata=None):
            language = language or self.pygments_lexer
            return self._cached(
                source, language, json.dumps(metadata or {}, sort_keys=True, default=str)
            )

    class Exporter(HTMLExporter):
        def default_filters(self):
            yield from super().default_filters()
            yield "clean_html", clean  # every use in nbconvert's templates: outputs, raw cells, SVG
            yield "safe_markdown", self.safe_markdown

        @pass_context
        def safe_markdown(self, context, source):
            cell = context.get("cell", {})
            if cell.get("attachments"):
                return _markdown_html(source, cell.get("attachments"))
            return self._markdown(source)

        @functools.lru_cache(maxsize=_CACHED)  # noqa: B019
        def _markdown(self, source: str) -> str:
            return _markdown_html(source)

        def _validate_preprocessor(self, nbc, preprocessor):
            # nbconvert validates the whole notebook against its schema after each of its dozen
            # preprocessors (a tenth of a page's time), for preprocessors of its own that do not
            # make a notebook invalid; a page is made of whatever notebook it is given.
            pass

        def from_notebook_node(self, nb, resources=None, **kw):
            # HTMLExporter's own method parses the finished page again with BeautifulSoup only
            # to give images without alt text a placeholder and make cells focusable: two
            # thirds of a feedback page's time. The same three edits, on the page as made.
            from nbconvert.exporters.templateexporter import TemplateExporter
            from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

            resources = self._init_resources(resources)
            self.register_filter(
                "filter_data_type",
                WidgetsDataTypeFilter(
                    notebook_metadata=self._nb_metadata, parent=self, resources=resources
                ),
            )
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return accessible(html), resources

    # HTMLExporter takes its code highlighter from ``filters`` when one is there.
    return Exporter(
        template_name="feedback",
        extra_template_basedirs=[str(TEMPLATES)],
        sanitize_html=True,
        filters={"highlight_code": Highlight(pygments_lexer="ipython3")},
    )


_CACHED = 4096  # cells remembered per filter and worker

_NO_ALT = re.compile(r"<img\b(?![^>]*\salt=)")
_OUTPUT_DIV = re.compile(r'<div ((?:id="[^"]*" )?class="[^"]*\bjp-OutputArea-output\b[^"]*")')


def accessible(html: str) -> str:
    """What nbconvert's HTML exporter adds to a page: a placeholder alt text on every image
    without one, and ``tabindex="0"`` on cell inputs and outputs (keyboard users reach them)."""
    html = _NO_ALT.sub('<img alt="No description has been provided for this image"', html)
    html = html.replace(
        '<div class="jp-Cell-inputWrapper">', '<div class="jp-Cell-inputWrapper" tabindex="0">'
    )
    return _OUTPUT_DIV.sub(r'<div \1 tabindex="0"', html)


def _summary(result) -> dict:
    cells = [
        {
            "grade_id": c.grade_id,
            "score": f"{c.score:g}",
            "points": f"{c.points:g}",
            "verdict": "passed" if c.passed else "failed",
            "message": c.message,
        }
        for c in result.cells.values()
    ]
    return {
        "module": result.module,
        "notebook": result.notebook,
        "score": f"{result.score:g}",
        "max_score": f"{result.max_score:g}",
        "status": result.status,
        "reason": result.reason,
        "status_class": "ok" if result.status == "graded" else "bad",
        "notes": list(result.notes),
        "cells": cells,
    }


# What a page may hold before it is trimmed (characters of source and output, before markup).
PAGE_BUDGET = 1_500_000
MAX_CELLS_SHOWN = 400  # ordinary cells shown in full; exercises and tests always are


def _size(cell: NotebookNode) -> int:
    outputs = (
        sum(len(json.dumps(o)) for o in cell.get("outputs", [])) if cell.cell_type == "code" else 0
    )
    return (
        len(cell.source)
        + outputs
        + sum(len(json.dumps(a)) for a in (cell.get("attachments") or {}).values())
    )


def trim(nb: NotebookNode) -> tuple[NotebookNode, str]:
    """A notebook whose page fits, and what was left out: within :data:`PAGE_BUDGET` it is
    shown whole; past it long cells are cut, outputs are dropped and ordinary cells past
    :data:`MAX_CELLS_SHOWN` are folded into one note. Exercises and test cells are always kept."""
    if sum(_size(c) for c in nb.cells) <= PAGE_BUDGET and len(nb.cells) <= MAX_CELLS_SHOWN:
        return neutralise(nb), ""
    kept, hidden, ordinary = [], 0, 0
    for cell in nb.cells:
        graded = bool(authoring.nbgrader_meta(cell).get("grade_id"))
        if graded or ordinary < MAX_CELLS_SHOWN:
            ordinary += not graded
            kept.append(cell)
        else:
            hidden += 1
    if hidden:
        kept.append(nbformat.v4.new_markdown_cell(f"[feedback: {hidden:,} more cells not shown]"))
    shown = nbformat.from_dict(nb)
    shown.cells = kept
    note = (
        "This notebook is too large to show in full: long cells are cut, outputs are left out"
        + (f" and {hidden:,} cells are not shown" if hidden else "")
        + " in this page (your grade is not affected)."
    )
    return neutralise(shown, 10_000, outputs=False), note


def warm_up() -> None:
    """Build the exporter and render one small page (templates compiled, filters imported)."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("$x^2$"), nbformat.v4.new_code_cell("x = 1")]
    )
    _exporter().from_notebook_node(
        nb,
        resources={
            "autograder": {"result": {"cells": []}, "csp": CSP, "css": CSS, "trimmed": ""},
            "metadata": {"name": "warm-up"},
        },
    )


def render(result) -> str:
    """Self-contained HTML feedback for one graded notebook, under :data:`MAX_PAGE_BYTES`."""
    page: dict[str, Any] = {"result": _summary(result), "csp": CSP, "css": CSS, "trimmed": ""}
    resources = {
        "autograder": page,
        "metadata": {"name": Path(result.notebook).stem},
    }
    if result.graded_nb is not None:
        shown, page["trimmed"] = trim(strip_hidden(result.graded_nb))
        body, _ = _exporter().from_notebook_node(shown, resources=resources)
        if len(body.encode("utf-8")) <= MAX_PAGE_BYTES:
            return body
        page["trimmed"] = "This notebook is too large to show: only the score table is here."
    body, _ = _exporter().from_notebook_node(nbformat.v4.new_notebook(), resources=resources)
    return body
