"""`autograder grade`: the instructor's batch.

Submissions are graded in parallel worker processes; each worker imports nbconvert and nbclient
once and keeps a kernel starting in the background for its next notebook. Only the main process
writes: the gradebook row of a submission is committed as soon as it is graded, so a killed batch
resumes where it stopped. ``grades.csv`` and the feedback files are written from the gradebook.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import authoring, paths
from autograder.execute import Limits
from autograder.gradebook import CSV_COLUMNS, NbgraderBook, Records, Row
from autograder.sandbox import SandboxConfig
from autograder.sandbox import decide as sandbox_decide
from autograder.submissions import Submission, discover, unpack_zip

log = logging.getLogger("autograder.grade")

# Severity order when a module has several notebooks: the worst status wins.
STATUS_ORDER = ["graded", "timeout", "kernel_died", "missing", "invalid_notebook", "error"]


@dataclass
class BatchReport:
    out: Path
    csv_path: Path
    rows: list[Row] = field(default_factory=list)
    graded_now: int = 0
    skipped: int = 0
    seconds: float = 0.0


# --- worker side ------------------------------------------------------------------------------

_POOL = None


def _init_worker(env: dict[str, str], preload: tuple[str, ...] | None = None,
                 roots: tuple[str, str] | None = None) -> None:
    """``preload``: the imports of the module to grade (see grading.kernel_preload); ``roots``:
    the grader's ``solutions/`` and ``course/`` folders (a copy an instructor edits, say)."""
    global _POOL
    from multiprocessing import util

    if roots is not None:
        paths.SOLUTIONS, paths.COURSE = Path(roots[0]), Path(roots[1])

    # Imported once per worker, not once per submission. Workers need nothing of nbgrader
    # itself (importing it cost 0.7 s of CPU per worker).
    import nbconvert  # noqa: F401

    from autograder.execute import KernelPool

    os.environ.update(env)
    _POOL = KernelPool(size=1, preload=preload)  # one kernel starting ahead, forked from this worker's zygote
    util.Finalize(None, _POOL.close, exitpriority=100)
    from autograder.zygote import Zygote

    util.Finalize(None, Zygote.stop, exitpriority=50)


def grade_submission(sub: Submission, limits: Limits, with_feedback: bool = True) -> dict:
    """Grade all notebooks of one submission; plain data back to the main process."""
    from autograder import feedback
    from autograder.execute import Kernel
    from autograder.grading import grade_notebook, kernel_preload, load_source

    started = time.monotonic()
    outcome: dict = {"student": sub.student, "module": sub.module, "notebooks": {}}
    for name, path in sub.notebooks.items():
        entry: dict = {"cells": {}, "messages": {}, "html": None}
        try:
            if path is None:
                source = load_source(sub.module, name)
                entry.update(status="missing", reason=f"no {name} in the submission")
                entry["cells"] = {g: 0.0 for g in authoring.test_points(source)}
            else:
                preload = kernel_preload(sub.module)
                kernel = (_POOL.take(limits.sandbox, preload) if _POOL is not None
                          else Kernel(sandbox=limits.sandbox, preload=preload))
                result = grade_notebook(path, module=sub.module, notebook=name, limits=limits, kernel=kernel)
                entry.update(status=result.status, reason=result.reason)
                entry["cells"] = {g: c.score for g, c in result.cells.items()}
                entry["messages"] = {g: c.message for g, c in result.cells.items()}
                if with_feedback:
                    entry["html"] = feedback.render(result)
        except Exception as error:  # a grader bug must fail this submission only, loudly
            entry.update(status="error", reason=f"grader error: {type(error).__name__}: {error}")
        outcome["notebooks"][name] = entry
    outcome["seconds"] = time.monotonic() - started  # grading time, not time spent queued
    return outcome


# --- main side --------------------------------------------------------------------------------


def digest(sub: Submission) -> str:
    """What the grade depends on: the submitted notebooks and the module's source notebooks."""
    h = hashlib.sha256()
    for name in sorted(sub.notebooks):
        path = sub.notebooks[name]
        h.update(name.encode())
        h.update(path.read_bytes() if path is not None and path.is_file() else b"<missing>")
        h.update(paths.source_notebook(sub.module, name).read_bytes())
    return h.hexdigest()


def default_out(submissions: Path, module: str) -> Path:
    tag = hashlib.sha256(str(submissions.resolve()).encode()).hexdigest()[:8]
    return paths.home() / "grading" / f"{module}-{submissions.stem}-{tag}"


def _summarise(outcome: dict, max_score: float, dig: str, seconds: float) -> Row:
    notebooks = outcome["notebooks"]
    score = sum(sum(nb["cells"].values()) for nb in notebooks.values())
    statuses = [nb["status"] for nb in notebooks.values()]
    status = max(statuses, key=STATUS_ORDER.index) if statuses else "missing"
    reasons = [
        (f"{name}: " if len(notebooks) > 1 else "") + nb["reason"]
        for name, nb in notebooks.items()
        if nb.get("reason")
    ]
    return Row(outcome["student"], outcome["module"], score, max_score, status, "; ".join(reasons), dig, seconds)


def _write_feedback(out: Path, outcome: dict) -> None:
    for name, nb in outcome["notebooks"].items():
        if nb.get("html"):
            target = out / "feedback" / outcome["student"] / outcome["module"] / (Path(name).stem + ".html")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(nb["html"], encoding="utf-8")


