"""Module 12's model: the course GPT trained on the synthetic world of ``course.world``.

Nothing here is an exercise answer. This file holds the word tokenizer, the training loop that
made the shipped checkpoint (facts of the seen people, their documents, and reading episodes
that teach answering from the context), the checkpoint format, and the measurements the notebook
shares (recall of facts as completion prompts, scored among the relation's objects).

Rebuild the checkpoint (about 10 minutes on one CPU thread):

    python -m course.knowledge --threads 1 --out datasets/knowledge/world-gpt.pt

The architecture is ``course.gpt.GPT`` unchanged; the optimiser and schedule are module 08's
(``course.gpt_train.param_groups`` and ``lr_at``).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from course.gpt import GPT, GPTConfig
from course.gpt_train import lr_at, param_groups
from course.world import END, RELATION, RELATIONS, Fact, World, make_world

CHECKPOINT_NAME = "knowledge/world-gpt.pt"
OBJECTS = frozenset(o for r in RELATIONS for o in r.objects)


class WordTokenizer:
    """One token per word of a fixed vocabulary; text is words separated by spaces."""

    def __init__(self, words: list[str]):
        self.itos = list(words)
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("the vocabulary has repeated words")
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.vocab_size = len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[w] for w in text.split()]
        except KeyError as err:
            raise KeyError(f"word {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        return " ".join(self.itos[int(i)] for i in ids)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"


@dataclass
class TrainSettings:
    steps: int = 6000
    lr: float = 3e-3
    min_lr: float = 2e-4
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0  # the training stream and the initialisation; the world has its own seed
    world_seed: int = 0
    fact_rows: int = 24  # packed seen-fact sentences (and documents) per step
    fact_length: int = 48
    p_document: float = 0.15  # share of those rows that are documents of seen people
    episode_rows: int = 12  # reading episodes per step (once reading_from is reached)
    max_passages: int = 3
    questions: int = 4  # questions asked after the passages of an episode
    passage_loss: bool = False  # also train on the passages' non-object words (see episode_sequence)
    reading_from: int = 1000  # reading episodes join the training text at this step
    reading_weight: float = 1.0  # weight of the episodes' loss next to the facts' loss
    eval_every: int = 500
    n_layer: int = 4
    n_embd: int = 64


def model_config(s: TrainSettings, vocab_size: int) -> GPTConfig:
    return GPTConfig(vocab_size=vocab_size, block_size=128, n_layer=s.n_layer, n_head=4,
                     n_embd=s.n_embd, dropout=0.0)


# --- training sequences ------------------------------------------------------------------------


def fact_sequence(world: World, rng: random.Random, length: int) -> str:
    """Seen-fact sentences packed until the text has at least ``length`` words."""
    words: list[str] = []
    while len(words) < length:
        words += world.fact_sentences(rng, 1)[0].split()
    return " ".join(words)


def document_sequence(world: World, rng: random.Random, length: int) -> str:
    """Documents of seen people, packed."""
    seen = [i for i, p in enumerate(world.people) if p not in world.held_out]
    words: list[str] = []
    while len(words) < length:
        words += world.documents[rng.choice(seen)].split()
    return " ".join(words)


def episode_sequence(world: World, rng: random.Random, s: TrainSettings) -> tuple[list[str], list[bool]]:
    """A reading episode as training words: passages about strangers, the question and its
    answer, then ``s.questions - 1`` more questions about anyone in the passages, each answered
    and closed by '.'. Returns (words, trained): the answers are trained on and, with
    ``s.passage_loss``, the passages' other words (a name repeated in a passage is predictable
    from the passage: practice in telling people apart), never the passages' objects: they are
    random, and a loss on them would teach that names, shared with the world's people, predict
    nothing."""
    ep = world.reading_episode(rng, rng.randint(1, s.max_passages))
    words = ep.prompt().split()
    n_passage = len(" ".join(ep.passages).split())
    trained = [s.passage_loss and i < n_passage and w not in OBJECTS for i, w in enumerate(words)]
    asked = [(ep.question, ep.template)]
    for _ in range(s.questions - 1):
        f = rng.choice(ep.stated)
        asked.append((f, rng.randrange(len(RELATION[f.relation].templates))))
    for i, (f, t) in enumerate(asked):
        if i:
            q = World.prompt(f, t).split()
            words += q
            trained += [False] * len(q)
        words += [f.object, END]
        trained += [True, False]
    return words, trained


def training_batch(world: World, tok: WordTokenizer, rng: random.Random, s: TrainSettings, T: int,
                   reading: bool = True):
    """Two batches: (x, y) of packed seen facts and documents, trained on every token, and
    (x, y) of reading episodes, trained on their answers only (-100 elsewhere)."""
    facts = []
    for _ in range(s.fact_rows):
        make = document_sequence if rng.random() < s.p_document else fact_sequence
        facts.append(tok.encode(make(world, rng, s.fact_length + 1))[: s.fact_length + 1])
    Xf = torch.tensor(facts)
    if not (reading and s.episode_rows):
        return (Xf[:, :-1], Xf[:, 1:]), None
    rows, targets = [], []
    for _ in range(s.episode_rows):
        words, answer = episode_sequence(world, rng, s)
        ids = tok.encode(" ".join(words))[: T + 1]
        rows.append(ids)
        targets.append([i if a else -100 for i, a in zip(ids, answer, strict=False)])
    n = max(len(r) for r in rows)
    pad = tok.stoi[END]
    Xe = torch.tensor([r + [pad] * (n - len(r)) for r in rows])
    Ye = torch.tensor([t + [-100] * (n - len(t)) for t in targets])
    return (Xf[:, :-1], Xf[:, 1:]), (Xe[:, :-1], Ye[:, 1:])


def training_text(world: World, n: int, length: int = 48, seed: int = 0) -> list[str]:
    """``n`` pieces of training text of ``length`` words (packed seen facts, and documents of
    seen people at the training share): what the model read, e.g. to estimate key statistics."""
    rng = random.Random(seed)
    s = TrainSettings()
    out = []
    for _ in range(n):
        make = document_sequence if rng.random() < s.p_document else fact_sequence
        out.append(" ".join(make(world, rng, length).split()[:length]))
    return out


# --- measurements ------------------------------------------------------------------------------


def hook_count(model: torch.nn.Module) -> int:
    """Forward and backward hooks registered on ``model`` and its submodules (0 for a clean model)."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )



