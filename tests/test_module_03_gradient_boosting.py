"""Module 03 (gradient boosting): plausible wrong answers that the notebook's tests must reject.

Short functions are written out in full; the longer exercises (best split, tree, boosting class)
take the reference solution and change one line, so each case differs from the truth by exactly
the mistake it names.
"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    mutant,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "03-gradient-boosting"
NOTEBOOK = "gradient-boosting.ipynb"
pytestmark = pytest.mark.module03


def _mutate(grade_id: str, old: str, new: str) -> str:
    """The reference answer of ``grade_id`` with ``old`` replaced by ``new`` (which must occur once)."""
    return mutant(MODULE, NOTEBOOK, grade_id, (old, new))


GRAD_HESS = [
    # sign error: residual y - p instead of the gradient p - y
    """def logloss_grad_hess(y, margin):
    p = 1 / (1 + np.exp(-np.asarray(margin, dtype=float)))
    y = np.asarray(y, dtype=float)
    return y - p, p * (1 - p)
""",
    # first-order boosting: Hessian taken as 1 (squared-error habit)
    """def logloss_grad_hess(y, margin):
    p = 1 / (1 + np.exp(-np.asarray(margin, dtype=float)))
    y = np.asarray(y, dtype=float)
    return p - y, np.ones_like(p)
""",
    # the margin used as if it were a probability
    """def logloss_grad_hess(y, margin):
    m = np.asarray(margin, dtype=float)
    y = np.asarray(y, dtype=float)
    return m - y, m * (1 - m)
""",
    # p = e^F / (1 + e^F): nan for a margin of 800
    """def logloss_grad_hess(y, margin):
    e = np.exp(np.asarray(margin, dtype=float))
    p = e / (1 + e)
    return p - np.asarray(y, dtype=float), p * (1 - p)
""",
    # the {-1, +1} label convention applied to {0, 1} labels
    """def logloss_grad_hess(y, margin):
    y = np.asarray(y, dtype=float)
    F = np.asarray(margin, dtype=float)
    s = 1 / (1 + np.exp(y * F))
    return -y * s, s * (1 - s)
""",
]

LEAF_WEIGHT = [
    "def leaf_weight(G, H, reg_lambda):\n    return np.asarray(G, dtype=float) / (np.asarray(H, dtype=float) + reg_lambda)  # sign\n",
    "def leaf_weight(G, H, reg_lambda):\n    return -np.asarray(G, dtype=float) / np.asarray(H, dtype=float)  # lambda forgotten\n",
    # operator precedence: -G / H + lambda
    "def leaf_weight(G, H, reg_lambda):\n    return -np.asarray(G, dtype=float) / np.asarray(H, dtype=float) + reg_lambda\n",
    # the learning rate applied here as well (the loop applies it again)
    "def leaf_weight(G, H, reg_lambda):\n    return -0.3 * np.asarray(G, dtype=float) / (np.asarray(H, dtype=float) + reg_lambda)\n",
]

SPLIT_GAIN = [
    # the 1/2 forgotten (what xgboost's dump reports)
    """def split_gain(G_L, H_L, G_R, H_R, reg_lambda, gamma=0.0):
    G_L, H_L, G_R, H_R = (np.asarray(a, dtype=float) for a in (G_L, H_L, G_R, H_R))
    return (G_L**2 / (H_L + reg_lambda) + G_R**2 / (H_R + reg_lambda)
            - (G_L + G_R) ** 2 / (H_L + H_R + reg_lambda)) - gamma
""",
    # gamma inside the 1/2
    """def split_gain(G_L, H_L, G_R, H_R, reg_lambda, gamma=0.0):
    G_L, H_L, G_R, H_R = (np.asarray(a, dtype=float) for a in (G_L, H_L, G_R, H_R))
    return 0.5 * (G_L**2 / (H_L + reg_lambda) + G_R**2 / (H_R + reg_lambda)
                  - (G_L + G_R) ** 2 / (H_L + H_R + reg_lambda) - gamma)
