"""Module 10 (evaluation): wrong answers are rejected, correct variants keep full marks, and the
helpers (course.evaluation, course.corpus.spelling_pairs, datasets/build_spelling_pairs.py) work."""

import importlib.util
import math

import numpy as np
import pytest
import sacrebleu
import torch
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

from course import corpus
from course import evaluation as ev
from course.data import DATASETS_DIR
from course.gpt import GPT, CharTokenizer, GPTConfig

MODULE = "10-evaluation"
NOTEBOOK = "evaluation.ipynb"
pytestmark = pytest.mark.module10

# --- exercise 1: units ---------------------------------------------------------------------------

UNITS = '''
def loss_units(loss, n_tokens, n_chars):
    if loss < 0 or n_tokens <= 0 or n_chars <= 0:
        raise ValueError("bad")
    per_char = loss * n_tokens / n_chars
    def ppl(h):
        try:
            return math.exp(h)
        except OverflowError:
            return math.inf
    return {"nats_per_token": loss, "bits_per_token": loss / math.log(2), "token_perplexity": ppl(loss),
            "nats_per_char": per_char, "bits_per_char": per_char / math.log(2), "char_perplexity": ppl(per_char)}
'''
UNITS_INVERTED = UNITS.replace("per_char = loss * n_tokens / n_chars", "per_char = loss * n_chars / n_tokens")
UNITS_OVERFLOW = UNITS.replace(
    "        try:\n            return math.exp(h)\n        except OverflowError:\n            return math.inf\n",
    "        return math.exp(h)\n",
)
UNITS_BITS_TIMES = UNITS.replace("loss / math.log(2)", "loss * math.log(2)").replace(
    "per_char / math.log(2)", "per_char * math.log(2)"
)
# the bits exponentiated with e (or the nats with 2): perplexity in the wrong base
UNITS_MIXED_BASES = UNITS.replace('"char_perplexity": ppl(per_char)', '"char_perplexity": ppl(per_char / math.log(2))')
UNITS_NO_CHECK = UNITS.replace('    if loss < 0 or n_tokens <= 0 or n_chars <= 0:\n        raise ValueError("bad")\n', "")
UNITS_RIGHT_NUMPY = '''
def loss_units(loss, n_tokens, n_chars):
    if not (loss >= 0 and n_tokens > 0 and n_chars > 0):
        raise ValueError("loss >= 0 and positive counts")
    with np.errstate(over="ignore"):
        total = loss * n_tokens
        return {"nats_per_token": float(loss), "bits_per_token": float(np.log2(np.exp(1.0)) * loss),
                "token_perplexity": float(np.exp(loss)), "nats_per_char": total / n_chars,
                "bits_per_char": float(total / n_chars / np.log(2)), "char_perplexity": float(np.exp(total / n_chars))}
'''
UNITS_RIGHT_BASE2 = '''
def loss_units(loss, n_tokens, n_chars):
    if loss < 0:
        raise ValueError("negative loss")
    if min(n_tokens, n_chars) <= 0:
        raise ValueError("counts must be positive")
    bits = loss / math.log(2)
    bpc = bits * n_tokens / n_chars
    big = lambda b: math.inf if b > 1000 else 2.0 ** b
    return dict(nats_per_token=loss, bits_per_token=bits, token_perplexity=big(bits),
                nats_per_char=bpc * math.log(2), bits_per_char=bpc, char_perplexity=big(bpc))
'''

# --- exercise 2: BLEU ----------------------------------------------------------------------------

BLEU = '''
from collections import Counter


def corpus_bleu(hypotheses, references, smooth="exp"):
    if smooth not in ("none", "exp"):
        raise ValueError(smooth)
    correct, total = [0] * 4, [0] * 4
    sys_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        h, r = hyp.split(), ref.split()
        sys_len, ref_len = sys_len + len(h), ref_len + len(r)
        for n in range(1, 5):
            hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            total[n - 1] += sum(hc.values())
            correct[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)
    precisions = [0.0] * 4
    out = {"score": 0.0, "precisions": precisions, "bp": bp, "sys_len": sys_len, "ref_len": ref_len}
    if not any(correct):
        return out
    halvings = 1.0
    for n in range(4):
        if total[n] == 0:
            return out
        if correct[n] == 0:
            if smooth == "none":
                return out
            halvings *= 2
            precisions[n] = 100.0 / (halvings * total[n])
        else:
            precisions[n] = 100.0 * correct[n] / total[n]
    out["score"] = bp * math.exp(sum(math.log(p) for p in precisions) / 4)
    return out
'''
BLEU_NO_CLIP = BLEU.replace("sum(min(c, rc[g]) for g, c in hc.items())", "sum(c for g, c in hc.items() if g in rc)")
BLEU_SENTENCE_MEAN = BLEU.replace("def corpus_bleu(hypotheses, references, smooth=\"exp\"):", "def _one(hypotheses, references, smooth=\"exp\"):") + '''

def corpus_bleu(hypotheses, references, smooth="exp"):
    parts = [_one([h], [r], smooth) for h, r in zip(hypotheses, references)]
    out = _one(hypotheses, references, smooth)
    out["score"] = sum(p["score"] for p in parts) / len(parts)
    return out
'''
BLEU_BP_WRONG_SIDE = BLEU.replace(
    "bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)",
    "bp = 1.0 if sys_len <= ref_len else math.exp(1 - sys_len / ref_len)",
)
BLEU_ARITHMETIC = BLEU.replace(
    "out[\"score\"] = bp * math.exp(sum(math.log(p) for p in precisions) / 4)", "out[\"score\"] = bp * sum(precisions) / 4"
)
BLEU_SMOOTH_NO_DOUBLING = BLEU.replace("            halvings *= 2\n", "")
assert len({BLEU, BLEU_NO_CLIP, BLEU_BP_WRONG_SIDE, BLEU_ARITHMETIC, BLEU_SMOOTH_NO_DOUBLING}) == 5
BLEU_RIGHT_SACREBLEU = '''
def corpus_bleu(hypotheses, references, smooth="exp"):
    if smooth not in ("none", "exp"):
        raise ValueError(smooth)
    b = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize="none", smooth_method=smooth)
    return {"score": b.score, "precisions": list(b.precisions), "bp": b.bp, "sys_len": b.sys_len, "ref_len": b.ref_len}
'''
BLEU_RIGHT_NUMPY = '''
from collections import Counter


def corpus_bleu(hypotheses, references, smooth="exp"):
    if smooth not in {"none", "exp"}:
        raise ValueError("unknown smoothing")
    stats = np.zeros((2, 4))
    c = r = 0
    for hyp, ref in zip(hypotheses, references):
        h, t = hyp.split(), ref.split()
        c, r = c + len(h), r + len(t)
        for n in range(1, 5):
            hc = Counter(zip(*[h[i:] for i in range(n)]))
            rc = Counter(zip(*[t[i:] for i in range(n)]))
            stats[0, n - 1] += sum((hc & rc).values())
            stats[1, n - 1] += sum(hc.values())
    bp = 0.0 if c == 0 else float(np.exp(min(0.0, 1 - r / c)))
    res = dict(score=0.0, precisions=np.zeros(4), bp=bp, sys_len=c, ref_len=r)
    if stats[0].sum() == 0 or (stats[1] == 0).any():
        if stats[0].sum() > 0:
            k = int(np.argmax(stats[1] == 0))
            res["precisions"] = np.where(np.arange(4) < k, 100 * stats[0] / np.maximum(stats[1], 1), 0.0)
            zero = (stats[0] == 0)[:k]
            if smooth == "exp" and zero.any():
                res["precisions"][:k][zero] = 100 / (2.0 ** np.arange(1, zero.sum() + 1) * stats[1][:k][zero])
        return res
    p = 100 * stats[0] / stats[1]
    zero = stats[0] == 0
    if zero.any():
        if smooth == "none":
            res["precisions"] = np.where(np.cumsum(zero) == 0, p, 0.0)
            return res
        p[zero] = 100 / (2.0 ** np.arange(1, zero.sum() + 1) * stats[1][zero])
    res["precisions"] = p
    res["score"] = bp * float(np.exp(np.log(p).mean()))
    return res
'''

