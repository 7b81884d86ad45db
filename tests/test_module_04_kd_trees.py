"""Module 04 (kd-trees): plausible wrong answers that the notebook's tests must reject."""

import pytest
from moduletools import assert_every_exercise_covered, check_wrong_answer, wrong_answer_cases

MODULE = "04-kd-trees"
pytestmark = pytest.mark.module04

# A correct tree whose query is replaced below: the wrong answers differ only where stated.
_TREE_HEAD = """
class KDTree:
    def __init__(self, leaf_size=16):
        self.leaf_size = leaf_size

    def fit(self, X):
        self.X_ = np.asarray(X, dtype=float)

        def build(idx):
            if len(idx) <= self.leaf_size:
                return idx
            axis, value, left, right = median_split(self.X_, idx)
            return (axis, value, build(left), build(right))

        self.root_ = build(np.arange(len(self.X_)))
        return self
"""

_QUERY = """
    def query(self, x, k=1):
        x = np.asarray(x, dtype=float)
        best_d, best_i = np.full(k, np.inf), np.full(k, -1)

        def visit(node):
            nonlocal best_d, best_i
            if isinstance(node, np.ndarray):
                d = np.sqrt(((self.X_[node] - x) ** 2).sum(axis=1))
                all_d, all_i = np.concatenate([best_d, d]), np.concatenate([best_i, node])
                keep = np.argsort(all_d, kind="stable")[:k]
                best_d, best_i = all_d[keep], all_i[keep]
                return
            axis, value, left, right = node
            diff = x[axis] - value
            near, far = (left, right) if diff <= 0 else (right, left)
            visit(near)
            if PRUNE_TEST:
                visit(far)

        visit(self.root_)
        return best_d, best_i
"""

_RADIUS = """
@add_to_class(KDTree)
def query_radius(self, x, r):
    x = np.asarray(x, dtype=float)
    found, stack = [np.empty(0, dtype=int)], [self.root_]
    while stack:
        node = stack.pop()
        if isinstance(node, np.ndarray):
            found.append(node[((self.X_[node] - x) ** 2).sum(axis=1) LEAF_TEST])
            continue
        axis, value, left, right = node
        if x[axis] - value LEFT_TEST:
            stack.append(left)
        if value - x[axis] RIGHT_TEST:
            stack.append(right)
    return np.sort(np.concatenate(found))
"""


def _radius(leaf="<= r * r", left="<= r", right="<= r"):
    return (
        _RADIUS.replace("LEAF_TEST", leaf).replace("LEFT_TEST", left).replace("RIGHT_TEST", right)
    )


_UNSORTED_QUERY = """
    def query(self, x, k=1):
        # keeps the k best with argpartition and never sorts them
        x = np.asarray(x, dtype=float)
        best_d, best_i = np.full(k, np.inf), np.full(k, -1)

        def visit(node):
            nonlocal best_d, best_i
            if isinstance(node, np.ndarray):
                d = np.sqrt(((self.X_[node] - x) ** 2).sum(axis=1))
                all_d, all_i = np.concatenate([best_d, d]), np.concatenate([best_i, node])
                keep = np.argpartition(all_d, k - 1)[:k]
                best_d, best_i = all_d[keep], all_i[keep]
                return
            axis, value, left, right = node
            diff = x[axis] - value
            near, far = (left, right) if diff <= 0 else (right, left)
            visit(near)
            if abs(diff) <= best_d.max():
                visit(far)

        visit(self.root_)
        return best_d, best_i
"""

WRONG = {
    "kd-trees.ipynb": {
        "ex-brute-force": [
            # squared distances
            """def brute_force_knn(X, x, k):
    dist = ((np.asarray(X) - x) ** 2).sum(axis=1)
    idx = np.argsort(dist)[:k]
    return dist[idx], idx
""",
            # argpartition without the final sort
            """def brute_force_knn(X, x, k):
    dist = np.sqrt(((np.asarray(X) - x) ** 2).sum(axis=1))
    idx = np.argpartition(dist, k - 1)[:k]
    return dist[idx], idx
""",
        ],
        "ex-median-split": [
            # off by one: the median point is lost
            """def median_split(X, idx):
    idx = np.asarray(idx)
    pts = np.asarray(X, dtype=float)[idx]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    half = len(idx) // 2
    order = np.argpartition(pts[:, axis], half)
    return axis, float(pts[order[half], axis]), idx[order[:half]], idx[order[half + 1:]]
""",
            # positions in idx instead of row indices of X
            """def median_split(X, idx):
    idx = np.asarray(idx)
    pts = np.asarray(X, dtype=float)[idx]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    half = len(idx) // 2
    order = np.argpartition(pts[:, axis], half)
    return axis, float(pts[order[half], axis]), order[:half], order[half:]
""",
            # split by a strict comparison with the median: unbalanced with duplicates
            """def median_split(X, idx):
    idx = np.asarray(idx)
    pts = np.asarray(X, dtype=float)[idx]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    value = float(np.sort(pts[:, axis])[len(idx) // 2])
    mask = pts[:, axis] < value
    return axis, value, idx[mask], idx[~mask]
""",
        ],
        "ex-kdtree": [
            # prunes with the reversed inequality
            _TREE_HEAD + _QUERY.replace("PRUNE_TEST", "abs(diff) >= best_d[-1]"),
            # never searches the far side
            _TREE_HEAD + _QUERY.replace("PRUNE_TEST", "False"),
            # bounds by the nearest candidate instead of the k-th
            _TREE_HEAD + _QUERY.replace("PRUNE_TEST", "abs(diff) <= best_d[0]"),
            # neighbours returned unsorted
            _TREE_HEAD + _UNSORTED_QUERY,
        ],
        "ex-query-radius": [
            _radius(leaf="< r * r"),  # boundary excluded
            _radius(left="< r", right="< r"),  # strict pruning: loses points on the splitting plane
            _radius(left="<= 0", right=">= 0"),  # only the side of the query, never the far side
        ],
    }
}


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)
