"""Module 11 (pre-training objectives and the model families): wrong answers are rejected,
correct answers written differently keep full marks.

Most wrong answers are the reference answer with one plausible mistake put in (``_mutant``), so
that each differs from a correct answer by exactly the mistake it names.
"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    mutant,
    reference_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "11-model-families"
NB = "model-families.ipynb"
pytestmark = pytest.mark.module11


def _reference(exercise: str) -> str:
    return reference_answer(MODULE, NB, exercise)


def _mutant(exercise: str, *edits: tuple[str, str]) -> str:
    return mutant(MODULE, NB, exercise, *edits)


# --- 1. attention masks ------------------------------------------------------------------------

MASK_TRANSPOSED = _mutant("ex-attention-mask", ("return j <= i\n", "return j >= i\n"))
MASK_NO_DIAGONAL = _mutant("ex-attention-mask", ("return j <= i\n", "return j < i\n"))
PREFIX_OFF_BY_ONE = _mutant("ex-attention-mask", ("(j < prefix)", "(j <= prefix)"))
PREFIX_SEES_FUTURE = _mutant("ex-attention-mask", ("return (j <= i) | (j < prefix)", "return (j <= i) | (j < prefix) | (i < prefix)"))
MASK_FLOAT = _mutant("ex-attention-mask", ("return j <= i\n", "return (j <= i).float()\n"))

# --- 2. masked language modelling ------------------------------------------------------------------

MLM_RANDOM_WHOLE_VOCAB = _mutant("ex-mlm", ("random_ids = pool[torch.randint(len(pool), ids.shape, generator=g)]",
                                            "random_ids = torch.randint(vocab_size, ids.shape, generator=g)  # specials too"))
MLM_LOSS_EVERYWHERE = _mutant("ex-mlm", ("labels = ids.masked_fill(~chosen, -100)", "labels = ids.clone()  # a loss on every position"))
MLM_SPECIALS_SELECTED = _mutant("ex-mlm", ("chosen = (torch.rand(ids.shape, generator=g) < p) & ordinary[ids]",
                                           "chosen = torch.rand(ids.shape, generator=g) < p"))
MLM_INDEPENDENT_DRAW = _mutant("ex-mlm", ("chosen & (u >= 0.8) & (u < 0.9)", "chosen & (u >= 0.8) & (torch.rand(ids.shape, generator=g) < 0.1)"))
MLM_NOTHING_KEPT = _mutant("ex-mlm", ("chosen & (u >= 0.8) & (u < 0.9)", "chosen & (u >= 0.8)"))
MLM_GLOBAL_RNG = _mutant("ex-mlm", ("g = torch.Generator().manual_seed(seed)", "g = None  # the global random state, seed ignored"))
MLM_LOSS_MEAN_OVER_ALL = _mutant("ex-mlm", ("labels.reshape(-1), ignore_index=-100)",
                                            "labels.reshape(-1), ignore_index=-100, reduction='sum') / labels.numel()"))

# --- 3. span corruption ----------------------------------------------------------------------------


def _with_mask_function(code: str) -> str:
    """A wrong noise mask with the reference span_corrupt."""
    return code + "\n\ndef span_corrupt" + _reference("ex-span-corruption").split("def span_corrupt", 1)[1]


SPANS_EQUAL_LENGTH = _mutant("ex-span-corruption", ("noise = split(n_noise, n_spans)",
                                                    "noise = np.diff(np.linspace(0, n_noise, n_spans + 1).round().astype(int))  # equal spans"))
SPANS_OVERLAP = _with_mask_function('''
def random_spans_noise_mask(length, noise_density=0.15, mean_span=3.0, seed=0):
    rng = np.random.default_rng(seed)
    n_noise = min(max(int(round(length * noise_density)), 1), length - 1)
    n_spans = max(int(round(n_noise / mean_span)), 1)
    mask = np.zeros(length, dtype=bool)
    for start in rng.integers(1, length, n_spans):   # independent starts: spans may touch or overlap
        mask[start:start + int(round(mean_span))] = True
    return mask
''')
SPANS_GEOMETRIC = _with_mask_function('''
def random_spans_noise_mask(length, noise_density=0.15, mean_span=3.0, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros(length, dtype=bool)
    i = int(rng.geometric(1 / mean_span * noise_density / (1 - noise_density)))
    while i < length:                                  # SpanBERT-like: geometric lengths and gaps
        n = int(rng.geometric(1 / mean_span))
        mask[i:i + n] = True
        i += n + int(rng.geometric(noise_density / mean_span / (1 - noise_density))) + 1
    return mask
''')
SPANS_NOISE_FIRST = _mutant("ex-span-corruption", ("np.stack([kept, noise], axis=1)", "np.stack([noise, kept], axis=1)"),
                            ("np.tile([False, True], n_spans)", "np.tile([True, False], n_spans)"))
CORRUPT_SAME_SENTINEL = _mutant("ex-span-corruption", ("np.asarray(sentinels, dtype=np.int64)[np.maximum(span, 0)]",
                                                       "np.asarray(sentinels, dtype=np.int64)[0]"))
CORRUPT_NO_TARGET_SENTINELS = _mutant("ex-span-corruption", ("return inputs.tolist(), pairs[pairs >= 0].tolist()",
                                                             "return inputs.tolist(), ids[noise].tolist()"))
CORRUPT_SENTINEL_OFF_BY_ONE = _mutant("ex-span-corruption", ("[np.maximum(span, 0)]", "[span + 1]"))
CORRUPT_PER_TOKEN = _mutant("ex-span-corruption", ("first = noise & ~np.concatenate([[False], noise[:-1]])", "first = noise.copy()  # a sentinel per noise token"))

# --- 4. ALiBi ---------------------------------------------------------------------------------------

ALIBI_NAIVE_NON_POWER = _mutant("ex-alibi", ("closest = 2 ** math.floor(math.log2(n_head))", "closest = n_head  # 2^(-8h/n) for any n"))
ALIBI_NEXT_POWER_CUT = _mutant("ex-alibi", ("closest = 2 ** math.floor(math.log2(n_head))", "closest = 2 ** math.ceil(math.log2(n_head))"),
                               ("return slopes.float()", "return slopes[:n_head].float()"))
ALIBI_CONSECUTIVE_EXTRA = _mutant("ex-alibi", ("odd = torch.arange(1, 2 * (n_head - closest), 2, dtype=torch.float64)",
                                               "odd = torch.arange(1, n_head - closest + 1, dtype=torch.float64)"))
ALIBI_REVERSED = _mutant("ex-alibi", ("return slopes.float()", "return slopes.flip(0).float()"))
ALIBI_SIGN = _mutant("ex-alibi", ("return -alibi_slopes(n_head)", "return alibi_slopes(n_head)"))
ALIBI_SIGNED_DISTANCE = _mutant("ex-alibi", ("(pos[:, None] - pos[None, :]).abs()", "(pos[:, None] - pos[None, :])"))

# --- 5. parameter counts ----------------------------------------------------------------------------

BERT_NO_POOLER = _mutant("ex-param-count", ("return embeddings + L * layer + (H * H + H)", "return embeddings + L * layer"))
BERT_NO_TOKEN_TYPES = _mutant("ex-param-count", ("embeddings = (V + P + S) * H + 2 * H", "embeddings = (V + P) * H + 2 * H"))
BERT_NO_LAYERNORM = _mutant("ex-param-count", ("4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H", "4 * (H * H + H) + (H * I + I) + (I * H + H)"))
GPT1_FINAL_LAYERNORM = _mutant("ex-param-count", ("return (V + P) * C + L * layer", "return (V + P) * C + L * layer + 2 * C  # ln_f, as in GPT-2"))
GPT1_UNTIED_HEAD = _mutant("ex-param-count", ("return (V + P) * C + L * layer", "return (V + P) * C + L * layer + V * C  # the output layer again"))
T5_BIAS_EVERY_LAYER = _mutant("ex-param-count", ("relative_bias = 2 * config", "relative_bias = (enc + dec) * config"))
T5_INNER_IS_D_MODEL = _mutant("ex-param-count", ('config["num_heads"] * config["d_kv"]', 'config["d_model"]'))
T5_NO_CROSS_ATTENTION = _mutant("ex-param-count", ("2 * attention + feed_forward + 3 * d", "attention + feed_forward + 2 * d"))
T5_NO_FINAL_NORMS = _mutant("ex-param-count", ("return config[\"vocab_size\"] * d + encoder + decoder + relative_bias",
                                              "return config[\"vocab_size\"] * d + encoder + decoder + relative_bias - 2 * d"))

WRONG = {
    NB: {
        "ex-attention-mask": [MASK_TRANSPOSED, MASK_NO_DIAGONAL, PREFIX_OFF_BY_ONE, PREFIX_SEES_FUTURE, MASK_FLOAT],
        "ex-mlm": [MLM_RANDOM_WHOLE_VOCAB, MLM_LOSS_EVERYWHERE, MLM_SPECIALS_SELECTED, MLM_INDEPENDENT_DRAW,
                   MLM_NOTHING_KEPT, MLM_GLOBAL_RNG, MLM_LOSS_MEAN_OVER_ALL],
        "ex-span-corruption": [SPANS_EQUAL_LENGTH, SPANS_OVERLAP, SPANS_GEOMETRIC, SPANS_NOISE_FIRST, CORRUPT_SAME_SENTINEL,
                               CORRUPT_NO_TARGET_SENTINELS, CORRUPT_SENTINEL_OFF_BY_ONE, CORRUPT_PER_TOKEN],
        "ex-alibi": [ALIBI_NAIVE_NON_POWER, ALIBI_NEXT_POWER_CUT, ALIBI_CONSECUTIVE_EXTRA, ALIBI_REVERSED, ALIBI_SIGN,
                     ALIBI_SIGNED_DISTANCE],
        "ex-param-count": [BERT_NO_POOLER, BERT_NO_TOKEN_TYPES, BERT_NO_LAYERNORM, GPT1_FINAL_LAYERNORM, GPT1_UNTIED_HEAD,
                           T5_BIAS_EVERY_LAYER, T5_INNER_IS_D_MODEL, T5_NO_CROSS_ATTENTION, T5_NO_FINAL_NORMS],
    }
}


# the loss as a Python float: nothing to train on
MLM_LOSS_ITEM = """
def mask_tokens(ids, mask_id, special_ids, vocab_size, p=0.15, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.as_tensor(ids).long()
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    selectable = ~torch.isin(ids, special)
    sel = (torch.rand(ids.shape, generator=g) < p) & selectable
    action = torch.multinomial(torch.tensor([0.8, 0.1, 0.1]), ids.numel(), replacement=True, generator=g).view(ids.shape)
    allowed = torch.tensor([t for t in range(vocab_size) if t not in set(special_ids)])
    rnd = allowed[torch.randint(0, len(allowed), ids.shape, generator=g)]
    inputs = ids.clone()
    inputs[sel & (action == 0)] = mask_id
    inputs[sel & (action == 1)] = rnd[sel & (action == 1)]
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    return inputs, labels


def mlm_loss(logits, labels):
    return F.cross_entropy(logits.movedim(-1, 1), labels, ignore_index=-100).item()
"""
WRONG["model-families.ipynb"]["ex-mlm"] = [*WRONG["model-families.ipynb"]["ex-mlm"], MLM_LOSS_ITEM]


# n = max(round(d L), 1) without the cap at L - 1
SPAN_NO_CAP = """
def random_spans_noise_mask(length, noise_density=0.15, mean_span=3.0, seed=0):
    rng = np.random.default_rng(seed)
    n_noise = max(int(round(length * noise_density)), 1)   # forgot: at most length - 1
    n_spans = max(int(round(n_noise / mean_span)), 1)
    def split(n_items, n_parts):
        cuts = np.sort(rng.choice(np.arange(1, n_items), n_parts - 1, replace=False))
        return np.diff(np.concatenate([[0], cuts, [n_items]]))
    noise = split(n_noise, n_spans)
    kept = split(length - n_noise, n_spans)
    runs = np.stack([kept, noise], axis=1).reshape(-1)
    return np.repeat(np.tile([False, True], n_spans), runs)


def span_corrupt(ids, noise_mask, sentinels):
    inp, tgt, k = [], [], 0
    for i, (t, m) in enumerate(zip(ids, noise_mask)):
        if m and (i == 0 or not noise_mask[i - 1]):
            inp.append(sentinels[k]); tgt.append(sentinels[k]); k += 1
        if m:
            tgt.append(t)
        else:
            inp.append(t)
    return inp, tgt
"""
WRONG["model-families.ipynb"]["ex-span-corruption"] = [*WRONG["model-families.ipynb"]["ex-span-corruption"], SPAN_NO_CAP]


# torch.manual_seed(seed) and the global random functions
MLM_GLOBAL_SEED = """
def mask_tokens(ids, mask_id, special_ids, vocab_size, p=0.15, seed=0):
    torch.manual_seed(seed)   # the global random state, against the spec
    ids = torch.as_tensor(ids, dtype=torch.long)
    ordinary = torch.ones(vocab_size, dtype=torch.bool)
    ordinary[torch.as_tensor(list(special_ids), dtype=torch.long)] = False
    chosen = (torch.rand(ids.shape) < p) & ordinary[ids]
    labels = ids.masked_fill(~chosen, -100)
    u = torch.rand(ids.shape)
    pool = ordinary.nonzero().squeeze(1)
    random_ids = pool[torch.randint(len(pool), ids.shape)]
    inputs = torch.where(chosen & (u < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, labels


def mlm_loss(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)
"""
WRONG["model-families.ipynb"]["ex-mlm"] = [*WRONG["model-families.ipynb"]["ex-mlm"], MLM_GLOBAL_SEED]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)
    assert all(len(codes) >= 3 for codes in WRONG[NB].values())
    for exercise, codes in WRONG[NB].items():  # a wrong answer that does not compile would test nothing
        for i, code in enumerate(codes):
            compile(code, f"{exercise}:{i}", "exec")


# --- correct answers written differently ------------------------------------------------------------

MASK_TRIL = """
def attention_mask(kind, T, prefix=0):
    if kind not in ("causal", "bidirectional", "prefix"):
        raise ValueError(kind)
    m = torch.ones(T, T, dtype=torch.bool)
    if kind == "bidirectional":
        return m
    m = torch.tril(m)
    if kind == "prefix":
        m[:, :prefix] = True
    return m
"""
MLM_NUMPY = """
def mask_tokens(ids, mask_id, special_ids, vocab_size, p=0.15, seed=0):
    rng = np.random.default_rng(seed)
    x = np.asarray(ids, dtype=np.int64)
    chosen = (rng.random(x.shape) < p) & ~np.isin(x, list(special_ids))
    r = rng.random(x.shape)
    out = x.copy()
    out[chosen & (r < 0.8)] = mask_id
    swap = chosen & (r >= 0.9)
    out[swap] = rng.choice(np.setdiff1d(np.arange(vocab_size), list(special_ids)), size=int(swap.sum()))
    return torch.from_numpy(out), torch.from_numpy(np.where(chosen, x, -100))


def mlm_loss(logits, labels):
    keep = labels != -100
    logp = torch.log_softmax(logits.float(), -1)[keep]
    return -logp.gather(-1, labels[keep][:, None]).mean()
"""
MLM_COLLATOR_STYLE = """
def mask_tokens(ids, mask_id, special_ids, vocab_size, p=0.15, seed=0):
    # transformers' recipe: Bernoulli(p), then Bernoulli(0.8) for [MASK], then Bernoulli(0.5) of the rest
    g = torch.Generator().manual_seed(seed)
    ids = torch.as_tensor(ids)
    prob = torch.full(ids.shape, p)
    prob[torch.isin(ids, torch.tensor(list(special_ids)))] = 0.0
    masked = torch.bernoulli(prob, generator=g).bool()
    labels = ids.clone()
    labels[~masked] = -100
    inputs = ids.clone()
    replaced = torch.bernoulli(torch.full(ids.shape, 0.8), generator=g).bool() & masked
    inputs[replaced] = mask_id
    rand = torch.bernoulli(torch.full(ids.shape, 0.5), generator=g).bool() & masked & ~replaced
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    inputs[rand] = ordinary[torch.randint(len(ordinary), (int(rand.sum()),), generator=g)]
    return inputs, labels


def mlm_loss(logits, labels):
    flat = labels.reshape(-1)
    keep = flat != -100
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1])[keep], flat[keep])
"""
SPANS_SHUFFLE_LOOP = """
def random_spans_noise_mask(length, noise_density=0.15, mean_span=3.0, seed=0):
    # T5's own formulation: shuffle k - 1 'new segment' flags among n - 1 places
    rng = np.random.default_rng(seed)
    n = min(max(int(round(length * noise_density)), 1), length - 1)
    k = max(int(round(n / mean_span)), 1)

    def seg(items, parts):
        flags = np.arange(items - 1) < parts - 1
        rng.shuffle(flags)
        return np.bincount(np.cumsum(np.concatenate([[0], flags.astype(int)])), minlength=parts)

    noise, keep = seg(n, k), seg(length - n, k)
    mask = []
    for a, b in zip(keep, noise):
        mask += [False] * int(a) + [True] * int(b)
    return np.array(mask, dtype=bool)