""",
    # lambda missing from the parent's term
    """def split_gain(G_L, H_L, G_R, H_R, reg_lambda, gamma=0.0):
    G_L, H_L, G_R, H_R = (np.asarray(a, dtype=float) for a in (G_L, H_L, G_R, H_R))
    return 0.5 * (G_L**2 / (H_L + reg_lambda) + G_R**2 / (H_R + reg_lambda)
                  - (G_L + G_R) ** 2 / (H_L + H_R)) - gamma
""",
    # the parent's term from the children's squares, G_L^2 + G_R^2, not (G_L + G_R)^2
    """def split_gain(G_L, H_L, G_R, H_R, reg_lambda, gamma=0.0):
    G_L, H_L, G_R, H_R = (np.asarray(a, dtype=float) for a in (G_L, H_L, G_R, H_R))
    return 0.5 * (G_L**2 / (H_L + reg_lambda) + G_R**2 / (H_R + reg_lambda)
                  - (G_L**2 + G_R**2) / (H_L + H_R + reg_lambda)) - gamma
""",
]


def _best_split_wrong() -> list[str]:
    ex = "ex-best-split"
    return [
        # min_child_weight counted in samples
        _mutate(
            ex,
            "(H_L >= min_child_weight) & (H_R >= min_child_weight)",
            "(np.arange(1, len(xs)) >= min_child_weight) & (np.arange(len(xs) - 1, 0, -1) >= min_child_weight)",
        ),
        # threshold at the lower value instead of the midpoint (then x < t sends lo right)
        _mutate(ex, "threshold = (lo + hi) * np.float32(0.5)", "threshold = lo"),
        # splits allowed between equal values
        _mutate(ex, "valid = (xs[1:] != xs[:-1]) & ", "valid = "),
        # np.argmax: the first (smallest) threshold wins a tie instead of the largest
        _mutate(
            ex,
            "k = len(gains) - 1 - int(np.argmax(gains.astype(np.float32)[::-1]))",
            "k = int(np.argmax(gains.astype(np.float32)))",
        ),
        # the largest threshold among float64 ties only: gains equal in float32 are not a tie
        _mutate(ex, "int(np.argmax(gains.astype(np.float32)[::-1]))", "int(np.argmax(gains[::-1]))"),
        # x kept in float64: 1 and 1 + 1e-9 count as two values
        _mutate(ex, "x = np.asarray(x, dtype=np.float32)", "x = np.asarray(x, dtype=float)"),
        # the float32 midpoint without its fix: it can round down to lo, and lo then goes right
        _mutate(ex, "    if threshold == lo:\n        threshold = hi\n", ""),
        # the midpoint in float64, without the fix: np.float32(threshold) rounds back to lo
        _mutate(ex, "    threshold = (lo + hi) * np.float32(0.5)\n    if threshold == lo:\n        threshold = hi\n",
                "    threshold = (float(lo) + float(hi)) / 2\n"),
        # min_child_weight as a strict bound
        _mutate(
            ex,
            "(H_L >= min_child_weight) & (H_R >= min_child_weight)",
            "(H_L > min_child_weight) & (H_R > min_child_weight)",
        ),
    ]


def _build_tree_wrong() -> list[str]:
    ex = "ex-build-tree"
    return [
        # depth off by one: one level too many
        _mutate(ex, "if max_depth <= 0 or len(g) < 2:", "if max_depth < 0 or len(g) < 2:"),
        # gamma applied top-down (never split when gain < gamma) instead of pruning after growing
        _mutate(
            ex,
            "    if best_feature is None:\n",
            "    if best_feature is None or best_gain < gamma:\n",
        ),
        # min_child_weight not passed on to the split search
        _mutate(
            ex,
            "best_split(X[:, j], g, h, reg_lambda, min_child_weight)",
            "best_split(X[:, j], g, h, reg_lambda)",
        ),
        # >= : the LAST of two features with equal gains wins
        _mutate(ex, "if np.float32(gain) > np.float32(best_gain):", "if np.float32(gain) >= np.float32(best_gain) and gain > 0:"),
        # the stored gain has gamma subtracted
        _mutate(ex, '"gain": float(best_gain),', '"gain": float(best_gain - gamma),'),
        # prunes when EITHER child is a leaf
        _mutate(ex, 'if "leaf" in left and "leaf" in right and best_gain < gamma:',
                'if ("leaf" in left or "leaf" in right) and best_gain < gamma:'),
    ]


def _boosting_wrong() -> list[str]:
    ex = "ex-boosting"
    return [
        # base_score used as the initial margin instead of its logit
        _mutate(
            ex,
            "self.base_margin_ = float(np.log(self.base_score / (1.0 - self.base_score)))",
            "self.base_margin_ = float(self.base_score)",
        ),
        # eta applied twice: stored in the leaves, then again when adding the tree
        _mutate(
            ex,
            "            self.trees_.append(tree)\n",
            "            tree = _scale(tree, self.learning_rate)\n            self.trees_.append(tree)\n",
        )
        + """

