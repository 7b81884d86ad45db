"""The judge: kernel-level tricks earn nothing, because graded tests do not run in the kernel.

Every hostile submission below is module 00's blank (or wrong) notebook plus a trick that, in
stock nbgrader (tests in the student's kernel), earns marks or hides failures. They are graded
in one batch beside a correct submission, which must keep its full marks.
"""

from __future__ import annotations

import csv

import factories as f
import pytest
from moduletools import with_answer

from autograder import authoring
from autograder.batch import grade
from autograder.grading import grade_notebook

pytestmark = pytest.mark.platform

WRONG_ALWAYS_EQUAL = '''
class Always:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __float__(self): return 1.0
    def __getitem__(self, key): return self
    def __len__(self): return 3
    def sum(self, *a, **k): return 1.0
    shape = (3,)

def softmax(z, axis=-1): return Always()
def pairwise_sq_dists(X, Y): return Always()
def moving_average(x, k): return Always()
'''

TRICKS = {
    # rewrites every later cell that contains an assert into `pass` (an input transformer)
    "transformer": "ip = get_ipython()\n"
                   "ip.input_transformers_post.append(lambda lines: ['pass\\n'] if any('assert' in l for l in lines) else lines)",
    # numpy and scipy patched so that every comparison passes
    "patched_numpy": "import numpy as np, numpy.testing\n"
                     "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
                     "numpy.testing.assert_allclose = lambda *a, **k: None\n"
                     "def softmax(z, axis=-1): return np.ones_like(np.asarray(z, float))\n"
                     "def pairwise_sq_dists(X, Y): return np.zeros((len(X), len(Y)))\n"
                     "def moving_average(x, k):\n"
                     "    if not 1 <= k <= len(x): raise ValueError(k)\n"
                     "    return np.zeros(len(x) - k + 1)",
    # objects that say they equal anything
    "always_equal": WRONG_ALWAYS_EQUAL,
    # array and list subclasses whose == always holds
    "subclasses": "import numpy as np\n"
                  "class A(np.ndarray):\n    def __eq__(self, o): return np.ones(np.shape(o), bool)\n"
                  "class L(list):\n    def __eq__(self, o): return True\n"
                  "def softmax(z, axis=-1): return np.zeros_like(np.asarray(z, float)).view(A)\n"
                  "def pairwise_sq_dists(X, Y): return np.zeros((len(X), len(Y))).view(A)\n"
                  "def moving_average(x, k): return L([0.0])",
    # tracebacks swallowed, errors hidden from the notebook
    "silenced": "import sys\nip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                "ip._showtraceback = lambda *a, **k: None\nsys.excepthook = lambda *a: None\n"
                "ip.set_custom_exc((BaseException,), lambda *a, **k: None)",
    # the kernel answers every execute request 'ok' without running anything
    "fake_execute": "ip = get_ipython()\nk = ip.kernel\n"
                    "def fake(*args, **kwargs):\n"
                    "    stream, ident, parent = (args + (None, None, None))[:3]\n"
                    "    k.session.send(k.shell_stream if stream is None else stream, 'execute_reply',\n"
                    "                   {'status': 'ok', 'execution_count': 1, 'user_expressions': {}, 'payload': []},\n"
                    "                   parent, ident=ident)\n"
                    "k.shell_handlers['execute_request'] = fake",
    # a post-run hook that clears the error of every cell
    "post_run": "ip = get_ipython()\n"
                "def clear(result):\n    result.error_in_exec = None\n"
                "ip.events.register('post_run_cell', clear)",
    # the grader's agent replaced by one that answers True / sends a pickle
    "fake_agent": "import autograder.agent as a\n"
                  "a.dispatch = lambda text: '{\"ok\": true}'",
    "pickle_agent": "import autograder.agent as a, base64, json, pickle\n"
                    "payload = base64.b64encode(pickle.dumps(print)).decode()\n"
                    "a.dispatch = lambda text: json.dumps({'ok': [[n, {'$p': payload}] for n in json.loads(text).get('names', [])]})",
    # the exercises redefined as the library calls the tests compare with (module names forged)
    "forged_module": "import scipy.special\n"
                     "def softmax(z, axis=-1): raise ValueError('no')\n"
                     "softmax.__module__, softmax.__qualname__ = 'scipy.special', 'softmax'\n"
                     "import numpy as np\nnp.random.default_rng = lambda *a, **k: (_ for _ in ()).throw(RuntimeError())",
    # a function that hunts for the test code in its kernel and reports it in an error message
    "snoop": "def softmax(z, axis=-1):\n"
             "    import inspect\n"
             "    ip = get_ipython()\n"
             "    seen = '\\n'.join(ip.user_ns.get('In', [])) + '\\n'.join(str(fr.frame.f_locals)[:3000] for fr in inspect.stack())\n"
             "    raise ValueError(seen)",
}


