"""Module 01 (logistic regression): plausible wrong answers must lose points, and correct
answers written differently must keep them.

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
        for k in range(1, MAX_ITER + 1):
            p = np.exp(-np.logaddexp(0.0, -(Xt @ theta)))
            grad = SCALE * Xt.T @ (p - y) + penalty @ theta
            H = SCALE * (Xt * (p * (1 - p))[:, None]).T @ Xt + penalty
            step = np.linalg.solve(H, grad)
            STOP_BEFORE
            theta = theta - step
            if np.max(np.abs(step)) < TOL:
                break
        self.coef_, self.intercept_, self.n_iter_ = theta[None, :-1], theta[-1:], COUNT
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=float) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        p = np.exp(-np.logaddexp(0.0, -self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.decision_function(X) PREDICT_TEST).astype(int)
"""


def irls(lam="1.0 / self.C", penalise_b="0.0", scale="1.0", max_iter="self.max_iter",
         tol="self.tol", count="k", stop_before="", predict_test="> 0") -> str:
    """The IRLS answer with one piece swapped; the defaults make a correct answer."""
    return (
        IRLS_TEMPLATE.replace("LAM", lam).replace("PENALISE_B", penalise_b).replace("SCALE", scale)
        .replace("MAX_ITER", max_iter).replace("TOL", tol).replace("COUNT", count)
        .replace("STOP_BEFORE", stop_before).replace("PREDICT_TEST", predict_test)
    )