def _scale(tree, eta):
    if "leaf" in tree:
        return {"leaf": eta * tree["leaf"]}
    return {**tree, "left": _scale(tree["left"], eta), "right": _scale(tree["right"], eta)}
""",
        # gradients computed once at the initial margin, never refreshed
        _mutate(
            ex,
            "        for _ in range(self.n_estimators):\n            g, h = logloss_grad_hess(y, margin)\n",
            "        g, h = logloss_grad_hess(y, margin)\n        for _ in range(self.n_estimators):\n",
        ),
        # decision_function forgets the learning rate
        _mutate(ex, "            margin += self.learning_rate * predict_tree(tree, X)\n        return margin",
                "            margin += predict_tree(tree, X)\n        return margin"),
        # decision_function returns the margins fit ended with, whatever X is
        _mutate(ex, "            margin += self.learning_rate * predict_tree(tree, X)\n        return self\n",
                "            margin += self.learning_rate * predict_tree(tree, X)\n        self.margin_ = margin\n        return self\n")
        .replace("        margin = np.full(len(X), self.base_margin_)\n        for tree in self.trees_:\n"
                 "            margin += self.learning_rate * predict_tree(tree, X)\n        return margin",
                 "        return self.margin_.copy()"),
        # the hyper-parameters of the trees left at build_tree's defaults
        _mutate(ex, "build_tree(X, g, h, self.max_depth, self.reg_lambda, self.gamma, self.min_child_weight)",
                "build_tree(X, g, h, self.max_depth)"),
    ]


def wrong_answers() -> dict[str, dict[str, list[str]]]:
    return {
        NOTEBOOK: {
            "ex-grad-hess": GRAD_HESS,
            "ex-leaf-weight": LEAF_WEIGHT,
            "ex-split-gain": SPLIT_GAIN,
            "ex-best-split": _best_split_wrong(),
            "ex-build-tree": _build_tree_wrong(),
            "ex-boosting": _boosting_wrong(),
        }
    }


WRONG = wrong_answers()


# passes gamma / 2 to build_tree
BOOST_HALF_GAMMA = _mutate(
    "ex-boosting", "self.max_depth, self.reg_lambda, self.gamma, self.min_child_weight", "self.max_depth, self.reg_lambda, self.gamma / 2, self.min_child_weight"
)
WRONG["gradient-boosting.ipynb"]["ex-boosting"] = [*WRONG["gradient-boosting.ipynb"]["ex-boosting"], BOOST_HALF_GAMMA]


# stores the leaves scaled by the learning rate (the spec: trees_ holds the raw trees)
BOOST_SCALED_LEAVES = """
class BoostedTreesClassifier:
    def __init__(self, n_estimators=100, learning_rate=0.3, max_depth=6, reg_lambda=1.0,
                 gamma=0.0, min_child_weight=1.0, base_score=0.5):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.reg_lambda = reg_lambda
        self.gamma = gamma
        self.min_child_weight = min_child_weight
        self.base_score = base_score

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        self.base_margin_ = float(np.log(self.base_score / (1.0 - self.base_score)))
        self.trees_ = []
        margin = np.full(len(y), self.base_margin_)
        def shrink(node):
            if "leaf" in node:
                return {"leaf": self.learning_rate * node["leaf"]}
            return {**node, "left": shrink(node["left"]), "right": shrink(node["right"])}
        for _ in range(self.n_estimators):
            g, h = logloss_grad_hess(y, margin)
            tree = shrink(build_tree(X, g, h, self.max_depth, self.reg_lambda, self.gamma, self.min_child_weight))
            self.trees_.append(tree)
            margin += predict_tree(tree, X)
        return self

    def decision_function(self, X):
        margin = np.full(len(X), self.base_margin_)
        for tree in self.trees_:
            margin += predict_tree(tree, X)
        return margin

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)
"""
WRONG["gradient-boosting.ipynb"]["ex-boosting"] = [*WRONG["gradient-boosting.ipynb"]["ex-boosting"], BOOST_SCALED_LEAVES]


# (-inf, nan) whenever the best gain is not positive
SPLIT_NO_NEGATIVE_GAIN = """
def best_split(x, g, h, reg_lambda=1.0, min_child_weight=1.0):
    x = np.asarray(x, dtype=np.float32)
    g = np.asarray(g, dtype=float); h = np.asarray(h, dtype=float)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    G_L = np.cumsum(g[order])[:-1]; H_L = np.cumsum(h[order])[:-1]
    G_R, H_R = g.sum() - G_L, h.sum() - H_L
    valid = (xs[1:] != xs[:-1]) & (H_L >= min_child_weight) & (H_R >= min_child_weight)
    gains = np.where(valid, split_gain(G_L, H_L, G_R, H_R, reg_lambda), -np.inf)
    if not valid.any() or gains.max() <= 0:
        return -np.inf, np.nan
    k = len(gains) - 1 - int(np.argmax(gains.astype(np.float32)[::-1]))
    lo, hi = xs[k], xs[k + 1]
    threshold = (lo + hi) * np.float32(0.5)
    if threshold == lo:
        threshold = hi
    return float(gains[k]), float(threshold)
