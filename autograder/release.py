"""`autograder release`: regenerate ``course/`` from ``solutions/`` with nbgrader.

nbgrader's GenerateAssignment does the work (clear solutions and hidden tests, lock cells,
checksums, copy the module's other files); this module only points it at the course's folders
and keeps its gradebook side effects in a throw-away directory. ``check`` generates into a
temporary directory and compares byte for byte.
"""

from __future__ import annotations

import filecmp
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import paths


class ReleaseError(RuntimeError):
    pass


def _generate(
    module: str, release_dir: Path, scratch: Path, solutions: Path = paths.SOLUTIONS
) -> None:
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    paths.ensure_tools_on_path()
    config = Config()
    config.CourseDirectory.root = str(paths.REPO)
    config.CourseDirectory.course_id = paths.COURSE_ID
    config.CourseDirectory.source_directory = str(solutions)
    config.CourseDirectory.release_directory = str(release_dir)
    config.CourseDirectory.db_url = f"sqlite:///{scratch / 'release-gradebook.db'}"
    config.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]
    config.Exchange.root = str(scratch / "exchange")  # unused by release; keeps nbgrader quiet
    (scratch / "exchange").mkdir(exist_ok=True)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    api = NbGraderAPI(config=config)
    api.log.setLevel(logging.ERROR)
    result = api.generate_assignment(module, force=True, create=True)
    if not result.get("success"):
        log = (result.get("log") or "") + (result.get("error") or "")
        raise ReleaseError(f"nbgrader could not release {module}:\n{log.strip()}")


def _refuse_malformed(modules: list[str], solutions: Path = paths.SOLUTIONS) -> None:
    """Release nothing from a solution notebook that breaks the authoring rules (a test cell the
    judge could not run, an exercise without tests...)."""
    import nbformat

    from autograder import authoring

    problems = []
    for module in modules:
        for notebook in sorted((solutions / module).glob("*.ipynb")):
            for problem in authoring.validate(nbformat.read(str(notebook), as_version=4)):
                problems.append(f"{module}/{notebook.name}: {problem}")
    if problems:
        raise ReleaseError(
            "the solution notebooks break the authoring rules:\n" + "\n".join(problems)
        )


def release(
    modules: list[str] | None = None,
    *,
    course_dir: Path = paths.COURSE,
    solutions: Path = paths.SOLUTIONS,
) -> list[str]:
    """Regenerate ``course/<module>/`` for each module (all when ``modules`` is empty).

    Returns the module ids released.
    """
    chosen = (
        [paths.resolve_module(m, solutions) for m in modules]
        if modules
        else paths.modules(solutions)
    )
    _refuse_malformed(chosen, solutions)
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
        tmp_path = Path(tmp)
        for module in chosen:
            staging = tmp_path / "out"
            _generate(module, staging, tmp_path, solutions)
            target = course_dir / module
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(staging / module, target)
            shutil.rmtree(staging)
    return chosen


@dataclass
class Staleness:
    """What differs between ``course/`` and a fresh release."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.extra)

    def lines(self) -> list[str]:
        return (
            [f"changed: {p}" for p in self.changed]
            + [f"missing: {p}" for p in self.missing]
            + [f"not in solutions/: {p}" for p in self.extra]
        )


def _compare(fresh: Path, current: Path, prefix: str, out: Staleness) -> None:
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    current_files = (
        {
            p.relative_to(current)
            for p in current.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
        }
        if current.exists()
        else set()
    )
    for rel in sorted(fresh_files - current_files):
        out.missing.append(f"{prefix}/{rel}")
    for rel in sorted(current_files - fresh_files):
        out.extra.append(f"{prefix}/{rel}")
    for rel in sorted(fresh_files & current_files):
        if not filecmp.cmp(fresh / rel, current / rel, shallow=False):
            out.changed.append(f"{prefix}/{rel}")


def check(modules: list[str] | None = None, *, course_dir: Path = paths.COURSE) -> Staleness:
    """Compare ``course/`` with what ``release`` would write now; nothing is modified."""
    chosen = [paths.resolve_module(m) for m in modules] if modules else paths.modules()
    out = Staleness()
    with tempfile.TemporaryDirectory(prefix="autograder-check-") as tmp:
        tmp_path = Path(tmp)
        for module in chosen:
            _generate(module, tmp_path / "out", tmp_path)
            _compare(tmp_path / "out" / module, course_dir / module, f"course/{module}", out)
            shutil.rmtree(tmp_path / "out")
        if not modules:  # a module folder in course/ with no source is stale too
            for extra in sorted(set(paths.modules(course_dir)) - set(chosen)):
                out.extra.append(f"course/{extra}/")
    return out
