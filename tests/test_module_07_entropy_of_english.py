"""Module 07: do its tests reject plausible wrong answers, and keep full marks for correct answers
written differently?"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "07-entropy-of-english"
pytestmark = pytest.mark.module07

TO_SYMBOLS_NO_LOWER = """
def to_symbols(text):
    # upper case is not folded: capitals become separators
    norm = re.sub("[^a-z]+", " ", text)
    return np.array([0 if ch == " " else ord(ch) - 96 for ch in norm], dtype=np.int64)
"""
TO_SYMBOLS_NO_COLLAPSE = """
def to_symbols(text):
    # every non-letter becomes a space, runs are not collapsed ("be, or" -> "be  or")
    norm = re.sub("[^a-z]", " ", text.lower())
    return np.array([0 if ch == " " else ord(ch) - 96 for ch in norm], dtype=np.int64)
"""
TO_SYMBOLS_ONLY_SPACES = """
def to_symbols(text):
    # only blanks are separators; punctuation and newlines are silently dropped
    t = re.sub("[^a-z ]", "", text.lower())
    t = re.sub(" +", " ", t)
    return np.array([0 if ch == " " else ord(ch) - 96 for ch in t], dtype=np.int64)
"""

NGRAM_CODES_DROP_LAST = """
def ngram_codes(x, n, V):
    # off by one: len(x) - n n-grams, the last one is lost
    x = np.asarray(x, dtype=np.int64)
    m = max(len(x) - n, 0)
    codes = np.zeros(m, dtype=np.int64)
    for j in range(n):
        codes = codes * V + x[j:j + m]
    return codes
"""
NGRAM_CODES_LITTLE_ENDIAN = """
def ngram_codes(x, n, V):
    # the LAST symbol is the most significant digit
    x = np.asarray(x, dtype=np.int64)
    m = max(len(x) - n + 1, 0)
    codes = np.zeros(m, dtype=np.int64)
    for j in range(n):
        codes = codes + x[j:j + m] * V**j
    return codes
"""

BLOCK_ENTROPY_NATS = """
def block_entropy(x, n, V):
    # natural log: nats, not bits
    if n == 0:
        return 0.0
    _, counts = np.unique(ngram_codes(x, n, V), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())
"""
BLOCK_ENTROPY_WRONG_TOTAL = """
def block_entropy(x, n, V):
    # frequencies divided by len(x) instead of the number of n-grams, len(x) - n + 1
    if n == 0:
        return 0.0
    _, counts = np.unique(ngram_codes(x, n, V), return_counts=True)
    p = counts / len(x)
    return float(-(p * np.log2(p)).sum())
"""

CONDITIONAL_BLOCK = """
def conditional_entropy(x, N, V):
    # the block entropy H_N instead of F_N = H_N - H_{N-1}
    if N == 0:
        return float(np.log2(V))
    return block_entropy(x, N, V)
"""
CONDITIONAL_OFF_BY_ONE = """
def conditional_entropy(x, N, V):
    # context of N symbols instead of N - 1: returns F_{N+1}
    if N == 0:
        return float(np.log2(V))
    return block_entropy(x, N + 1, V) - block_entropy(x, N, V)
"""
CONDITIONAL_RATE = """
def conditional_entropy(x, N, V):
    # H_N / N: the block entropy per symbol, a different (slower) limit
    if N == 0:
        return float(np.log2(V))
    return block_entropy(x, N, V) / N
"""

ZIPF_UNSORTED = """
def zipf_exponent(counts, r_min=1, r_max=None):
    # counts are not sorted: ranks assigned in the given order
    f = np.asarray(counts, dtype=float)
    r = np.arange(1, len(f) + 1)
    r_max = len(f) if r_max is None else r_max
    keep = (r >= r_min) & (r <= r_max)
    return float(-np.polyfit(np.log(r[keep]), np.log(f[keep]), 1)[0])