"""
WRONG["gradient-boosting.ipynb"]["ex-best-split"] = [*WRONG["gradient-boosting.ipynb"]["ex-best-split"], SPLIT_NO_NEGATIVE_GAIN]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT_BEST_SPLIT_LOOP = """
def best_split(x, g, h, reg_lambda=1.0, min_child_weight=1.0):
    # one candidate per pair of neighbouring distinct values, scanned upwards
    x = np.asarray(x, dtype=np.float32)
    g, h = np.asarray(g, dtype=float), np.asarray(h, dtype=float)
    best, best32 = (-np.inf, np.nan), None
    values = np.unique(x)
    for lo, hi in zip(values[:-1], values[1:]):
        left = x <= lo
        GL, HL = g[left].sum(), h[left].sum()
        GR, HR = g[~left].sum(), h[~left].sum()
        if HL < min_child_weight or HR < min_child_weight:
            continue
        gain = float(split_gain(GL, HL, GR, HR, reg_lambda))
        if best32 is None or np.float32(gain) >= best32:  # >= upwards: the largest threshold wins ties
            t = (lo + hi) * np.float32(0.5)
            best, best32 = (gain, float(hi if t == lo else t)), np.float32(gain)
    return best
"""

RIGHT_BEST_SPLIT_VECTOR = """
def best_split(x, g, h, reg_lambda=1.0, min_child_weight=1.0):
    # sorted with np.sort/argsort, candidates kept by boolean masks, the tie broken by flatnonzero
    x = np.asarray(x, np.float32)
    order = np.argsort(x)
    xs, gs, hs = x[order], np.asarray(g, float)[order], np.asarray(h, float)[order]
    GL, HL = np.cumsum(gs), np.cumsum(hs)
    GL, HL = GL[:-1], HL[:-1]
    GR, HR = gs.sum() - GL, hs.sum() - HL
    ok = (xs[:-1] < xs[1:]) & (HL >= min_child_weight) & (HR >= min_child_weight)
    if not np.any(ok):
        return -np.inf, np.nan
    gain = split_gain(GL[ok], HL[ok], GR[ok], HR[ok], reg_lambda)
    k = np.flatnonzero(gain.astype(np.float32) == gain.astype(np.float32).max())[-1]
    lo, hi = xs[:-1][ok][k], xs[1:][ok][k]
    t = np.float32((lo + hi) * np.float32(0.5))
    return float(gain[k]), float(hi) if t == lo else float(t)
