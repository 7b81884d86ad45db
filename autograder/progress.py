"""The learner's own record of self-checks: a small SQLite file in the user's data directory."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from autograder import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    notebook TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    status TEXT NOT NULL,
    path TEXT NOT NULL,
    at TEXT NOT NULL
)
"""


@dataclass
class Attempt:
    module: str
    notebook: str
    score: float
    max_score: float
    status: str
    path: str
    at: str


def store_path() -> Path:
    return paths.home() / "progress.sqlite"


def _connect(path: Path | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(path or store_path())
    conn.execute(SCHEMA)
    return conn


def record(attempt: Attempt, path: Path | None = None) -> None:
    with _connect(path) as conn:
        conn.execute(
            "INSERT INTO attempts (module, notebook, score, max_score, status, path, at) VALUES (?,?,?,?,?,?,?)",
            (
                attempt.module,
                attempt.notebook,
                attempt.score,
                attempt.max_score,
                attempt.status,
                attempt.path,
                attempt.at,
            ),
        )


def attempts(path: Path | None = None) -> list[Attempt]:
    with _connect(path) as conn:
        rows = conn.execute(
            "SELECT module, notebook, score, max_score, status, path, at FROM attempts ORDER BY id"
        ).fetchall()
    return [Attempt(*r) for r in rows]


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass
class ModuleProgress:
    module: str
    best: float | None
    max_score: float
    attempts: int
    last: str | None


def summary(path: Path | None = None) -> list[ModuleProgress]:
    """One line per module of the course: best total score, attempts, last attempt."""
    from autograder import authoring
    from autograder.grading import load_source

    history = attempts(path)
    out = []
    for module in paths.modules():
        notebooks = paths.module_notebooks(module)
        max_score = sum(
            sum(authoring.test_points(load_source(module, n)).values()) for n in notebooks
        )
        mine = [a for a in history if a.module == module]
        best_per_nb = {}
        for a in mine:
            best_per_nb[a.notebook] = max(best_per_nb.get(a.notebook, 0.0), a.score)
        out.append(
            ModuleProgress(
                module,
                sum(best_per_nb.values()) if mine else None,
                max_score,
                len(mine),
                mine[-1].at if mine else None,
            )
        )
    return out
