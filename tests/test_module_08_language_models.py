"""Module 08 (language models): does every exercise's test reject plausible wrong answers?"""

import pytest
from moduletools import assert_every_exercise_covered, check_wrong_answer, wrong_answer_cases

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

NGRAM_TEMPLATE = """
def ngram_probs(train_ids, val_ids, n, k, vocab_size):
    V = int(vocab_size)
    def codes(ids, m_):
        ids = np.asarray(ids, dtype=np.int64)
        m = len(ids) - m_ + 1
        c = np.zeros(max(m, 0), dtype=np.int64)
        for j in range(m_):
            c = c * V + ids[j:j + m]
        return c
    def lookup(keys, table, counts):
        if len(table) == 0:
            return np.zeros(len(keys))
        i = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        return np.where(table[i] == keys, counts[i], 0)
    tc, vc = codes(train_ids, n), codes(val_ids, n)
    grams, gc = np.unique(tc, return_counts=True)
    CONTEXTS
    num = lookup(vc, grams, gc)
    den = lookup(vc // V, contexts, cc)
    return RESULT
"""
NGRAM_K_NOT_KV = NGRAM_TEMPLATE.replace(
    "CONTEXTS", "contexts, cc = np.unique(tc // V, return_counts=True)"
).replace("RESULT", "(num + k) / (den + k)  # k instead of kV: does not sum to one")
NGRAM_RAW_CONTEXT_COUNTS = NGRAM_TEMPLATE.replace(
    "CONTEXTS",
    "contexts, cc = np.unique(codes(train_ids, n - 1), return_counts=True)  # every occurrence of h, the last one too",
).replace("RESULT", "(num + k) / (den + k * V)")

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

WRONG = {
    "language-models.ipynb": {
        "ex-merge": [MERGE_OVERLAPPING, MERGE_DROPS_LAST],
        "ex-ngram": [NGRAM_K_NOT_KV, NGRAM_RAW_CONTEXT_COUNTS],
        "ex-attention": [ATT_MASK_AFTER_SOFTMAX, ATT_SCALE_D, ATT_SEES_NEXT],
        "ex-mha": [MHA_NO_TRANSPOSE, MHA_ONE_HEAD],
        "ex-mlp": [MLP_RELU],
        "ex-block": [BLOCK_POST_NORM, BLOCK_ONE_NORM, BLOCK_NO_MLP_RESIDUAL],
        "ex-gpt": [GPT_UNTIED, GPT_DEFAULT_INIT, GPT_NO_POSITIONS],
        "ex-rmsnorm": [RMS_SUBTRACTS_MEAN, RMS_EPS_OUTSIDE, RMS_ALL_AXES],
        "ex-rope": [ROPE_HALVES, ROPE_WRONG_FREQ, ROPE_FROM_ONE],
        "ex-swiglu": [SWIGLU_SILU_ON_UP, SWIGLU_GELU],
        "ex-lr": [LR_WARMUP_OFF_BY_ONE, LR_NEVER_MIN, LR_TO_ZERO],
        "ex-param-groups": [PG_ALL, PG_BY_NAME],
        "ex-sampling": [SAMPLING_TIMES_T, SAMPLING_NOT_RENORMALISED],
        "ex-train": [TRAIN_CONSTANT_LR, TRAIN_SCHEDULE_PAST_STEPS, TRAIN_NO_ZERO_GRAD],
    }
}


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)
