"""A fork server for kernels: start each grading kernel from a warm process.

A fresh Python kernel spends most of its start-up importing ipykernel, NumPy, SciPy and
matplotlib. The zygote imports them once; every kernel is then a ``fork()`` of it that starts
the ipykernel app on its own connection file, in its own session (process group), working
directory and environment. Each notebook still gets a process of its own that nothing else has
run in: the zygote never executes student code.

The zygote speaks JSON lines on stdin/stdout: ``{"argv", "cwd", "env"}`` in, ``{"pid"}`` out.
Set ``AUTOGRADER_ZYGOTE=0`` to launch kernels the ordinary way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from jupyter_client.provisioning import LocalProvisioner

# Imported by the zygote before it forks; none of them starts threads at import.
PRELOAD = (
    "ipykernel.kernelapp",
    "numpy",
    "scipy.special",
    "scipy.spatial",
    "scipy.stats",
    "matplotlib",
    "matplotlib.pyplot",
)


def enabled() -> bool:
    return os.environ.get("AUTOGRADER_ZYGOTE", "1") != "0" and hasattr(os, "fork")


# --- the zygote process -----------------------------------------------------------------------


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent process dies (a killed batch leaves nothing behind)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # best effort: Kernel.shutdown still kills what it started
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def serve() -> None:
    import importlib

    die_with_parent()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped by the system
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional library only costs speed
            pass
    replies = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing a library prints may corrupt the reply channel
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            replies.close()
            _become_kernel(request, devnull)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()


def _become_kernel(request: dict, devnull: int) -> None:
    code = 1
    try:
        os.setsid()
        die_with_parent()  # the zygote's death (and so the grader's) ends the kernel too
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(devnull, 0)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
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
    """One zygote per grading process, started on first use."""

    _instance: Zygote | None = None
    _lock = threading.Lock()

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            start_new_session=True,
        )

    @classmethod
    def get(cls, env: dict[str, str]) -> Zygote:
        with cls._lock:
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = cls(env)
            return cls._instance

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str]) -> int:
        with self._lock:
            self.proc.stdin.write(json.dumps({"argv": argv, "cwd": cwd, "env": env}) + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the kernel zygote exited")
        return int(json.loads(reply)["pid"])

    @classmethod
    def stop(cls) -> None:
        with cls._lock:
            if cls._instance is not None:
                cls._instance.proc.kill()
                cls._instance = None


class ForkedProcess:
    """The parts of ``subprocess.Popen`` that jupyter_client uses, for a process we did not
    start ourselves (the zygote did, and the system reaps it)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired([str(self.pid)], timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.send_signal(signal.SIGKILL)


class ZygoteProvisioner(LocalProvisioner):
    """Launches the kernel by forking the zygote instead of starting a new interpreter."""

    zygote_env: dict[str, str] = {}

    async def launch_kernel(self, cmd: list[str], **kwargs):
        try:
            start = cmd.index("ipykernel_launcher") + 1
        except ValueError:
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            pid = Zygote.get(self.zygote_env or env).spawn(cmd[start:], cwd, env)
        except (OSError, RuntimeError, ValueError):
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedProcess(pid)
        self.pid = self.pgid = pid
        self.cwd = cwd
        return self.connection_info


if __name__ == "__main__":
    serve()
