"""`grade --scheduler`: on a real Dask cluster (a `dask scheduler` and `dask worker` processes),
does every submission get the row the local pool would give it, with the module's files as the
grader has them, and does a worker killed mid-batch cost only a retry?"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import course_edits
import factories as f
import pytest
from pgserver import postgres_server, postgres_url  # noqa: F401  (fixtures)

from autograder import paths
from autograder.batch import grade
from autograder.gradebook import Records

pytestmark = [pytest.mark.platform, pytest.mark.slow, pytest.mark.xdist_group("dask")]

DASK = str(Path(sys.executable).parent / "dask")


class Cluster:
    """A scheduler and workers, each its own process group, as an instructor starts them."""

    def __init__(self, folder: Path):
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
        self.workers: list[subprocess.Popen] = []

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        return subprocess.Popen([DASK, *args], cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def add_workers(self, n: int) -> None:
        for _ in range(n):
            self.workers.append(self._start(f"worker{len(self.workers)}", [
                "worker", self.address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                "--local-directory", str(self.folder)]))
        with self.client() as client:
            client.wait_for_workers(len(self.workers), timeout=120)

    def client(self):
        from distributed import Client

        return Client(self.address, set_as_default=False, timeout=60)

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.add_workers(1)
        yield c
    finally:
        c.close()


def read_csv(path):
    with open(path, newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def test_cluster_grades_like_the_local_pool(cluster, tmp_path):
    root = f.nbgrader_layout(tmp_path / "subs", {"ada": f.solution(), "part": f.partial(), "blank": f.blank(),
                                                 "junk": b"{not json"})
    report = grade(root, module="00", out=tmp_path / "out", scheduler=cluster.address, progress=False)
    rows = read_csv(report.csv_path)
    assert {s: (r["score"], r["status"]) for s, r in rows.items()} == {
        "ada": ("8", "graded"), "part": ("3", "graded"), "blank": ("0", "graded"), "junk": ("0", "invalid_notebook")}
    assert rows["junk"]["reason"]
    page = report.out / "feedback" / "part" / "00-getting-started" / "getting-started.html"
    assert "3 / 8" in page.read_text() and "scipy_softmax(z, axis=0)" not in page.read_text()
    again = grade(root, module="00", out=tmp_path / "out", scheduler=cluster.address, progress=False)
    assert (again.graded_now, again.skipped) == (0, 4)


def test_edited_tests_travel_to_the_workers_and_regrade(cluster, tmp_path, monkeypatch):
    """The workers' own checkout has the original tests; the grader's copy is stricter. The
    grades must follow the grader's copy, and editing it must regrade."""
    roots = paths.Roots(solutions=course_edits.copy_solutions(tmp_path))
    root = f.nbgrader_layout(tmp_path / "subs", {"ada": f.solution(), "bea": f.solution()})
    out = tmp_path / "out"
    first = grade(root, module="00", out=out, scheduler=cluster.address, progress=False, roots=roots)
    assert {r.score for r in first.rows} == {8}

    course_edits.make_test_stricter(roots.solutions)
    second = grade(root, module="00", out=out, scheduler=cluster.address, progress=False, roots=roots)
    assert second.graded_now == 2
    assert {r.score for r in second.rows} == {8 - course_edits.POINTS_LOST}


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    import dask
    import distributed  # noqa: F401  (registers its config defaults first: leaving `config.set`

    # below would otherwise delete the whole `distributed` section, breaking later clients)
    from click.testing import CliRunner

    from autograder.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    root = f.nbgrader_layout(tmp_path / "subs", {"ada": f.solution()})
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        result = CliRunner().invoke(main, ["grade", str(root), "--module", "00", "--out", str(tmp_path / "out"),
                                           "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert result.exit_code == 2, "a scheduler that cannot be reached is the user's to fix: one line, exit 2"
    assert "cannot reach the Dask scheduler" in result.output


def test_worker_killed_mid_batch_costs_a_retry_not_the_batch(tmp_path_factory, tmp_path, postgres_url):  # noqa: F811
    students = {f"s{i}": (f.solution() if i % 2 else f.partial()) for i in range(8)}
    expected = {s: (8.0 if int(s[1:]) % 2 else 3.0) for s in students}
    root = f.nbgrader_layout(tmp_path / "subs", students)
    cluster = Cluster(tmp_path_factory.mktemp("dask-kill"))
    try:
        cluster.add_workers(2)
        command = [sys.executable, "-m", "autograder.cli", "-v", "grade", str(root), "--module", "00",
                   "--out", str(tmp_path / "out"), "--scheduler", cluster.address, "--db", postgres_url]
        batch = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        records = Records(postgres_url)
        victim, rows_before = None, None
        with cluster.client() as client:
            deadline = time.monotonic() + 180
            # (a lambda: Dask sends it by value; the scheduler cannot import this test module)
            finished_tasks = lambda dask_scheduler: sum(ts.state == "memory" for ts in dask_scheduler.tasks.values())  # noqa: E731
            while victim is None and time.monotonic() < deadline and batch.poll() is None:
                busy = [w for w, tasks in client.processing().items() if tasks]
                rows_before = len(records.rows())
                # Mid-batch: a submission is done (recorded, or its result waiting for the grader)
                # and a worker is on another one.
                if busy and (rows_before or client.run_on_scheduler(finished_tasks)):
                    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                    victim = next(w for w in cluster.workers if w.pid == os.getpgid(pid))
                    os.killpg(victim.pid, signal.SIGKILL)  # the worker, its nanny, its kernels
                time.sleep(0.1)
        if victim is None:
            batch.kill()
            pytest.fail(f"no worker was busy mid-batch to kill; the batch said: {batch.communicate()[1][-3000:]}")
        assert rows_before < len(students), "the kill came too late to test anything"
        stdout, stderr = batch.communicate(timeout=300)
        assert batch.returncode == 0, stderr
    finally:
        cluster.close()

    assert victim.poll() is not None
    logged = [json.loads(line)["student"] for line in stderr.splitlines() if line.startswith("{")]
    assert sorted(logged) == sorted(students), "every submission is recorded exactly once"
    rows = read_csv(tmp_path / "out" / "grades.csv")
    assert {s: float(r["score"]) for s, r in rows.items()} == expected
    assert {r["status"] for r in rows.values()} == {"graded"}
    assert {r.student_id: r.score for r in records.rows()} == expected
    from nbgrader.api import Gradebook

    with Gradebook(postgres_url, "ml-to-lm") as gb:
        assert {s.student.id: s.score for s in gb.assignment_submissions("00-getting-started")} == expected


def test_lost_scheduler_stops_the_batch_and_a_rerun_finishes_it(tmp_path_factory, tmp_path):
    students = {f"s{i:02d}": f.solution() for i in range(12)}
    root = f.nbgrader_layout(tmp_path / "subs", students)
    out = tmp_path / "out"

    def command(cluster):
        return [sys.executable, "-m", "autograder.cli", "grade", str(root), "--module", "00", "--out", str(out),
                "--scheduler", cluster.address]

    first = Cluster(tmp_path_factory.mktemp("dask-lost"))
    try:
        first.add_workers(1)
        batch = subprocess.Popen(command(first), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and batch.poll() is None:
            if (out / "gradebook.db").exists() and Records(f"sqlite:///{out / 'gradebook.db'}").rows():
                os.killpg(first.scheduler.pid, signal.SIGKILL)
                break
            time.sleep(0.1)
        stdout, stderr = batch.communicate(timeout=300)
    finally:
        first.close()
    before = len(Records(f"sqlite:///{out / 'gradebook.db'}").rows())
    assert before < len(students), "the kill came too late to test anything"
    assert batch.returncode == 2 and "lost the Dask scheduler" in stderr, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("autograder: error: lost the Dask scheduler") and "bug" not in stderr, (
        "losing the scheduler is not the autograder's bug: it ends with one line saying what happened")

    second = Cluster(tmp_path_factory.mktemp("dask-again"))
    try:
        second.add_workers(1)
        rerun = subprocess.run(command(second), capture_output=True, text=True, timeout=300)
    finally:
        second.close()
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(students) - before} graded now, {before} unchanged" in rerun.stdout.replace("\n", " ")
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == sorted(students) and {r["score"] for r in rows.values()} == {"8"}
