"""The wire between the student's kernel and the judge: does every value a test can receive
arrive exactly as the kernel holds it, and do the changes a student's function makes to its
arguments reach the test's own objects, as they would in a plain kernel?"""

from __future__ import annotations

import copy
import json
import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import wire

pytestmark = pytest.mark.platform


def _no_handle(obj):
    raise AssertionError(f"not data: {type(obj).__name__}")


def to_judge(value):
    """Kernel -> judge: what a test receives (decoded as untrusted data)."""
    text = json.dumps(wire.Encoder(_no_handle)(value), allow_nan=False)
    return wire.Decoder(lambda tag: pytest.fail("a handle"), trusted=False,
                        modules=lambda name: pytest.fail("a module"))(json.loads(text))


def to_kernel(value):
    """Judge -> kernel: the arguments a test passes."""
    text = json.dumps(wire.Encoder(_no_handle, allow_pickle=True)(value), allow_nan=False)
    return wire.Decoder(lambda tag: pytest.fail("a handle"), trusted=True)(json.loads(text))


def same(a, b, pairs=None) -> None:
    """``b`` is ``a``: type, dtype, shape, bits, flags, and the same pattern of shared objects."""
    pairs = {} if pairs is None else pairs
    assert type(a) is type(b), (type(a), type(b))
    if wire._mutable(a):
        if id(a) in pairs:
            assert pairs[id(a)] is b, "an object shared in the kernel must be shared in the test"
            return
        pairs[id(a)] = b
    if isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b)
    elif isinstance(a, complex):
        same(a.real, b.real)
        same(a.imag, b.imag)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y, pairs)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k], pairs)
    elif isinstance(a, (set, frozenset)):
        assert a == b
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.flags.f_contiguous == b.flags.f_contiguous or a.ndim < 2 or a.size <= 1
        assert a.flags.writeable == b.flags.writeable
        if a.dtype.kind == "O":
            for x, y in zip(a.ravel(), b.ravel(), strict=True):
                same(x, y, pairs)
        else:
            assert a.tobytes() == b.tobytes()
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        assert wire._tensor_bytes(a) == wire._tensor_bytes(b)
        if a.is_leaf and a.requires_grad and a.grad is not None:
            same(a.grad, b.grad)
        else:
            assert b.grad is None
    else:
        assert a == b


# --- what can cross ---------------------------------------------------------------------------

NUMPY_DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                np.float16, np.float32, np.float64, np.longdouble, np.complex64, np.complex128,
                np.dtype("<U4"), np.dtype("S3"), np.dtype("datetime64[ns]"), np.dtype("timedelta64[s]"),
                np.dtype(">f8"), np.dtype(">i4")]


@st.composite
def numpy_arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(NUMPY_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    a = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["C", "F", "strided", "transposed", "readonly"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = a[::2]
    elif layout == "transposed":
        a = a.T
    elif layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
    return a


def _expected_array(a):
    """The array the other side holds: a copy with the same layout where it has one."""
    out = np.asfortranarray(a) if a.flags.f_contiguous and not a.flags.c_contiguous and a.ndim > 1 else np.ascontiguousarray(a)
    out = out.reshape(a.shape).copy(order="K")
    out.flags.writeable = a.flags.writeable
    return out


numpy_scalars = st.sampled_from(NUMPY_DTYPES).flatmap(
    lambda dt: hnp.arrays(np.dtype(dt), ()).map(lambda a: a[()]))

TORCH_DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
                torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128]


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(TORCH_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    base = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e3, 1e3, allow_subnormal=False)))
    t = torch.from_numpy(base)
    t = (t > 0) if dtype is torch.bool else t.to(dtype)
    if dtype.is_floating_point or dtype.is_complex:
        kind = draw(st.sampled_from(["plain", "grad", "param", "with_grad"]))
        if kind == "grad":
            t.requires_grad_(True)
        elif kind == "param":
            t = torch.nn.Parameter(t)
        elif kind == "with_grad":
            t.requires_grad_(True)
            t.grad = torch.ones_like(t)
    return t


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.just(-0.0), st.complex_numbers(allow_nan=True),
    st.text(max_size=8), st.binary(max_size=8), st.binary(max_size=8).map(bytearray),
    st.builds(slice, st.none() | st.integers(-5, 5), st.none() | st.integers(-5, 5), st.none() | st.integers(1, 3)),
    st.builds(range, st.integers(-5, 5), st.integers(-5, 5), st.integers(1, 3)), st.just(Ellipsis),
    numpy_scalars, numpy_arrays(), tensors(), st.sampled_from(NUMPY_DTYPES).map(np.dtype),
    st.sampled_from(TORCH_DTYPES), hnp.array_shapes(min_dims=0, max_dims=3).map(torch.Size),
)
def _object_array(items):
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):  # one by one: NumPy would try to convert nested sequences
        out[i] = v
    return out


