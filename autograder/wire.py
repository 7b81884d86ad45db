"""Plain data across the wall between the student's kernel and the judge, as JSON.

Values that are data (None, booleans, numbers, strings, bytes, bytearrays, lists, tuples, dicts,
sets, slices, ranges, NumPy arrays, scalars and dtypes, PyTorch tensors, sizes and dtypes) are
written out in full and come back *exactly*: the same type, dtype, shape and bits (0-d arrays stay
0-d, -0.0 stays negative, NaN payloads and Fortran order are kept, a tensor keeps its dtype,
``requires_grad``, gradient and Parameter-ness). Anything else becomes a *handle*: a number that
names an object left behind on the side that owns it. Tagged forms are one-key JSON objects
(``{"$t": [...]}`` is a tuple).

Identity crosses too, within one message: an object met twice (the same list in two places, a list
that holds itself) is written once and then referred to (``$same``), so aliasing survives. The
objects one side *received* in a request can be named in the answer (``$in``), which is how the
kernel says "you gave me this one" (a function that returns its argument) and how the changes a
student's code made to an argument in place travel back to the test's own object (call by
value-result: :class:`Tracker` on the kernel's side, :func:`merge` on the judge's).

The judge decodes what the student's kernel sends with ``trusted=False``: only the forms above,
nothing that could run code (no pickle, no imports other than the modules the judge itself chose),
and every container is rebuilt from builtin types, so an object whose ``__eq__`` always says True
cannot cross (a subclass of a builtin crosses as its plain value). The judge may send the kernel
richer arguments (``$p``: a pickle the *kernel* unpickles), which is safe in that direction only.
"""

from __future__ import annotations

import base64
import importlib
import math
import pickle
import struct
import sys
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 64


