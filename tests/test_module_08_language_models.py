"""Module 08 (language models): does every exercise's test reject plausible wrong answers?"""

import pytest
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

MODULE = "08-language-models"
pytestmark = pytest.mark.module08

MERGE_OVERLAPPING = """
def merge(ids, pair, new_id):
    ids = list(ids)
    out = []
    for i, t in enumerate(ids):
        if i + 1 < len(ids) and (t, ids[i + 1]) == tuple(pair):
            out.append(new_id)  # every occurrence, overlapping ones too
        elif i > 0 and (ids[i - 1], t) == tuple(pair):
            continue
        else:
            out.append(t)
    return out
"""
MERGE_DROPS_LAST = """
def merge(ids, pair, new_id):
    ids = list(ids)
    out, i = [], 0
    while i < len(ids) - 1:  # never looks at the last token on its own
        if (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
"""

ATT_MASK_AFTER_SOFTMAX = """
def causal_attention(q, k, v):
    T, d = q.shape[-2], q.shape[-1]
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    return w.masked_fill(future, 0.0) @ v  # rows no longer sum to one
"""
ATT_SCALE_D = """
def causal_attention(q, k, v):
    T, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / d
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v
"""
ATT_SEES_NEXT = """
def causal_attention(q, k, v):
    T, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=2)  # lets each position see the next one
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v
"""

MHA_TEMPLATE = """
class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        SPLIT
        y = causal_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))
"""
MHA_NO_TRANSPOSE = MHA_TEMPLATE.replace(
    "SPLIT",
    "q, k, v = (t.reshape(B, self.n_head, T, C // self.n_head) for t in (q, k, v))  # mixes positions into heads",
)
MHA_ONE_HEAD = MHA_TEMPLATE.replace(
    "SPLIT", "q, k, v = (t.view(B, 1, T, C) for t in (q, k, v))  # ignores n_head"
)

MLP_RELU = """
class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x):
        return self.proj(F.relu(self.fc(x)))
"""

BLOCK_TEMPLATE = """
class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd, bias=False)
        self.attn = MultiHeadAttention(n_embd, n_head)
        self.ln2 = nn.LayerNorm(n_embd, bias=False)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        BODY
"""
BLOCK_POST_NORM = BLOCK_TEMPLATE.replace(
    "BODY", "x = self.ln1(x + self.attn(x))\n        return self.ln2(x + self.mlp(x))"
)
BLOCK_ONE_NORM = BLOCK_TEMPLATE.replace(
    "BODY", "x = x + self.attn(self.ln1(x))\n        return x + self.mlp(self.ln1(x))"
)
BLOCK_NO_MLP_RESIDUAL = BLOCK_TEMPLATE.replace(
    "BODY", "x = x + self.attn(self.ln1(x))\n        return self.mlp(self.ln2(x))"
)

GPT_TEMPLATE = """
class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        TIE
        INIT

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = EMBED
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def num_params(self):
        return sum(p.numel() for p in self.parameters())
"""
_TIE = "self.lm_head.weight = self.tok_emb.weight"
_INIT = (
    "for m in self.modules():\n            if isinstance(m, (nn.Linear, nn.Embedding)):\n"
    "                nn.init.normal_(m.weight, mean=0.0, std=0.02)"
)
_EMBED = "self.tok_emb(idx) + self.pos_emb(torch.arange(T))"
GPT_UNTIED = (
    GPT_TEMPLATE.replace("TIE", "pass  # no weight tying")
    .replace("INIT", _INIT)
    .replace("EMBED", _EMBED)
)
GPT_DEFAULT_INIT = (
    GPT_TEMPLATE.replace("TIE", _TIE)
    .replace("INIT", "pass  # PyTorch's default init")
    .replace("EMBED", _EMBED)
)
GPT_NO_POSITIONS = (
    GPT_TEMPLATE.replace("TIE", _TIE)
    .replace("INIT", _INIT)
    .replace("EMBED", "self.tok_emb(idx)  # positions forgotten")
)

RMS_TEMPLATE = """
class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        BODY
"""
RMS_SUBTRACTS_MEAN = RMS_TEMPLATE.replace(
    "BODY",
    "x = x - x.mean(-1, keepdim=True)  # that is LayerNorm\n        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight",
)
RMS_EPS_OUTSIDE = RMS_TEMPLATE.replace(
    "BODY", "return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.eps) * self.weight"
)
RMS_ALL_AXES = RMS_TEMPLATE.replace(
    "BODY", "return x * torch.rsqrt(x.pow(2).mean() + self.eps) * self.weight  # over every axis"
)

ROPE_HALVES = """
def rope(x, base=10000.0):
    T, d = x.shape[-2], x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * theta[None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]  # pairs (i, i + d/2): the NeoX layout
    return torch.cat((x1 * ang.cos() - x2 * ang.sin(), x1 * ang.sin() + x2 * ang.cos()), dim=-1)
"""
ROPE_WRONG_FREQ = """
def rope(x, base=10000.0):
    T, d = x.shape[-2], x.shape[-1]
    theta = base ** (-torch.arange(d // 2, dtype=torch.float32) / d)  # base^(-i/d), not base^(-2i/d)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * theta[None, :]
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * ang.cos() - x2 * ang.sin(), x1 * ang.sin() + x2 * ang.cos()), dim=-1).flatten(-2)
"""
ROPE_FROM_ONE = """
def rope(x, base=10000.0):
    T, d = x.shape[-2], x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    ang = torch.arange(1, T + 1, dtype=torch.float32)[:, None] * theta[None, :]  # positions from 1
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * ang.cos() - x2 * ang.sin(), x1 * ang.sin() + x2 * ang.cos()), dim=-1).flatten(-2)
"""

