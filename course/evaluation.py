"""Plumbing for module 10 (evaluating language models); nothing here is an exercise answer.

The metrics (units of a loss, BLEU, ROUGE, precision and recall, calibration, the paired
bootstrap) are written in the notebook. This file holds what the experiments around them need:

- a sub-word tokenizer (byte-level BPE from the ``tokenizers`` library) and an add-k bigram
  model, to compare a character model with a BPE model in the same unit;
- the spelling systems' parts: word substitution counts, Folio spelling variants of a word,
  and the log-probability a GPT gives a continuation (to choose among the variants);
- sufficient statistics and corpus scores of sacrebleu's BLEU and chrF, in the form the paired
  bootstrap resamples (one row of numbers per segment; a score is a function of their sum);
- next-character predictions of a GPT on held-out text, for calibration.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import torch

# --- tokenizations and a bigram model ------------------------------------------------------------


def train_bpe(text: str, vocab_size: int):
    """A byte-level BPE tokenizer (GPT-2's scheme, the ``tokenizers`` library, offline) trained on
    ``text``: lossless, so ``decode(encode(s).ids) == s``, and spaces are part of the tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(text.splitlines(keepends=True), trainer)
    return tokenizer


def bigram_nats(train_ids: Sequence[int], test_ids: Sequence[int], vocab_size: int, k: float = 0.1) -> tuple[float, int]:
    """An add-k bigram model fitted on ``train_ids``: the total negative log-likelihood (nats) of
    ``test_ids[1:]`` given the token before each, and the number of tokens predicted."""
    train = np.asarray(train_ids, dtype=np.int64)
    test = np.asarray(test_ids, dtype=np.int64)
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    rows = counts.sum(1)
    p = (counts[test[:-1], test[1:]] + k) / (rows[test[:-1]] + k * vocab_size)
    return float(-np.log(p).sum()), len(test) - 1


# --- the spelling systems ------------------------------------------------------------------------


def substitution_counts(modern: Sequence[str], folio: Sequence[str]) -> dict[str, Counter]:
    """``{modern word: Counter(folio spellings)}`` over the pairs whose two sides have the same
    number of words (aligned word by word); pairs of other lengths are skipped."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for m, f in zip(modern, folio, strict=True):
        mw, fw = m.split(), f.split()
        if len(mw) == len(fw):
            for a, b in zip(mw, fw, strict=True):
                counts[a][b] += 1
    return dict(counts)


# Spelling habits of the 1623 compositors, each a rewrite of a modern word (lower case).
FOLIO_RULES: dict[str, Callable[[str], str]] = {
    "u -> v at the start (vs, vnto)": lambda s: "v" + s[1:] if s.startswith("u") else s,
    "v -> u inside (loue, haue)": lambda s: s[:1] + s[1:].replace("v", "u"),
    "j -> i (iust, ioy)": lambda s: s.replace("j", "i"),
    "final e (doome, soone)": lambda s: s + "e"
    if len(s) > 2 and s[-1] in "bdfgklmnprstz" and s[-2] in "aeiouy"
    else s,
    "y -> ie at the end (prettie)": lambda s: s[:-1] + "ie" if len(s) > 2 and s.endswith("y") else s,
    "ed -> 'd (blaz'd)": lambda s: s[:-2] + "'d" if len(s) > 4 and s.endswith("ed") and s[-3] not in "aeiou" else s,
    "ic -> icke (musicke)": lambda s: s + "ke" if s.endswith("ic") else s,
    "ea -> ee (cleere)": lambda s: s.replace("ea", "ee"),
}


def folio_variants(word: str) -> list[str]:
    """Every spelling of ``word`` that a subset of :data:`FOLIO_RULES` (applied in order) makes,
    the word itself included; sorted, no duplicates."""
    out = set()
    rules = list(FOLIO_RULES.values())
    for mask in itertools.product((False, True), repeat=len(rules)):
        s = word
        for rule, on in zip(rules, mask, strict=True):
            if on:
                s = rule(s)
        out.add(s)
    return sorted(out)


@torch.no_grad()
def continuation_logprobs(model, tokenizer, items: Sequence[tuple[str, str]], batch_size: int = 256) -> np.ndarray:
    """log p(continuation | "\\n" + context) in nats under a character GPT, for each
    ``(context, continuation)`` pair: the sum over the continuation's characters. The context is
    cropped on the left so that the whole fits in the model's block size."""
    device = model.tok_emb.weight.device
    limit = model.config.block_size + 1
    encoded = []
    for context, continuation in items:
        tail = tokenizer.encode(continuation)
        if len(tail) >= limit:
            raise ValueError(f"a continuation of {len(tail)} characters does not fit in the block size")
        head = tokenizer.encode("\n" + context)[-(limit - len(tail)) :]
        encoded.append((head + tail, len(head)))
    out = np.zeros(len(items))
    order = sorted(range(len(items)), key=lambda i: len(encoded[i][0]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encoded[i][0]) for i in rows)
        x = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width - 1))
        for r, i in enumerate(rows):
            ids, n_head = encoded[i]
            x[r, : len(ids)] = torch.tensor(ids)
            mask[r, n_head - 1 : len(ids) - 1] = 1.0  # predictions of the continuation's characters
        x = x.to(device)
        logp = torch.log_softmax(model(x[:, :-1])[0].float(), dim=-1)
        picked = logp.gather(-1, x[:, 1:, None])[..., 0].cpu()
        out[rows] = (picked * mask).sum(1).double().numpy()
    return out


# --- sufficient statistics for the bootstrap -----------------------------------------------------


def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize="none")


def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def bleu_stats(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """sacrebleu's per-segment BLEU statistics, (N, 10): hypothesis length, reference length,
    matches of orders 1-4 (clipped), hypothesis n-grams of orders 1-4."""
    return np.array(_bleu()._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype=float)


def bleu_from_stats(totals) -> float:
    """sacrebleu's corpus BLEU (0-100) from the column sums of :func:`bleu_stats`."""
    return float(_bleu()._compute_score_from_stats(np.asarray(totals)).score)


def chrf_stats(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """sacrebleu's per-segment chrF statistics (character and word n-gram counts), (N, d)."""
    return np.array(_chrf()._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype=float)


def chrf_from_stats(totals) -> float:
    """sacrebleu's corpus chrF (0-100) from the column sums of :func:`chrf_stats`."""
    return float(_chrf()._compute_score_from_stats(np.asarray(totals)).score)


def mean_from_stats(totals) -> float:
    """The mean of a segment score from the column sums of rows ``[score, 1]``: totals[0] / totals[1]."""
    return float(totals[0] / totals[1])


class WhitespaceTokenizer:
    """For ``rouge_score.rouge_scorer.RougeScorer(tokenizer=...)``: split on whitespace, nothing
    else (its default tokenizer also drops apostrophes and non-alphanumerics)."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


# --- calibration ---------------------------------------------------------------------------------


@torch.no_grad()
def next_char_logits(model, tokenizer, text: str, length: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The GPT's next-character logits on ``n`` evenly spread windows of ``length`` characters of
    ``text``: logits (n * length, V) float32 and the true next characters (n * length,)."""
    from course import adapt

    x, y = adapt.fixed_windows(adapt.encode(tokenizer, text), length, n)
    device = model.tok_emb.weight.device
    logits = torch.cat([model(x[i : i + 64].to(device))[0].float().cpu() for i in range(0, n, 64)])
    return logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