WRONG = {
    "logistic-regression.ipynb": {
        "ex-sigmoid": [
            # nan at z = +1000: inf / inf
            "def sigmoid(z):\n    z = np.asarray(z, dtype=float)\n    return np.exp(z) / (1 + np.exp(z))\n",
            # sign error
            "def sigmoid(z):\n    return 1 / (1 + np.exp(np.asarray(z, dtype=float)))\n",
            # half-stable: 1 - sigmoid(-z) for negative z rounds sigmoid(-40) to 0
            "def sigmoid(z):\n    z = np.asarray(z, dtype=float)\n"
            "    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), 1 - 1 / (1 + np.exp(-np.abs(z))))\n",
            # clips the logits to avoid the overflow: sigmoid(-40) becomes sigmoid(-30)
            "def sigmoid(z):\n    z = np.clip(np.asarray(z, dtype=float), -30, 30)\n    return 1 / (1 + np.exp(-z))\n",
            # two branches into np.empty_like(z): integer input gives an integer output
            "def sigmoid(z):\n    z = np.asarray(z)\n    out = np.empty_like(z)\n    pos = z >= 0\n"
            "    out[pos] = 1 / (1 + np.exp(-z[pos]))\n    e = np.exp(z[~pos])\n    out[~pos] = e / (1 + e)\n    return out\n",
            # np.atleast_1d to make boolean indexing work: a number comes back as shape (1,)
            "def sigmoid(z):\n    z = np.atleast_1d(np.asarray(z, dtype=float))\n    out = np.empty_like(z)\n    pos = z >= 0\n"
            "    out[pos] = 1 / (1 + np.exp(-z[pos]))\n    e = np.exp(z[~pos])\n    out[~pos] = e / (1 + e)\n    return out\n",
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
            # probabilities clipped at 1e-15, as sklearn once did: each loss capped near 34.5
            "def log_loss(z, y):\n    p = np.clip(sigmoid(z), 1e-15, 1 - 1e-15)\n"
            "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))\n",
            # log1p(exp(z)): exp overflows at z = 1000
            "def log_loss(z, y):\n    z = np.asarray(z, dtype=float)\n"
            "    return float(np.mean(np.log1p(np.exp(z)) - y * z))\n",
            # a stable sigmoid, then log(1 - p): loses its digits where p rounds towards 1
            "def log_loss(z, y):\n    p = sigmoid(z)\n    y = np.asarray(y, dtype=float)\n"
            "    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))\n",
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
            # the penalty in J but forgotten in the gradient
            "def loss_and_grad(w, b, X, y, lam):\n    z = X @ w + b\n"
            "    J = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * lam * w @ w\n"
            "    r = sigmoid(z) - y\n    return float(J), X.T @ r, float(r.sum())\n",
            # lam ||w||^2 without the 1/2 (the gradient kept lam * w)
            "def loss_and_grad(w, b, X, y, lam):\n    z = X @ w + b\n"
            "    J = np.sum(np.logaddexp(0, z) - y * z) + lam * w @ w\n"
            "    r = sigmoid(z) - y\n    return float(J), X.T @ r + lam * w, float(r.sum())\n",
            # p from the overflowing e^z / (1 + e^z): the gradient is nan for large logits
            "def loss_and_grad(w, b, X, y, lam):\n    z = X @ w + b\n"
            "    J = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * lam * w @ w\n"
            "    r = np.exp(z) / (1 + np.exp(z)) - y\n    return float(J), X.T @ r + lam * w, float(r.sum())\n",
        ],
        "ex-hessian": [
            # intercept penalised
            "def hessian(w, b, X, lam):\n    n, d = X.shape\n    Xt = np.hstack([X, np.ones((n, 1))])\n"
            "    p = sigmoid(X @ w + b)\n    return (Xt * (p * (1 - p))[:, None]).T @ Xt + lam * np.eye(d + 1)\n",
            # weights p instead of p(1 - p)
            "def hessian(w, b, X, lam):\n    n, d = X.shape\n    Xt = np.hstack([X, np.ones((n, 1))])\n"
            "    p = sigmoid(X @ w + b)\n    H = (Xt * p[:, None]).T @ Xt\n"
            "    H[:d, :d] += lam * np.eye(d)\n    return H\n",
            # the column of ones first: the intercept at index 0 instead of d
            "def hessian(w, b, X, lam):\n    n, d = X.shape\n    Xt = np.hstack([np.ones((n, 1)), X])\n"
            "    p = sigmoid(X @ w + b)\n    H = (Xt * (p * (1 - p))[:, None]).T @ Xt\n"
            "    H[1:, 1:] += lam * np.eye(d)\n    return H\n",
            # the intercept forgotten in the logits
            "def hessian(w, b, X, lam):\n    n, d = X.shape\n    Xt = np.hstack([X, np.ones((n, 1))])\n"
            "    p = sigmoid(X @ w)\n    H = (Xt * (p * (1 - p))[:, None]).T @ Xt\n"
            "    H[:d, :d] += lam * np.eye(d)\n    return H\n",
            # p from e^z / (1 + e^z): nan for large logits
            "def hessian(w, b, X, lam):\n    n, d = X.shape\n    Xt = np.hstack([X, np.ones((n, 1))])\n"
            "    e = np.exp(X @ w + b)\n    p = e / (1 + e)\n    H = (Xt * (p * (1 - p))[:, None]).T @ Xt\n"
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
            # b's gradient taken after w moved: the two are not computed at the same point
            "def gradient_descent(X, y, lam, lr, n_steps):\n    w, b = np.zeros(X.shape[1]), 0.0\n"
            "    losses = [loss_and_grad(w, b, X, y, lam)[0]]\n    for _ in range(n_steps):\n"
            "        _, gw, _ = loss_and_grad(w, b, X, y, lam)\n        w = w - lr * gw\n"
            "        _, _, gb = loss_and_grad(w, b, X, y, lam)\n        b = b - lr * gb\n"
            "        losses.append(loss_and_grad(w, b, X, y, lam)[0])\n    return w, b, np.array(losses)\n",
            # one step too many: range(n_steps + 1), the losses recorded before each step
            "def gradient_descent(X, y, lam, lr, n_steps):\n    w, b = np.zeros(X.shape[1]), 0.0\n"
            "    losses = []\n    for _ in range(n_steps + 1):\n"
            "        J, gw, gb = loss_and_grad(w, b, X, y, lam)\n        losses.append(J)\n"
            "        w, b = w - lr * gw, b - lr * gb\n    return w, b, np.array(losses)\n",
        ],
        "ex-irls": [
            irls(lam="self.C"),  # lambda = C instead of 1/C
            irls(penalise_b="1.0"),  # intercept penalised
            irls(scale="1.0 / n"),  # mean loss with lambda = 1/C: a factor n too much penalty
            irls(max_iter="50"),  # max_iter ignored
            irls(tol="1e-8"),  # tol ignored
            irls(count="k - 1"),  # n_iter_ off by one (a 0-based loop counter)
            # the step below tol is neither taken nor counted
            irls(stop_before="if np.max(np.abs(step)) < self.tol:\n                k -= 1\n                break"),
            irls(predict_test=">= 0"),  # P = 1/2 predicts 1
        ],
    }
}


