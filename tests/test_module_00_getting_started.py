"""Module 00: do its tests reject plausible wrong answers?"""

import pytest
from moduletools import assert_every_exercise_covered, check_wrong_answer, wrong_answer_cases

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
