"""The learner's workspace: a copy of the released notebooks outside the repository.

Students edit copies, never `course/` itself, so updating the course (git pull) cannot clash with
their answers. Copying never overwrites: a notebook already in the workspace is the student's.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from autograder import paths


def default_workspace() -> Path:
    return Path(os.environ.get("COURSE_WORKSPACE", Path.home() / "ml-to-lm-course"))


def prepare(workspace: Path | None = None) -> tuple[Path, list[Path]]:
    """Copy every released module (and the course README) into ``workspace``; return new files."""
    workspace = Path(workspace or default_workspace())
    workspace.mkdir(parents=True, exist_ok=True)
    added: list[Path] = []
    readme = paths.COURSE / "README.md"
    if readme.is_file() and not (workspace / "README.md").exists():
        shutil.copy2(readme, workspace / "README.md")
        added.append(workspace / "README.md")
    for module in paths.modules(paths.COURSE):
        for item in sorted((paths.COURSE / module).rglob("*")):
            if not item.is_file() or ".ipynb_checkpoints" in item.parts or "__pycache__" in item.parts:
                continue
            target = workspace / module / item.relative_to(paths.COURSE / module)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, target)
            added.append(target)
    return workspace, added


# Defaults for the course's JupyterLab (the learner's own settings still win): Markdown files open
# rendered, so the syllabus (README.md) is a page with links, not source text.
LAB_SETTINGS = {"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}}}


def lab_settings_dir() -> Path:
    """A JupyterLab application-settings folder holding the course's ``overrides.json``."""
    folder = paths.home() / "lab-settings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.json").write_text(json.dumps(LAB_SETTINGS, indent=2) + "\n")
    return folder


def lab_command(workspace: Path, *, open_browser: bool = True) -> list[str]:
    """The command that serves ``workspace`` in JupyterLab and opens it on the syllabus."""
    workspace = Path(workspace).resolve()
    args = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}",
            f"--LabApp.app_settings_dir={lab_settings_dir()}"]
    if (workspace / "README.md").exists():
        args.append(str(workspace / "README.md"))
    if not open_browser:
        args.append("--no-browser")
    return args