# --- exercise 3: ROUGE ---------------------------------------------------------------------------

ROUGE = '''
def rouge(hypothesis, reference):
    h, r = hypothesis.split(), reference.split()
    def f1(p, q):
        return 2 * p * q / (p + q) if p + q > 0 else 0.0
    out = {}
    for n in (1, 2):
        hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
        rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        overlap = sum(min(c, rc[g]) for g, c in hc.items())
        p, q = overlap / max(sum(hc.values()), 1), overlap / max(sum(rc.values()), 1)
        out[f"rouge{n}"] = (p, q, f1(p, q))
    if not h or not r:
        out["rougeL"] = (0.0, 0.0, 0.0)
        return out
    L = [[0] * (len(r) + 1) for _ in range(len(h) + 1)]
    for i in range(len(h)):
        for j in range(len(r)):
            L[i + 1][j + 1] = L[i][j] + 1 if h[i] == r[j] else max(L[i][j + 1], L[i + 1][j])
    lcs = L[-1][-1]
    p, q = lcs / len(h), lcs / len(r)
    out["rougeL"] = (p, q, f1(p, q))
    return out
'''
ROUGE_SUBSTRING = ROUGE.replace(
    "L[i + 1][j + 1] = L[i][j] + 1 if h[i] == r[j] else max(L[i][j + 1], L[i + 1][j])",
    "L[i + 1][j + 1] = L[i][j] + 1 if h[i] == r[j] else 0",
).replace("lcs = L[-1][-1]", "lcs = max(max(row) for row in L)")
ROUGE_SWAPPED = ROUGE.replace(
    "p, q = overlap / max(sum(hc.values()), 1), overlap / max(sum(rc.values()), 1)",
    "q, p = overlap / max(sum(hc.values()), 1), overlap / max(sum(rc.values()), 1)",
).replace("p, q = lcs / len(h), lcs / len(r)", "p, q = lcs / len(r), lcs / len(h)")
ROUGE_NO_CLIP = ROUGE.replace("sum(min(c, rc[g]) for g, c in hc.items())", "sum(c for g, c in hc.items() if g in rc)")
ROUGE_SETS = ROUGE.replace(
    "overlap = sum(min(c, rc[g]) for g, c in hc.items())", "overlap = len(set(hc) & set(rc))"
).replace("max(sum(hc.values()), 1), overlap / max(sum(rc.values()), 1)", "max(len(hc), 1), overlap / max(len(rc), 1)")
ROUGE_ARITHMETIC_F = ROUGE.replace("return 2 * p * q / (p + q) if p + q > 0 else 0.0", "return (p + q) / 2")
assert len({ROUGE, ROUGE_SUBSTRING, ROUGE_SWAPPED, ROUGE_NO_CLIP, ROUGE_SETS, ROUGE_ARITHMETIC_F}) == 6
ROUGE_RIGHT_LIBRARY = '''
def rouge(hypothesis, reference):
    class _Split:
        def tokenize(self, text):
            return text.split()
    s = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_Split()).score(reference, hypothesis)
    return {k: (v.precision, v.recall, v.fmeasure) for k, v in s.items()}
'''
ROUGE_RIGHT_MEMO = '''
import functools


def rouge(hypothesis, reference):
    h, r = tuple(hypothesis.split()), tuple(reference.split())

    @functools.lru_cache(maxsize=None)
    def lcs(i, j):
        if i == len(h) or j == len(r):
            return 0
        if h[i] == r[j]:
            return 1 + lcs(i + 1, j + 1)
        return max(lcs(i + 1, j), lcs(i, j + 1))

    def prf(overlap, nh, nr):
        p, q = (overlap / nh if nh else 0.0), (overlap / nr if nr else 0.0)
        return [p, q, 0.0 if p + q == 0 else 2 * p * q / (p + q)]

    out = {}
    for n in (1, 2):
        gh = Counter(h[i:i + n] for i in range(len(h) - n + 1))
        gr = Counter(r[i:i + n] for i in range(len(r) - n + 1))
        out["rouge%d" % n] = prf(sum((gh & gr).values()), sum(gh.values()), sum(gr.values()))
    out["rougeL"] = prf(lcs(0, 0), len(h), len(r)) if h and r else [0.0, 0.0, 0.0]
    return out
'''

