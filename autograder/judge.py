"""The judge: graded test cells run here, in the grader's process, never in the student's kernel.

The student's cells run in their (sandboxed) kernel. When the notebook reaches a graded test
cell, the judge runs that cell's code (hidden tests included) in a namespace of its own:

* the modules the instructor's notebook imports are imported by the judge itself;
* the names the exercises define (functions, classes, constants) are looked up in the student's
  kernel and stand for *proxies* (:class:`Remote`): calling one, reading an attribute, indexing
  or iterating runs that operation in the student's kernel, and the result comes back as plain
  data (numbers, strings, lists, dicts, arrays, tensors) decoded without pickle, or as another
  proxy for an object that stays in the kernel;
* a proxy has no truth value and equals only itself, so an object whose ``__eq__`` always says
  True, a patched ``numpy`` or test helper, an input transformer or a replaced execute handler
  in the student's kernel changes nothing the judge computes: the asserts run here.

In a learner's own JupyterLab the same test cells run in their kernel as ordinary code;
:func:`keep` and :func:`fetch` (identity functions there) let a test keep a result in the
student's kernel (to call ``.backward()`` on a loss, say) where it must.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import io
import json
import random
import sys
import threading
import time
import types
from typing import Any

from nbformat import NotebookNode

from autograder import authoring, wire
from autograder.names import code_names, imports, top_level_names

MAX_REPLY_CHARS = (
    64 * 1024 * 1024
)  # one answer from the kernel (text of the JSON); model state dicts are a few MB
AGENT = "__import__('autograder.agent', fromlist=['dispatch'])"


class StudentError(Exception):
    """Raised by the student's code, of a type that is not a Python builtin."""


class GraderError(RuntimeError):
    """The student's kernel did not answer the judge (it is busy, dead, or tampered with)."""


# --- what the tests see ------------------------------------------------------------------------


def keep(value: Any) -> Any:
    """In the judge: results of operations on ``value`` stay in the student's kernel (as
    proxies) until converted with ``float()``, ``np.asarray()`` or :func:`fetch`. In a
    learner's kernel: ``value`` itself."""
    if isinstance(value, Remote):
        return Remote(value._link, value._tag, True)
    return value


def fetch(value: Any) -> Any:
    """In the judge: the data of a proxy. In a learner's kernel: ``value`` itself."""
    if isinstance(value, Remote):
        return value._link.request({"op": "fetch", "h": value._ref()})
    return value


def student_side(function: Any) -> Any:
    """In the judge: the same library function (``copy.deepcopy``, ``torch.optim.SGD``,
    ``course.adapt.train``...), called in the student's kernel so that it can work on the
    student's objects; its results come back as data or proxies. In a learner's kernel:
    ``function`` itself."""
    link = _CURRENT.link
    if link is None:
        return function
    module, qualname = (
        getattr(function, "__module__", None),
        getattr(function, "__qualname__", None),
    )
    if not (isinstance(module, str) and isinstance(qualname, str)) or "<" in qualname:
        raise TypeError(f"{function!r} is not an importable function")
    tag = link.request({"op": "import", "module": module, "qualname": qualname}, raw_handle=True)
    return Remote(link, tag)


class _Current(threading.local):
    link: Link | None = None


_CURRENT = _Current()