def hostile(code: str):
    """The blank notebook with ``code`` as the answer to every exercise (so that the skeleton's
    own definitions cannot undo the trick)."""
    nb = f.blank()
    for exercise in authoring.exercises(f.solution()):
        nb = with_answer(nb, exercise.grade_id, code)
    return nb


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    students = {"ada": f.solution()}
    for name, code in TRICKS.items():
        students[name] = hostile(code)
    f.nbgrader_layout(root, students)
    out = tmp_path_factory.mktemp("out")
    report = grade(root, module="00", out=out, workers=2, cell_timeout=10, notebook_timeout=60, progress=False)
    with open(report.csv_path, newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return report, rows


def test_the_correct_submission_beside_them_keeps_full_marks(hostile_batch):
    _, rows = hostile_batch
    assert float(rows["ada"]["score"]) == f.MAX and rows["ada"]["status"] == "graded"


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_kernel_tricks_earn_nothing(hostile_batch, trick):
    _, rows = hostile_batch
    row = rows[trick]
    assert float(row["score"]) == 0.0, f"{trick} earned {row['score']}"
    # A trick never turns into a silent zero: graded (the tests failed) or a status with a reason.
    assert row["status"] == "graded" or row["reason"], row


# Tricks that DO earn marks when the tests run in the student's kernel (stock nbgrader's way):
# proof that the batch above would catch a grader that let them through.
POTENT = ("transformer", "patched_numpy", "silenced", "fake_execute")


@pytest.mark.parametrize("trick", POTENT)
def test_the_tricks_work_when_tests_run_in_the_kernel(trick):
    from autograder import execute, grading
    from autograder.merge import merge

    source = grading.load_source(f.MODULE, f.NOTEBOOK)
    merged = merge(hostile(TRICKS[trick]), source)
    run = execute.execute(merged.nb, execute.Kernel(), execute.Limits(cell_timeout=10, notebook_timeout=60))
    earned = sum(c.score for c in grading.score(merged.nb, run, source).values())
    assert earned > 0, f"{trick} earns nothing even without the judge: it proves nothing"


def test_hidden_tests_never_reach_the_kernel(hostile_batch):
    report, _ = hostile_batch
    page = (report.out / "feedback" / "snoop" / "00-getting-started" / "getting-started.html").read_text()
    assert "test-softmax" in page
    for hidden_line in ("scipy_softmax", "default_rng(1)", "1000.0, 1000.0, 999.0"):
        assert hidden_line not in page


def test_every_cell_starts_from_seeded_generators():
    """Two cells drawing from the global generators draw the same numbers: each cell is seeded."""
    nb = f.solution()
    draws = ("import random\nimport numpy as np\n"
             "_draws = globals().setdefault('_draws', [])\n"
             "_draws.append((random.random(), float(np.random.rand())))")
    nb = f.with_extra_first_cell(nb, draws)
    nb = f.with_extra_first_cell(nb, "x = [np.random.rand() for _ in range(5)]")  # moves the generator on
    nb = f.with_extra_first_cell(nb, draws)
    # The softmax answer survives only if both cells drew the same numbers.
    check = "if len(set(_draws)) != 1 or len(_draws) != 2:\n    del softmax"
    index = max(i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "ex-softmax")
    import nbformat

    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(check))
    result = grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK)
    assert result.cells["test-softmax"].passed, result.cells["test-softmax"]
    assert result.score == f.MAX


# --- student code that misbehaves while the judge calls it ---------------------------------------


def _solution_with(exercise: str, code: str):
    return with_answer(f.solution(), exercise, code)


def test_a_call_that_never_returns_times_out_that_test_only():
    nb = _solution_with("ex-softmax", "def softmax(z, axis=-1):\n    while True:\n        pass")
    from autograder.settings import Limits

    result = grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK, limits=Limits(cell_timeout=4, notebook_timeout=60))
    assert result.status == "timeout" and "interrupted" in result.reason, result.reason
    assert result.cells["test-softmax"].score == 0 and result.cells["test-softmax"].message == "timed out"
    assert result.score == f.MAX - 3  # the later exercises are still graded


def test_a_kernel_that_exits_while_called_is_reported_dead():
    nb = _solution_with("ex-pairwise", "import os\ndef pairwise_sq_dists(X, Y):\n    os._exit(3)")
    result = grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK)
    assert result.status == "kernel_died" and result.reason, result
    assert result.cells["test-softmax"].passed and result.score == 3


def test_a_huge_answer_is_refused_not_swallowed(monkeypatch):
    from autograder import judge

    monkeypatch.setattr(judge, "MAX_REPLY_CHARS", 1_000_000)
    nb = _solution_with("ex-softmax", "import numpy as np\ndef softmax(z, axis=-1):\n    return np.zeros(10_000_000)")
    result = grade_notebook(nb, module=f.MODULE, notebook=f.NOTEBOOK)
    assert result.status == "graded" and result.score == f.MAX - 3
    assert "too large" in result.cells["test-softmax"].message