SWIGLU_TEMPLATE = """
class SwiGLU(nn.Module):
    def __init__(self, n_embd, hidden):
        super().__init__()
        self.gate = nn.Linear(n_embd, hidden, bias=False)
        self.up = nn.Linear(n_embd, hidden, bias=False)
        self.proj = nn.Linear(hidden, n_embd, bias=False)

    def forward(self, x):
        return BODY
"""
SWIGLU_SILU_ON_UP = SWIGLU_TEMPLATE.replace("BODY", "self.proj(self.gate(x) * F.silu(self.up(x)))")
SWIGLU_GELU = SWIGLU_TEMPLATE.replace("BODY", "self.proj(F.gelu(self.gate(x)) * self.up(x))")

LR_TEMPLATE = """
def lr_at(step, lr, min_lr, warmup, max_steps):
    if step < warmup:
        return WARM
    if step > max_steps:
        return min_lr
    ratio = RATIO
    return LOW + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - LOW)
"""
_LR_OK = dict(
    WARM="lr * (step + 1) / warmup", RATIO="(step - warmup) / (max_steps - warmup)", LOW="min_lr"
)


def _lr(**kw):
    src = LR_TEMPLATE
    for key, value in {**_LR_OK, **kw}.items():
        src = src.replace(key, value)
    return src


LR_WARMUP_OFF_BY_ONE = _lr(WARM="lr * step / warmup  # step 0 wasted at lr = 0")
LR_NEVER_MIN = _lr(RATIO="(step - warmup) / max_steps  # never reaches the end of the cosine")
LR_TO_ZERO = _lr(LOW="0.0")

PG_ALL = """
def param_groups(named_params, weight_decay):
    return [{"params": list(named_params.values()), "weight_decay": weight_decay}, {"params": [], "weight_decay": 0.0}]
"""
PG_BY_NAME = """
def param_groups(named_params, weight_decay):
    decay = [p for n, p in named_params.items() if n.endswith("weight")]  # norm gains end in "weight" too
    rest = [p for n, p in named_params.items() if not n.endswith("weight")]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
"""

SAMPLING_TIMES_T = """
def sampling_probs(logits, temperature=1.0, top_k=None):
    logits = logits.float()
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).float()
    logits = logits * temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)
"""
SAMPLING_NOT_RENORMALISED = """
def sampling_probs(logits, temperature=1.0, top_k=None):
    logits = logits.float()
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).float()
    p = torch.softmax(logits / temperature, dim=-1)
    if top_k is not None:
        kth = torch.topk(p, top_k, dim=-1).values[..., -1:]
        p = p.masked_fill(p < kth, 0.0)  # the kept probabilities no longer sum to one
    return p
"""

TRAIN_TEMPLATE = """
def train(model, train_data, val_data, *, steps, batch_size, lr, min_lr, warmup,
          weight_decay=0.1, grad_clip=1.0, eval_every=100, eval_batches=10, seed=0):
    device = next(model.parameters()).device
    T = model.block_size
    gen = torch.Generator().manual_seed(seed)
    val_batches = fixed_batches(val_data, eval_batches, batch_size, T)
    opt = torch.optim.AdamW(param_groups(dict(model.named_parameters()), weight_decay), lr=lr, betas=(0.9, 0.99))
    hist = {"lr": [], "loss": [], "eval": [], "tokens": 0}
    seconds = 0.0
    for step in range(steps):
        if step % eval_every == 0:
            hist["eval"].append([step, evaluate(model, val_batches), seconds])
        t0 = time.perf_counter()
        rate = RATE
        for group in opt.param_groups:
            group["lr"] = rate
        x, y = get_batch(train_data, batch_size, T, gen)
        _, loss = model(x, y)
        ZERO
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        hist["lr"].append(rate)
        hist["loss"].append(loss.item())
        hist["tokens"] += x.numel()
        seconds += time.perf_counter() - t0
    hist["eval"].append([steps, evaluate(model, val_batches), seconds])
    return hist
"""
TRAIN_CONSTANT_LR = TRAIN_TEMPLATE.replace("RATE", "lr  # no schedule").replace(
    "ZERO", "opt.zero_grad()"
)
TRAIN_SCHEDULE_PAST_STEPS = TRAIN_TEMPLATE.replace(
    "RATE", "lr_at(step + 1, lr, min_lr, warmup, steps)  # one step ahead"
).replace("ZERO", "opt.zero_grad()")
TRAIN_NO_ZERO_GRAD = TRAIN_TEMPLATE.replace(
    "RATE", "lr_at(step, lr, min_lr, warmup, steps)"
).replace("ZERO", "pass  # gradients accumulate")

MERGE_FIRST_ONLY = """
def merge(ids, pair, new_id):
    ids = list(ids)
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == tuple(pair):
            return ids[:i] + [new_id] + ids[i + 2:]  # only the first occurrence
    return ids
"""
MERGE_EITHER_ORDER = """
def merge(ids, pair, new_id):
    ids = list(ids)
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and {ids[i], ids[i + 1]} == set(pair):  # (b, a) merged too
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
"""

KN_TEMPLATE = """
def kneser_ney_probs(train_ids, val_ids, n, vocab_size, discount=0.75):
    V, D = int(vocab_size), DISCOUNT
    train = np.asarray(train_ids, dtype=DTYPE)
    val = np.asarray(val_ids, dtype=DTYPE)
    def codes(ids, m):
        L = len(ids) - m + 1
        c = np.zeros(max(L, 0), dtype=DTYPE)
        for j in range(m):
            c = c * V + ids[j:j + L]
        return c
    def lookup(keys, table, values):
        if len(table) == 0:
            return np.zeros(len(keys))
        i = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return np.where(table[i] == keys, values[i], 0)
    p = np.full(max(len(val) - n + 1, 0), BASE)
    for m in range(1, n + 1):
        if LOWER:
            grams, counts = np.unique(codes(train, m), return_counts=True)
        else:
            grams, counts = np.unique(np.unique(codes(train, m + 1)) % V**m, return_counts=True)
        contexts, inverse = np.unique(grams // V, return_inverse=True)
        totals = np.bincount(inverse, weights=counts)
        types = np.bincount(inverse)
        q = codes(val[n - m:], m)
        num = lookup(q, grams, counts)
        den = lookup(q // V, contexts, totals)
        typ = lookup(q // V, contexts, types)
        safe = np.where(den > 0, den, 1)
        p = np.where(den > 0, (np.maximum(num - D, 0) + D * TYPES * p) / safe, UNSEEN)
    return p
"""
_KN_OK = dict(DISCOUNT="float(discount)", DTYPE="np.int64", BASE="1.0 / V", LOWER="m == n",
              TYPES="typ", UNSEEN="p")


