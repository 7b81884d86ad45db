"""`autograder check`: the learner's checkpoint, graded exactly like the instructor's batch."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from autograder import progress
from autograder.errors import UsageError
from autograder.grading import NotebookResult, grade_notebook
from autograder.paths import Roots
from autograder.sandbox import SandboxConfig
from autograder.settings import Limits, Settings


def identify(notebook: Path, roots: Roots | None = None) -> tuple[str, str]:
    """Which module and notebook a learner's file is: by its folder, else by its file name."""
    roots = roots or Roots()
    name = notebook.name
    parent = notebook.resolve().parent.name
    modules = roots.modules()
    if parent in modules and name in roots.notebooks(parent):
        return parent, name
    owners = [m for m in modules if name in roots.notebooks(m)]
    if len(owners) == 1:
        return owners[0], name
    if parent in modules and len(roots.notebooks(parent)) == 1:
        return parent, roots.notebooks(parent)[0]
    raise UsageError(
        f"cannot tell which module {notebook} belongs to: keep the course's file name "
        f"(for example getting-started.ipynb) or its module folder"
    )


# Set while a self-check grades; COURSE_* variables reach the grading kernel, sandboxed or not. A
# saved notebook that calls check() must not start another check of itself from inside its grading.
RUNNING = "COURSE_SELF_CHECK_RUNNING"


def run_check(
    notebook: str | Path,
    *,
    module: str | None = None,
    record: bool = True,
    cell_timeout: float = Limits.cell_timeout,
    notebook_timeout: float = Limits.notebook_timeout,
    sandbox: SandboxConfig | None = None,
    roots: Roots | None = None,
) -> NotebookResult:
    """Grade a learner's saved notebook (hidden tests included, quick profile) and record it.
    ``roots``: the course to check against (default: this repository's)."""
    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    roots = roots or Roots()
    mod, name = (roots.resolve(module), path.name) if module else identify(path, roots)
    if module and name not in roots.notebooks(mod):
        notebooks = roots.notebooks(mod)
        if len(notebooks) != 1:
            raise UsageError(f"{mod} has notebooks {notebooks}; name the file after one of them")
        name = notebooks[0]
    settings = Settings.from_env(
        cell_timeout=cell_timeout, notebook_timeout=notebook_timeout, roots=roots
    )
    if sandbox is not None:
        settings = replace(settings, limits=replace(settings.limits, sandbox=sandbox))
    settings = (
        settings.resolved()
    )  # --require-sandbox: an error without bubblewrap; else one warning
    previous = os.environ.get(RUNNING)
    os.environ[RUNNING] = "1"  # the grading kernel inherits it: a check() cell there does nothing
    try:
        result = grade_notebook(path, module=mod, notebook=name, settings=settings)
    finally:
        if previous is None:
            os.environ.pop(RUNNING, None)
        else:
            os.environ[RUNNING] = previous
    if record:
        progress.record(
            progress.Attempt(
                mod,
                name,
                result.score,
                result.max_score,
                result.status,
                str(path.resolve()),
                progress.now(),
            )
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


# Clicks the Save button of the notebook panel that holds this output (JupyterLab 4 and Notebook 7;
# the classic notebook has its own API). The time stamp keeps a copy of this output that was
# saved into the file from saving again whenever the notebook is reopened.
_SAVE_JS = """
(function save(node, tries) {
  if (Date.now() / 1000 - %(stamp)d > 120) { return; }
  if (window.Jupyter && window.Jupyter.notebook && window.Jupyter.notebook.save_checkpoint) {
    window.Jupyter.notebook.save_checkpoint();
    return;
  }
  // The output is rendered before it is attached to the page: wait for its notebook panel.
  var panel = node && node.closest ? node.closest('.jp-NotebookPanel') : null;
  if (!panel) {
    if (tries > 0) { setTimeout(function () { save(node, tries - 1); }, 100); }
    return;
  }
  var button = panel.querySelector('[data-command="docmanager:save"]');
  if (button) { button.click(); }
})(typeof element === 'undefined' ? null : (element && element.jquery ? element[0] : element), 50);
"""


def save_current(path: Path, timeout: float = 10.0) -> bool:
    """Ask the JupyterLab page this kernel serves to save ``path``; True once the file changed.

    Only a kernel started by a Jupyter server for this very notebook can do it (the request is a
    small piece of JavaScript shown as output); anywhere else this returns False at once.
    """
    session = os.environ.get("JPY_SESSION_NAME")
    if not session or Path(session).resolve() != path.resolve():
        return False
    try:
        from IPython import get_ipython
        from IPython.display import Javascript, display
    except ImportError:
        return False
    if get_ipython() is None or not hasattr(get_ipython(), "kernel"):
        return False
    before = path.stat().st_mtime_ns
    handle = display(Javascript(_SAVE_JS % {"stamp": int(time.time())}), display_id=True)
    deadline = time.monotonic() + timeout
    saved = False
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if path.stat().st_mtime_ns != before:
            time.sleep(0.2)  # the server writes the file in one go; let it finish
            saved = True
            break
    if handle is not None:
        handle.update({"text/plain": ""}, raw=True)
    return saved


def check_notebook(
    notebook: str | Path | None = None, *, save: bool = True, **kwargs
) -> NotebookResult | None:
    """In a notebook: ``from autograder import check; check()`` saves, then grades the saved file.

    Saving works in JupyterLab (and Notebook 7) for the notebook the kernel belongs to; elsewhere,
    or with ``save=False``, the file as last saved is graded and its age is shown when it is old.
    """
    from rich.console import Console

    if os.environ.get(RUNNING):
        print("check() skipped: this notebook is itself being checked")
        return None
    path = Path(notebook) if notebook else _current_notebook()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; save the notebook first")
    console = Console()
    if console.is_jupyter:
        console.width = 100  # JupyterLab's output area is narrower than rich's default of 115
    saved = save and save_current(path)
    age = time.time() - path.stat().st_mtime
    if not saved and age > 60:
        console.print(
            f"[yellow]{path.name} was last saved {age / 60:.0f} min ago and is checked as saved: "
            f"save (Ctrl+S) and run check() again to check your latest work.[/]"
        )
    console.print(f"checking {path.name} (hidden tests included, quick profile)...")
    result = run_check(path, **kwargs)
    console.print(table(result))
    if result.status != "graded":
        console.print(f"[red]{result.status}[/]: {result.reason}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    return result
