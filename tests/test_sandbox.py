"""The sandbox: can a submission read what it must not, reach the network, write outside its
folder, exhaust the machine, leave processes behind, or harm its neighbour in the batch?"""

from __future__ import annotations

import csv
import json
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import factories as f
import pytest

from autograder import paths, sandbox
from autograder.grading import grade_notebook
from autograder.kernel import Kernel
from autograder.settings import Limits

pytestmark = pytest.mark.platform

needs_bwrap = pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap is not usable here")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="a user id per kernel needs root")


def attack(code: str, *, kernel: Kernel | None = None, cell_timeout: float = 30, **config) -> tuple:
    """Grade module 00's solution with ``code`` as an extra first cell; return the result and
    what that cell printed (its last line parsed as JSON when it is)."""
    marker = f"# attack {uuid.uuid4().hex}"
    nb = f.with_extra_first_cell(f.solution(), f"{marker}\n{code}")
    limits = Limits(cell_timeout=cell_timeout, notebook_timeout=120, sandbox=sandbox.SandboxConfig(**config))
    result = grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK, limits=limits,
                            kernel=kernel or Kernel(sandbox=limits.sandbox))
    cell = next(c for c in result.graded_nb.cells if c.source.startswith(marker))
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stdout")
    errors = [f"{o['ename']}: {o['evalue']}" for o in cell.outputs if o.get("output_type") == "error"]
    try:
        report = json.loads(text.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        report = None
    return result, report, text, errors


def assert_unharmed(result) -> None:
    """The solution's own cells still score full marks."""
    assert result.score == f.MAX, {g: c.message for g, c in result.cells.items()}




def gone(marker: str, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while f.running(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


PROBE = """
import json, os
def probe(path):
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))[:5] or "empty"
        with open(path, "rb") as handle:
            return handle.read(40).decode("latin-1")
    except Exception as error:
        return type(error).__name__
print(json.dumps({p: probe(p) for p in %r}))
"""


def test_the_sandbox_is_on_in_ci():
    if os.environ.get("CI", "").lower() in ("true", "1") and sys.platform.startswith("linux"):
        assert sandbox.bwrap_available(), f"CI must grade in the sandbox: {sandbox._check()[1]}"


@needs_bwrap
@pytest.mark.parametrize("zygote", ["1", "0"])
def test_secrets_are_not_visible(monkeypatch, tmp_path, zygote):
    monkeypatch.setenv("AUTOGRADER_ZYGOTE", zygote)
    home = tmp_path / "autograder-home"
    monkeypatch.setenv("AUTOGRADER_HOME", str(home))
    (home / "grading").mkdir(parents=True)
    (home / "grading" / "gradebook.db").write_text("grades")
    secret_in_home = Path.home() / f".autograder-sandbox-test-{uuid.uuid4().hex}"
    secret_in_home.write_text("secret")
    monkeypatch.setenv("AUTOGRADER_TEST_TOKEN", "token-value")
    targets = [
        str(paths.source_notebook(f.MODULE, f.NOTEBOOK)),
        str(paths.SOLUTIONS),
        str(paths.REPO / "tests"),
        str(paths.REPO / ".git"),
        str(paths.REPO / "nbgrader_config.py"),
        str(home / "grading" / "gradebook.db"),
        str(secret_in_home),
        str(tmp_path),
        "/etc/shadow",
    ]
    try:
        result, report, text, errors = attack(PROBE % targets + "\nprint(os.environ.get('AUTOGRADER_TEST_TOKEN'))")
    finally:
        secret_in_home.unlink()
    assert result.status == "graded", result.reason
    assert_unharmed(result)
    assert text.strip().splitlines()[-1] == "None", "the grader's environment leaked into the kernel"
    report = json.loads(text.strip().splitlines()[-2])
    leaked = {p: r for p, r in report.items() if r not in ("FileNotFoundError", "PermissionError")}
    assert not leaked, leaked


@needs_bwrap
def test_course_code_is_importable_and_read_only():
    code = ("import course, autograder, numpy, scipy, matplotlib, sklearn, json, os\n"
            "try:\n    open(os.path.join(os.path.dirname(course.__file__), 'x.py'), 'w'); w = 'written'\n"
            "except OSError as e:\n    w = type(e).__name__\n"
            "print(json.dumps(w))")
    result, report, text, errors = attack(code)
    assert not errors, errors
    assert report in ("OSError", "PermissionError"), report
    assert_unharmed(result)


@needs_bwrap
def test_no_network():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        end = time.monotonic() + 40
        while time.monotonic() < end and not accepted:
            try:
                accepted.append(server.accept())
            except (TimeoutError, OSError):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    code = f"""
import json, socket
out = {{}}
for host, port in [("1.1.1.1", 53), ("127.0.0.1", {port}), ("localhost", {port})]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        out[f"{{host}}:{{port}}"] = "connected"
    except OSError as error:
        out[f"{{host}}:{{port}}"] = type(error).__name__
print(json.dumps(out))
"""
    try:
        result, report, text, errors = attack(code)
    finally:
        server.close()
        thread.join()
    assert report and "connected" not in report.values(), report
    assert not accepted, "the kernel reached a server on the host's loopback"
    assert_unharmed(result)


@needs_bwrap
def test_writes_outside_the_working_directory_do_not_reach_the_host(tmp_path):
    name = f"autograder-sandbox-test-{uuid.uuid4().hex}"
    targets = [paths.REPO / name, paths.COURSE / name, Path("/usr") / name, Path("/etc") / name,
               Path("/tmp") / name, tmp_path / name, Path.home() / name, Path(sys.prefix) / name]
    code = f"""
import json
out = {{}}
for path in {[str(t) for t in targets]!r}:
    try:
        open(path, "w").write("x")
        out[path] = "written"
    except OSError as error:
        out[path] = type(error).__name__
open("mine.txt", "w").write("my own folder is writable")
print(json.dumps(out))
"""
    result, report, text, errors = attack(code)
    assert not errors, errors
    leaked = [str(t) for t in targets if t.exists()]
    for t in leaked:
        t.unlink()
    assert not leaked, f"files written by the kernel appeared on the host: {leaked}"
    # /tmp inside the sandbox may be writable (a private tmpfs); nothing else is.
    assert all(v != "written" for p, v in report.items() if not p.startswith("/tmp/")), report
    assert_unharmed(result)


@needs_bwrap
@as_root
def test_other_kernels_folders_are_not_readable():
    neighbour = Kernel()
    try:
        (neighbour.workdir / "answers.txt").write_text("neighbour's work")
        neighbour.adopt_workdir()
        code = f"""
import json, os
out = {{}}
for path in [{str(neighbour.workdir)!r}, {str(neighbour.workdir / 'answers.txt')!r}, {str(neighbour.box.dir)!r},
             os.path.dirname(os.path.dirname(os.getcwd()))]:
    try:
        out[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
    except OSError as error:
        out[path] = type(error).__name__
try:
    open({str(neighbour.workdir / 'planted.py')!r}, "w").write("x")
    out["plant"] = "written"
except OSError as error:
    out["plant"] = type(error).__name__
print(json.dumps(out))
"""
        result, report, text, errors = attack(code)
        assert not errors, errors
        assert all(v == "PermissionError" for v in report.values()), report
        assert not (neighbour.workdir / "planted.py").exists()
        assert_unharmed(result)
    finally:
        neighbour.shutdown()


@needs_bwrap
@as_root
@pytest.mark.parametrize("zygote", ["1", "0"])
def test_a_fork_bomb_is_contained_and_cleaned_up(monkeypatch, zygote):
    monkeypatch.setenv("AUTOGRADER_ZYGOTE", zygote)
    marker = f"{1000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    code = f"""
import os, subprocess, json
children = []
try:
    for _ in range(5000):
        children.append(subprocess.Popen(["sleep", "{marker}"]))
except OSError as error:
    print(json.dumps([len(children), type(error).__name__]))
"""
    kernel = Kernel(sandbox=sandbox.SandboxConfig(processes=64))
    result, report, text, errors = attack(code, kernel=kernel, processes=64)
    assert report is not None and report[0] < 64 and report[1] in ("BlockingIOError", "OSError"), (report, text, errors)
    assert_unharmed(result)  # later cells still ran
    assert gone(marker), "the fork bomb's processes outlived the notebook"
    assert sandbox._processes_of(kernel.box.uid) == 0


@needs_bwrap
@as_root
@pytest.mark.parametrize("zygote", ["1", "0"])
def test_detached_processes_are_gone_after_grading(monkeypatch, zygote):
    monkeypatch.setenv("AUTOGRADER_ZYGOTE", zygote)
    marker = f"{2000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    code = f"""
import os, subprocess
subprocess.Popen(["setsid", "nohup", "sleep", "{marker}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen("(setsid sleep {marker} &) &", shell=True)
if os.fork() == 0:          # double fork, new session
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{marker}"])
    os._exit(0)
import time; time.sleep(0.5)
"""
    kernel = Kernel()
    result, report, text, errors = attack(code, kernel=kernel)
    assert not errors, errors
    assert_unharmed(result)
    assert gone(marker), f"processes started by the notebook outlived it: {f.running(marker)}"
    assert sandbox._processes_of(kernel.box.uid) == 0


@pytest.mark.parametrize("zygote", ["1", "0"])
def test_memory_is_limited_and_the_reason_says_so(monkeypatch, zygote):
    monkeypatch.setenv("AUTOGRADER_ZYGOTE", zygote)
    code = "import numpy as np\nx = np.ones(2**30)  # 8 GiB\nprint(x.sum())"
    result, report, text, errors = attack(code)
    assert errors and "MemoryError" in errors[0], errors
    assert result.status == "graded"
    assert "memory" in result.reason and "4 GiB" in result.reason, result.reason
    assert_unharmed(result)


def test_torch_fits_in_the_default_memory_limit():
    pytest.importorskip("torch")
    code = ("import torch, sklearn, scipy.stats, matplotlib.pyplot as plt, json\n"
            "m = torch.nn.Linear(256, 256); loss = m(torch.randn(64, 256)).pow(2).mean(); loss.backward()\n"
            "x = torch.zeros(256, 1024, 1024, dtype=torch.uint8)  # 256 MiB\n"
            "print(json.dumps(loss.item() > 0))")
    result, report, text, errors = attack(code, cell_timeout=120)
    assert not errors and report is True, (errors, text)
    assert_unharmed(result)


def test_a_huge_file_is_cut_short():
    code = """
import json
written = 0
try:
    with open("big.bin", "wb") as handle:
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            handle.write(chunk); handle.flush(); written += 1
except OSError as error:
    print(json.dumps([written, type(error).__name__, str(error)]))
"""
    result, report, text, errors = attack(code, file_size=16 << 20)
    assert report is not None and report[0] <= 16 and "too large" in report[2].lower(), (report, text, errors)
    assert_unharmed(result)


def test_without_bubblewrap_grading_runs_with_limits_and_one_warning(monkeypatch, capfd):
    monkeypatch.setitem(sandbox._AVAILABLE, "result", (False, "bubblewrap (bwrap) is not installed (simulated)"))
    sandbox._warn_unsandboxed.cache_clear()
    code = "import resource, json\nprint(json.dumps(resource.getrlimit(resource.RLIMIT_AS)[0]))"
    first = attack(code)
    second = attack(code)
    for result, report, text, errors in (first, second):
        assert report == 4 << 30, (report, text, errors)
        assert_unharmed(result)
    err = capfd.readouterr().err
    assert err.count("WITHOUT the sandbox") == 1, err
    assert "--require-sandbox" in err


def test_require_sandbox_is_an_error_without_bubblewrap(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from autograder.cli import main

    monkeypatch.setitem(sandbox._AVAILABLE, "result", (False, "bubblewrap (bwrap) is not installed (simulated)"))
    with pytest.raises(sandbox.SandboxUnavailable):
        Kernel(sandbox=sandbox.SandboxConfig(required=True))
    root = f.nbgrader_layout(tmp_path / "subs", {"ada": f.solution()})
    runner = CliRunner()
    graded = runner.invoke(main, ["grade", str(root), "-m", "00", "--out", str(tmp_path / "out"), "--require-sandbox"])
    assert graded.exit_code != 0 and "sandbox is required" in graded.output, graded.output
    assert not (tmp_path / "out" / "grades.csv").exists()
    nb = f.write(f.solution(), tmp_path / "getting-started.ipynb")
    checked = runner.invoke(main, ["check", str(nb), "--no-record", "--require-sandbox"])
    assert checked.exit_code != 0 and "sandbox is required" in checked.output, checked.output


def test_memory_option_is_parsed():
    assert sandbox.parse_size("4G") == 4 << 30
    assert sandbox.parse_size("512M") == 512 << 20
    assert sandbox.parse_size("1.5GiB") == 3 << 29
    with pytest.raises(ValueError):
        sandbox.parse_size("lots")


@needs_bwrap
@pytest.mark.slow
def test_hostile_submissions_do_not_harm_their_neighbours_in_a_batch(tmp_path):
    from autograder.batch import grade

    marker = f"{3000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**6}"
    hostile = {
        "bomb": f"import subprocess\nps = []\ntry:\n    while True: ps.append(subprocess.Popen(['sleep', '{marker}']))\nexcept OSError: pass",
        "memory": "import numpy as np\nx = np.ones(2**30)",
        "leftover": f"import subprocess\nsubprocess.Popen(['setsid', 'sleep', '{marker}'])",
        "snoop": "import os, glob\nfor p in glob.glob('/tmp/*/*/*'):\n    open(p + '/../planted', 'w')",
        "tmp": "open('/tmp/shared', 'w').write('from a neighbour')",
        "reader": "print(open('/tmp/shared').read())",
    }
    students = {"ada": f.solution(), **{name: f.with_extra_first_cell(f.solution(), code) for name, code in hostile.items()},
                "zoe": f.solution()}
    root = f.nbgrader_layout(tmp_path / "subs", students)
    report = grade(root, module="00", out=tmp_path / "out", workers=1, cell_timeout=20, notebook_timeout=120,
                   progress=False, feedback=False,
                   sandbox=sandbox.SandboxConfig(processes=64))
    with open(report.csv_path, newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    got = {s: (rows[s]["score"], rows[s]["status"]) for s in students}
    assert got == {s: ("8", "graded") for s in students}, {s: rows[s]["reason"] for s in students}
    assert "memory" in rows["memory"]["reason"]
    assert gone(marker), "processes of the batch outlived it"


def test_sandbox_arguments_leave_out_the_repository_secrets():
    args = sandbox.view_args(Path("/tmp/root"))
    bound = {args[i + 1] for i, a in enumerate(args) if a in ("--ro-bind", "--bind")}
    assert str(paths.COURSE) in bound and str(paths.REPO / "autograder") in bound
    for secret in (paths.SOLUTIONS, paths.REPO / "tests", paths.REPO, Path.home()):
        assert str(secret) not in bound
    assert "--unshare-net" in args or "--unshare-all" in args


# --- the disk: what one kernel may write in all -------------------------------------------------

FILL = """
import json, os, tempfile
where = {"cwd": ".", "home": os.path.expanduser("~"), "tmp": tempfile.gettempdir(), "root_tmp": "/tmp", "shm": "/dev/shm"}
written, errors = 0, []
chunk = b"x" * (4 << 20)
for round_ in range(200):  # up to 800 MiB per place, many files
    for name, folder in where.items():
        try:
            with open(os.path.join(folder, f"fill-{round_}.bin"), "wb") as handle:
                handle.write(chunk)
            written += len(chunk)
        except OSError as error:
            errors.append(type(error).__name__)
    if len(errors) > 20:
        break
print(json.dumps([written, errors[:3]]))
"""


def _free_bytes(paths_: list[str]) -> int:
    return sum(os.statvfs(p).f_bavail * os.statvfs(p).f_frsize for p in {os.stat(p).st_dev: p for p in paths_}.values())


@needs_bwrap
@pytest.mark.parametrize("zygote", ["1", "0"])
def test_a_kernel_cannot_write_more_than_its_disk_cap(monkeypatch, zygote):
    """Everything the kernel writes (working directory, home, /tmp, /dev/shm) counts against
    --disk; past it the notebook stops with a status and a reason, and the machine's free disk
    does not drop by the amount the kernel tried to write."""
    monkeypatch.setenv("AUTOGRADER_ZYGOTE", zygote)
    cap = 128 << 20
    watched = ["/", "/tmp", str(sandbox.sandbox_root()), str(Path.home())]
    lowest = [_free_bytes(watched)]
    start = lowest[0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            lowest.append(_free_bytes(watched))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result, report, text, errors = attack(FILL, disk=cap, cell_timeout=60)
    finally:
        done.set()
        sampler.join()
    assert result.status == "disk_full", (result.status, result.reason, text, errors)
    assert "128 MiB" in result.reason and "cell" in result.reason, result.reason
    drop = start - min(lowest)
    assert drop < cap, f"the machine's free disk dropped by {drop / 2**20:.0f} MiB (cap {cap / 2**20:.0f} MiB)"
    # The notebook stopped there: the tests after the filling cell did not run.
    assert result.score == 0 and all(c.message.startswith("not run") for c in result.cells.values()), result.cells


def test_without_bubblewrap_the_disk_cap_is_watched(monkeypatch):
    """Without bubblewrap nothing refuses the writes, but the grader stops the notebook soon
    after it passes its cap, with the same status."""
    monkeypatch.setitem(sandbox._AVAILABLE, "result", (False, "bubblewrap (bwrap) is not installed (simulated)"))
    sandbox._warn_unsandboxed.cache_clear()
    code = ("import time\nwith open('fill.bin', 'wb') as handle:\n"
            "    for _ in range(400):\n        handle.write(b'x' * (1 << 20)); handle.flush(); time.sleep(0.01)\n")
    result, report, text, errors = attack(code, disk=64 << 20, cell_timeout=60)
    assert result.status == "disk_full" and "64 MiB" in result.reason, (result.status, result.reason)


def test_the_disk_option_is_parsed(monkeypatch):
    from click.testing import CliRunner

    from autograder.cli import _sandbox, main

    monkeypatch.setenv("AUTOGRADER_DISK", "512M")
    assert sandbox.SandboxConfig.from_env().disk == 512 << 20
    assert _sandbox(False, None, "3G").disk == 3 << 30
    assert sandbox.SandboxConfig().disk == 2 << 30
    bad = CliRunner().invoke(main, ["grade", ".", "--module", "00", "--disk", "lots"])
    assert bad.exit_code == 2 and "not a size" in bad.output


def test_the_folder_of_the_graders_script_is_not_shown_to_kernels(monkeypatch, tmp_path):
    """A grading script run from /tmp or a home folder puts that folder first on sys.path; the
    sandbox must not bind it (it would show every file there to every kernel, and hide the
    sandbox's own /tmp)."""
    monkeypatch.setattr(sys, "path", [str(tmp_path), "/tmp", str(Path.home()), *sys.path])
    roots = sandbox.python_roots()
    prefix = Path(os.path.realpath(sys.prefix))
    own = {prefix, Path(os.path.realpath(sys.base_prefix))}  # an environment may itself live in /tmp
    shown = [r for r in roots if r in (tmp_path, Path("/tmp"), Path.home()) or Path("/tmp") in r.parents]
    assert not [r for r in shown if r not in own and not any(p in r.parents for p in own)], roots
    assert any(r == prefix or r in prefix.parents for r in roots), f"the environment itself must stay visible: {roots}"
