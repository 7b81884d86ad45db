"""What can go wrong, by whose doing.

A :class:`UsageError` is the user's to fix (a module that does not exist, a gradebook that
cannot be reached, a sandbox that is required but missing): the command line prints its message
in one line and exits with status 2. Anything else that escapes is a bug in the autograder and
is shown with its traceback, never worded as the user's mistake. A submission's own failures
are neither: they become its row's status and reason.
"""

from __future__ import annotations


class UsageError(Exception):
    """A mistake in how the autograder was asked to run; the message says what to change."""


class UnknownModule(UsageError, KeyError):
    """No module of the course has that id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown module"


class BadSubmissions(UsageError, ValueError):
    """The submissions cannot be read in any of the accepted layouts."""


class SandboxUnavailable(UsageError, RuntimeError):
    """``--require-sandbox`` was given and bubblewrap cannot be used here."""


class GradebookUnavailable(UsageError, ConnectionError):
    """The gradebook's database cannot be opened."""


class SchedulerUnreachable(UsageError, ConnectionError):
    """The Dask scheduler cannot be reached, or was lost mid-batch."""


class WorkersFailed(UsageError, RuntimeError):
    """The grading workers cannot start on this machine (a broken environment, not a submission)."""
