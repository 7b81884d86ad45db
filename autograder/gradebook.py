"""The gradebook: nbgrader's (SQLAlchemy; SQLite by default) plus one table of our own.

nbgrader's tables hold the per-cell scores, so nbgrader's tools (formgrader, export) see the
batch. Our ``autograder_results`` table holds one row per (student, module): the total, the
status and the reason, and a digest of what was graded. A row is written in one transaction
after a submission is fully graded: a killed batch leaves no half rows, and the next run grades
exactly the submissions without one.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from autograder import paths
from autograder.errors import GradebookUnavailable

metadata = MetaData()
results_table = Table(
    "autograder_results",
    metadata,
    Column("student_id", String(128), primary_key=True),
    Column("module", String(128), primary_key=True),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("digest", String(64), nullable=False, default=""),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("graded_at", DateTime, nullable=False),
)

# One row per (student, module, notebook, test cell): the points and the first line of the failure,
# what nbgrader's own tables have no place for (per-question statistics read it).
cells_table = Table(
    "autograder_cells",
    metadata,
    Column("student_id", String(128), primary_key=True),
    Column("module", String(128), primary_key=True),
    Column("notebook", String(255), primary_key=True),
    Column("grade_id", String(255), primary_key=True),
    Column("points", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("message", Text, nullable=False, default=""),
)

CSV_COLUMNS = ("student_id", "module", "score", "max_score", "status", "reason")


@dataclass
class CellRow:
    student_id: str
    module: str
    notebook: str
    grade_id: str
    points: float
    score: float
    message: str


def database_url(url: str) -> str:
    """``url`` as SQLAlchemy should open it: a bare ``postgresql://`` means psycopg (version 3,
    a dependency) unless psycopg2 is installed, which SQLAlchemy would otherwise require."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise GradebookUnavailable(
            f"not a database URL: {url!r} (e.g. postgresql://user@host/grades)"
        ) from None
    if parsed.drivername == "postgresql":
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass
class Row:
    student_id: str
    module: str
    score: float
    max_score: float
    status: str
    reason: str
    digest: str = ""
    seconds: float = 0.0


def _racing(create, attempts: int = 8):
    """``create()``, which makes tables unless they exist. Graders sharing one database may open
    it at the same moment: the loser of that race sees "already exists" (SQLite) or a duplicate
    key (PostgreSQL's catalogue; a row both inserted, such as nbgrader's course), and looks again
    instead of failing, after a pause that lets the winner finish (nbgrader creates its tables
    one statement at a time). nbgrader reports a lost race as its own ``InvalidEntry``."""
    for attempt in range(attempts):
        try:
            return create()
        except Exception as error:
            said = str(getattr(error, "orig", None) or error).lower()
            if attempt + 1 == attempts or not any(m in said for m in _RACE_LOST):
                raise
            time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))


_RACE_LOST = ("already exists", "duplicate key", "unique constraint failed")


