"""Run a notebook in a fresh kernel, cell by cell, with time limits; never raise for the
student's sake.

A kernel is started ahead of time (:class:`KernelPool`) so that a worker grading a batch pays the
kernel's start-up while the previous notebook runs. Each notebook gets a kernel of its own, in a
private working directory, and the kernel is killed when the notebook is done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import queue
import signal
import time
from dataclasses import dataclass, field

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_hook
from nbformat import NotebookNode

from autograder import paths, zygote
from autograder.sandbox import SandboxConfig, describe, new_box


@dataclass
class Limits:
    """Time and output limits for one notebook."""

    cell_timeout: float = 120.0  # seconds one cell may run
    notebook_timeout: float = 600.0  # seconds the whole notebook may run
    startup_timeout: float = 60.0  # seconds for the kernel to answer
    cell_output_chars: int = 200_000  # output kept per cell (characters, all outputs together)
    notebook_output_chars: int = 2_000_000  # output kept for the whole notebook
    # Bubblewrap and rlimits of the kernel (autograder.sandbox); travels with the limits to workers.
    sandbox: SandboxConfig = field(default_factory=SandboxConfig.from_env)


class CappedClient(NotebookClient):
    """nbclient with output caps: past a cap, outputs are dropped (errors are kept, shortened),
    so a notebook printing megabytes cannot bloat the graded copy, the feedback or the grader."""

    def __init__(self, *args, limits: Limits, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.cell_chars: dict[int, int] = {}
        self.total_chars = 0
        self.truncated: set[int] = set()

    async def async_start_new_kernel_client(self):
        """nbclient's, with a quicker readiness check. jupyter_client's ``wait_for_ready`` waits
        0.2 s for an IOPub message after the first ``kernel_info`` reply, and on a fresh kernel
        that message is usually lost (ZeroMQ's slow joiner): 0.2 s of idle time per notebook.
        Here ``kernel_info`` is asked again every 10 ms until IOPub has spoken too."""
        self.kc = self.km.client()
        await ensure_async(self.kc.start_channels())
        try:
            await _wait_for_ready(self.kc, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if msg.get("msg_type") == "error":
            content["traceback"] = [line[:2000] for line in content.get("traceback", [])[-20:]]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            return super().output(outs, msg, display_id, cell_index)
        size = _size(content)
        used = self.cell_chars.get(cell_index, 0)
        if used + size > self.limits.cell_output_chars or self.total_chars + size > self.limits.notebook_output_chars:
            if cell_index not in self.truncated:
                self.truncated.add(cell_index)
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr",
                    text=f"[autograder: output truncated; a cell may print {self.limits.cell_output_chars:,} "
                    f"characters and a notebook {self.limits.notebook_output_chars:,}]\n"))
            return None
        self.cell_chars[cell_index] = used + size
        self.total_chars += size
        return super().output(outs, msg, display_id, cell_index)


async def _wait_for_ready(kc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        kc.kernel_info()
        try:
            reply = await kc.shell_channel.get_msg(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
        except queue.Empty:
            reply = None
        if reply is not None and reply.get("msg_type") == "kernel_info_reply":
            for _ in range(3):
                try:
                    await kc.iopub_channel.get_msg(timeout=0.01)
                except queue.Empty:
                    continue
                kc._handle_kernel_info_reply(reply)
                return
        if not await kc._async_is_alive():
            raise RuntimeError("the kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not answer in {timeout:g} s")


def _size(content: dict) -> int:
    text = content.get("text")
    if isinstance(text, str):
        return len(text)
    data = content.get("data") or {}
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values()) + 1


@dataclass
class Execution:
    """What happened when a notebook ran."""

    status: str = "graded"  # graded | timeout | kernel_died
    reason: str = ""
    ran: set[int] = field(default_factory=set)  # indices of cells that ran to completion
    timed_out: list[int] = field(default_factory=list)
    seconds: float = 0.0


def kernel_env(extra: dict[str, str] | None = None) -> dict[str, str]:
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


KERNEL_ARGS = ["--HistoryManager.enabled=False"]


class Kernel:
    """A started kernel with its private working directory, confined by :mod:`autograder.sandbox`
    (bubblewrap where it works, rlimits always; ``sandbox`` defaults to the environment's)."""

    def __init__(self, env: dict[str, str] | None = None, sandbox: SandboxConfig | None = None,
                 preload: tuple[str, ...] | None = None):
        """``preload``: modules the kernel will import, imported once in the zygote it is forked
        from (:mod:`autograder.zygote`); None for the zygote's default list."""
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
        import uuid

        self.km.kernel_id = str(uuid.uuid4())
        provisioner_class = zygote.ZygoteProvisioner if zygote.enabled() else zygote.SandboxProvisioner
        provisioner = provisioner_class(kernel_id=self.km.kernel_id, kernel_spec=self.km.kernel_spec, parent=self.km)
        provisioner.zygote_env = environment
        provisioner.preload = preload
        provisioner.box = self.box
        self.km.provisioner = provisioner
        # No input history: it is a SQLite file in the home directory that every kernel would open.
        self.km.start_kernel(cwd=str(self.workdir), env=environment, extra_arguments=KERNEL_ARGS)

    @property
    def memory_limit(self) -> int:
        return self.box.config.memory

    def adopt_workdir(self) -> None:
        """Hand what the grader copied into the working directory to the kernel's user."""
        self.box.adopt(self.workdir)

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
            _wait_gone(provisioner.process, 5.0)
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
        tmp = ([f"/proc/{shared.host}/root/{d}" for d in ("tmp", "dev/shm")]
               if shared is not None and shared.sandboxed and shared.host else [])
        self.box.cleanup(tmp)


def _wait_gone(process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process is not None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


class KernelPool:
    """Keeps ``size`` kernels starting in the background; ``take`` hands out a fresh one."""

    def __init__(self, size: int = 1, env: dict[str, str] | None = None, sandbox: SandboxConfig | None = None,
                 preload: tuple[str, ...] | None = None):
        self.size, self.env, self.sandbox, self.preload = size, env, sandbox, preload
        self._ready: list[Kernel] = [self._new() for _ in range(size)]

    def _new(self) -> Kernel:
        return Kernel(self.env, self.sandbox, self.preload)

    def take(self, sandbox: SandboxConfig | None = None, preload: tuple[str, ...] | None = None) -> Kernel:
        """A started kernel; with ``sandbox`` (a batch's own limits) one confined that way, and
        with ``preload`` (a module's imports) one forked from a zygote that imported those."""
        if sandbox is not None and not _same_box(sandbox, self.sandbox or SandboxConfig.from_env()):
            self.close()
            self.sandbox = sandbox
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


def _error_output(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


async def _run(client: NotebookClient, nb: NotebookNode, limits: Limits, out: Execution, judge=None) -> None:
    start = time.monotonic()
    async with client.async_setup_kernel():
        # The agent seeds every cell (with or without the judge, so that both grade alike) and
        # answers the judge's requests.
        if not await _install_agent(client, limits, out, judge is not None):
            return
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            left = limits.notebook_timeout - (time.monotonic() - start)
            if left <= 0:
                out.status = "timeout"
                out.reason = f"the notebook exceeded its {limits.notebook_timeout:g} s limit before cell {index}"
                return
            client.timeout = int(max(1, min(limits.cell_timeout, left)))
            try:
                if judge is not None and judge.owns(cell):
                    if not await _judge_cell(client, judge, cell, index, limits, out):
                        return
                    continue
                await client.async_execute_cell(cell, index)
                out.ran.add(index)
            except CellTimeoutError:
                out.timed_out.append(index)
                cell.outputs.append(_error_output("TimeoutError", f"cell exceeded {client.timeout} s"))
                if not await _recover(client):
                    out.status = "timeout"
                    out.reason = f"cell {index} ran past {client.timeout} s and did not stop when interrupted"
                    return
            except DeadKernelError:
                out.status = "kernel_died"
                out.reason = f"the kernel died in cell {index} (a crash or the memory limit)"
                cell.outputs.append(_error_output("DeadKernelError", "the kernel died in this cell"))
                return
    if out.timed_out and out.status == "graded":
        out.status = "timeout"
        cells = ", ".join(str(i) for i in out.timed_out)
        out.reason = f"cell {cells} ran past the per-cell limit and was interrupted; later cells still ran"


async def _install_agent(client: NotebookClient, limits: Limits, out: Execution, judge: bool = True) -> bool:
    """Load the judge's agent into the fresh kernel (before any student code runs) and, for the
    judge, open the comm its requests travel on."""
    kc = client.kc
    msg_id = kc.execute("import autograder.agent as _autograder_agent; _autograder_agent.install(); "
                        "del _autograder_agent", silent=True, store_history=False)
    deadline = time.monotonic() + limits.startup_timeout
    while time.monotonic() < deadline:
        try:
            reply = await kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
        except Exception:
            break
        if reply["parent_header"].get("msg_id") == msg_id:
            if reply["content"].get("status") == "ok":
                if judge:
                    import uuid

                    from autograder.agent import TARGET

                    client.judge_comm = uuid.uuid4().hex
                    kc.shell_channel.send(kc.session.msg(
                        "comm_open", {"comm_id": client.judge_comm, "target_name": TARGET, "data": {}}))
                return True
            out.status = "error"
            out.reason = f"the grader could not set up the kernel: {reply['content'].get('ename')}: {reply['content'].get('evalue')}"
            return False
    out.status, out.reason = "error", "the grader could not set up the kernel (no answer)"
    return False


async def _judge_cell(client: NotebookClient, judge, cell: NotebookNode, index: int, limits: Limits,
                      out: Execution) -> bool:
    """Run a graded test cell in the judge; False when the notebook cannot go on."""
    from autograder.judge import Link, alive

    timeout = client.timeout
    link = Link(client, asyncio.get_running_loop(), time.monotonic() + timeout)
    work = asyncio.ensure_future(asyncio.to_thread(judge.run, cell.source, link, limits.cell_output_chars))
    done, _ = await asyncio.wait({work}, timeout=timeout)
    cell.outputs = []
    if work in done:
        cell.outputs = [nbformat.from_dict(o) for o in work.result()]
        out.ran.add(index)
        if any(o.get("ename") == "GraderError" and "died" in str(o.get("evalue")) for o in cell.outputs):
            if not await alive(client):
                out.status = "kernel_died"
                out.reason = f"the kernel died in cell {index} (a crash or the memory limit)"
                return False
        return True
    link.closed = True
    out.timed_out.append(index)
    cell.outputs.append(_error_output("TimeoutError", f"the test ran past {timeout} s"))
    if not await _recover(client):
        out.status = "timeout"
        out.reason = f"cell {index} ran past {timeout} s and the kernel did not stop when interrupted"
        return False
    return True


async def _recover(client: NotebookClient, wait: float = 5.0) -> bool:
    """Interrupt a kernel stuck in a cell; True when it answers again."""
    try:
        client.km.interrupt_kernel()
        msg_id = client.kc.execute("pass", silent=True, store_history=False)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reply = await client.kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return True
    except Exception:
        return False
    return False


def execute(nb: NotebookNode, kernel: Kernel, limits: Limits | None = None, judge=None) -> Execution:
    """Run ``nb`` in place (outputs are written into its cells) in ``kernel``; then kill it.

    With a ``judge`` (:class:`autograder.judge.Judge`), graded test cells run in the judge, not in
    the kernel."""
    limits = limits or Limits()
    out = Execution()
    client = CappedClient(
        nb,
        limits=limits,
        km=kernel.km,
        timeout=int(limits.cell_timeout),
        startup_timeout=int(limits.startup_timeout),
        allow_errors=True,
        interrupt_on_timeout=False,
        record_timing=False,
        resources={"metadata": {"path": str(kernel.workdir)}},
    )
    started = time.monotonic()
    try:
        asyncio.run(_run(client, nb, limits, out, judge)) if not _loop_running() else _run_in_thread(client, nb, limits, out, judge)
    except DeadKernelError:
        out.status, out.reason = "kernel_died", "the kernel died before it could run the notebook"
    except RuntimeError as error:  # the kernel never answered
        out.status, out.reason = "kernel_died", f"the kernel did not start: {error}"
    finally:
        out.seconds = time.monotonic() - started
        kernel.shutdown()
    _note_memory(nb, kernel, out)
    return out


def _note_memory(nb: NotebookNode, kernel: Kernel, out: Execution) -> None:
    """Say so in the reason when a cell ran into the kernel's memory limit."""
    cells = sorted({i for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
                    if o.get("output_type") == "error" and "MemoryError" in str(o.get("ename", ""))})
    if cells:
        note = (f"cell {', '.join(map(str, cells))} ran out of memory (MemoryError): the memory limit is "
                f"{describe(kernel.memory_limit)}")
        out.reason = f"{out.reason}; {note}" if out.reason else note


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_in_thread(client, nb, limits, out, judge=None) -> None:
    # Inside a running event loop (a notebook calling `check()`), run ours in a thread.
    import threading

    error: list[BaseException] = []

    def target():
        try:
            asyncio.run(_run(client, nb, limits, out, judge))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