"""
ZIPF_SIGN = """
def zipf_exponent(counts, r_min=1, r_max=None):
    # returns the fitted slope (-s) instead of the exponent s
    f = np.sort(np.asarray(counts, dtype=float))[::-1]
    r = np.arange(1, len(f) + 1)
    r_max = len(f) if r_max is None else r_max
    keep = (r >= r_min) & (r <= r_max)
    return float(np.polyfit(np.log(r[keep]), np.log(f[keep]), 1)[0])
"""
ZIPF_EXCLUSIVE_END = """
def zipf_exponent(counts, r_min=1, r_max=None):
    # r_max excluded from the fit (a Python-slice habit)
    f = np.sort(np.asarray(counts, dtype=float))[::-1]
    r = np.arange(1, len(f) + 1)
    r_max = len(f) + 1 if r_max is None else r_max
    keep = (r >= r_min) & (r < r_max)
    return float(-np.polyfit(np.log(r[keep]), np.log(f[keep]), 1)[0])
"""

MM_NATS = """
def miller_madow(counts):
    # correction left in nats and added to an entropy in bits
    c = np.asarray(counts, dtype=float)
    c = c[c > 0]
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum() + (len(c) - 1) / (2 * c.sum()))
"""
MM_ALL_BINS = """
def miller_madow(counts):
    # K counts every bin, including those never observed
    c = np.asarray(counts, dtype=float)
    K = len(c)
    c = c[c > 0]
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum() + (K - 1) / (2 * c.sum() * np.log(2)))
"""


def _logprobs(denominator, n_gram="n", log="np.log2"):
    return f"""
