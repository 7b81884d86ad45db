"""Module 05 · self-organizing maps: plausible wrong answers that the notebook's tests must catch,
and correct answers written differently that must keep full marks."""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "05-self-organizing-maps"
NOTEBOOK = "self-organizing-maps.ipynb"
pytestmark = pytest.mark.module05

# A correct, compact SOM; the wrong classes below each change one line of it.
_SOM = """
class SOM:
    def __init__(self, rows, cols, sigma=1.0, learning_rate=0.5, n_iter=1000,
                 method="sequential", init=None, shuffle=True, random_state=0):
        self.rows, self.cols, self.sigma, self.learning_rate = rows, cols, sigma, learning_rate
        self.n_iter, self.method, self.init = n_iter, method, init
        self.shuffle, self.random_state = shuffle, random_state

    def fit(self, X):
        X = np.asarray(X, dtype=float)
        n = len(X)
        rng = np.random.default_rng(self.random_state)
        if self.init is None:
            W = X[rng.choice(n, self.rows * self.cols, replace=n < self.rows * self.cols)]
            W = W.reshape(self.rows, self.cols, -1).copy()
        else:
            W = np.array(self.init, dtype=float)
        if self.method == "sequential":
            order = np.arange(self.n_iter) % n
            if self.shuffle:
                rng.shuffle(order)
            for t, i in enumerate(order):
                W = sequential_step(W, X[i], t, self.n_iter, self.sigma, self.learning_rate)  # STEP
        else:
            for e in range(self.n_iter):
                eta = asymptotic_decay(self.learning_rate, e, self.n_iter)
                W = (1 - eta) * W + eta * batch_step(W, X, asymptotic_decay(self.sigma, e, self.n_iter))  # BATCH
        self.weights_ = W
        return self

    def predict(self, X):
        return best_matching_units(self.weights_, X)

    def winner(self, x):
        r, c = best_matching_units(self.weights_, np.asarray(x)[None, :])[0]
        return int(r), int(c)

    def quantization_error(self, X):
        return quantization_error(self.weights_, X)

    def topographic_error(self, X):
        return topographic_error(self.weights_, X)
"""


def _som(old: str, new: str) -> str:
    assert old in _SOM, old
    return _SOM.replace(old, new)


_SIGMA_NOT_DECAYED = _som(
    "W = sequential_step(W, X[i], t, self.n_iter, self.sigma, self.learning_rate)  # STEP",
    # sigma fixed at its initial value: only the learning rate decays
    "eta = asymptotic_decay(self.learning_rate, t, self.n_iter)\n"
    "                c = best_matching_units(W, X[i][None])[0]\n"
    "                h = gaussian_neighbourhood(self.rows, self.cols, c, self.sigma)\n"
    "                W = W + eta * h[:, :, None] * (X[i] - W)",
)
_T_OFF_BY_ONE = _som(
    "sequential_step(W, X[i], t, self.n_iter",
    "sequential_step(W, X[i], t + 1, self.n_iter",  # steps numbered 1..T instead of 0..T-1
)
_BATCH_NO_BLEND = _som(
    "W = (1 - eta) * W + eta * batch_step(",
    "W = batch_step(",  # pure batch map, ignoring the learning rate
)
assert len({_SOM, _SIGMA_NOT_DECAYED, _T_OFF_BY_ONE, _BATCH_NO_BLEND}) == 4

# Shared preamble of the wrong U-matrices: distance to the neighbour at offset (di, dk).
_U_PRE = """
def u_matrix(W):
    W = np.asarray(W, dtype=float)
    rows, cols = W.shape[:2]
    total, count = np.zeros((rows, cols)), np.zeros((rows, cols))
    for di, dk in OFFSETS:
        i0, i1, k0, k1 = max(0, -di), rows - max(0, di), max(0, -dk), cols - max(0, dk)
        d = np.linalg.norm(W[i0:i1, k0:k1] - W[i0 + di:i1 + di, k0 + dk:k1 + dk], axis=-1)
        total[i0:i1, k0:k1] += d
        count[i0:i1, k0:k1] += 1
"""
_EIGHT = "[(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]"
_FOUR = "[(-1, 0), (1, 0), (0, -1), (0, 1)]"

