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
            if (
                not item.is_file()
                or ".ipynb_checkpoints" in item.parts
                or "__pycache__" in item.parts
            ):
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
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}}
}


def lab_settings_dir() -> Path:
    """A JupyterLab application-settings folder holding the course's ``overrides.json``."""
    folder = paths.home() / "lab-settings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.json").write_text(json.dumps(LAB_SETTINGS, indent=2) + "\n")
    return folder


# A learner's JupyterLab has no use for nbgrader's instructor tools (formgrader, course and
# assignment lists need an nbgrader course directory, and complain at every start without one);
# nbgrader's Validate button stays. No news fetched either: many course machines are offline.
SERVER_CONFIG = {
    "ServerApp": {
        "jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": False,
            "nbgrader.server_extensions.course_list": False,
            "nbgrader.server_extensions.assignment_list": False,
        }
    }
}
PAGE_CONFIG = {
    "disabledExtensions": {
        "@jupyter/nbgrader:assignment-list": True,
        "@jupyter/nbgrader:course-list": True,
        "@jupyter/nbgrader:create-assignment": True,
        "@jupyter/nbgrader:menu": True,
        "@jupyterlab/apputils-extension:announcements": True,
    }
}


def lab_config_dir() -> Path:
    """A Jupyter configuration folder for the learner's JupyterLab (on ``JUPYTER_CONFIG_PATH``,
    so the user's own ``~/.jupyter`` still wins)."""
    folder = paths.home() / "jupyter-config"
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    (folder / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG, indent=2) + "\n")
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG, indent=2) + "\n")
    return folder


def lab_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment JupyterLab runs in: the course's configuration folder first on the
    configuration path."""
    env = dict(os.environ if environ is None else environ)
    extra = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(lab_config_dir()), *([extra] if extra else [])]
    )
    return env


def lab_command(workspace: Path, *, open_browser: bool = True) -> list[str]:
    """The command that serves ``workspace`` in JupyterLab and opens it on the syllabus (run it
    with :func:`lab_env`). As root (a container, a course server) it says so to JupyterLab,
    which otherwise refuses to start; without a browser, JupyterLab prints the address with its
    token."""
    workspace = Path(workspace).resolve()
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={workspace}",
        f"--LabApp.app_settings_dir={lab_settings_dir()}",
    ]
    if (workspace / "README.md").exists():
        args.append(str(workspace / "README.md"))
    if not open_browser:
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args
