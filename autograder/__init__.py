"""The course's grading platform, built around nbgrader.

`release` makes the student notebooks, `check` grades a learner's own notebook, `grade` grades a
class, `progress` shows a learner's record. The command line (`autograder`) is a thin layer over
the functions in this package; tests call the functions directly.
"""

import sys as _sys

__version__ = "0.1.0"

# nbformat validates with jsonschema, which imports `rfc3987_syntax` when it is installed (the
# Jupyter server pulls it in): that module builds a grammar at import, 0.8 s of CPU in every
# grading process, for the "iri" string format that no notebook schema uses. Blocked here, as
# jsonschema expects (it skips that format on ImportError), unless something imported it already.
_sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def check(notebook=None, **kwargs) -> None:
    """Save-and-check from inside a notebook: ``from autograder import check; check()``.

    Shows the per-question table and returns nothing (so the notebook shows no long repr);
    ``autograder.selfcheck.check_notebook`` takes the same arguments and returns the result.
    """
    from autograder.selfcheck import check_notebook

    check_notebook(notebook, **kwargs)
