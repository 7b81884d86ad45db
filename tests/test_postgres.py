"""The gradebook in PostgreSQL: does a batch graded into a real server read back exactly, for
our records and for nbgrader's own API, and does a rerun resume from it?"""

from __future__ import annotations

import csv

import factories as f
import pytest
from click.testing import CliRunner
from pgserver import postgres_server, postgres_url  # noqa: F401  (fixtures)

from autograder.batch import grade
from autograder.cli import main
from autograder.gradebook import Records

pytestmark = [pytest.mark.platform, pytest.mark.xdist_group("postgres")]


def plain(url: str) -> str:
    """The URL as an instructor types it: no driver named."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_batch_grades_into_postgres_and_reads_back(postgres_url, tmp_path):  # noqa: F811
    root = f.nbgrader_layout(tmp_path / "subs", {"ada": f.solution(), "part": f.partial(), "junk": b"{"})
    out = tmp_path / "out"
    report = grade(root, module="00", out=out, workers=2, db_url=plain(postgres_url), progress=False)
    assert report.graded_now == 3
    assert not (out / "gradebook.db").exists(), "the SQLite default was used instead of --db"

    rows = {r.student_id: (r.score, r.max_score, r.status) for r in Records(postgres_url).rows("00-getting-started")}
    assert rows == {"ada": (8, 8, "graded"), "part": (3, 8, "graded"), "junk": (0, 8, "invalid_notebook")}

    from nbgrader.api import Gradebook

    with Gradebook(postgres_url, "ml-to-lm") as gb:
        assert gb.find_submission("00-getting-started", "part").score == 3
        assert gb.find_grade("test-softmax", "getting-started", "00-getting-started", "part").auto_score == 3
        assert gb.find_submission("00-getting-started", "ada").score == 8
    with Records(postgres_url).engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1

    again = grade(root, module="00", out=out, workers=2, db_url=postgres_url, progress=False)
    assert (again.graded_now, again.skipped) == (0, 3)
    with open(again.csv_path, newline="") as handle:
        assert {r["student_id"]: r["score"] for r in csv.DictReader(handle)} == {"ada": "8", "part": "3", "junk": "0"}


def test_db_from_the_environment(postgres_url, tmp_path):  # noqa: F811
    """`AUTOGRADER_DB` is the config equivalent of `--db` (nbgrader_config.py reads it too)."""
    root = f.nbgrader_layout(tmp_path / "subs", {"bo": f.partial()})
    result = CliRunner().invoke(
        main, ["grade", str(root), "--module", "00", "--out", str(tmp_path / "out"), "--workers", "1"],
        env={"AUTOGRADER_DB": plain(postgres_url)}, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert [(r.student_id, r.score) for r in Records(postgres_url).rows()] == [("bo", 3)]
    assert not (tmp_path / "out" / "gradebook.db").exists()
