"""A grading kernel's life: started confined (its sandbox box, forked from a zygote or launched
plainly), handed out by a pool that keeps the next one starting, and killed with everything it
started when its notebook is done."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import time
import uuid

from jupyter_client.manager import KernelManager
from jupyter_client.provisioning import LocalProvisioner

from autograder import paths
from autograder.sandbox import Box, SandboxConfig, new_box
from autograder.zygote import Zygote, kernel_env

KERNEL_ARGS = ["--HistoryManager.enabled=False"]


class Kernel:
    """A started kernel with its private working directory, confined by :mod:`autograder.sandbox`
    (bubblewrap where it works, rlimits always; ``sandbox`` defaults to the environment's)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        sandbox: SandboxConfig | None = None,
        preload: tuple[str, ...] | None = None,
        zygote: bool = True,
    ):
        """``preload``: modules the kernel will import, imported once in the zygote it is forked
        from (:mod:`autograder.zygote`); None for the zygote's default list. ``zygote=False``
        starts a fresh interpreter instead of forking."""
        paths.ensure_tools_on_path()
        self.box = new_box(sandbox)
        self.workdir = self.box.workdir
        # Sockets live in their own private folder (IPC, not TCP: nothing listens on the network).
        self.sockets = self.box.sockets
        self.km = KernelManager(
            kernel_name="python3",
            transport="ipc",
            ip=str(self.sockets / "k"),
            # nbclient awaits the client's channels: a blocking client would stall its event loop.
            client_class="jupyter_client.asynchronous.AsyncKernelClient",
        )
        # The kernel reads its connection file: it goes in the kernel's own folder.
        self.km.connection_file = str(self.sockets / "kernel.json")
        self.km.log.setLevel(logging.ERROR)
        environment = self.box.kernel_env(kernel_env(env))
        self.km.kernel_id = str(uuid.uuid4())
        provisioner_class = ZygoteProvisioner if zygote else SandboxProvisioner
        provisioner = provisioner_class(
            kernel_id=self.km.kernel_id, kernel_spec=self.km.kernel_spec, parent=self.km
        )
        provisioner.zygote_env = environment
        provisioner.preload = preload
        provisioner.box = self.box
        self.km.provisioner = provisioner
        # No input history: it is a SQLite file in the home directory that every kernel would open.
        self.km.start_kernel(cwd=self.box.cwd, env=environment, extra_arguments=KERNEL_ARGS)

    @property
    def memory_limit(self) -> int:
        return self.box.config.memory

    def adopt_workdir(self) -> None:
        """Hand what the grader copied into the working directory to the kernel's user."""
        self.box.adopt(self.workdir)

    def tmp_views(self) -> list[str]:
        """The sandbox's ``/tmp`` and ``/dev/shm`` as the grader sees them (none without
        bubblewrap)."""
        if not self.box.bwrap:
            return []
        provisioner = getattr(self.km, "provisioner", None)
        shared = getattr(provisioner, "zygote", None)
        pid = (
            shared.host
            if shared is not None and shared.sandboxed
            else _inside(getattr(provisioner, "pid", None))
        )
        return [f"/proc/{pid}/root/{d}" for d in ("tmp", "dev/shm")] if pid else []

    def written(self) -> int:
        """Bytes the kernel has written so far (see :meth:`autograder.sandbox.Box.written`)."""
        return self.box.written(self.tmp_views())

    def lock(self) -> None:
        self.box.lock()

    def kill(self) -> None:
        """SIGKILL the kernel's process group now (the cell loop then sees a dead kernel)."""
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.box.uid is not None:
            from autograder.sandbox import kill_user

            kill_user(self.box.uid)

    def shutdown(self) -> None:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid:
            # Killed here first: jupyter_client's own kill then waits in 0.1 s steps for the
            # process to go, most of which is idle time on every notebook.
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _wait_gone(getattr(provisioner, "process", None), 5.0)
        try:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        except Exception:  # a kernel that is already gone is fine
            pass
        if pid:
            # The kernel leads its own process group: whatever the notebook started dies with it.
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        # Then every process of the kernel's own user, and its files in the zygote's /tmp.
        shared = getattr(provisioner, "zygote", None)
        tmp = (
            [f"/proc/{shared.host}/root/{d}" for d in ("tmp", "dev/shm")]
            if shared is not None and shared.sandboxed and shared.host
            else []
        )
        self.box.cleanup(tmp)