class Remote:
    """A proxy for an object in the student's kernel."""

    __slots__ = ("_link", "_tag", "_keep", "__weakref__")

    def __init__(self, link: Link, tag: dict, keep: bool = False):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_tag", tag)
        object.__setattr__(self, "_keep", keep)

    def _ref(self) -> dict:
        return {"$h": self._tag["$h"]}

    def _op(self, op: str, args: list | None = None, **fields: Any) -> Any:
        return self._link.request(
            {"op": op, "h": self._ref(), "keep": self._keep, **fields}, keep=self._keep, args=args
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._op("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._op("setattr", [value], name=name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The arguments cross as copies; what the student's code changes in them comes back
        # and is applied to these very objects (call by value-result, see autograder.wire).
        return self._op("call", [list(args), dict(kwargs)])

    def __getitem__(self, key: Any) -> Any:
        return self._op("getitem", [key])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._op("setitem", [key, value])

    def __iter__(self):
        tag = self._link.request({"op": "iter", "h": self._ref()}, raw_handle=True)
        it = Remote(self._link, tag, self._keep)
        while True:
            try:
                yield it._op("next")
            except StopIteration:
                return

    def __len__(self) -> int:
        return _exact(self._op("len"), int, "len()")

    def __contains__(self, item: Any) -> bool:
        return _exact(self._op("contains", [item]), bool, "in")

    def __float__(self) -> float:
        return _exact(self._link.request({"op": "float", "h": self._ref()}), float, "float()")

    def __int__(self) -> int:
        return _exact(self._link.request({"op": "int", "h": self._ref()}), int, "int()")

    def __index__(self) -> int:
        return _exact(self._link.request({"op": "index", "h": self._ref()}), int, "an index")

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        value = self._link.request({"op": "array", "h": self._ref()})
        if not isinstance(value, np.ndarray):
            raise TypeError(f"a {self._tag.get('type')} object is not an array")
        return value.astype(dtype) if dtype is not None else value

    def __str__(self) -> str:
        return _exact(self._link.request({"op": "str", "h": self._ref()}), str, "str()")

    def __repr__(self) -> str:
        return f"<student object of type {self._tag.get('type', '?')}>"

    def __format__(self, spec: str) -> str:
        return format(float(self), spec) if spec else str(self)

    def __bool__(self) -> bool:
        raise TypeError(
            f"the grader does not take the truth value of a {self._tag.get('type', 'student')} object: "
            "return plain data (a bool, a number, an array)"
        )

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __ne__(self, other: Any) -> bool:
        return self is not other

    __hash__ = object.__hash__

    def __deepcopy__(self, memo: dict) -> Remote:
        tag = self._link.request({"op": "deepcopy", "h": self._ref()}, raw_handle=True)
        return Remote(self._link, tag, self._keep)

    def __copy__(self) -> Remote:
        return self.__deepcopy__({})

    def __reduce__(self):
        raise TypeError("a proxy for a student object cannot be pickled")


def _exact(value: Any, kind: type, what: str) -> Any:
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise TypeError(
            f"{what} of a student object must give a {kind.__name__}, got {type(value).__name__}"
        )
    return value


# --- the channel to the kernel -----------------------------------------------------------------


class Link:
    """Requests from the judge's thread to the student's kernel, as messages on a Jupyter comm
    (opened on the kernel's agent, see :mod:`autograder.agent`), on the grader's event loop.

    A comm message costs the kernel no cell execution (no input transformers, no hooks, no
    result formatting), and its answer comes back on IOPub, which nbclient leaves alone between
    cells."""

    def __init__(
        self, client, loop: asyncio.AbstractEventLoop, deadline: float, comm_id: str | None = None
    ):
        self.client, self.loop, self.deadline = client, loop, deadline
        self.comm_id = comm_id or getattr(client, "judge_comm", None)
        self.closed = False
        self.calls = 0

    # judge thread side
    def request(
        self,
        req: dict,
        keep: bool = False,
        raw_handle: bool = False,
        raw: bool = False,
        args: list | None = None,
    ) -> Any:
        if self.closed:
            raise TimeoutError("the test ran past its time limit")
        self.calls += 1
        sent: list[Any] = []
        if args is not None:
            encoder = wire.Encoder(self._name_proxy, allow_pickle=True)
            req = {**req, "a": encoder(args)}
            sent = encoder.objects
        text = json.dumps(req, allow_nan=False, separators=(",", ":"))
        future = asyncio.run_coroutine_threadsafe(self._rpc(text), self.loop)
        answer = future.result()
        try:
            reply = json.loads(answer)
        except (ValueError, RecursionError):
            raise GraderError(
                "the student's kernel answered the grader with something that is not JSON"
            ) from None
        if not isinstance(reply, dict):
            raise GraderError("the student's kernel answered the grader with a malformed reply")
        if "err" in reply:
            raise _student_exception(reply["err"])
        if "ok" not in reply:
            raise GraderError("the student's kernel answered the grader with a malformed reply")
        value = reply["ok"]
        if isinstance(value, dict) and value.get("$stop") == 1 and len(value) == 1:
            raise StopIteration
        if raw_handle:
            if not (isinstance(value, dict) and isinstance(value.get("$h"), int)):
                raise GraderError("the student's kernel did not return an object reference")
            return _clean_tag(value)
        if raw:
            return value
        decoder = self.decoder(keep, sent)
        result = self._decode(decoder, value)
        self._write_back(decoder, reply.get("back", []), sent)
        return result

    def decoder(self, keep: bool = False, sent: list[Any] | None = None) -> wire.Decoder:
        return wire.Decoder(
            lambda tag: Remote(self, _clean_tag(tag), keep),
            trusted=False,
            modules=_judge_module,
            sent=sent,
        )

    def _decode(self, decoder: wire.Decoder, value: Any) -> Any:
        try:
            return decoder(value)
        except (wire.WireError, RecursionError, ValueError, TypeError, KeyError) as error:
            raise GraderError(
                f"the student's kernel sent data the grader cannot read: {error}"
            ) from None

    def decode(self, value: Any, keep: bool = False) -> Any:
        return self._decode(self.decoder(keep), value)

    def _write_back(self, decoder: wire.Decoder, back: Any, sent: list[Any]) -> None:
        """Apply what the student's code did to the arguments it was given (value-result)."""
        if not isinstance(back, list):
            raise GraderError("the student's kernel answered the grader with a malformed reply")
        done: set[int] = set()
        for entry in back:
            if not (
                isinstance(entry, list)
                and len(entry) == 2
                and type(entry[0]) is int
                and 0 <= entry[0] < len(sent)
                and entry[0] not in done
            ):
                raise GraderError(
                    "the student's kernel reported changes to arguments it was not given"
                )
            done.add(entry[0])
            new = self._decode(decoder, entry[1])
            try:
                wire.merge(sent[entry[0]], new)
            except wire.WireError as error:
                raise GraderError(
                    f"the student's kernel sent data the grader cannot read: {error}"
                ) from None

    def lookup(self, names: list[str]) -> dict[str, Any]:
        """The student's values of ``names`` (absent names are left out)."""
        if not names:
            return {}
        pairs = self.request({"op": "lookup", "names": names}, raw=True)
        if not isinstance(pairs, list):
            raise GraderError("the student's kernel answered a name lookup with a malformed reply")
        found: dict[str, Any] = {}
        decoder = self.decoder()
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and pair[0] in names):
                raise GraderError(
                    "the student's kernel answered a name lookup with a malformed reply"
                )
            found[pair[0]] = self._decode(decoder, pair[1])
        return found

    def _name_proxy(self, obj: Any) -> dict:
        if isinstance(obj, Remote):
            if obj._link is not self:
                raise TypeError("a proxy from another notebook")
            return obj._ref()
        raise TypeError(f"the grader cannot pass a {type(obj).__name__} to the student's code")

    def send(self, value: Any) -> Any:
        return wire.Encoder(self._name_proxy, allow_pickle=True)(value)

    # event loop side
    async def _rpc(self, text: str) -> str:
        kc = self.client.kc
        if self.comm_id is None:
            raise GraderError("the grader could not reach the student's kernel (no channel)")
        msg = kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": {"q": text}})
        kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise TimeoutError(
                    "the test ran past its time limit waiting for the student's code"
                )
            try:
                reply = await kc.iopub_channel.get_msg(timeout=min(1.0, left))
            except Exception:  # queue.Empty: check the kernel is still there
                if not await alive(self.client):
                    raise GraderError("the student's kernel died") from None
                continue
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = reply.get("msg_type")
            content = reply.get("content") or {}
            if kind == "comm_msg" and content.get("comm_id") == self.comm_id:
                break
            if kind == "status" and content.get("execution_state") == "idle":
                raise GraderError(
                    "the student's kernel went idle without answering the grader (its channel was "
                    "replaced, or it could not send: too many processes or threads?)"
                )
        answer = (content.get("data") or {}).get("r")
        if not isinstance(answer, str) or len(answer) > MAX_REPLY_CHARS:
            raise GraderError("the student's kernel sent an answer that is missing or too large")
        if answer.startswith('{"err":["KeyboardInterrupt"'):
            raise TimeoutError("the test ran past its time limit")
        return answer


async def alive(client) -> bool:
    """Whether the kernel behind an nbclient client still runs (sync or async kernel manager)."""
    try:
        alive = client.km.is_alive()
        if asyncio.iscoroutine(alive):
            alive = await alive
        return bool(alive)
    except Exception:
        return False


def _clean_tag(tag: dict) -> dict:
    return {"$h": int(tag["$h"]), "type": str(tag.get("type", "?"))[:200]}


def _judge_module(name: str) -> types.ModuleType:
    # A module the student's namespace holds: the judge uses its own copy, and only one that
    # the judge has already imported (a kernel cannot make the judge import anything).
    module = sys.modules.get(name)
    if module is None:
        raise wire.WireError(f"the judge has not imported {name!r}")
    return module


_SAFE_EXCEPTIONS = {
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), Exception)
    and name
    not in (
        "StopIteration",
        "StopAsyncIteration",
        "GeneratorExit",
        "SystemExit",
        "KeyboardInterrupt",
    )
}


