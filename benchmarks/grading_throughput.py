"""Grading throughput: stock `nbgrader autograde` against `autograder grade`, in one run.

Grades N copies of module 00's solution with stock nbgrader, with `autograder grade` on one
worker and on all local cores (process pool), and with `autograder grade --scheduler` on a local
Dask cluster (one single-threaded worker process per core), for each N. Prints the times,
submissions per minute and the ratios, then how the Dask run scales with its number of workers
(at the first N); writes the figures to benchmarks/results/grading_throughput.json. The last line
is ``speedup_vs_nbgrader=<x>``: nbgrader's time over ours on all local cores at N = 30 (at the
first N when 30 is not measured), the median over back-to-back pairs of runs (3 pairs up to
N = 50): this machine's speed drifts during a run, so only times taken side by side compare.

    python benchmarks/grading_throughput.py --n 30 200

It also measures what the sandbox (bubblewrap, rlimits) and the judge (tests outside the kernel)
cost per submission, against grading with both off (AUTOGRADER_SANDBOX=0 AUTOGRADER_JUDGE=0:
no bubblewrap, tests in the kernel; the rlimits stay).

The Dask cluster is started before the clock runs (a cluster is long-lived); the workers' own
warm-up (imports, the kernel zygote) falls in the first timed batch on each cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
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


def time_autograder(subs: Path, out: Path, workers: int | None = None, scheduler: str | None = None) -> float:
    start = time.perf_counter()
    report = grade(subs, module=MODULE, out=out, workers=workers, scheduler=scheduler, progress=False)
    elapsed = time.perf_counter() - start
    bad = [r for r in report.rows if r.status != "graded" or r.score != r.max_score]
    assert not bad, f"autograder mis-graded the solution: {bad[:3]}"
    assert report.graded_now == len(report.rows), "a rerun skipped submissions: the output folder was not fresh"
    return elapsed


def time_nbgrader(work: Path, n: int) -> float:
    """Stock nbgrader: generate_assignment once (not timed), then autograde every student."""
    work.mkdir(parents=True, exist_ok=True)
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


class LocalDask:
    """A Dask cluster on this machine: one single-threaded worker process per slot."""

    def __init__(self, workers: int, folder: Path):
        from distributed import LocalCluster

        self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, local_directory=str(folder))
        self.address = self.cluster.scheduler_address

    def __enter__(self) -> LocalDask:
        return self

    def __exit__(self, *exc) -> None:
        self.cluster.close()


def per_min(n: int, seconds: float) -> float:
    return round(60 * n / seconds, 1)


def measure(n: int, work: Path, workers: int, dask_workers: int, repeats: int = 1) -> dict:
    """Stock nbgrader against ours on all cores, ``repeats`` back-to-back pairs (the order swaps
    each pair), so that a machine whose speed drifts during the run (a shared host's does, by
    tens of per cent) slows both sides of a pair alike. The headline is the median of the pairs'
    ratios; one worker and Dask are measured once."""
    subs = make_submissions(work / "subs", n)
    ours: list[float] = []
    stock: list[float] = []
    for r in range(repeats):
        pair = [lambda r=r: ours.append(time_autograder(subs, work / f"out-all-{r}", workers)),
                lambda r=r: stock.append(time_nbgrader(work / f"nbg-{r}", n))]
        for run in pair if r % 2 == 0 else pair[::-1]:
            run()
    ratios = sorted(s / o for s, o in zip(stock, ours, strict=True))
    one = time_autograder(subs, work / "out-1", 1)
    with LocalDask(dask_workers, work / "dask") as cluster:
        dask = time_autograder(subs, work / "out-dask", scheduler=cluster.address)
    ours_s, stock_s = statistics.median(ours), statistics.median(stock)
    return {
        "n": n,
        "pairs": repeats,
        "nbgrader_autograde_s": round(stock_s, 2),
        "autograder_1_worker_s": round(one, 2),
        f"autograder_{workers}_workers_s": round(ours_s, 2),
        f"autograder_dask_{dask_workers}_workers_s": round(dask, 2),
        "nbgrader_each_pair_s": [round(t, 2) for t in stock],
        f"autograder_{workers}_workers_each_pair_s": [round(t, 2) for t in ours],
        "speedup_each_pair": [round(s / o, 2) for s, o in zip(stock, ours, strict=True)],
        "nbgrader_per_min": per_min(n, stock_s),
        "autograder_1_worker_per_min": per_min(n, one),
        "autograder_per_min": per_min(n, ours_s),
        "autograder_dask_per_min": per_min(n, dask),
        "speedup_1_worker": round(stock_s / one, 2),
        "speedup_vs_nbgrader": round(statistics.median(ratios), 2),
        "speedup_vs_nbgrader_min": round(ratios[0], 2),
        "speedup_dask_vs_nbgrader": round(stock_s / dask, 2),
    }


PROTECTION = {  # environment of each variant: what the sandbox and the judge cost
    "unprotected": {"AUTOGRADER_SANDBOX": "0", "AUTOGRADER_JUDGE": "0"},
    "sandbox_only": {"AUTOGRADER_SANDBOX": "1", "AUTOGRADER_JUDGE": "0"},
    "judge_only": {"AUTOGRADER_SANDBOX": "0", "AUTOGRADER_JUDGE": "1"},
    "sandbox_and_judge": {"AUTOGRADER_SANDBOX": "1", "AUTOGRADER_JUDGE": "1"},
}


def overhead(n: int, work: Path, repeats: int = 2) -> dict:
    """Per-submission cost of the sandbox and of the judge: one worker, N submissions, each
    variant ``repeats`` times in turn (the best time counts)."""
    subs = make_submissions(work / "subs", n)
    saved = {k: os.environ.get(k) for k in ("AUTOGRADER_SANDBOX", "AUTOGRADER_JUDGE")}
    best: dict[str, float] = {}
    try:
        for r in range(repeats):
            for name, env in PROTECTION.items():
                os.environ.update(env)
                t = time_autograder(subs, work / f"out-{name}-{r}", 1)
                best[name] = min(best.get(name, t), t)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    base = best["unprotected"]
    return {
        "n": n,
        "workers": 1,
        "seconds": {k: round(v, 2) for k, v in best.items()},
        "per_submission_s": {k: round(v / n, 3) for k, v in best.items()},
        "overhead_per_submission_ms": {k: round(1000 * (v - base) / n, 1) for k, v in best.items() if k != "unprotected"},
    }


def scaling(n: int, work: Path, max_workers: int) -> dict:
    """Dask cluster time and parallel efficiency (t1 / (k * tk)) for k = 1, 2, 4, ... workers."""
    counts = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k < max_workers} | {max_workers})
    subs = make_submissions(work / "subs", n)
    times = {}
    for k in counts:
        with LocalDask(k, work / f"dask{k}") as cluster:
            times[k] = time_autograder(subs, work / f"out{k}", scheduler=cluster.address)
    return {
        "n": n,
        "dask_workers_s": {k: round(t, 2) for k, t in times.items()},
        "dask_workers_per_min": {k: per_min(n, t) for k, t in times.items()},
        "efficiency": {k: round(times[1] / (k * t), 2) for k, t in times.items()},
    }


def main() -> None:
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[30, 200], help="copies of the solution to grade (one run per value)")
    parser.add_argument("--workers", type=int, default=cpus, help="autograder workers, process pool (default: all cores)")
    parser.add_argument("--dask-workers", type=int, default=cpus, help="workers of the local Dask cluster (default: all cores)")
    parser.add_argument("--pairs", type=int, default=None,
                        help="back-to-back stock/ours pairs per N (default: 3 up to N = 50, else 1)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the Dask scaling series")
    parser.add_argument("--overhead-n", type=int, default=30, help="submissions for the sandbox/judge overhead (0: skip)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "grading_throughput.json")
    args = parser.parse_args()

    runs = []
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
            pairs = args.pairs or (3 if n <= 50 else 1)
            runs.append(measure(n, Path(tmp), args.workers, args.dask_workers, pairs))
        for key, value in runs[-1].items():
            print(f"{key:>34}: {value}", flush=True)
        print(flush=True)
    scaled = None
    if not args.no_scaling:
        with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
            scaled = scaling(args.n[0], Path(tmp), args.dask_workers)
        print(f"Dask scaling at N = {scaled['n']} (efficiency = t1 / (k * tk)):")
        for k, seconds in scaled["dask_workers_s"].items():
            print(f"  {k:>3} workers: {seconds:>8.2f} s  {scaled['dask_workers_per_min'][k]:>7.1f}/min  "
                  f"efficiency {scaled['efficiency'][k]:.2f}")
    cost = None
    if args.overhead_n:
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
            cost = overhead(args.overhead_n, Path(tmp))
        print(f"Sandbox and judge, 1 worker, N = {cost['n']} (best of 2):")
        for name, seconds in cost["seconds"].items():
            extra = cost["overhead_per_submission_ms"].get(name)
            more = "" if extra is None else f"  {extra:+.1f} ms per submission vs unprotected"
            print(f"  {name:>18}: {seconds:>7.2f} s  {cost['per_submission_s'][name]:.3f} s each{more}")
    headline = next((r for r in runs if r["n"] == 30), runs[0])
    figures = {
        "cpus": cpus,
        "machine": platform.platform(),
        "runs": runs,
        "dask_scaling": scaled,
        "sandbox_judge_overhead": cost,
        "speedup_vs_nbgrader": headline["speedup_vs_nbgrader"],
        "speedup_vs_nbgrader_n": headline["n"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"speedup_vs_nbgrader={headline['speedup_vs_nbgrader']}")


if __name__ == "__main__":
    main()