def _kn(**kw):
    src = KN_TEMPLATE
    for key, value in {**_KN_OK, **kw}.items():
        src = src.replace(key, value)
    return src


KN_RIGHT_BY_TEMPLATE = _kn()  # the template itself is right: proves the mutations are the bugs
KN_RAW_LOWER_ORDERS = _kn(LOWER="True")  # absolute discounting: raw counts at every order
KN_NO_UNIFORM_BASE = _kn(BASE="0.0")  # order 1 not interpolated with 1/V: unseen characters get 0
KN_DISCOUNT_IGNORED = _kn(DISCOUNT="0.75")
KN_INT32_CODES = _kn(DTYPE="np.int32")  # 77^5 overflows
KN_BACKOFF_WITHOUT_TYPES = _kn(TYPES="1")  # lambda = D / C(h): the distribution no longer sums to 1
KN_UNSEEN_CONTEXT_UNIFORM = _kn(UNSEEN="1.0 / V")  # an unseen context falls to uniform, not to order m-1

MHA_KQV_ORDER = MHA_TEMPLATE.replace(
    "SPLIT",
    "k, q, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # q and k swapped",
)
MHA_NO_PROJ = MHA_TEMPLATE.replace(
    "SPLIT", "q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))"
).replace("return self.proj(y.transpose(1, 2).reshape(B, T, C))", "return y.transpose(1, 2).reshape(B, T, C)  # no output projection")

MLP_TANH_GELU = MLP_RELU.replace("F.relu(self.fc(x))", 'F.gelu(self.fc(x), approximate="tanh")')
MLP_GELU_AFTER_PROJ = MLP_RELU.replace("self.proj(F.relu(self.fc(x)))", "F.gelu(self.proj(self.fc(x)))")

SWIGLU_SIGMOID_GATE = SWIGLU_TEMPLATE.replace("BODY", "self.proj(torch.sigmoid(self.gate(x)) * self.up(x))  # GLU, not SwiGLU")

PG_SWAPPED = """
def param_groups(named_params, weight_decay):
    decay = [p for p in named_params.values() if p.dim() < 2]
    no_decay = [p for p in named_params.values() if p.dim() >= 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
"""
PG_ONLY_3D = """
def param_groups(named_params, weight_decay):
    decay = [p for p in named_params.values() if p.dim() > 2]
    no_decay = [p for p in named_params.values() if p.dim() <= 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
"""

SAMPLING_TOPK_WRONG_AXIS = """
def sampling_probs(logits, temperature=1.0, top_k=None):
    logits = logits.float()
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).float()
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(0)), dim=0).values[-1:]  # along the batch axis
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)
"""
SAMPLING_KEEPS_SMALLEST = """
def sampling_probs(logits, temperature=1.0, top_k=None):
    logits = logits.float()
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).float()
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1, largest=False).values[..., -1:]
        logits = logits.masked_fill(logits > kth, float("-inf"))  # keeps the k least likely
    return torch.softmax(logits, dim=-1)
"""
FIT_LOG_LOG = """
def fit_scaling_law(N, L):
    slope, intercept = np.polyfit(np.log(np.asarray(N, float)), np.log(np.asarray(L, float)), 1)
    return 0.0, float(np.exp(intercept)), float(-slope)  # a pure power law: no irreducible term
"""
FIT_E_IS_MIN = """
def fit_scaling_law(N, L):
    N, L = np.asarray(N, float), np.asarray(L, float)
    E = L.min() - 1e-3 * (L.max() - L.min())  # E guessed from the data, then a log-log line
    slope, intercept = np.polyfit(np.log(N), np.log(L - E), 1)
    return float(E), float(np.exp(intercept)), float(-slope)
"""
FIT_CURVE_FIT_DEFAULT_START = """
def fit_scaling_law(N, L):
    from scipy.optimize import curve_fit
    N, L = np.asarray(N, float), np.asarray(L, float)
    (E, A, a), _ = curve_fit(lambda n, E, A, a: E + A * n ** -a, N, L, maxfev=20000)  # starts at (1, 1, 1)
    return float(E), float(A), float(a)
"""
FIT_COARSE_GRID = """
def fit_scaling_law(N, L):
    N, L = np.asarray(N, float), np.asarray(L, float)
    best = None
    for a in np.arange(0.05, 3.0, 0.05):  # a coarse grid, never refined
        X = np.stack([np.ones_like(N), N ** -a], axis=1)
        coef, *_ = np.linalg.lstsq(X, L, rcond=None)
        err = np.sum((X @ coef - L) ** 2)
        if best is None or err < best[0]:
            best = (err, coef, a)
    return float(best[1][0]), float(best[1][1]), float(best[2])
"""
FIT_LOG_SPACE = """
def fit_scaling_law(N, L):
    from scipy.optimize import minimize
    N, L = np.asarray(N, float), np.asarray(L, float)
    def err(p):  # squared error of log L: another criterion than the one asked for
        E, A, a = p
        model = np.maximum(E + A * N ** -a, 1e-9)
        return np.sum((np.log(L) - np.log(model)) ** 2)
    best = None
    for a0 in (0.1, 0.3, 1.0):
        X = np.stack([np.ones_like(N), N ** -a0], axis=1)
        coef, *_ = np.linalg.lstsq(X, L, rcond=None)
        r = minimize(err, [coef[0], coef[1], a0], method="Nelder-Mead", options=dict(xatol=1e-12, fatol=1e-16, maxiter=40000))
        if best is None or r.fun < best.fun:
            best = r
    return tuple(float(v) for v in best.x)
"""