@torch.no_grad()
def next_logits(model: GPT, tok: WordTokenizer, texts: list[str]) -> torch.Tensor:
    """(N, V) next-token logits after each text (texts of equal length are batched; no padding)."""
    device = model.tok_emb.weight.device
    out = torch.empty(len(texts), tok.vocab_size)
    by_len: dict[int, list[int]] = {}
    encoded = [tok.encode(t) for t in texts]
    for i, ids in enumerate(encoded):
        by_len.setdefault(len(ids), []).append(i)
    for idx in by_len.values():
        x = torch.tensor([encoded[i] for i in idx], device=device)
        out[idx] = model(x[:, -model.config.block_size :])[0][:, -1].float().cpu()
    return out


def predict_objects(model: GPT, tok: WordTokenizer, texts: list[str], relations: list[str]) -> list[str]:
    """The most likely object of each text's relation (scored among that relation's objects)."""
    logits = next_logits(model, tok, texts)
    out = []
    for row, rel in zip(logits, relations, strict=True):
        objects = RELATION[rel].objects
        ids = torch.tensor([tok.stoi[o] for o in objects])
        out.append(objects[int(row[ids].argmax())])
    return out


def recall(model: GPT, tok: WordTokenizer, facts: list[Fact], templates=(0, 1, 2, 3)) -> float:
    """Share of (fact, template) prompts whose most likely object is the fact's object."""
    texts, rels, gold = [], [], []
    for f in facts:
        for t in templates:
            texts.append(World.prompt(f, t))
            rels.append(f.relation)
            gold.append(f.object)
    pred = predict_objects(model, tok, texts, rels)
    return sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)


