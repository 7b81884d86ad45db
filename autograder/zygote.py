"""A fork server for kernels: start each grading kernel from a warm process.

A fresh Python kernel spends most of its start-up importing ipykernel, NumPy, SciPy and
matplotlib. The zygote imports them once; every kernel is then a ``fork()`` of it that starts
the ipykernel app on its own connection file, in its own session (process group), working
directory and environment. Each notebook still gets a process of its own that nothing else has
run in: the zygote never executes student code.

The zygote speaks JSON lines on stdin/stdout: ``{"argv", "cwd", "env"}`` in, ``{"pid"}`` out.
``Settings.zygote=False`` (``AUTOGRADER_ZYGOTE=0``) launches kernels the ordinary way
(:mod:`autograder.kernel`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

# Imported by every zygote before it forks: the kernel itself (ipykernel's debugger module alone
# is 0.04 s of CPU per kernel otherwise) and the judge's agent. None starts a thread at import.
# The rest is what a kernel was seen to import after the fork, at start-up (0.02 s of CPU each).
BASE = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "autograder.agent",
    "IPython.core.oinspect",
    "IPython.core.debugger",
    "IPython.extensions.storemagic",
    "pdb",
    "tornado.platform.asyncio",
    "zmq.utils.garbage",
)
# What else it imports when nobody says (a learner's check()): the libraries most modules use.
# A batch names its module's own imports instead (``preload``; grading.kernel_preload), so that
# kernels of the GPT modules do not each import torch (1.2 s of CPU) and module 00's zygote does
# not import scipy.stats for nothing.
DEFAULT = (
    "numpy",
    "scipy.special",
    "scipy.spatial",
    "scipy.stats",
    "matplotlib",
    "matplotlib.pyplot",
)


def kernel_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a grading kernel (before :meth:`autograder.sandbox.Box.kernel_env`
    confines it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER_TOKEN"))}
    env.update(
        COURSE_PROFILE="quick",
        # Figures as PNG outputs (the inline backend, as in JupyterLab): the feedback page shows them.
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONHASHSEED="0",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
        MKL_NUM_THREADS=env.get("MKL_NUM_THREADS", "1"),
        OPENBLAS_NUM_THREADS=env.get("OPENBLAS_NUM_THREADS", "1"),
    )
    env.update(extra or {})
    return env


# --- the zygote process -----------------------------------------------------------------------


def die_with_parent(orphan_check: bool = True) -> None:
    """Linux: get SIGKILL when the parent process dies (a killed batch leaves nothing behind)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # best effort: Kernel.shutdown still kills what it started
        pass
    if orphan_check and os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def serve() -> None:
    import importlib

    # In bubblewrap our parent is PID 1 of the sandbox (which dies with the grader).
    die_with_parent(orphan_check=os.environ.get("AUTOGRADER_SANDBOXED") != "1")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped by the system
    replies = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing a library prints may corrupt the reply channel
    # Who we are, for a grader outside our PID namespace (see Zygote.host_pid).
    replies.write(json.dumps({"pid": os.getpid(), "ns": _pid_namespace()}) + "\n")
    replies.flush()
    if os.environ.get("AUTOGRADER_SANDBOXED") == "1":
        from autograder.sandbox import prepare_tmp

        prepare_tmp()
    preload = os.environ.get("AUTOGRADER_PRELOAD")
    extra = [m for m in preload.split(",") if m] if preload is not None else DEFAULT
    for name in ("autograder.sandbox", *BASE, *extra):
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional library only costs speed
            pass
    _warm_up()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            replies.close()
            _become_kernel(request, devnull)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()


