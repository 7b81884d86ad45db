"""Grading throughput: `autograder grade` against stock `nbgrader autograde`, in one run.

Grades N copies of module 00's solution both ways and prints the times, submissions per minute
and the ratio; writes the figures to benchmarks/results/grading_throughput.json.

    python benchmarks/grading_throughput.py --n 30 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import paths  # noqa: E402
from autograder.batch import grade  # noqa: E402

MODULE, NOTEBOOK = "00-getting-started", "getting-started.ipynb"


def make_submissions(root: Path, n: int) -> Path:
    for i in range(n):
        target = root / f"student{i:03d}" / MODULE
        target.mkdir(parents=True)
        shutil.copy(paths.SOLUTIONS / MODULE / NOTEBOOK, target / NOTEBOOK)
    return root


def time_autograder(subs: Path, out: Path, workers: int) -> float:
    start = time.perf_counter()
    report = grade(subs, module=MODULE, out=out, workers=workers, progress=False)
    elapsed = time.perf_counter() - start
    bad = [r for r in report.rows if r.status != "graded" or r.score != r.max_score]
    assert not bad, f"autograder mis-graded the solution: {bad[:3]}"
    return elapsed


def time_nbgrader(work: Path, n: int) -> float:
    """Stock nbgrader: generate_assignment once (not timed), then autograde every student."""
    course = work / "nbg"
    (course / "source" / MODULE).mkdir(parents=True)
    shutil.copy(paths.SOLUTIONS / MODULE / NOTEBOOK, course / "source" / MODULE / NOTEBOOK)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'bench'\n"
        f"c.Exchange.root = {str(work / 'exchange')!r}\n"
    )
    (work / "exchange").mkdir()
    env = dict(os.environ, COURSE_PROFILE="quick", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", MODULE, "--force"], cwd=course, env=env, check=True, capture_output=True)
    for i in range(n):
        target = course / "submitted" / f"student{i:03d}" / MODULE
        target.mkdir(parents=True)
        shutil.copy(paths.SOLUTIONS / MODULE / NOTEBOOK, target / NOTEBOOK)
    start = time.perf_counter()
    subprocess.run([*nbgrader, "autograde", MODULE, "--force"], cwd=course, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="copies of the solution to grade")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="autograder workers")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "grading_throughput.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        work = Path(tmp)
        subs = make_submissions(work / "subs", args.n)
        ours = time_autograder(subs, work / "out", args.workers)
        one = time_autograder(subs, work / "out1", 1)
        stock = time_nbgrader(work, args.n)
    figures = {
        "n": args.n,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "nbgrader_autograde_s": round(stock, 2),
        "autograder_1_worker_s": round(one, 2),
        f"autograder_{args.workers}_workers_s": round(ours, 2),
        "nbgrader_per_min": round(60 * args.n / stock, 1),
        "autograder_per_min": round(60 * args.n / ours, 1),
        "speedup_1_worker": round(stock / one, 2),
        "speedup_vs_nbgrader": round(stock / ours, 2),
    }
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"speedup_vs_nbgrader={figures['speedup_vs_nbgrader']}")


if __name__ == "__main__":
    main()