class WireError(ValueError):
    """A message that is not well-formed data."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise WireError("expected base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("bad base64 text") from None


# NumPy kinds whose bytes are the value: bool, signed/unsigned int, float, complex, str, bytes,
# datetime and timedelta. Object arrays cross element by element (``$ao``); structured dtypes do not.
_NUMPY_KINDS = "biufcUSMm"


def _mutable(x: Any) -> bool:
    """Objects whose identity matters: the ones value-result writes back into."""
    if isinstance(x, (list, dict, set, bytearray)):
        return True
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class Encoder:
    """Turns values into JSON-ready data. One encoder per message: it remembers the mutable
    objects it has written (``objects``, in the order a :class:`Decoder` will rebuild them).

    ``handle(obj)`` names an object that is not data; ``received`` maps ``id(obj)`` of objects
    the other side sent in the request being answered to their index there (``$in``).
    """

    def __init__(
        self,
        handle: Callable[[Any], Any],
        *,
        allow_pickle: bool = False,
        received: dict[int, int] | None = None,
    ):
        self.handle, self.allow_pickle = handle, allow_pickle
        self.received = received or {}
        self.memo: dict[int, int] = {}
        self.objects: list[Any] = []  # kept alive so that their ids stay theirs

    def __call__(self, x: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("data nested too deeply")
        t = type(x)
        if x is None or t is bool or t is str or t is int:
            return x
        if t is float:
            if math.isfinite(x):
                return x
            return {
                "$f": repr(x) if not math.isnan(x) else struct.pack("<d", x).hex()
            }  # NaN: its bits
        if _mutable(x):
            key = id(x)
            if key in self.received:
                return {"$in": self.received[key]}
            if key in self.memo:
                return {"$same": self.memo[key]}
            self.memo[key] = len(self.objects)
            self.objects.append(x)
            form = self._body(x, depth)
            if isinstance(form, dict) and "$h" in form:  # not data after all (a structured array)
                del self.memo[key]
                self.objects.pop()
            return form
        return self._value(x, t, depth)

    def restate(self, x: Any) -> Any:
        """The full form of ``x``, an object the other side sent (elsewhere it is ``$in``): the
        new contents of an argument the student's code changed."""
        self.objects.append(x)
        return self._body(x, 0)

    def _body(self, x: Any, depth: int) -> Any:
        """The full form of a mutable object (the caller registered it)."""
        d = depth + 1
        if isinstance(x, list):
            return [self(v, d) for v in x]
        if isinstance(x, dict):
            return {"$d": [[self(k, d), self(v, d)] for k, v in x.items()]}
        if isinstance(x, set):
            return {"$s": [self(v, d) for v in x]}
        if isinstance(x, bytearray):
            return {"$ba": _b64(bytes(x))}
        np = sys.modules.get("numpy")
        if np is not None and isinstance(x, np.ndarray):
            form = self._array(x, depth)
            if form is not None:
                return form
        else:
            form = self._tensor(x, depth)
            if form is not None:
                return form
        return self.handle(x)

    def _value(self, x: Any, t: type, depth: int) -> Any:
        d = depth + 1
        np = sys.modules.get("numpy")
        if np is not None:  # first: np.float64, np.str_ and np.bytes_ are also float, str, bytes
            if isinstance(x, np.generic) and x.dtype.kind in _NUMPY_KINDS and x.dtype.names is None:
                return {"$n": [x.dtype.str, _b64(x.tobytes() if x.dtype.itemsize else b"")]}
            if isinstance(x, np.dtype) and x.names is None and x.kind in _NUMPY_KINDS:
                return {"$nd": x.str}
        torch = sys.modules.get("torch")
        if torch is not None:  # torch.Size is a tuple
            if isinstance(x, torch.Size):
                return {"$ts": [int(v) for v in x]}
            if isinstance(x, torch.dtype):
                return {"$td": str(x).removeprefix("torch.")}
        # Subclasses of the builtin types (an enum member, a named tuple) cross as their plain
        # value: none of their behaviour does.
        if isinstance(x, bool):
            return bool(x)
        if isinstance(x, int):
            return int(x)
        if isinstance(x, float):
            return self(float(x), d)
        if isinstance(x, str):
            return str(x)
        if isinstance(x, tuple):
            return {"$t": [self(v, d) for v in x]}
        if isinstance(x, frozenset):
            return {"$fs": [self(v, d) for v in x]}
        if isinstance(x, complex):
            return {"$c": [self(float(x.real), d), self(float(x.imag), d)]}
        if isinstance(x, bytes):
            return {"$b": _b64(bytes(x))}
        if t is slice:
            return {"$sl": [self(v, d) for v in (x.start, x.stop, x.step)]}
        if t is range:
            return {"$r": [x.start, x.stop, x.step]}
        if x is Ellipsis:
            return {"$el": 0}
        if t.__name__ == "module" and isinstance(getattr(x, "__name__", None), str):
            return {"$m": x.__name__}
        if self.allow_pickle:
            try:
                return {"$p": _b64(pickle.dumps(x))}
            except Exception:
                pass
        return self.handle(x)

    def _array(self, x, depth: int) -> dict | None:
        flags = (
            "F" if x.flags.f_contiguous and not x.flags.c_contiguous and x.ndim > 1 else ""
        ) + ("" if x.flags.writeable else "R")
        if x.dtype.names is not None or x.dtype.subdtype is not None:
            return None
        if x.dtype.kind in _NUMPY_KINDS:
            order = "F" if "F" in flags else "C"
            return {"$a": [x.dtype.str, list(x.shape), _b64(x.tobytes(order=order)), flags]}
        if x.dtype.kind == "O":
            return {
                "$ao": [
                    list(x.shape),
                    [self(v, depth + 1) for v in x.ravel(order="C").tolist()],
                    flags,
                ]
            }
        return None

    def _tensor(self, x, depth: int) -> dict | None:
        torch = sys.modules.get("torch")
        if (
            torch is None
            or not isinstance(x, torch.Tensor)
            or x.is_sparse
            or x.layout != torch.strided
        ):
            return None
        try:
            t = x.detach()
            if t.device.type != "cpu":
                t = t.cpu()
            if t.dtype in (torch.bfloat16, torch.float16):
                arr = t.float().contiguous().numpy()  # both widen to float32 exactly
            else:
                arr = t.contiguous().numpy()
        except (TypeError, RuntimeError):  # a dtype NumPy has no twin for (float8, quantized...)
            return None
        grad = x.grad if x.requires_grad and x.is_leaf else None
        return {
            "$tt": [
                str(t.dtype).removeprefix("torch."),
                arr.dtype.str,
                list(arr.shape),
                _b64(arr.tobytes()),
                bool(x.requires_grad),
                None if grad is None else self._tensor(grad, depth + 1),
                isinstance(x, torch.nn.Parameter),
            ]
        }


def encode(
    x: Any, handle: Callable[[Any], Any], *, depth: int = 0, allow_pickle: bool = False
) -> Any:
    """``x`` as JSON-ready data (a fresh :class:`Encoder`); ``handle(obj)`` names an object that
    is not data."""
    return Encoder(handle, allow_pickle=allow_pickle)(x, depth)


