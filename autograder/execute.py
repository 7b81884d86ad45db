"""The cell loop: run a notebook in its kernel, cell by cell, with time limits, graded test
cells in the judge; never raise for the student's sake.

The kernel comes started (:mod:`autograder.kernel`); when the notebook is done it is killed.
What happened comes back as an :class:`Execution`: which cells ran, which timed out, and the
notebook's status (``graded``, ``timeout``, ``disk_full``, ``kernel_died``, ``error``).
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
from dataclasses import dataclass, field

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_hook
from nbformat import NotebookNode

from autograder.kernel import Kernel
from autograder.sandbox import describe
from autograder.settings import Limits


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
        if (
            used + size > self.limits.cell_output_chars
            or self.total_chars + size > self.limits.notebook_output_chars
        ):
            if cell_index not in self.truncated:
                self.truncated.add(cell_index)
                outs.append(
                    nbformat.v4.new_output(
                        "stream",
                        name="stderr",
                        text=f"[autograder: output truncated; a cell may print {self.limits.cell_output_chars:,} "
                        f"characters and a notebook {self.limits.notebook_output_chars:,}]\n",
                    )
                )
            return None
        self.cell_chars[cell_index] = used + size
        self.total_chars += size
        return super().output(outs, msg, display_id, cell_index)


async def _wait_for_ready(kc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        kc.kernel_info()
        try:
            reply = await kc.shell_channel.get_msg(
                timeout=max(0.01, min(1.0, deadline - time.monotonic()))
            )
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

    status: str = "graded"  # graded | timeout | disk_full | kernel_died
    reason: str = ""
    ran: set[int] = field(default_factory=set)  # indices of cells that ran to completion
    timed_out: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _error_output(ename: str, evalue: str) -> dict:
    return {
        "output_type": "error",
        "ename": ename,
        "evalue": evalue,
        "traceback": [f"{ename}: {evalue}"],
    }


class DiskFull(Exception):
    """The kernel wrote more than it may (``Limits.sandbox.disk``)."""


async def _watch_disk(kernel: Kernel, cap: int, every: float = 0.2) -> None:
    """Kill the kernel as soon as it has written more than ``cap`` bytes (in bubblewrap its
    tmpfs already refuses writes past it; this stops the notebook and says why)."""
    while True:
        await asyncio.sleep(every)
        if await asyncio.to_thread(kernel.written) > cap:
            kernel.kill()
            return


async def _run(
    client: NotebookClient,
    nb: NotebookNode,
    limits: Limits,
    out: Execution,
    judge=None,
    kernel: Kernel | None = None,
) -> None:
    cap = limits.sandbox.disk
    async with client.async_setup_kernel():
        watcher = None
        if kernel is not None:
            kernel.lock()  # its sockets are made: the kernel's folder is the grader's from now on
            watcher = asyncio.ensure_future(_watch_disk(kernel, cap))
        try:
            # The agent seeds every cell (with or without the judge, so that both grade alike)
            # and answers the judge's requests.
            if await _install_agent(client, limits, out, judge is not None):
                await _cells(client, nb, limits, out, judge, kernel, watcher)
        finally:
            if watcher is not None:
                watcher.cancel()
    if out.timed_out and out.status == "graded":
        out.status = "timeout"
        cells = ", ".join(str(i) for i in out.timed_out)
        out.reason = (
            f"cell {cells} ran past the per-cell limit and was interrupted; later cells still ran"
        )


async def _cells(
    client, nb, limits: Limits, out: Execution, judge, kernel: Kernel | None, watcher
) -> None:
    """The cell loop: each code cell in the kernel, or in the judge when it is a graded test."""
    start = time.monotonic()
    cap = limits.sandbox.disk

    def stopped_for_disk(index: int) -> bool:
        if kernel is None or not (watcher is not None and watcher.done() or kernel.written() > cap):
            return False
        out.status = "disk_full"
        out.reason = (
            f"cell {index} wrote more than the {describe(cap)} a notebook may write "
            "(files, temporary files and caches together); the notebook was stopped there"
        )
        nb.cells[index].outputs.append(
            _error_output("DiskFull", f"the notebook wrote more than {describe(cap)}")
        )
        out.ran.discard(index)
        return True

    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        left = limits.notebook_timeout - (time.monotonic() - start)
        if left <= 0:
            out.status = "timeout"
            out.reason = (
                f"the notebook exceeded its {limits.notebook_timeout:g} s limit before cell {index}"
            )
            return
        client.timeout = int(max(1, min(limits.cell_timeout, left)))
        try:
            if judge is not None and judge.owns(cell):
                going = await _judge_cell(client, judge, cell, index, limits, out)
                if stopped_for_disk(index) or not going:
                    return
                continue
            await client.async_execute_cell(cell, index)
            out.ran.add(index)
            if stopped_for_disk(index):
                return
        except CellTimeoutError:
            out.timed_out.append(index)
            cell.outputs.append(_error_output("TimeoutError", f"cell exceeded {client.timeout} s"))
            if not await _recover(client):
                out.status = "timeout"
                out.reason = (
                    f"cell {index} ran past {client.timeout} s and did not stop when interrupted"
                )
                return
        except DeadKernelError:
            if stopped_for_disk(index):
                return
            out.status = "kernel_died"
            out.reason = f"the kernel died in cell {index} (a crash or the memory limit)"
            cell.outputs.append(_error_output("DeadKernelError", "the kernel died in this cell"))
            return


async def _install_agent(
    client: NotebookClient, limits: Limits, out: Execution, judge: bool = True
) -> bool:
    """Load the judge's agent into the fresh kernel (before any student code runs) and, for the
    judge, open the comm its requests travel on."""
    kc = client.kc
    code = "import autograder.agent as _autograder_agent; _autograder_agent.install(); del _autograder_agent"
    try:
        reply = await kc.execute(
            code, silent=True, store_history=False, reply=True, timeout=limits.startup_timeout
        )
    except (TimeoutError, queue.Empty):
        out.status, out.reason = "error", "the grader could not set up the kernel (no answer)"
        return False
    content = reply.get("content", {})
    if content.get("status") != "ok":
        out.status = "error"
        out.reason = f"the grader could not set up the kernel: {content.get('ename')}: {content.get('evalue')}"
        return False
    if judge:
        import uuid

        from autograder.agent import TARGET

        client.judge_comm = uuid.uuid4().hex
        kc.shell_channel.send(
            kc.session.msg(
                "comm_open", {"comm_id": client.judge_comm, "target_name": TARGET, "data": {}}
            )
        )
    return True


async def _judge_cell(
    client: NotebookClient, judge, cell: NotebookNode, index: int, limits: Limits, out: Execution
) -> bool:
    """Run a graded test cell in the judge; False when the notebook cannot go on."""
    from autograder.judge import Link, alive

    timeout = client.timeout
    link = Link(client, asyncio.get_running_loop(), time.monotonic() + timeout)
    work = asyncio.ensure_future(
        asyncio.to_thread(judge.run, cell.source, link, limits.cell_output_chars)
    )
    done, _ = await asyncio.wait({work}, timeout=timeout)
    cell.outputs = []
    if work in done:
        cell.outputs = [nbformat.from_dict(o) for o in work.result()]
        out.ran.add(index)
        if any(
            o.get("ename") == "GraderError" and "died" in str(o.get("evalue")) for o in cell.outputs
        ):
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
        out.reason = (
            f"cell {index} ran past {timeout} s and the kernel did not stop when interrupted"
        )
        return False
    return True


async def _recover(client: NotebookClient, wait: float = 5.0) -> bool:
    """Interrupt a kernel stuck in a cell; True when it answers again."""
    try:
        client.km.interrupt_kernel()
        await client.kc.execute("pass", silent=True, store_history=False, reply=True, timeout=wait)
    except Exception:
        return False
    return True


def execute(
    nb: NotebookNode, kernel: Kernel, limits: Limits | None = None, judge=None
) -> Execution:
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
        if _loop_running():
            _run_in_thread(client, nb, limits, out, judge, kernel)
        else:
            asyncio.run(_run(client, nb, limits, out, judge, kernel))
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
    cells = sorted(
        {
            i
            for i, c in enumerate(nb.cells)
            for o in c.get("outputs", [])
            if o.get("output_type") == "error" and "MemoryError" in str(o.get("ename", ""))
        }
    )
    if cells:
        note = (
            f"cell {', '.join(map(str, cells))} ran out of memory (MemoryError): the memory limit is "
            f"{describe(kernel.memory_limit)}"
        )
        out.reason = f"{out.reason}; {note}" if out.reason else note


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_in_thread(client, nb, limits, out, judge=None, kernel=None) -> None:
    # Inside a running event loop (a notebook calling `check()`), run ours in a thread.
    import threading

    error: list[BaseException] = []

    def target():
        try:
            asyncio.run(_run(client, nb, limits, out, judge, kernel))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
