"""The `course` helper package: profile, seeding, verified data paths."""

from __future__ import annotations

import random

import numpy as np
import pytest

import course
from course import data


def test_profile_reads_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert course.profile() == "full" and course.pick(full=10, quick=1) == 10
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    assert course.is_quick() and course.pick(full=10, quick=1) == 1
    monkeypatch.delenv("COURSE_PROFILE")
    assert course.profile() == "full"
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="not a profile"):
        course.profile()


def test_seed_everything_makes_runs_repeat():
    import torch

    first = course.seed_everything(3)
    a = (random.random(), np.random.rand(), first.normal(), torch.rand(1).item())
    second = course.seed_everything(3)
    b = (random.random(), np.random.rand(), second.normal(), torch.rand(1).item())
    assert a == b


def test_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert str(course.device()) == "cpu"


def test_every_manifest_file_verifies():
    entries = course.manifest()
    assert entries, "datasets/MANIFEST lists no file"
    for name in entries:
        assert course.data_path(name).is_file()


def test_a_corrupt_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "x.txt").write_bytes(b"hello")
    sha = data.sha256_of(tmp_path / "x.txt")
    (tmp_path / "MANIFEST").write_text(f"name\tsha256\tsize\tsource\tlicence\nx.txt\t{sha}\t5\ttest\tCC0\n")
    monkeypatch.setattr(data, "DATASETS_DIR", tmp_path)
    monkeypatch.setattr(data, "MANIFEST_PATH", tmp_path / "MANIFEST")
    assert data.data_path("x.txt") == tmp_path / "x.txt"
    (tmp_path / "x.txt").write_bytes(b"hellO")
    with pytest.raises(ValueError, match="does not match its sha256"):
        data.data_path("x.txt")
    with pytest.raises(KeyError, match="not in"):
        data.data_path("y.txt")