class Decoder:
    """Rebuilds values written by an :class:`Encoder`, with the same identities.

    ``resolve(tag)`` turns a ``$h`` form into an object (or a proxy). ``trusted=False`` (the judge
    reading the kernel): builtin containers only, no pickle, and a module form is looked up with
    ``modules(name)`` (the judge's own import, or an error). ``sent``: the objects of the request
    this message answers, for its ``$in`` forms. ``objects`` lists the mutable objects rebuilt, in
    order (what the sender's ``$same`` and the answer's ``$in`` refer to).
    """

    def __init__(
        self,
        resolve: Callable[[Any], Any],
        *,
        trusted: bool,
        modules: Callable[[str], Any] | None = None,
        sent: list[Any] | None = None,
    ):
        self.resolve, self.trusted, self.modules = resolve, trusted, modules
        self.sent = sent or []
        self.objects: list[Any] = []

    def _new(self, obj: Any) -> Any:
        self.objects.append(obj)
        return obj

    def __call__(self, x: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("data nested too deeply")
        if x is None or isinstance(x, (bool, int, str, float)):
            return x
        d = depth + 1
        if isinstance(x, list):
            out = self._new([])
            out.extend(self(v, d) for v in x)
            return out
        if not isinstance(x, dict):
            raise WireError(f"not a data form: {type(x).__name__}")
        if "$h" in x:
            if not isinstance(x["$h"], int) or len(x) > 3:
                raise WireError("malformed object reference")
            return self.resolve(x)
        if len(x) != 1:
            raise WireError("a tagged form has one key")
        ((tag, body),) = x.items()
        if tag == "$same":
            if type(body) is not int or not 0 <= body < len(self.objects):
                raise WireError("a reference to an object not yet seen")
            return self.objects[body]
        if tag == "$in":
            if type(body) is not int or not 0 <= body < len(self.sent):
                raise WireError("a reference to an object the grader did not send")
            return self.sent[body]
        if tag == "$f":
            if body in ("nan", "inf", "-inf"):
                return float(body)
            if not (isinstance(body, str) and len(body) == 16):
                raise WireError("bad float")
            try:
                value = struct.unpack("<d", bytes.fromhex(body))[0]
            except ValueError:
                raise WireError("bad float") from None
            if not math.isnan(value):
                raise WireError("bad float")
            return value
        if tag == "$t":
            return tuple(self(v, d) for v in _list(body))
        if tag == "$d":
            out = self._new({})
            for pair in _list(body):
                k, v = _list(pair, 2)
                key = self(k, d)
                try:
                    hash(key)
                except TypeError:
                    raise WireError("unhashable dictionary key") from None
                out[key] = self(v, d)
            return out
        if tag == "$s":
            out = self._new(set())
            try:
                out.update(self(v, d) for v in _list(body))
            except TypeError:
                raise WireError("unhashable set element") from None
            return out
        if tag == "$fs":
            try:
                return frozenset(self(v, d) for v in _list(body))
            except TypeError:
                raise WireError("unhashable set element") from None
        if tag == "$c":
            re, im = (self(v, d) for v in _list(body, 2))
            if type(re) is not float or type(im) is not float:
                raise WireError("bad complex")
            return complex(re, im)
        if tag == "$b":
            return _unb64(body)
        if tag == "$ba":
            return self._new(bytearray(_unb64(body)))
        if tag == "$sl":
            start, stop, step = (self(v, d) for v in _list(body, 3))
            for v in (start, stop, step):
                if v is not None and type(v) is not int:
                    raise WireError("slice bounds must be integers")
            return slice(start, stop, step)
        if tag == "$r":
            a, b, c = _list(body, 3)
            if not all(type(v) is int for v in (a, b, c)) or c == 0:
                raise WireError("bad range")
            return range(a, b, c)
        if tag == "$el":
            return Ellipsis
        if tag == "$a":
            return self._new(_decode_array(body))
        if tag == "$ao":
            return self._object_array(body, d)
        if tag == "$n":
            import numpy as np

            dtype, data = _list(body, 2)
            dt = _numpy_dtype(dtype)
            raw = _unb64(data)
            if len(raw) != dt.itemsize:
                raise WireError("bad scalar")
            if dt.itemsize == 0:  # np.str_(""): NumPy cannot read zero-width items from a buffer
                return np.zeros((), dtype=dt)[()]
            return np.frombuffer(raw, dtype=dt).reshape(())[()]
        if tag == "$nd":
            return _numpy_dtype(body)
        if tag == "$tt":
            return self._new(self._tensor(body, d))
        if tag == "$ts":
            import torch

            if not all(type(v) is int and v >= 0 for v in _list(body)):
                raise WireError("bad torch.Size")
            return torch.Size(body)
        if tag == "$td":
            import torch

            dt = getattr(torch, str(body), None)
            if not isinstance(dt, torch.dtype):
                raise WireError(f"unknown torch dtype {body!r}")
            return dt
        if tag == "$m":
            if not isinstance(body, str):
                raise WireError("bad module name")
            if self.modules is not None:
                return self.modules(body)
            return importlib.import_module(body)
        if tag == "$p":
            if self.trusted:
                return pickle.loads(_unb64(body))
            raise WireError("the judge does not unpickle what a kernel sends")
        raise WireError(f"unknown form {tag!r}")

    def _object_array(self, body: Any, depth: int):
        import numpy as np

        shape, items, flags = _list(body, 3)
        shape = _shape(shape)
        items = _list(items)
        if len(items) != math.prod(shape):
            raise WireError("array data does not match its shape")
        out = self._new(np.empty(shape, dtype=object))
        flat = out.reshape(-1)  # a view: filling it fills out
        for i, v in enumerate(items):
            flat[i] = self(v, depth)
        if isinstance(flags, str) and "R" in flags:
            out.flags.writeable = False
        return out

    def _tensor(self, body: Any, depth: int):
        import torch

        dtype, np_dtype, shape, data, requires_grad, grad, is_param = _list(body, 7)
        arr = _decode_array([np_dtype, shape, data, ""])
        tdt = getattr(torch, str(dtype), None)
        if not isinstance(tdt, torch.dtype):
            raise WireError(f"unknown torch dtype {dtype!r}")
        t = torch.from_numpy(arr)
        if t.dtype != tdt:
            t = t.to(tdt)
        if requires_grad is True and (t.is_floating_point() or t.is_complex()):
            t = torch.nn.Parameter(t) if is_param is True else t.requires_grad_(True)
            if grad is not None:
                if not (isinstance(grad, dict) and list(grad) == ["$tt"]):
                    raise WireError("bad gradient")
                g = self._tensor(grad["$tt"], depth + 1)
                if g.shape == t.shape:
                    t.grad = g.detach().to(t.dtype)
        elif is_param is True:
            t = torch.nn.Parameter(t, requires_grad=False)
        return t


def decode(
    x: Any,
    resolve: Callable[[Any], Any],
    *,
    trusted: bool,
    modules: Callable[[str], Any] | None = None,
    depth: int = 0,
) -> Any:
    """Rebuild a value with a fresh :class:`Decoder` (see there)."""
    return Decoder(resolve, trusted=trusted, modules=modules)(x, depth)


def _list(x: Any, n: int | None = None) -> list:
    if not isinstance(x, list) or (n is not None and len(x) != n):
        raise WireError("malformed data")
    return x


def _shape(x: Any) -> tuple[int, ...]:
    shape = tuple(_list(x))
    if len(shape) > 64 or not all(type(s) is int and s >= 0 for s in shape):
        raise WireError("bad shape")
    return shape


def _numpy_dtype(text: Any):
    import numpy as np

    if not isinstance(text, str):
        raise WireError("bad dtype")
    try:
        dt = np.dtype(text)
    except TypeError:
        raise WireError(f"bad dtype {text!r}") from None
    if dt.kind not in _NUMPY_KINDS or dt.names is not None or dt.subdtype is not None:
        raise WireError(f"dtype {text!r} is not data")
    return dt


def _decode_array(body: Any):
    import numpy as np

    dtype, shape, data, flags = _list(body, 4)
    dt = _numpy_dtype(dtype)
    shape = _shape(shape)
    raw = _unb64(data)
    if len(raw) != dt.itemsize * math.prod(shape):
        raise WireError("array data does not match its shape")
    if not isinstance(flags, str):
        raise WireError("bad array flags")
    if dt.itemsize == 0:
        out = np.zeros(shape, dtype=dt, order="F" if "F" in flags else "C")
        out.flags.writeable = "R" not in flags
        return out
    out = (
        np.frombuffer(raw, dtype=dt)
        .reshape(shape, order="F" if "F" in flags else "C")
        .copy(order="K")
    )
    if "R" in flags:
        out.flags.writeable = False
    return out


# --- call by value-result ----------------------------------------------------------------------


class Tracker:
    """The kernel's record of the mutable objects a request brought (a :class:`Decoder`'s
    ``objects``): after the operation, :meth:`changes` names those the student's code changed in
    place, with their new contents, for the judge to apply to its own objects."""

    def __init__(self, objects: list[Any]):
        self.objects = objects
        self.ids = {id(o): i for i, o in enumerate(objects)}
        self.before = [_snapshot(o) for o in objects]

    def changes(self, encoder: Encoder) -> list:
        out = []
        for i, (obj, before) in enumerate(zip(self.objects, self.before, strict=True)):
            if not _same_state(before, _snapshot(obj)):
                out.append([i, encoder.restate(obj)])
        return out


def _snapshot(obj: Any) -> Any:
    if isinstance(obj, (list, dict, set)):
        items = list(obj.items()) if isinstance(obj, dict) else list(obj)
        return (type(obj), items)  # the elements themselves: compared by identity
    if isinstance(obj, bytearray):
        return bytes(obj)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            return ("O", obj.shape, list(obj.ravel()))
        return (obj.dtype.str, obj.shape, obj.tobytes(), obj.flags.writeable)
    return _tensor_state(obj)


def _tensor_state(t: Any) -> tuple:
    grad = t.grad if t.requires_grad and t.is_leaf else None
    return (
        t.dtype,
        tuple(t.shape),
        _tensor_bytes(t),
        t.requires_grad,
        None if grad is None else (tuple(grad.shape), _tensor_bytes(grad)),
    )


def _tensor_bytes(t: Any) -> bytes:
    import torch

    flat = t.detach().cpu().contiguous().reshape(-1)
    try:
        return flat.view(torch.uint8).numpy().tobytes()
    except RuntimeError:
        return repr(flat.tolist()).encode()


def _same_state(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], type):  # containers
        (ta, xa), (_, xb) = a, b
        if ta is dict:
            return len(xa) == len(xb) and all(
                ka is kb and va is vb for (ka, va), (kb, vb) in zip(xa, xb, strict=True)
            )
        if ta is set:
            return len(xa) == len(xb) and {id(v) for v in xa} == {id(v) for v in xb}
        return len(xa) == len(xb) and all(p is q for p, q in zip(xa, xb, strict=True))
    if isinstance(a, tuple) and a and a[0] == "O":
        return a[1] == b[1] and all(p is q for p, q in zip(a[2], b[2], strict=True))
    return a == b