CO_TEMPLATE = """
def compute_optimal(C, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    C = np.asarray(C, dtype=float)
    G = GAIN
    N = G * (C / SIX) ** (EXPONENT)
    D = C / (SIX * N)
    if N.ndim == 0:
        return float(N), float(D)
    return N, D
"""
_CO_OK = dict(GAIN="(alpha * A / (beta * B)) ** (1.0 / (alpha + beta))", SIX="6.0",
              EXPONENT="beta / (alpha + beta)")


def _co(**kw):
    src = CO_TEMPLATE
    for key, value in {**_CO_OK, **kw}.items():
        src = src.replace(key, value)
    return src


CO_EXPONENT_SWAPPED = _co(EXPONENT="alpha / (alpha + beta)")
CO_NO_SIX = _co(SIX="1.0")  # C = N D
CO_CONSTANTS_IGNORED = _co(GAIN="1.0")  # the exponent alone
CO_TWENTY_TOKENS = """
def compute_optimal(C, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    C = np.asarray(C, dtype=float)
    N = np.sqrt(C / 120.0)  # the rule of thumb D = 20 N, not the optimum of the fitted law
    if N.ndim == 0:
        return float(N), float(20 * N)
    return N, 20 * N
"""
CO_KAPLAN = _co(EXPONENT="0.73", GAIN="1.3e9 / (8.64e19 / 6) ** 0.73")  # Kaplan's N ~ C^0.73

MERGE_STRING_REPLACE = """
def merge(ids, pair, new_id):
    s = " ".join(map(str, ids))
    s = s.replace(f"{pair[0]} {pair[1]}", str(new_id))  # digits, not ids: (1, 2) matches inside 11 2
    return [int(t) for t in s.split()] if s else []
"""
RMS_EPS_HARDCODED = """
class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + 1e-5) * self.weight  # not self.eps
"""

WRONG = {
    "language-models.ipynb": {
        "ex-merge": [MERGE_OVERLAPPING, MERGE_DROPS_LAST, MERGE_FIRST_ONLY, MERGE_EITHER_ORDER, MERGE_STRING_REPLACE],
        "ex-kneser-ney": [KN_RAW_LOWER_ORDERS, KN_NO_UNIFORM_BASE, KN_DISCOUNT_IGNORED, KN_INT32_CODES,
                          KN_BACKOFF_WITHOUT_TYPES, KN_UNSEEN_CONTEXT_UNIFORM],
        "ex-attention": [ATT_MASK_AFTER_SOFTMAX, ATT_SCALE_D, ATT_SEES_NEXT],
        "ex-mha": [MHA_NO_TRANSPOSE, MHA_ONE_HEAD, MHA_KQV_ORDER, MHA_NO_PROJ],
        "ex-mlp": [MLP_RELU, MLP_TANH_GELU, MLP_GELU_AFTER_PROJ],
        "ex-block": [BLOCK_POST_NORM, BLOCK_ONE_NORM, BLOCK_NO_MLP_RESIDUAL],
        "ex-gpt": [GPT_UNTIED, GPT_DEFAULT_INIT, GPT_NO_POSITIONS],
        "ex-rmsnorm": [RMS_SUBTRACTS_MEAN, RMS_EPS_OUTSIDE, RMS_ALL_AXES, RMS_EPS_HARDCODED],
        "ex-rope": [ROPE_HALVES, ROPE_WRONG_FREQ, ROPE_FROM_ONE],
        "ex-swiglu": [SWIGLU_SILU_ON_UP, SWIGLU_GELU, SWIGLU_SIGMOID_GATE],
        "ex-lr": [LR_WARMUP_OFF_BY_ONE, LR_NEVER_MIN, LR_TO_ZERO],
        "ex-param-groups": [PG_ALL, PG_BY_NAME, PG_SWAPPED, PG_ONLY_3D],
        "ex-sampling": [SAMPLING_TIMES_T, SAMPLING_NOT_RENORMALISED, SAMPLING_TOPK_WRONG_AXIS, SAMPLING_KEEPS_SMALLEST],
        "ex-train": [TRAIN_CONSTANT_LR, TRAIN_SCHEDULE_PAST_STEPS, TRAIN_NO_ZERO_GRAD],
        "ex-scaling-fit": [FIT_LOG_LOG, FIT_E_IS_MIN, FIT_CURVE_FIT_DEFAULT_START, FIT_COARSE_GRID, FIT_LOG_SPACE],
        "ex-compute-optimal": [CO_EXPONENT_SWAPPED, CO_NO_SIX, CO_TWENTY_TOKENS, CO_CONSTANTS_IGNORED, CO_KAPLAN],
    }
}


# weight decay 0.1 and clip 1.0 hard-coded: the arguments ignored
TRAIN_FIXED_DECAY_CLIP = """
def train(model, train_data, val_data, *, steps, batch_size, lr, min_lr, warmup,
          weight_decay=0.1, grad_clip=1.0, eval_every=100, eval_batches=10, seed=0):
    '''Train `model` in place with AdamW + warm-up/cosine + clipping; returns the history dict.'''
    device = next(model.parameters()).device
    T = model.block_size
    gen = torch.Generator().manual_seed(seed)
    val_batches = fixed_batches(val_data, eval_batches, batch_size, T)
    extra = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.AdamW(param_groups(dict(model.named_parameters()), 0.1), lr=lr, betas=(0.9, 0.99), **extra)
    fwd = torch.compile(model) if device.type == "cuda" else model
    hist = {"lr": [], "loss": [], "eval": [], "tokens": 0}
    seconds = 0.0
    model.train()
    for step in range(steps):
        if step % eval_every == 0:
            hist["eval"].append([step, evaluate(model, val_batches), seconds])
        t0 = time.perf_counter()
        rate = lr_at(step, lr, min_lr, warmup, steps)
        for group in opt.param_groups:
            group["lr"] = rate
        x, y = get_batch(train_data, batch_size, T, gen)
        x, y = x.to(device), y.to(device)
        with autocast(device):
            _, loss = fwd(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        hist["lr"].append(rate)
        hist["loss"].append(loss.item())  # .item() waits for the GPU: the timing is honest
        hist["tokens"] += x.numel()
        seconds += time.perf_counter() - t0
    hist["eval"].append([steps, evaluate(model, val_batches), seconds])
    return hist
"""
WRONG["language-models.ipynb"]["ex-train"] = [*WRONG["language-models.ipynb"]["ex-train"], TRAIN_FIXED_DECAY_CLIP]