_BATCH = """def batch_step(W, X, sigma):
    W = np.asarray(W, dtype=float)
    X = np.asarray(X, dtype=float)
    rows, cols = W.shape[:2]
    b = best_matching_units(W, X)
    di = (np.arange(rows)[:, None] - b[:, 0][None, :]) ** 2            # (rows, n)
    dk = (np.arange(cols)[:, None] - b[:, 1][None, :]) ** 2            # (cols, n)
    H = np.exp(-di / (2 * sigma**2))[:, None, :] * np.exp(-dk / (2 * sigma**2))[None, :, :]
    num = H @ X
    den = H.sum(axis=-1)[:, :, None]
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), W)
"""

WRONG = {
    NOTEBOOK: {
        "ex-decay": [
            # forgets the /2: decays to half, not a third
            "def asymptotic_decay(value0, t, max_iter):\n    return value0 / (1 + np.asarray(t) / max_iter)\n",
            # exponential decay
            "def asymptotic_decay(value0, t, max_iter):\n    return value0 * np.exp(-np.asarray(t) / max_iter)\n",
            # floor division: right for an even max_iter only
            "def asymptotic_decay(value0, t, max_iter):\n    return value0 / (1 + np.asarray(t, dtype=float) / (max_iter // 2))\n",
            # flattens the steps: a 2-D array of steps comes back 1-D
            "def asymptotic_decay(value0, t, max_iter):\n    return value0 / (1 + np.ravel(t) / (max_iter / 2))\n",
        ],
        "ex-neighbourhood": [
            # no square on the grid distance
            """def gaussian_neighbourhood(rows, cols, c, sigma):
    i, k = np.arange(rows)[:, None], np.arange(cols)[None, :]
    dist = np.sqrt((i - c[0]) ** 2 + (k - c[1]) ** 2)
    return np.exp(-dist / (2 * sigma**2))
""",
            # sigma^2 instead of 2 sigma^2
            """def gaussian_neighbourhood(rows, cols, c, sigma):
    i, k = np.arange(rows)[:, None], np.arange(cols)[None, :]
    return np.exp(-((i - c[0]) ** 2 + (k - c[1]) ** 2) / sigma**2)
""",
            # row and column of the winner swapped
            """def gaussian_neighbourhood(rows, cols, c, sigma):
    i, k = np.arange(rows)[:, None], np.arange(cols)[None, :]
    return np.exp(-((i - c[1]) ** 2 + (k - c[0]) ** 2) / (2 * sigma**2))
""",
            # np.meshgrid's default "xy" indexing: shape (cols, rows)
            """def gaussian_neighbourhood(rows, cols, c, sigma):
    k, i = np.meshgrid(np.arange(rows), np.arange(cols))
    return np.exp(-((k - c[0]) ** 2 + (i - c[1]) ** 2) / (2 * sigma**2))
""",
            # 2 sigma instead of 2 sigma^2: right for sigma = 1 only
            """def gaussian_neighbourhood(rows, cols, c, sigma):
    i, k = np.arange(rows)[:, None], np.arange(cols)[None, :]
    return np.exp(-((i - c[0]) ** 2 + (k - c[1]) ** 2) / (2 * sigma))
""",
        ],
        "ex-bmu": [
            # argmax instead of argmin
            """def best_matching_units(W, X):
    flat = np.asarray(W).reshape(-1, np.shape(W)[-1])
    sq = ((np.asarray(X)[:, None, :] - flat[None]) ** 2).sum(-1)
    return np.stack(np.unravel_index(sq.argmax(axis=1), np.shape(W)[:2]), axis=1)
""",
            # flat index unravelled with the number of rows instead of columns
            """def best_matching_units(W, X):
    flat = np.asarray(W).reshape(-1, np.shape(W)[-1])
    k = ((np.asarray(X)[:, None, :] - flat[None]) ** 2).sum(-1).argmin(axis=1)
    rows = np.shape(W)[0]
    return np.stack([k // rows, k % rows], axis=1)
""",
            # ties go to the LAST unit (argmin over the reversed units)
            """def best_matching_units(W, X):
    flat = np.asarray(W, dtype=float).reshape(-1, np.shape(W)[-1])
    sq = ((np.asarray(X, dtype=float)[:, None, :] - flat[None]) ** 2).sum(-1)
    k = flat.shape[0] - 1 - sq[:, ::-1].argmin(axis=1)
    return np.stack(np.unravel_index(k, np.shape(W)[:2]), axis=1)
""",
            # Manhattan distance instead of Euclidean
            """def best_matching_units(W, X):
    flat = np.asarray(W, dtype=float).reshape(-1, np.shape(W)[-1])
    k = np.abs(np.asarray(X, dtype=float)[:, None, :] - flat[None]).sum(-1).argmin(axis=1)
    return np.stack(np.unravel_index(k, np.shape(W)[:2]), axis=1)
""",
        ],
        "ex-step": [
            # sigma not decayed
            """def sequential_step(W, x, t, max_iter, sigma0, learning_rate0):
    W = np.asarray(W, dtype=float)
    c = best_matching_units(W, x[None])[0]
    h = gaussian_neighbourhood(W.shape[0], W.shape[1], c, sigma0)
    return W + asymptotic_decay(learning_rate0, t, max_iter) * h[:, :, None] * (x - W)
""",
            # learning rate not decayed
            """def sequential_step(W, x, t, max_iter, sigma0, learning_rate0):
    W = np.asarray(W, dtype=float)
    c = best_matching_units(W, x[None])[0]
    h = gaussian_neighbourhood(W.shape[0], W.shape[1], c, asymptotic_decay(sigma0, t, max_iter))
    return W + learning_rate0 * h[:, :, None] * (x - W)
""",
            # sign error: units move away from the sample
            """def sequential_step(W, x, t, max_iter, sigma0, learning_rate0):
    W = np.asarray(W, dtype=float)
    c = best_matching_units(W, x[None])[0]
    h = gaussian_neighbourhood(W.shape[0], W.shape[1], c, asymptotic_decay(sigma0, t, max_iter))
    return W + asymptotic_decay(learning_rate0, t, max_iter) * h[:, :, None] * (W - x)
""",
            # updates W in place (np.asarray of a float array is the array itself)
            """def sequential_step(W, x, t, max_iter, sigma0, learning_rate0):
    W = np.asarray(W, dtype=float)
    c = best_matching_units(W, x[None])[0]
    h = gaussian_neighbourhood(W.shape[0], W.shape[1], c, asymptotic_decay(sigma0, t, max_iter))
    W += asymptotic_decay(learning_rate0, t, max_iter) * h[:, :, None] * (x - W)
    return W
""",
        ],
        "ex-qe": [
            # squared distances
            """def quantization_error(W, X):
    W, X = np.asarray(W), np.asarray(X)
    b = best_matching_units(W, X)
    return float((((X - W[b[:, 0], b[:, 1]]) ** 2).sum(axis=1)).mean())
""",
            # root of the mean squared distance
            """def quantization_error(W, X):
    W, X = np.asarray(W), np.asarray(X)
    b = best_matching_units(W, X)
    return float(np.sqrt((((X - W[b[:, 0], b[:, 1]]) ** 2).sum(axis=1)).mean()))
""",
            # distances from the expanded squares: digits lost far from the origin
            """def quantization_error(W, X):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    flat = W.reshape(-1, W.shape[-1])
    sq = (X**2).sum(1)[:, None] - 2 * X @ flat.T + (flat**2).sum(1)[None, :]
    return float(np.sqrt(np.maximum(sq.min(axis=1), 0)).mean())
""",
            # the median distance
            """def quantization_error(W, X):
    W, X = np.asarray(W), np.asarray(X)
    b = best_matching_units(W, X)
    return float(np.median(np.linalg.norm(X - W[b[:, 0], b[:, 1]], axis=1)))
""",
        ],
        "ex-te": [
            # 4-neighbourhood: diagonal neighbours counted as errors
            """def topographic_error(W, X):
    W, X = np.asarray(W), np.asarray(X)
    flat = W.reshape(-1, W.shape[-1])
    best2 = np.argsort(((X[:, None, :] - flat[None]) ** 2).sum(-1), axis=1)[:, :2]
    r, c = np.unravel_index(best2, W.shape[:2])
    return float((np.abs(r[:, 0] - r[:, 1]) + np.abs(c[:, 0] - c[:, 1]) > 1).mean())
""",
            # second and third units instead of first and second
            """def topographic_error(W, X):
    W, X = np.asarray(W), np.asarray(X)
    flat = W.reshape(-1, W.shape[-1])
    best2 = np.argsort(((X[:, None, :] - flat[None]) ** 2).sum(-1), axis=1)[:, 1:3]
    r, c = np.unravel_index(best2, W.shape[:2])
    return float((np.maximum(np.abs(r[:, 0] - r[:, 1]), np.abs(c[:, 0] - c[:, 1])) > 1).mean())
""",
            # "not adjacent" only when BOTH the rows and the columns are more than one apart
            """def topographic_error(W, X):
    W, X = np.asarray(W), np.asarray(X)
    flat = W.reshape(-1, W.shape[-1])
    best2 = np.argsort(((X[:, None, :] - flat[None]) ** 2).sum(-1), axis=1)[:, :2]
    r, c = np.unravel_index(best2, W.shape[:2])
    return float(((np.abs(r[:, 0] - r[:, 1]) > 1) & (np.abs(c[:, 0] - c[:, 1]) > 1)).mean())
""",
            # flat indices unravelled with (cols, rows)
            """def topographic_error(W, X):
    W, X = np.asarray(W), np.asarray(X)
    flat = W.reshape(-1, W.shape[-1])
    best2 = np.argsort(((X[:, None, :] - flat[None]) ** 2).sum(-1), axis=1)[:, :2]
    r, c = np.unravel_index(best2, (W.shape[1], W.shape[0]))
    return float((np.maximum(np.abs(r[:, 0] - r[:, 1]), np.abs(c[:, 0] - c[:, 1])) > 1).mean())
""",
        ],
        "ex-batch": [
            # neighbourhood-weighted sum, not mean
            """def batch_step(W, X, sigma):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    b = best_matching_units(W, X)
    H = np.stack([gaussian_neighbourhood(W.shape[0], W.shape[1], c, sigma) for c in b], axis=-1)
    return H @ X
""",
            # no neighbourhood: each unit = mean of the samples it wins (a k-means step)
            """def batch_step(W, X, sigma):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    b = best_matching_units(W, X)
    out = W.copy()
    for i in range(W.shape[0]):
        for k in range(W.shape[1]):
            won = (b[:, 0] == i) & (b[:, 1] == k)
            if won.any():
                out[i, k] = X[won].mean(axis=0)
    return out
""",
            # num / den: 0 / 0 = nan for a unit no sample reaches
            _BATCH.replace("return np.where(den > 0, num / np.where(den > 0, den, 1.0), W)", "return num / den"),
            # a floor on the denominator: such a unit collapses to 0 instead of keeping its weight
            _BATCH.replace("return np.where(den > 0, num / np.where(den > 0, den, 1.0), W)",
                           "return num / np.maximum(den, 1e-300)"),
            # rows and columns of the grid swapped in the neighbourhood weights
            _BATCH.replace("np.exp(-di / (2 * sigma**2))[:, None, :] * np.exp(-dk / (2 * sigma**2))[None, :, :]",
                           "np.exp(-dk / (2 * sigma**2))[:, None, :] * np.exp(-di / (2 * sigma**2))[None, :, :]"),
        ],
        "ex-som": [
            _SIGMA_NOT_DECAYED,
            _T_OFF_BY_ONE,
            _BATCH_NO_BLEND,
            # random_state ignored: always seed 0
            _som("rng = np.random.default_rng(self.random_state)", "rng = np.random.default_rng(0)"),
            # shuffle ignored: the data always in order
            _som("            if self.shuffle:\n                rng.shuffle(order)\n", ""),
            # the initial samples drawn with replacement: units start as duplicates
            _som("replace=n < self.rows * self.cols", "replace=True"),
            # init used without a copy, updated in place by the batch blend
            _som("W = np.array(self.init, dtype=float)", "W = np.asarray(self.init, dtype=float)")
            .replace("W = (1 - eta) * W + eta * batch_step(W, X, asymptotic_decay(self.sigma, e, self.n_iter))  # BATCH",
                     "W *= 1 - eta\n                W += eta * batch_step(W / (1 - eta), X, asymptotic_decay(self.sigma, e, self.n_iter))"),
        ],
        "ex-umatrix": [
            # 4-neighbourhood
            _U_PRE.replace("OFFSETS", _FOUR) + "    return total / np.maximum(count, 1)\n",
            # sum instead of mean
            _U_PRE.replace("OFFSETS", _EIGHT) + "    return total\n",
            # mean over 8 even at the border (missing neighbours counted as 0)
            _U_PRE.replace("OFFSETS", _EIGHT) + "    return total / 8\n",
            # np.roll: the map wraps around (a torus), every unit has 8 neighbours
            """def u_matrix(W):
    W = np.asarray(W, dtype=float)
    offsets = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]
    return sum(np.linalg.norm(W - np.roll(W, (a, b), axis=(0, 1)), axis=-1) for a, b in offsets) / 8
""",
        ],
    }
}


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT = {
    NOTEBOOK: {
        "ex-decay": [
            # a loop-free form with np.divide and a list of steps turned into an array
            "def asymptotic_decay(value0, t, max_iter):\n    return np.divide(value0 * max_iter, max_iter + 2.0 * np.asarray(t))\n",
        ],
        "ex-neighbourhood": [
            # an outer product of two 1-D Gaussians, meshgrid with ij indexing
            """def gaussian_neighbourhood(rows, cols, c, sigma):
    i, k = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.exp(-((i - c[0]) ** 2 + (k - c[1]) ** 2) / (2.0 * sigma**2))
""",
            """def gaussian_neighbourhood(rows, cols, c, sigma):
    gi = np.exp(-((np.arange(rows) - c[0]) ** 2) / (2 * sigma**2))
    gk = np.exp(-((np.arange(cols) - c[1]) ** 2) / (2 * sigma**2))
    return np.outer(gi, gk)
""",
        ],
        "ex-bmu": [
            # a broadcast difference, the flat index split with divmod
            """def best_matching_units(W, X):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    rows, cols, d = W.shape
    k = np.linalg.norm(X[:, None, :] - W.reshape(1, rows * cols, d), axis=2).argmin(axis=1)
    return np.column_stack(divmod(k, cols))
""",
        ],
        "ex-step": [
            # through best_matching_units, on a copy updated in place
            """def sequential_step(W, x, t, max_iter, sigma0, learning_rate0):
    W = np.array(W, dtype=float)
    c = best_matching_units(W, np.asarray(x)[None])[0]
    h = gaussian_neighbourhood(W.shape[0], W.shape[1], c, asymptotic_decay(sigma0, t, max_iter))
    W += asymptotic_decay(learning_rate0, t, max_iter) * h[..., None] * (x - W)
    return W
""",
        ],
        "ex-qe": [
            """def quantization_error(W, X):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    flat = W.reshape(-1, W.shape[-1])
    d = np.sqrt(((X[:, None, :] - flat[None]) ** 2).sum(-1))
    return float(d.min(axis=1).mean())
""",
        ],
        "ex-te": [
            # argpartition and the Euclidean grid distance against MiniSom's 1.42
            """def topographic_error(W, X):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    flat = W.reshape(-1, W.shape[-1])
    d = np.linalg.norm(X[:, None, :] - flat[None], axis=-1)
    two = np.argpartition(d, 1, axis=1)[:, :2]
    r, c = np.divmod(two, W.shape[1])
    return float((np.hypot(r[:, 0] - r[:, 1], c[:, 0] - c[:, 1]) > 1.42).mean())
""",
        ],
        "ex-batch": [
            # the neighbourhood of every sample stacked, then a weighted mean with einsum
            """def batch_step(W, X, sigma):
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    b = best_matching_units(W, X)
    H = np.stack([gaussian_neighbourhood(W.shape[0], W.shape[1], c, sigma) for c in b], axis=-1)
    den = H.sum(axis=-1)
    num = np.einsum("rcn,nd->rcd", H, X)
    out = W.copy()
    ok = den > 0
    out[ok] = num[ok] / den[ok][:, None]
    return out
""",
        ],
        "ex-som": [_SOM],
        "ex-umatrix": [
            # a loop over units (slow, but correct)
            """def u_matrix(W):
    W = np.asarray(W, dtype=float)
    rows, cols = W.shape[:2]
    U = np.zeros((rows, cols))
    for i in range(rows):
        for k in range(cols):
            d = [np.linalg.norm(W[i, k] - W[a, b]) for a in range(max(0, i - 1), min(rows, i + 2))
                 for b in range(max(0, k - 1), min(cols, k + 2)) if (a, b) != (i, k)]
            U[i, k] = np.mean(d) if d else 0.0
    return U
""",
        ],
    }
}


