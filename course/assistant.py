"""Module 13's plumbing: small synthetic tasks, one vocabulary, tiny GPTs trained in seconds.

Nothing here is an exercise answer. The notebook writes the few-shot prompt, the chain-of-thought
target, the masked and packed SFT batch, the Bradley-Terry loss and the DPO loss; this file holds
what they plug into: the tasks (a symbol mapping drawn fresh for every episode, sums of digits,
reversing digits with a sign-off), the training loop, greedy and sampled decoding, the reward
model, sequence log-probabilities (as ``trl`` sums them) and the closing measurements.

Every model is ``course.gpt.GPT`` (module 08's architecture), small: 2 layers, width 64.
Labels follow the ``transformers`` convention: aligned with the inputs, ``-100`` = no loss, and
the loss shifts them by one (position t predicts label t + 1).
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from course.gpt import GPT, GPTConfig

IGNORE = -100  # the label that carries no loss (torch's cross_entropy ignore_index)
DIGITS = [str(d) for d in range(10)]
SYMBOLS = [chr(c) for c in range(ord("a"), ord("q"))]  # 16 letters for the in-context task
SIGNOFFS = ["ok", "bye", "thanks"]
SPECIAL = ["<pad>", "<eos>", "<user>", "<asst>"]
PUNCT = [">", ";", "+", "="]
TOKENS = SPECIAL + DIGITS + SYMBOLS + PUNCT + SIGNOFFS


class Vocab:
    """One id per token of ``TOKENS``; text is a list of token strings."""

    def __init__(self, tokens: Sequence[str] = TOKENS):
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.stoi[t] for t in tokens]

    def decode(self, ids) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def __len__(self) -> int:
        return len(self.itos)


VOCAB = Vocab()
PAD, EOS, USER, ASST = (VOCAB.stoi[t] for t in SPECIAL)


def new_model(
    block_size: int = 64, *, n_layer: int = 2, n_embd: int = 64, n_head: int = 4, seed: int = 0
) -> GPT:
    """A fresh small GPT over ``VOCAB`` (seeded)."""
    torch.manual_seed(seed)
    return GPT(
        GPTConfig(
            vocab_size=len(VOCAB),
            block_size=block_size,
            n_layer=n_layer,
            n_head=n_head,
            n_embd=n_embd,
        )
    )


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of position t's logits against label t + 1, skipping ``-100``
    (the shift ``transformers`` applies inside its causal LM loss)."""
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE,
    )


def train(
    model: nn.Module,
    batch: Callable[[int], tuple[torch.Tensor, ...]],
    steps: int,
    *,
    lr: float = 3e-3,
    loss: Callable[..., torch.Tensor] | None = None,
    warmup: int = 20,
    weight_decay: float = 0.01,
) -> list[float]:
    """AdamW with warmup and cosine decay. ``batch(step)`` returns the loss's inputs after the
    model: ``(ids, labels)`` for the default ``lm_loss(model(ids)[0], labels)``; with ``loss``
    given, ``loss(model, *batch(step))``. Returns the loss of every step."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    model.train()
    history = []
    for step in range(steps):
        scale = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))
        for g in opt.param_groups:
            g["lr"] = lr * max(scale, 0.05)
        args = batch(step)
        value = lm_loss(model(args[0])[0], args[1]) if loss is None else loss(model, *args)
        opt.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        history.append(float(value.detach()))
    model.eval()
    return history


def pad_rows(
    rows: Sequence[Sequence[int]],
    labels: Sequence[Sequence[int]] | None = None,
    length: int | None = None,
):
    """Right-pad id rows with ``<pad>`` (and label rows with -100) to one length; long tensors."""
    n = length or max(len(r) for r in rows)
    ids = torch.tensor([list(r) + [PAD] * (n - len(r)) for r in rows])
    if labels is None:
        return ids
    return ids, torch.tensor([list(r) + [IGNORE] * (n - len(r)) for r in labels])


def masked_example(prompt: Sequence[int], target: Sequence[int]) -> tuple[list[int], list[int]]:
    """``prompt + target`` and its labels: -100 on the prompt, the target's ids after it."""
    return list(prompt) + list(target), [IGNORE] * len(prompt) + list(target)


# --- decoding ------------------------------------------------------------------------------------


