"""`autograder grade`: the instructor's batch, start to end.

Submissions are found (:mod:`autograder.submissions`), those not yet graded with these settings
are handed to a runner (:class:`autograder.worker.LocalRunner`, or
:class:`autograder.distributed.DaskRunner` with ``--scheduler``), and each outcome is recorded as
it arrives: its feedback pages first, then nbgrader's per-cell scores, then our row, the one that
marks the submission done, in one transaction. Only this process writes, so a killed batch resumes
where it stopped. ``grades.csv`` and ``questions.csv`` are written from the gradebook.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import authoring, paths
from autograder.gradebook import CSV_COLUMNS, CellRow, NbgraderBook, Records, Row
from autograder.outcome import SubmissionOutcome
from autograder.paths import Roots
from autograder.sandbox import SandboxConfig
from autograder.settings import Limits, Settings
from autograder.submissions import Submission, discover, unpack_zip

log = logging.getLogger("autograder.grade")


@dataclass
class BatchReport:
    out: Path
    csv_path: Path
    rows: list[Row] = field(default_factory=list)
    graded_now: int = 0
    skipped: int = 0
    seconds: float = 0.0
    questions_path: Path | None = None
    page: Path | None = None  # the class's page (autograder.classview)


def digest(sub: Submission, settings: Settings | None = None) -> str:
    """What the grade depends on: the submitted notebooks, the module's source notebooks, the
    grading settings that change grades, and the autograder's version (a rerun with other limits
    or another version regrades)."""
    import autograder

    settings = settings or Settings()
    h = hashlib.sha256()
    h.update(json.dumps(settings.fingerprint(), sort_keys=True).encode())
    h.update(autograder.__version__.encode())
    for name in sorted(sub.notebooks):
        path = sub.notebooks[name]
        h.update(name.encode())
        h.update(path.read_bytes() if path is not None and path.is_file() else b"<missing>")
        h.update(settings.roots.source(sub.module, name).read_bytes())
    return h.hexdigest()


def default_out(submissions: Path, module: str) -> Path:
    tag = hashlib.sha256(str(submissions.resolve()).encode()).hexdigest()[:8]
    return paths.home() / "grading" / f"{module}-{submissions.stem}-{tag}"


def summary(outcome: SubmissionOutcome, max_score: float, dig: str) -> Row:
    """The submission's row: total, worst status, reasons."""
    return Row(
        outcome.student,
        outcome.module,
        outcome.score,
        max_score,
        outcome.status,
        outcome.reason,
        dig,
        outcome.seconds,
    )


def cell_rows(outcome: SubmissionOutcome) -> list[CellRow]:
    return [
        CellRow(outcome.student, outcome.module, name, c.grade_id, c.points, c.score, c.message)
        for name, nb in outcome.notebooks.items()
        for c in nb.cells.values()
    ]


def _write_feedback(out: Path, outcome: SubmissionOutcome) -> None:
    """Each page written whole or not at all (a temporary file renamed into place)."""
    for name, nb in outcome.notebooks.items():
        if nb.html:
            target = (
                out / "feedback" / outcome.student / outcome.module / (Path(name).stem + ".html")
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(nb.html)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)


