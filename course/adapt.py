"""Plumbing for module 09: adapting a frozen GPT and comparing what each method costs and buys.

Nothing here is an exercise answer. The soft prompts, prefixes, prompt encoders and LoRA layers
are written in the notebook; this file holds what every method shares (freezing and counting,
batches, one training loop, held-out evaluation), so that the methods are compared on the same
data, the same number of steps and the same held-out windows.

Every adapted model is called like the GPT itself: ``module(idx, targets) -> (logits, loss)``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

# --- freezing and counting ---------------------------------------------------------------------


def freeze(model: nn.Module) -> nn.Module:
    """Switch off gradients for every parameter of ``model`` and put it in eval mode."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def count_params(module: nn.Module, *, trainable: bool = True) -> int:
    """Number of (trainable) parameters; a tied matrix counts once (``parameters()`` dedups)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every tensor of ``model``'s state, to check later that nothing moved."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    """True when every tensor of ``model`` is bit-identical to ``before``."""
    now = model.state_dict()
    return now.keys() == before.keys() and all(torch.equal(now[k], before[k]) for k in before)


# --- data --------------------------------------------------------------------------------------


def encode(tokenizer, text: str) -> torch.Tensor:
    """The ids of ``text`` as a 1-D long tensor."""
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


def random_windows(ids: torch.Tensor, length: int, batch: int, generator: torch.Generator):
    """A batch of ``batch`` random windows for next-token prediction: x, y each (batch, length)."""
    starts = torch.randint(0, len(ids) - length - 1, (batch,), generator=generator)
    rows = torch.stack([ids[s : s + length + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


def fixed_windows(ids: torch.Tensor, length: int, n: int):
    """``n`` non-overlapping windows spread evenly over ``ids``: held-out x, y (n, length)."""
    stride = (len(ids) - 1) // n
    if stride < length:
        raise ValueError(f"{n} windows of {length} tokens do not fit in {len(ids)} tokens")
    rows = torch.stack([ids[i * stride : i * stride + length + 1] for i in range(n)])
    return rows[:, :-1], rows[:, 1:]


def normalise_words(text: str) -> str:
    """Lower-case words separated by single spaces: only the spelling is left, not the layout
    (speaker names, stage directions and punctuation differ between editions)."""
    return " ".join(re.findall(r"[a-z']+", text.lower()))


def snippets(text: str, length: int, n: int, seed: int = 0) -> list[str]:
    """``n`` random windows of ``length`` characters of ``normalise_words(text)``, each starting
    at the beginning of a word."""
    words = normalise_words(text)
    starts = np.flatnonzero(np.frombuffer(words.encode(), dtype=np.uint8) == ord(" ")) + 1
    starts = starts[starts + length <= len(words)]
    rng = np.random.default_rng(seed)
    return [words[s : s + length] for s in rng.choice(starts, size=n, replace=False)]


def spelling_task(modern: str, folio: str, length: int, n: int, seed: int = 0):
    """A balanced classification set: ``n`` snippets, label 0 = modern spelling, 1 = Folio,
    shuffled. Returns (texts, labels (n,) long tensor)."""
    half = n // 2
    texts = snippets(modern, length, half, seed) + snippets(folio, length, n - half, seed + 1)
    labels = [0] * half + [1] * (n - half)
    order = np.random.default_rng(seed + 2).permutation(n)
    return [texts[i] for i in order], torch.tensor([labels[i] for i in order], dtype=torch.long)


# --- training ----------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a run of :func:`train` did: the loss at every step, the seconds, the trainable size."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    trainable: int = 0


def train(
    module: nn.Module,
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    sample: Callable[[int], object],
    steps: int,
    lr: float,
    *,
    weight_decay: float = 0.0,
    clip: float = 1.0,
    progress: bool | None = None,
) -> TrainResult:
    """AdamW on the parameters of ``module`` that require a gradient, and on nothing else.

    ``sample(step)`` returns a batch, ``loss_fn(module, batch)`` a scalar loss. The learning rate
    follows a cosine from ``lr`` to ``lr / 10``; gradients are clipped to norm ``clip``. A progress
    bar counts the steps (``progress=None``: shown except under the quick profile).
    """
    from course.runtime import progress_bar

    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the module has no trainable parameter: nothing to train")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    result = TrainResult(trainable=sum(p.numel() for p in params))
    start = time.perf_counter()
    bar = progress_bar(steps, f"training {result.trainable:,} parameters", show=progress, leave=False)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * (0.1 + 0.45 * (1 + math.cos(math.pi * step / max(steps, 1))))
        loss = loss_fn(module, sample(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        result.losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{result.losses[-1]:.3f}", refresh=False)
        bar.update()
    bar.close()
    result.seconds = time.perf_counter() - start
    return result


def lm_loss(module: nn.Module, batch) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) of ``module`` on a batch ``(x, y)``."""
    x, y = batch
    return module(x, y)[1]


@torch.no_grad()
def evaluate_lm(module: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> float:
    """Held-out cross-entropy in nats per token (here: per character), over all of x, y."""
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        total += float(module(xb, yb)[1]) * yb.numel()
    return total / y.numel()


def accuracy_se(correct) -> tuple[float, float]:
    """Accuracy and its binomial standard error sqrt(p (1 - p) / n)."""
    c = np.asarray(correct, dtype=float)
    p = float(c.mean())
    return p, math.sqrt(p * (1 - p) / len(c))
