"""Module 12 (knowledge in the weights and beside them): wrong answers are rejected, correct
answers written differently keep full marks.

Most wrong answers are the reference answer with one plausible mistake put in (``_mutant``), so
that each differs from a correct answer by exactly the mistake it names.
"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    mutant,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "12-knowledge"
NB = "knowledge.ipynb"
pytestmark = pytest.mark.module12


def _mutant(exercise: str, *edits: tuple[str, str]) -> str:
    return mutant(MODULE, NB, exercise, *edits)


# --- 1. memory coefficients ----------------------------------------------------------------------

COEF_PRE_GELU = """
def mlp_coefficients(model, layer, ids):
    captured = {}
    h = model.blocks[layer].mlp.fc.register_forward_hook(lambda m, a, out: captured.__setitem__("m", out.detach()))
    try:
        with torch.no_grad():
            model(torch.as_tensor(ids))
    finally:
        h.remove()
    return captured["m"]  # the pre-activations k . x: GELU forgotten
"""
COEF_NO_LN = """
def mlp_coefficients(model, layer, ids):
    captured = {}
    blk = model.blocks[layer]
    h = blk.ln2.register_forward_pre_hook(lambda m, a: captured.__setitem__("h", a[0].detach()))
    try:
        with torch.no_grad():
            model(torch.as_tensor(ids))
            return F.gelu(blk.mlp.fc(captured["h"]))  # the residual stream itself, not LN2 of it
    finally:
        h.remove()
"""
COEF_BLOCK_INPUT = """
def mlp_coefficients(model, layer, ids):
    captured = {}
    blk = model.blocks[layer]
    h = blk.register_forward_pre_hook(lambda m, a: captured.__setitem__("x", a[0].detach()))
    try:
        with torch.no_grad():
            model(torch.as_tensor(ids))
            return F.gelu(blk.mlp.fc(blk.ln2(captured["x"])))  # before the block's attention
    finally:
        h.remove()
"""
COEF_HOOK_KEPT = _mutant("ex-mlp-coefficients", ("        handle.remove()\n", "        pass  # the hook stays\n"))

# --- 2. value distribution --------------------------------------------------------------------------

VALUE_IS_KEY = _mutant("ex-value-distribution", ("v = model.blocks[layer].mlp.proj.weight[:, index]", "v = model.blocks[layer].mlp.fc.weight[index]"))
VALUE_LN_F = _mutant("ex-value-distribution", ("(model.lm_head.weight @ v)", "(model.lm_head.weight @ model.ln_f(v))"))
VALUE_LOGITS = _mutant("ex-value-distribution", ("torch.softmax((model.lm_head.weight @ v).float(), dim=-1)", "(model.lm_head.weight @ v).float()"))
VALUE_LOG_SOFTMAX = _mutant("ex-value-distribution", ("torch.softmax(", "torch.log_softmax("))

# --- 3. causal tracing ------------------------------------------------------------------------------

TRACE_BLOCK = _mutant(
    "ex-trace",
    ("hooks = [blk.mlp.register_forward_hook(keep(l)) for l, blk in enumerate(model.blocks)]",
     "hooks = [blk.register_forward_hook(keep(l)) for l, blk in enumerate(model.blocks)]"),
    ("hooks += [blk.mlp.register_forward_hook(restore(l)) for l, blk in enumerate(model.blocks)]",
     "hooks += [blk.register_forward_hook(restore(l)) for l, blk in enumerate(model.blocks)]"),
)
TRACE_ALL_TOKENS = _mutant("ex-trace", ("        out[:, start:stop] += noise\n", "        out[:, :] += noise.mean(0)  # every token blurred\n"))
TRACE_HOOKS_KEPT = _mutant("ex-trace", ("    finally:\n        for h in hooks:\n            h.remove()\n", "    finally:\n        pass\n"))
TRACE_LAST_SUBJECT_ONLY = _mutant("ex-trace", ("        out[:, start:stop] += noise\n", "        out[:, stop - 1] += noise[-1]  # only the last subject token\n"))

# --- 4. subject key ---------------------------------------------------------------------------------

KEY_LAST_TOKEN = _mutant("ex-subject-key", ("[0, s]", "[0, -1]"))
KEY_FIRST_SUBJECT_TOKEN = _mutant("ex-subject-key", ("[0, s]", "[0, s - 1]"))
KEY_PRE_GELU = """
def subject_key(model, layer, prompts, subject_last):
    keys = []
    for p, s in zip(prompts, subject_last):
        got = {}
        h = model.blocks[layer].mlp.fc.register_forward_hook(lambda m, a, out: got.__setitem__("k", out[0, s].detach()))
        with torch.no_grad():
            model(torch.as_tensor(p).reshape(1, -1))
        h.remove()
        keys.append(got["k"])  # before the GELU
    return torch.stack(keys).mean(0)
