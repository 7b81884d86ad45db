"""Module 03 (gradient boosting): plausible wrong answers that the notebook's tests must reject.

Short functions are written out in full; the longer exercises (best split, tree, boosting class)
take the reference solution and change one line, so each case differs from the truth by exactly
the mistake it names.
"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_wrong_answer,
    source,
    wrong_answer_cases,
)

from autograder import authoring

MODULE = "03-gradient-boosting"
NOTEBOOK = "gradient-boosting.ipynb"
pytestmark = pytest.mark.module03


def _reference(grade_id: str) -> str:
    nb = source(MODULE, NOTEBOOK)
    return next(
        c.source for c in nb.cells if authoring.nbgrader_meta(c).get("grade_id") == grade_id
    )


def _mutate(grade_id: str, old: str, new: str) -> str:
    """The reference answer of ``grade_id`` with ``old`` replaced by ``new`` (which must occur once)."""
    text = _reference(grade_id)
    assert text.count(old) == 1, (
        f"{grade_id}: {old!r} occurs {text.count(old)} times in the reference"
    )
    return text.replace(old, new)


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
]

LEAF_WEIGHT = [
    "def leaf_weight(G, H, reg_lambda):\n    return np.asarray(G, dtype=float) / (np.asarray(H, dtype=float) + reg_lambda)  # sign\n",
    "def leaf_weight(G, H, reg_lambda):\n    return -np.asarray(G, dtype=float) / np.asarray(H, dtype=float)  # lambda forgotten\n",
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


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)
