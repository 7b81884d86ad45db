"""The worker's side of a batch: one task (:func:`grade_submission`) that every backend runs, and
the local backend (:class:`LocalRunner`, a process pool).

A runner is anything with ``start()`` (begin: workers import and warm up while the main process
opens the gradebook) and ``results()`` (yield ``(SubmissionOutcome, digest)`` as submissions
finish); :class:`autograder.distributed.DaskRunner` is the other one.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from autograder import authoring
from autograder.errors import WorkersFailed
from autograder.outcome import NotebookResult, SubmissionOutcome, failed
from autograder.settings import Settings
from autograder.submissions import Submission

_POOL = None  # this worker process's kernels (autograder.kernel.KernelPool)
_STARTED: Path | None = None  # where this worker says which submission it is grading


def start_worker(
    settings: Settings, preload: tuple[str, ...] | None, started: str | None = None
) -> None:
    """Once per worker process: imports, and a kernel starting ahead, forked from this worker's
    zygote with ``preload`` (the module's imports) already imported. ``started``: a folder where
    the worker marks the submission it is on (the local pool's crash accounting)."""
    global _POOL, _STARTED
    from multiprocessing import util

    _STARTED = Path(started) if started else None
    if started:  # a worker of the local pool: it goes when the batch goes, even by SIGKILL
        # (with its parent: the batch, or the batch's fork server, which goes with the batch)
        from autograder.zygote import die_with_parent

        die_with_parent()
    # Imported once per worker, not once per submission. Workers need nothing of nbgrader
    # itself (importing it cost 0.7 s of CPU per worker).
    import nbconvert  # noqa: F401

    from autograder.kernel import KernelPool
    from autograder.zygote import Zygote

    os.environ["COURSE_PROFILE"] = "quick"  # what the worker's own imports of `course` see
    _POOL = KernelPool(
        size=1, sandbox=settings.limits.sandbox, preload=preload, zygote=settings.zygote
    )
    util.Finalize(None, _POOL.close, exitpriority=100)
    util.Finalize(None, Zygote.stop, exitpriority=50)


def grade_submission(
    sub: Submission, settings: Settings, with_feedback: bool = True
) -> SubmissionOutcome:
    """Grade every notebook of one submission (the same task for every backend)."""
    started = time.monotonic()
    outcome = SubmissionOutcome(sub.student, sub.module)
    mark = _STARTED / sub.student if _STARTED is not None else None
    if mark is not None:
        mark.touch()
    try:
        for name, path in sub.notebooks.items():
            outcome.notebooks[name] = _grade_one(sub.module, name, path, settings, with_feedback)
    finally:
        if mark is not None:
            mark.unlink(missing_ok=True)
    outcome.seconds = time.monotonic() - started
    return outcome


def _grade_one(
    module: str, name: str, path: Path | None, settings: Settings, with_feedback: bool
) -> NotebookResult:
    from autograder import feedback
    from autograder.grading import grade_notebook, kernel_preload, load_source
    from autograder.kernel import Kernel

    points = authoring.test_points(load_source(module, name, settings.roots))
    try:
        if path is None:
            return failed(
                "", module, {name: points}, "missing", f"no {name} in the submission"
            ).notebooks[name]
        preload = kernel_preload(module, settings.roots)
        kernel = (
            _POOL.take(settings.limits.sandbox, preload)
            if _POOL is not None
            else Kernel(sandbox=settings.limits.sandbox, preload=preload, zygote=settings.zygote)
        )
        result = grade_notebook(
            path, module=module, notebook=name, settings=settings, kernel=kernel
        )
        if with_feedback:
            result.html = feedback.render(result)
        return result.portable()
    except Exception as error:  # a grader bug must fail this submission only, loudly
        reason = f"grader error: {type(error).__name__}: {error}"
        return failed("", module, {name: points}, "error", reason).notebooks[name]


def crashed(sub: Submission, settings: Settings, reason: str) -> SubmissionOutcome:
    """The outcome of a submission whose grading never finished (a crashed worker...)."""
    from autograder.grading import load_source

    points = {
        name: authoring.test_points(load_source(sub.module, name, settings.roots))
        for name in sub.notebooks
    }
    return failed(sub.student, sub.module, points, "error", reason)


def context(
    preload: tuple[str, ...] | None, ahead: dict | None = None
) -> multiprocessing.context.BaseContext:
    """Where the local pool's workers come from: forked from a fork server that has imported
    and warmed up what every worker needs (:mod:`autograder.preheat`, with the module's own
    imports ``preload``), started here for this batch; a fresh interpreter each (spawn) where
    there is no fork server. A worker starts as clean as a spawned one (the fork server runs
    nothing else), but the imports are paid once per batch, not once per worker.

    ``ahead``: the kernel zygotes the server starts for the workers before its own imports
    (:func:`autograder.zygote.start_ahead`'s arguments)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver, spawn

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["autograder.preheat"])
    told = {
        "AUTOGRADER_WORKER_PRELOAD": ",".join(preload or ()),
        "AUTOGRADER_ZYGOTES_AHEAD": json.dumps(ahead),
        "AUTOGRADER_MAIN_PATH": spawn.get_preparation_data("preheat").get(
            "init_main_from_path", ""
        ),
    }
    saved = {name: os.environ.get(name) for name in told}
    os.environ.update(told)
    try:  # the server takes this process's environment when it starts
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return ctx


def stop_forkserver() -> None:
    """End this batch's fork server (the next batch starts its own, with its own imports)."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        try:
            stop()
        except OSError:
            pass


def _shut(executor: cf.ProcessPoolExecutor, cancel: bool = False) -> None:
    """Shut a pool down and wait for it. A broken pool's workers are killed first: the pool
    terminates them itself, but a worker blocked sending a large result into the pipe that no
    one reads any more was seen to outlive that (once, under heavy load: a test hung), and the wait
    then never ended. What it was sending is lost with the pool; its submission had not
    been marked running any more, so it is requeued at no cost."""
    if getattr(executor, "_broken", False):
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            if process.is_alive():
                process.kill()
    executor.shutdown(wait=True, cancel_futures=cancel)


class LocalRunner:
    """Grades on a pool of worker processes on this machine, and survives crashed workers.

    When a worker dies, the submissions that were being graded at that moment (each worker says
    which, in a folder of markers) are *suspects*: each is graded again alone, in a pool of one
    worker, and only a crash there counts against it (twice, and it gets an ``error`` row);
    submissions that had not started go back in the queue. So a submission that crashes its
    worker never costs the others graded beside it a retry."""

    def __init__(
        self,
        todo: list[tuple[Submission, str]],
        settings: Settings,
        workers: int | None,
        with_feedback: bool = True,
    ):
        from autograder.grading import kernel_preload

        self.todo, self.settings, self.with_feedback = list(todo), settings, with_feedback
        self.workers = max(1, min(workers or os.cpu_count() or 1, len(self.todo) or 1))
        self.preload = kernel_preload(self.todo[0][0].module, settings.roots) if self.todo else None
        self._started = tempfile.TemporaryDirectory(prefix="autograder-started-")
        self._executor: cf.ProcessPoolExecutor | None = None
        self._futures: dict = {}
        self._context: multiprocessing.context.BaseContext | None = None

    def _pool(self, size: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            size,
            mp_context=self._context,
            initializer=start_worker,
            initargs=(self.settings, self.preload, self._started.name),
        )

    def _submit(self, executor, sub: Submission):
        return executor.submit(grade_submission, sub, self.settings, self.with_feedback)

    def start(self) -> None:
        if self.todo:
            size = min(self.workers, len(self.todo))
            sandbox = self.settings.limits.sandbox.resolved()
            ahead = (
                {
                    "count": size,
                    "sandboxed": bool(sandbox.bwrap),
                    "preload": self.preload,
                    "disk": sandbox.disk,
                }
                if self.settings.zygote
                else None
            )
            self._context = context(self.preload, ahead)
            self._executor = self._pool(size)
            self._futures = {self._submit(self._executor, s): (s, d) for s, d in self.todo}

    def results(self) -> Iterator[tuple[SubmissionOutcome, str]]:
        try:
            yield from self._results()
        finally:
            if self._executor is not None:
                _shut(self._executor, cancel=True)
                self._executor = None
            self._started.cleanup()
            if self._context is not None:
                stop_forkserver()
                self._context = None

    def _outcome(self, future, sub: Submission) -> SubmissionOutcome:
        try:
            return future.result()
        except cf.process.BrokenProcessPool:
            raise
        except Exception as error:
            return crashed(sub, self.settings, f"grader error: {type(error).__name__}: {error}")

    def _results(self) -> Iterator[tuple[SubmissionOutcome, str]]:
        pending: list[tuple[Submission, str]] = []
        suspects: list[tuple[Submission, str]] = []
        crashes: dict[str, int] = {}
        fruitless = 0  # pools that broke before grading anything: workers that cannot start
        while self._futures or pending or suspects:
            if fruitless >= 3:
                raise WorkersFailed(
                    "the grading workers die before they grade anything (three pools in a row); "
                    "run `autograder check` on one submission to see why; a rerun resumes"
                )
            if not self._futures and pending:
                self._executor = self._pool(min(self.workers, len(pending)))
                self._futures = {self._submit(self._executor, s): (s, d) for s, d in pending}
                pending = []
            progress = False
            for future in cf.as_completed(list(self._futures)):
                sub, dig = self._futures.pop(future)
                try:
                    outcome = self._outcome(future, sub)
                except cf.process.BrokenProcessPool:
                    mark = Path(self._started.name) / sub.student
                    was_running = mark.exists()
                    (suspects if was_running else pending).append((sub, dig))
                    progress = progress or was_running
                    mark.unlink(missing_ok=True)
                    continue
                progress = True
                yield outcome, dig
            if self._executor is not None:
                _shut(self._executor)
                self._executor = None
            fruitless = 0 if progress else fruitless + 1
            yield from self._one_by_one(suspects, crashes)

    def _one_by_one(
        self, suspects: list, crashes: dict[str, int]
    ) -> Iterator[tuple[SubmissionOutcome, str]]:
        """Suspects alone in a pool of one: a crash now is this submission's own doing."""
        executor = None
        try:
            while suspects:
                sub, dig = suspects.pop(0)
                executor = executor or self._pool(1)
                try:
                    outcome = self._outcome(self._submit(executor, sub), sub)
                except cf.process.BrokenProcessPool:
                    _shut(executor)
                    executor = None
                    (Path(self._started.name) / sub.student).unlink(missing_ok=True)
                    crashes[sub.student] = crashes.get(sub.student, 0) + 1
                    if crashes[sub.student] < 2:
                        suspects.append((sub, dig))
                        continue
                    outcome = crashed(
                        sub, self.settings, "the grading worker crashed twice on this submission"
                    )
                yield outcome, dig
        finally:
            if executor is not None:
                _shut(executor)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._context is not None and self._executor is None:
            stop_forkserver()
            self._context = None