def span_corrupt(ids, noise_mask, sentinels):
    inputs, targets, k, prev = [], [], 0, False
    for t, m in zip(list(ids), list(noise_mask)):
        if m and not prev:
            inputs.append(int(sentinels[k]))
            targets.append(int(sentinels[k]))
            k += 1
        (targets if m else inputs).append(int(t))
        prev = bool(m)
    return inputs, targets
"""
ALIBI_LISTS = """
def alibi_slopes(n_head):
    c = 1 << (n_head.bit_length() - 1)
    base = 2 ** (-8 / c)
    s = [base ** (h + 1) for h in range(c)]
    extra = 2 ** (-8 / (2 * c))
    s += [extra ** q for q in range(1, 2 * (n_head - c), 2)]
    return torch.tensor(s)


def alibi_bias(n_head, T):
    d = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    return torch.tensor(-np.asarray(alibi_slopes(n_head))[:, None, None] * d, dtype=torch.float32)
"""
COUNT_BY_LAYERS = """
def _linear(i, o, bias=True):
    return i * o + (o if bias else 0)


def bert_parameters(config):
    H, I = config["hidden_size"], config["intermediate_size"]
    emb = sum(n * H for n in (config["vocab_size"], config["max_position_embeddings"], config["type_vocab_size"])) + 2 * H
    per_layer = 4 * _linear(H, H) + _linear(H, I) + _linear(I, H) + 2 * (2 * H)
    return int(emb + config["num_hidden_layers"] * per_layer + _linear(H, H))


