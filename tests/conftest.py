"""Test-suite settings: the quick profile, and a private data directory per test session."""

from __future__ import annotations

import os

import pytest

os.environ["COURSE_PROFILE"] = "quick"
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _private_home(tmp_path_factory):
    """Progress records and default grading output go to a temporary folder, not the user's."""
    home = tmp_path_factory.mktemp("autograder-home")
    old = os.environ.get("AUTOGRADER_HOME")
    os.environ["AUTOGRADER_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("AUTOGRADER_HOME", None)
    else:
        os.environ["AUTOGRADER_HOME"] = old
