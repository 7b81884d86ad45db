"""Module 00: do its tests reject plausible wrong answers?"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "00-getting-started"
pytestmark = pytest.mark.module00

WRONG = {
    "getting-started.ipynb": {
        "ex-softmax": [
            # the literal formula: overflows to nan at scores near 1000
            "def softmax(z, axis=-1):\n    e = np.exp(np.asarray(z, float))\n    return e / e.sum(axis=axis, keepdims=True)\n",
            # stable, but always normalises along the last axis
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n",
        ],
        "ex-pairwise": [
            # Euclidean, not squared
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, float), np.asarray(Y, float)\n    return np.sqrt(np.maximum((X**2).sum(1)[:, None] - 2 * X @ Y.T + (Y**2).sum(1)[None, :], 0))\n",
            # the norms broadcast the wrong way round (only right when n == m and X == Y)
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, float), np.asarray(Y, float)\n    return (X**2).sum(1)[None, :] - 2 * X @ Y.T + (Y**2).sum(1)[:, None]\n",
        ],
        "ex-moving-average": [
            # off by one: drops the last window
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    if not 1 <= k <= len(x):\n        raise ValueError('k')\n    c = np.concatenate([[0.0], np.cumsum(x)])\n    return (c[k:-1] - c[:-k-1]) / k\n",
            # 'same'-length output instead of the valid windows
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    if not 1 <= k <= len(x):\n        raise ValueError('k')\n    return np.convolve(x, np.ones(k) / k, mode='same')\n",
            # right values, no validation of k
            "def moving_average(x, k):\n    x = np.asarray(x, float)\n    return np.convolve(x, np.ones(k) / k, mode='valid')\n",
        ],
    }
}


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT = {
    "getting-started.ipynb": {
        # scipy's own softmax, and a log-sum-exp formulation
        "ex-softmax": [
            "from scipy.special import softmax as _sp\ndef softmax(z, axis=-1):\n    return _sp(np.asarray(z, float), axis=axis)\n",
            "def softmax(z, axis=-1):\n    z = np.asarray(z, float)\n    m = z.max(axis=axis, keepdims=True)\n"
            "    return np.exp(z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True)))\n",
        ],
        # a difference-then-sum by broadcasting a 3-d array
        "ex-pairwise": [
            "def pairwise_sq_dists(X, Y):\n    X, Y = np.asarray(X, float), np.asarray(Y, float)\n"
            "    return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)\n",
        ],
        # np.convolve, and a Python list of window means
        "ex-moving-average": [
            "def moving_average(x, k):\n    if not 1 <= k <= len(x):\n        raise ValueError(k)\n"
            "    return np.convolve(np.asarray(x, float), np.ones(k) / k, mode='valid')\n",
            "def moving_average(x, k):\n    x = list(x)\n    if not 1 <= k <= len(x):\n        raise ValueError(k)\n"
            "    return [sum(x[t:t + k]) / k for t in range(len(x) - k + 1)]\n",
        ],
    }
}


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)
