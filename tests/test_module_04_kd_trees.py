"""Module 04 (kd-trees): plausible wrong answers that the notebook's tests must reject, and
correct answers written differently that must keep full marks."""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    mutant,
    right_answer_cases,
    wrong_answer_cases,
)

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

MEDIAN_SPLIT = """def median_split(X, idx):
    idx = np.asarray(idx)
    pts = np.asarray(X, dtype=float)[idx]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    half = len(idx) // 2
    order = np.argpartition(pts[:, axis], half)
    return axis, float(pts[order[half], axis]), idx[order[:half]], idx[order[half:]]
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
            # argpartition(dist, k): right for k < n, an error for k = n
            """def brute_force_knn(X, x, k):
    dist = np.sqrt(((np.asarray(X, dtype=float) - x) ** 2).sum(axis=1))
    idx = np.argpartition(dist, k)[:k]
    idx = idx[np.argsort(dist[idx])]
    return dist[idx], idx
""",
            # the sorted distances, then each one's index looked up by value: ties repeat an index
            """def brute_force_knn(X, x, k):
    dist = np.sqrt(((np.asarray(X, dtype=float) - x) ** 2).sum(axis=1))
    best = np.sort(dist)[:k]
    return best, np.array([int(np.flatnonzero(dist == v)[0]) for v in best])
""",
            # the k nearest indices, but in index order, not by distance
            """def brute_force_knn(X, x, k):
    dist = np.sqrt(((np.asarray(X, dtype=float) - x) ** 2).sum(axis=1))
    idx = np.sort(np.argpartition(dist, k - 1)[:k])
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
            # the spread as the variance, not the range
            MEDIAN_SPLIT.replace("np.argmax(pts.max(axis=0) - pts.min(axis=0))", "np.argmax(pts.var(axis=0))"),
            # the spread of all of X, not of the node's points
            MEDIAN_SPLIT.replace("np.argmax(pts.max(axis=0) - pts.min(axis=0))",
                                 "np.argmax(np.asarray(X).max(axis=0) - np.asarray(X).min(axis=0))"),
            # np.median as the value: for an even m, the mean of two coordinates
            MEDIAN_SPLIT.replace("float(pts[order[half], axis])", "float(np.median(pts[:, axis]))"),
            # the larger half on the left
            MEDIAN_SPLIT.replace("half = len(idx) // 2", "half = (len(idx) + 1) // 2"),
            # the widest axis by sorting the spreads: on a tie the LAST axis
            MEDIAN_SPLIT.replace("np.argmax(pts.max(axis=0) - pts.min(axis=0))",
                                 "np.argsort(pts.max(axis=0) - pts.min(axis=0))[-1]"),
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
            # never prunes: the right answers, at the cost of brute force
            _TREE_HEAD + _QUERY.replace("PRUNE_TEST", "True"),
            # a tree is built, then ignored: brute force over self.X_
            _TREE_HEAD + "\n    def query(self, x, k=1):\n        return brute_force_knn(self.X_, x, k)\n",
            # the squared offset against the k-th distance: prunes wrongly once distances exceed 1
            _TREE_HEAD + _QUERY.replace("PRUNE_TEST", "diff ** 2 <= best_d[-1]"),
        ],
        "ex-query-radius": [
            _radius(leaf="< r * r"),  # boundary excluded
            _radius(left="< r", right="< r"),  # strict pruning: loses points on the splitting plane
            _radius(left="<= 0", right=">= 0"),  # only the side of the query, never the far side
            _radius().replace("return np.sort(np.concatenate(found))", "return np.concatenate(found)"),  # unsorted
            _radius(left="<= np.inf", right="<= np.inf"),  # never prunes
            # brute force over self.X_
            "@add_to_class(KDTree)\ndef query_radius(self, x, r):\n"
            "    return np.flatnonzero(((self.X_ - np.asarray(x, float)) ** 2).sum(axis=1) <= r * r)\n",
            # keeps only non-empty hits: np.concatenate([]) fails when the ball is empty
            _radius().replace("found, stack = [np.empty(0, dtype=int)], [self.root_]", "found, stack = [], [self.root_]")
            .replace("            found.append(node[((self.X_[node] - x) ** 2).sum(axis=1) <= r * r])\n",
                     "            hits = node[((self.X_[node] - x) ** 2).sum(axis=1) <= r * r]\n"
                     "            if len(hits):\n                found.append(hits)\n"),
        ],
    }
}


