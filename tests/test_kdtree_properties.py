"""Property tests of module 04's reference kd-tree against brute force (hypothesis).

The reference lives only in the solution notebook (students write it), so its exercise cells are
executed here in a plain namespace: no kernel, fast. Data are small integer grids, which makes
duplicate points, tied distances and points exactly at distance r common.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moduletools import source
from scipy.spatial.distance import cdist

from autograder import authoring

pytestmark = pytest.mark.module04


@pytest.fixture(scope="module")
def ref():
    nb = source("04-kd-trees", "kd-trees.ipynb")
    namespace = {"np": np}
    for cell in nb.cells:
        if authoring.is_solution(cell) or "def add_to_class" in cell.source:
            exec(cell.source, namespace)
    return namespace


@st.composite
def problems(draw):
    dim = draw(st.integers(1, 4))
    n = draw(st.integers(1, 80))
    coords = st.lists(st.integers(-3, 3), min_size=dim, max_size=dim)
    X = np.array(draw(st.lists(coords, min_size=n, max_size=n)), dtype=float)
    x = np.array(draw(coords), dtype=float)
    return X, x, draw(st.integers(1, n)), draw(st.integers(1, 9)), draw(st.integers(0, 4))


@settings(max_examples=100, deadline=None)
@given(problems())
def test_query_matches_brute_force(ref, problem):
    X, x, k, leaf_size, _ = problem
    dist, idx = ref["KDTree"](leaf_size=leaf_size).fit(X).query(x, k)
    expected = np.sort(cdist(x[None], X)[0])[:k]
    np.testing.assert_allclose(dist, expected)  # distances, not index order: ties are free
    np.testing.assert_allclose(np.linalg.norm(X[idx] - x, axis=1), dist)
    assert len(set(idx.tolist())) == k


@settings(max_examples=100, deadline=None)
@given(problems())
def test_query_radius_matches_brute_force(ref, problem):
    X, x, _, leaf_size, r = problem
    got = ref["KDTree"](leaf_size=leaf_size).fit(X).query_radius(x, float(r))
    expected = np.flatnonzero(cdist(x[None], X, "sqeuclidean")[0] <= r * r)  # boundary included
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=100, deadline=None)
@given(problems())
def test_median_split_keeps_every_point(ref, problem):
    X, _, _, _, _ = problem
    if len(X) < 2:
        return
    axis, value, left, right = ref["median_split"](X, np.arange(len(X)))
    assert len(left) == len(X) // 2
    assert sorted(np.concatenate([left, right]).tolist()) == list(range(len(X)))
    assert np.all(X[left, axis] <= value) and np.all(X[right, axis] >= value)


@settings(max_examples=100, deadline=None)
@given(problems())
def test_median_split_axis_and_value(ref, problem):
    """The widest axis by range (max - min) of the node's own points, the lowest on a tie; the
    value is the coordinate of rank m // 2."""
    X, _, _, _, _ = problem
    if len(X) < 2:
        return
    idx = np.arange(len(X))[::-1][: max(2, len(X) - 1)]  # a subset, not in row order
    axis, value, left, right = ref["median_split"](X, idx)
    spread = X[idx].max(axis=0) - X[idx].min(axis=0)
    assert axis == int(np.flatnonzero(spread == spread.max())[0])
    assert value == np.sort(X[idx, axis])[len(idx) // 2]
    assert len(left) == len(idx) // 2 and sorted(np.r_[left, right].tolist()) == sorted(idx.tolist())


@settings(max_examples=50, deadline=None)
@given(problems())
def test_searches_never_read_a_far_cluster(ref, problem):
    """A copy of the data 1000 away, moved onto the query after fit: the pruned searches never
    read it, so their answers are those of the near cluster alone (what the notebook's pruning
    tests rely on)."""
    X, x, k, leaf_size, r = problem
    n = len(X)
    if 2 * n <= leaf_size:
        return  # one leaf holds both clusters: nothing to prune
    tree = ref["KDTree"](leaf_size=leaf_size).fit(np.vstack([X, X + 1000.0]))
    tree.X_ = np.vstack([X, np.tile(x, (n, 1))])
    dist, idx = tree.query(x, k)
    np.testing.assert_allclose(dist, np.sort(cdist(x[None], X)[0])[:k])
    assert np.all(idx < n)
    expected = np.flatnonzero(cdist(x[None], X, "sqeuclidean")[0] <= r * r)
    np.testing.assert_array_equal(tree.query_radius(x, float(r)), expected)