# stops on the length of the step, not on its largest absolute entry
IRLS_STEP_NORM = """
class LogisticRegressionIRLS:
    def __init__(self, C=1.0, max_iter=50, tol=1e-8):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        X = np.asarray(X, dtype=float); y = np.asarray(y, dtype=float)
        lam = 1.0 / self.C
        w, b = np.zeros(X.shape[1]), 0.0
        for k in range(1, self.max_iter + 1):
            _, gw, gb = loss_and_grad(w, b, X, y, lam)
            step = np.linalg.solve(hessian(w, b, X, lam), np.append(gw, gb))
            w, b = w - step[:-1], b - step[-1]
            if np.linalg.norm(step) < self.tol:
                break
        self.coef_, self.intercept_, self.n_iter_ = w[None], np.array([b]), k
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=float) @ self.coef_.ravel() + self.intercept_[0]

    def predict_proba(self, X):
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)
"""
WRONG["logistic-regression.ipynb"]["ex-irls"] = [*WRONG["logistic-regression.ipynb"]["ex-irls"], IRLS_STEP_NORM]


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


RIGHT_IRLS_WORKING_RESPONSE = """
class LogisticRegressionIRLS:
    # IRLS in its textbook form: weighted least squares on the working response u
    def __init__(self, C=1.0, max_iter=50, tol=1e-8):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        Xt = np.column_stack([X, np.ones(len(X))])
        reg = np.diag(np.r_[np.full(X.shape[1], 1 / self.C), 0.0])
        theta = np.zeros(Xt.shape[1])
        self.n_iter_ = 0
        while self.n_iter_ < self.max_iter:
            z = Xt @ theta
            p = sigmoid(z)
            s = p * (1 - p)
            u = z + (y - p) / s
            new = np.linalg.solve(Xt.T @ (s[:, None] * Xt) + reg, Xt.T @ (s * u))
            change, theta = np.max(np.abs(new - theta)), new
            self.n_iter_ += 1
            if change < self.tol:
                break
        self.coef_ = theta[:-1].reshape(1, -1)
        self.intercept_ = theta[-1:].copy()
        return self

    def decision_function(self, X):
        return np.asarray(X, float) @ self.coef_.ravel() + self.intercept_[0]

    def predict_proba(self, X):
        p = sigmoid(self.decision_function(X))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)  # argmax keeps the first column on a tie
"""

RIGHT_IRLS_CHOLESKY = """
from scipy.linalg import cho_factor, cho_solve
from scipy.special import expit


class LogisticRegressionIRLS:
    # Newton with a Cholesky solve, loss_and_grad and hessian reused; parameters kept as theta_
    def __init__(self, C=1.0, max_iter=50, tol=1e-8):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        lam = 1 / self.C
        self.theta_ = np.zeros(X.shape[1] + 1)
        for self.n_iter_ in range(1, self.max_iter + 1):
            w, b = self.theta_[:-1], self.theta_[-1]
            _, gw, gb = loss_and_grad(w, b, X, y, lam)
            step = cho_solve(cho_factor(hessian(w, b, X, lam)), np.r_[gw, gb])
            self.theta_ = self.theta_ - step
            if np.abs(step).max() < self.tol:
                break
        self.coef_ = self.theta_[np.newaxis, :-1]
        self.intercept_ = np.array([self.theta_[-1]])
        return self

    def decision_function(self, X):
        return np.asarray(X, dtype=float) @ self.theta_[:-1] + self.theta_[-1]

    def predict_proba(self, X):
        p1 = expit(self.decision_function(X))
        return np.column_stack([1 - p1, p1])

    def predict(self, X):
        return np.where(self.predict_proba(X)[:, 1] > 0.5, 1, 0)
"""