def write_csv(path: Path, rows: list[Row]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow(
                [r.student_id, r.module, f"{r.score:g}", f"{r.max_score:g}", r.status, r.reason]
            )
    os.replace(tmp, path)


class _Progress:
    """A rich progress bar on a terminal; one log line per submission otherwise."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            rate = TextColumn("{task.fields[rate]}")
            self.bar = Progress(
                "grading",
                BarColumn(),
                MofNCompleteColumn(),
                rate,
                TimeElapsedColumn(),
                "ETA",
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task("grading", total=total, rate="")

    def advance(self, row: Row) -> None:
        line = json.dumps(
            {
                "student": row.student_id,
                "module": row.module,
                "status": row.status,
                "score": row.score,
                "max_score": row.max_score,
                "seconds": round(row.seconds, 2),
            }
        )
        if self.bar is not None:
            self.bar.advance(self.task)
            speed = self.bar.tasks[0].speed  # completions per second, over rich's recent window
            self.bar.update(self.task, rate=f"{60 * speed:.1f}/min" if speed else "")
            if log.isEnabledFor(logging.INFO):
                self.bar.console.print(line, highlight=False)  # above the bar, not through it
                return
        log.info(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def grade(
    submissions: str | Path,
    *,
    module: str,
    out: str | Path | None = None,
    workers: int | None = None,
    cell_timeout: float = Limits.cell_timeout,
    notebook_timeout: float = Limits.notebook_timeout,
    force: bool = False,
    feedback: bool = True,
    progress: bool = True,
    db_url: str | None = None,
    scheduler: str | None = None,
    sandbox: SandboxConfig | None = None,
    roots: Roots | None = None,
    settings: Settings | None = None,
) -> BatchReport:
    """Grade every submission of ``module`` found in ``submissions`` (a folder or a zip).

    Args:
        submissions: nbgrader layout, flat ``<student>.ipynb`` folder, or a zip of either.
        module: the module id (``00-getting-started``, or ``00``).
        out: where ``grades.csv``, ``questions.csv``, ``feedback/`` and the gradebook go; by
            default a folder under the user's data directory, the same for the same submissions
            (so a rerun resumes).
        workers: parallel worker processes (default: the number of CPU cores).
        cell_timeout, notebook_timeout: seconds a cell, and a whole notebook, may run.
        force: re-grade everything instead of only what is new or changed.
        feedback: write HTML feedback per notebook.
        progress: show a progress bar on a terminal.
        db_url: SQLAlchemy URL of the gradebook (default: SQLite in ``out``).
        scheduler: address of a Dask scheduler (``tcp://host:8786``): grade on that cluster
            instead of local processes (``workers`` is then ignored).
        sandbox: bubblewrap and rlimits of the kernels (default: from the environment, see
            :mod:`autograder.sandbox`); ``required=True`` raises ``SandboxUnavailable`` without it.
        roots: the ``solutions/`` and ``course/`` to grade against (default: the repository's).
        settings: everything above that is a setting, at once (the other arguments then refine it).
    """
    started = time.monotonic()
    settings = settings or Settings.from_env()
    limits = dataclasses.replace(
        settings.limits,
        cell_timeout=cell_timeout,
        notebook_timeout=notebook_timeout,
        sandbox=sandbox or settings.limits.sandbox,
    )
    settings = dataclasses.replace(
        settings, limits=limits, roots=roots or settings.roots
    ).resolved()
    module = settings.roots.resolve(module)
    submissions = Path(submissions)
    if not submissions.exists():
        raise FileNotFoundError(f"{submissions} does not exist")
    out = Path(out) if out else default_out(submissions, module)
    out.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{out / 'gradebook.db'}"
    notebooks = settings.roots.notebooks(module)

    with tempfile.TemporaryDirectory(prefix="autograder-zip-") as unpacked:
        root = (
            unpack_zip(submissions, Path(unpacked), module, notebooks)
            if submissions.is_file()
            else submissions
        )
        subs = discover(root, module, notebooks)
        records = Records(db_url)
        done = {} if force else records.done(module)
        todo = [(s, d) for s in subs if done.get(s.student) != (d := digest(s, settings))]
        report = BatchReport(out, out / "grades.csv", skipped=len(subs) - len(todo))
        if scheduler:
            from autograder.distributed import DaskRunner

            runner = DaskRunner(todo, settings, scheduler, feedback)
        else:
            from autograder.worker import LocalRunner

            runner = LocalRunner(todo, settings, workers, feedback)
        # Workers start importing while the main process opens nbgrader's gradebook (slow: it
        # runs alembic).
        runner.start()
        try:
            book = NbgraderBook(db_url)
            from autograder.grading import load_source

            cells = {
                name: authoring.test_points(load_source(module, name, settings.roots))
                for name in notebooks
            }
            book.ensure_module(module, cells)
            max_score = sum(sum(c.values()) for c in cells.values())
            bar = _Progress(len(todo), progress)
            try:
                for outcome, dig in runner.results():
                    row = summary(outcome, max_score, dig)
                    # Feedback first: the row that marks the submission done is written last,
                    # so a batch killed in between regrades it rather than leave it without its page.
                    _write_feedback(out, outcome)
                    book.record(row.student_id, module, outcome.scores())
                    records.save(row, cell_rows(outcome))
                    report.graded_now += 1
                    bar.advance(row)
            finally:
                bar.close()
                book.close()
        finally:
            runner.close()
    students = {s.student for s in subs}
    report.rows = [r for r in records.rows(module) if r.student_id in students]
    write_csv(report.csv_path, report.rows)
    class_cells = [c for c in records.cells(module) if c.student_id in students]
    report.questions_path = write_questions(out / "questions.csv", class_cells, cells, module)
    from autograder import classview

    report.page = classview.write(
        out, module, report.rows, question_stats(class_cells, cells, module)
    )
    report.seconds = time.monotonic() - started
    return report


QUESTION_COLUMNS = (
    "module",
    "notebook",
    "question",
    "points",
    "submissions",
    "mean_score",
    "full_marks_share",
    "most_common_failure",
)


def question_stats(
    cells: list[CellRow], points: dict[str, dict[str, float]], module: str = ""
) -> list[dict]:
    """Per test cell: how many submissions, the mean score, the share with full marks and the
    most common first line of failure, so a question everyone fails stands out."""
    from collections import Counter

    stats = []
    for notebook, by_id in points.items():
        for grade_id, pts in by_id.items():
            mine = [c for c in cells if c.notebook == notebook and c.grade_id == grade_id]
            failures = Counter(c.message for c in mine if c.score < c.points and c.message)
            n = len(mine)
            stats.append(
                {
                    "module": module,
                    "notebook": notebook,
                    "question": grade_id,
                    "points": pts,
                    "submissions": n,
                    "mean_score": sum(c.score for c in mine) / n if n else 0.0,
                    "full_marks_share": sum(c.score >= c.points for c in mine) / n if n else 0.0,
                    "most_common_failure": failures.most_common(1)[0][0] if failures else "",
                }
            )
    return stats


def write_questions(
    path: Path, cells: list[CellRow], points: dict[str, dict[str, float]], module: str = ""
) -> Path:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(QUESTION_COLUMNS)
        for q in question_stats(cells, points, module):
            writer.writerow(
                [
                    q["module"],
                    q["notebook"],
                    q["question"],
                    f"{q['points']:g}",
                    q["submissions"],
                    f"{q['mean_score']:.3g}",
                    f"{q['full_marks_share']:.3f}",
                    q["most_common_failure"],
                ]
            )
    os.replace(tmp, path)
    return path