def write_csv(path: Path, rows: list[Row]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([r.student_id, r.module, f"{r.score:g}", f"{r.max_score:g}", r.status, r.reason])
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
            self.bar = Progress("grading", BarColumn(), MofNCompleteColumn(), rate, TimeElapsedColumn(),
                                "ETA", TimeRemainingColumn(), console=Console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task("grading", total=total, rate="")

    def advance(self, row: Row) -> None:
        line = json.dumps({"student": row.student_id, "module": row.module, "status": row.status,
                           "score": row.score, "max_score": row.max_score, "seconds": round(row.seconds, 2)})
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
) -> BatchReport:
    """Grade every submission of ``module`` found in ``submissions`` (a folder or a zip).

    Args:
        submissions: nbgrader layout, flat ``<student>.ipynb`` folder, or a zip of either.
        module: the module id (``00-getting-started``, or ``00``).
        out: where ``grades.csv``, ``feedback/`` and the gradebook go; by default a folder under
            the user's data directory, the same for the same submissions (so a rerun resumes).
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
    """
    started = time.monotonic()
    module = paths.resolve_module(module)
    submissions = Path(submissions)
    if not submissions.exists():
        raise FileNotFoundError(f"{submissions} does not exist")
    out = Path(out) if out else default_out(submissions, module)
    out.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{out / 'gradebook.db'}"
    notebooks = paths.module_notebooks(module)
    limits = Limits(cell_timeout=cell_timeout, notebook_timeout=notebook_timeout,
                    sandbox=sandbox or SandboxConfig.from_env())
    sandbox_decide(limits.sandbox)  # --require-sandbox fails here, before any work; else one warning

    with tempfile.TemporaryDirectory(prefix="autograder-zip-") as unpacked:
        root = unpack_zip(submissions, Path(unpacked), module, notebooks) if submissions.is_file() else submissions
        subs = discover(root, module, notebooks)
        records = Records(db_url)
        done = {} if force else records.done(module)
        todo = [(s, d) for s in subs if done.get(s.student) != (d := digest(s))]
        report = BatchReport(out, out / "grades.csv", skipped=len(subs) - len(todo))
        # Workers start importing while the main process opens nbgrader's gradebook (slow: it
        # runs alembic).
        if scheduler:
            from autograder import distributed

            runner = distributed.run(todo, limits, scheduler, feedback)
        else:
            runner = _run(todo, limits, workers, feedback)
        next(runner)
        book = NbgraderBook(db_url)
        from autograder.grading import load_source

        cells = {name: authoring.test_points(load_source(module, name)) for name in notebooks}
        book.ensure_module(module, cells)
        max_score = sum(sum(c.values()) for c in cells.values())
        bar = _Progress(len(todo), progress)
        try:
            for outcome, dig, seconds in runner:
                row = _summarise(outcome, max_score, dig, seconds)
                book.record(row.student_id, module, {n: nb["cells"] for n, nb in outcome["notebooks"].items()})
                records.save(row)
                _write_feedback(out, outcome)
                report.graded_now += 1
                bar.advance(row)
        finally:
            bar.close()
            book.close()
            runner.close()
    students = {s.student for s in subs}
    report.rows = [r for r in records.rows(module) if r.student_id in students]
    write_csv(report.csv_path, report.rows)
    report.seconds = time.monotonic() - started
    return report


def _run(todo: list[tuple[Submission, str]], limits: Limits, workers: int | None, with_feedback: bool):
    """Yield ``(outcome, digest, seconds)`` as submissions finish; survive a crashed worker.

    The first ``next()`` starts the workers and yields ``None`` at once.
    """
    if not todo:
        yield None
        return
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    env = {"COURSE_PROFILE": "quick"}
    from autograder.grading import kernel_preload

    preload = kernel_preload(todo[0][0].module)
    pending = list(todo)
    attempts: dict[str, int] = {}
    ctx = multiprocessing.get_context("spawn")
    first = True
    while pending:
        roots = (str(paths.SOLUTIONS), str(paths.COURSE))
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                    initargs=(env, preload, roots)) as pool:
            futures = {pool.submit(grade_submission, s, limits, with_feedback): (s, d, time.monotonic()) for s, d in pending}
            pending = []
            if first:
                first = False
                yield None
            for future in cf.as_completed(futures):
                sub, dig, t0 = futures[future]
                try:
                    outcome = future.result()
                except cf.process.BrokenProcessPool:
                    attempts[sub.student] = attempts.get(sub.student, 0) + 1
                    if attempts[sub.student] < 2:
                        pending.append((sub, dig))  # retried in a fresh pool
                        continue
                    outcome = _crashed(sub, "the grading worker crashed twice on this submission")
                except Exception as error:
                    outcome = _crashed(sub, f"grader error: {type(error).__name__}: {error}")
                yield outcome, dig, outcome.get("seconds", time.monotonic() - t0)


def _crashed(sub: Submission, reason: str) -> dict:
    from autograder.grading import load_source

    return {
        "student": sub.student,
        "module": sub.module,
        "notebooks": {
            name: {"status": "error", "reason": reason, "html": None,
                   "cells": {g: 0.0 for g in authoring.test_points(load_source(sub.module, name))}}
            for name in sub.notebooks
        },
    }
