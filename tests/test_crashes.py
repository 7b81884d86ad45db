"""Crash-safe to the last byte: a kill between a submission's feedback and its row, a rerun with
other limits, and a submission that crashes its grading worker."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import factories as f
import pytest

import autograder
from autograder.batch import grade
from autograder.gradebook import Records

pytestmark = [pytest.mark.platform, pytest.mark.slow]

KILL_AT = r"""
import os, signal, sys
from pathlib import Path
from autograder import batch
from autograder.gradebook import Records

where, root, out = (sys.argv[1:4] + ["", "", ""])[:3]
root, out = Path(root), Path(out)
calls = []

def dying(original):
    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second submission, before this step
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    return wrapper

if __name__ == "__main__":  # the workers (spawned) import this file too
    if where == "row":
        Records.save = dying(Records.save)
    else:
        batch._write_feedback = dying(batch._write_feedback)
    batch.grade(root, module="00", out=out, workers=1, progress=False)
"""


def _pages_of_done_rows(out):
    rows = Records(f"sqlite:///{out / 'gradebook.db'}").rows()
    pages = {r.student_id: out / "feedback" / r.student_id / f.MODULE / "getting-started.html" for r in rows}
    return rows, {s: p.is_file() and p.read_text().rstrip().endswith("</html>") for s, p in pages.items()}


@pytest.mark.parametrize("where", ["feedback", "row"])
def test_a_kill_between_feedback_and_row_never_leaves_a_row_without_its_page(tmp_path, where):
    root = f.nbgrader_layout(tmp_path / "subs", {"a": f.solution(), "b": f.partial(), "c": f.blank()})
    out = tmp_path / "out"
    script = tmp_path / "kill_at.py"
    script.write_text(KILL_AT)
    killed = subprocess.run([sys.executable, str(script), where, str(root), str(out)], capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rows, complete = _pages_of_done_rows(out)
    # One submission was done (not necessarily "a": results that are ready together come in any order).
    assert len(rows) == 1, "only the first submission was done when the batch died"
    assert all(complete.values()), f"a done row without its whole feedback page: {complete}"

    report = grade(root, module="00", out=out, workers=1, progress=False)
    assert report.graded_now == 2 and report.skipped == 1
    rows, complete = _pages_of_done_rows(out)
    assert sorted(r.student_id for r in rows) == ["a", "b", "c"] and all(complete.values()), complete
    assert not list((out / "feedback").rglob("*.tmp")), "no half-written page is left behind"


def test_other_limits_or_another_version_regrade(tmp_path, monkeypatch):
    root = f.nbgrader_layout(tmp_path / "subs", {"a": f.solution(), "b": f.partial()})
    out = tmp_path / "out"

    def run(**kwargs):
        report = grade(root, module="00", out=out, workers=1, progress=False, **kwargs)
        return report.graded_now, report.skipped

    assert run() == (2, 0)
    assert run() == (0, 2)
    assert run(cell_timeout=30) == (2, 0), "a rerun with another cell time limit must regrade"
    assert run(cell_timeout=30) == (0, 2)
    monkeypatch.setattr(autograder, "__version__", autograder.__version__ + ".post1")
    assert run(cell_timeout=30) == (2, 0), "a new autograder version must regrade"


def test_a_submission_that_crashes_its_worker_costs_only_itself(tmp_path):
    """Each time the culprit's kernel is running, its grading worker is killed (as the kernel
    of the machine would kill a worker for that submission). Its neighbours in flight are graded
    again alone, at no cost; the culprit gets an error row after two crashes of its own."""
    marker = f"{7000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6:06d}"
    culprit = f.with_extra_first_cell(f.solution(), f"import subprocess, time\nsubprocess.Popen(['sleep', '{marker}'])\ntime.sleep(60)")
    students = {"culprit": culprit, **{f"ok{i}": f.solution() for i in range(3)}}
    root = f.nbgrader_layout(tmp_path / "subs", students)
    kills, done = [], threading.Event()
    outlived: list[int] = []  # kernels still running 10 s after their worker was killed

    def killer():
        seen: set[int] = set()
        while not done.is_set():
            for pid in f.running(marker):
                worker = _pool_worker_of(pid)
                if pid not in seen and worker is not None:
                    seen.add(pid)
                    kernel = _parent_of(pid)
                    os.kill(worker, signal.SIGKILL)
                    kills.append(worker)
                    deadline = time.monotonic() + 10
                    while kernel and _parent_of(kernel) and time.monotonic() < deadline:
                        time.sleep(0.05)
                    if kernel and _parent_of(kernel):
                        outlived.append(kernel)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        report = grade(root, module="00", out=tmp_path / "out", workers=2, cell_timeout=90, progress=False)
    finally:
        done.set()
        thread.join()
    with open(report.csv_path, newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert len(kills) == 3, f"the culprit ran {len(kills)} times: once beside the others, then twice alone"
    assert not outlived, "a kernel outlived the grading worker it ran for"
    assert rows["culprit"]["status"] == "error" and "crashed twice" in rows["culprit"]["reason"], rows["culprit"]
    for i in range(3):
        assert (rows[f"ok{i}"]["status"], float(rows[f"ok{i}"]["score"])) == ("graded", f.MAX), rows[f"ok{i}"]


def _pool_worker_of(pid: int) -> int | None:
    """The `autograder grade` worker process that ``pid`` (a process its kernel started) works
    for: the one pool process that holds the pipes of the kernel's zygote (its requests and its
    replies). That worker started the zygote, or the fork server did and handed it over."""
    zygote = None
    for _ in range(12):
        pid = _parent_of(pid) or 0
        if b"autograder.zygote" in _command_of(pid):
            zygote = pid  # the topmost is the zygote (its kernels have its command line)
        elif zygote is not None:
            break
    if zygote is None:
        return None
    pipes = _pipes_of(zygote, skip=(2,))  # not its standard error: everyone's
    holders = [
        int(name)
        for name in os.listdir("/proc")
        if name.isdigit()
        and b"multiprocessing" in _command_of(int(name))
        and _pipes_of(int(name)) & pipes
    ]
    return holders[0] if len(holders) == 1 else None


def _command_of(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _parent_of(pid: int) -> int | None:
    """``pid``'s parent; None once ``pid`` is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[1])


def _pipes_of(pid: int, skip: tuple[int, ...] = ()) -> set[str]:
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if int(fd) in skip:
                continue
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("pipe:"):
                found.add(target)
    except OSError:
        pass
    return found
