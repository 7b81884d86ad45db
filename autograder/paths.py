"""Where things live: the repository's rooms, and the user's own data directory.

Paths are anchored to this package, never to the working directory. Student work, grading output
and progress records go under the user's data directory (``AUTOGRADER_HOME`` overrides it), never
inside the repository.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
COURSE = REPO / "course"
DATASETS = REPO / "datasets"
COURSE_ID = "ml-to-lm"

MODULE_PATTERN = re.compile(r"^\d\d-[a-z0-9-]+$")


def home() -> Path:
    """The user's data directory for the course (progress store, default grading output)."""
    override = os.environ.get("AUTOGRADER_HOME")
    base = Path(override) if override else Path(platformdirs.user_data_dir("ml-to-lm-course"))
    base.mkdir(parents=True, exist_ok=True)
    return base


@dataclass(frozen=True)
class Roots:
    """Where a course's modules live: the instructor's ``solutions/`` (source notebooks with
    the hidden tests) and the released ``course/``. The repository's own by default; a batch may
    grade against another copy (an instructor's private tests, or the files a Dask worker was
    sent)."""

    solutions: Path = SOLUTIONS
    course: Path = COURSE

    def modules(self) -> list[str]:
        return modules(self.solutions)

    def resolve(self, name: str) -> str:
        return resolve_module(name, self.solutions)

    def notebooks(self, module: str) -> list[str]:
        """Notebook file names of a module, in order."""
        return sorted(p.name for p in (self.solutions / module).glob("*.ipynb"))

    def source(self, module: str, notebook: str) -> Path:
        return self.solutions / module / notebook

    def released(self, module: str) -> Path:
        return self.course / module


def modules(root: Path = SOLUTIONS) -> list[str]:
    """Module ids (folder names such as ``00-getting-started``), in order."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and MODULE_PATTERN.match(p.name))


def resolve_module(name: str, root: Path = SOLUTIONS) -> str:
    """Accept ``00-getting-started``, ``00`` or ``getting-started``; return the module id."""
    from autograder.errors import UnknownModule

    known = modules(root)
    if name in known:
        return name
    matches = [m for m in known if m.split("-", 1)[0] == name or m.split("-", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    raise UnknownModule(f"unknown module {name!r}; modules are: {', '.join(known) or 'none'}")


def source_notebook(module: str, notebook: str) -> Path:
    return Roots().source(module, notebook)


def module_notebooks(module: str) -> list[str]:
    """Notebook file names of a module, in order."""
    return Roots().notebooks(module)


def ensure_tools_on_path() -> None:
    """nbgrader runs ``alembic`` (and kernels run ``python``) by name: put this environment's
    scripts first on PATH even when the venv was not activated."""
    import sys

    scripts = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if scripts not in parts:
        os.environ["PATH"] = os.pathsep.join([scripts, *parts])