RIGHT = {
    "logistic-regression.ipynb": {
        "ex-sigmoid": [
            # scipy's own
            "from scipy.special import expit\ndef sigmoid(z):\n    return expit(z)\n",
            # two branches that each exponentiate only -|z|
            "def sigmoid(z):\n    z = np.asarray(z, dtype=float)\n    e = np.exp(-np.abs(z))\n"
            "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))\n",
            # the textbook form: e^1000 overflows to inf on the way (a warning), 1 / inf = 0 is right
            "def sigmoid(z):\n    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))\n",
            # boolean masks into a float array of its own
            "def sigmoid(z):\n    z = np.asarray(z, dtype=float)\n    out = np.zeros_like(z)\n    pos = z >= 0\n"
            "    out[pos] = 1 / (1 + np.exp(-z[pos]))\n    e = np.exp(z[~pos])\n    out[~pos] = e / (1 + e)\n    return out\n",
        ],
        "ex-log-loss": [
            # a branch per label, each a softplus
            "def log_loss(z, y):\n    z, y = np.asarray(z, float), np.asarray(y)\n"
            "    return float(np.mean(np.where(y == 1, np.logaddexp(0, -z), np.logaddexp(0, z))))\n",
            # softplus written with log1p and |z|
            "def log_loss(z, y):\n    z, y = np.asarray(z, float), np.asarray(y, float)\n"
            "    return np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z)\n",
        ],
        "ex-loss-grad": [
            # residuals by scipy's expit, dot products, the gradient as a list-free tuple
            "from scipy.special import expit\ndef loss_and_grad(w, b, X, y, lam):\n"
            "    X, y, w = np.asarray(X, float), np.asarray(y, float), np.asarray(w, float)\n"
            "    z = X.dot(w) + b\n    r = expit(z) - y\n"
            "    J = np.logaddexp(0, z).sum() - y.dot(z) + lam / 2 * np.sum(w ** 2)\n"
            "    return J, r.dot(X) + lam * w, r.sum()\n",
        ],
        "ex-hessian": [
            # the diagonal weight matrix written out
            "def hessian(w, b, X, lam):\n    X = np.asarray(X, float)\n    Xt = np.c_[X, np.ones(len(X))]\n"
            "    p = sigmoid(X @ w + b)\n    return Xt.T @ np.diag(p * (1 - p)) @ Xt + lam * np.diag(np.r_[np.ones(X.shape[1]), 0])\n",
            # einsum
            "def hessian(w, b, X, lam):\n    X = np.asarray(X, float)\n    Xt = np.hstack([X, np.ones((X.shape[0], 1))])\n"
            "    s = sigmoid(Xt @ np.append(w, b))\n    s = s * (1 - s)\n"
            "    H = np.einsum('i,ij,ik->jk', s, Xt, Xt)\n    H[:-1, :-1] += lam * np.eye(X.shape[1])\n    return H\n",
        ],
        "ex-gradient-descent": [
            # parameters as one vector theta = (w, b); losses appended after each step
            "def gradient_descent(X, y, lam, lr, n_steps):\n    X = np.asarray(X, float)\n"
            "    theta = np.zeros(X.shape[1] + 1)\n    losses = [loss_and_grad(theta[:-1], 0.0, X, y, lam)[0]]\n"
            "    for _ in range(n_steps):\n        _, gw, gb = loss_and_grad(theta[:-1], theta[-1], X, y, lam)\n"
            "        theta = theta - lr * np.append(gw, gb)\n"
            "        losses.append(loss_and_grad(theta[:-1], theta[-1], X, y, lam)[0])\n"
            "    return theta[:-1], theta[-1], losses\n",
        ],
        "ex-irls": [RIGHT_IRLS_WORKING_RESPONSE, RIGHT_IRLS_CHOLESKY],
    }
}


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)