class Records:
    """Our table of per-submission outcomes, in the same database as nbgrader's gradebook."""

    def __init__(self, db_url: str):
        self.db_url = database_url(db_url)
        # pre_ping: a server connection dropped during a long batch is replaced, not fatal.
        shown = make_url(self.db_url).render_as_string(hide_password=True)
        try:
            self.engine: Engine = create_engine(self.db_url, pool_pre_ping=True)
            _racing(lambda: metadata.create_all(self.engine))
        except ImportError as error:
            raise GradebookUnavailable(f"no database driver for {shown}: {error}") from None
        except OperationalError as error:
            first = str(error.orig or error).strip().splitlines()[0]
            raise GradebookUnavailable(f"cannot open the gradebook at {shown}: {first}") from None

    def done(self, module: str) -> dict[str, str]:
        """``{student_id: digest}`` of the submissions already graded for ``module``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(results_table.c.student_id, results_table.c.digest).where(
                    results_table.c.module == module
                )
            )
            return {r.student_id: r.digest for r in rows}

    def save(self, row: Row, cells: list[CellRow] = ()) -> None:
        """The submission's row and its cells, in one transaction: the row marks it done."""
        values = dict(row.__dict__, graded_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
        key = (results_table.c.student_id == row.student_id) & (
            results_table.c.module == row.module
        )
        cell_key = (cells_table.c.student_id == row.student_id) & (
            cells_table.c.module == row.module
        )
        with self.engine.begin() as conn:
            conn.execute(cells_table.delete().where(cell_key))
            if cells:
                conn.execute(cells_table.insert(), [dict(c.__dict__) for c in cells])
            conn.execute(results_table.delete().where(key))
            conn.execute(results_table.insert().values(**values))

    def cells(self, module: str) -> list[CellRow]:
        query = (
            select(cells_table)
            .where(cells_table.c.module == module)
            .order_by(cells_table.c.student_id, cells_table.c.notebook)
        )
        with self.engine.connect() as conn:
            return [
                CellRow(
                    r.student_id, r.module, r.notebook, r.grade_id, r.points, r.score, r.message
                )
                for r in conn.execute(query)
            ]

    def rows(self, module: str | None = None) -> list[Row]:
        query = select(results_table).order_by(results_table.c.module, results_table.c.student_id)
        if module:
            query = query.where(results_table.c.module == module)
        with self.engine.connect() as conn:
            return [
                Row(
                    r.student_id,
                    r.module,
                    r.score,
                    r.max_score,
                    r.status,
                    r.reason,
                    r.digest,
                    r.seconds,
                )
                for r in conn.execute(query)
            ]


class NbgraderBook:
    """Writes per-cell auto scores into nbgrader's gradebook schema."""

    def __init__(self, db_url: str):
        paths.ensure_tools_on_path()  # nbgrader runs `alembic` by name
        import warnings

        from nbgrader.api import Gradebook

        # nbgrader's own relationship handling trips SQLAlchemy 2's autoflush warnings; harmless.
        warnings.filterwarnings("ignore", message=".*not in session.*", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")

        def create():
            gb = Gradebook(database_url(db_url), paths.COURSE_ID)
            try:
                self._stamp(gb)
            except Exception:
                gb.close()
                raise
            return gb

        self.gb = _racing(create)
        self._known: set[str] = set()

    @staticmethod
    def _stamp(gb) -> None:
        """nbgrader stamps its schema version only in a database with no tables yet, and ours may
        have come first: stamp it here, or `nbgrader db upgrade` would migrate from scratch."""
        if inspect(gb.engine).has_table("alembic_version"):
            return
        import logging

        import nbgrader

        logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin set-up chatter under -v
        from alembic.script import ScriptDirectory

        # nbgrader's get_alembic_version() asks a subprocess (seconds); the scripts say it at once.
        version = ScriptDirectory(
            os.path.join(os.path.dirname(nbgrader.__file__), "alembic")
        ).get_current_head()
        with gb.engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version}
            )

    def ensure_module(self, module: str, cells_by_notebook: dict[str, dict[str, float]]) -> None:
        if module in self._known:
            return
        self.gb.update_or_create_assignment(module)
        for notebook, cells in cells_by_notebook.items():
            name = notebook.removesuffix(".ipynb")
            self.gb.update_or_create_notebook(name, module)
            for grade_id, points in cells.items():
                self.gb.update_or_create_grade_cell(
                    grade_id, name, module, max_score=points, cell_type="code"
                )
        self._known.add(module)

    def record(self, student: str, module: str, scores: dict[str, dict[str, float]]) -> None:
        """``scores``: ``{notebook: {grade_id: auto_score}}``."""
        self.gb.update_or_create_student(student)
        self.gb.update_or_create_submission(module, student)
        for notebook, cells in scores.items():
            name = notebook.removesuffix(".ipynb")
            for grade_id, value in cells.items():
                grade = self.gb.find_grade(grade_id, name, module, student)
                grade.auto_score = value
        self.gb.db.commit()

    def close(self) -> None:
        self.gb.close()
