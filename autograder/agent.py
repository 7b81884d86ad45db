"""The judge's hands inside the student's kernel (imported there by the grader, never by the
judge).

The judge sends one JSON request per operation (look up the student's names, get an
attribute, call, index, iterate) through the kernel's ``user_expressions``; :func:`dispatch`
performs it on the student's objects and answers with data (see :mod:`autograder.wire`) or a
handle to an object that stays here. Nothing here is trusted: a student may replace any of it,
which changes only the data their own kernel reports, never how the judge decides.

:func:`install` also seeds ``random``, NumPy and PyTorch before every cell, so every cell
starts from the same generators whatever ran before it.
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
    """Called once by the grader when the kernel starts."""
    ip = _shell()
    if ip is not None:
        ip.events.register("pre_run_cell", seed_all)


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


def _out(value: Any, keep: bool = False) -> Any:
    if keep and not (value is None or type(value) in (bool, int, float, str)):
        return _handle(value)
    return wire.encode(value, _handle)


def _in(value: Any) -> Any:
    return wire.decode(value, _resolve, trusted=True)


def _op(req: dict) -> Any:
    op = req["op"]
    keep = bool(req.get("keep"))
    if op == "lookup":
        ns = _namespace()
        return [[name, _out(ns[name])] for name in req["names"] if name in ns]
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
        return _out(getattr(target, req["name"]), keep)
    if op == "setattr":
        setattr(target, req["name"], _in(req["value"]))
        return None
    if op == "call":
        args = _in(req.get("args", []))
        kwargs = _in(req.get("kwargs", {"$d": []}))
        return _out(target(*args, **kwargs), keep)
    if op == "getitem":
        return _out(target[_in(req["key"])], keep)
    if op == "setitem":
        target[_in(req["key"])] = _in(req["value"])
        return None
    if op == "iter":
        return _handle(iter(target))
    if op == "next":
        try:
            return _out(next(target), keep)
        except StopIteration:
            return {"$stop": 1}
    if op == "len":
        return len(target)
    if op == "contains":
        return bool(_in(req["item"]) in target)
    if op in ("float", "int", "index"):
        return {"float": float, "int": int, "index": lambda v: v.__index__()}[op](target)
    if op == "str":
        return str(target)[:10_000]
    if op == "repr":
        return repr(target)[:10_000]
    if op == "array":
        import numpy as np

        return _out(np.asarray(target))
    if op == "fetch":
        return _out(target)
    if op == "deepcopy":
        return _handle(copy.deepcopy(target))
    raise ValueError(f"unknown operation {op!r}")


def dispatch(text: str) -> str:
    """Perform one request; the answer is JSON text: ``{"ok": value}`` or ``{"err": [...]}``."""
    try:
        result = _op(json.loads(text))
        return json.dumps({"ok": result}, allow_nan=False, separators=(",", ":"))
    except KeyboardInterrupt:  # the grader's interrupt after a timeout
        raise
    except BaseException as error:  # the judge reports it; the kernel carries on
        name = type(error).__name__
        return json.dumps({"err": [name, _builtin_name(error), str(error)[:4000]]}, separators=(",", ":"))


def _builtin_name(error: BaseException) -> str:
    """The nearest builtin exception class, so that ``except ValueError`` works in the judge."""
    import builtins

    for cls in type(error).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"