def gpt1_parameters(config):
    C = config["n_embd"]
    per_layer = _linear(C, 3 * C) + _linear(C, C) + _linear(C, 4 * C) + _linear(4 * C, C) + 4 * C
    return int((config["vocab_size"] + config["n_positions"]) * C + config["n_layer"] * per_layer)


def t5_parameters(config):
    d, h, kv, f = config["d_model"], config["num_heads"], config["d_kv"], config["d_ff"]
    attn = 3 * _linear(d, h * kv, False) + _linear(h * kv, d, False)
    ff = _linear(d, f, False) + _linear(f, d, False)
    n_dec = config.get("num_decoder_layers")
    n_dec = config["num_layers"] if n_dec is None else n_dec
    enc = config["num_layers"] * (attn + ff + 2 * d) + d + config["relative_attention_num_buckets"] * h
    dec = n_dec * (2 * attn + ff + 3 * d) + d + config["relative_attention_num_buckets"] * h
    return int(config["vocab_size"] * d + enc + dec)
"""

RIGHT = {
    NB: {
        "ex-attention-mask": [MASK_TRIL],
        "ex-mlm": [MLM_NUMPY, MLM_COLLATOR_STYLE],
        "ex-span-corruption": [SPANS_SHUFFLE_LOOP],
        "ex-alibi": [ALIBI_LISTS],
        "ex-param-count": [COUNT_BY_LAYERS],
    }
}


# round(d L) as floor(d L + 0.5): half up, where Python rounds half to even
SPAN_ROUND_HALF_UP = """
def random_spans_noise_mask(length, noise_density=0.15, mean_span=3.0, seed=0):
    rng = np.random.default_rng(seed)
    n = min(max(int(math.floor(length * noise_density + 0.5)), 1), length - 1)
    k = max(int(math.floor(n / mean_span + 0.5)), 1)
    def split(total):
        c = np.sort(rng.choice(np.arange(1, total), k - 1, replace=False))
        return np.diff(np.r_[0, c, total])
    noise, kept = split(n), split(length - n)
    return np.repeat(np.tile([False, True], k), np.c_[kept, noise].ravel())


