"""Plain data across the wall between the student's kernel and the judge, as JSON.

Values that are data (None, booleans, numbers, strings, bytes, lists, tuples, dicts, sets,
slices, NumPy arrays and scalars of numeric or string dtypes, PyTorch tensors) are written out
in full; anything else becomes a *handle*: a number that names an object left behind on the
side that owns it. Tagged forms are one-key JSON objects (``{"$t": [...]}`` is a tuple).

The judge decodes what the student's kernel sends with :func:`decode` and ``trusted=False``:
only the forms above, nothing that could run code (no pickle, no imports other than the
modules the judge itself chose), and every container is rebuilt from builtin types, so an
object whose ``__eq__`` always says True cannot cross. The judge may send the kernel richer
arguments (``$p``: a pickle the *kernel* unpickles), which is safe in that direction only.
"""

from __future__ import annotations

import base64
import importlib
import math
import pickle
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
    return base64.b64decode(text.encode("ascii"), validate=True)


_NUMPY_KINDS = "biufcUS"


def encode(x: Any, handle: Callable[[Any], Any], *, depth: int = 0, allow_pickle: bool = False) -> Any:
    """``x`` as JSON-ready data; ``handle(obj)`` names an object that is not data."""
    if depth > MAX_DEPTH:
        raise WireError("data nested too deeply")
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        return x
    if t is float:
        return x if math.isfinite(x) else {"$f": repr(x)}
    d = depth + 1
    # Subclasses of the builtin types (an enum member, a named tuple, an OrderedDict) cross as
    # their plain value: none of their behaviour does.
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return encode(float(x), handle, depth=d)
    if isinstance(x, str):
        return str(x)
    if isinstance(x, list):
        return [encode(v, handle, depth=d, allow_pickle=allow_pickle) for v in x]
    if isinstance(x, tuple):
        return {"$t": [encode(v, handle, depth=d, allow_pickle=allow_pickle) for v in x]}
    if isinstance(x, dict):
        return {"$d": [[encode(k, handle, depth=d, allow_pickle=allow_pickle),
                        encode(v, handle, depth=d, allow_pickle=allow_pickle)] for k, v in x.items()]}
    if t is set or t is frozenset:
        return {"$s" if t is set else "$fs": [encode(v, handle, depth=d, allow_pickle=allow_pickle) for v in x]}
    if t is complex:
        return {"$c": [encode(x.real, handle), encode(x.imag, handle)]}
    if t is bytes:
        return {"$b": _b64(x)}
    if t is slice:
        return {"$sl": [encode(v, handle, depth=d) for v in (x.start, x.stop, x.step)]}
    if t is range:
        return {"$r": [x.start, x.stop, x.step]}
    if x is Ellipsis:
        return {"$el": 0}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(x, np.ndarray) and x.dtype.kind in _NUMPY_KINDS and x.dtype.names is None:
            a = np.ascontiguousarray(x)
            return {"$a": [a.dtype.str, list(a.shape), _b64(a.tobytes())]}
        if isinstance(x, np.generic) and x.dtype.kind in _NUMPY_KINDS:
            return {"$n": [x.dtype.str, _b64(np.asarray(x).tobytes())]}
        if isinstance(x, np.dtype) and x.names is None:
            return {"$nd": x.str}
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(x, torch.Tensor) and not x.is_sparse and x.layout == torch.strided:
            return _encode_tensor(x, handle, depth=d, allow_pickle=allow_pickle)
        if isinstance(x, torch.dtype):
            return {"$td": str(x).removeprefix("torch.")}
        if isinstance(x, torch.Size):
            return {"$t": [int(v) for v in x]}
    if t.__name__ == "module" and isinstance(getattr(x, "__name__", None), str):
        return {"$m": x.__name__}
    if allow_pickle:
        try:
            return {"$p": _b64(pickle.dumps(x))}
        except Exception:
            pass
    return handle(x)


def _encode_tensor(x, handle, *, depth, allow_pickle) -> dict:
    import torch

    t = x.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    dtype = str(t.dtype).removeprefix("torch.")
    if t.dtype in (torch.bfloat16, torch.float16):
        arr = t.float().contiguous().numpy()
    else:
        arr = t.contiguous().numpy()
    grad = x.grad if x.requires_grad and x.is_leaf else None
    return {"$tt": [dtype, arr.dtype.str, list(arr.shape), _b64(arr.tobytes()), bool(x.requires_grad),
                    None if grad is None else _encode_tensor(grad, handle, depth=depth, allow_pickle=allow_pickle),
                    isinstance(x, torch.nn.Parameter)]}