"""
KEY_FIRST_PROMPT = _mutant("ex-subject-key", ("return torch.stack(keys).mean(0)", "return keys[0]"))

# --- 5. target value --------------------------------------------------------------------------------

VALUE_AT_LAST = _mutant("ex-target-value", ("shift[rows, subj] = delta", "shift[rows, last] = delta  # at the prompt's last token"))
VALUE_DELTA_ONLY = _mutant("ex-target-value", ("return (m_bar + delta).detach().cpu()", "return delta.detach().cpu()"))
VALUE_NO_DECAY = _mutant("ex-target-value", (" + weight_decay * delta.pow(2).sum()", ""))
VALUE_SUM = _mutant("ex-target-value", ("F.cross_entropy(logits, targets)", "F.cross_entropy(logits, targets, reduction='sum')"))

# --- 6. the rank-one update -------------------------------------------------------------------------

ROME_NO_COV = _mutant("ex-rome-update", ("u = torch.linalg.solve(torch.as_tensor(C).double(), k64)", "u = k64  # C = I"))
ROME_C_TIMES_K = _mutant("ex-rome-update", ("u = torch.linalg.solve(torch.as_tensor(C).double(), k64)", "u = torch.as_tensor(C).double() @ k64"))
ROME_DENOM_KK = _mutant("ex-rome-update", ("/ (u @ k64)", "/ (k64 @ k64)"))
ROME_NO_RESIDUAL = _mutant("ex-rome-update", ("torch.outer(v64 - W64 @ k64, u)", "torch.outer(v64, u)"))

# --- 7. BM25 ----------------------------------------------------------------------------------------

BM25_NO_LENGTH = _mutant("ex-bm25", ("norm = k1 * (1 - b + b * length / avg)", "norm = np.full(N, k1)"))
BM25_ROBERTSON_IDF = _mutant("ex-bm25", ("np.log(1 + (N - n_t + 0.5) / (n_t + 0.5))", "np.log((N - n_t + 0.5) / (n_t + 0.5))"))
BM25_ATIRE = _mutant("ex-bm25", ("part[hit] = tf[hit] / (tf[hit]", "part[hit] = tf[hit] * (k1 + 1) / (tf[hit]"))
BM25_SET_QUERY = _mutant("ex-bm25", ("for t in terms(query):", "for t in set(terms(query)):"))
BM25_SPLIT = _mutant("ex-bm25", ('return re.findall(r"(?u)\\b\\w\\w+\\b", text.lower())', "return text.lower().split()"))
BM25_DF_TOTAL = _mutant("ex-bm25", ("n_t = np.count_nonzero(tf)", "n_t = int(tf.sum())  # occurrences, not documents"))

# --- 8. embeddings ----------------------------------------------------------------------------------

EMBED_LAST = _mutant("ex-embed", ("args[0][0].mean(0)", "args[0][0, -1]"))
EMBED_NOT_NORMALISED = _mutant("ex-embed", ("return F.normalize(torch.stack(rows).float(), dim=1).cpu()", "return torch.stack(rows).float().cpu()"))
EMBED_OFF_BY_ONE = _mutant("ex-embed", ("site = model.blocks[layer] if layer < len(model.blocks) else model.ln_f",
                                        "site = model.blocks[layer + 1] if layer + 1 < len(model.blocks) else model.ln_f"))
EMBED_PADDED = """
def embed(model, sequences, layer):
    seqs = [list(torch.as_tensor(s).tolist()) for s in sequences]
    n = max(len(s) for s in seqs)
    ids = torch.tensor([s + [0] * (n - len(s)) for s in seqs])  # right padding
    site = model.blocks[layer] if layer < len(model.blocks) else model.ln_f
    got = {}
    h = site.register_forward_pre_hook(lambda m, a: got.__setitem__("x", a[0]))
    try:
        with torch.no_grad():
            model(ids)
    finally:
        h.remove()
    return F.normalize(got["x"].mean(1), dim=1)  # the padding is in the mean