def span_corrupt(ids, noise_mask, sentinels):
    inputs, targets, k, prev = [], [], 0, False
    for t, m in zip(ids, noise_mask):
        if m and not prev:
            inputs.append(sentinels[k]); targets.append(sentinels[k]); k += 1
        (targets if m else inputs).append(t)
        prev = bool(m)
    return inputs, targets
"""
RIGHT["model-families.ipynb"]["ex-span-corruption"] = [*RIGHT["model-families.ipynb"]["ex-span-corruption"], SPAN_ROUND_HALF_UP]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)


# --- the helpers the notebook leans on -------------------------------------------------------------


def test_the_fast_encoding_is_the_tokenizers_encoding():
    """families.encode (a table look-up) gives the ids the `tokenizers` character tokenizer gives,
    and the specials and sentinels are exactly the non-character ids."""
    from course import corpus, families

    tok = families.char_tokenizer()
    text = corpus.tragedies()[:3000]
    assert families.encode(text, tok).tolist() == tok(text)["input_ids"]
    assert tok.decode(tok(text)["input_ids"]) == text
    assert len(families.special_ids(tok)) == len(families.SPECIALS) + families.N_SENTINELS
    assert [tok.convert_ids_to_tokens(i) for i in families.char_ids(tok)] == list(corpus.vocabulary())


def test_published_counts_match_the_library():
    """The three configurations give the counts the model cards quote (BERT-base 110 M, GPT-1 117 M,
    T5-small 60 M), counted by transformers on the meta device."""
    from course import families

    assert families.hf_parameter_count("bert", families.BERT_BASE) == 109_482_240
    assert families.hf_parameter_count("gpt1", families.GPT1) == 116_534_784
    assert families.hf_parameter_count("t5", families.T5_SMALL) == 60_506_624