@torch.no_grad()
def generate(
    model: GPT,
    prompts: torch.Tensor,
    max_new: int,
    *,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue equal-length prompts (B, T): greedy with ``temperature=0``, else sampled. After
    ``<eos>`` a row emits ``<pad>``. Returns the new tokens (B, max_new)."""
    model.eval()
    ids = prompts.clone()
    done = torch.zeros(len(ids), dtype=torch.bool)
    out = []
    for _ in range(max_new):
        logits = model(ids[:, -model.config.block_size :])[0][:, -1].float()
        if temperature > 0:
            nxt = torch.multinomial(
                torch.softmax(logits / temperature, -1), 1, generator=generator
            )[:, 0]
        else:
            nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        done |= nxt == EOS
        out.append(nxt)
        ids = torch.cat([ids, nxt[:, None]], 1)
    return torch.stack(out, 1)


def until_eos(ids) -> list[int]:
    """The ids up to and including the first ``<eos>`` (all of them if there is none)."""
    ids = [int(i) for i in ids]
    return ids[: ids.index(EOS) + 1] if EOS in ids else ids


# --- part 1: in-context learning ----------------------------------------------------------------


def icl_episode(rng: random.Random, n_examples: int, n_symbols: int = 5) -> list[tuple[str, str]]:
    """A random mapping from ``n_symbols`` letters to digits, drawn fresh, and ``n_examples``
    (letter, digit) examples of it with the letters drawn with replacement."""
    keys = rng.sample(SYMBOLS, n_symbols)
    mapping = {k: rng.choice(DIGITS) for k in keys}
    return [(x, mapping[x]) for x in (rng.choice(keys) for _ in range(n_examples))]


def icl_tokens(examples: Sequence[tuple[str, str]]) -> list[str]:
    """``x > y ;`` for each example: the format of the in-context training text."""
    return [t for x, y in examples for t in (x, ">", y, ";")]


def icl_batch(rng: random.Random, size: int, n_examples: int = 12, n_symbols: int = 5):
    """Training rows of episodes, the loss on the answers (digits) only."""
    rows, labels = [], []
    for _ in range(size):
        ids = VOCAB.encode(icl_tokens(icl_episode(rng, n_examples, n_symbols)))
        rows.append(ids)
        labels.append([i if VOCAB.itos[i] in DIGITS else IGNORE for i in ids])
    return pad_rows(rows, labels)


@torch.no_grad()
def icl_accuracy(
    model: GPT,
    prompt: Callable,
    shots: int,
    *,
    episodes: int = 400,
    n_symbols: int = 5,
    seed: int = 1,
) -> tuple[float, float]:
    """Accuracy of the model's top digit after ``prompt(examples, shots, shots)`` over fresh
    episodes, and the share of queries whose letter appears among the ``shots`` examples (the
    best a reader of the context can do beyond chance)."""
    rng = random.Random(seed)
    eps = [icl_episode(rng, shots + 1, n_symbols) for _ in range(episodes)]
    ids = torch.tensor([VOCAB.encode(prompt(e, shots, shots)) for e in eps])
    logits = model(ids)[0][:, -1]
    digit_ids = torch.tensor(VOCAB.encode(DIGITS))
    pred = [DIGITS[int(j)] for j in logits[:, digit_ids].argmax(-1)]
    acc = sum(p == e[shots][1] for p, e in zip(pred, eps, strict=True)) / episodes
    seen = sum(e[shots][0] in {x for x, _ in e[:shots]} for e in eps) / episodes
    return acc, seen


@torch.no_grad()
def repeated_string_loss(
    model: GPT, alphabet: Sequence[int], length: int = 64, count: int = 16, seed: int = 0
) -> torch.Tensor:
    """Per-position loss (nats) of ``model`` on random strings of ``alphabet`` ids repeated twice:
    (2 * length - 1,) averaged over ``count`` strings. An induction head shows as a low loss on
    the second copy."""
    gen = torch.Generator().manual_seed(seed)
    first = torch.as_tensor(list(alphabet))[
        torch.randint(0, len(alphabet), (count, length), generator=gen)
    ]
    ids = torch.cat([first, first], 1)
    logits = model(ids)[0]
    nll = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
        ids[:, 1:].reshape(-1),
        reduction="none",
    )
    return nll.view(count, -1).mean(0)


# --- part 2: chain of thought -------------------------------------------------------------------


def sum_prompt(digits: Sequence[int]) -> list[str]:
    """``3 + 5 + 8 =``: the question whose answer is the sum of the digits mod 10."""
    out: list[str] = []
    for d in digits:
        out += [str(d), "+"]
    return out[:-1] + ["="]


def answer_after_arrow(tokens: Sequence[str]) -> str | None:
    """The token after the last ``>`` before ``<eos>``, the answer in both target formats."""
    tokens = list(tokens)
    if "<eos>" in tokens:
        tokens = tokens[: tokens.index("<eos>")]
    if ">" not in tokens:
        return None
    at = len(tokens) - 1 - tokens[::-1].index(">")
    return tokens[at + 1] if at + 1 < len(tokens) else None


def sum_batch(rng: random.Random, size: int, target: Callable, lengths: Sequence[int]):
    """Rows ``prompt + target(digits)``, the loss on the target only; lengths drawn from ``lengths``."""
    rows, labels = [], []
    for _ in range(size):
        digits = [rng.randrange(10) for _ in range(rng.choice(list(lengths)))]
        ids, lab = masked_example(VOCAB.encode(sum_prompt(digits)), VOCAB.encode(target(digits)))
        rows.append(ids)
        labels.append(lab)
    return pad_rows(rows, labels)


@torch.no_grad()
def sum_accuracy(model: GPT, target: Callable, n: int, *, count: int = 300, seed: int = 1) -> float:
    """Greedy accuracy of the answer after the last ``>`` on ``count`` fresh sums of ``n`` digits."""
    rng = random.Random(seed)
    problems = [[rng.randrange(10) for _ in range(n)] for _ in range(count)]
    prompts = torch.tensor([VOCAB.encode(sum_prompt(p)) for p in problems])
    new = generate(model, prompts, len(target(problems[0])) + 1)
    got = [answer_after_arrow(VOCAB.decode(r)) for r in new]
    return sum(g == str(sum(p) % 10) for g, p in zip(got, problems, strict=True)) / count


# --- part 3: instruction tuning -----------------------------------------------------------------


def reversal_prompt(digits: Sequence[str]) -> list[str]:
    return ["<user>", *digits, "<asst>"]


def reversal_response(digits: Sequence[str], signoff: str) -> list[str]:
    return [*reversed(digits), signoff, "<eos>"]


def random_digits(rng: random.Random, lengths: Sequence[int] = (4,)) -> list[str]:
    """Digits to reverse; four of them by default (a length the base model learns in seconds)."""
    return [rng.choice(DIGITS) for _ in range(rng.choice(list(lengths)))]


def base_document(digits: Sequence[str]) -> list[str]:
    """``; 4 1 7 2 = 2 7 1 4 ; ;``: 12 tokens, the length and layout of a chat example, with
    ``;`` and ``=`` where the chat has ``<user>`` and ``<asst>``."""
    return [";", *digits, "=", *reversed(digits), ";", ";"]


def base_text(rng: random.Random, size: int, block_size: int = 24) -> torch.Tensor:
    """Pre-training rows: reversal documents (``base_document``) end to end, no chat tokens.
    Returns (size, block_size) ids (use them as their own labels)."""
    rows = []
    for _ in range(size):
        row: list[str] = []
        while len(row) < block_size:
            row += base_document(random_digits(rng))
        rows.append(VOCAB.encode(row[:block_size]))
    return torch.tensor(rows)


def sft_pairs(rng: random.Random, count: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) demonstrations: the reversal, then a sign-off chosen at random."""
    out = []
    for _ in range(count):
        d = random_digits(rng)
        out.append(
            (
                VOCAB.encode(reversal_prompt(d)),
                VOCAB.encode(reversal_response(d, rng.choice(SIGNOFFS))),
            )
        )
    return out


# --- part 4: preferences and the reward model ----------------------------------------------------


def true_score(prompt: Sequence[int], response: Sequence[int]) -> float:
    """The "human": one point per digit in its right place (the reversal of the prompt's digits),
    one point off for a wrong length, and half a point for signing off with ``thanks``."""
    digits = [t for t in VOCAB.decode(prompt) if t in DIGITS]
    resp = VOCAB.decode(until_eos(response))
    body = [t for t in resp if t in DIGITS]
    want = digits[::-1]
    score = sum(a == b for a, b in zip(body, want, strict=False)) - (len(body) != len(want))
    return score + 0.5 * (len(resp) >= 2 and resp[-2] == "thanks" and resp[-1] == "<eos>")


def is_correct(prompt: Sequence[int], response: Sequence[int]) -> bool:
    """The response's digits are exactly the reversal of the prompt's."""
    digits = [t for t in VOCAB.decode(prompt) if t in DIGITS]
    return [t for t in VOCAB.decode(until_eos(response)) if t in DIGITS] == digits[::-1]


def corrupt(rng: random.Random, digits: list[str]) -> list[str]:
    """The reversal with one or two digits changed (a plausible wrong answer)."""
    out = digits[::-1]
    for i in rng.sample(range(len(out)), rng.choice([1, 2])):
        out[i] = rng.choice([d for d in DIGITS if d != out[i]])
    return out[::-1]


def preference_pairs(
    rng: random.Random, count: int
) -> list[tuple[list[int], list[int], list[int]]]:
    """(prompt, chosen, rejected) id lists: two candidate responses (correct or corrupted, any
    sign-off) ranked by ``true_score``; ties are drawn again."""
    out: list[tuple[list[int], list[int], list[int]]] = []
    while len(out) < count:
        d = random_digits(rng)
        a, b = (
            reversal_response(rng.choice([d, d, corrupt(rng, d)]), rng.choice(SIGNOFFS))
            for _ in range(2)
        )
        prompt = VOCAB.encode(reversal_prompt(d))
        sa, sb = true_score(prompt, VOCAB.encode(a)), true_score(prompt, VOCAB.encode(b))
        if sa != sb:
            hi, lo = (a, b) if sa > sb else (b, a)
            out.append((prompt, VOCAB.encode(hi), VOCAB.encode(lo)))
    return out


class RewardModel(nn.Module):
    """A GPT body (a copy of the given model) with a scalar head read at the last token."""

    def __init__(self, base: GPT):
        super().__init__()
        self.body = copy.deepcopy(base)
        self.head = nn.Linear(base.config.n_embd, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """ids (B, T) right-padded, last (B,) index of each row's last real token -> (B,) rewards."""
        b: GPT = self.body
        x = b.tok_emb(ids) + b.pos_emb(torch.arange(ids.shape[1]))  # type: ignore[misc]
        for block in b.blocks:
            x = block(x)
        h = b.ln_f(x)[torch.arange(len(ids)), last]
        return self.head(h)[:, 0]


def score(
    rm: RewardModel, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]
) -> torch.Tensor:
    """Rewards of (prompt, response) pairs, (N,)."""
    rows = [list(p) + until_eos(r) for p, r in zip(prompts, responses, strict=True)]
    return rm(pad_rows(rows), torch.tensor([len(r) - 1 for r in rows]))


def train_reward_model(
    rm: RewardModel,
    pairs,
    loss_fn: Callable,
    steps: int,
    *,
    batch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Fit ``rm`` on (prompt, chosen, rejected) pairs with ``loss_fn(r_chosen, r_rejected)``."""
    rng = random.Random(seed)

    def draw(step):
        rows = rng.sample(list(pairs), min(batch, len(pairs)))
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def loss(model, prompts, chosen, rejected):
        return loss_fn(score(model, prompts, chosen), score(model, prompts, rejected))

    return train(rm, draw, steps, lr=lr, loss=loss)


@torch.no_grad()
def pairwise_accuracy(rm: RewardModel, pairs) -> float:
    """Share of pairs whose chosen response gets the higher reward."""
    rm.eval()
    p, c, r = ([x[i] for x in pairs] for i in range(3))
    return float((score(rm, p, c) > score(rm, p, r)).float().mean())


# --- part 5: DPO ---------------------------------------------------------------------------------


def sequence_logps(
    model: GPT, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]
) -> torch.Tensor:
    """log pi(response | prompt) summed over the response's tokens, (N,) (trl's per-sequence sum)."""
    rows, labels = zip(
        *(masked_example(p, until_eos(r)) for p, r in zip(prompts, responses, strict=True)),
        strict=True,
    )
    ids, lab = pad_rows(rows, labels)
    logp = torch.log_softmax(model(ids)[0][:, :-1].float(), -1)
    target = lab[:, 1:]
    mask = target != IGNORE
    tok = logp.gather(-1, target.clamp(min=0)[..., None])[..., 0]
    return (tok * mask).sum(1)


def train_dpo(
    policy: GPT,
    reference: GPT,
    pairs,
    loss_fn: Callable,
    steps: int,
    *,
    beta: float = 0.1,
    batch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Fit ``policy`` on preference pairs with ``loss_fn(pc, pr, rc, rr, beta)``; the reference's
    log-probs are computed with gradients on, as a careless trainer would: the loss must detach them."""
    rng = random.Random(seed)

    def draw(step):
        rows = rng.sample(list(pairs), min(batch, len(pairs)))
        return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]

    def loss(model, prompts, chosen, rejected):
        return loss_fn(
            sequence_logps(model, prompts, chosen),
            sequence_logps(model, prompts, rejected),
            sequence_logps(reference, prompts, chosen),
            sequence_logps(reference, prompts, rejected),
            beta,
        )

    return train(policy, draw, steps, lr=lr, loss=loss, warmup=5)


