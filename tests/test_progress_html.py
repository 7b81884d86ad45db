"""`autograder progress --html`: does the dashboard show the best scores, a chart, and need nothing else?"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from autograder import dashboard, progress
from autograder.cli import main

pytestmark = pytest.mark.platform

M00, NB00 = "00-getting-started", "getting-started.ipynb"
M01, NB01 = "01-logistic-regression", "logistic-regression.ipynb"


def attempt(module, notebook, score, at):
    return progress.Attempt(module, notebook, score, 0.0, "graded", "/work/x.ipynb", at)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "progress.sqlite"
    for a in [
        attempt(M00, NB00, 3, "2026-01-05T10:00:00+01:00"),
        attempt(M00, NB00, 8, "2026-01-06T10:00:00+01:00"),
        attempt(M00, NB00, 2, "2026-01-07T10:00:00+01:00"),  # a worse later try keeps the best
        attempt(M01, NB01, 5, "2026-01-08T10:00:00+01:00"),
    ]:
        progress.record(a, path)
    return path


class Collect(HTMLParser):
    """Every tag with its attributes, and the text of each table row."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = []

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._row is not None and data.strip():
            self._row.append(data.strip())


def parse(text: str) -> Collect:
    c = Collect()
    c.feed(text)
    return c


def test_course_share_over_time_keeps_the_best_per_notebook(store):
    course_max = sum(r.max_score for r in progress.summary(store))
    shares = [s for _, s in dashboard.course_total_over_time(progress.attempts(store), course_max)]
    assert shares == pytest.approx([100 * x / course_max for x in (3, 8, 8, 13)])


def test_dashboard_shows_best_score_per_module_and_a_chart(store):
    page = parse(dashboard.render(store))
    rows = {r[0]: r for r in page.rows[1:]}
    summary = {r.module: r for r in progress.summary(store)}
    assert set(rows) == set(summary), "one row per module of the course"
    assert rows[M00][1] == f"8 / {summary[M00].max_score:g}" and rows[M00][2] == "3"
    assert rows[M01][1] == f"5 / {summary[M01].max_score:g}" and rows[M01][2] == "1"
    assert rows["02-pca"][-1] == "never"
    assert [t for t, _ in page.tags].count("svg") == 1


def test_dashboard_is_self_contained(store):
    """No script, stylesheet, image or font is fetched from anywhere: the file is all there is."""
    text = dashboard.render(store)
    page = parse(text)
    tags = [t for t, _ in page.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith(("#", "data:")), f"<{tag} {name}={value!r}> points outside the file"
    assert "@import" not in text
    assert not re.findall(r"url\((?!#)", text), "a url() that is not a reference inside the file"


def test_dashboard_without_attempts_says_how_to_start(tmp_path):
    text = dashboard.render(tmp_path / "empty.sqlite")
    assert "<svg" not in text and "check()" in text


def test_progress_html_command_writes_the_file(tmp_path, monkeypatch, store):
    monkeypatch.setenv("AUTOGRADER_HOME", str(tmp_path))  # the store fixture is its progress.sqlite
    out = tmp_path / "reports" / "me.html"
    result = CliRunner().invoke(main, ["progress", "--html", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.as_uri() in result.output.replace("\n", "")
    assert "<svg" in out.read_text()

    result = CliRunner().invoke(main, ["progress", "--html"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "progress.html").is_file()