# --- exercise 4: paired bootstrap ----------------------------------------------------------------

BOOT = '''
def paired_bootstrap(stats_a, stats_b, score, n_samples=1000, seed=12345):
    a, b = np.asarray(stats_a, dtype=float), np.asarray(stats_b, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(a), size=(n_samples, len(a)), replace=True)
    idx_b = idx
    sa = np.array([score(a[row].sum(0)) for row in idx])
    sb = np.array([score(b[row].sum(0)) for row in idx_b])
    lo, hi = n_samples // 40, n_samples - n_samples // 40 - 1
    def interval(s):
        s = np.sort(s)
        return (float(s[lo]), float(s[hi]))
    full_a, full_b = float(score(a.sum(0))), float(score(b.sum(0)))
    d = np.abs(sb - sa)
    p = (np.sum(d - d.mean() > abs(full_b - full_a)) + 1) / (n_samples + 1)
    return {"score_a": full_a, "score_b": full_b, "mean_a": float(sa.mean()), "mean_b": float(sb.mean()),
            "ci_a": interval(sa), "ci_b": interval(sb), "p_value": float(p)}
'''
BOOT_UNPAIRED = BOOT.replace("    idx_b = idx\n", "    idx_b = rng.choice(len(b), size=(n_samples, len(b)), replace=True)\n")
BOOT_PERCENTILE = BOOT.replace(
    "        s = np.sort(s)\n        return (float(s[lo]), float(s[hi]))",
    "        lo_, hi_ = np.percentile(s, [2.5, 97.5])\n        return (float(lo_), float(hi_))",
)
BOOT_NO_PLUS_ONE = BOOT.replace(
    "p = (np.sum(d - d.mean() > abs(full_b - full_a)) + 1) / (n_samples + 1)",
    "p = np.sum(d - d.mean() > abs(full_b - full_a)) / n_samples",
)
BOOT_WINS = BOOT.replace(
    "p = (np.sum(d - d.mean() > abs(full_b - full_a)) + 1) / (n_samples + 1)", "p = np.mean(sb <= sa)"
)
BOOT_SEGMENT_MEAN = BOOT.replace(
    "sa = np.array([score(a[row].sum(0)) for row in idx])\n    sb = np.array([score(b[row].sum(0)) for row in idx_b])",
    "sa = np.array([np.mean([score(a[k]) for k in row]) for row in idx])\n"
    "    sb = np.array([np.mean([score(b[k]) for k in row]) for row in idx_b])",
)
assert len({BOOT, BOOT_UNPAIRED, BOOT_PERCENTILE, BOOT_NO_PLUS_ONE, BOOT_WINS, BOOT_SEGMENT_MEAN}) == 6
BOOT_RIGHT_INTEGERS = '''
def paired_bootstrap(stats_a, stats_b, score, n_samples=1000, seed=12345):
    A, B = np.array(stats_a, dtype=np.float64), np.array(stats_b, dtype=np.float64)
    S = A.shape[0]
    idx = np.random.default_rng(seed).integers(0, S, size=(n_samples, S))
    res_a, res_b = [], []
    for j in range(n_samples):
        res_a.append(score(A[idx[j]].sum(axis=0)))
        res_b.append(score(B[idx[j]].sum(axis=0)))
    res_a, res_b = np.array(res_a), np.array(res_b)
    k = n_samples // 40
    ci = lambda s: tuple(np.sort(s)[[k, n_samples - k - 1]].tolist())
    fa, fb = score(A.sum(axis=0)), score(B.sum(axis=0))
    diffs = np.abs(res_b - res_a)
    count = int(((diffs - diffs.mean()) > abs(fb - fa)).sum())
    return dict(score_a=fa, score_b=fb, mean_a=res_a.mean(), mean_b=res_b.mean(), ci_a=ci(res_a), ci_b=ci(res_b),
                p_value=(count + 1) / (n_samples + 1))
'''

# --- exercise 5: precision, recall, F1 -----------------------------------------------------------