# N(0, 0.02^2) for the linear layers only: the embeddings keep N(0, 1)
GPT_INIT_LINEAR_ONLY = """
class GPT(nn.Module):
    '''A GPT-2 style decoder: (B, T) token ids -> (B, T, V) logits [, mean cross-entropy].'''

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        assert T <= self.block_size, "sequence longer than block_size"
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def num_params(self):
        return sum(p.numel() for p in self.parameters())
"""
WRONG["language-models.ipynb"]["ex-gpt"] = [*WRONG["language-models.ipynb"]["ex-gpt"], GPT_INIT_LINEAR_ONLY]


# std 0.002 instead of 0.02
GPT_INIT_STD_0002 = """
class GPT(nn.Module):
    '''A GPT-2 style decoder: (B, T) token ids -> (B, T, V) logits [, mean cross-entropy].'''

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.002)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        assert T <= self.block_size, "sequence longer than block_size"
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def num_params(self):
        return sum(p.numel() for p in self.parameters())
"""
WRONG["language-models.ipynb"]["ex-gpt"] = [*WRONG["language-models.ipynb"]["ex-gpt"], GPT_INIT_STD_0002]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


# --- correct answers written differently keep full marks -----------------------------------------

KN_DICTS = """
def kneser_ney_probs(train_ids, val_ids, n, vocab_size, discount=0.75):
    from collections import defaultdict
    tr, va = [int(t) for t in train_ids], [int(t) for t in val_ids]
    V, D = vocab_size, discount
    count, total, types = {}, {}, {}
    for m in range(1, n + 1):
        if m == n:
            grams = Counter(tuple(tr[i:i + m]) for i in range(len(tr) - m + 1))
        else:  # continuation counts: distinct characters before each m-gram
            grams = Counter(g[1:] for g in set(tuple(tr[i:i + m + 1]) for i in range(len(tr) - m)))
        count[m], total[m], types[m] = grams, defaultdict(float), defaultdict(int)
        for g, c in grams.items():
            total[m][g[:-1]] += c
            types[m][g[:-1]] += 1
    out = []
    for j in range(len(va) - n + 1):
        p = 1.0 / V
        for m in range(1, n + 1):
            h, c = tuple(va[j + n - m:j + n - 1]), va[j + n - 1]
            if total[m].get(h, 0) > 0:
                p = (max(count[m].get(h + (c,), 0) - D, 0) + D * types[m][h] * p) / total[m][h]
        out.append(p)
    return np.array(out)
"""

FIT_CURVE_FIT_GOOD_START = """
def fit_scaling_law(N, L):
    from scipy.optimize import curve_fit
    N, L = np.asarray(N, float), np.asarray(L, float)
    best = None
    for a in np.linspace(0.01, 3.0, 300):  # a start from a grid of exponents ...
        X = np.stack([np.ones_like(N), N ** -a], axis=1)
        coef, *_ = np.linalg.lstsq(X, L, rcond=None)
        err = np.sum((X @ coef - L) ** 2)
        if best is None or err < best[0]:
            best = (err, [coef[0], coef[1], a])
    law = lambda n, E, A, a: E + A * n ** -a  # ... then curve_fit polishes all three
    params, _ = curve_fit(law, N, L, p0=best[1], maxfev=100_000, xtol=1e-14, ftol=1e-14)
    if np.sum((law(N, *params) - L) ** 2) > best[0]:
        params = best[1]
    return tuple(float(v) for v in params)
"""
FIT_LOG_ALPHA = """
def fit_scaling_law(N, L):
    from scipy.optimize import minimize_scalar
    N, L = np.asarray(N, float), np.asarray(L, float)
    def ls(log_a):
        X = np.column_stack([np.ones(len(N)), np.exp(-np.exp(log_a) * np.log(N))])
        coef = np.linalg.solve(X.T @ X, X.T @ L)
        return coef, float(((X @ coef - L) ** 2).sum())
    grid = np.linspace(np.log(1e-3), np.log(3.0), 400)
    k = int(np.argmin([ls(g)[1] for g in grid]))
    r = minimize_scalar(lambda g: ls(g)[1], bounds=(grid[max(k - 1, 0)], grid[min(k + 1, 399)]),
                        method="bounded", options={"xatol": 1e-13})
    coef, _ = ls(r.x)
    return float(coef[0]), float(coef[1]), float(np.exp(r.x))
"""
CO_NUMERIC = """
def compute_optimal(C, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    from scipy.optimize import minimize_scalar
    def one(c):  # minimise the loss along 6 N D = c numerically, over log N
        f = lambda x: A * np.exp(-alpha * x) + B * np.exp(-beta * (np.log(c / 6) - x))
        r = minimize_scalar(f, bounds=(0.0, np.log(c / 6)), method="bounded", options={"xatol": 1e-12})
        return np.exp(r.x)
    N = np.vectorize(one)(np.asarray(C, float))
    D = np.asarray(C, float) / (6 * N)
    return (float(N), float(D)) if np.ndim(N) == 0 else (N, D)
"""
CO_TOKENS_FIRST = """
def compute_optimal(C, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    C = np.asarray(C, dtype=float)
    D = (beta * B / (alpha * A)) ** (1 / (alpha + beta)) * (C / 6) ** (alpha / (alpha + beta))
    N = C / 6 / D
    return (N.item(), D.item()) if C.ndim == 0 else (N, D)
"""