def merge(target: Any, new: Any) -> None:
    """Make the judge's own ``target`` hold ``new`` (the state the student's code left it in),
    in place, so that every name the test holds for it sees the change."""
    try:
        if isinstance(target, list) and type(new) is list:
            target[:] = new
        elif isinstance(target, dict) and type(new) is dict:
            target.clear()
            target.update(new)
        elif isinstance(target, set) and type(new) is set:
            target.clear()
            target.update(new)
        elif isinstance(target, bytearray) and type(new) is bytearray:
            target[:] = new
        elif _is_array(target) and _is_array(new):
            _merge_array(target, new)
        elif _is_tensor(target) and _is_tensor(new):
            _merge_tensor(target, new)
        else:
            raise WireError("the kernel changed an argument into something else")
    except (ValueError, TypeError, RuntimeError) as error:
        raise WireError(f"cannot apply the changes made to an argument: {error}") from None


def _is_array(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray)


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _merge_array(target, new) -> None:
    import numpy as np

    writeable = target.flags.writeable
    if not writeable and target.base is None:
        target.flags.writeable = True
    if target.shape != new.shape:
        if target.size == new.size:
            target.shape = new.shape
        else:
            target.resize(new.shape, refcheck=False)
    if new.dtype != target.dtype:
        raise ValueError(f"its dtype changed from {target.dtype} to {new.dtype}")
    np.copyto(target, new, casting="no")
    target.flags.writeable = (
        bool(new.flags.writeable) if target.base is None else target.flags.writeable
    )


def _merge_tensor(target, new) -> None:
    import torch

    with torch.no_grad():
        if target.shape == new.shape and target.dtype == new.dtype:
            target.copy_(new)
        else:
            target.data = new.detach().clone()
    if target.is_leaf and target.requires_grad != new.requires_grad:
        target.requires_grad_(new.requires_grad)
    if target.is_leaf and target.requires_grad:
        target.grad = None if new.grad is None else new.grad.detach().clone()