PRF = '''
def precision_recall_f1(y_true, y_pred, labels=None, average=None, zero_division=0.0):
    if average not in (None, "micro", "macro", "weighted"):
        raise ValueError(average)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    labels = list(labels)
    tp = np.array([np.sum((y_pred == c) & (y_true == c)) for c in labels], dtype=float)
    pred = np.array([np.sum(y_pred == c) for c in labels], dtype=float)
    true = np.array([np.sum(y_true == c) for c in labels], dtype=float)
    if average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    def divide(num, den):
        out = np.full(len(num), float(zero_division))
        ok = den > 0
        out[ok] = num[ok] / den[ok]
        return out
    p, r = divide(tp, pred), divide(tp, true)
    f = divide(2 * tp, true + pred)
    if average is None:
        return p, r, f, true.astype(int)
    def mean(values, weights):
        keep = ~np.isnan(values)
        if not keep.any():
            return float("nan")
        v, w = values[keep], weights[keep]
        return float(np.average(v, weights=w)) if w.sum() > 0 else float(v.mean())
    w = true if average == "weighted" else np.ones_like(true)
    return mean(p, w), mean(r, w), mean(f, w), None
'''
PRF_F_FROM_PR = PRF.replace(
    "    f = divide(2 * tp, true + pred)\n",
    "    with np.errstate(invalid='ignore'):\n"
    "        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), float(zero_division))\n",
)
PRF_NANMEAN = PRF.replace(
    "        keep = ~np.isnan(values)\n        if not keep.any():\n            return float(\"nan\")\n",
    "        keep = np.ones(len(values), dtype=bool)\n",
)
PRF_LABELS_FROM_TRUE = PRF.replace("labels = np.unique(np.concatenate([y_true, y_pred]))", "labels = np.unique(y_true)")
PRF_MICRO_MEAN = PRF.replace(
    "    if average == \"micro\":\n        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)\n",
    "",
)
PRF_WEIGHT_PRED = PRF.replace('w = true if average == "weighted" else', 'w = pred if average == "weighted" else')
PRF_IGNORES_ZD = PRF.replace("out = np.full(len(num), float(zero_division))", "out = np.zeros(len(num))")
assert len({PRF, PRF_F_FROM_PR, PRF_NANMEAN, PRF_LABELS_FROM_TRUE, PRF_MICRO_MEAN, PRF_WEIGHT_PRED, PRF_IGNORES_ZD}) == 7
PRF_RIGHT_SKLEARN = '''
def precision_recall_f1(y_true, y_pred, labels=None, average=None, zero_division=0.0):
    return sklearn.metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                           zero_division=zero_division)
'''
PRF_RIGHT_CONFUSION = '''
def precision_recall_f1(y_true, y_pred, labels=None, average=None, zero_division=0.0):
    if average not in [None, "micro", "macro", "weighted"]:
        raise ValueError("average")
    yt, yp = list(y_true), list(y_pred)
    labels = sorted(set(yt) | set(yp)) if labels is None else list(labels)
    counts = []
    for c in labels:
        tp = sum(1 for a, b in zip(yt, yp) if a == c and b == c)
        fp = sum(1 for a, b in zip(yt, yp) if a != c and b == c)
        fn = sum(1 for a, b in zip(yt, yp) if a == c and b != c)
        counts.append((tp, fp, fn))
    if average == "micro":
        counts = [tuple(sum(x) for x in zip(*counts))] if counts else [(0, 0, 0)]
    zd = zero_division
    P = [tp / (tp + fp) if tp + fp else zd for tp, fp, fn in counts]
    R = [tp / (tp + fn) if tp + fn else zd for tp, fp, fn in counts]
    F = [2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else zd for tp, fp, fn in counts]
    support = [tp + fn for tp, fp, fn in counts]
    if average is None:
        return np.array(P, float), np.array(R, float), np.array(F, float), np.array(support)
    def avg(values):
        pairs = [(v, s) for v, s in zip(values, support) if not math.isnan(v)]
        if not pairs:
            return math.nan
        if average == "weighted" and sum(s for _, s in pairs) > 0:
            return sum(v * s for v, s in pairs) / sum(s for _, s in pairs)
        return sum(v for v, _ in pairs) / len(pairs)
    return avg(P), avg(R), avg(F), None
'''

# --- exercise 6: calibration ---------------------------------------------------------------------

CAL = '''
def calibration(confidences, correct, n_bins=10):
    conf = np.asarray(confidences, dtype=float).ravel()
    hit = np.asarray(correct, dtype=float).ravel()
    if conf.size == 0 or np.any((conf < 0) | (conf > 1)):
        raise ValueError("bad")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=hit, minlength=n_bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / conf.size * np.abs(accuracy[filled] - mean_conf[filled])))
    return {"ece": ece, "confidence": mean_conf, "accuracy": accuracy, "count": count}
'''
CAL_LEFT_CLOSED = CAL.replace(
    'bins = np.searchsorted(edges[1:-1], conf, side="left")', "bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)"
)
CAL_UNWEIGHTED = CAL.replace(
    "ece = float(np.sum(count[filled] / conf.size * np.abs(accuracy[filled] - mean_conf[filled])))",
    "ece = float(np.mean(np.abs(accuracy[filled] - mean_conf[filled])))",
)
CAL_EMPTY_ZERO = CAL.replace(
    "    filled = count > 0\n", "    filled = count > 0\n    mean_conf[~filled] = 0.0\n    accuracy[~filled] = 0.0\n"
)
CAL_CENTRES = CAL.replace(
    "mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count",
    "mean_conf = np.where(count > 0, (np.arange(n_bins) + 0.5) / n_bins, np.nan)",
)
CAL_MAX = CAL.replace("ece = float(np.sum(", "ece = float(np.max(")
assert len({CAL, CAL_LEFT_CLOSED, CAL_UNWEIGHTED, CAL_EMPTY_ZERO, CAL_CENTRES, CAL_MAX}) == 6
CAL_RIGHT_DIGITIZE = '''
def calibration(confidences, correct, n_bins=10):
    p = np.array(confidences, dtype=np.float64)
    y = np.array(correct, dtype=np.float64)
    if len(p) == 0 or p.min() < 0 or p.max() > 1:
        raise ValueError("confidences in [0, 1], at least one")
    b = np.digitize(p, np.linspace(0, 1, n_bins + 1)[1:-1], right=True)
    conf, acc, cnt = np.full(n_bins, np.nan), np.full(n_bins, np.nan), np.zeros(n_bins, dtype=int)
    for m in range(n_bins):
        sel = b == m
        cnt[m] = sel.sum()
        if cnt[m]:
            conf[m], acc[m] = p[sel].mean(), y[sel].mean()
    ok = cnt > 0
    return dict(ece=float((cnt[ok] * np.abs(acc[ok] - conf[ok])).sum() / len(p)), confidence=conf, accuracy=acc, count=cnt)
'''
CAL_RIGHT_LOOP = '''
def calibration(confidences, correct, n_bins=10):
    conf = [float(c) for c in confidences]
    hits = [float(h) for h in correct]
    if not conf or any(c < 0 or c > 1 for c in conf):
        raise ValueError("confidences in [0, 1]")
    members = [[] for _ in range(n_bins)]
    for c, h in zip(conf, hits):
        m = max(math.ceil(c * n_bins) - 1, 0)
        members[m].append((c, h))
    out_c, out_a = [], []
    ece = 0.0
    for group in members:
        if group:
            mc = sum(c for c, _ in group) / len(group)
            ma = sum(h for _, h in group) / len(group)
            ece += len(group) / len(conf) * abs(ma - mc)
        else:
            mc = ma = float("nan")
        out_c.append(mc)
        out_a.append(ma)
    return {"ece": ece, "confidence": out_c, "accuracy": out_a, "count": [len(g) for g in members]}
'''

