"""Grade one notebook: load → merge with the source → execute → score.

The pipeline is the same for the instructor's batch (`grade`) and the learner's checkpoint
(`check`). A broken submission never raises: it comes back as a result whose ``status`` says what
went wrong.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder import authoring, paths
from autograder.execute import Execution, Kernel, Limits, execute
from autograder.judge import Judge, kernel_imports
from autograder.merge import merge

log = logging.getLogger("autograder.grade")


class InvalidNotebook(ValueError):
    """The file is not a notebook we can read."""


MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # a submission larger than this is refused, with the reason


@dataclass
class CellResult:
    grade_id: str
    points: float
    score: float
    message: str = ""  # first line of the failure, empty when passed

    @property
    def passed(self) -> bool:
        return self.score >= self.points


@dataclass
class NotebookResult:
    module: str
    notebook: str
    status: str  # graded | timeout | kernel_died | invalid_notebook | error
    reason: str = ""
    cells: dict[str, CellResult] = field(default_factory=dict)
    max_score: float = 0.0
    seconds: float = 0.0
    graded_nb: NotebookNode | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cells.values())


def load_notebook(path_or_text: str | Path | bytes) -> NotebookNode:
    """Read a notebook (any nbformat 3 or 4 file), or raise :class:`InvalidNotebook`."""
    try:
        size = len(path_or_text) if isinstance(path_or_text, bytes) else Path(path_or_text).stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise InvalidNotebook(f"the notebook is {size / 2**20:.0f} MiB; notebooks over "
                                  f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB are not graded (clear large outputs and save again)")
        if isinstance(path_or_text, bytes):
            text = path_or_text.decode("utf-8")
        else:
            text = Path(path_or_text).read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise InvalidNotebook("the file has no list of cells")
        for i, cell in enumerate(nb.cells):
            if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(cell.get("source"), str):
                raise InvalidNotebook(f"cell {i} is not a valid cell")
        return nb
    except InvalidNotebook:
        raise
    except UnicodeDecodeError:
        raise InvalidNotebook("the file is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"the file is not valid JSON (line {error.lineno}: {error.msg})") from None
    except Exception as error:  # nbformat's own validation and conversion errors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InvalidNotebook(f"not a readable notebook: {first}") from None


def load_source(module: str, notebook: str) -> NotebookNode:
    return nbformat.read(str(paths.source_notebook(module, notebook)), as_version=4)


def kernel_preload(module: str) -> tuple[str, ...]:
    """What the kernels of ``module`` import, read from the instructor's notebooks (never from a
    submission): the kernel zygote imports it once for all of them (autograder.zygote)."""
    return _preload(module, str(paths.SOLUTIONS))


@functools.lru_cache(maxsize=64)
def _preload(module: str, solutions: str) -> tuple[str, ...]:
    names: list[str] = []
    for notebook in paths.module_notebooks(module):
        names += kernel_imports(load_source(module, notebook))
    return tuple(dict.fromkeys(names))


def max_points(source: NotebookNode) -> float:
    return sum(authoring.test_points(source).values())


def _failure(cell: NotebookNode) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
            first = evalue.splitlines()[0] if evalue else ""
            return f"{ename}: {first}" if first else ename
    return None


def score(nb: NotebookNode, execution: Execution, source: NotebookNode) -> dict[str, CellResult]:
    points = authoring.test_points(source)
    results = {gid: CellResult(gid, pts, 0.0, "not run") for gid, pts in points.items()}
    for index, cell in enumerate(nb.cells):
        gid = authoring.nbgrader_meta(cell).get("grade_id")
        if gid not in points:
            continue
        if index in execution.timed_out:
            results[gid].message = "timed out"
        elif index not in execution.ran:
            results[gid].message = "not run (the notebook stopped before this cell)"
        else:
            failure = _failure(cell)
            results[gid].message = failure or ""
            results[gid].score = 0.0 if failure else points[gid]
    return results


def _truncate_after(nb: NotebookNode, exercise: str, source: NotebookNode) -> None:
    tests = next(e.tests for e in authoring.exercises(source) if e.grade_id == exercise)
    last = max(i for i, c in enumerate(nb.cells) if authoring.nbgrader_meta(c).get("grade_id") in tests)
    del nb.cells[last + 1 :]


def stage_module_files(module: str, workdir: Path) -> None:
    """Copy the module's released non-notebook files (data, helpers) next to the notebook."""
    release = paths.COURSE / module
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


def _no_judge() -> bool:
    """``AUTOGRADER_JUDGE=0`` runs the tests in the student's kernel, as stock nbgrader does: for
    measuring the judge's cost only; a student's kernel tricks then work."""
    if os.environ.get("AUTOGRADER_JUDGE", "1") != "0":
        return False
    if not _warned:
        _warned.append(True)
        log.warning("AUTOGRADER_JUDGE=0: graded tests run in the student's kernel, unprotected")
    return True


_warned: list[bool] = []


def grade_notebook(
    submission: NotebookNode | str | Path | bytes,
    *,
    module: str,
    notebook: str,
    limits: Limits | None = None,
    kernel: Kernel | None = None,
    through: str | None = None,
    judge: bool | None = None,
) -> NotebookResult:
    """Grade one student notebook against ``solutions/<module>/<notebook>``.

    ``through`` (for tests) stops after the test cells of that exercise. ``judge=False`` runs the
    tests in the student's kernel (as a learner's JupyterLab does; None: ``AUTOGRADER_JUDGE``).
    """
    source = load_source(module, notebook)
    result = NotebookResult(module, notebook, "graded", max_score=max_points(source))
    result.cells = {g: CellResult(g, p, 0.0, "not run") for g, p in authoring.test_points(source).items()}
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
    kernel = kernel or Kernel(sandbox=limits.sandbox if limits else None)
    stage_module_files(module, kernel.workdir)
    kernel.adopt_workdir()  # the sandboxed kernel runs as a user of its own
    # Graded test cells run in the judge, outside the student's kernel (autograder/judge.py).
    judged = not _no_judge() if judge is None else judge
    execution = execute(merged.nb, kernel, limits, judge=Judge(source) if judged else None)
    result.status, result.reason, result.seconds = execution.status, execution.reason, execution.seconds
    result.cells = score(merged.nb, execution, source)
    result.graded_nb = merged.nb
    return result
