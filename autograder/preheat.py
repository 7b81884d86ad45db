"""Imported once by the fork server that the local pool's workers are forked from
(:func:`autograder.worker.context`): what every worker would otherwise import and warm up on its
own, at about 2 s of CPU each (nbconvert and the feedback page's templates, the judge, the
libraries the module's tests import), is done once per batch instead.

Nothing here runs a student's code or a test: the fork server only imports. Which libraries the
module's tests import comes in ``AUTOGRADER_WORKER_PRELOAD`` (comma-separated); one that fails
to import only costs speed (the worker imports it again, and meets the error there).
"""

import gc
import importlib
import json
import os
import warnings

from autograder.zygote import die_with_parent, start_ahead

# The workers die with this server (see start_worker), and this server with the batch, even by
# SIGKILL: the server would otherwise wait for its workers, and they for it.
die_with_parent()
# First the kernel zygotes of the workers to come (AUTOGRADER_ZYGOTES_AHEAD: how many, and how
# their kernels are confined): their imports run beside ours. When one exits (its worker died),
# this server reaps it, and must not warn that it does not know it.
_ahead = json.loads(os.environ.pop("AUTOGRADER_ZYGOTES_AHEAD", "null"))
if _ahead:
    warnings.filterwarnings("ignore", message="forkserver: waitpid returned unexpected pid")
    try:
        start_ahead(
            _ahead["count"],
            _ahead["sandboxed"],
            None if _ahead["preload"] is None else tuple(_ahead["preload"]),
            _ahead["disk"],
        )
    except Exception:  # noqa: S110 (only costs speed: each worker starts its own)
        pass
# What the workers' imports of `course` see (as in start_worker).
os.environ["COURSE_PROFILE"] = "quick"

import nbconvert  # noqa: E402, F401

from autograder import feedback, grading, judge, kernel, worker  # noqa: E402, F401

for _name in filter(None, os.environ.get("AUTOGRADER_WORKER_PRELOAD", "").split(",")):
    try:
        importlib.import_module(_name)
    except Exception:  # noqa: S112
        continue
try:
    feedback.warm_up()
except Exception:  # only costs speed
    pass
# The batch's main script, which every worker would otherwise run again as ``__mp_main__`` (it
# is what multiprocessing's own fork server imports by default; a worker then finds it there).
_main_path = os.environ.pop("AUTOGRADER_MAIN_PATH", "")
if _main_path:
    from multiprocessing import process, spawn

    process.current_process()._inheriting = True  # type: ignore[attr-defined]
    try:
        spawn.import_main_path(_main_path)
    except BaseException:  # noqa: S110 (each worker imports it, and meets the error there)
        pass
    finally:
        del process.current_process()._inheriting  # type: ignore[attr-defined]
# What is alive now is shared by every worker forked from here: frozen, so that the workers'
# collections neither walk it nor write to the pages that hold it.
gc.collect()
gc.freeze()