# the order shuffled with rng.choice(order, n_iter, replace=False), a uniform shuffle by the same generator
SOM_SHUFFLE_BY_CHOICE = """
class SOM:
    def __init__(self, rows, cols, sigma=1.0, learning_rate=0.5, n_iter=1000,
                 method="sequential", init=None, shuffle=True, random_state=0):
        self.rows, self.cols = rows, cols
        self.sigma, self.learning_rate, self.n_iter = sigma, learning_rate, n_iter
        self.method, self.init, self.shuffle, self.random_state = method, init, shuffle, random_state

    def fit(self, X):
        X = np.asarray(X, dtype=float)
        n, d = X.shape
        rng = np.random.default_rng(self.random_state)
        order = np.arange(self.n_iter) % n
        if self.shuffle and self.method == "sequential":
            order = rng.choice(order, size=len(order), replace=False)
        k = self.rows * self.cols
        if self.init is None:
            W = X[rng.choice(n, k, replace=(n < k))].reshape(self.rows, self.cols, d)
        else:
            W = np.copy(self.init).astype(float)
        if self.method == "sequential":
            for t in range(self.n_iter):
                W = sequential_step(W, X[order[t]], t, self.n_iter, self.sigma, self.learning_rate)
        elif self.method == "batch":
            for ep in range(self.n_iter):
                lr = asymptotic_decay(self.learning_rate, ep, self.n_iter)
                sg = asymptotic_decay(self.sigma, ep, self.n_iter)
                W = W * (1 - lr) + lr * batch_step(W, X, sg)
        else:
            raise ValueError(self.method)
        self.weights_ = W
        return self

    def predict(self, X):
        return best_matching_units(self.weights_, np.asarray(X, dtype=float))

    def winner(self, x):
        return tuple(int(v) for v in self.predict(np.asarray(x)[None])[0])

    def quantization_error(self, X):
        return quantization_error(self.weights_, np.asarray(X, dtype=float))

    def topographic_error(self, X):
        return topographic_error(self.weights_, np.asarray(X, dtype=float))
"""
RIGHT["self-organizing-maps.ipynb"]["ex-som"] = [*RIGHT["self-organizing-maps.ipynb"]["ex-som"], SOM_SHUFFLE_BY_CHOICE]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_right_answer_keeps_full_marks(case):
    check_right_answer(case)
