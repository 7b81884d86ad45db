"""Crash safety: if the batch is killed with SIGKILL, does the same command finish the job
exactly, with no duplicated or half-written rows?"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import factories as f
import pytest

pytestmark = [pytest.mark.platform, pytest.mark.slow]


def test_sigkill_then_rerun_grades_exactly_what_is_missing(tmp_path):
    students = {f"s{i:02d}": (f.solution() if i % 2 else f.partial()) for i in range(10)}
    root = f.nbgrader_layout(tmp_path / "subs", students)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder.cli", "grade", str(root), "--module", "00",
               "--out", str(out), "--workers", "1"]
    zygotes_before = _zygotes()
    batch = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from autograder.gradebook import Records

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "gradebook.db").exists() and len(Records(f"sqlite:///{out / 'gradebook.db'}").rows()) >= 2:
            break
        time.sleep(0.2)
    os.killpg(batch.pid, signal.SIGKILL)  # the batch and every worker, mid-run
    batch.wait()
    before = len(Records(f"sqlite:///{out / 'gradebook.db'}").rows())
    assert 2 <= before < 10, f"the kill came too late to test anything ({before} rows)"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{10 - before} graded now, {before} unchanged" in rerun.stdout.replace("\n", " ")
    with open(out / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["student_id"] for r in rows) == sorted(students)
    expected = {s: ("8" if int(s[1:]) % 2 else "3") for s in students}
    assert {r["student_id"]: r["score"] for r in rows} == expected
    assert {r["status"] for r in rows} == {"graded"}
    time.sleep(1)  # the parent-death signal is asynchronous
    orphans = [p for p in _zygotes() if p not in zygotes_before and _ppid(p) == 1]
    assert not orphans, f"processes of the killed batch outlived it: {orphans}"


def _zygotes() -> set[int]:
    found = subprocess.run(["pgrep", "-f", "autograder.zygote"], capture_output=True, text=True).stdout
    return {int(p) for p in found.split()}


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
