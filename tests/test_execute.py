"""Kernels: does every notebook start clean, and is everything it started gone afterwards?"""

from __future__ import annotations

import os
import time

import nbformat
import pytest
from factories import running

from autograder.execute import execute
from autograder.kernel import Kernel
from autograder.settings import Limits

pytestmark = pytest.mark.platform


def notebook(*sources: str):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def errors(nb):
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.parametrize("zygote", ["1", "0"])
def test_each_notebook_gets_a_clean_kernel(monkeypatch, zygote):
    monkeypatch.setenv("AUTOGRADER_ZYGOTE", zygote)
    tamper = notebook("import numpy as np, builtins\nnp.pi = 3.0\nbuiltins.leaked = True")
    assert execute(tamper, Kernel()).status == "graded" and not errors(tamper)
    check = notebook(
        "import numpy as np, builtins, os\n"
        "assert np.pi != 3.0, 'numpy was patched by an earlier notebook'\n"
        "assert not hasattr(builtins, 'leaked'), 'builtins leaked from an earlier notebook'\n"
        "assert os.environ['COURSE_PROFILE'] == 'quick'"
    )
    run = execute(check, Kernel())
    assert run.status == "graded" and not errors(check), errors(check)


def test_processes_a_notebook_starts_die_with_it():
    # A PID printed in the sandbox is one of its own PID namespace: find the child by its argv.
    marker = f"{300 + os.getpid() % 1000}.{time.monotonic_ns() % 10**6}"
    nb = notebook(f"import subprocess\nchild = subprocess.Popen(['sleep', '{marker}'])")
    execute(nb, Kernel())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not running(marker):
            return
        time.sleep(0.1)
    pytest.fail(f"`sleep {marker}` started by the notebook outlived it")


def test_a_kernel_comes_with_its_modules_imports_already_done():
    probe = "import sys\nprint(sorted(m for m in ('colorsys', 'wave') if m in sys.modules))"
    nb = notebook(probe)
    assert execute(nb, Kernel(preload=("colorsys",))).status == "graded"
    assert nb.cells[0].outputs[0]["text"].strip() == "['colorsys']", "the zygote did not import the preload list"
    nb = notebook(probe)
    execute(nb, Kernel(preload=("wave",)))
    assert nb.cells[0].outputs[0]["text"].strip() == "['wave']", "a second module got the first one's zygote"


def test_preload_is_what_the_kernel_imports_from_the_instructors_notebook():
    from autograder.grading import kernel_preload

    assert "torch" in kernel_preload("08-language-models")
    getting_started = kernel_preload("00-getting-started")
    assert {"numpy", "matplotlib.pyplot", "scipy.spatial.distance"} <= set(getting_started)
    assert "torch" not in getting_started and "scipy.stats" not in getting_started


def test_a_dead_kernel_is_reported_not_raised():
    nb = notebook("x = 1", "import os\nos._exit(3)", "print(x)")
    run = execute(nb, Kernel(), Limits(cell_timeout=20))
    assert run.status == "kernel_died"
    assert "cell 1" in run.reason
    assert 2 not in run.ran
