"""Graders sharing one gradebook: opening it at the same moment must not fail any of them."""

from __future__ import annotations

import multiprocessing

import pytest

from autograder.gradebook import NbgraderBook, Records

pytestmark = pytest.mark.platform


def _open(url: str, barrier, answers) -> None:
    barrier.wait()
    try:
        Records(url)
        NbgraderBook(url).close()
        answers.put("ok")
    except Exception as error:  # reported to the test, which shows it
        answers.put(f"{type(error).__name__}: {error}")


def test_graders_opening_a_fresh_gradebook_together_all_succeed(tmp_path):
    # Before the fix, 6 of 10 such rounds had a loser: "table autograder_results already exists".
    import nbgrader.api  # noqa: F401  (imported once, before the fork)

    ctx = multiprocessing.get_context("fork")
    for round_ in range(5):
        url = f"sqlite:///{tmp_path / f'gradebook-{round_}.db'}"
        barrier, answers = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(url, barrier, answers)) for _ in range(6)]
        for p in procs:
            p.start()
        said = [answers.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert said == ["ok"] * 6, said
        assert Records(url).rows() == []
        book = NbgraderBook(url)
        assert book.gb.students == []
        book.close()