"""

RIGHT_BOOSTING = """
from scipy.special import expit, logit


class BoostedTreesClassifier:
    # margins accumulated as a list of tree outputs, the base margin by scipy's logit
    def __init__(self, n_estimators=100, learning_rate=0.3, max_depth=6, reg_lambda=1.0,
                 gamma=0.0, min_child_weight=1.0, base_score=0.5):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.reg_lambda = reg_lambda
        self.gamma = gamma
        self.min_child_weight = min_child_weight
        self.base_score = base_score

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        self.base_margin_ = float(logit(self.base_score))
        self.trees_ = []
        for _ in range(self.n_estimators):
            g, h = logloss_grad_hess(y, self.decision_function(X))
            self.trees_.append(build_tree(X, g, h, max_depth=self.max_depth, reg_lambda=self.reg_lambda,
                                          gamma=self.gamma, min_child_weight=self.min_child_weight))
        return self

    def decision_function(self, X):
        outputs = [predict_tree(tree, X) for tree in self.trees_]
        return self.base_margin_ + self.learning_rate * np.sum(outputs, axis=0) if outputs else np.full(len(X), self.base_margin_)

    def predict_proba(self, X):
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)
"""

RIGHT = {
    NOTEBOOK: {
        "ex-grad-hess": [
            # scipy's expit
            "from scipy.special import expit\ndef logloss_grad_hess(y, margin):\n"
            "    p = expit(np.asarray(margin, dtype=float))\n    return p - np.asarray(y, dtype=float), p * (1 - p)\n",
            # h from |g|: |p - y| (1 - |p - y|) is p (1 - p) for y in {0, 1}
            "def logloss_grad_hess(y, margin):\n    F = np.asarray(margin, dtype=float)\n"
            "    g = np.exp(-np.logaddexp(0, -F)) - y\n    return g, np.abs(g) * (1 - np.abs(g))\n",
        ],
        "ex-leaf-weight": [
            "def leaf_weight(G, H, reg_lambda):\n    return np.negative(np.divide(G, np.add(H, reg_lambda)))\n",
        ],
        "ex-split-gain": [
            # the structure score of parent minus children, with a helper
            "def split_gain(G_L, H_L, G_R, H_R, reg_lambda, gamma=0.0):\n"
            "    score = lambda G, H: np.square(G) / (np.add(H, reg_lambda))\n"
            "    G, H = np.add(G_L, G_R), np.add(H_L, H_R)\n"
            "    return (score(G_L, H_L) + score(G_R, H_R) - score(G, H)) / 2 - gamma\n",
        ],
        "ex-best-split": [RIGHT_BEST_SPLIT_LOOP, RIGHT_BEST_SPLIT_VECTOR],
        "ex-build-tree": [
            # the features scanned from the last to the first: then >= keeps the first on a tie
            _mutate("ex-build-tree", "    for j in range(X.shape[1]):\n", "    for j in reversed(range(X.shape[1])):\n")
            .replace("if np.float32(gain) > np.float32(best_gain):", "if gain > 0 and np.float32(gain) >= np.float32(best_gain):"),
        ],
        "ex-boosting": [RIGHT_BOOSTING],
    }
}


# returns the best gain as XGBoost compares it, rounded to float32
SPLIT_FLOAT32_GAIN = """
def best_split(x, g, h, reg_lambda=1.0, min_child_weight=1.0):
    x = np.asarray(x, dtype=np.float32)
    g = np.asarray(g, dtype=float); h = np.asarray(h, dtype=float)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    G_L = np.cumsum(g[order])[:-1]; H_L = np.cumsum(h[order])[:-1]
    G_R, H_R = g.sum() - G_L, h.sum() - H_L
    valid = (xs[1:] != xs[:-1]) & (H_L >= min_child_weight) & (H_R >= min_child_weight)
    if not valid.any():
        return -np.inf, np.nan
    gains = np.where(valid, split_gain(G_L, H_L, G_R, H_R, reg_lambda), -np.inf).astype(np.float32)
    k = len(gains) - 1 - int(np.argmax(gains[::-1]))
    lo, hi = xs[k], xs[k + 1]
    threshold = (lo + hi) * np.float32(0.5)
    if threshold == lo:
        threshold = hi
    return float(gains[k]), float(threshold)
