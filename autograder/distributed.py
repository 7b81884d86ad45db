"""`autograder grade --scheduler tcp://host:8786`: the same batch, graded on a Dask cluster.

The cluster is started with Dask's own commands (``dask scheduler``, then ``dask worker
tcp://host:8786 --nthreads 1 --nworkers <cores>`` on each machine, in an environment where this
project is installed). Workers need not share a filesystem with the grader: each task carries the
student's notebooks as bytes, and the module's files (its source notebooks with the hidden tests,
and its released files) travel once per worker as a Dask worker plugin, which the scheduler also
hands to workers that join later.

The main process stays the only writer of the gradebook: it consumes results as they complete
and records each one, exactly as the local process pool does. A task only computes (it has no
side effect outside the worker's scratch space), so Dask may run it again: a worker that dies
mid-task costs a retry of that submission on another worker. A submission whose task kills
``distributed.scheduler.allowed-failures`` workers in a row gets an ``error`` row; the batch goes
on.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from distributed import Client, as_completed
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker

from autograder.errors import SchedulerUnreachable
from autograder.outcome import SubmissionOutcome
from autograder.paths import Roots
from autograder.settings import Settings
from autograder.submissions import Submission

__all__ = ["DaskRunner", "ModuleFiles", "SchedulerUnreachable", "grade_remote"]

# Exceptions inside a task (not worker deaths, which Dask counts itself) are retried this often.
TASK_RETRIES = 2


# --- the module's files -----------------------------------------------------------------------


def module_files(module: str, roots: Roots) -> dict[str, bytes]:
    """What grading ``module`` reads besides the submission: ``{relative path: bytes}`` of
    ``solutions/<module>/`` and ``course/<module>/`` (hidden files left out)."""
    files: dict[str, bytes] = {}
    for room, root in (("solutions", roots.solutions), ("course", roots.course)):
        base = root / module
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if path.is_file() and not any(
                part.startswith(".") or part == "__pycache__" for part in rel.parts
            ):
                files[f"{room}/{module}/{rel.as_posix()}"] = path.read_bytes()
    return files


def files_key(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


# On a worker: files key -> the roots (solutions/, course/) that hold them: the worker's own
# checkout when it has exactly these files, else the folder the plugin wrote them to.
_ROOTS: dict[str, Roots] = {}


class ModuleFiles(WorkerPlugin):
    """Puts one version of a module's files on every worker, present and future."""

    idempotent = True  # the name says which files: registering them again changes nothing

    def __init__(self, module: str, files: dict[str, bytes]):
        self.module, self.files = module, files
        self.key = files_key(files)
        self.name = f"autograder-files-{module}-{self.key[:16]}"

    @classmethod
    def of(cls, module: str, roots: Roots) -> ModuleFiles:
        """The plugin carrying ``module``'s files as they are here and now."""
        return cls(module, module_files(module, roots))

    def setup(self, worker) -> None:
        if files_key(module_files(self.module, Roots())) == self.key:
            _ROOTS[self.key] = Roots()  # this worker's checkout holds the same files
            return
        root = Path(worker.local_directory) / "autograder-files" / self.key[:16]
        for rel, data in self.files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        _ROOTS[self.key] = Roots(root / "solutions", root / "course")

    def teardown(self, worker) -> None:
        roots = _ROOTS.pop(self.key, None)
        if roots is not None and roots != Roots():
            shutil.rmtree(roots.solutions.parent, ignore_errors=True)


# --- the task (runs on a worker) --------------------------------------------------------------

_STARTING = threading.Lock()
_started: set[str] = set()


