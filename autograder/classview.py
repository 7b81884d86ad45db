"""The instructor's view of a graded class: one self-contained page next to ``grades.csv``
(``<out>/index.html``): the class table with a link to each student's feedback, and per-question
statistics (mean score, share of full marks, the most common failure), so a question that
everyone fails stands out. From a Jinja template (``templates/classview``, escaping on); it runs
no script and loads nothing, so it opens from the folder offline, and the folder can be shared.
"""

from __future__ import annotations

import functools
from pathlib import Path

from autograder import progress
from autograder.gradebook import Row

TEMPLATES = Path(__file__).resolve().parent / "templates" / "classview"


@functools.cache
def _template():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["j2", "html"])
    )
    env.filters["points"] = lambda x: f"{x:g}"
    env.filters["stem"] = lambda name: Path(name).stem
    return env.get_template("index.html.j2")


def render(out: Path, module: str, rows: list[Row], questions: list[dict]) -> str:
    links: dict[str, list[tuple[str, str]]] = {}
    for page in sorted((out / "feedback").glob(f"*/{module}/*.html")):
        links.setdefault(page.parent.parent.name, []).append(
            (page.stem, page.relative_to(out).as_posix())
        )
    max_score = max((r.max_score for r in rows), default=0.0)
    return _template().render(
        module=module,
        rows=rows,
        questions=questions,
        links=links,
        max_score=max_score,
        mean=sum(r.score for r in rows) / len(rows) if rows else 0.0,
        graded=sum(r.status == "graded" for r in rows),
        others=sum(r.status != "graded" for r in rows),
        written=progress.now(),
    )


def write(out: Path, module: str, rows: list[Row], questions: list[dict]) -> Path:
    """Write ``<out>/index.html`` (whole, or not at all) and return its path."""
    import os

    target = out / "index.html"
    tmp = target.with_name(f".index.html.{os.getpid()}.tmp")
    tmp.write_text(render(out, module, rows, questions), encoding="utf-8")
    os.replace(tmp, target)
    return target
