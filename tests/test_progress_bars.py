"""Long loops in the `course` package: a progress bar for learners, silence for the grader."""

from __future__ import annotations

import pytest
import torch

from course import adapt, gpt_train
from course.gpt import GPT, GPTConfig

pytestmark = pytest.mark.module08


def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))


def run_adapt(progress):
    model = torch.nn.Linear(3, 1)
    batch = (torch.ones(4, 3), torch.zeros(4, 1))
    loss = lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1])  # noqa: E731
    return adapt.train(model, loss, lambda step: batch, steps=7, lr=0.1, progress=progress)


@pytest.mark.parametrize("progress", [None, True])
def test_adapt_train_shows_a_bar_unless_quick(progress, capsys):
    result = run_adapt(progress)
    err = capsys.readouterr().err
    assert len(result.losses) == 7
    if progress:
        assert "training 4 parameters" in err and "0/7" in err, err  # drawn, then cleared (leave=False)
    else:  # the suite runs under COURSE_PROFILE=quick
        assert err == ""


def test_gpt_train_bar_counts_steps_and_keeps_the_log(capsys):
    data = torch.randint(0, 11, (200,))
    tc = gpt_train.TrainConfig(max_steps=6, batch_size=2, warmup=1, eval_every=3, eval_batches=1,
                               eval_batch_size=2, compile=False, amp=False)
    lines: list[str] = []
    hist = gpt_train.train(tiny_gpt(), data, data, tc, "cpu", log=lines.append, progress=True)
    err = capsys.readouterr().err
    assert [r["step"] for r in hist.rows] == [0, 3, 6]
    assert len(lines) == 3 and lines[0].startswith("step     0")
    assert "training" in err and "6/6" in err, err
