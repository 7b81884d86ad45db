"""`autograder grade`: does every submission get the right row, whatever it contains?"""

from __future__ import annotations

import csv
import os
import sys
import time
import zipfile

import factories as f
import pytest

from autograder.batch import grade

pytestmark = pytest.mark.platform


def read_csv(path):
    with open(path, newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def mixed_batch(tmp_path_factory):
    """One batch holding correct, blank, partial, broken and hostile-to-the-kernel work."""
    root = tmp_path_factory.mktemp("subs")
    f.nbgrader_layout(
        root,
        {
            "ada": f.solution(),
            "blank": f.blank(),
            "partial": f.partial(),
            "syntax": f.with_extra_first_cell(f.solution(), "def broken(:\n    pass"),
            "importerr": f.with_extra_first_cell(f.blank(), "import a_module_that_does_not_exist"),
            "loop": f.with_extra_first_cell(f.solution(), "while True:\n    pass"),
            "dies": f.with_extra_first_cell(f.solution(), "import os\nos._exit(1)"),
            "flood": f.with_extra_first_cell(f.solution(), "print('x' * 20_000_000)"),
            "garbage": b"{this is not json",
            "empty": b"",
        },
    )
    out = tmp_path_factory.mktemp("out")
    report = grade(root, module="00", out=out, workers=2, cell_timeout=5, notebook_timeout=60, progress=False)
    return report, read_csv(report.csv_path)


def test_csv_has_exactly_the_documented_columns(mixed_batch):
    report, _ = mixed_batch
    with open(report.csv_path, newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["student_id", "module", "score", "max_score", "status", "reason"]


def test_every_submission_gets_a_row(mixed_batch):
    _, rows = mixed_batch
    assert set(rows) == {"ada", "blank", "partial", "syntax", "importerr", "loop", "dies", "flood", "garbage", "empty"}
    assert {r["max_score"] for r in rows.values()} == {"8"}


@pytest.mark.parametrize(
    "student,score,status",
    [
        ("ada", "8", "graded"),
        ("blank", "0", "graded"),
        ("partial", "3", "graded"),
        ("syntax", "8", "graded"),  # the broken cell fails alone; the answers still earn
        ("importerr", "0", "graded"),
        ("loop", "8", "timeout"),  # interrupted, the rest of the notebook still ran
        ("dies", "0", "kernel_died"),
        ("flood", "8", "graded"),
        ("garbage", "0", "invalid_notebook"),
        ("empty", "0", "invalid_notebook"),
    ],
)
def test_each_submission_scores_and_status(mixed_batch, student, score, status):
    _, rows = mixed_batch
    assert (rows[student]["score"], rows[student]["status"]) == (score, status), rows[student]


def test_failures_carry_a_reason(mixed_batch):
    _, rows = mixed_batch
    for student in ("loop", "dies", "garbage", "empty"):
        assert rows[student]["reason"], f"{student} has no reason"
    assert "cell" in rows["loop"]["reason"]


def test_feedback_is_written_without_hidden_tests(mixed_batch):
    report, _ = mixed_batch
    page = (report.out / "feedback" / "blank" / "00-getting-started" / "getting-started.html").read_text()
    assert "test-softmax" in page and "0 / 8" in page
    assert "hidden tests" in page
    for hidden_line in ("scipy_softmax(z, axis=0)", "cdist(A, B", "mode=\"valid\""):
        assert hidden_line not in page


def test_huge_output_is_capped(mixed_batch):
    report, _ = mixed_batch
    page = report.out / "feedback" / "flood" / "00-getting-started" / "getting-started.html"
    assert page.stat().st_size < 2_000_000
    assert "output truncated" in page.read_text()


def test_gradebook_holds_per_cell_scores(mixed_batch):
    report, _ = mixed_batch
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{report.out / 'gradebook.db'}") as gb:
        assert gb.find_submission("00-getting-started", "partial").score == 3
        assert gb.find_grade("test-softmax", "getting-started", "00-getting-started", "partial").auto_score == 3


def test_rerun_grades_only_what_changed(tmp_path):
    root = f.nbgrader_layout(tmp_path / "subs", {"a": f.solution(), "b": f.blank()})
    out = tmp_path / "out"
    first = grade(root, module="00", out=out, workers=1, progress=False)
    assert first.graded_now == 2
    again = grade(root, module="00", out=out, workers=1, progress=False)
    assert (again.graded_now, again.skipped) == (0, 2)
    f.nbgrader_layout(root, {"b": f.partial()})
    changed = grade(root, module="00", out=out, workers=1, progress=False)
    assert (changed.graded_now, changed.skipped) == (1, 1)
    assert read_csv(changed.csv_path)["b"]["score"] == "3"
    assert len(read_csv(changed.csv_path)) == 2


def test_flat_and_zip_layouts(tmp_path):
    flat = tmp_path / "flat"
    f.write(f.solution(), flat / "ann.ipynb")
    f.write(f.blank(), flat / "ben.ipynb")
    rows = read_csv(grade(flat, module="00-getting-started", out=tmp_path / "o1", progress=False).csv_path)
    assert {k: v["score"] for k, v in rows.items()} == {"ann": "8", "ben": "0"}

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in flat.iterdir():
            zf.write(p, f"export/{p.name}")
        zf.writestr("../escape.ipynb", "{}")  # a path that tries to leave the folder is skipped
    rows = read_csv(grade(archive, module="00", out=tmp_path / "o2", progress=False).csv_path)
    assert {k: v["score"] for k, v in rows.items()} == {"ann": "8", "ben": "0"}
    assert not (tmp_path / "escape.ipynb").exists()


def test_unknown_module_is_a_clear_error(tmp_path):
    with pytest.raises(KeyError, match="unknown module"):
        grade(tmp_path, module="99-nothing", out=tmp_path / "o", progress=False)


def _descendants(pid: int) -> list[tuple[int, str]]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        for task in os.listdir(f"/proc/{current}/task"):
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    children = [int(p) for p in handle.read().split()]
            except OSError:
                continue
            for child in children:
                try:
                    with open(f"/proc/{child}/cmdline", "rb") as handle:
                        found.append((child, handle.read().replace(b"\0", b" ").decode()))
                except OSError:
                    continue
                stack.append(child)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_batch_leaves_no_process_behind(tmp_path):
    """The pool's workers are forked from a fork server that imported what they need once
    (autograder.preheat): it belongs to the batch, and goes with it, as the workers, their
    zygotes and kernels do (multiprocessing's own resource tracker is the one that stays)."""
    root = f.nbgrader_layout(tmp_path / "subs", {"a": f.solution(), "b": f.blank(), "c": f.partial()})
    before = set(_descendants(os.getpid()))  # a zygote of an earlier test in this process stays
    report = grade(root, module="00", out=tmp_path / "out", workers=2, progress=False)
    assert [r.status for r in report.rows] == ["graded"] * 3
    assert report.rows[0].score == report.rows[0].max_score
    deadline = time.monotonic() + 10
    while (left := [c for c in set(_descendants(os.getpid())) - before if "resource_tracker" not in c[1]]) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes left behind by a finished batch: {left}"
