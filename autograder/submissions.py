"""Find the submissions in what an instructor hands to `grade`.

Accepted layouts (a zip holding either is unpacked first):

* nbgrader's: ``SUBMISSIONS/<student>/<module>/<notebook>.ipynb``;
* flat: ``SUBMISSIONS/<student>.ipynb`` (modules with one notebook);
* per student: ``SUBMISSIONS/<student>/<notebook>.ipynb``.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.errors import BadSubmissions

SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass
class Submission:
    student: str
    module: str
    notebooks: dict[str, Path | None] = field(default_factory=dict)  # name -> file (None: missing)
    folder: Path | None = None  # the student's files for this module


def student_id(name: str) -> str:
    """A student id safe to use as a folder name and a database key."""
    cleaned = SAFE_ID.sub("_", name).strip("._") or "unnamed"
    return cleaned[:100]


def unpack_zip(archive: Path, into: Path, module: str, notebooks: list[str]) -> Path:
    """Extract ``archive`` safely (no absolute paths, no ``..``) and return the submissions root.

    A zip that wraps everything in one folder (``export/alice.ipynb``...) is unwrapped; a single
    student's folder (``alice/<module>/...`` or ``alice/<notebook>``) is not.
    """
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = Path(info.filename).parts
            if info.filename.startswith(("/", "\\")) or ".." in parts or "__MACOSX" in parts:
                continue
            zf.extract(info, into)
    entries = [p for p in into.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        names = {p.name for p in inner.iterdir()}
        is_student = module in names or bool(names & set(notebooks))
        if not is_student:
            return inner
    return into


def discover(root: Path, module: str, notebooks: list[str]) -> list[Submission]:
    """One :class:`Submission` per student found under ``root``, sorted by student id."""
    found: dict[str, Submission] = {}

    def add(student: str, folder: Path | None, files: dict[str, Path | None]) -> None:
        sid = student_id(student)
        base, n = sid, 2
        while sid in found:  # two names that clean to the same id stay distinct
            sid, n = f"{base}-{n}", n + 1
        found[sid] = Submission(sid, module, files, folder)

    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "__MACOSX")):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            if len(notebooks) != 1:
                raise BadSubmissions(
                    f"{entry}: a flat <student>.ipynb layout needs a module with one notebook; "
                    f"{module} has {len(notebooks)}: use <student>/{module}/<notebook>.ipynb"
                )
            add(entry.stem, None, {notebooks[0]: entry})
        elif entry.is_dir():
            folder = entry / module if (entry / module).is_dir() else entry
            files: dict[str, Path | None] = {}
            for name in notebooks:
                candidate = folder / name
                if not candidate.is_file():
                    # one notebook with another name still counts when the module has one notebook
                    others = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
                    candidate = others[0] if len(notebooks) == 1 and len(others) == 1 else None
                files[name] = candidate
            add(entry.name, folder, files)
    return [found[k] for k in sorted(found)]
