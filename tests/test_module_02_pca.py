"""Module 02 (PCA): plausible wrong answers must lose points, and correct answers written
differently must keep them.

Each entry replaces one solution cell of the otherwise correct notebook; the notebook is graded
through that exercise's tests.
"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "02-pca"
NOTEBOOK = "pca.ipynb"
pytestmark = pytest.mark.module02

PCA_TEMPLATE = """
class ScratchPCA:
    def __init__(self, n_components=None):
        self.n_components = n_components

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        n, d = X.shape
        k = K
        self.mean_ = X.mean(axis=0)
        U, sigma, Vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        variances = sigma**2 / DIVISOR
        self.components_ = FLIP[:k]
        self.explained_variance_ = variances[:k]
        self.explained_variance_ratio_ = variances[:k] / variances[:TOTAL].sum()
        self.singular_values_ = sigma[:k]
        self.n_components_ = k
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=float) - CENTRE) @ self.components_.T

    def inverse_transform(self, T):
        return np.asarray(T, dtype=float) @ self.components_ + INVERSE_MEAN
"""


def scratch_pca(divisor="(n - 1)", flip="flip_signs(Vt)", total="", centre="self.mean_",
                k="min(n, d) if self.n_components is None else int(self.n_components)",
                inverse_mean="self.mean_") -> str:
    """The PCA answer with one piece swapped; the defaults make a correct answer."""
    return (
        PCA_TEMPLATE.replace("DIVISOR", divisor).replace("FLIP", flip).replace("TOTAL", total)
        .replace("CENTRE", centre).replace("K", k).replace("INVERSE_MEAN", inverse_mean)
    )


WRONG = {
    NOTEBOOK: {
        "ex-covariance": [
            # ddof = 0
            "def covariance(X):\n    Xc = X - X.mean(axis=0)\n    return Xc.T @ Xc / X.shape[0]\n",
            # not centred
            "def covariance(X):\n    return X.T @ X / (X.shape[0] - 1)\n",
            # rows taken as variables
            "def covariance(X):\n    return np.cov(X)\n",
            # the one-pass shortcut X'X - n mu mu': cancels to noise for data near 1e8
            "def covariance(X):\n    X = np.asarray(X, dtype=float)\n    n = X.shape[0]\n    mu = X.mean(axis=0)\n"
            "    return (X.T @ X - n * np.outer(mu, mu)) / (n - 1)\n",
            # np.cov itself: a 0-d array instead of (1, 1) for a single feature
            "def covariance(X):\n    return np.cov(np.asarray(X, dtype=float), rowvar=False)\n",
            # the mean of all entries instead of each column's
            "def covariance(X):\n    Xc = X - X.mean()\n    return Xc.T @ Xc / (X.shape[0] - 1)\n",
        ],
        "ex-pca-eig": [
            # eigh's ascending order kept
            "def pca_eig(X):\n    values, vectors = np.linalg.eigh(covariance(X))\n    return values, vectors.T\n",
            # eigenvectors left as columns
            "def pca_eig(X):\n    values, vectors = np.linalg.eigh(covariance(X))\n"
            "    return values[::-1], vectors[:, ::-1]\n",
            # ddof = 0
            "def pca_eig(X):\n    values, vectors = np.linalg.eigh(np.cov(X, rowvar=False, bias=True))\n"
            "    return values[::-1], vectors[:, ::-1].T\n",
            # np.linalg.eig, trusting its order
            "def pca_eig(X):\n    values, vectors = np.linalg.eig(covariance(X))\n    return values, vectors.T\n",
            # reverses the rows of the eigenvector matrix instead of its columns
            "def pca_eig(X):\n    values, vectors = np.linalg.eigh(covariance(X))\n    return values[::-1], vectors[::-1]\n",
            # the SVD of X, not centred, and only min(n, d) of them
            "def pca_eig(X):\n    X = np.asarray(X, dtype=float)\n    U, s, Vt = np.linalg.svd(X, full_matrices=False)\n"
            "    return s**2 / (len(X) - 1), Vt\n",
        ],
        "ex-flip-signs": [
            # sign of the first entry instead of the largest
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    return V * np.sign(V[:, :1])\n",
            # decision per column
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    i = np.argmax(np.abs(V), axis=0)\n    return V * np.sign(V[i, np.arange(V.shape[1])])[None, :]\n",
            # compares the largest entry with the most negative: a tie keeps the row as it is
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    return V * np.where(V.max(axis=1) >= -V.min(axis=1), 1.0, -1.0)[:, None]\n",
            # the largest entry, not the largest magnitude
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    i = np.argmax(V, axis=1)\n    return V * np.sign(V[np.arange(len(V)), i])[:, None]\n",
            # the sign of each row's sum
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    return V * np.sign(V.sum(axis=1))[:, None]\n",
        ],
        "ex-pca-class": [
            scratch_pca(divisor="n"),  # ddof = 0
            scratch_pca(total="k"),  # ratio over the kept components only
            scratch_pca(flip="Vt"),  # LAPACK's signs, no convention
            scratch_pca(centre="0.0"),  # transform forgets to centre
            scratch_pca(centre="np.asarray(X, dtype=float).mean(axis=0)"),  # centres new data by their own mean
            scratch_pca(inverse_mean="0.0"),  # inverse_transform forgets the mean
            scratch_pca(k="self.n_components or d"),  # None keeps d components, not min(n, d)
        ],
        "ex-choose-k": [
            # off by one: an index, not a count
            "def choose_k(ratios, threshold):\n    return int(np.argmax(np.cumsum(ratios) > threshold))\n",
            # counts the components below the threshold
            "def choose_k(ratios, threshold):\n    return int(np.sum(np.cumsum(ratios) < threshold))\n",
            # >= instead of >: searchsorted's default side
            "def choose_k(ratios, threshold):\n    return int(np.searchsorted(np.cumsum(ratios), threshold) + 1)\n",
            # a loop that stops as soon as the threshold is reached
            "def choose_k(ratios, threshold):\n    total = 0.0\n    for k, r in enumerate(ratios, 1):\n        total += r\n"
            "        if total >= threshold:\n            return k\n    return len(ratios)\n",
        ],
        "ex-reconstruction": [
            # the mean is not added back
            "def reconstruction_error(X, k):\n    pca = ScratchPCA(n_components=k).fit(X)\n"
            "    X_hat = pca.transform(X) @ pca.components_\n"
            "    return float(np.mean(np.sum((X - X_hat) ** 2, axis=1)))\n",
            # mean over entries, not over rows
            "def reconstruction_error(X, k):\n    pca = ScratchPCA(n_components=k).fit(X)\n"
            "    X_hat = pca.inverse_transform(pca.transform(X))\n"
            "    return float(np.mean((X - X_hat) ** 2))\n",
            # tail sum of eigenvalues without the (n - 1) / n factor
            "def reconstruction_error(X, k):\n    pca = ScratchPCA().fit(X)\n"
            "    return float(pca.explained_variance_[k:].sum())\n",
            # the total over rows, not the mean
            "def reconstruction_error(X, k):\n    pca = ScratchPCA(n_components=k).fit(X)\n"
            "    return float(np.sum((X - pca.inverse_transform(pca.transform(X))) ** 2))\n",
            # divides by n - 1, as for a variance
            "def reconstruction_error(X, k):\n    pca = ScratchPCA(n_components=k).fit(X)\n"
            "    return float(np.sum((X - pca.inverse_transform(pca.transform(X))) ** 2) / (len(X) - 1))\n",
            # the norms, not their squares
            "def reconstruction_error(X, k):\n    pca = ScratchPCA(n_components=k).fit(X)\n"
            "    return float(np.mean(np.linalg.norm(X - pca.inverse_transform(pca.transform(X)), axis=1)))\n",
        ],
    }
}

# Wrong only because they modify their argument (the judge applies a student's in-place changes
# to the test's objects, as a plain kernel does); merged into WRONG below.
_IN_PLACE = {
    NOTEBOOK: {
        "ex-covariance": [
            # np.asarray(X, float) is X itself for a float array: -= centres the caller's data
            "def covariance(X):\n    X = np.asarray(X, dtype=float)\n    X -= X.mean(axis=0)\n    return X.T @ X / (len(X) - 1)\n",
        ],
        "ex-flip-signs": [
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    V *= np.sign(V[np.arange(len(V)), np.argmax(np.abs(V), axis=1)])[:, None]\n    return V\n",
        ],
        "ex-pca-class": [
            scratch_pca().replace(
                "        U, sigma, Vt = np.linalg.svd(X - self.mean_, full_matrices=False)\n",
                "        X -= self.mean_\n        U, sigma, Vt = np.linalg.svd(X, full_matrices=False)\n",
            ),
        ],
    }
}

for _exercise, _codes in _IN_PLACE[NOTEBOOK].items():
    WRONG[NOTEBOOK][_exercise] += _codes


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


def test_correct_template_matches_sklearn():
    """The PCA template with the right settings is a correct answer (so each wrong one differs
    from it only in the mistake it names)."""
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.decomposition import PCA

    def flip_signs(V):
        return V * np.sign(V[np.arange(len(V)), np.argmax(np.abs(V), axis=1)])[:, None]

    namespace = {"np": np, "flip_signs": flip_signs}
    exec(scratch_pca(), namespace)
    X = load_iris().data
    mine = namespace["ScratchPCA"](n_components=2).fit(X)
    ref = PCA(n_components=2, svd_solver="full").fit(X)
    np.testing.assert_allclose(mine.components_, ref.components_, atol=1e-10)
    np.testing.assert_allclose(
        mine.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10
    )
    np.testing.assert_allclose(mine.transform(X), ref.transform(X), atol=1e-10)


RIGHT_PCA_EIGH = """
class ScratchPCA:
    # the covariance route, the eigenvectors sign-flipped; copies of X, never X itself
    def __init__(self, n_components=None):
        self.n_components = n_components

    def fit(self, X, y=None):
        X = np.array(X, dtype=float)
        n, d = X.shape
        k = min(n, d) if self.n_components is None else self.n_components
        self.mean_ = X.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(X, rowvar=False).reshape(d, d))
        order = np.argsort(values)[::-1]
        values = np.clip(values[order], 0, None)
        self.components_ = flip_signs(vectors[:, order].T[:k])
        self.explained_variance_ = values[:k]
        self.explained_variance_ratio_ = values[:k] / values.sum()
        self.singular_values_ = np.sqrt(values[:k] * (n - 1))
        self.n_components_ = k
        return self

    def transform(self, X):
        return np.dot(np.asarray(X, dtype=float) - self.mean_, self.components_.T)

    def inverse_transform(self, T):
        return self.mean_ + np.dot(T, self.components_)