WRONG = {
    NOTEBOOK: {
        "ex-units": [UNITS_INVERTED, UNITS_OVERFLOW, UNITS_BITS_TIMES, UNITS_MIXED_BASES, UNITS_NO_CHECK],
        "ex-bleu": [BLEU_NO_CLIP, BLEU_SENTENCE_MEAN, BLEU_BP_WRONG_SIDE, BLEU_ARITHMETIC, BLEU_SMOOTH_NO_DOUBLING],
        "ex-rouge": [ROUGE_SUBSTRING, ROUGE_SWAPPED, ROUGE_NO_CLIP, ROUGE_SETS, ROUGE_ARITHMETIC_F],
        "ex-bootstrap": [BOOT_UNPAIRED, BOOT_PERCENTILE, BOOT_NO_PLUS_ONE, BOOT_WINS, BOOT_SEGMENT_MEAN],
        "ex-prf": [PRF_F_FROM_PR, PRF_NANMEAN, PRF_LABELS_FROM_TRUE, PRF_MICRO_MEAN, PRF_WEIGHT_PRED, PRF_IGNORES_ZD],
        "ex-calibration": [CAL_LEFT_CLOSED, CAL_UNWEIGHTED, CAL_EMPTY_ZERO, CAL_CENTRES, CAL_MAX],
    }
}

RIGHT = {
    NOTEBOOK: {
        "ex-units": [UNITS, UNITS_RIGHT_NUMPY, UNITS_RIGHT_BASE2],
        "ex-bleu": [BLEU_RIGHT_SACREBLEU, BLEU_RIGHT_NUMPY],
        "ex-rouge": [ROUGE, ROUGE_RIGHT_LIBRARY, ROUGE_RIGHT_MEMO],
        "ex-bootstrap": [BOOT, BOOT_RIGHT_INTEGERS],
        "ex-prf": [PRF, PRF_RIGHT_SKLEARN, PRF_RIGHT_CONFUSION],
        "ex-calibration": [CAL, CAL_RIGHT_DIGITIZE, CAL_RIGHT_LOOP],
    }
}


# counts d - mean(d) >= the observed difference, not >
BOOT_P_GREATER_EQUAL = """
def paired_bootstrap(stats_a, stats_b, score, n_samples=1000, seed=12345):
    a, b = np.asarray(stats_a, dtype=float), np.asarray(stats_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("stats_a and stats_b must be (S, d) arrays of the same shape")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(a), size=(n_samples, len(a)), replace=True)
    sa = np.array([score(a[row].sum(0)) for row in idx])
    sb = np.array([score(b[row].sum(0)) for row in idx])
    lo = n_samples // 40
    hi = n_samples - lo - 1

    def interval(s):
        s = np.sort(s)
        return (float(s[lo]), float(s[hi]))

    full_a, full_b = float(score(a.sum(0))), float(score(b.sum(0)))
    d = np.abs(sb - sa)
    p = (np.sum(d - d.mean() >= abs(full_b - full_a)) + 1) / (n_samples + 1)
    return {"score_a": full_a, "score_b": full_b, "mean_a": float(sa.mean()), "mean_b": float(sb.mean()),
            "ci_a": interval(sa), "ci_b": interval(sb), "p_value": float(p)}
"""
WRONG["evaluation.ipynb"]["ex-bootstrap"] = [*WRONG["evaluation.ipynb"]["ex-bootstrap"], BOOT_P_GREATER_EQUAL]


# a brevity penalty of 1 when every hypothesis is empty (c = 0)
BLEU_BP_ONE_WHEN_EMPTY = """
from collections import Counter


def corpus_bleu(hypotheses, references, smooth="exp"):
    if smooth not in ("none", "exp"):
        raise ValueError(f"smooth must be 'none' or 'exp', got {smooth!r}")
    if len(hypotheses) != len(references):
        raise ValueError("one reference per hypothesis")
    correct, total = [0] * 4, [0] * 4
    sys_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        h, r = hyp.split(), ref.split()
        sys_len, ref_len = sys_len + len(h), ref_len + len(r)
        for n in range(1, 5):
            hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            total[n - 1] += sum(hc.values())
            correct[n - 1] += sum(min(c, rc[g]) for g, c in hc.items())
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 1.0)
    precisions = [0.0] * 4
    out = {"score": 0.0, "precisions": precisions, "bp": bp, "sys_len": sys_len, "ref_len": ref_len}
    if not any(correct):
        return out
    halvings = 1.0
    for n in range(4):
        if total[n] == 0:
            return out
        if correct[n] == 0:
            if smooth == "none":
                return out | {"precisions": [p if i < n else 0.0 for i, p in enumerate(precisions)]}
            halvings *= 2
            precisions[n] = 100.0 / (halvings * total[n])
        else:
            precisions[n] = 100.0 * correct[n] / total[n]
    out["score"] = bp * math.exp(sum(math.log(p) for p in precisions) / 4)
    return out
"""
WRONG["evaluation.ipynb"]["ex-bleu"] = [*WRONG["evaluation.ipynb"]["ex-bleu"], BLEU_BP_ONE_WHEN_EMPTY]


# weighted average with all supports 0 returns zero_division instead of the plain mean
PRF_WEIGHTED_NO_SUPPORT = """
def precision_recall_f1(y_true, y_pred, labels=None, average=None, zero_division=0.0):
    if average not in (None, "micro", "macro", "weighted"):
        raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted', got {average!r}")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError("y_true and y_pred must have the same length")
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    labels = list(labels)
    tp = np.array([np.sum((y_pred == c) & (y_true == c)) for c in labels], dtype=float)
    pred = np.array([np.sum(y_pred == c) for c in labels], dtype=float)
    true = np.array([np.sum(y_true == c) for c in labels], dtype=float)
    if average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)

    def divide(num, den):
        out = np.full(len(num), float(zero_division))
        ok = den > 0
        out[ok] = num[ok] / den[ok]
        return out

    p, r, f = divide(tp, pred), divide(tp, true), divide(2 * tp, true + pred)
    if average is None:
        return p, r, f, true.astype(int)

    def mean(values, weights):
        keep = ~np.isnan(values)
        if not keep.any():
            return float("nan")
        v, w = values[keep], weights[keep]
        return float(np.average(v, weights=w)) if w.sum() > 0 else float(zero_division)

    w = true if average == "weighted" else np.ones_like(true)
    return mean(p, w), mean(r, w), mean(f, w), None
"""
WRONG["evaluation.ipynb"]["ex-prf"] = [*WRONG["evaluation.ipynb"]["ex-prf"], PRF_WEIGHTED_NO_SUPPORT]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)
    assert all(len(codes) >= 3 for codes in WRONG[NOTEBOOK].values())


