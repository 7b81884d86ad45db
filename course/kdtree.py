"""Module 04's kd-tree, saved into the course package for later modules (d2l's habit: a function
written once in a chapter is imported afterwards, never pasted again).

This is the reference answer of module 04's exercises (median split on the widest axis, leaf
buckets, branch-and-bound k-nearest-neighbour search, radius search) with one addition for
module 12: :meth:`KDTree.kneighbors` queries many points at once, and ``visited_`` counts the
points whose distance the last query computed (in high dimension a kd-tree visits nearly all of
them: module 04's curse of dimensionality).

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(100, 3))
>>> d, i = KDTree(leaf_size=8).fit(X).query(X[7], k=1)
>>> int(i[0]), float(d[0])
(7, 0.0)
"""

from __future__ import annotations

import numpy as np


def brute_force_knn(X, x, k):
    """The k nearest rows of X (n, d) to x (d,): (distances, indices), each (k,), nearest first."""
    X = np.asarray(X, dtype=float)
    x = np.asarray(x, dtype=float)
    dist = np.sqrt(((X - x) ** 2).sum(axis=1))
    idx = np.argpartition(dist, k - 1)[:k]
    idx = idx[np.argsort(dist[idx], kind="stable")]
    return dist[idx], idx


def median_split(X, idx):
    """Split the rows X[idx] at the median of their widest axis: (axis, value, left, right)."""
    idx = np.asarray(idx)
    pts = np.asarray(X, dtype=float)[idx]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    half = len(idx) // 2
    order = np.argpartition(pts[:, axis], half)
    return axis, float(pts[order[half], axis]), idx[order[:half]], idx[order[half:]]


class KDTree:
    """A kd-tree over the rows of X with median splits and leaf buckets of <= leaf_size points."""

    def __init__(self, leaf_size=16):
        self.leaf_size = leaf_size

    def fit(self, X):
        """Store X (n, d) and build the tree; return self."""
        self.X_ = np.asarray(X, dtype=float)
        if self.X_.ndim != 2 or len(self.X_) == 0:
            raise ValueError(f"X must be a non-empty (n, d) array, got shape {self.X_.shape}")

        def build(idx):
            if len(idx) <= self.leaf_size:
                return idx  # a leaf: the row indices of its points
            axis, value, left, right = median_split(self.X_, idx)
            return (axis, value, build(left), build(right))

        self.root_ = build(np.arange(len(self.X_)))
        self.visited_ = 0
        return self

    def query(self, x, k=1):
        """The k nearest rows to x (d,): (distances, indices), each (k,), nearest first."""
        x = np.asarray(x, dtype=float)
        if not 1 <= k <= len(self.X_):
            raise ValueError(f"k={k} must be between 1 and the {len(self.X_)} fitted points")
        best_d, best_i = np.full(k, np.inf), np.full(k, -1)
        visited = 0

        def visit(node):
            nonlocal best_d, best_i, visited
            if isinstance(node, np.ndarray):  # leaf: scan the bucket, merge with the k best
                d = np.sqrt(((self.X_[node] - x) ** 2).sum(axis=1))
                visited += len(node)
                all_d, all_i = np.concatenate([best_d, d]), np.concatenate([best_i, node])
                keep = np.argsort(all_d, kind="stable")[:k]
                best_d, best_i = all_d[keep], all_i[keep]
                return
            axis, value, left, right = node
            diff = x[axis] - value
            near, far = (left, right) if diff <= 0 else (right, left)
            visit(near)
            if abs(diff) <= best_d[-1]:  # the far side may hold a point closer than the k-th best
                visit(far)

        visit(self.root_)
        self.visited_ = visited
        return best_d, best_i

    def kneighbors(self, Q, k=1):
        """The k nearest fitted rows to each row of Q (m, d): (distances, indices), each (m, k),
        nearest first; ``visited_`` is then the mean number of points scanned per query."""
        Q = np.atleast_2d(np.asarray(Q, dtype=float))
        dist = np.empty((len(Q), k))
        idx = np.empty((len(Q), k), dtype=int)
        total = 0
        for row, q in enumerate(Q):
            dist[row], idx[row] = self.query(q, k)
            total += self.visited_
        self.visited_ = total / max(len(Q), 1)
        return dist, idx

    def query_radius(self, x, r):
        """Indices (sorted) of the rows of the fitted X within distance r of x (d,), boundary included."""
        x = np.asarray(x, dtype=float)
        found, stack = [np.empty(0, dtype=int)], [self.root_]
        while stack:
            node = stack.pop()
            if isinstance(node, np.ndarray):
                found.append(node[((self.X_[node] - x) ** 2).sum(axis=1) <= r * r])
                continue
            axis, value, left, right = node
            if x[axis] - value <= r:  # the left side (x_a <= value) can reach the ball
                stack.append(left)
            if value - x[axis] <= r:  # the right side (x_a >= value) can reach the ball
                stack.append(right)
        return np.sort(np.concatenate(found))