def _inside(pid: int | None) -> int | None:
    """A process under ``pid`` (bubblewrap) that lives in another mount namespace: the sandbox."""
    if not pid:
        return None
    try:
        ours = os.readlink("/proc/self/ns/mnt")
    except OSError:
        return None
    stack, seen = [pid], 0
    while stack and seen < 64:
        current = stack.pop()
        seen += 1
        try:
            if os.readlink(f"/proc/{current}/ns/mnt") != ours:
                return current
            with open(f"/proc/{current}/task/{current}/children") as handle:
                stack += [int(p) for p in handle.read().split()]
        except (OSError, ValueError):
            continue
    return None


def _wait_gone(process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process is not None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


class KernelPool:
    """Keeps ``size`` kernels starting in the background; ``take`` hands out a fresh one."""

    def __init__(
        self,
        size: int = 1,
        env: dict[str, str] | None = None,
        sandbox: SandboxConfig | None = None,
        preload: tuple[str, ...] | None = None,
        zygote: bool = True,
    ):
        self.size, self.env, self.preload, self.zygote = size, env, preload, zygote
        self.sandbox = (sandbox or SandboxConfig.from_env()).resolved()
        self._ready: list[Kernel] = [self._new() for _ in range(size)]

    def _new(self) -> Kernel:
        return Kernel(self.env, self.sandbox, self.preload, self.zygote)

    def take(
        self, sandbox: SandboxConfig | None = None, preload: tuple[str, ...] | None = None
    ) -> Kernel:
        """A started kernel; with ``sandbox`` (a batch's own limits) one confined that way, and
        with ``preload`` (a module's imports) one forked from a zygote that imported those. The
        kernel starting ahead is kept when both are what the pool already has."""
        if sandbox is not None and not _same_box(sandbox.resolved(), self.sandbox):
            self.close()
            self.sandbox = sandbox.resolved()
        if preload is not None and preload != self.preload:
            self.close()
            self.preload = preload
        kernel = self._ready.pop(0) if self._ready else self._new()
        while len(self._ready) < self.size:
            self._ready.append(self._new())
        return kernel

    def close(self) -> None:
        while self._ready:
            self._ready.pop().shutdown()


def _same_box(a: SandboxConfig, b: SandboxConfig) -> bool:
    return dataclasses.replace(a, required=False) == dataclasses.replace(b, required=False)


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
                raise subprocess.TimeoutExpired([str(self.pid)], timeout or 0.0)
            time.sleep(0.02)
        return self.returncode or 0

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


class SandboxProvisioner(LocalProvisioner):
    """Starts the kernel confined (see :mod:`autograder.sandbox`): the connection file handed
    to the kernel's user, the command wrapped in bubblewrap and the limits."""

    box: Box | None = None
    zygote_env: dict[str, str] = {}
    preload: tuple[str, ...] | None = None  # see Zygote

    def _hand_over(self) -> None:
        if self.box is not None and self.box.uid is not None and self.parent is not None:
            os.chown(self.parent.connection_file, self.box.uid, self.box.uid)

    async def launch_kernel(self, cmd: list[str], **kwargs):
        if self.box is not None:
            from autograder import sandbox

            self._hand_over()
            cmd = sandbox.wrap(cmd, self.box)
            kwargs["cwd"] = str(self.box.dir)  # on this side; the wrapper goes to the kernel's own
        return await super().launch_kernel(cmd, **kwargs)


class ZygoteProvisioner(SandboxProvisioner):
    """Launches the kernel by forking the zygote instead of starting a new interpreter."""

    zygote: Zygote | None = None  # the one this kernel was forked from

    async def launch_kernel(self, cmd: list[str], **kwargs):
        try:
            start = cmd.index("ipykernel_launcher") + 1
        except ValueError:
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        box = self.box
        try:
            self._hand_over()
            zygote = Zygote.get(
                self.zygote_env or env,
                sandboxed=bool(box and box.bwrap),
                preload=self.preload,
                disk=box.config.disk if box is not None else None,
            )
            pid = zygote.spawn(cmd[start:], cwd, env, box.spec() if box is not None else None)
            self.zygote = zygote
        except (OSError, RuntimeError, ValueError):
            return await super().launch_kernel(cmd, **kwargs)
        # What jupyter_client uses of a Popen, for a process the zygote started.
        self.process = ForkedProcess(pid)  # type: ignore[assignment]
        self.pid = self.pgid = pid
        self.cwd = cwd
        return self.connection_info