"""

# --- 9. kd-tree search ------------------------------------------------------------------------------

# The index holds the queries too (every text one has, questions included): each query finds itself.
KNN_FIT_QUERIES = _mutant("ex-knn", ("KDTree(leaf_size=leaf_size).fit(D).kneighbors(Q, k)", "KDTree(leaf_size=leaf_size).fit(np.vstack([D, Q])).kneighbors(Q, k)"))
KNN_RAW = _mutant("ex-knn", ("    D = D / np.linalg.norm(D, axis=1, keepdims=True)\n    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)\n", ""))
KNN_SKIP_FIRST = _mutant("ex-knn", ("KDTree(leaf_size=leaf_size).fit(D).kneighbors(Q, k)", "(lambda d, i: (d[:, 1:], i[:, 1:]))(*KDTree(leaf_size=leaf_size).fit(D).kneighbors(Q, k + 1))"))
KNN_DISTANCES = _mutant("ex-knn", ("return 1 - dist**2 / 2, idx", "return dist, idx"))

# --- 10. RAG context --------------------------------------------------------------------------------

RAG_BEST_FIRST = _mutant("ex-rag-prompt", ("for p in reversed(chosen):", "for p in chosen:"))
RAG_TRUNCATE = """
def rag_prompt(passages, query, budget):
    query = [int(i) for i in query]
    if len(query) > budget:
        raise ValueError("query too long")
    out = []
    for p in reversed(list(passages)):
        out += [int(i) for i in p]
    return (out + query)[-budget:]  # cuts the oldest passage in the middle
"""
RAG_SKIP = _mutant("ex-rag-prompt", ("            break\n", "            continue\n"))
RAG_NO_QUERY_BUDGET = _mutant("ex-rag-prompt", ("chosen, used = [], len(query)", "chosen, used = [], 0"))

WRONG = {
    NB: {
        "ex-mlp-coefficients": [COEF_PRE_GELU, COEF_NO_LN, COEF_BLOCK_INPUT, COEF_HOOK_KEPT],
        "ex-value-distribution": [VALUE_IS_KEY, VALUE_LN_F, VALUE_LOGITS, VALUE_LOG_SOFTMAX],
        "ex-trace": [TRACE_BLOCK, TRACE_ALL_TOKENS, TRACE_HOOKS_KEPT, TRACE_LAST_SUBJECT_ONLY],
        "ex-subject-key": [KEY_LAST_TOKEN, KEY_FIRST_SUBJECT_TOKEN, KEY_PRE_GELU, KEY_FIRST_PROMPT],
        "ex-target-value": [VALUE_AT_LAST, VALUE_DELTA_ONLY, VALUE_NO_DECAY, VALUE_SUM],
        "ex-rome-update": [ROME_NO_COV, ROME_C_TIMES_K, ROME_DENOM_KK, ROME_NO_RESIDUAL],
        "ex-bm25": [BM25_NO_LENGTH, BM25_ROBERTSON_IDF, BM25_ATIRE, BM25_SET_QUERY, BM25_SPLIT, BM25_DF_TOTAL],
        "ex-embed": [EMBED_LAST, EMBED_NOT_NORMALISED, EMBED_OFF_BY_ONE, EMBED_PADDED],
        "ex-knn": [KNN_FIT_QUERIES, KNN_RAW, KNN_SKIP_FIRST, KNN_DISTANCES],
        "ex-rag-prompt": [RAG_BEST_FIRST, RAG_TRUNCATE, RAG_SKIP, RAG_NO_QUERY_BUDGET],
    }
}


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)
    assert all(len(codes) >= 3 for codes in WRONG[NB].values())


# --- correct answers written differently ------------------------------------------------------------

COEF_MANUAL = """
def mlp_coefficients(model, layer, ids):
    ids = torch.as_tensor(ids)
    with torch.no_grad():
        x = model.tok_emb(ids) + model.pos_emb(torch.arange(ids.shape[1]))
        for blk in model.blocks[:layer]:
            x = blk(x)
        blk = model.blocks[layer]
        x = x + blk.attn(blk.ln1(x))
        return F.gelu(blk.mlp.fc(blk.ln2(x)))