# torch: count / n of an int tensor is float32, so the ECE is right to about 1e-8
CAL_TORCH_FLOAT32_WEIGHTS = """
import torch
def calibration(confidences, correct, n_bins=10):
    c = torch.as_tensor(np.asarray(confidences, dtype=float))
    y = torch.as_tensor(np.asarray(correct, dtype=float))
    if c.numel() == 0 or (c < 0).any() or (c > 1).any():
        raise ValueError("bad confidences")
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    b = torch.bucketize(c, edges[1:-1], right=False)
    count = torch.bincount(b, minlength=n_bins)
    sc = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, b, c)
    sy = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, b, y)
    conf = sc / count; acc = sy / count
    m = count > 0
    ece = ((count[m] / c.numel()) * (acc[m] - conf[m]).abs()).sum().item()
    return {"ece": ece, "confidence": conf.numpy(), "accuracy": acc.numpy(), "count": count.numpy()}
"""
RIGHT["evaluation.ipynb"]["ex-calibration"] = [*RIGHT["evaluation.ipynb"]["ex-calibration"], CAL_TORCH_FLOAT32_WEIGHTS]


# all in torch: int / int ratios in float32
PRF_TORCH = """
import torch
def precision_recall_f1(y_true, y_pred, labels=None, average=None, zero_division=0.0):
    if average not in (None, "micro", "macro", "weighted"):
        raise ValueError(average)
    yt, yp = list(y_true), list(y_pred)
    if labels is None:
        labels = sorted(set(yt) | set(yp))
    tp = torch.tensor([sum(1 for a, b in zip(yt, yp) if a == b == c) for c in labels])
    npred = torch.tensor([yp.count(c) for c in labels])
    ntrue = torch.tensor([yt.count(c) for c in labels])
    if average == "micro":
        tp, npred, ntrue = tp.sum().reshape(1), npred.sum().reshape(1), ntrue.sum().reshape(1)
    def div(a, b):
        return torch.where(b > 0, a / b.clamp(min=1), torch.tensor(float(zero_division)))
    p, r, f = div(tp, npred), div(tp, ntrue), div(2 * tp, npred + ntrue)
    if average is None:
        return p.numpy(), r.numpy(), f.numpy(), ntrue.numpy()
    w = ntrue.float() if average == "weighted" else torch.ones(len(p))
    res = []
    for v in (p, r, f):
        keep = ~torch.isnan(v)
        if not keep.any():
            res.append(float("nan"))
        elif w[keep].sum() > 0:
            res.append(float((v[keep] * w[keep]).sum() / w[keep].sum()))
        else:
            res.append(float(v[keep].mean()))
    return (*res, None)
"""
RIGHT["evaluation.ipynb"]["ex-prf"] = [*RIGHT["evaluation.ipynb"]["ex-prf"], PRF_TORCH]


# torch: the p-value's count / (B + 1) in float32
BOOT_TORCH_P_FLOAT32 = """
import torch
def paired_bootstrap(stats_a, stats_b, score, n_samples=1000, seed=12345):
    a = np.asarray(stats_a, dtype=float); b = np.asarray(stats_b, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(a), size=(n_samples, len(a)), replace=True)
    sa = torch.tensor([score(a[i].sum(0)) for i in idx], dtype=torch.float64)
    sb = torch.tensor([score(b[i].sum(0)) for i in idx], dtype=torch.float64)
    lo = n_samples // 40
    fa, fb = score(a.sum(0)), score(b.sum(0))
    d = (sb - sa).abs()
    p = (((d - d.mean()) > abs(fb - fa)).sum() + 1) / (n_samples + 1)
    qa, qb = sa.sort().values, sb.sort().values
    return {"score_a": fa, "score_b": fb, "mean_a": sa.mean(), "mean_b": sb.mean(),
            "ci_a": (qa[lo], qa[n_samples - lo - 1]), "ci_b": (qb[lo], qb[n_samples - lo - 1]), "p_value": p}
"""
RIGHT["evaluation.ipynb"]["ex-bootstrap"] = [*RIGHT["evaluation.ipynb"]["ex-bootstrap"], BOOT_TORCH_P_FLOAT32]


# tokens per character as a torch int / int ratio (float32)
UNITS_TORCH_RATIO = """
import torch
def loss_units(loss, n_tokens, n_chars):
    if loss < 0 or n_tokens <= 0 or n_chars <= 0:
        raise ValueError("bad arguments")
    ratio = torch.tensor(n_tokens) / torch.tensor(n_chars)   # tokens per character
    h = float(loss * ratio)
    def ppl(x):
        return float(torch.exp(torch.tensor(x, dtype=torch.float64)))
    return {"nats_per_token": float(loss), "bits_per_token": loss / math.log(2), "token_perplexity": ppl(loss),
            "nats_per_char": h, "bits_per_char": h / math.log(2), "char_perplexity": ppl(h)}
"""
RIGHT["evaluation.ipynb"]["ex-units"] = [*RIGHT["evaluation.ipynb"]["ex-units"], UNITS_TORCH_RATIO]


# one key more than the six asked for
UNITS_EXTRA_KEY = """
def loss_units(loss, n_tokens, n_chars):
    if loss < 0 or n_tokens <= 0 or n_chars <= 0:
        raise ValueError(f"need loss >= 0 and positive counts, got {loss}, {n_tokens}, {n_chars}")
    loss = float(loss)
    per_char = loss * n_tokens / n_chars

    def ppl(h):
        try:
            return math.exp(h)
        except OverflowError:
            return math.inf

    return {
        "nats_per_token": loss,
        "bits_per_token": loss / math.log(2),
        "token_perplexity": ppl(loss),
        "nats_per_char": per_char,
        "bits_per_char": per_char / math.log(2),
        "char_perplexity": ppl(per_char),
        "total_nats": loss * n_tokens,
    }
"""
RIGHT["evaluation.ipynb"]["ex-units"] = [*RIGHT["evaluation.ipynb"]["ex-units"], UNITS_EXTRA_KEY]