def ngram_logprobs(train, test, n, V, k=1.0):
    m = {n_gram}
    train_codes = ngram_codes(train, m, V)
    grams, gram_counts = np.unique(train_codes, return_counts=True)
    contexts, context_counts = np.unique(train_codes // V, return_counts=True)
    def count(keys, table, counts):
        i = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return np.where(table[i] == keys, counts[i], 0)
    test_codes = ngram_codes(test, m, V)
    c_hx = count(test_codes, grams, gram_counts)
    c_h = count(test_codes // V, contexts, context_counts)
    return {log}((c_hx + k) / ({denominator}))
"""


LOGPROBS_NO_KV = _logprobs("c_h + k")  # add-k with the wrong denominator: k V missing
LOGPROBS_CONTEXT_N = _logprobs("c_h + k * V", n_gram="n + 1")  # context of n symbols, not n - 1
LOGPROBS_NATS = _logprobs("c_h + k * V", log="np.log")  # natural log

NATS_POW2 = """
def nats_to_bits_and_perplexity(loss_nats):
    # perplexity = 2 ** H with H in nats
    return float(loss_nats) / np.log(2), float(2.0 ** loss_nats)
"""
NATS_TIMES_LN2 = """
def nats_to_bits_and_perplexity(loss_nats):
    # converts the wrong way: multiplies by ln 2
    bits = float(loss_nats) * np.log(2)
    return bits, float(np.exp(loss_nats))
"""

RANKS_ZERO_BASED = """
def guess_ranks(train, test, n, V):
    # 0-based: "right at the first guess" is 0
    grams, gram_counts = np.unique(ngram_codes(train, n, V), return_counts=True)
    test_codes = ngram_codes(test, n, V)
    cand = (test_codes // V)[:, None] * V + np.arange(V)[None, :]
    i = np.minimum(np.searchsorted(grams, cand), len(grams) - 1)
    counts = np.where(grams[i] == cand, gram_counts[i], 0)
    order = np.argsort(-counts, axis=1, kind="stable")
    return np.argmax(order == (test_codes % V)[:, None], axis=1)
"""
RANKS_TIES_REVERSED = """
def guess_ranks(train, test, n, V):
    # ties go to the LARGER symbol code first
    grams, gram_counts = np.unique(ngram_codes(train, n, V), return_counts=True)
    test_codes = ngram_codes(test, n, V)
    cand = (test_codes // V)[:, None] * V + np.arange(V)[None, :]
    i = np.minimum(np.searchsorted(grams, cand), len(grams) - 1)
    counts = np.where(grams[i] == cand, gram_counts[i], 0)
    order = np.argsort(counts, axis=1, kind="stable")[:, ::-1]
    return 1 + np.argmax(order == (test_codes % V)[:, None], axis=1)
"""
RANKS_CONTEXT_N = """
def guess_ranks(train, test, n, V):
    # context of n symbols instead of n - 1
    n = n + 1
    grams, gram_counts = np.unique(ngram_codes(train, n, V), return_counts=True)
    test_codes = ngram_codes(test, n, V)
    cand = (test_codes // V)[:, None] * V + np.arange(V)[None, :]
    i = np.minimum(np.searchsorted(grams, cand), len(grams) - 1)
    counts = np.where(grams[i] == cand, gram_counts[i], 0)
    order = np.argsort(-counts, axis=1, kind="stable")
    return 1 + np.argmax(order == (test_codes % V)[:, None], axis=1)
"""

BOUNDS_NO_I = """
def shannon_bounds(q):
    # lower bound without the factor i
    q = np.asarray(q, dtype=float)
    nz = q[q > 0]
    i = np.arange(1, len(q) + 1)
    lower = ((q - np.append(q[1:], 0.0)) * np.log2(i)).sum()
    return float(lower), float(-(nz * np.log2(nz)).sum())
"""
BOUNDS_DROP_LAST = """
def shannon_bounds(q):
    # the last term (i = V, with q_{V+1} = 0) is dropped
    q = np.asarray(q, dtype=float)
    nz = q[q > 0]
    i = np.arange(1, len(q))
    lower = (i * (q[:-1] - q[1:]) * np.log2(i)).sum()
    return float(lower), float(-(nz * np.log2(nz)).sum())
"""
BOUNDS_NATS = """
def shannon_bounds(q):
    # natural logarithms: nats
    q = np.asarray(q, dtype=float)
    nz = q[q > 0]
    i = np.arange(1, len(q) + 1)
    lower = (i * (q - np.append(q[1:], 0.0)) * np.log(i)).sum()
    return float(lower), float(-(nz * np.log(nz)).sum())
"""

TO_SYMBOLS_ISALPHA = """
def to_symbols(text):
    # str.isalpha: accented letters (é, ï) are kept as letters, with codes beyond 26
    out, after_sep = [], False
    for ch in text.lower():
        if ch.isalpha():
            out.append(ord(ch) - 96)
            after_sep = False
        elif not after_sep:
            out.append(0)
            after_sep = True
    return np.array(out, dtype=np.int64)
"""
NGRAM_CODES_FLOAT = """
def ngram_codes(x, n, V):
    # float powers of V: exact only below 2^53
    x = np.asarray(x)
    if len(x) < n:
        return np.zeros(0, dtype=np.int64)
    w = float(V) ** np.arange(n - 1, -1, -1)
    return (np.lib.stride_tricks.sliding_window_view(x, n) @ w).astype(np.int64)
"""
NGRAM_CODES_INPUT_DTYPE = """
def ngram_codes(x, n, V):
    # accumulates in the input's dtype: uint8 or int32 symbols overflow
    x = np.asarray(x)
    m = len(x) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    codes = np.zeros(m, dtype=x.dtype)
    for j in range(n):
        codes = codes * V + x[j : j + m]
    return codes
"""
BLOCK_ENTROPY_BINCOUNT = """
def block_entropy(x, n, V):
    # np.bincount keeps the zero counts: 0 * log 0 = nan
    if n == 0:
        return 0.0
    counts = np.bincount(ngram_codes(x, n, V))
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())
"""
BLOCK_ENTROPY_DISJOINT = """
def block_entropy(x, n, V):
    # non-overlapping blocks: only every n-th n-gram is counted
    if n == 0:
        return 0.0
    _, counts = np.unique(ngram_codes(x, n, V)[::n], return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())
"""
CONDITIONAL_F0_27 = """
def conditional_entropy(x, N, V):
    # F_0 hard-coded for Shannon's 27 symbols
    if N == 0:
        return float(np.log2(27))
    return block_entropy(x, N, V) - block_entropy(x, N - 1, V)
"""
ZIPF_RANKS_RESTART = """
def zipf_exponent(counts, r_min=1, r_max=None):
    # the kept counts re-ranked from 1: rank r_min becomes rank 1
    f = np.sort(np.asarray(counts, dtype=float))[::-1]
    r_max = len(f) if r_max is None else r_max
    f = f[r_min - 1 : r_max]
    r = np.arange(1, len(f) + 1)
    return float(-np.polyfit(np.log(r), np.log(f), 1)[0])
"""
MM_K = """
def miller_madow(counts):
    # K instead of K - 1 in the correction
    c = np.asarray(counts, dtype=float)
    c = c[c > 0]
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum() + len(c) / (2 * c.sum() * np.log(2)))
"""
LOGPROBS_NO_CLIP = _logprobs("c_h + k * V").replace(
    "i = np.minimum(np.searchsorted(table, keys), len(table) - 1)", "i = np.searchsorted(table, keys)"
)  # codes beyond the last training code index past the table
LOGPROBS_K_IGNORED = _logprobs("c_h + V").replace("(c_hx + k)", "(c_hx + 1)")  # always add-one
NATS_SWAPPED = """
def nats_to_bits_and_perplexity(loss_nats):
    # (perplexity, bits): the tuple in the wrong order
    bits = float(loss_nats) / np.log(2)
    return float(np.exp(loss_nats)), bits
"""
NATS_EXP_BITS = """
def nats_to_bits_and_perplexity(loss_nats):
    # e to the bits
    bits = float(loss_nats) / np.log(2)
    return bits, float(np.exp(bits))
"""
RANKS_NO_CLIP = RANKS_ZERO_BASED.replace("# 0-based: \"right at the first guess\" is 0", "# no clip: codes beyond the last training code index past the table").replace(
    "i = np.minimum(np.searchsorted(grams, cand), len(grams) - 1)", "i = np.searchsorted(grams, cand)"
).replace("return np.argmax(", "return 1 + np.argmax(")
BOUNDS_NO_MASK = """
def shannon_bounds(q):
    # zeros not masked in the upper bound: 0 * log 0 = nan
    q = np.asarray(q, dtype=float)
    i = np.arange(1, len(q) + 1)
    lower = (i * (q - np.append(q[1:], 0.0)) * np.log2(i)).sum()
    return float(lower), float(-(q * np.log2(q)).sum())
"""
assert "searchsorted(grams, cand), len" not in RANKS_NO_CLIP and "1 + np.argmax" in RANKS_NO_CLIP
assert "np.minimum" not in LOGPROBS_NO_CLIP and "c_hx + 1" in LOGPROBS_K_IGNORED

WRONG = {
    "entropy-of-english.ipynb": {
        "ex-to-symbols": [TO_SYMBOLS_NO_LOWER, TO_SYMBOLS_NO_COLLAPSE, TO_SYMBOLS_ONLY_SPACES, TO_SYMBOLS_ISALPHA],
        "ex-ngram-codes": [NGRAM_CODES_DROP_LAST, NGRAM_CODES_LITTLE_ENDIAN, NGRAM_CODES_FLOAT, NGRAM_CODES_INPUT_DTYPE],
        "ex-block-entropy": [BLOCK_ENTROPY_NATS, BLOCK_ENTROPY_WRONG_TOTAL, BLOCK_ENTROPY_BINCOUNT, BLOCK_ENTROPY_DISJOINT],
        "ex-conditional-entropy": [CONDITIONAL_BLOCK, CONDITIONAL_OFF_BY_ONE, CONDITIONAL_RATE, CONDITIONAL_F0_27],
        "ex-zipf": [ZIPF_UNSORTED, ZIPF_SIGN, ZIPF_EXCLUSIVE_END, ZIPF_RANKS_RESTART],
        "ex-miller-madow": [MM_NATS, MM_ALL_BINS, MM_K],
        "ex-ngram-logprobs": [LOGPROBS_NO_KV, LOGPROBS_CONTEXT_N, LOGPROBS_NATS, LOGPROBS_NO_CLIP, LOGPROBS_K_IGNORED],
        "ex-nats": [NATS_POW2, NATS_TIMES_LN2, NATS_SWAPPED, NATS_EXP_BITS],
        "ex-guess-ranks": [RANKS_ZERO_BASED, RANKS_TIES_REVERSED, RANKS_CONTEXT_N, RANKS_NO_CLIP],
        "ex-shannon-bounds": [BOUNDS_NO_I, BOUNDS_DROP_LAST, BOUNDS_NATS, BOUNDS_NO_MASK],
    }
}


# no guard: np.zeros(len(x) - n + 1) raises for texts shorter than n - 1
CODES_NO_GUARD = """
def ngram_codes(x, n, V):
    x = np.asarray(x, dtype=np.int64)
    m = len(x) - n + 1
    codes = np.zeros(m, dtype=np.int64)
    for j in range(n):
        codes = codes * V + x[j : j + m]
    return codes
"""
WRONG["entropy-of-english.ipynb"]["ex-ngram-codes"] = [*WRONG["entropy-of-english.ipynb"]["ex-ngram-codes"], CODES_NO_GUARD]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT = {
    "entropy-of-english.ipynb": {
        "ex-to-symbols": [
            # the regular expression itself, then a lookup table
            """def to_symbols(text):
    norm = re.sub("[^a-z]+", " ", text.lower())
    table = {ch: i for i, ch in enumerate(" abcdefghijklmnopqrstuvwxyz")}
    return np.array([table[ch] for ch in norm], dtype=np.int64)
""",
        ],
        "ex-ngram-codes": [
            # a sliding window times the exact integer powers of V
            """def ngram_codes(x, n, V):
    x = np.asarray(x, dtype=np.int64)
    if len(x) < n:
        return np.zeros(0, dtype=np.int64)
    w = np.int64(V) ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return np.lib.stride_tricks.sliding_window_view(x, n) @ w
""",
        ],
        "ex-block-entropy": [
            # scipy's entropy of the counts
            """from scipy.stats import entropy as _entropy
def block_entropy(x, n, V):
    if n == 0:
        return 0.0
    return float(_entropy(np.unique(ngram_codes(x, n, V), return_counts=True)[1], base=2))
""",
        ],
        "ex-conditional-entropy": [
            # the conditional entropy computed directly from joint and context counts
            """def conditional_entropy(x, N, V):
    if N == 0:
        return float(np.log2(V))
    codes = ngram_codes(x, N, V)
    _, joint = np.unique(codes, return_counts=True)
    _, ctx = np.unique(codes // V, return_counts=True)
    M = len(codes)
    return float(-(joint / M * np.log2(joint / M)).sum() + (ctx / M * np.log2(ctx / M)).sum())
""",
        ],
        "ex-zipf": [
            # log10 and scipy's linear regression: the same slope
            """from scipy.stats import linregress as _linregress
def zipf_exponent(counts, r_min=1, r_max=None):
    f = -np.sort(-np.asarray(counts, dtype=float))
    r = np.arange(1, len(f) + 1)
    hi = len(f) if r_max is None else r_max
    sel = slice(r_min - 1, hi)
    return float(-_linregress(np.log10(r[sel]), np.log10(f[sel])).slope)
""",
        ],
        "ex-miller-madow": [
            # everything in nats, converted once at the end
            """def miller_madow(counts):
    c = np.asarray(counts, dtype=float)
    c = c[c > 0]
    M = c.sum()
    return float((-(c / M * np.log(c / M)).sum() + (len(c) - 1) / (2 * M)) / np.log(2))
""",
        ],
        "ex-ngram-logprobs": [
            # dictionaries of counts instead of searchsorted
            """def ngram_logprobs(train, test, n, V, k=1.0):
    from collections import Counter
    tc = ngram_codes(train, n, V)
    grams, ctx = Counter(tc.tolist()), Counter((tc // V).tolist())
    codes = ngram_codes(test, n, V)
    c_hx = np.array([grams.get(c, 0) for c in codes.tolist()], dtype=float)
    c_h = np.array([ctx.get(c, 0) for c in (codes // V).tolist()], dtype=float)
    return np.log2(c_hx + k) - np.log2(c_h + k * V)
""",
        ],
        "ex-nats": [
            "def nats_to_bits_and_perplexity(loss_nats):\n    return float(loss_nats * np.log2(np.e)), float(np.exp(loss_nats))\n",
        ],
        "ex-guess-ranks": [
            # rank = 1 + (candidates with a larger count) + (candidates with the same count and a smaller code)
            """def guess_ranks(train, test, n, V):
    grams, gc = np.unique(ngram_codes(train, n, V), return_counts=True)
    codes = ngram_codes(test, n, V)
    cand = (codes // V)[:, None] * V + np.arange(V)
    pos = np.searchsorted(grams, cand)
    hit = (pos < len(grams)) & (grams[np.minimum(pos, len(grams) - 1)] == cand)
    counts = np.where(hit, gc[np.minimum(pos, len(grams) - 1)], 0)
    mine = counts[np.arange(len(codes)), codes % V][:, None]
    smaller = np.arange(V)[None, :] < (codes % V)[:, None]
    return 1 + (counts > mine).sum(axis=1) + ((counts == mine) & smaller).sum(axis=1)
""",
        ],
        "ex-shannon-bounds": [
            """def shannon_bounds(q):
    q = np.asarray(q, dtype=float)
    i = np.arange(1, len(q) + 1)
    diff = q - np.concatenate([q[1:], [0.0]])
    upper = -np.sum(np.where(q > 0, q * np.log2(np.where(q > 0, q, 1.0)), 0.0))
    return float(np.dot(i * np.log2(i), diff)), float(upper)
""",
        ],
    }
}


# torch.as_tensor(loss) is float32; returned with .item()
NATS_TORCH = """
import torch
def nats_to_bits_and_perplexity(loss_nats):
    t = torch.as_tensor(loss_nats)
    return (t / torch.log(torch.tensor(2.0))).item(), torch.exp(t).item()
"""
RIGHT["entropy-of-english.ipynb"]["ex-nats"] = [*RIGHT["entropy-of-english.ipynb"]["ex-nats"], NATS_TORCH]


# np.float32 arithmetic
NATS_FLOAT32 = """
def nats_to_bits_and_perplexity(loss_nats):
    loss = np.float32(loss_nats)
    bits = loss / np.float32(np.log(2))
    return float(bits), float(np.exp(loss))
"""
RIGHT["entropy-of-english.ipynb"]["ex-nats"] = [*RIGHT["entropy-of-english.ipynb"]["ex-nats"], NATS_FLOAT32]


# the probabilities in float32
BLOCK_FLOAT32_P = """
def block_entropy(x, n, V):
    if n == 0:
        return 0.0
    _, counts = np.unique(ngram_codes(x, n, V), return_counts=True)
    p = counts.astype(np.float32) / np.float32(counts.sum())
    return float(-(p * np.log2(p)).sum())
"""
RIGHT["entropy-of-english.ipynb"]["ex-block-entropy"] = [*RIGHT["entropy-of-english.ipynb"]["ex-block-entropy"], BLOCK_FLOAT32_P]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_right_answer_keeps_full_marks(case):
    check_right_answer(case)
