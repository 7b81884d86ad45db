"""The judge's hands inside the student's kernel (imported there by the grader, never by the
judge).

The judge sends one JSON request per operation (look up the student's names, get an attribute,
call, index, iterate) as a message on a Jupyter *comm* that :func:`install` opens a target for;
:func:`dispatch` performs it on the student's objects and answers with data (see
:mod:`autograder.wire`) or a handle to an object that stays here. Arguments arrive as copies; the
ones the student's code changed in place travel back with the answer (call by value-result), so
the test's own objects change as they would in a plain kernel. Nothing here is trusted: a student
may replace any of it, which changes only the data their own kernel reports, never how the judge
decides.

:func:`install` also seeds ``random``, NumPy and PyTorch before every cell, so every cell starts
from the same generators whatever ran before it.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import sys
from typing import Any

from autograder import wire

SEED = 0
TARGET = "autograder.judge"  # the comm target the judge opens
_objects: dict[int, Any] = {}
_ids = itertools.count(1)


def seed_all(*_: Any) -> None:
    random.seed(SEED)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(SEED)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(SEED)


def install() -> None:
    """Called once by the grader when the kernel starts, before any student code: the module's
    files the grader staged come into the working directory (in the sandbox they are staged
    outside it), cells get seeded, and the judge's channel opens."""
    import os

    stage = os.environ.get("AUTOGRADER_STAGE")
    if stage and os.path.isdir(stage) and os.path.realpath(stage) != os.path.realpath(os.getcwd()):
        import shutil

        shutil.copytree(stage, os.getcwd(), dirs_exist_ok=True, copy_function=shutil.copyfile)
    _start_zmq_garbage_collector()
    ip = _shell()
    if ip is None:
        return
    ip.events.register("pre_run_cell", seed_all)
    kernel = getattr(ip, "kernel", None)
    if kernel is not None and getattr(kernel, "comm_manager", None) is not None:
        kernel.comm_manager.register_target(TARGET, _opened)


def _start_zmq_garbage_collector() -> None:
    """pyzmq sends large messages without copying and frees them from a helper thread that it
    starts on the first such message. Start it now: a notebook that has used up its process
    limit (a fork bomb) cannot start a thread, and the judge's answers would be lost."""
    try:
        from zmq.utils.garbage import gc

        gc.start()
    except Exception:  # no pyzmq here (a plain interpreter): nothing to start
        pass


def _opened(comm, _msg) -> None:
    def on_msg(msg) -> None:
        data = msg.get("content", {}).get("data") or {}
        comm.send({"r": dispatch(data.get("q", ""))})

    comm.on_msg(on_msg)


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _namespace() -> dict:
    ip = _shell()
    return ip.user_ns if ip is not None else sys.modules["__main__"].__dict__


def _handle(obj: Any) -> dict:
    i = next(_ids)
    _objects[i] = obj
    t = type(obj)
    return {"$h": i, "type": f"{t.__module__}.{t.__qualname__}", "callable": callable(obj)}


def _resolve(tag: dict) -> Any:
    try:
        return _objects[int(tag["$h"])]
    except (KeyError, ValueError, TypeError):
        raise LookupError("the grader referred to an object this kernel no longer has") from None


def _op(req: dict, args: list, out: wire.Encoder) -> Any:
    """Perform one operation; its answer, already encoded with ``out``."""
    op = req["op"]
    keep = bool(req.get("keep"))

    def answer(value: Any) -> Any:
        if keep and not (value is None or type(value) in (bool, int, float, str)):
            return _handle(value)
        return out(value)

    if op == "lookup":
        ns = _namespace()
        return [[name, out(ns[name])] for name in req["names"] if name in ns]
    if op == "import":  # a library function, to run here on the student's objects
        import importlib

        obj = importlib.import_module(req["module"])
        for part in req["qualname"].split("."):
            obj = getattr(obj, part)
        return _handle(obj)
    if op == "release":
        for i in req["ids"]:
            _objects.pop(int(i), None)
        return None
    target = _resolve(req["h"])
    if op == "getattr":
        return answer(getattr(target, req["name"]))
    if op == "setattr":
        setattr(target, req["name"], args[0])
        return None
    if op == "call":
        positional, keywords = args
        return answer(target(*positional, **keywords))
    if op == "getitem":
        return answer(target[args[0]])
    if op == "setitem":
        target[args[0]] = args[1]
        return None
    if op == "iter":
        return _handle(iter(target))
    if op == "next":
        try:
            return answer(next(target))
        except StopIteration:
            return {"$stop": 1}
    if op == "len":
        return len(target)
    if op == "contains":
        return bool(args[0] in target)
    if op == "float":
        return float(target)
    if op == "int":
        return int(target)
    if op == "index":
        return target.__index__()
    if op == "str":
        return str(target)[:10_000]
    if op == "repr":
        return repr(target)[:10_000]
    if op == "array":
        import numpy as np

        return out(np.asarray(target))
    if op == "fetch":
        return out(target)
    if op == "deepcopy":
        return _handle(copy.deepcopy(target))
    raise ValueError(f"unknown operation {op!r}")


def dispatch(text: str) -> str:
    """Perform one request; the answer is JSON text: ``{"ok": value, "back": [[i, contents],
    ...]}`` (``back``: the arguments changed in place, by their index in the request) or
    ``{"err": [...]}``."""
    try:
        req = json.loads(text)
        received = wire.Decoder(_resolve, trusted=True)
        args = received(req["a"]) if "a" in req else []
        tracker = wire.Tracker(received.objects)
        out = wire.Encoder(_handle, received=tracker.ids)
        reply: dict[str, Any] = {"ok": _op(req, args, out)}
        back = tracker.changes(out)
        if back:
            reply["back"] = back
        return json.dumps(reply, allow_nan=False, separators=(",", ":"))
    except BaseException as error:  # the judge reports it; the kernel carries on
        if isinstance(error, KeyboardInterrupt):  # the grader's interrupt after a timeout
            return json.dumps({"err": ["KeyboardInterrupt", "KeyboardInterrupt", "interrupted"]})
        name = type(error).__name__
        return json.dumps(
            {"err": [name, _builtin_name(error), str(error)[:4000]]}, separators=(",", ":")
        )


def _builtin_name(error: BaseException) -> str:
    """The nearest builtin exception class, so that ``except ValueError`` works in the judge."""
    import builtins

    for cls in type(error).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"
