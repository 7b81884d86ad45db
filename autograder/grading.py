"""Grade one notebook: load → merge with the source → execute → score.

The pipeline is the same for the instructor's batch (`grade`) and the learner's checkpoint
(`check`). A broken submission never raises: it comes back as a result whose ``status`` says what
went wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import shutil
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder import authoring
from autograder.execute import execute
from autograder.judge import Judge
from autograder.kernel import Kernel
from autograder.merge import merge
from autograder.names import kernel_imports
from autograder.outcome import CellResult, NotebookResult
from autograder.paths import Roots
from autograder.score import max_points, score
from autograder.settings import Limits, Settings

__all__ = [
    "CellResult",
    "InvalidNotebook",
    "NotebookResult",
    "grade_notebook",
    "load_notebook",
    "load_source",
]

log = logging.getLogger("autograder.grade")


class InvalidNotebook(ValueError):
    """The file is not a notebook we can read."""


MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # a submission larger than this is refused, with the reason


def load_notebook(path_or_text: str | Path | bytes) -> NotebookNode:
    """Read a notebook (any nbformat 3 or 4 file), or raise :class:`InvalidNotebook`."""
    try:
        size = (
            len(path_or_text)
            if isinstance(path_or_text, bytes)
            else Path(path_or_text).stat().st_size
        )
        if size > MAX_NOTEBOOK_BYTES:
            raise InvalidNotebook(
                f"the notebook is {size / 2**20:.0f} MiB; notebooks over "
                f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB are not graded (clear large outputs and save again)"
            )
        if isinstance(path_or_text, bytes):
            text = path_or_text.decode("utf-8")
        else:
            text = Path(path_or_text).read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise InvalidNotebook("the file has no list of cells")
        for i, cell in enumerate(nb.cells):
            if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(
                cell.get("source"), str
            ):
                raise InvalidNotebook(f"cell {i} is not a valid cell")
        return nb
    except InvalidNotebook:
        raise
    except UnicodeDecodeError:
        raise InvalidNotebook("the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(
            f"the file is not valid JSON (line {error.lineno}: {error.msg})"
        ) from None
    except Exception as error:  # nbformat's own validation and conversion errors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InvalidNotebook(f"not a readable notebook: {first}") from None


def load_source(module: str, notebook: str, roots: Roots | None = None) -> NotebookNode:
    return nbformat.read(str((roots or Roots()).source(module, notebook)), as_version=4)


def kernel_preload(module: str, roots: Roots | None = None) -> tuple[str, ...]:
    """What the kernels of ``module`` import, read from the instructor's notebooks (never from a
    submission): the kernel zygote imports it once for all of them (autograder.zygote)."""
    return _preload(module, roots or Roots())


@functools.lru_cache(maxsize=64)
def _preload(module: str, roots: Roots) -> tuple[str, ...]:
    names: list[str] = []
    for notebook in roots.notebooks(module):
        names += kernel_imports(authoring.code_of(load_source(module, notebook, roots)))
    return tuple(dict.fromkeys(names))


def _truncate_after(nb: NotebookNode, exercise: str, source: NotebookNode) -> None:
    tests = next(e.tests for e in authoring.exercises(source) if e.grade_id == exercise)
    last = max(
        i for i, c in enumerate(nb.cells) if authoring.nbgrader_meta(c).get("grade_id") in tests
    )
    del nb.cells[last + 1 :]


def stage_module_files(module: str, workdir: Path, roots: Roots | None = None) -> None:
    """Copy the module's released non-notebook files (data, helpers) next to the notebook."""
    release = (roots or Roots()).released(module)
    if not release.is_dir():
        return
    for item in release.iterdir():
        if item.suffix == ".ipynb" or item.name.startswith("."):
            continue
        target = workdir / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)


@functools.cache
def _warn_unjudged() -> None:
    log.warning("AUTOGRADER_JUDGE=0: graded tests run in the student's kernel, unprotected")


def grade_notebook(
    submission: NotebookNode | str | Path | bytes,
    *,
    module: str,
    notebook: str,
    settings: Settings | None = None,
    limits: Limits | None = None,
    kernel: Kernel | None = None,
    through: str | None = None,
    judge: bool | None = None,
) -> NotebookResult:
    """Grade one student notebook against the instructor's ``<module>/<notebook>``.

    ``settings`` (default: :meth:`Settings.from_env`) say where the course is, the limits and
    whether the judge runs the tests; ``limits`` and ``judge`` override those two. ``judge=False``
    runs the tests in the student's kernel (as a learner's JupyterLab does). ``through`` (for
    tests) stops after the test cells of that exercise.
    """
    settings = settings or Settings.from_env()
    if limits is not None:
        settings = dataclasses.replace(settings, limits=limits)
    if judge is not None:
        settings = dataclasses.replace(settings, judge=judge)
    roots = settings.roots
    source = load_source(module, notebook, roots)
    result = NotebookResult(module, notebook, "graded", max_score=max_points(source))
    result.cells = {
        g: CellResult(g, p, 0.0, "not run") for g, p in authoring.test_points(source).items()
    }
    try:
        student = submission if isinstance(submission, NotebookNode) else load_notebook(submission)
    except InvalidNotebook as error:
        if kernel is not None:
            kernel.shutdown()
        result.status, result.reason = "invalid_notebook", str(error)
        return result
    merged = merge(student, source)
    result.notes = merged.notes
    if through:
        _truncate_after(merged.nb, through, source)
    kernel = kernel or Kernel(sandbox=settings.limits.sandbox, zygote=settings.zygote)
    stage_module_files(module, kernel.workdir, roots)
    kernel.adopt_workdir()  # the sandboxed kernel runs as a user of its own
    if not settings.judge:
        _warn_unjudged()
    # Graded test cells run in the judge, outside the student's kernel (autograder/judge.py).
    execution = execute(
        merged.nb, kernel, settings.limits, judge=Judge(source) if settings.judge else None
    )
    result.status, result.reason, result.seconds = (
        execution.status,
        execution.reason,
        execution.seconds,
    )
    result.cells = score(merged.nb, execution, source)
    result.graded_nb = merged.nb
    return result
