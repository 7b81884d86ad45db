"""`autograder check`: the learner's checkpoint, graded exactly like the instructor's batch."""

from __future__ import annotations

import os
import time
from pathlib import Path

from autograder import paths, progress
from autograder.execute import Limits
from autograder.grading import NotebookResult, grade_notebook


def identify(notebook: Path) -> tuple[str, str]:
    """Which module and notebook a learner's file is: by its folder, else by its file name."""
    name = notebook.name
    parent = notebook.resolve().parent.name
    if parent in paths.modules() and name in paths.module_notebooks(parent):
        return parent, name
    owners = [m for m in paths.modules() if name in paths.module_notebooks(m)]
    if len(owners) == 1:
        return owners[0], name
    if parent in paths.modules() and len(paths.module_notebooks(parent)) == 1:
        return parent, paths.module_notebooks(parent)[0]
    raise ValueError(
        f"cannot tell which module {notebook} belongs to: keep the course's file name "
        f"(for example getting-started.ipynb) or its module folder"
    )


def run_check(
    notebook: str | Path,
    *,
    module: str | None = None,
    record: bool = True,
    cell_timeout: float = Limits.cell_timeout,
    notebook_timeout: float = Limits.notebook_timeout,
) -> NotebookResult:
    """Grade a learner's saved notebook (hidden tests included, quick profile) and record it."""
    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    mod, name = (paths.resolve_module(module), path.name) if module else identify(path)
    if module and name not in paths.module_notebooks(mod):
        notebooks = paths.module_notebooks(mod)
        if len(notebooks) != 1:
            raise ValueError(f"{mod} has notebooks {notebooks}; name the file after one of them")
        name = notebooks[0]
    result = grade_notebook(path, module=mod, notebook=name, limits=Limits(cell_timeout, notebook_timeout))
    if record:
        progress.record(
            progress.Attempt(mod, name, result.score, result.max_score, result.status, str(path.resolve()), progress.now())
        )
    return result


def table(result: NotebookResult):
    """A rich table of the result, one row per question."""
    from rich.table import Table

    t = Table(title=f"{result.module} / {result.notebook}: {result.score:g} / {result.max_score:g}")
    t.add_column("question")
    t.add_column("points", justify="right")
    t.add_column("result")
    t.add_column("first line of the failure", overflow="fold")
    for cell in result.cells.values():
        verdict = "[green]passed[/]" if cell.passed else "[red]failed[/]"
        t.add_row(cell.grade_id, f"{cell.score:g}/{cell.points:g}", verdict, cell.message)
    return t


def _current_notebook() -> Path:
    # JupyterLab (jupyter_server >= 2) tells its kernels which notebook they belong to.
    for var in ("JPY_SESSION_NAME", "__vsc_ipynb_file__"):
        value = os.environ.get(var)
        if value and value.endswith(".ipynb"):
            return Path(value)
    raise RuntimeError("cannot tell which notebook this is; call check('path/to/notebook.ipynb')")


def check_notebook(notebook: str | Path | None = None, **kwargs) -> NotebookResult:
    """In a notebook: ``from autograder import check; check()`` grades the saved file."""
    from rich.console import Console

    path = Path(notebook) if notebook else _current_notebook()
    console = Console()
    age = time.time() - path.stat().st_mtime
    if age > 60:
        console.print(f"[yellow]{path.name} was last saved {age / 60:.0f} min ago: save (Ctrl+S) to check your latest work.[/]")
    result = run_check(path, **kwargs)
    console.print(table(result))
    if result.status != "graded":
        console.print(f"[red]{result.status}[/]: {result.reason}")
    return result
