"""The authoring convention: does validate() catch a malformed solution notebook?"""

from autograder import authoring as a


def good():
    return a.notebook([
        a.markdown("# t"),
        a.solution("ex-f", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        a.tests("test-f", "assert f() == 1\n### BEGIN HIDDEN TESTS\nassert f() == 1, 'f() must be 1'\n### END HIDDEN TESTS", 1),
    ])


def test_a_well_formed_notebook_has_no_problems():
    assert a.validate(good()) == []
    assert [(e.grade_id, e.tests, e.points) for e in a.exercises(good())] == [("ex-f", ["test-f"], 1.0)]


def test_validate_names_each_problem():
    nb = good()
    nb.cells[2].metadata["nbgrader"]["points"] = 0
    nb.cells[2].source = "assert f() == 1"
    nb.cells.append(a.solution("ex-g", "def g():\n    pass"))
    problems = " | ".join(a.validate(nb))
    assert "no points" in problems
    assert "no hidden tests" in problems
    assert "lacks a BEGIN/END SOLUTION" in problems
    assert "'ex-g' has no test cell" in problems


def test_hidden_asserts_carry_a_message():
    """Feedback shows a failed hidden test's message, never its code: a bare assert says nothing."""
    nb = good()
    nb.cells[2].source = nb.cells[2].source.replace("assert f() == 1, 'f() must be 1'", "assert f() == 1")
    assert any("hidden assert without a message" in p for p in a.validate(nb))


def test_validate_names_values_the_judge_cannot_see():
    """Test cells run in the judge: they may read the notebook's imports and the exercises'
    names, not a variable that an ordinary cell computed in the student's kernel."""
    nb = a.notebook([
        a.code("import numpy as np\nfrom math import pi"),
        a.code("data = np.arange(3)"),
        a.solution("ex-f", "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
        a.tests("test-f", "assert np.allclose(f(data), data)\nassert [f(k) for k in range(2)] == [0, 1]\n"
                          "### BEGIN HIDDEN TESTS\nassert f(pi) == pi, 'f(pi)'\n### END HIDDEN TESTS", 1),
    ])
    problems = a.validate(nb)
    assert len(problems) == 1 and "'test-f' reads data" in problems[0]
    nb.cells[3].source = nb.cells[3].source.replace("f(data), data", "f(np.arange(3)), np.arange(3)")
    assert a.validate(nb) == []
