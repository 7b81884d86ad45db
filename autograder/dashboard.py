"""`autograder progress --html`: the learner's record as one self-contained HTML page.

Best score per module (table with bars drawn in CSS) and the course score over time (a matplotlib
chart inlined as SVG), from a Jinja template (``templates/dashboard``, escaping on). No script, no
stylesheet or font from elsewhere: the file opens offline and can be mailed or archived as is.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from pathlib import Path

from autograder import paths, progress

TEMPLATES = Path(__file__).resolve().parent / "templates" / "dashboard"

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } .dim { color: #666; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0 2rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { background: #eee; border-radius: 3px; height: .8rem; width: 12rem; }
.bar > div { background: #2a7ab9; border-radius: 3px; height: 100%; }
.bar > div.full { background: #2e9d4f; }
figure { margin: 0; } svg { max-width: 100%; height: auto; }
"""


def course_total_over_time(
    attempts: list[progress.Attempt], course_max: float
) -> list[tuple[dt.datetime, float]]:
    """After each attempt, the share of the course's points earned so far (best per notebook)."""
    best: dict[tuple[str, str], float] = {}
    points = []
    for a in attempts:
        key = (a.module, a.notebook)
        best[key] = max(best.get(key, 0.0), a.score)
        points.append(
            (
                dt.datetime.fromisoformat(a.at),
                100 * sum(best.values()) / course_max if course_max else 0.0,
            )
        )
    return points


def chart_svg(points: list[tuple[dt.datetime, float]]) -> str:
    """A step chart of the course score over time, as an ``<svg>`` element (no XML prolog)."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    times, shares = zip(*points, strict=True)
    ax.step(times, shares, where="post", color="#2a7ab9")
    ax.plot(times, shares, "o", color="#2a7ab9", markersize=4)
    ax.set_ylim(0, 100)
    ax.set_ylabel("course score (%)")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(
        buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
    )
    text = buf.getvalue()
    return text[text.index("<svg") :]


@functools.cache
def _template():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["j2", "html"]),
        keep_trailing_newline=True,
    )
    env.filters["points"] = lambda x: f"{x:g}"
    return env.get_template("progress.html.j2")


def render(store: Path | None = None) -> str:
    """The dashboard's HTML for the record in ``store`` (default: the learner's own)."""
    summary = progress.summary(store)
    history = progress.attempts(store)
    course_max = sum(r.max_score for r in summary)
    earned = sum(r.best or 0.0 for r in summary)
    rows = []
    for r in summary:
        share = (r.best or 0.0) / r.max_score if r.max_score else 0.0
        rows.append(
            {
                "module": r.module,
                "best": r.best,
                "max_score": r.max_score,
                "share": share,
                "full": r.best is not None and share >= 1,
                "attempts": r.attempts,
                "last": r.last,
            }
        )
    chart = chart_svg(course_total_over_time(history, course_max)) if history else ""
    return _template().render(
        course_id=paths.COURSE_ID,
        css=CSS,
        rows=rows,
        earned=earned,
        course_max=course_max,
        checks=len(history),
        share=f"{100 * earned / course_max if course_max else 0:.0f}",
        written=progress.now(),
        store=str(store or progress.store_path()),
        chart=chart,
    )


def write(out: Path, store: Path | None = None) -> Path:
    """Write the dashboard to ``out`` (folders created); return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(store), encoding="utf-8")
    return out