# The pair compared as a tuple, as the spec gives it
MERGE_TUPLE = """
def merge(ids, pair, new_id):
    out, i, n = [], 0, len(ids)
    while i < n:
        if i < n - 1 and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
"""
# nanoGPT's configure_optimizers: only the tensors that require a gradient
PG_NANOGPT = """
def param_groups(named_params, weight_decay):
    param_dict = {pn: p for pn, p in named_params.items() if p.requires_grad}
    decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
    nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
    return [{"params": decay_params, "weight_decay": weight_decay}, {"params": nodecay_params, "weight_decay": 0.0}]
"""
# seconds as wall-clock time since the start minus the time spent evaluating (about 1e-6 at step 0)
TRAIN_WALL_CLOCK = """
def train(model, train_data, val_data, *, steps, batch_size, lr, min_lr, warmup,
          weight_decay=0.1, grad_clip=1.0, eval_every=100, eval_batches=10, seed=0):
    device = next(model.parameters()).device
    block_size = model.block_size
    g = torch.Generator()
    g.manual_seed(seed)
    val_batches = fixed_batches(val_data, eval_batches, batch_size, block_size)
    kw = dict(fused=True) if device.type == "cuda" else {}
    optimizer = torch.optim.AdamW(param_groups(dict(model.named_parameters()), weight_decay), lr=lr, betas=(0.9, 0.99), **kw)
    net = torch.compile(model) if device.type == "cuda" else model
    lrs, losses, evals = [], [], []
    tokens = 0
    start = time.perf_counter()
    eval_time = 0.0
    for step in range(steps):
        if step % eval_every == 0:
            e0 = time.perf_counter()
            vl = evaluate(model, val_batches)
            eval_time += time.perf_counter() - e0
            evals.append([step, vl, time.perf_counter() - start - eval_time])

        cur = lr_at(step, lr, min_lr, warmup, steps)
        for pg in optimizer.param_groups:
            pg["lr"] = cur
        xb, yb = get_batch(train_data, batch_size, block_size, g)
        xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        with autocast(device):
            logits, loss = net(xb, yb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()

        lrs.append(cur)
        losses.append(float(loss))
        tokens += xb.numel()
    e0 = time.perf_counter()
    vl = evaluate(model, val_batches)
    eval_time += time.perf_counter() - e0
    evals.append([steps, vl, time.perf_counter() - start - eval_time])
    return {"lr": lrs, "loss": losses, "eval": evals, "tokens": tokens}
"""

RIGHT = {
    "language-models.ipynb": {
        "ex-merge": [MERGE_TUPLE, """
def merge(ids, pair, new_id):
    out, skip = [], False
    ids = list(ids)
    for i, t in enumerate(ids):
        if skip:
            skip = False
            continue
        if i + 1 < len(ids) and [t, ids[i + 1]] == list(pair):
            out.append(new_id)
            skip = True
        else:
            out.append(t)
    return out
"""],
        "ex-kneser-ney": [KN_RIGHT_BY_TEMPLATE, KN_DICTS],
        "ex-attention": ["""
def causal_attention(q, k, v):
    d = q.shape[-1]
    scores = torch.einsum("bhid,bhjd->bhij", q, k) * d ** -0.5
    keep = torch.tril(torch.ones(scores.shape[-2:], dtype=torch.bool))
    scores = torch.where(keep, scores, torch.tensor(float("-inf")))
    w = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    return (w / w.sum(dim=-1, keepdim=True)) @ v
"""],
        "ex-mha": ["""
class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.h = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        heads = [t.reshape(B, T, self.h, C // self.h).permute(0, 2, 1, 3) for t in (q, k, v)]
        y = causal_attention(*heads).permute(0, 2, 1, 3).reshape(B, T, C)
        return self.proj(y)
"""],
        "ex-mlp": ["""
class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x):
        return self.proj(self.act(self.fc(x)))
"""],
        "ex-block": ["""
class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd, bias=False)
        self.attn = MultiHeadAttention(n_embd, n_head)
        self.ln2 = nn.LayerNorm(n_embd, bias=False)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        h = self.attn(self.ln1(x)) + x
        out = self.mlp(self.ln2(h))
        return out + h
"""],
        "ex-gpt": ["""
class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init)
        self.tok_emb.weight = self.lm_head.weight  # tied the other way round

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb.weight[:T]
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        keep = targets.reshape(-1) != -100
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1])[keep], targets.reshape(-1)[keep])
        return logits, loss

    def num_params(self):
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())
"""],
        "ex-rmsnorm": ["""
class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        rms = torch.sqrt(torch.mean(x * x, dim=-1, keepdim=True) + self.eps)
        return self.weight * (x / rms)
"""],
        "ex-rope": ["""
def rope(x, base=10000.0):
    T, d = x.shape[-2], x.shape[-1]
    theta = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = torch.outer(torch.arange(T, dtype=torch.float64), theta)
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    out = torch.view_as_real(z * torch.polar(torch.ones_like(angle), angle))
    return out.reshape(x.shape).to(x.dtype)
"""],
        "ex-swiglu": ["""
class SwiGLU(nn.Module):
    def __init__(self, n_embd, hidden):
        super().__init__()
        self.gate = nn.Linear(n_embd, hidden, bias=False)
        self.up = nn.Linear(n_embd, hidden, bias=False)
        self.proj = nn.Linear(hidden, n_embd, bias=False)

    def forward(self, x):
        g = self.gate(x)
        return self.proj(g * torch.sigmoid(g) * self.up(x))
"""],
        "ex-lr": ["""
def lr_at(step, lr, min_lr, warmup, max_steps):
    if step < warmup:
        return (step + 1) / warmup * lr
    progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2
"""],
        "ex-param-groups": [PG_NANOGPT, """
def param_groups(named_params, weight_decay):
    groups = [{"params": [], "weight_decay": weight_decay}, {"params": [], "weight_decay": 0.0}]
    for name, p in named_params.items():
        groups[0 if p.ndim >= 2 else 1]["params"].append(p)
    return groups
"""],
        "ex-sampling": ["""
def sampling_probs(logits, temperature=1.0, top_k=None):
    z = logits.float()
    if temperature == 0:
        out = torch.zeros_like(z)
        return out.scatter(-1, z.argmax(-1, keepdim=True), 1.0)
    p = torch.softmax(z, dim=-1) ** (1.0 / temperature)  # p^(1/T) renormalised = softmax(z / T)
    if top_k is not None:
        order = torch.sort(z, dim=-1, descending=True).values
        kth = order[..., min(top_k, z.shape[-1]) - 1:min(top_k, z.shape[-1])]
        p = torch.where(z >= kth, p, torch.zeros_like(p))
    return p / p.sum(dim=-1, keepdim=True)
"""],
        "ex-train": [TRAIN_WALL_CLOCK, TRAIN_TEMPLATE.replace("RATE", "lr_at(step, lr, min_lr, warmup, steps)").replace(
            "ZERO", "pass").replace("        opt.step()\n", "        opt.step()\n        opt.zero_grad(set_to_none=True)  # after the step: the same\n")],
        "ex-scaling-fit": [FIT_CURVE_FIT_GOOD_START, FIT_LOG_ALPHA],
        "ex-compute-optimal": [CO_NUMERIC, CO_TOKENS_FIRST],
    }
}