# the axis of the largest coordinate, not of the largest spread
SPLIT_LARGEST_VALUE = """
def median_split(X, idx):
    idx = np.asarray(idx)
    pts = X[idx]
    axis = int(np.argmax(np.abs(pts).max(0)))
    h = len(idx) // 2
    o = np.argsort(pts[:, axis])
    return axis, float(pts[o[h], axis]), idx[o[:h]], idx[o[h:]]
"""
WRONG["kd-trees.ipynb"]["ex-median-split"] = [*WRONG["kd-trees.ipynb"]["ex-median-split"], SPLIT_LARGEST_VALUE]


# leaf_size ignored (16 always)
KD_FIXED_LEAF_SIZE = mutant(MODULE, "kd-trees.ipynb", "ex-kdtree", ("if len(idx) <= self.leaf_size:", "if len(idx) <= 16:"))
WRONG["kd-trees.ipynb"]["ex-kdtree"] = [*WRONG["kd-trees.ipynb"]["ex-kdtree"], KD_FIXED_LEAF_SIZE]


# never prunes, and reads a private copy of X, so the pruning test cannot see it
KD_PRIVATE_COPY = mutant(
    MODULE, "kd-trees.ipynb", "ex-kdtree",
    ("self.X_ = np.asarray(X, dtype=float)\n", "self.X_ = np.asarray(X, dtype=float)\n        self._data = self.X_.copy()\n"),
    ("d = np.sqrt(((self.X_[node] - x) ** 2).sum(axis=1))", "d = np.sqrt(((self._data[node] - x) ** 2).sum(axis=1))"),
    ("if abs(diff) <= best_d[-1]:  # the far side may hold a point closer than the k-th best\n                visit(far)",
     "visit(far)"),
)
WRONG["kd-trees.ipynb"]["ex-kdtree"] = [*WRONG["kd-trees.ipynb"]["ex-kdtree"], KD_PRIVATE_COPY]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT_TREE_NODES = """
class KDTree:
    # nodes as small dicts, an explicit stack, squared distances compared with squared offsets
    def __init__(self, leaf_size=16):
        self.leaf_size = leaf_size

    def fit(self, X):
        self.X_ = np.asarray(X, dtype=float)
        root = {"idx": np.arange(len(self.X_))}
        todo = [root]
        while todo:
            node = todo.pop()
            if len(node["idx"]) > self.leaf_size:
                axis, value, left, right = median_split(self.X_, node.pop("idx"))
                node.update(axis=axis, value=value, left={"idx": left}, right={"idx": right})
                todo += [node["left"], node["right"]]
        self.root_ = root
        return self

    def query(self, x, k=1):
        x = np.asarray(x, dtype=float)
        best = []  # (squared distance, index), at most k, sorted

        def visit(node):
            if "idx" in node:
                sq = ((self.X_[node["idx"]] - x) ** 2).sum(axis=1)
                best[:] = sorted(best + list(zip(sq.tolist(), node["idx"].tolist())))[:k]
                return
            diff = x[node["axis"]] - node["value"]
            near, far = (node["left"], node["right"]) if diff <= 0 else (node["right"], node["left"])
            visit(near)
            if len(best) < k or diff * diff <= best[-1][0]:
                visit(far)

        visit(self.root_)
        return np.sqrt([b[0] for b in best]), np.array([b[1] for b in best])
"""

RIGHT = {
    "kd-trees.ipynb": {
        "ex-brute-force": [
            # a full sort, lists out
            "def brute_force_knn(X, x, k):\n    d = np.linalg.norm(np.asarray(X, float) - np.asarray(x, float), axis=1)\n"
            "    order = np.argsort(d)[:k]\n    return d[order].tolist(), order.tolist()\n",
            # scipy's cdist and a stable sort
            "from scipy.spatial.distance import cdist\ndef brute_force_knn(X, x, k):\n"
            "    d = cdist(np.asarray(x, float)[None], np.asarray(X, float))[0]\n"
            "    i = np.argsort(d, kind='stable')[:k]\n    return d[i], i\n",
        ],
        "ex-median-split": [
            # a full (stable) sort instead of argpartition, np.ptp for the spread
            "def median_split(X, idx):\n    idx = np.asarray(idx)\n    pts = np.asarray(X, float)[idx]\n"
            "    axis = int(np.argmax(np.ptp(pts, axis=0)))\n    order = np.argsort(pts[:, axis], kind='stable')\n"
            "    m = len(idx) // 2\n    return axis, float(pts[order[m], axis]), idx[order[:m]], idx[order[m:]]\n",
        ],
        "ex-kdtree": [RIGHT_TREE_NODES],
        "ex-query-radius": [
            # recursive, for the tuples of the reference tree; sorted at the end
            "@add_to_class(KDTree)\ndef query_radius(self, x, r):\n    x = np.asarray(x, float)\n\n"
            "    def visit(node):\n        if isinstance(node, np.ndarray):\n"
            "            return node[np.linalg.norm(self.X_[node] - x, axis=1) <= r].tolist()\n"
            "        axis, value, left, right = node\n        out = []\n"
            "        if x[axis] - r <= value:\n            out += visit(left)\n"
            "        if x[axis] + r >= value:\n            out += visit(right)\n        return out\n\n"
            "    return np.array(sorted(visit(self.root_)), dtype=int)\n",
        ],
    }
}