def decode(x: Any, resolve: Callable[[Any], Any], *, trusted: bool, modules: Callable[[str], Any] | None = None,
           depth: int = 0) -> Any:
    """Rebuild a value; ``resolve(tag)`` turns a ``$h`` form into an object (or a proxy).

    ``trusted=False`` (the judge reading the kernel): builtin containers only, no pickle, and a
    module form is looked up with ``modules(name)`` (the judge's own import, or an error).
    """
    if depth > MAX_DEPTH:
        raise WireError("data nested too deeply")
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x
    d = depth + 1

    def sub(v):
        return decode(v, resolve, trusted=trusted, modules=modules, depth=d)

    if isinstance(x, list):
        return [sub(v) for v in x]
    if not isinstance(x, dict):
        raise WireError(f"not a data form: {type(x).__name__}")
    if "$h" in x:
        if not isinstance(x["$h"], int) or len(x) > 3:
            raise WireError("malformed object reference")
        return resolve(x)
    if len(x) != 1:
        raise WireError("a tagged form has one key")
    (tag, body), = x.items()
    if tag == "$f":
        if body not in ("nan", "inf", "-inf"):
            raise WireError("bad float")
        return float(body)
    if tag == "$t":
        return tuple(sub(v) for v in _list(body))
    if tag == "$d":
        out = {}
        for pair in _list(body):
            k, v = _list(pair, 2)
            key = sub(k)
            try:
                hash(key)
            except TypeError:
                raise WireError("unhashable dictionary key") from None
            out[key] = sub(v)
        return out
    if tag in ("$s", "$fs"):
        items = [sub(v) for v in _list(body)]
        try:
            return set(items) if tag == "$s" else frozenset(items)
        except TypeError:
            raise WireError("unhashable set element") from None
    if tag == "$c":
        re, im = (float(sub(v)) for v in _list(body, 2))
        return complex(re, im)
    if tag == "$b":
        return _unb64(body)
    if tag == "$sl":
        start, stop, step = (sub(v) for v in _list(body, 3))
        for v in (start, stop, step):
            if v is not None and not isinstance(v, int):
                raise WireError("slice bounds must be integers")
        return slice(start, stop, step)
    if tag == "$r":
        a, b, c = _list(body, 3)
        if not all(type(v) is int for v in (a, b, c)):
            raise WireError("range bounds must be integers")
        return range(a, b, c)
    if tag == "$el":
        return Ellipsis
    if tag == "$a":
        return _decode_array(body)
    if tag == "$n":
        import numpy as np

        dtype, data = _list(body, 2)
        dt = _numpy_dtype(dtype)
        raw = _unb64(data)
        if len(raw) != dt.itemsize:
            raise WireError("bad scalar")
        return np.frombuffer(raw, dtype=dt)[0]
    if tag == "$nd":
        return _numpy_dtype(body)
    if tag == "$tt":
        return _decode_tensor(body, sub)
    if tag == "$td":
        import torch

        dt = getattr(torch, str(body), None)
        if not isinstance(dt, torch.dtype):
            raise WireError(f"unknown torch dtype {body!r}")
        return dt
    if tag == "$m":
        if not isinstance(body, str):
            raise WireError("bad module name")
        if modules is not None:
            return modules(body)
        return importlib.import_module(body)
    if tag == "$p":
        if trusted:
            return pickle.loads(_unb64(body))
        raise WireError("the judge does not unpickle what a kernel sends")
    if tag == "$ref" and trusted:
        module, _, name = str(body).rpartition(".")
        obj = importlib.import_module(module)
        return getattr(obj, name)
    raise WireError(f"unknown form {tag!r}")


def _list(x: Any, n: int | None = None) -> list:
    if not isinstance(x, list) or (n is not None and len(x) != n):
        raise WireError("malformed data")
    return x


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

    dtype, shape, data = _list(body, 3)
    dt = _numpy_dtype(dtype)
    shape = tuple(_list(shape))
    if not all(type(s) is int and s >= 0 for s in shape):
        raise WireError("bad shape")
    raw = _unb64(data)
    if len(raw) != dt.itemsize * math.prod(shape):
        raise WireError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()


def _decode_tensor(body: Any, sub):
    import torch

    dtype, np_dtype, shape, data, requires_grad, grad, is_param = _list(body, 7)
    arr = _decode_array([np_dtype, shape, data])
    tdt = getattr(torch, str(dtype), None)
    if not isinstance(tdt, torch.dtype):
        raise WireError(f"unknown torch dtype {dtype!r}")
    t = torch.from_numpy(arr)
    if t.dtype != tdt:
        t = t.to(tdt)
    if requires_grad is True and (t.is_floating_point() or t.is_complex()):
        t = torch.nn.Parameter(t) if is_param is True else t.requires_grad_(True)
        if grad is not None:
            g = sub(grad)
            if isinstance(g, torch.Tensor) and g.shape == t.shape:
                t.grad = g.detach().to(t.dtype)
    return t