"""

RIGHT_PCA_SVD_FLIP = """
from sklearn.utils.extmath import svd_flip


class ScratchPCA:
    # scikit-learn's own svd_flip for the signs, the scores kept from the SVD
    def __init__(self, n_components=None):
        self.n_components = n_components

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        self.mean_ = X.mean(0)
        Xc = X - self.mean_
        U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        U, Vt = svd_flip(U, Vt, u_based_decision=False)
        k = self.n_components if self.n_components is not None else len(s)
        total = (s ** 2).sum()
        self.n_components_ = int(k)
        self.components_ = Vt[:k].copy()
        self.singular_values_ = s[:k].copy()
        self.explained_variance_ = s[:k] ** 2 / (len(X) - 1)
        self.explained_variance_ratio_ = s[:k] ** 2 / total
        return self

    def transform(self, X):
        return (X - self.mean_) @ self.components_.T

    def inverse_transform(self, T):
        return T @ self.components_ + self.mean_
"""

RIGHT = {
    NOTEBOOK: {
        "ex-covariance": [
            # np.cov, kept two-dimensional for a single feature
            "def covariance(X):\n    return np.atleast_2d(np.cov(X, rowvar=False))\n",
            # einsum over the centred copy
            "def covariance(X):\n    Xc = np.asarray(X, dtype=float) - np.mean(X, axis=0, keepdims=True)\n"
            "    return np.einsum('ij,ik->jk', Xc, Xc) / (len(Xc) - 1)\n",
        ],
        "ex-pca-eig": [
            # the SVD of the symmetric covariance: already in decreasing order
            "def pca_eig(X):\n    U, s, Vt = np.linalg.svd(covariance(X))\n    return s, Vt\n",
            # eigh, then flipped with np.flip
            "def pca_eig(X):\n    values, vectors = np.linalg.eigh(np.cov(np.asarray(X, float), rowvar=False).reshape(X.shape[1], -1))\n"
            "    return np.flip(values), np.flip(vectors, axis=1).T\n",
        ],
        "ex-flip-signs": [
            # scikit-learn's svd_flip with a dummy U
            "from sklearn.utils.extmath import svd_flip\ndef flip_signs(components):\n"
            "    V = np.array(components, dtype=float)\n    return svd_flip(np.zeros((1, len(V))), V, u_based_decision=False)[1]\n",
            # negate the rows whose largest entry is negative, with take_along_axis
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    top = np.take_along_axis(V, np.abs(V).argmax(axis=1)[:, None], axis=1)\n    return np.where(top < 0, -V, V)\n",
        ],
        "ex-pca-class": [RIGHT_PCA_EIGH, RIGHT_PCA_SVD_FLIP],
        "ex-choose-k": [
            # counts the cumulative sums that do not exceed t, plus one
            "def choose_k(ratios, threshold):\n    return int(np.sum(np.cumsum(ratios) <= threshold)) + 1\n",
            # a loop with a strict comparison
            "def choose_k(ratios, threshold):\n    total = 0.0\n    for k, r in enumerate(ratios, start=1):\n"
            "        total += r\n        if total > threshold:\n            return k\n    return len(ratios)\n",
        ],
        "ex-reconstruction": [
            # Eckart-Young: (n - 1) / n times the dropped variance
            "def reconstruction_error(X, k):\n    X = np.asarray(X, dtype=float)\n    pca = ScratchPCA().fit(X)\n"
            "    return float((len(X) - 1) / len(X) * pca.explained_variance_[k:].sum())\n",
            # reconstruct by hand from an SVD
            "def reconstruction_error(X, k):\n    X = np.asarray(X, dtype=float)\n    Xc = X - X.mean(0)\n"
            "    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)\n    R = Xc - (U[:, :k] * s[:k]) @ Vt[:k]\n"
            "    return float((R ** 2).sum() / len(X))\n",
        ],
    }
}


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)