def _warm_up() -> None:
    """What every kernel would otherwise do again after the fork: matplotlib's first figure
    (its font files, text layout caches, the PNG encoder), and the garbage collector's work.

    The figure is drawn on its own Agg canvas, off pyplot, so no state of pyplot is touched.
    (Not with the kernels' backend, ``matplotlib_inline``: imported before a kernel's shell
    exists, it never connects to that shell, and the notebooks' figures vanish from the
    graded copy.)
    Then every object alive is frozen (``gc.freeze``): a kernel's collections no longer walk
    the hundreds of thousands of objects the imports made, and they no longer write to the
    pages that hold them, which the fork shares with the zygote until they are written."""
    import gc

    if "matplotlib" in sys.modules:
        try:
            import io

            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            figure = Figure(figsize=(2, 2))
            FigureCanvasAgg(figure)
            axes = figure.add_subplot()
            axes.plot([0, 1], [0, 1], label="warm-up")
            axes.set_title("warm-up")
            axes.legend()
            figure.savefig(io.BytesIO(), format="png")
        except Exception:  # only costs speed
            pass
    gc.collect()
    gc.freeze()


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _become_kernel(request: dict, devnull: int) -> None:
    code = 1
    try:
        os.setsid()
        die_with_parent()  # the zygote's death (and so the grader's) ends the kernel too
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(devnull, 0)
        if request.get("sandbox") is not None:
            from autograder.sandbox import enter, enter_folders

            enter(request["sandbox"])  # limits and its own user id, before anything else runs
            enter_folders(request["sandbox"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("sandbox") is not None:
            os.environ["JPY_PARENT_PID"] = "1"  # a PID from outside our namespace: do not poll it
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = [sys.executable, *request["argv"]]
        app = IPKernelApp.instance()
        app.initialize(request["argv"])
        app.start()
        code = 0
    finally:
        os._exit(code)


# --- the grader side --------------------------------------------------------------------------


class Zygote:
    """One zygote per grading process, sandbox mode and preload list, started on first use.

    Sandboxed, the zygote runs inside bubblewrap (see :mod:`autograder.sandbox`), in a PID
    namespace of its own: it answers with the kernel's PID there, which :meth:`host_pid` turns
    into ours.
    """

    _instances: dict[tuple, Zygote] = {}
    _lock = threading.Lock()

    def __init__(
        self,
        env: dict[str, str],
        sandboxed: bool = False,
        preload: tuple[str, ...] | None = None,
        disk: int | None = None,
    ):
        """``disk``: the size of the sandbox's tmpfs, where everything its kernels write goes.
        The zygote exits at the end of its requests (when every holder of the pipe's other end
        has closed it, or died), and its kernels with it."""
        import tempfile

        from autograder import sandbox

        self.sandboxed = sandboxed
        self.key = self._key(sandboxed, preload, disk)
        self.root = sandbox.sandbox_root() if sandboxed else None
        self.adopted = False  # started by another process (the fork server) for this one
        command = [sys.executable, "-m", "autograder.zygote"]
        env = dict(env)
        env.pop("AUTOGRADER_PRELOAD", None)
        if preload is not None:
            env["AUTOGRADER_PRELOAD"] = ",".join(preload)
        if self.root is not None:
            root = self.root
            home = Path(tempfile.mkdtemp(prefix="zygote-", dir=root))
            home.chmod(0o755)
            sandbox.seed_matplotlib(home / ".matplotlib")
            env = {
                **env,
                "AUTOGRADER_SANDBOXED": "1",
                "HOME": str(home),
                "TMPDIR": "/tmp",
                "MPLCONFIGDIR": str(home / ".matplotlib"),
                "IPYTHONDIR": str(home / ".ipython"),
                "XDG_CACHE_HOME": str(home / ".cache"),
            }
            command = [*sandbox.command(root, disk), *command]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            start_new_session=True,
        )
        self.hello: dict | None = None
        self.host: int | None = None  # the zygote's PID as we see it

    @classmethod
    def get(
        cls,
        env: dict[str, str],
        sandboxed: bool = False,
        preload: tuple[str, ...] | None = None,
        disk: int | None = None,
    ) -> Zygote:
        with cls._lock:
            key = cls._key(sandboxed, preload, disk)
            zygote = cls._instances.get(key)
            if zygote is None or not zygote.alive():
                zygote = cls._instances[key] = cls(env, sandboxed, preload, disk)
            return zygote

    @staticmethod
    def _key(sandboxed: bool, preload: tuple[str, ...] | None, disk: int | None) -> tuple:
        """Which zygote a kernel is forked from (one per sandbox mode, preload list and disk)."""
        return (sandboxed, preload, disk if sandboxed else None)

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the kernel zygote exited")
        return json.loads(reply)

    def spawn(
        self, argv: list[str], cwd: str, env: dict[str, str], sandbox: dict | None = None
    ) -> int:
        with self._lock:
            if self.hello is None:
                self.hello = self._read()
            assert self.proc.stdin is not None
            self.proc.stdin.write(
                json.dumps({"argv": argv, "cwd": cwd, "env": env, "sandbox": sandbox}) + "\n"
            )
            self.proc.stdin.flush()
            pid = int(self._read()["pid"])
            return self.host_pid(pid) if self.sandboxed else pid

    def host_pid(self, inner: int) -> int:
        """Our PID for the zygote's child ``inner`` (a PID in the zygote's namespace)."""
        assert self.hello is not None
        ns = self.hello.get("ns", "")
        if self.host is None or _inner_pid(self.host, ns) != self.hello["pid"]:
            self.host = next(
                (p for p in _all_pids() if _inner_pid(p, ns) == self.hello["pid"]), None
            )
        candidates = _children(self.host) if self.host else []
        for pid in [*candidates, *_all_pids()]:
            if _inner_pid(pid, ns) == inner:
                return pid
        raise RuntimeError("the forked kernel exited at once")

    def alive(self) -> bool:
        if not self.adopted:
            return self.proc.poll() is None
        # Not our child: its parent (the fork server) reaps it.
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as handle:
                return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
        except (OSError, IndexError):
            return False

    def release(self) -> None:
        """Close this process's ends of the zygote's pipes (it is another process's now)."""
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        if not self.adopted:
            self.proc.kill()
            self.proc.wait()
            return
        # At the end of its requests it exits, with its kernels. (Not killed by its PID: its
        # parent, the fork server, reaps it, and the PID may be another process's by then.)
        self.release()

    @classmethod
    def stop(cls) -> None:
        with cls._lock:
            for zygote in cls._instances.values():
                zygote.kill()
            cls._instances.clear()


# --- zygotes started ahead by the local pool's fork server ------------------------------------

_AHEAD: list[Zygote] = []  # one for each worker not forked yet


def start_ahead(
    count: int, sandboxed: bool, preload: tuple[str, ...] | None, disk: int | None
) -> None:
    """In the fork server of the local pool's workers (:mod:`autograder.preheat`), before its
    own imports: start ``count`` zygotes, one for each worker it will fork, so that their
    imports (about a second of CPU each) run beside the server's instead of after them.

    Each fork hands the next zygote to the new worker (``os.register_at_fork``), which alone
    then holds the write end of the zygote's requests: at their end the zygote exits, and every
    kernel forked from it with it, so they die with that worker, however it dies (as a zygote
    that the worker starts itself does). Workers forked later (after a crash) start their own."""
    from autograder.sandbox import confined_env

    env = kernel_env()
    for _ in range(count):
        _AHEAD.append(Zygote(confined_env(env) if sandboxed else env, sandboxed, preload, disk))
    os.register_at_fork(after_in_parent=_handed_over, after_in_child=_take_ahead)


def _handed_over() -> None:
    if _AHEAD:
        _AHEAD.pop(0).release()


def _take_ahead() -> None:
    if not _AHEAD:
        return
    mine, others = _AHEAD[0], _AHEAD[1:]
    _AHEAD.clear()
    for zygote in others:
        zygote.release()
    mine.adopted = True
    Zygote._instances[mine.key] = mine
    if mine.root is not None:
        from autograder.sandbox import share_root

        share_root(mine.root)  # its sandbox shows that folder: our kernels' folders go there


def _all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def _inner_pid(pid: int, ns: str) -> int | None:
    """``pid``'s PID in the namespace ``ns`` (None when it lives elsewhere, or is gone)."""
    try:
        if os.readlink(f"/proc/{pid}/ns/pid") != ns:
            return None
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


if __name__ == "__main__":
    serve()
