"""Module 02 (PCA): plausible wrong answers must lose points.

Each entry replaces one solution cell of the otherwise correct notebook; the notebook is graded
through that exercise's tests, which must not award full marks.
"""

import pytest
from moduletools import assert_every_exercise_covered, check_wrong_answer, wrong_answer_cases

MODULE = "02-pca"
pytestmark = pytest.mark.module02

PCA_TEMPLATE = """
class ScratchPCA:
    def __init__(self, n_components=None):
        self.n_components = n_components

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        n, d = X.shape
        k = min(n, d) if self.n_components is None else int(self.n_components)
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
        return np.asarray(T, dtype=float) @ self.components_ + self.mean_
"""


def scratch_pca(divisor="(n - 1)", flip="flip_signs(Vt)", total="", centre="self.mean_") -> str:
    return (
        PCA_TEMPLATE.replace("DIVISOR", divisor)
        .replace("FLIP", flip)
        .replace("TOTAL", total)
        .replace("CENTRE", centre)
    )


WRONG = {
    "pca.ipynb": {
        "ex-covariance": [
            # ddof = 0
            "def covariance(X):\n    Xc = X - X.mean(axis=0)\n    return Xc.T @ Xc / X.shape[0]\n",
            # not centred
            "def covariance(X):\n    return X.T @ X / (X.shape[0] - 1)\n",
            # rows taken as variables
            "def covariance(X):\n    return np.cov(X)\n",
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
        ],
        "ex-flip-signs": [
            # sign of the first entry instead of the largest
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    return V * np.sign(V[:, :1])\n",
            # decision per column
            "def flip_signs(components):\n    V = np.asarray(components, dtype=float)\n"
            "    i = np.argmax(np.abs(V), axis=0)\n    return V * np.sign(V[i, np.arange(V.shape[1])])[None, :]\n",
        ],
        "ex-pca-class": [
            scratch_pca(divisor="n"),  # ddof = 0
            scratch_pca(total="k"),  # ratio over the kept components only
            scratch_pca(flip="Vt"),  # LAPACK's signs, no convention
            scratch_pca(centre="0.0"),  # transform forgets to centre
        ],
        "ex-choose-k": [
            # off by one: an index, not a count
            "def choose_k(ratios, threshold):\n    return int(np.argmax(np.cumsum(ratios) > threshold))\n",
            # counts the components below the threshold
            "def choose_k(ratios, threshold):\n    return int(np.sum(np.cumsum(ratios) < threshold))\n",
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
        ],
    }
}


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