# an LCS table in torch: int / int ratios in float32
ROUGE_TORCH_LCS = """
import torch
from collections import Counter
def rouge(hypothesis, reference):
    h, r = hypothesis.split(), reference.split()
    def prf(ov, nh, nr):
        p = ov / torch.tensor(max(nh, 1)); q = ov / torch.tensor(max(nr, 1))
        f = 2 * p * q / (p + q) if float(p + q) > 0 else torch.tensor(0.0)
        return (float(p), float(q), float(f))
    out = {}
    for n in (1, 2):
        hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
        rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        ov = torch.tensor(sum((hc & rc).values()))
        out[f"rouge{n}"] = prf(ov, sum(hc.values()), sum(rc.values()))
    if not h or not r:
        out["rougeL"] = (0.0, 0.0, 0.0)
        return out
    L = torch.zeros(len(h) + 1, len(r) + 1, dtype=torch.long)
    for i in range(1, len(h) + 1):
        for j in range(1, len(r) + 1):
            L[i, j] = L[i - 1, j - 1] + 1 if h[i - 1] == r[j - 1] else torch.maximum(L[i - 1, j], L[i, j - 1])
    out["rougeL"] = prf(L[-1, -1], len(h), len(r))
    return out
"""
RIGHT["evaluation.ipynb"]["ex-rouge"] = [*RIGHT["evaluation.ipynb"]["ex-rouge"], ROUGE_TORCH_LCS]


# resample scores in a float32 torch tensor
BOOT_TORCH_SCORES = """
import torch
def paired_bootstrap(stats_a, stats_b, score, n_samples=1000, seed=12345):
    a = np.asarray(stats_a, dtype=float); b = np.asarray(stats_b, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(a), size=(n_samples, len(a)), replace=True)
    sa = torch.tensor([score(a[i].sum(0)) for i in idx])
    sb = torch.tensor([score(b[i].sum(0)) for i in idx])
    lo = n_samples // 40
    fa, fb = float(score(a.sum(0))), float(score(b.sum(0)))
    d = (sb - sa).abs()
    p = (int(((d - d.mean()) > abs(fb - fa)).sum()) + 1) / (n_samples + 1)
    qa, qb = sa.sort().values, sb.sort().values
    return {"score_a": fa, "score_b": fb, "mean_a": float(sa.mean()), "mean_b": float(sb.mean()),
            "ci_a": (float(qa[lo]), float(qa[n_samples - lo - 1])), "ci_b": (float(qb[lo]), float(qb[n_samples - lo - 1])), "p_value": p}
"""
RIGHT["evaluation.ipynb"]["ex-bootstrap"] = [*RIGHT["evaluation.ipynb"]["ex-bootstrap"], BOOT_TORCH_SCORES]


# n-gram counts kept in a float32 tensor
BLEU_FLOAT32_COUNTS = """
import torch
from collections import Counter
def corpus_bleu(hypotheses, references, smooth="exp"):
    if smooth not in ("none", "exp"):
        raise ValueError(smooth)
    correct, total = torch.zeros(4), torch.zeros(4)
    c = r = 0
    for hyp, ref in zip(hypotheses, references):
        h, rf = hyp.split(), ref.split()
        c += len(h); r += len(rf)
        for n in range(1, 5):
            hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(rf[i:i + n]) for i in range(len(rf) - n + 1))
            total[n - 1] += sum(hc.values())
            correct[n - 1] += sum((hc & rc).values())
    bp = 0.0 if c == 0 else (1.0 if c >= r else math.exp(1 - r / c))
    prec = torch.zeros(4, dtype=torch.float64)
    zero = {"score": 0.0, "precisions": [0.0] * 4, "bp": bp, "sys_len": c, "ref_len": r}
    if correct.sum() == 0:
        return zero
    k = 1.0
    for n in range(4):
        if total[n] == 0:
            return zero | {"precisions": prec.tolist()}
        if correct[n] > 0:
            prec[n] = 100 * correct[n] / total[n]
        elif smooth == "exp":
            k *= 2
            prec[n] = 100 / (k * total[n])
        else:
            return zero | {"precisions": prec.tolist()}
    return {"score": bp * float(torch.exp(torch.log(prec).mean())), "precisions": prec.tolist(), "bp": bp, "sys_len": c, "ref_len": r}
"""
RIGHT["evaluation.ipynb"]["ex-bleu"] = [*RIGHT["evaluation.ipynb"]["ex-bleu"], BLEU_FLOAT32_COUNTS]


# an extra key (the bin edges) beside the four asked for
CAL_EXTRA_KEY = """
def calibration(confidences, correct, n_bins=10):
    conf = np.asarray(confidences, dtype=float).ravel()
    hit = np.asarray(correct, dtype=float).ravel()
    if conf.size == 0 or conf.shape != hit.shape:
        raise ValueError("need as many correctness flags as confidences, at least one")
    if np.any((conf < 0) | (conf > 1)) or np.any(np.isnan(conf)):
        raise ValueError("confidences must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], conf, side="left")  # (m/M, (m+1)/M]; 0 -> bin 0
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(bins, weights=hit, minlength=n_bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / conf.size * np.abs(accuracy[filled] - mean_conf[filled])))
    return {"ece": ece, "confidence": mean_conf, "accuracy": accuracy, "count": count, "edges": edges}
"""
RIGHT["evaluation.ipynb"]["ex-calibration"] = [*RIGHT["evaluation.ipynb"]["ex-calibration"], CAL_EXTRA_KEY]


