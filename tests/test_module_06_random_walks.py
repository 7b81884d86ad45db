"""Module 06 (random walks): plausible wrong answers that the notebook's tests must reject, and
correct answers written differently that must keep full marks."""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "06-random-walks"
pytestmark = pytest.mark.module06

WRONG = {
    "random-walks.ipynb": {
        "ex-prob-zero": [
            # n taken as the number of steps: C(n, n/2) / 2^n
            """def prob_zero(n):
    n = np.asarray(n, dtype=float)
    return np.exp(special.gammaln(n + 1) - 2 * special.gammaln(n / 2 + 1) - n * np.log(2))
""",
            # floating-point binomial over 4^n: inf / inf = nan for large n
            """def prob_zero(n):
    n = np.asarray(n, dtype=float)
    return special.comb(2 * n, n) / 4.0**n
""",
            # the Stirling asymptote instead of the exact value
            """def prob_zero(n):
    n = np.asarray(n, dtype=float)
    return np.where(n == 0, 1.0, 1 / np.sqrt(np.pi * np.maximum(n, 1)))
""",
            # an integer power of 4: overflows int64 arrays from n = 32 on
            """def prob_zero(n):
    return special.comb(2 * np.asarray(n), np.asarray(n)) / 4 ** np.asarray(n)
""",
            # single precision: log-gamma of 4001 keeps only 7 digits
            """def prob_zero(n):
    n = np.asarray(n, dtype=np.float32)
    return np.exp(special.gammaln(2 * n + 1) - 2 * special.gammaln(n + 1) - 2 * n * np.float32(np.log(2)))
""",
        ],
        "ex-first-return": [
            # any visit to 0, not the first return: the 1/(2n-1) is missing
            """def first_return(n):
    return prob_zero(n)
""",
            # divides by 2n
            """def first_return(n):
    n = np.asarray(n, dtype=float)
    return prob_zero(n) / (2 * n)
""",
            # the telescoping form shifted by one: u_2n - u_2n+2
            """def first_return(n):
    n = np.asarray(n)
    return prob_zero(n) - prob_zero(n + 1)
""",
            # the telescoping form u_(2n-2) - u_2n: no digits left for large n
            """def first_return(n):
    n = np.asarray(n)
    return prob_zero(n - 1) - prob_zero(n)
""",
        ],
        "ex-first-passage": [
            # P(S_n = a) without the factor a/n
            """def first_passage(n, a):
    n = np.asarray(n)
    possible = (n >= a) & ((n - a) % 2 == 0)
    m = np.where(possible, n, a).astype(float)
    up = (m + a) / 2
    log_p = special.gammaln(m + 1) - special.gammaln(up + 1) - special.gammaln(m - up + 1) - m * np.log(2)
    return np.where(possible, np.exp(log_p), 0.0)
""",
            # no parity check: log-gamma of half-integers gives nonzero nonsense
            """def first_passage(n, a):
    m = np.asarray(n, dtype=float)
    up = (m + a) / 2
    log_p = special.gammaln(m + 1) - special.gammaln(up + 1) - special.gammaln(m - up + 1) - m * np.log(2)
    return a / m * np.exp(log_p)
""",
            # n > a instead of n >= a: the straight climb n = a is missed
            """def first_passage(n, a):
    n = np.asarray(n)
    possible = (n > a) & ((n - a) % 2 == 0)
    m = np.where(possible, n, a + 2).astype(float)
    up = (m + a) / 2
    log_p = special.gammaln(m + 1) - special.gammaln(up + 1) - special.gammaln(m - up + 1) - m * np.log(2)
    return np.where(possible, a / m * np.exp(log_p), 0.0)
""",
            # floating-point binomial: inf / inf for large n
            """def first_passage(n, a):
    n = np.asarray(n)
    possible = (n >= a) & ((n - a) % 2 == 0)
    return np.where(possible, a / n * special.comb(n, (n + a) // 2) / 2.0**n, 0.0)
""",
        ],
        "ex-mean-abs": [
            # the central-limit asymptote
            """def mean_abs(n):
    return np.sqrt(2 * np.asarray(n) / np.pi)
""",
            # the even-n identity used for odd n too
            """def mean_abs(n):
    n = np.asarray(n, dtype=float)
    return n * prob_zero(n / 2)
""",
            # n taken as pairs of steps: 2n u_2n
            """def mean_abs(n):
    n = np.asarray(n)
    return 2 * n * prob_zero(n)
""",
            # odd n rounded down: E|S_(2m+1)| taken as E|S_2m|
            """def mean_abs(n):
    n = np.asarray(n)
    even = 2 * (n // 2)
    return even * prob_zero(even // 2)
""",
        ],
        "ex-simulate": [
            # not seeded
            """def simulate_walks(n_walks, n_steps, seed):
    gen = np.random.default_rng()
    steps = 2 * gen.integers(0, 2, size=(n_walks, n_steps)) - 1
    return np.cumsum(steps, axis=1)
""",
            # includes S_0 = 0: one column too many
            """def simulate_walks(n_walks, n_steps, seed):
    gen = np.random.default_rng(seed)
    steps = 2 * gen.integers(0, 2, size=(n_walks, n_steps)) - 1
    return np.hstack([np.zeros((n_walks, 1), dtype=int), np.cumsum(steps, axis=1)])
""",
            # steps of 0 or 1 instead of -1 or +1
            """def simulate_walks(n_walks, n_steps, seed):
    gen = np.random.default_rng(seed)
    return np.cumsum(gen.integers(0, 2, size=(n_walks, n_steps)), axis=1)
""",
            # positions accumulated in int8: they wrap around past 127
            """def simulate_walks(n_walks, n_steps, seed):
    gen = np.random.default_rng(seed)
    steps = 2 * gen.integers(0, 2, size=(n_walks, n_steps), dtype=np.int8) - 1
    return np.cumsum(steps, axis=1, dtype=np.int8)
""",
        ],
        "ex-last-zero": [
            # k = 0..n-1: the last term is missing
            """def last_zero_pmf(n):
    k = np.arange(n)
    return prob_zero(k) * prob_zero(n - k)
""",
            # the continuous arcsine density, normalised
            """def last_zero_pmf(n):
    x = (np.arange(n + 1) + 0.5) / (n + 1)
    p = 1 / (np.pi * np.sqrt(x * (1 - x)))
    return p / p.sum()
""",
            # floating-point binomials: overflow for large n
            """def last_zero_pmf(n):
    k = np.arange(n + 1)
    u = lambda m: special.comb(2 * m, m) / 4.0**m
    return u(k) * u(n - k)
""",
        ],
        "ex-renewal": [
            # all returns instead of first returns
            """def first_from_returns(u):
    f = np.array(u, dtype=float)
    f[0] = 0.0
    return f
""",
            # the convolution not reversed
            """def first_from_returns(u):
    u = np.asarray(u, dtype=float)
    f = np.zeros_like(u)
    for n in range(1, len(u)):
        f[n] = u[n] - np.dot(f[1:n], u[1:n])
    return f
""",
            # sign error
            """def first_from_returns(u):
    u = np.asarray(u, dtype=float)
    f = np.zeros_like(u)
    for n in range(1, len(u)):
        f[n] = u[n] + np.dot(f[1:n], u[n - 1 : 0 : -1])
    return f
""",
            # works in u itself (np.asarray does not copy): overwrites the input as it goes
            """def first_from_returns(u):
    f = np.asarray(u, dtype=float)
    u0 = f.copy()
    f[0] = 0.0
    for n in range(1, len(f)):
        f[n] = u0[n] - np.dot(f[1:n], u0[n - 1 : 0 : -1])
    return f
""",
        ],
        "ex-prob-zero-3d": [
            # three independent walks (every coordinate moves at each step)
            """def prob_zero_3d(n_max):
    return prob_zero(np.arange(n_max + 1)) ** 3
""",
            # forgets the factor C(2n, n): only the multinomial of the n "pairs"
            """def prob_zero_3d(n_max):
    out = np.empty(n_max + 1)
    for n in range(n_max + 1):
        i = np.arange(n + 1)
        log_binom_sq = 2 * (special.gammaln(n + 1) - special.gammaln(i + 1) - special.gammaln(n - i + 1))
        log_central = special.gammaln(2 * (n - i) + 1) - 2 * special.gammaln(n - i + 1)
        out[n] = np.exp(log_binom_sq + log_central - 2 * n * np.log(6)).sum()
    return out
""",
            # floating-point factorials: overflow for large n
            """def prob_zero_3d(n_max):
    out = np.empty(n_max + 1)
    fact = special.factorial
    for n in range(n_max + 1):
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        ok = i + j <= n
        i, j = i[ok], j[ok]
        out[n] = np.sum(fact(2 * n) / (fact(i) * fact(j) * fact(n - i - j)) ** 2) / 6.0 ** (2 * n)
    return out
""",
        ],
    }
}


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT = {
    "random-walks.ipynb": {
        "ex-prob-zero": [
            # through the beta function: C(2n, n) = 1 / ((2n + 1) B(n + 1, n + 1))
            """def prob_zero(n):
    n = np.asarray(n, dtype=float)
    return np.exp(-np.log(2 * n + 1) - special.betaln(n + 1, n + 1) - 2 * n * np.log(2))
""",
        ],
        "ex-first-return": [
            "def first_return(n):\n    n = np.asarray(n)\n    return np.exp(np.log(prob_zero(n)) - np.log(2.0 * n - 1))\n",
        ],
        "ex-first-passage": [
            # scipy's binomial pmf (computed without overflow), zero where impossible
            """def first_passage(n, a):
    n = np.asarray(n)
    ok = (n >= a) & ((n - a) % 2 == 0)
    return np.where(ok, a / np.maximum(n, 1) * stats.binom.pmf((n + a) // 2, n, 0.5), 0.0)
""",
        ],
        "ex-mean-abs": [
            # (2m - 1) u_(2m-2) = 2m u_2m, so n u_(2 floor(n/2)) works for odd and even n
            "def mean_abs(n):\n    n = np.asarray(n)\n    return n * prob_zero(n // 2)\n",
        ],
        "ex-simulate": [
            # choice of +-1 and the legacy-free generator, walks as columns then transposed
            """def simulate_walks(n_walks, n_steps, seed):
    gen = np.random.default_rng(seed)
    steps = gen.choice(np.array([-1, 1]), size=(n_steps, n_walks))
    return np.cumsum(steps, axis=0).T.astype(np.int64)
""",
        ],
        "ex-last-zero": [
            "def last_zero_pmf(n):\n    u = prob_zero(np.arange(n + 1))\n    return u * u[::-1]\n",
        ],
        "ex-renewal": [
            # the power series of 1 - 1/U by long division, written with a Python loop
            """def first_from_returns(u):
    u = [float(v) for v in u]
    f = [0.0] * len(u)
    for n in range(1, len(u)):
        f[n] = u[n] - sum(f[k] * u[n - k] for k in range(1, n))
    return np.array(f)
""",
        ],
        "ex-prob-zero-3d": [
            # every n at once: an (n_max + 1) x (n_max + 1) table of the terms over i, masked to i <= n
            """def prob_zero_3d(n_max):
    lg = special.gammaln
    n = np.arange(n_max + 1, dtype=float)[:, None]
    i = np.arange(n_max + 1, dtype=float)[None, :]
    ok = i <= n
    i = np.where(ok, i, 0.0)
    t = (lg(2 * n + 1) - 2 * lg(n + 1) - 2 * n * np.log(6) + 2 * (lg(n + 1) - lg(i + 1) - lg(n - i + 1))
         + lg(2 * (n - i) + 1) - 2 * lg(n - i + 1))
    return np.where(ok, np.exp(t), 0.0).sum(axis=1)
""",
        ],
    }
}


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_right_answer_keeps_full_marks(case):
    check_right_answer(case)