"""
COEF_FC_HOOK = """
def mlp_coefficients(model, layer, ids):
    out = []
    h = model.blocks[layer].mlp.fc.register_forward_hook(lambda m, a, o: out.append(F.gelu(o)))
    with torch.no_grad():
        model(torch.as_tensor(ids))
    h.remove()
    return out[0]
"""
VALUE_ROWS = """
def value_distribution(model, layer, index):
    with torch.no_grad():
        values = model.blocks[layer].mlp.proj.weight.T          # (4C, C): one value per row
        return F.softmax(values[index].double() @ model.tok_emb.weight.double().T, dim=0)
"""
TRACE_LOOP = """
def trace_mlp(model, ids, subject, target, noise):
    ids = torch.as_tensor(ids).reshape(1, -1)
    T = ids.shape[1]
    a, b = subject

    def run(restore=None, clean=None):
        x = model.tok_emb(ids)
        if restore is not None:
            x = x.clone()
            x[:, a:b] = x[:, a:b] + torch.as_tensor(noise, dtype=x.dtype)
        x = x + model.pos_emb(torch.arange(T))
        outs = []
        for l, blk in enumerate(model.blocks):
            x = x + blk.attn(blk.ln1(x))
            m = blk.mlp(blk.ln2(x))
            if restore is not None and restore[0] == l:
                m = m.clone()
                m[:, restore[1]] = clean[l][:, restore[1]]
            outs.append(m)
            x = x + m
        return torch.softmax(model.lm_head(model.ln_f(x))[0, -1], -1)[target], outs

    with torch.no_grad():
        _, clean = run()
        return torch.tensor([[float(run((l, t), clean)[0]) for t in range(T)] for l in range(len(model.blocks))])
"""
KEY_PADDED = """
def subject_key(model, layer, prompts, subject_last):
    seqs = [torch.as_tensor(p).reshape(-1).tolist() for p in prompts]
    n = max(len(s) for s in seqs)
    batch = torch.tensor([s + [0] * (n - len(s)) for s in seqs])  # right padding: a causal model ignores it
    coef = mlp_coefficients(model, layer, batch)
    return coef[torch.arange(len(seqs)), torch.as_tensor(subject_last)].mean(0)