# node objects and a max-heap of the k best
KD_NODE_CLASS_HEAP = """
import heapq
class _Node:
    def __init__(self, axis=None, value=None, left=None, right=None, points=None):
        self.axis, self.value, self.left, self.right, self.points = axis, value, left, right, points

class KDTree:
    def __init__(self, leaf_size=16):
        self.leaf_size = leaf_size

    def _build(self, idx):
        if len(idx) <= self.leaf_size:
            return _Node(points=idx)
        a, v, l, r = median_split(self.X_, idx)
        return _Node(a, v, self._build(l), self._build(r))

    def fit(self, X):
        self.X_ = np.asarray(X, dtype=float)
        self.root_ = self._build(np.arange(len(self.X_)))
        return self

    def query(self, x, k=1):
        x = np.asarray(x, dtype=float)
        heap = []  # (-dist, -idx)
        def kth():
            return -heap[0][0] if len(heap) == k else np.inf
        def visit(node):
            if node.points is not None:
                d = np.linalg.norm(self.X_[node.points] - x, axis=1)
                for dist, i in zip(d, node.points):
                    if len(heap) < k:
                        heapq.heappush(heap, (-dist, int(i)))
                    elif dist < -heap[0][0]:
                        heapq.heapreplace(heap, (-dist, int(i)))
                return
            diff = x[node.axis] - node.value
            near, far = (node.left, node.right) if diff <= 0 else (node.right, node.left)
            visit(near)
            if abs(diff) <= kth():
                visit(far)
        visit(self.root_)
        res = sorted((-nd, i) for nd, i in heap)
        return np.array([r[0] for r in res]), np.array([r[1] for r in res])
"""
RIGHT["kd-trees.ipynb"]["ex-kdtree"] = [*RIGHT["kd-trees.ipynb"]["ex-kdtree"], KD_NODE_CLASS_HEAP]


# prunes with bounding boxes instead of the splitting planes
KD_BOUNDING_BOXES = """
class KDTree:
    def __init__(self, leaf_size=16):
        self.leaf_size = leaf_size

    def fit(self, X):
        self.X_ = np.asarray(X, dtype=float)
        stack = []
        def build(idx):
            if len(idx) <= self.leaf_size:
                return ('leaf', idx)
            a, v, l, r = median_split(self.X_, idx)
            return ('node', a, v, build(l), build(r))
        self.root_ = build(np.arange(len(self.X_)))
        return self

    def query(self, x, k=1):
        x = np.asarray(x, dtype=float)
        best = []
        def visit(node, off):
            # off: vector of per-axis lower bound offsets (rectangle distance)
            if best and len(best) == k and np.sqrt((off ** 2).sum()) > best[-1][0]:
                return
            if node[0] == 'leaf':
                idx = node[1]
                d = np.sqrt(((self.X_[idx] - x) ** 2).sum(1))
                best.extend(zip(d.tolist(), idx.tolist()))
                best.sort()
                del best[k:]
                return
            _, a, v, l, r = node
            diff = x[a] - v
            near, far = (l, r) if diff <= 0 else (r, l)
            visit(near, off)
            off2 = off.copy(); off2[a] = abs(diff)
            if len(best) < k or abs(diff) <= best[-1][0]:
                visit(far, off2)
        visit(self.root_, np.zeros_like(x))
        return np.array([b[0] for b in best]), np.array([b[1] for b in best], dtype=int)
"""
RIGHT["kd-trees.ipynb"]["ex-kdtree"] = [*RIGHT["kd-trees.ipynb"]["ex-kdtree"], KD_BOUNDING_BOXES]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)