def dpo_gradients(loss_fn: Callable, pc, pr, rc, rr, beta: float) -> dict:
    """The DPO loss and its gradients w.r.t. the four log-prob tensors (zeros where none flows).
    Every input gets ``requires_grad``, as if the reference's log-probs were not computed under
    ``torch.no_grad()``."""
    xs = [
        torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_(True)
        for x in (pc, pr, rc, rr)
    ]
    loss = loss_fn(*xs, beta)
    grads = torch.autograd.grad(loss, xs, allow_unused=True)
    names = ("policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected")
    out = {
        n: (torch.zeros_like(x) if g is None else g.detach())
        for n, x, g in zip(names, xs, grads, strict=True)
    }
    out["loss"] = loss.detach()
    return out


def _trl_dpo_statements() -> list[str]:
    """The lines of trl's ``DPOTrainer._compute_loss`` that turn the four sequence log-probs into
    the standard (``sigmoid``, reverse-KL) DPO loss, read from trl's installed source without
    importing it (importing trl pulls in transformers and accelerate)."""
    spec = importlib.util.find_spec("trl")
    if spec is None or spec.origin is None:
        raise ImportError("trl is not installed")
    tree = ast.parse((Path(spec.origin).parent / "trainer" / "dpo_trainer.py").read_text())
    fn = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_compute_loss"
    )
    want: dict[str, str] = {}
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.comparators[0], ast.Constant)
        ):
            value = node.test.comparators[0].value
            if value in ("reverse_kl", "sigmoid"):
                for s in node.body:
                    if isinstance(s, ast.Assign):
                        want.setdefault(ast.unparse(s.targets[0]), ast.unparse(s))
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("chosen_logratios", "rejected_logratios", "delta_score"):
                want.setdefault(name, ast.unparse(node))
    order = [
        "chosen_logratios",
        "rejected_logratios",
        "chosen_scores",
        "rejected_scores",
        "delta_score",
        "per_sequence_loss",
    ]
    missing = [k for k in order if k not in want]
    if missing:
        raise RuntimeError(f"this trl's DPOTrainer._compute_loss no longer has {missing}")
    return [want[k] for k in order]