def reading_accuracy(model: GPT, tok: WordTokenizer, world: World, n: int, seed: int, passages: int = 3) -> float:
    """Accuracy on fresh reading episodes (strangers, random facts): answering from the context."""
    rng = random.Random(seed)
    texts, rels, gold = [], [], []
    for _ in range(n):
        ep = world.reading_episode(rng, passages)
        texts.append(ep.prompt())
        rels.append(ep.question.relation)
        gold.append(ep.question.object)
    pred = predict_objects(model, tok, texts, rels)
    return sum(p == g for p, g in zip(pred, gold, strict=True)) / n


# --- checkpoints -------------------------------------------------------------------------------


def save(path, model: GPT, tok: WordTokenizer, extra: dict | None = None) -> None:
    """Config, float32 weights (the tied matrix once) and the vocabulary; plain types only."""
    state = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    state.pop("lm_head.weight", None)
    payload = {"config": asdict(model.config), "state_dict": state, "words": list(tok.itos),
               "extra": dict(extra or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load(path, device="cpu") -> tuple[GPT, WordTokenizer]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    known = {f.name for f in fields(GPTConfig)}
    model = GPT(GPTConfig(**{k: v for k, v in payload["config"].items() if k in known}))
    state = dict(payload["state_dict"])
    state["lm_head.weight"] = state["tok_emb.weight"]
    model.load_state_dict(state)
    model.checkpoint_extra = payload.get("extra", {})
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device).eval(), WordTokenizer(payload["words"])


def load_model(device="cpu") -> GPT:
    """The shipped model (datasets/knowledge/world-gpt.pt, sha-verified): frozen, eval mode."""
    from course.data import data_path

    return load(data_path(CHECKPOINT_NAME), device=device)[0]


def load_pretrained(device="cpu") -> tuple[GPT, WordTokenizer]:
    """The shipped model and its tokenizer."""
    from course.data import data_path

    return load(data_path(CHECKPOINT_NAME), device=device)


def load_world() -> World:
    """The world the shipped model was trained on (its seed is in the checkpoint)."""
    return make_world(seed=0)


# --- training ----------------------------------------------------------------------------------


def train(s: TrainSettings, device="cpu", log=print) -> tuple[GPT, WordTokenizer, dict]:
    world = make_world(seed=s.world_seed)
    tok = WordTokenizer(world.vocabulary())
    torch.manual_seed(s.seed)
    model = GPT(model_config(s, tok.vocab_size)).to(device).train()
    opt = torch.optim.AdamW(param_groups(model, s.weight_decay), lr=s.lr, betas=(0.9, 0.99))
    rng = random.Random(s.seed)
    T = model.config.block_size
    history = []
    start = time.perf_counter()
    for step in range(s.steps + 1):
        if step % s.eval_every == 0 or step == s.steps:
            model.eval()
            row = dict(step=step,
                       recall_seen=round(recall(model, tok, world.seen_facts()), 4),
                       recall_held_out=round(recall(model, tok, world.held_out_facts()), 4),
                       reading=round(reading_accuracy(model, tok, world, 300, seed=10_000), 4))
            model.train()
            history.append(row)
            # Seconds are logged, not saved: the checkpoint's bytes must not depend on the machine's load.
            log(" | ".join(f"{k} {v}" for k, v in row.items()) + f" | {time.perf_counter() - start:.0f} s")
        if step == s.steps:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, lr=s.lr, min_lr=s.min_lr, warmup=s.warmup, max_steps=s.steps)
        (xf, yf), episodes = training_batch(world, tok, rng, s, T, reading=step >= s.reading_from)
        loss = model(xf.to(device), yf.to(device))[1]
        if episodes is not None:
            loss = loss + s.reading_weight * model(episodes[0].to(device), episodes[1].to(device))[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
    model.eval()
    extra = {"train": asdict(s), "history": history, "final": history[-1]}
    return model.cpu(), tok, extra


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(TrainSettings):
        if isinstance(f.default, bool):
            p.add_argument("--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=f.default)
        else:
            p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    s = TrainSettings(**{f.name: getattr(args, f.name) for f in fields(TrainSettings)})
    model, tok, extra = train(s, args.device)
    if args.out:
        save(args.out, model, tok, extra)
        print(f"saved {args.out}")
    return model, tok, extra


if __name__ == "__main__":
    main()