def _student_exception(err: Any) -> BaseException:
    try:
        name, builtin, message = (str(v)[:4000] for v in err)
    except (TypeError, ValueError):
        return GraderError("the student's kernel sent a malformed error")
    text = f"{message} (raised by your code: {name})" if name != builtin else message
    if builtin in _SAFE_EXCEPTIONS:
        return getattr(builtins, builtin)(text)
    return StudentError(f"{name}: {message}")


# --- the judge ---------------------------------------------------------------------------------


class Judge:
    """Runs the graded test cells of one notebook against one student's kernel."""

    def __init__(self, source: NotebookNode):
        self.exercise_names: set[str] = set()
        # The instructor's test cells, by grade id: the only code the judge ever runs.
        self.tests = {
            authoring.nbgrader_meta(c).get("grade_id"): c.source
            for c in source.cells
            if authoring.is_test(c)
        }
        statements: list[ast.stmt] = []
        for cell in source.cells:
            if cell.get("cell_type") != "code" or authoring.is_test(cell):
                continue
            statements += imports(cell.source)
            if authoring.is_solution(cell):
                self.exercise_names |= top_level_names(cell.source)
        self.ns: dict[str, Any] = {"__name__": "__judge__", "__builtins__": builtins}
        self.import_error: str | None = None
        for statement in statements:  # the instructor's imports, in the judge's own interpreter
            try:
                exec(compile(ast.Module([statement], []), "<imports>", "exec"), self.ns)
            except Exception as error:
                self.import_error = f"{type(error).__name__}: {error}"
        self.busy = threading.Lock()

    def owns(self, cell: NotebookNode) -> bool:
        """True for an instructor's test cell, exactly as the source has it. A student's cell
        dressed up as a test (nbgrader metadata, a new grade id) runs in the student's kernel."""
        if not authoring.is_test(cell):
            return False
        return self.tests.get(authoring.nbgrader_meta(cell).get("grade_id")) == cell.source

    def run(self, source: str, link: Link, cell_chars: int) -> list[dict]:
        """Run one test cell (in the calling thread); its outputs, as nbformat dicts."""
        buffer = io.StringIO()
        outputs: list[dict] = []
        with self.busy:
            try:
                code = compile(source, "<test cell>", "exec")
                wanted = sorted(code_names(code) & self.exercise_names)
                found = link.lookup(wanted)
                for name in wanted:
                    if name in found:
                        self.ns[name] = found[name]
                    else:  # not defined by the student: a NameError, as in their own kernel
                        self.ns.pop(name, None)
                _seed()
                _CURRENT.link = link
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                    exec(code, self.ns)
            except BaseException as error:  # the test failed: report which and why, not its code
                if isinstance(error, (SystemExit, KeyboardInterrupt)):
                    error = RuntimeError(type(error).__name__)
                outputs.append(_error(error))
            finally:
                _CURRENT.link = None
        text = buffer.getvalue()
        if text:
            if len(text) > cell_chars:
                text = text[:cell_chars] + "\n[autograder: output truncated]\n"
            outputs.insert(0, {"output_type": "stream", "name": "stdout", "text": text})
        return outputs


def _seed() -> None:
    random.seed(0)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(0)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(0)


def _error(error: BaseException) -> dict:
    ename = type(error).__name__
    evalue = str(error)[:2000]
    return {
        "output_type": "error",
        "ename": ename,
        "evalue": evalue,
        "traceback": [f"{ename}: {evalue}"],
    }