# in torch: int64 counts / int64 counts are float32
KN_TORCH_FLOAT32 = """
def kneser_ney_probs(train_ids, val_ids, n, vocab_size, discount=0.75):
    V, D = int(vocab_size), discount
    tr = torch.as_tensor(np.asarray(train_ids), dtype=torch.int64)
    va = torch.as_tensor(np.asarray(val_ids), dtype=torch.int64)

    def codes(a, m):
        L = len(a) - m + 1
        c = torch.zeros(max(L, 0), dtype=torch.int64)
        for j in range(m):
            c = c * V + a[j:j + L]
        return c

    def look(keys, table, vals):
        if len(table) == 0:
            return torch.zeros(len(keys), dtype=vals.dtype)
        i = torch.searchsorted(table, keys).clamp(max=len(table) - 1)
        return torch.where(table[i] == keys, vals[i], torch.zeros_like(vals[i]))

    out = max(len(va) - n + 1, 0)
    p = torch.full((out,), 1.0 / V)
    for m in range(1, n + 1):
        if m == n:
            grams, cnt = torch.unique(codes(tr, m), return_counts=True)
        else:
            grams, cnt = torch.unique(torch.unique(codes(tr, m + 1)) % V ** m, return_counts=True)
        ctx, inv = torch.unique(grams // V, return_inverse=True)
        tot = torch.bincount(inv, weights=cnt.double()).long() if len(inv) else torch.zeros(0, dtype=torch.int64)
        typ = torch.bincount(inv) if len(inv) else torch.zeros(0, dtype=torch.int64)
        q = codes(va[n - m:], m)
        num = look(q, grams, cnt)
        den = look(q // V, ctx, tot)
        ty = look(q // V, ctx, typ)
        new = ((num - D).clamp(min=0) + D * ty * p) / den.clamp(min=1)
        p = torch.where(den > 0, new, p)
    return p.numpy()
"""
RIGHT["language-models.ipynb"]["ex-kneser-ney"] = [*RIGHT["language-models.ipynb"]["ex-kneser-ney"], KN_TORCH_FLOAT32]


# NumPy arrays of float32
KN_NUMPY_FLOAT32 = """
def kneser_ney_probs(train_ids, val_ids, n, vocab_size, discount=0.75):
    V, D = int(vocab_size), discount
    tr = np.asarray(train_ids).astype(np.int64)
    va = np.asarray(val_ids).astype(np.int64)

    def codes(a, m):
        L = len(a) - m + 1
        c = np.zeros(max(L, 0), dtype=np.int64)
        for j in range(m):
            c = c * V + a[j:j + L]
        return c

    out = max(len(va) - n + 1, 0)
    p = np.ones(out, dtype=np.float32) / V
    for m in range(1, n + 1):
        base = codes(tr, m) if m == n else np.unique(codes(tr, m + 1)) % V ** m
        grams, cnt = np.unique(base, return_counts=True)
        ctx, inv = np.unique(grams // V, return_inverse=True)
        tot = np.bincount(inv, weights=cnt).astype(np.float32)
        typ = np.bincount(inv).astype(np.float32)
        q = codes(va[n - m:], m)
        gi = np.searchsorted(grams, q).clip(max=max(len(grams) - 1, 0))
        hit = (grams[gi] == q) if len(grams) else np.zeros(len(q), bool)
        num = np.where(hit, cnt[gi] if len(grams) else 0, 0).astype(np.float32)
        ci = np.searchsorted(ctx, q // V).clip(max=max(len(ctx) - 1, 0))
        seen = (ctx[ci] == q // V) if len(ctx) else np.zeros(len(q), bool)
        den = np.where(seen, tot[ci] if len(ctx) else 0, 0)
        ty = np.where(seen, typ[ci] if len(ctx) else 0, 0)
        p = np.where(seen, (np.maximum(num - D, 0) + D * ty * p) / np.where(seen, den, 1), p).astype(np.float32)
    return p
"""
RIGHT["language-models.ipynb"]["ex-kneser-ney"] = [*RIGHT["language-models.ipynb"]["ex-kneser-ney"], KN_NUMPY_FLOAT32]


# the cosine from a float32 tensor, returned with .item()
LR_TORCH_COS = """
def lr_at(step, lr, min_lr, warmup, max_steps):
    if step < warmup:
        return lr * (step + 1) / warmup
    if step > max_steps:
        return min_lr
    progress = torch.tensor((step - warmup) / (max_steps - warmup))
    return (min_lr + 0.5 * (1 + torch.cos(math.pi * progress)) * (lr - min_lr)).item()
"""
RIGHT["language-models.ipynb"]["ex-lr"] = [*RIGHT["language-models.ipynb"]["ex-lr"], LR_TORCH_COS]


