"""Settings, resolved once at the edge (the command line, or the caller of the Python API) and
then passed down, to the worker processes too: nothing below reads the environment for them or
changes a module's globals at run time.

The environment variables a user may set, all read here (``Settings.from_env``):

=========================  ==============================================================
``AUTOGRADER_SANDBOX``     ``1`` (default: bubblewrap where it works), ``0``, ``required``
``AUTOGRADER_MEMORY``      address space per kernel (``4G``)
``AUTOGRADER_DISK``        what one notebook may write in all (``2G``)
``AUTOGRADER_JUDGE``       ``0`` runs the tests in the student's kernel (for measuring only)
``AUTOGRADER_ZYGOTE``      ``0`` starts every kernel from scratch instead of forking
=========================  ==============================================================

(``AUTOGRADER_HOME``, ``AUTOGRADER_DB`` and ``AUTOGRADER_SCHEDULER`` are read where the command
line resolves paths and flags.)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace

from autograder.paths import Roots
from autograder.sandbox import SandboxConfig


@dataclass(frozen=True)
class Limits:
    """Time and output limits for one notebook, and how its kernel is confined."""

    cell_timeout: float = 120.0  # seconds one cell may run
    notebook_timeout: float = 600.0  # seconds the whole notebook may run
    startup_timeout: float = 60.0  # seconds for the kernel to answer
    cell_output_chars: int = 200_000  # output kept per cell (characters, all outputs together)
    notebook_output_chars: int = 2_000_000  # output kept for the whole notebook
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


@dataclass(frozen=True)
class Settings:
    """Everything grading depends on besides the notebooks themselves."""

    limits: Limits = field(default_factory=Limits)
    judge: bool = True  # graded tests run in the judge, outside the student's kernel
    zygote: bool = True  # kernels are forked from a warm process
    roots: Roots = field(default_factory=Roots)  # where solutions/ and course/ are

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """The defaults, with what the environment says, then ``overrides`` (fields of
        :class:`Settings`, or of :class:`Limits` by name: ``cell_timeout=30``)."""
        env = os.environ if environ is None else environ
        limit_fields = {
            k: overrides.pop(k) for k in list(overrides) if k in Limits.__dataclass_fields__
        }
        limits = Limits(**{"sandbox": SandboxConfig.from_env(env), **limit_fields})
        return cls(
            limits=limits,
            judge=env.get("AUTOGRADER_JUDGE", "1") != "0",
            zygote=env.get("AUTOGRADER_ZYGOTE", "1") != "0" and hasattr(os, "fork"),
            **overrides,
        )

    def resolved(self) -> Settings:
        """With the sandbox decided (bubblewrap or not, one warning), as workers receive it."""
        return replace(self, limits=replace(self.limits, sandbox=self.limits.sandbox.resolved()))

    def fingerprint(self) -> dict:
        """What of these settings changes a grade (a rerun with another fingerprint regrades)."""
        limits = asdict(self.limits)
        for key in ("required", "bwrap"):  # refusing to run without bubblewrap changes no grade
            limits["sandbox"].pop(key, None)
        return {"limits": limits, "judge": self.judge}