def trl_dpo_loss(
    chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta: float
) -> torch.Tensor:
    """trl's DPO loss (``loss_type="sigmoid"``) on given sequence log-probs: the statements of
    ``DPOTrainer._compute_loss`` run as trl wrote them, then ``per_sequence_loss.mean()`` as trl
    averages it. trl 1.x has no stand-alone loss function; the method needs a model and a batch."""
    import types

    env: dict = {
        "torch": torch,
        "F": F,
        "math": math,
        "self": types.SimpleNamespace(beta=beta),
        "chosen_logps": torch.as_tensor(chosen_logps),
        "rejected_logps": torch.as_tensor(rejected_logps),
        "ref_chosen_logps": torch.as_tensor(ref_chosen_logps),
        "ref_rejected_logps": torch.as_tensor(ref_rejected_logps),
    }
    for line in _trl_dpo_statements():
        exec(line, env)  # trl's own source text
    return env["per_sequence_loss"].mean()


# --- the closing table ---------------------------------------------------------------------------


def eval_prompts(count: int, seed: int = 7) -> list[list[int]]:
    rng = random.Random(seed)
    return [VOCAB.encode(reversal_prompt(random_digits(rng))) for _ in range(count)]


def sample_responses(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    *,
    n: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    max_new: int = 8,
) -> list[list[list[int]]]:
    """``n`` sampled responses (ids up to ``<eos>``) for each prompt; prompts grouped by length."""
    gen = torch.Generator().manual_seed(seed)
    out: list[list[list[int]]] = [[] for _ in prompts]
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    for idx in by_len.values():
        batch = torch.tensor([list(prompts[i]) for i in idx]).repeat_interleave(n, 0)
        new = generate(model, batch, max_new, temperature=temperature, generator=gen)
        for j, row in enumerate(new):
            out[idx[j // n]].append(until_eos(row))
    return out


@torch.no_grad()
def kl_to_reference(policy: GPT, reference: GPT, prompts, responses) -> float:
    """Monte-Carlo KL(policy || reference): mean of log pi(y|x) - log pi_ref(y|x) over y ~ policy."""
    return float(
        (
            sequence_logps(policy, prompts, responses)
            - sequence_logps(reference, prompts, responses)
        ).mean()
    )


def win_rate(prompts, responses, baseline) -> float:
    """Share of prompts where ``true_score`` prefers the response to the baseline's (ties half)."""
    wins = 0.0
    for p, a, b in zip(prompts, responses, baseline, strict=True):
        sa, sb = true_score(p, a), true_score(p, b)
        wins += 1.0 if sa > sb else 0.5 if sa == sb else 0.0
    return wins / len(prompts)


def thanks_rate(responses) -> float:
    """Share of responses that sign off with ``thanks``."""
    return sum(VOCAB.stoi["thanks"] in r for r in responses) / len(responses)


def best_of_n_bound(n: int) -> float:
    """The KL of best-of-n sampling to the sampler, log n - (n - 1) / n (Stiennon et al. 2020,
    an upper bound; Beirami et al. 2024)."""
    return math.log(n) - (n - 1) / n


# --- shipped checkpoints -------------------------------------------------------------------------

ICL_CHECKPOINT = "assistant/icl-gpt.pt"
BASE_CHECKPOINT = "assistant/base-gpt.pt"


def save_model(path, model: GPT, extra: dict | None = None) -> None:
    """Config, float32 weights (the tied head once) and the vocabulary; plain types only."""
    from dataclasses import asdict

    state = {
        k: v.detach().to("cpu", torch.float32)
        for k, v in model.state_dict().items()
        if k != "lm_head.weight"
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "config": asdict(model.config),
            "state_dict": state,
            "tokens": VOCAB.itos,
            "extra": dict(extra or {}),
        },
        path,
    )


def load_model(name: str) -> GPT:
    """A shipped model (``ICL_CHECKPOINT`` or ``BASE_CHECKPOINT``), sha-verified, eval mode."""
    from course.data import data_path

    payload = torch.load(data_path(name), map_location="cpu", weights_only=True)
    if payload["tokens"] != VOCAB.itos:
        raise ValueError(f"{name} was trained with another vocabulary")
    model = GPT(GPTConfig(**payload["config"]))
    state = dict(payload["state_dict"])
    state["lm_head.weight"] = state["tok_emb.weight"]
    model.load_state_dict(state)
    model.checkpoint_extra = payload["extra"]
    return model.eval()


def _icl_prompt(examples, i, k):  # the shots before the query, for the build's own measurement
    return icl_tokens(examples[i - k : i]) + [examples[i][0], ">"]


def build(out: Path, *, icl_steps: int = 12000, base_steps: int = 1500, seed: int = 0) -> dict:
    """Train and save the two shipped models: the in-context learner (episodes of fresh symbol
    mappings) and the base LM for parts 3-5 (reversal documents, no chat tokens)."""
    import time

    report: dict = {}
    rng = random.Random(seed + 1)
    base = new_model(24, seed=seed + 1)
    t = time.time()
    hist = train(base, lambda s: (lambda x: (x, x))(base_text(rng, 32, 24)), base_steps, lr=3e-3)
    report["base"] = {
        "steps": base_steps,
        "seed": seed + 1,
        "final_loss": hist[-1],
    }
    print(
        f"base: {time.time() - t:.0f} s", flush=True
    )  # not saved: the file's sha stays reproducible
    save_model(out / "base-gpt.pt", base, report["base"])
    print(report, flush=True)
    rng = random.Random(seed)
    icl = new_model(48, seed=seed)
    t = time.time()
    hist = train(icl, lambda s: icl_batch(rng, 32, 12), icl_steps, lr=3e-3)
    acc = {k: icl_accuracy(icl, _icl_prompt, k)[0] for k in (0, 1, 2, 4, 8)}
    report["icl"] = {
        "steps": icl_steps,
        "seed": seed,
        "final_loss": hist[-1],
        "accuracy_by_shots": acc,
    }
    print(f"in-context model: {time.time() - t:.0f} s", flush=True)
    save_model(out / "icl-gpt.pt", icl, report["icl"])
    print(report, flush=True)
    return report


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="Train module 13's shipped models (course.assistant.build)."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "datasets" / "assistant",
    )
    parser.add_argument("--icl-steps", type=int, default=12000)
    parser.add_argument("--base-steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    build(args.out, icl_steps=args.icl_steps, base_steps=args.base_steps)
