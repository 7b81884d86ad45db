"""The `autograder` command: do release --check, check and progress say what they promise?"""

from __future__ import annotations

import shutil

import factories as f
import pytest
from click.testing import CliRunner

from autograder import paths, release
from autograder.cli import main

pytestmark = pytest.mark.platform


def run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_release_check_passes_on_the_repository():
    code, out = run("release", "--check", "00")
    assert code == 0, out
    assert "up to date" in out


def test_release_check_names_a_hand_edited_file(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(paths.COURSE / f.MODULE, course / f.MODULE)
    assert not release.check([f.MODULE], course_dir=course).stale
    nb = course / f.MODULE / f.NOTEBOOK
    nb.write_text(nb.read_text().replace("YOUR CODE HERE", "my own edit"))
    (course / f.MODULE / "stray.txt").write_text("not from solutions/")
    stale = release.check([f.MODULE], course_dir=course)
    assert stale.changed == [f"course/{f.MODULE}/{f.NOTEBOOK}"]
    assert stale.extra == [f"course/{f.MODULE}/stray.txt"]


def test_release_writes_what_check_expects(tmp_path):
    course = tmp_path / "course"
    release.release([f.MODULE], course_dir=course)
    assert not release.check([f.MODULE], course_dir=course).stale


def test_check_prints_the_table_and_progress_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_HOME", str(tmp_path / "home"))
    work = tmp_path / "work" / f.MODULE
    nb = f.write(f.partial(), work / f.NOTEBOOK)
    code, out = run("check", str(nb))
    assert code == 0, out
    assert "3 / 8" in out
    for question in ("test-softmax", "test-pairwise", "test-moving-average"):
        assert question in out
    assert "passed" in out and "NotImplementedError" in out

    code, out = run("progress")
    assert code == 0, out
    row = next(line for line in out.splitlines() if f.MODULE in line)
    cells = [c.strip() for c in row.strip("│┃| ").split("│")]
    assert cells[:3] == [f.MODULE, "3 / 8", "1"], f"module, best score, attempts: {cells}"
    assert cells[3][:4].isdigit(), f"the last attempt's time: {cells}"
    assert "01-logistic-regression" in out  # every module is listed, attempted or not


def test_check_of_a_file_from_no_module_is_a_clear_error(tmp_path):
    stray = f.write(f.solution(), tmp_path / "mystery.ipynb")
    result = CliRunner().invoke(main, ["check", str(stray)])
    assert result.exit_code == 2, "the user's mistake: one line and exit 2"
    assert "cannot tell which module" in result.output and "Traceback" not in result.output


def test_check_with_module_accepts_a_renamed_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_HOME", str(tmp_path / "home"))
    renamed = f.write(f.solution(), tmp_path / "my-attempt.ipynb")
    code, out = run("check", str(renamed), "--module", "00")
    assert code == 0, out
    assert "8 / 8" in out


def test_lab_prepares_the_workspace_without_overwriting(tmp_path):
    where = tmp_path / "ws"
    code, out = run("lab", "--workspace", str(where), "--prepare-only")
    assert code == 0, out
    mine = where / f.MODULE / f.NOTEBOOK
    assert mine.is_file() and (where / "README.md").is_file()
    mine.write_text("my answers")
    run("lab", "--workspace", str(where), "--prepare-only")
    assert mine.read_text() == "my answers"


def test_grade_command_reports_failures(tmp_path):
    subs = f.nbgrader_layout(tmp_path / "subs", {"ok": f.solution(), "bad": b"not a notebook"})
    code, out = run("grade", str(subs), "--module", "00", "--out", str(tmp_path / "out"), "--workers", "1")
    assert code == 0, out
    assert "bad" in out and "invalid_notebook" in out
    assert (tmp_path / "out" / "grades.csv").is_file()


def test_a_grader_bug_shows_its_traceback_and_is_not_worded_as_a_mistake(tmp_path, monkeypatch):
    """A bug in the autograder must not read like the user did something wrong."""
    from autograder import selfcheck

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(selfcheck, "run_check", broken)
    nb = f.write(f.partial(), tmp_path / "work" / f.MODULE / f.NOTEBOOK)
    result = CliRunner().invoke(main, ["check", str(nb)])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "ZeroDivisionError: a bug" in result.output
    assert "bug in the autograder" in result.output and "error:" not in result.output


def test_an_unknown_module_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["grade", str(tmp_path), "--module", "99"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "unknown module '99'" in result.output
