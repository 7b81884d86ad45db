"""course.kdtree, the copy of module 04's kd-tree that module 12 searches embeddings with:
is it exact (against brute force, with the ties and boundary points of small integer grids), and
does it answer as module 04's reference answer does?"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from course.kdtree import KDTree, brute_force_knn, median_split

pytestmark = pytest.mark.module12


@st.composite
def problems(draw):
    dim = draw(st.integers(1, 4))
    n = draw(st.integers(1, 60))
    coords = st.lists(st.integers(-3, 3), min_size=dim, max_size=dim)
    X = np.array(draw(st.lists(coords, min_size=n, max_size=n)), dtype=float)
    Q = np.array(draw(st.lists(coords, min_size=1, max_size=4)), dtype=float)
    return X, Q, draw(st.integers(1, n)), draw(st.integers(1, 9)), draw(st.integers(0, 4))


@settings(max_examples=80, deadline=None)
@given(problems())
def test_kneighbors_is_exact(problem):
    X, Q, k, leaf_size, _ = problem
    dist, idx = KDTree(leaf_size=leaf_size).fit(X).kneighbors(Q, k)
    want = np.sort(cdist(Q, X), axis=1)[:, :k]
    np.testing.assert_allclose(dist, want)  # distances, not index order: ties are free
    np.testing.assert_allclose(np.linalg.norm(X[idx] - Q[:, None], axis=2), dist)
    assert all(len(set(row)) == k for row in idx.tolist())


@settings(max_examples=80, deadline=None)
@given(problems())
def test_query_radius_includes_the_boundary(problem):
    X, Q, _, leaf_size, r = problem
    tree = KDTree(leaf_size=leaf_size).fit(X)
    for q in Q:
        want = np.flatnonzero(cdist(q[None], X, "sqeuclidean")[0] <= r * r)
        np.testing.assert_array_equal(tree.query_radius(q, float(r)), want)


def test_brute_force_and_median_split():
    X = np.array([[0.0, 0.0], [3.0, 0.1], [1.0, 0.0], [2.0, 0.2]])
    d, i = brute_force_knn(X, [0.9, 0.0], 2)
    assert i.tolist() == [2, 0] and np.allclose(d, [0.1, 0.9])
    axis, value, left, right = median_split(X, np.arange(4))
    assert axis == 0 and value == 2.0
    assert sorted(left.tolist()) == [0, 2] and sorted(right.tolist()) == [1, 3]


def test_visits_few_points_in_low_dimension_and_nearly_all_in_high():
    """The curse of dimensionality of module 04, as kneighbors reports it in visited_."""
    rng = np.random.default_rng(0)
    low = KDTree(leaf_size=8).fit(rng.normal(size=(2000, 2)))
    low.kneighbors(rng.normal(size=(20, 2)), k=3)
    high = KDTree(leaf_size=8).fit(rng.normal(size=(2000, 64)))
    high.kneighbors(rng.normal(size=(20, 64)), k=3)
    assert low.visited_ < 0.1 * 2000 < 0.9 * 2000 < high.visited_


def test_bad_arguments_are_refused():
    tree = KDTree().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError):
        tree.query(np.zeros(2), k=4)
    with pytest.raises(ValueError):
        KDTree().fit(np.zeros((0, 2)))


def test_it_answers_as_module_04s_reference():
    """The same code as the solution of module 04: the same neighbours on random data."""
    from moduletools import source

    from autograder import authoring

    namespace = {"np": np}
    for cell in source("04-kd-trees", "kd-trees.ipynb").cells:
        if authoring.is_solution(cell) or "def add_to_class" in cell.source:
            exec(cell.source, namespace)
    rng = np.random.default_rng(1)
    X, Q = rng.normal(size=(300, 5)), rng.normal(size=(10, 5))
    theirs = namespace["KDTree"](leaf_size=4).fit(X)
    ours = KDTree(leaf_size=4).fit(X)
    for q in Q:
        for a, b in zip(theirs.query(q, 5), ours.query(q, 5), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(theirs.query_radius(q, 1.5), ours.query_radius(q, 1.5))