# the rate passed through a float32 tensor
TRAIN_RATE_FLOAT32 = """
def train(model, train_data, val_data, *, steps, batch_size, lr, min_lr, warmup,
          weight_decay=0.1, grad_clip=1.0, eval_every=100, eval_batches=10, seed=0):

    dev = next(model.parameters()).device
    T = model.block_size
    gen = torch.Generator().manual_seed(seed)
    vb = fixed_batches(val_data, eval_batches, batch_size, T)
    opt = torch.optim.AdamW(param_groups(dict(model.named_parameters()), weight_decay), lr=lr, betas=(0.9, 0.99),
                            **({"fused": True} if dev.type == "cuda" else {}))
    run = torch.compile(model) if dev.type == "cuda" else model
    lrs, losses, evals = [], [], []
    elapsed, tokens = 0.0, 0
    for step in range(steps):
        if step % eval_every == 0:
            evals.append([step, evaluate(model, vb), elapsed])
        t0 = time.time()
        rate = lr_at(step, lr, min_lr, warmup, steps)
        rate = torch.tensor(rate).item()
        for grp in opt.param_groups:
            grp["lr"] = rate
        x, y = (t.to(dev) for t in get_batch(train_data, batch_size, T, gen))
        opt.zero_grad()
        with autocast(dev):
            logits, loss = run(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), grad_clip)
        opt.step()
        lrs.append(float(rate)); losses.append(loss.item()); tokens += x.shape[0] * x.shape[1]
        elapsed += time.time() - t0
    evals.append([steps, evaluate(model, vb), elapsed])
    return {"lr": lrs, "loss": losses, "eval": evals, "tokens": tokens}
"""
RIGHT["language-models.ipynb"]["ex-train"] = [*RIGHT["language-models.ipynb"]["ex-train"], TRAIN_RATE_FLOAT32]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)


# --- the prose quotes the shipped results -----------------------------------------------------------


def _markdown() -> str:
    from moduletools import source

    nb = source(MODULE, "language-models.ipynb")
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _studies() -> dict:
    import json

    from course import gpt_train
    from course.data import data_path

    return json.loads(data_path(gpt_train.STUDIES_NAME).read_text())


def _fit(N, L):
    """Least squares of L = E + A N^-alpha by variable projection (the exercise's reference)."""
    import numpy as np
    from scipy.optimize import minimize_scalar

    N, L = np.asarray(N, float), np.asarray(L, float)

    def solve(a):
        X = np.stack([np.ones_like(N), N**-a], axis=1)
        coef, *_ = np.linalg.lstsq(X, L, rcond=None)
        return coef, float(np.sum((X @ coef - L) ** 2))

    grid = np.linspace(0.005, 3.0, 600)
    i = int(np.argmin([solve(a)[1] for a in grid]))
    r = minimize_scalar(lambda a: solve(a)[1], bounds=(grid[max(i - 1, 0)], grid[min(i + 1, 599)]),
                        method="bounded", options={"xatol": 1e-12})
    (E, A), _ = solve(r.x)
    return E, A, r.x


def test_prose_quotes_the_shipped_checkpoint():
    """The shipped model's record, as the markdown quotes it (not the old 1,200 steps of 32)."""
    from course.gpt import load_pretrained

    text = _markdown()
    model, _ = load_pretrained()
    extra = model.checkpoint_extra
    assert extra["step"] == 8000 and extra["train"]["batch_size"] == 16
    assert "1,200 steps" not in text, "the old, wrong training record"
    summary = text[text.rindex("## Summary"):]
    assert f"{extra['val_loss']:.3f}" in summary, "the summary quotes the shipped model's validation loss"
    assert f"{extra['step']:,} steps of {extra['train']['batch_size']} windows" in summary
    chars = extra["step"] * extra["train"]["batch_size"] * model.config.block_size
    assert f"{chars / 1e6:.1f} M characters" in summary


def test_prose_quotes_the_shipped_studies():
    import re

    text = _markdown()
    studies = _studies()
    variants = {v["name"]: v for v in studies["variants"]}
    assert {v["params"] for v in variants.values()} == {813_824}, "equal parameters, as the prose says"
    assert {v["tokens"] for v in variants.values()} == {400 * 16 * 128} and "819,200 tokens" in text
    m = re.search(r"GPT-2 reached (\d\.\d{3}), LLaMA (\d\.\d{3}) and ALiBi (\d\.\d{3})", text)
    assert m, "the summary quotes the three variants' losses"
    assert [float(x) for x in m.groups()] == [round(variants[k]["val_loss"], 3) for k in ("GPT-2", "LLaMA", "ALiBi")]
    scaling = studies["scaling"]
    tokens = {r["tokens"] for r in scaling}
    assert tokens == {300 * 16 * 64} and "307,200 tokens" in text
    ratios = [r["tokens"] / r["non_embedding_params"] for r in scaling]
    assert f"{max(ratios):.0f} tokens per" in text and f"down to {min(ratios):.1f}" in text
    E, A, alpha = _fit([r["non_embedding_params"] for r in scaling], [r["val_loss"] for r in scaling])
    m = re.search(r"alpha = (\d\.\d\d)\$? and \$?E = (\d\.\d\d)", text)
    assert m, "the summary quotes the scaling fit"
    assert (float(m[1]), float(m[2])) == (round(alpha, 2), round(E, 2))


def test_syllabus_time_matches_the_notebook():
    from autograder import paths

    row = next(r for r in (paths.COURSE / "README.md").read_text().splitlines() if f"]({MODULE}/" in r)
    hours = row.split("|")[3].strip()
    assert f"Estimated time: {hours.replace(' h', '')} hours" in _markdown()