hashables = st.one_of(st.integers(), st.text(max_size=4), st.booleans(), st.tuples(st.integers(), st.text(max_size=2)))

values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(hashables, inner, max_size=4),
        st.sets(hashables, max_size=4), st.frozensets(hashables, max_size=4),
        st.lists(inner, max_size=3).map(_object_array),
    ),
    max_leaves=12,
)


def expected(value):
    """What exact transport promises for ``value`` (arrays keep their layout but become copies)."""
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        return _expected_array(value)
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_every_value_reaches_the_test_exactly(value):
    same(expected(value), to_judge(value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_every_argument_reaches_the_student_exactly(value):
    same(expected(value), to_kernel(value))


def test_the_0d_array_that_used_to_become_1d():
    """A function returning np.sum(x, keepdims=False) or np.asarray(2.5) hands the test a 0-d
    array; float() of it must work in the test as in the kernel."""
    back = to_judge(np.asarray(2.5))
    assert back.shape == () and float(back) == 2.5
    assert to_judge(np.float64(2.5)).__class__ is np.float64
    assert to_judge(torch.tensor(3.0)).shape == ()


def test_shared_and_self_referencing_objects_keep_their_shape():
    a = np.arange(3.0)
    box = [a, a, {"k": a}]
    box.append(box)
    back = to_judge(box)
    assert back[0] is back[1] is back[2]["k"] and back[3] is back


def test_objects_become_handles_and_subclasses_lose_their_behaviour():
    class Weird(float):
        def __eq__(self, other):
            return True

    handles = []
    encoded = wire.encode([Weird(2.0), object()], lambda obj: handles.append(obj) or {"$h": len(handles)})
    back = wire.decode(json.loads(json.dumps(encoded)), lambda tag: ("handle", tag["$h"]), trusted=False)
    assert type(back[0]) is float and back[0] != 3.0
    assert back[1] == ("handle", 1)


@pytest.mark.parametrize("bad", [
    {"$p": "gASVEAAAAAAAAACMCGJ1aWx0aW5zlIwFcHJpbnSUk5Qu"},  # a pickle: never unpickled by the judge
    {"$m": "os"},  # a module the judge did not choose
    {"x": 1},  # an untagged object
    {"$a": ["|O", [1], "AA==", ""]},  # object arrays cross element by element, never as bytes
    {"$a": ["<f8", [3], "AAAAAAAAAAA=", ""]},  # data shorter than the shape says
    {"$ao": [[2], [1], ""]},  # fewer elements than the shape says
    {"$same": 0},  # a reference to nothing seen yet
    {"$in": 0},  # an argument the judge did not send
    {"$c": ["1", 2.0]},
    {"$zz": 1},
    {"$h": "1"},
])
def test_the_judge_refuses_what_is_not_data(bad):
    with pytest.raises(wire.WireError):
        wire.decode(bad, lambda tag: ("handle", tag["$h"]), trusted=False,
                    modules=lambda name: (_ for _ in ()).throw(wire.WireError(name)))


def test_deep_nesting_is_refused():
    value = 1
    for _ in range(wire.MAX_DEPTH + 5):
        value = [value]
    with pytest.raises(wire.WireError):
        to_judge(value)


# --- call by value-result ---------------------------------------------------------------------


def through_the_judge(function, *args, **kwargs):
    """Call ``function`` as the judge calls a student's function: the arguments cross to the
    kernel as copies, the function runs there, and the answer and the changes come back."""
    judge_side = wire.Encoder(_no_handle, allow_pickle=True)
    request = json.loads(json.dumps(judge_side([list(args), dict(kwargs)])))
    # kernel side
    received = wire.Decoder(lambda tag: None, trusted=True)
    positional, keywords = received(request)
    tracker = wire.Tracker(received.objects)
    out = wire.Encoder(_no_handle, received=tracker.ids)
    reply = json.loads(json.dumps({"ok": out(function(*positional, **keywords)), "back": tracker.changes(out)}))
    # judge side again
    decoder = wire.Decoder(lambda tag: None, trusted=False, sent=judge_side.objects)
    result = decoder(reply["ok"])
    for index, contents in reply["back"]:
        wire.merge(judge_side.objects[index], decoder(contents))
    return result


def _normalise_in_place(z):
    z = np.asarray(z, dtype=float)  # the caller's own array when it is already float
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _grow(xs, d):
    xs.append(len(xs))
    xs[0].fill(7.0)
    d["new"] = xs
    d.pop("old")
    return None


def _reshape(a, b):
    a.shape = (a.size,)
    b.resize((2, 2), refcheck=False)


MUTATIONS = {
    "in-place softmax returns its argument": (_normalise_in_place, lambda: (np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),)),
    "list append, inner array fill, dict update": (_grow, lambda: ([np.zeros(2), 5], {"old": 1})),
    "shape changed in place": (_reshape, lambda: (np.arange(6.0).reshape(2, 3), np.arange(3.0))),
    "nothing changed": (lambda a, b: float(a.sum() + len(b)), lambda: (np.ones(3), [1, 2])),
}


def _tensor_step(w, s):
    with torch.no_grad():
        w.add_(1.0)
    s.add(3)
    (w * 2).sum().backward()  # w requires grad: its .grad is set, as in the kernel


MUTATIONS["tensor add_, grad from backward, set add"] = (
    _tensor_step, lambda: (torch.zeros(3).requires_grad_(True), {1}))


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_changes_to_arguments_reach_the_tests_objects(case):
    function, make = MUTATIONS[case]
    direct_args, judged_args = make(), make()
    direct = function(*direct_args)
    judged = through_the_judge(function, *judged_args)
    for a, b in zip(direct_args, judged_args, strict=True):
        same(a, b)
    if direct is None or isinstance(direct, float):
        assert judged == direct
    else:  # the function returned its argument: the test gets its own object back
        assert direct is direct_args[0] and judged is judged_args[0]


def test_an_argument_passed_twice_is_one_object_in_the_kernel():
    a = np.zeros(3)
    seen = through_the_judge(lambda x, y: x is y, a, a)
    assert seen is True
    through_the_judge(lambda x, y: y.__setitem__(0, 5.0), a, a)
    assert a[0] == 5.0


def test_an_unchanged_argument_is_left_as_it_was():
    a = np.arange(4.0)
    a.flags.writeable = False  # a write-back would have to lift this
    through_the_judge(lambda x: float(x.sum()), a)
    assert not a.flags.writeable


def test_a_view_passed_as_an_argument_writes_through_to_its_base():
    base = np.zeros((2, 3))
    through_the_judge(lambda col: col.fill(1.0), base[:, 1])
    assert base[:, 1].tolist() == [1.0, 1.0] and base[:, [0, 2]].sum() == 0


def test_the_kernel_cannot_forge_changes_to_what_it_was_not_given():
    link_objects = [np.zeros(2)]
    decoder = wire.Decoder(lambda tag: None, trusted=False, sent=link_objects)
    with pytest.raises(wire.WireError):
        decoder({"$in": 1})
    with pytest.raises(wire.WireError):
        wire.merge(np.zeros(2), [1, 2])  # an array cannot become a list


def test_deepcopy_of_a_sent_argument_is_not_the_argument():
    xs = [1, 2]
    out = through_the_judge(copy.deepcopy, xs)
    assert out == xs and out is not xs
    assert math.isclose(through_the_judge(lambda x: x[0] / 3, xs), 1 / 3)