"""
TARGET_MANUAL = """
def target_value(model, layer, prompts, subject_last, target, steps=40, lr=0.5, weight_decay=1e-3):
    def forward(ids, s, delta):
        x = model.tok_emb(ids) + model.pos_emb(torch.arange(ids.shape[1]))
        own = None
        for l, blk in enumerate(model.blocks):
            x = x + blk.attn(blk.ln1(x))
            m = blk.mlp(blk.ln2(x))
            if l == layer:
                own = m[0, s].detach()
                m = torch.cat([m[:, :s], m[:, s:s + 1] + delta, m[:, s + 1:]], dim=1)
            x = x + m
        return model.lm_head(model.ln_f(x))[0, -1], own

    seqs = [torch.as_tensor(p).reshape(1, -1) for p in prompts]
    zero = torch.zeros(model.config.n_embd)
    with torch.no_grad():
        m_bar = sum(forward(q, s, zero)[1] for q, s in zip(seqs, subject_last)) / len(seqs)
    delta = torch.zeros(model.config.n_embd, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nll = torch.stack([-torch.log_softmax(forward(q, s, delta)[0], -1)[target] for q, s in zip(seqs, subject_last)])
        (nll.mean() + weight_decay * (delta * delta).sum()).backward()
        opt.step()
    return (m_bar + delta).detach()
"""
ROME_NUMPY = """
def rome_update(W, k, v, C):
    Wn, kn, vn, Cn = (np.asarray(torch.as_tensor(a).double()) for a in (W, k, v, C))
    u = np.linalg.solve(Cn, kn)
    return torch.tensor(Wn + np.outer(vn - Wn @ kn, u) / (u @ kn), dtype=torch.as_tensor(W).dtype)
"""
ROME_INV = """
def rome_update(W, k, v, C):
    W = torch.as_tensor(W)
    Ci = torch.linalg.inv(torch.as_tensor(C).double())
    u = Ci @ torch.as_tensor(k).double()
    lam = (torch.as_tensor(v).double() - W.double() @ torch.as_tensor(k).double()) / (u @ torch.as_tensor(k).double())
    return (W.double() + lam[:, None] * u[None, :]).to(W.dtype)
"""
BM25_SKLEARN = """
def bm25_scores(docs, query, k1=1.5, b=0.75):
    from sklearn.feature_extraction.text import CountVectorizer
    vec = CountVectorizer(token_pattern=r"(?u)\\b\\w\\w+\\b", lowercase=True)
    try:
        tf = vec.fit_transform(docs).toarray().astype(float)
    except ValueError:  # no word in any document
        return np.zeros(len(docs))
    vocab = vec.vocabulary_
    dl = tf.sum(1)
    norm = k1 * (1 - b + b * dl / dl.mean())
    df = (tf > 0).sum(0)
    N = len(docs)
    scores = np.zeros(N)
    for t in re.findall(r"(?u)\\b\\w\\w+\\b", query.lower()):
        if t in vocab:
            j = vocab[t]
            frac = np.divide(tf[:, j], tf[:, j] + norm, out=np.zeros(N), where=tf[:, j] > 0)
            scores += math.log(1 + (N - df[j] + 0.5) / (df[j] + 0.5)) * frac
    return scores
"""
BM25_LIBRARY = """
def bm25_scores(docs, query, k1=1.5, b=0.75):
    import bm25s
    r = bm25s.BM25(k1=k1, b=b, method="lucene")
    r.index(bm25s.tokenize(docs, stopwords=None, show_progress=False), show_progress=False)
    q = bm25s.tokenize([query], stopwords=None, return_ids=False, show_progress=False)[0]
    return np.asarray(r.get_scores(q), dtype=float) if q else np.zeros(len(docs))
"""
EMBED_MANUAL_BATCHED = """
def embed(model, sequences, layer):
    seqs = [torch.as_tensor(s).reshape(-1) for s in sequences]
    n = max(len(s) for s in seqs)
    ids = torch.stack([torch.cat([s, s.new_zeros(n - len(s))]) for s in seqs])
    mask = torch.stack([torch.arange(n) < len(s) for s in seqs]).float()
    with torch.no_grad():
        x = model.tok_emb(ids) + model.pos_emb(torch.arange(n))
        for blk in model.blocks[:layer]:
            x = blk(x)
    mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    return mean / mean.norm(dim=1, keepdim=True)
"""
KNN_BRUTE = """
def knn_search(doc_emb, query_emb, k, leaf_size=16):
    D = np.asarray(doc_emb, dtype=np.float64)
    Q = np.asarray(query_emb, dtype=np.float64)
    S = (Q / np.linalg.norm(Q, axis=1)[:, None]) @ (D / np.linalg.norm(D, axis=1)[:, None]).T
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, idx, 1), idx
"""
KNN_SKLEARN = """
def knn_search(doc_emb, query_emb, k, leaf_size=16):
    from sklearn.neighbors import NearestNeighbors
    nn_ = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(np.asarray(doc_emb, float))
    dist, idx = nn_.kneighbors(np.asarray(query_emb, float))
    return 1 - dist, idx
"""
RAG_CUMSUM = """
def rag_prompt(passages, query, budget):
    query = [int(i) for i in np.asarray(query).reshape(-1)]
    if len(query) > budget:
        raise ValueError("the query alone is over the budget")
    passages = [[int(i) for i in np.asarray(p).reshape(-1)] for p in passages]
    total = np.cumsum([len(p) for p in passages]) + len(query)
    j = int(np.searchsorted(total, budget, side="right"))  # the top j fit
    return [i for p in passages[:j][::-1] for i in p] + query
"""

RIGHT = {
    NB: {
        "ex-mlp-coefficients": [COEF_MANUAL, COEF_FC_HOOK],
        "ex-value-distribution": [VALUE_ROWS],
        "ex-trace": [TRACE_LOOP],
        "ex-subject-key": [KEY_PADDED],
        "ex-target-value": [TARGET_MANUAL],
        "ex-rome-update": [ROME_NUMPY, ROME_INV],
        "ex-bm25": [BM25_SKLEARN, BM25_LIBRARY],
        "ex-embed": [EMBED_MANUAL_BATCHED],
        "ex-knn": [KNN_BRUTE, KNN_SKLEARN],
        "ex-rag-prompt": [RAG_CUMSUM],
    }
}


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)
