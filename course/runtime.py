"""Run profile, device and seeding: the three facts every notebook asks about its machine."""

from __future__ import annotations

import os
import random
import sys
from typing import TypeVar

import numpy as np

PROFILE_ENV = "COURSE_PROFILE"
PROFILES = ("full", "quick")

T = TypeVar("T")


def profile() -> str:
    """The run profile: ``"full"`` (default, what a student runs) or ``"quick"``.

    ``quick`` is set by the autograder and the test suite: small data, few iterations, the same
    code paths. Read from the ``COURSE_PROFILE`` environment variable.
    """
    value = os.environ.get(PROFILE_ENV, "full").strip().lower() or "full"
    if value not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={value!r} is not a profile; use one of {PROFILES}")
    return value


def is_quick() -> bool:
    """True under the quick profile."""
    return profile() == "quick"


def pick(*, full: T, quick: T) -> T:
    """Choose a size by profile: ``n_iter = pick(full=10_000, quick=500)``."""
    return quick if is_quick() else full


def progress_bar(total: int, desc: str, *, show: bool | None = None, leave: bool = True):
    """A tqdm bar for a long loop: a widget in JupyterLab, text in a terminal.

    ``show=None`` shows it except under the quick profile, where graded and tested runs keep their
    output small. Call ``bar.update()`` per step and ``bar.close()`` at the end.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=is_quick() if show is None else not show, leave=leave, dynamic_ncols=True)


def device(prefer: str | None = None):
    """The best available torch device: CUDA, then Apple's MPS, then the CPU.

    ``prefer="cpu"`` (or the ``COURSE_DEVICE`` environment variable) forces a device.
    """
    import torch

    choice = prefer or os.environ.get("COURSE_DEVICE")
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global generator and, if it is imported, torch.

    Import torch before calling this in notebooks that use it; notebooks that do not use torch
    do not pay for importing it. Returns a fresh ``np.random.Generator`` seeded with ``seed``:
    prefer passing it around over using the global state.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)