"""
RIGHT["gradient-boosting.ipynb"]["ex-best-split"] = [*RIGHT["gradient-boosting.ipynb"]["ex-best-split"], SPLIT_FLOAT32_GAIN]


# the gain computed in float32
GAIN_FLOAT32 = """
def split_gain(G_L, H_L, G_R, H_R, reg_lambda, gamma=0.0):
    G_L, H_L, G_R, H_R = (np.asarray(a, dtype=np.float32) for a in (G_L, H_L, G_R, H_R))
    G, H = G_L + G_R, H_L + H_R
    return 0.5 * (G_L**2 / (H_L + reg_lambda) + G_R**2 / (H_R + reg_lambda) - G**2 / (H + reg_lambda)) - gamma
"""
RIGHT["gradient-boosting.ipynb"]["ex-split-gain"] = [*RIGHT["gradient-boosting.ipynb"]["ex-split-gain"], GAIN_FLOAT32]


# the gains from float32 sums
SPLIT_FLOAT32_SUMS = """
def best_split(x, g, h, reg_lambda=1.0, min_child_weight=1.0):
    x = np.asarray(x, dtype=np.float32)
    g = np.asarray(g, dtype=float); h = np.asarray(h, dtype=float)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    G_L = np.cumsum(g[order])[:-1]; H_L = np.cumsum(h[order])[:-1]
    G_R, H_R = g.sum() - G_L, h.sum() - H_L
    valid = (xs[1:] != xs[:-1]) & (H_L >= min_child_weight) & (H_R >= min_child_weight)
    if not valid.any():
        return -np.inf, np.nan
    gl, hl, gr, hr = (a.astype(np.float32) for a in (G_L, H_L, G_R, H_R))
    gains = np.where(valid, split_gain(gl, hl, gr, hr, np.float32(reg_lambda)), -np.inf).astype(np.float32)
    k = len(gains) - 1 - int(np.argmax(gains[::-1]))
    lo, hi = xs[k], xs[k + 1]
    t = (lo + hi) * np.float32(0.5)
    return float(gains[k]), float(hi if t == lo else t)
"""
RIGHT["gradient-boosting.ipynb"]["ex-best-split"] = [*RIGHT["gradient-boosting.ipynb"]["ex-best-split"], SPLIT_FLOAT32_SUMS]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)
