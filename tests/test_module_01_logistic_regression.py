"""Module 01 (logistic regression): plausible wrong answers must lose points.

Each entry replaces one solution cell of the otherwise correct notebook; the notebook is graded
through that exercise's tests, which must not award full marks.
"""

import pytest
from moduletools import assert_every_exercise_covered, check_wrong_answer, wrong_answer_cases

MODULE = "01-logistic-regression"
pytestmark = pytest.mark.module01

IRLS_TEMPLATE = """
class LogisticRegressionIRLS:
    def __init__(self, C=1.0, max_iter=50, tol=1e-8):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        n, d = X.shape
        Xt = np.hstack([X, np.ones((n, 1))])
        lam = LAM
        penalty = lam * np.diag(np.append(np.ones(d), PENALISE_B))
        theta = np.zeros(d + 1)
        for k in range(1, self.max_iter + 1):
            p = np.exp(-np.logaddexp(0.0, -(Xt @ theta)))
            grad = SCALE * Xt.T @ (p - y) + penalty @ theta
            H = SCALE * (Xt * (p * (1 - p))[:, None]).T @ Xt + penalty
            step = np.linalg.solve(H, grad)
            theta = theta - step
            if np.max(np.abs(step)) < self.tol:
                break
        self.coef_, self.intercept_, self.n_iter_ = theta[None, :-1], theta[-1:], k
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=float) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        p = np.exp(-np.logaddexp(0.0, -self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)
"""


def irls(lam: str = "1.0 / self.C", penalise_b: str = "0.0", scale: str = "1.0") -> str:
    return (
        IRLS_TEMPLATE.replace("LAM", lam).replace("PENALISE_B", penalise_b).replace("SCALE", scale)
    )


WRONG = {
    "logistic-regression.ipynb": {
        "ex-sigmoid": [
            # nan at z = +1000: inf / inf
            "def sigmoid(z):\n    z = np.asarray(z, dtype=float)\n    return np.exp(z) / (1 + np.exp(z))\n",
            # sign error
            "def sigmoid(z):\n    return 1 / (1 + np.exp(np.asarray(z, dtype=float)))\n",
        ],
        "ex-log-loss": [
            # the literal formula: log(0) at +-1000
            "def log_loss(z, y):\n    p = 1 / (1 + np.exp(-np.asarray(z, dtype=float)))\n"
            "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))\n",
            # sum, not mean
            "def log_loss(z, y):\n    z = np.asarray(z, dtype=float)\n"
            "    return float(np.sum(np.logaddexp(0, z) - y * z))\n",
            # labels swapped
            "def log_loss(z, y):\n    z = np.asarray(z, dtype=float)\n"
            "    return float(np.mean(np.logaddexp(0, z) - (1 - y) * z))\n",
        ],
        "ex-loss-grad": [
            # gradient sign error
            "def loss_and_grad(w, b, X, y, lam):\n    z = X @ w + b\n"
            "    J = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * lam * w @ w\n"
            "    r = y - sigmoid(z)\n    return float(J), X.T @ r + lam * w, float(r.sum())\n",
            # intercept penalised
            "def loss_and_grad(w, b, X, y, lam):\n    z = X @ w + b\n"
            "    J = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * lam * (w @ w + b * b)\n"
            "    r = sigmoid(z) - y\n    return float(J), X.T @ r + lam * w, float(r.sum() + lam * b)\n",
            # mean of the losses where the spec says sum
            "def loss_and_grad(w, b, X, y, lam):\n    z = X @ w + b\n    n = len(y)\n"
            "    J = np.mean(np.logaddexp(0, z) - y * z) + 0.5 * lam * w @ w\n"
            "    r = sigmoid(z) - y\n    return float(J), X.T @ r / n + lam * w, float(r.sum() / n)\n",
        ],
        "ex-hessian": [
            # intercept penalised
            "def hessian(w, b, X, lam):\n    n, d = X.shape\n    Xt = np.hstack([X, np.ones((n, 1))])\n"
            "    p = sigmoid(X @ w + b)\n    return (Xt * (p * (1 - p))[:, None]).T @ Xt + lam * np.eye(d + 1)\n",
            # weights p instead of p(1 - p)
            "def hessian(w, b, X, lam):\n    n, d = X.shape\n    Xt = np.hstack([X, np.ones((n, 1))])\n"
            "    p = sigmoid(X @ w + b)\n    H = (Xt * p[:, None]).T @ Xt\n"
            "    H[:d, :d] += lam * np.eye(d)\n    return H\n",
        ],
        "ex-gradient-descent": [
            # ascent
            "def gradient_descent(X, y, lam, lr, n_steps):\n    w, b = np.zeros(X.shape[1]), 0.0\n"
            "    losses = [loss_and_grad(w, b, X, y, lam)[0]]\n    for _ in range(n_steps):\n"
            "        J, gw, gb = loss_and_grad(w, b, X, y, lam)\n        w, b = w + lr * gw, b + lr * gb\n"
            "        losses.append(loss_and_grad(w, b, X, y, lam)[0])\n    return w, b, np.array(losses)\n",
            # intercept never updated
            "def gradient_descent(X, y, lam, lr, n_steps):\n    w, b = np.zeros(X.shape[1]), 0.0\n"
            "    losses = [loss_and_grad(w, b, X, y, lam)[0]]\n    for _ in range(n_steps):\n"
            "        J, gw, gb = loss_and_grad(w, b, X, y, lam)\n        w = w - lr * gw\n"
            "        losses.append(loss_and_grad(w, b, X, y, lam)[0])\n    return w, b, np.array(losses)\n",
            # losses without the starting value (off by one)
            "def gradient_descent(X, y, lam, lr, n_steps):\n    w, b = np.zeros(X.shape[1]), 0.0\n"
            "    losses = []\n    for _ in range(n_steps):\n"
            "        J, gw, gb = loss_and_grad(w, b, X, y, lam)\n        w, b = w - lr * gw, b - lr * gb\n"
            "        losses.append(loss_and_grad(w, b, X, y, lam)[0])\n    return w, b, np.array(losses)\n",
        ],
        "ex-irls": [
            irls(lam="self.C"),  # lambda = C instead of 1/C
            irls(penalise_b="1.0"),  # intercept penalised
            irls(scale="1.0 / n"),  # mean loss with lambda = 1/C: a factor n too much penalty
        ],
    }
}


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


def test_correct_template_passes_sanity():
    """The IRLS template with the right settings is a correct answer (so the wrong ones differ
    from it only in the one mistake each names)."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    namespace = {"np": np}
    exec(irls(), namespace)
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = namespace["LogisticRegressionIRLS"](C=10.0).fit(X, y)
    ref = LogisticRegression(C=10.0, solver="newton-cholesky", tol=1e-10).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-6)
