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
from contextlib import contextmanager
from pathlib import Path

from distributed import Client, as_completed
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker

from autograder import paths
from autograder.execute import Limits
from autograder.submissions import Submission

# Exceptions inside a task (not worker deaths, which Dask counts itself) are retried this often.
TASK_RETRIES = 2


# --- the module's files -----------------------------------------------------------------------


def module_files(module: str) -> dict[str, bytes]:
    """What grading ``module`` reads besides the submission: ``{relative path: bytes}`` of
    ``solutions/<module>/`` and ``course/<module>/`` (hidden files left out)."""
    files: dict[str, bytes] = {}
    for room, root in (("solutions", paths.SOLUTIONS), ("course", paths.COURSE)):
        base = root / module
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                files[f"{room}/{module}/{rel.as_posix()}"] = path.read_bytes()
    return files


def files_key(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


# On a worker: files key -> the folder holding ``solutions/`` and ``course/`` for it, or None
# when the worker's own checkout already holds exactly these files.
_ROOTS: dict[str, Path | None] = {}
_REPOINT = threading.Lock()


class ModuleFiles(WorkerPlugin):
    """Puts one version of a module's files on every worker, present and future."""

    idempotent = True  # the name says which files: registering them again changes nothing

    def __init__(self, module: str, files: dict[str, bytes]):
        self.module, self.files = module, files
        self.key = files_key(files)
        self.name = f"autograder-files-{module}-{self.key[:16]}"

    @classmethod
    def of(cls, module: str) -> ModuleFiles:
        """The plugin carrying ``module``'s files as they are here and now."""
        return cls(module, module_files(module))

    def setup(self, worker) -> None:
        if files_key(module_files(self.module)) == self.key:
            _ROOTS[self.key] = None  # this worker's checkout holds the same files
            return
        root = Path(worker.local_directory) / "autograder-files" / self.key[:16]
        for rel, data in self.files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        # Other modules stay reachable while paths point here (see _module_files_of).
        for room, local in (("solutions", paths.SOLUTIONS), ("course", paths.COURSE)):
            for other in paths.modules(local):
                link = root / room / other
                if other != self.module and not link.exists():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(local / other, target_is_directory=True)
        _ROOTS[self.key] = root

    def teardown(self, worker) -> None:
        root = _ROOTS.pop(self.key, None)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _module_files_of(key: str):
    """Grade with the shipped files: point ``paths`` at them while the task runs.

    ``paths`` is process-wide, so tasks that need this take turns within one worker process
    (workers run one thread each by default in the README's command, so nothing waits).
    """
    if key not in _ROOTS:
        raise RuntimeError("this worker has not received the module's files yet")
    root = _ROOTS[key]
    if root is None:
        yield
        return
    with _REPOINT:
        saved = paths.SOLUTIONS, paths.COURSE
        paths.SOLUTIONS, paths.COURSE = root / "solutions", root / "course"
        try:
            yield
        finally:
            paths.SOLUTIONS, paths.COURSE = saved


# --- the task (runs on a worker) --------------------------------------------------------------

_STARTED = threading.Lock()
_started = False


def _start_worker(module: str) -> None:
    """Once per worker process: what the local pool's initializer does (imports, a kernel
    starting ahead). Started from the task thread, whose lifetime the kernel zygote follows."""
    global _started
    with _STARTED:
        if not _started:
            from autograder import batch
            from autograder.grading import kernel_preload

            batch._init_worker({"COURSE_PROFILE": "quick"}, kernel_preload(module))
            _started = True


def grade_remote(payload: dict, key: str, limits: Limits, with_feedback: bool) -> dict:
    """Grade one submission sent as data: ``{"student", "module", "notebooks": {name: bytes |
    None}}``. Idempotent: it writes only into a temporary folder of its own."""
    from autograder import batch

    with _module_files_of(key):
        _start_worker(payload["module"])
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
        with _module_files_of(key):
            return batch.grade_submission(sub, limits, with_feedback)


# --- the main process -------------------------------------------------------------------------


class SchedulerUnreachable(ConnectionError):
    pass


def _payload(sub: Submission) -> dict:
    return {
        "student": sub.student,
        "module": sub.module,
        "notebooks": {
            name: (path.read_bytes() if path is not None and path.is_file() else None)
            for name, path in sub.notebooks.items()
        },
    }


def run(todo: list[tuple[Submission, str]], limits: Limits, scheduler: str, with_feedback: bool) -> Iterator:
    """Like ``batch._run``: yield ``None`` once connected, then ``(outcome, digest, seconds)``
    per submission as they complete, on the cluster at ``scheduler``.

    Losing the scheduler ends the batch (``SchedulerUnreachable``) with what is done recorded:
    that is no submission's fault, so it gets no row, and the same command resumes."""
    if not todo:
        yield None
        return
    try:
        client = Client(scheduler, set_as_default=False)
    except OSError as error:
        raise SchedulerUnreachable(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    with client:
        try:
            yield from _stream(client, todo, limits, with_feedback)
        except (CommClosedError, FutureCancelledError) as error:
            raise SchedulerUnreachable(f"lost the Dask scheduler at {scheduler} mid-batch ({type(error).__name__}); "
                                       "what is graded is recorded: rerun to grade the rest") from None


def _stream(client: Client, todo: list[tuple[Submission, str]], limits: Limits, with_feedback: bool) -> Iterator:
    from autograder.batch import _crashed

    module = todo[0][0].module
    plugin = ModuleFiles.of(module)
    client.register_plugin(plugin, name=plugin.name)
    batch_tag = uuid.uuid4().hex[:8]
    pending = iter(todo)
    futures: dict = {}
    completed = as_completed(loop=client.loop)

    def submit(count: int) -> None:
        for sub, dig in itertools.islice(pending, count):
            future = client.submit(
                grade_remote, _payload(sub), plugin.key, limits, with_feedback,
                key=f"grade-{batch_tag}-{sub.student}", retries=TASK_RETRIES, pure=False,
            )
            futures[future] = (sub, dig)
            completed.add(future)

    # Notebooks are read as they are sent: a few per worker thread in flight, not the class.
    window = _window(client)
    submit(window)
    yield None
    for done, future in enumerate(completed, start=1):
        sub, dig = futures.pop(future)
        try:
            outcome = future.result()
        except KilledWorker:
            outcome = _crashed(sub, "the grading worker died every time this submission ran on one")
        except (CommClosedError, FutureCancelledError):
            raise
        except Exception as error:
            outcome = _crashed(sub, f"grader error: {type(error).__name__}: {error}")
        future.release()
        if done % 64 == 0:
            window = _window(client)
        submit(max(0, window - len(futures)))
        yield outcome, dig, outcome.get("seconds", 0.0)


def _window(client) -> int:
    return max(16, 4 * sum(client.nthreads().values()))
