"""Module 00: do its tests reject plausible wrong answers, and keep full marks for right ones?"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "00-getting-started"
NOTEBOOK = "getting-started.ipynb"
pytestmark = pytest.mark.module00

WRONG = {
    NOTEBOOK: {
        "ex-softmax": [
            # the literal formula: overflows to nan at scores near 1000
            "def softmax(z, axis=-1):\n    e = np.exp(np.asarray(z, float))\n    return e / e.sum(axis=axis, keepdims=True)\n",
            # stable, but always normalises along the last axis
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n",
            # the maximum of the whole array: rows on very different scales underflow to 0/0
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    e = np.exp(z - z.max())\n    return e / e.sum(axis=axis, keepdims=True)\n",
            # subtracts the minimum: e^800 overflows when the scores of a row are spread out
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    e = np.exp(z - z.min(axis=axis, keepdims=True))\n    return e / e.sum(axis=axis, keepdims=True)\n",
            # thinks in matrices: axis=0 by transposing, any other axis becomes the last one
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    if axis == 0:\n        z = z.T\n"
            "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    p = e / e.sum(axis=-1, keepdims=True)\n"
            "    return p.T if axis == 0 else p\n",
        ],
        "ex-pairwise": [
            # Euclidean, not squared
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, float), np.asarray(Y, float)\n    return np.sqrt(np.maximum((X**2).sum(1)[:, None] - 2 * X @ Y.T + (Y**2).sum(1)[None, :], 0))\n",
            # the norms broadcast the wrong way round (only right when n == m and X == Y)
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, float), np.asarray(Y, float)\n    return (X**2).sum(1)[None, :] - 2 * X @ Y.T + (Y**2).sum(1)[:, None]\n",
            # no clipping: rounding leaves entries slightly below zero on the diagonal of D(X, X)
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, float), np.asarray(Y, float)\n    return (X**2).sum(1)[:, None] - 2 * X @ Y.T + (Y**2).sum(1)[None, :]\n",
            # computes in the input's dtype: uint8 pixels wrap around at 256
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X), np.asarray(Y)\n    return np.maximum((X**2).sum(1)[:, None] - 2 * X @ Y.T + (Y**2).sum(1)[None, :], 0)\n",
        ],
        "ex-moving-average": [
            # off by one: drops the last window
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    if not 1 <= k <= len(x):\n        raise ValueError('k')\n    c = np.concatenate([[0.0], np.cumsum(x)])\n    return (c[k:-1] - c[:-k-1]) / k\n",
            # 'same'-length output instead of the valid windows
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    if not 1 <= k <= len(x):\n        raise ValueError('k')\n    return np.convolve(x, np.ones(k) / k, mode='same')\n",
            # right values, no validation of k
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    return np.convolve(x, np.ones(k) / k, mode='valid')\n",
            # only the upper bound is checked: k = -1 returns a number instead of raising
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    if k > len(x):\n        raise ValueError('k')\n    c = np.concatenate([[0.0], np.cumsum(x)])\n    return (c[k:] - c[:-k]) / k\n",
            # an assert instead of the ValueError the spec asks for
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    assert 1 <= k <= len(x), 'bad window'\n    c = np.concatenate([[0.0], np.cumsum(x)])\n    return (c[k:] - c[:-k]) / k\n",
            # off by one in the check: rejects the valid window k = len(x)
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    if not 1 <= k < len(x):\n        raise ValueError('k')\n    c = np.concatenate([[0.0], np.cumsum(x)])\n    return (c[k:] - c[:-k]) / k\n",
        ],
    }
}

# Wrong only because they modify their argument (the judge applies a student's in-place changes
# to the test's objects, as a plain kernel does); merged into WRONG below.
_IN_PLACE = {
    NOTEBOOK: {
        "ex-softmax": [
            # np.asarray(z, float) is z itself for a float array: -=, out= and /= overwrite it
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    z -= z.max(axis=axis, keepdims=True)\n"
            "    np.exp(z, out=z)\n    z /= z.sum(axis=axis, keepdims=True)\n    return z\n",
        ],
    }
}

for _exercise, _codes in _IN_PLACE[NOTEBOOK].items():
    WRONG[NOTEBOOK][_exercise] += _codes


# subtracts the mean: finite up to a spread of about 1400, nan beyond
SOFTMAX_MINUS_MEAN = """
def softmax(z, axis=-1):
    z = np.asarray(z, float)
    e = np.exp(z - z.mean(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
"""
WRONG["getting-started.ipynb"]["ex-softmax"] = [*WRONG["getting-started.ipynb"]["ex-softmax"], SOFTMAX_MINUS_MEAN]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT = {
    NOTEBOOK: {
        "ex-softmax": [
            # scipy's own softmax
            "from scipy.special import softmax as _sp\ndef softmax(z, axis=-1):\n    return _sp(np.asarray(z, float), axis=axis)\n",
            # a log-sum-exp formulation
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    m = z.max(axis=axis, keepdims=True)\n"
            "    return np.exp(z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True)))\n",
            # move the axis last, work there, move it back
            "def softmax(z, axis=-1):\n    z = np.moveaxis(np.asarray(z, float), axis, -1)\n"
            "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    return np.moveaxis(e / e.sum(axis=-1, keepdims=True), -1, axis)\n",
            # in place, but on a copy of its own (np.array copies)
            "def softmax(z, axis=-1):\n    z = np.array(z, dtype=float)\n    z -= z.max(axis=axis, keepdims=True)\n"
            "    np.exp(z, out=z)\n    z /= z.sum(axis=axis, keepdims=True)\n    return z\n",
        ],
        "ex-pairwise": [
            # a difference-then-sum by broadcasting a 3-d array
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, float), np.asarray(Y, float)\n"
            "    return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)\n",
            # einsum for the norms, np.clip for the rounding
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)\n"
            "    sq = np.einsum('ij,ij->i', X, X)[:, None] + np.einsum('ij,ij->i', Y, Y) - 2 * X @ Y.T\n"
            "    return np.clip(sq, 0, None)\n",
            # the library call itself
            "from scipy.spatial.distance import cdist\ndef pairwise_sq_dists(X, Y):\n"
            "    return cdist(np.asarray(X, float), np.asarray(Y, float), 'sqeuclidean')\n",
        ],
        "ex-moving-average": [
            # np.convolve
            "def moving_average(x, k):\n    if not 1 <= k <= len(x):\n        raise ValueError(k)\n"
            "    return np.convolve(np.asarray(x, float), np.ones(k) / k, mode='valid')\n",
            # a Python list of window means
            "def moving_average(x, k):\n    x = list(x)\n    if not 1 <= k <= len(x):\n        raise ValueError(k)\n"
            "    return [sum(x[t:t + k]) / k for t in range(len(x) - k + 1)]\n",
            # sliding windows as a strided view
            "def moving_average(x, k):\n    x = np.asarray(x, dtype=float)\n    if k < 1 or k > x.shape[0]:\n        raise ValueError(f'bad window {k}')\n"
            "    return np.lib.stride_tricks.sliding_window_view(x, k).mean(axis=1)\n",
        ],
    }
}


# the expansion computed in float32 (floating point, as the spec asks): right to about 1e-4 on data of scale 10
PAIRWISE_FLOAT32 = """
def pairwise_sq_dists(X, Y):
    X = np.asarray(X, dtype=np.float32); Y = np.asarray(Y, dtype=np.float32)
    D = (X**2).sum(1)[:, None] - 2 * X @ Y.T + (Y**2).sum(1)[None, :]
    return np.maximum(D, 0)
"""
RIGHT["getting-started.ipynb"]["ex-pairwise"] = [*RIGHT["getting-started.ipynb"]["ex-pairwise"], PAIRWISE_FLOAT32]


# torch unfold(...).mean() in float32
MA_TORCH_UNFOLD = """
import torch
def moving_average(x, k):
    x = np.asarray(x, dtype=np.float32)
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= len(x)):
        raise ValueError('bad k')
    t = torch.as_tensor(x)
    return t.unfold(0, k, 1).mean(1).numpy()
"""
RIGHT["getting-started.ipynb"]["ex-moving-average"] = [*RIGHT["getting-started.ipynb"]["ex-moving-average"], MA_TORCH_UNFOLD]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)