# all in float32: exp overflows to inf past 3.4e38, where float64 still has a value
UNITS_FLOAT32_EXP = """
def loss_units(loss, n_tokens, n_chars):
    if loss < 0 or n_tokens <= 0 or n_chars <= 0:
        raise ValueError("bad")
    L = np.float32(loss); h = L * np.float32(n_tokens) / np.float32(n_chars)
    with np.errstate(over="ignore"):
        return {"nats_per_token": float(L), "bits_per_token": float(L / np.log(2)), "token_perplexity": float(np.exp(L)),
                "nats_per_char": float(h), "bits_per_char": float(h / np.log(2)), "char_perplexity": float(np.exp(h))}
"""
RIGHT["evaluation.ipynb"]["ex-units"] = [*RIGHT["evaluation.ipynb"]["ex-units"], UNITS_FLOAT32_EXP]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)


# --- the helpers ---------------------------------------------------------------------------------


def _builder():
    spec = importlib.util.spec_from_file_location("build_spelling_pairs", DATASETS_DIR / "build_spelling_pairs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spelling_pairs_rebuild_byte_for_byte():
    """Does datasets/build_spelling_pairs.py, run on the shipped plays, give the shipped pairs?"""
    build = _builder()
    for split in corpus.SPLITS:
        rows = build.pairs(corpus.modern(split), corpus.folio(split))
        text = "\n".join([build.HEADER] + [f"{m}\t{f}" for m, f in rows]) + "\n"
        assert text == (DATASETS_DIR / corpus.PAIRS[split]).read_text(encoding="ascii")


def test_spelling_pairs_loader():
    modern, folio = corpus.spelling_pairs("test")
    assert len(modern) == len(folio) > 1000
    assert modern[0] == "proceed solinus to procure my fall"
    words = " ".join(modern + folio).split()
    assert all(w == w.lower() and "\t" not in w for w in words)
    train_m, _ = corpus.spelling_pairs("train")
    assert len(train_m) > 3000
    with pytest.raises(ValueError):
        corpus.spelling_pairs("dev")


def test_alignment_skeleton_and_speaker_prefix():
    build = _builder()
    assert build.skeleton("loue") == build.skeleton("love") == "lou"
    assert build.skeleton("vs") == build.skeleton("us") and build.skeleton("doome") == build.skeleton("doom")
    assert build.folio_lines("Duk. Nay forward old man,\nFor we may pitty") == [
        ["nay", "forward", "old", "man"], ["for", "we", "may", "pitty"]]
    assert build.modern_lines("DUKE.\nNay, forward, old man; [Exit.]") == [["nay", "forward", "old", "man"]]
    got = build.pairs("DUKE.\nNay, forward, old man; do not break off so;\n",
                      "Duk. Nay forward old man, doe not breake off so,\n")
    assert got == [("nay forward old man do not break off so", "nay forward old man doe not breake off so")]


def test_folio_variants_and_substitution_counts():
    assert "vnto" in ev.folio_variants("unto") and "loue" in ev.folio_variants("love")
    assert "doome" in ev.folio_variants("doom") and "musicke" in ev.folio_variants("music")
    v = ev.folio_variants("love")
    assert v == sorted(set(v)) and "love" in v
    counts = ev.substitution_counts(["i have it", "have a care now"], ["i haue it", "haue care now"])
    assert counts["have"] == {"haue": 1} and "a" not in counts  # the second pair differs in length


def test_bigram_is_a_distribution_and_bpe_is_lossless():
    g = np.random.default_rng(0)
    train = g.integers(0, 5, 300)
    # Every continuation of each context, scored together, sums to probability 1.
    total = sum(math.exp(-ev.bigram_nats(train, [2, b], 5, k=0.5)[0]) for b in range(5))
    assert abs(total - 1.0) < 1e-12
    nats, n = ev.bigram_nats(train, [0, 1, 2, 3], 5)
    assert n == 3 and nats > 0
    text = corpus.modern("test")[:20_000]
    tk = ev.train_bpe(text, 300)
    ids = tk.encode(text).ids
    assert tk.decode(ids) == text and len(ids) < 0.8 * len(text)


def _tiny_gpt():
    torch.manual_seed(0)
    tok = CharTokenizer("\n abcdefghijklmnopqrstuvwxyz'")
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8)).eval(), tok


def test_continuation_logprobs_match_the_model_loss():
    model, tok = _tiny_gpt()
    got = ev.continuation_logprobs(model, tok, [("to be ", "or not"), ("", "ab"), ("a much longer context ", "xy")])
    for (context, cont), value in zip([("to be ", "or not"), ("", "ab"), ("a much longer context ", "xy")], got, strict=True):
        ids = tok.encode("\n" + context + cont)[-17:]  # the block size, plus the last target
        x = torch.tensor([ids])
        logp = torch.log_softmax(model(x[:, :-1])[0], -1)[0]
        want = sum(float(logp[t - 1].detach()[ids[t]]) for t in range(len(ids) - len(cont), len(ids)))
        assert abs(value - want) < 1e-4
    with pytest.raises(ValueError):
        ev.continuation_logprobs(model, tok, [("", "a" * 20)])


def test_sacrebleu_statistics_round_trip():
    hyps = ["a b c d e", "a b x", "q r s t"]
    refs = ["a b c d f", "a b c", "q r s t u"]
    stats = ev.bleu_stats(hyps, refs)
    assert stats.shape == (3, 10)
    assert abs(ev.bleu_from_stats(stats.sum(0)) - sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score) < 1e-9
    chrf = ev.chrf_stats(hyps, refs)
    assert abs(ev.chrf_from_stats(chrf.sum(0)) - sacrebleu.corpus_chrf(hyps, [refs]).score) < 1e-9
    assert ev.mean_from_stats(np.array([3.0, 4.0])) == 0.75
    assert ev.WhitespaceTokenizer().tokenize("seal'd  up") == ["seal'd", "up"]


def test_next_char_logits_shape_and_targets():
    model, tok = _tiny_gpt()
    text = "the quick brown fox jumps over the lazy dog " * 10
    logits, y = ev.next_char_logits(model, tok, text, 12, 5)
    assert logits.shape == (60, tok.vocab_size) and y.shape == (60,)
    assert tok.decode(y[:12].tolist()) == text[1:13]
