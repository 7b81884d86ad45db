"""Tiny submissions built from module 00, for the platform tests."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from moduletools import source, with_answer

from autograder import paths

MODULE = "00-getting-started"
NOTEBOOK = "getting-started.ipynb"
MAX = 8.0


def solution():
    return source(MODULE, NOTEBOOK)


def blank():
    return nbformat.read(str(paths.COURSE / MODULE / NOTEBOOK), as_version=4)


def partial():
    """Only the softmax answered (3 of 8 points)."""
    nb = blank()
    sol = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution().cells if c.metadata.get("nbgrader", {}).get("solution")}
    return with_answer(nb, "ex-softmax", sol["ex-softmax"])


def with_extra_first_cell(nb, code: str):
    nb = nbformat.from_dict(nb)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return nb


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def nbgrader_layout(root: Path, students: dict[str, object]) -> Path:
    """``root/<student>/<module>/<notebook>``; a value may be a notebook or raw bytes."""
    for student, nb in students.items():
        target = root / student / MODULE / NOTEBOOK
        if isinstance(nb, bytes):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(nb)
        else:
            write(nb, target)
    return root


def running(marker: str) -> list[int]:
    """PIDs whose command line holds ``marker``."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(name))
        except (OSError, ValueError):
            pass
    return found