def grade_remote(
    payload: dict, key: str, settings: Settings, with_feedback: bool
) -> SubmissionOutcome:
    """Grade one submission sent as data: ``{"student", "module", "notebooks": {name: bytes |
    None}}``, with the module's files this worker was given (``key``). Idempotent: it writes only
    into a temporary folder of its own."""
    from autograder import worker
    from autograder.grading import kernel_preload

    if key not in _ROOTS:
        raise RuntimeError("this worker has not received the module's files yet")
    settings = replace(settings, roots=_ROOTS[key])
    with _STARTING:  # once per worker process, from the task thread the kernel zygote follows
        if not _started:
            worker.start_worker(settings, kernel_preload(payload["module"], settings.roots))
            _started.add(key)
    with tempfile.TemporaryDirectory(prefix="autograder-sub-") as tmp:
        folder = Path(tmp) / payload["student"] / payload["module"]
        folder.mkdir(parents=True)
        notebooks: dict[str, Path | None] = {}
        for name, data in payload["notebooks"].items():
            if data is None:
                notebooks[name] = None
            else:
                notebooks[name] = folder / name
                notebooks[name].write_bytes(data)
        sub = Submission(payload["student"], payload["module"], notebooks, folder)
        return worker.grade_submission(sub, settings, with_feedback)


# --- the main process -------------------------------------------------------------------------


def _payload(sub: Submission) -> dict:
    return {
        "student": sub.student,
        "module": sub.module,
        "notebooks": {
            name: (path.read_bytes() if path is not None and path.is_file() else None)
            for name, path in sub.notebooks.items()
        },
    }


class DaskRunner:
    """Grades on the Dask cluster at ``scheduler`` (see :mod:`autograder.worker` for the runner
    interface). Losing the scheduler ends the batch (``SchedulerUnreachable``) with what is done
    recorded: that is no submission's fault, so it gets no row, and the same command resumes."""

    def __init__(
        self,
        todo: list[tuple[Submission, str]],
        settings: Settings,
        scheduler: str,
        with_feedback: bool = True,
    ):
        self.todo, self.settings, self.scheduler, self.with_feedback = (
            list(todo),
            settings,
            scheduler,
            with_feedback,
        )
        self.client: Client | None = None
        self.futures: dict = {}

    def start(self) -> None:
        if not self.todo:
            return
        try:
            self.client = Client(self.scheduler, set_as_default=False)
        except OSError as error:
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {self.scheduler}: {error}"
            ) from None
        module = self.todo[0][0].module
        self.plugin = ModuleFiles.of(module, self.settings.roots)
        self.client.register_plugin(self.plugin, name=self.plugin.name)
        self.tag = uuid.uuid4().hex[:8]
        self.pending = iter(self.todo)
        self.completed = as_completed(loop=self.client.loop)
        # Notebooks are read as they are sent: a few per worker thread in flight, not the class.
        self.window = _window(self.client)
        self._submit(self.window)

    def _submit(self, count: int) -> None:
        assert self.client is not None
        for sub, dig in itertools.islice(self.pending, count):
            future = self.client.submit(
                grade_remote,
                _payload(sub),
                self.plugin.key,
                self.settings,
                self.with_feedback,
                key=f"grade-{self.tag}-{sub.student}",
                retries=TASK_RETRIES,
                pure=False,
            )
            self.futures[future] = (sub, dig)
            self.completed.add(future)

    def results(self) -> Iterator[tuple[SubmissionOutcome, str]]:
        if self.client is None:
            return
        try:
            yield from self._results()
        except (CommClosedError, FutureCancelledError) as error:
            raise SchedulerUnreachable(
                f"lost the Dask scheduler at {self.scheduler} mid-batch ({type(error).__name__}); "
                "what is graded is recorded: rerun to grade the rest"
            ) from None
        finally:
            self.close()

    def _results(self) -> Iterator[tuple[SubmissionOutcome, str]]:
        from autograder.worker import crashed

        for done, future in enumerate(self.completed, start=1):
            sub, dig = self.futures.pop(future)
            try:
                outcome = future.result()
            except KilledWorker:
                outcome = crashed(
                    sub,
                    self.settings,
                    "the grading worker died every time this submission ran on one",
                )
            except (CommClosedError, FutureCancelledError):
                raise
            except Exception as error:
                outcome = crashed(
                    sub, self.settings, f"grader error: {type(error).__name__}: {error}"
                )
            future.release()
            if done % 64 == 0:
                self.window = _window(self.client)
            self._submit(max(0, self.window - len(self.futures)))
            yield outcome, dig

    def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            try:
                client.close()
            except Exception:  # a lost scheduler: what is being reported already says so
                pass


def _window(client) -> int:
    return max(16, 4 * sum(client.nthreads().values()))
