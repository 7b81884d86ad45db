"""Module 09 (prompt tuning): wrong answers are rejected, correct answers written differently keep
full marks, and the shared helpers in course.adapt work."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    right_answer_cases,
    wrong_answer_cases,
)

from course import adapt
from course.gpt import GPT, GPTConfig

MODULE = "09-prompt-tuning"
pytestmark = pytest.mark.module09

# --- plausible wrong answers, one notebook cell each ---------------------------------------------

ZS_FIRST_TOKEN = """
def zero_shot_log_probs(model, tokenizer, texts, template, label_words):
    ids = [tokenizer.encode(w)[0] for w in label_words]  # a long label word is silently cut
    out = []
    with torch.no_grad():
        for t in texts:
            logits = model(torch.tensor([tokenizer.encode(template.format(text=t))]))[0][0, -1]
            out.append(torch.log_softmax(logits[ids], dim=-1))
    return torch.stack(out)
"""

ZS_FULL_VOCAB = """
def zero_shot_log_probs(model, tokenizer, texts, template, label_words):
    ids = []
    for w in label_words:
        if len(tokenizer.encode(w)) != 1:
            raise ValueError(w)
        ids.append(tokenizer.encode(w)[0])
    out = []
    with torch.no_grad():
        for t in texts:
            logits = model(torch.tensor([tokenizer.encode(template.format(text=t))]))[0][0, -1]
            out.append(torch.log_softmax(logits, dim=-1)[ids])  # not renormalised over the labels
    return torch.stack(out)
"""

ZS_PADDED = """
def zero_shot_log_probs(model, tokenizer, texts, template, label_words):
    ids = []
    for w in label_words:
        if len(tokenizer.encode(w)) != 1:
            raise ValueError(w)
        ids.append(tokenizer.encode(w)[0])
    prompts = [tokenizer.encode(template.format(text=t)) for t in texts]
    n = max(len(p) for p in prompts)
    pad = tokenizer.encode(" ")[0]
    idx = torch.tensor([p + [pad] * (n - len(p)) for p in prompts])  # right padding
    with torch.no_grad():
        logits = model(idx)[0][:, -1, ids]
    return torch.log_softmax(logits, dim=-1)
"""

SOFT_ADDED = """
class SoftPrompt(nn.Module):
    def __init__(self, model, n_tokens, init="random", init_ids=None):
        super().__init__()
        model.requires_grad_(False)
        self.model = model
        emb = model.tok_emb.weight.detach()
        if init == "random":
            prompt = torch.randn(n_tokens, emb.shape[1]) * emb.std()
        elif init == "vocab":
            prompt = emb[torch.randint(emb.shape[0], (n_tokens,))]
        else:
            ids = torch.as_tensor(init_ids).reshape(-1)
            prompt = emb[ids[torch.arange(n_tokens) % len(ids)]]
        self.prompt = nn.Parameter(prompt.clone())

    def forward(self, idx, targets=None):
        x = self.model.tok_emb(idx)
        P = self.prompt.shape[0]
        x = torch.cat([x[:, :P] + self.prompt, x[:, P:]], dim=1)  # added to the first tokens
        logits = self.model(inputs_embeds=x)[0]
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss
"""

SOFT_UNFROZEN = """
class SoftPrompt(nn.Module):
    def __init__(self, model, n_tokens, init="random", init_ids=None):
        super().__init__()
        self.model = model  # the base model is left trainable
        emb = model.tok_emb.weight.detach()
        if init == "random":
            prompt = torch.randn(n_tokens, emb.shape[1]) * emb.std()
        elif init == "vocab":
            prompt = emb[torch.randint(emb.shape[0], (n_tokens,))]
        else:
            ids = torch.as_tensor(init_ids).reshape(-1)
            prompt = emb[ids[torch.arange(n_tokens) % len(ids)]]
        self.prompt = nn.Parameter(prompt.clone())

    def forward(self, idx, targets=None):
        B, P = idx.shape[0], self.prompt.shape[0]
        x = torch.cat([self.prompt.expand(B, -1, -1), self.model.tok_emb(idx)], dim=1)
        logits = self.model(inputs_embeds=x)[0][:, P:]
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss
"""

SOFT_NOT_TRAINABLE = SOFT_UNFROZEN.replace(
    "        self.model = model  # the base model is left trainable\n",
    "        model.requires_grad_(False)\n        self.model = model\n",
).replace(
    "self.prompt = nn.Parameter(prompt.clone())",
    "self.register_buffer('prompt', prompt.clone())  # a buffer: never trained",
)

PREFIX_CORRECT = """
class PrefixTuning(nn.Module):
    def __init__(self, model, prefix_len, hidden=None):
        super().__init__()
        model.requires_grad_(False)
        self.model = model
        cfg = model.config
        self.kv = self.embedding = self.mlp = None
        if hidden is None:
            self.kv = nn.Parameter(torch.randn(cfg.n_layer, 2, prefix_len, cfg.n_embd))
        else:
            self.embedding = nn.Parameter(torch.randn(prefix_len, cfg.n_embd))
            self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, hidden), nn.Tanh(), nn.Linear(hidden, cfg.n_layer * 2 * cfg.n_embd))

    def prefixes(self):
        if self.kv is not None:
            return self.kv
        cfg = self.model.config
        P = self.embedding.shape[0]
        return self.mlp(self.embedding).view(P, cfg.n_layer, 2, cfg.n_embd).permute(1, 2, 0, 3)

    def prefix_kv(self, batch_size):
        kv = self.prefixes()
        n_layer, _, P, C = kv.shape
        nh = self.model.config.n_head
        kv = kv.reshape(n_layer, 2, P, nh, C // nh).transpose(2, 3)
        return [(kv[i, 0].expand(batch_size, -1, -1, -1), kv[i, 1].expand(batch_size, -1, -1, -1)) for i in range(n_layer)]

    def merge(self):
        if self.kv is None:
            with torch.no_grad():
                kv = self.prefixes().detach().clone()
            self.embedding = None
            self.mlp = None
            self.kv = nn.Parameter(kv)
        return self

    def forward(self, idx, targets=None):
        return self.model(idx, targets, prefix_kv=self.prefix_kv(idx.shape[0]))
"""

# The prefix also enters as input vectors: it then has queries and hidden states of its own.
PREFIX_QUERIES = PREFIX_CORRECT.replace(
    "        return self.model(idx, targets, prefix_kv=self.prefix_kv(idx.shape[0]))\n",
    """        B = idx.shape[0]
        first = self.prefixes()[0, 0]
        P = first.shape[0]
        x = torch.cat([first.expand(B, -1, -1), self.model.tok_emb(idx)], dim=1)
        logits = self.model(inputs_embeds=x, prefix_kv=self.prefix_kv(B))[0][:, P:]
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss
""",
)
assert PREFIX_QUERIES != PREFIX_CORRECT

# merge() caches the prefixes but keeps the MLP (and its embedding) around.
PREFIX_KEEPS_MLP = PREFIX_CORRECT.replace(
    """            self.embedding = None
            self.mlp = None
            self.kv = nn.Parameter(kv)""",
    """            self.kv = nn.Parameter(kv)""",
)
assert PREFIX_KEEPS_MLP != PREFIX_CORRECT

# merge() stores the MLP's output in another layout than the one prefixes() used while training.
PREFIX_BAD_MERGE = PREFIX_CORRECT.replace(
    "                kv = self.prefixes().detach().clone()",
    "                cfg = self.model.config\n"
    "                kv = self.mlp(self.embedding).detach().reshape(cfg.n_layer, 2, -1, cfg.n_embd).clone()",
)
assert PREFIX_BAD_MERGE != PREFIX_CORRECT

ZS_CORRECT = """
def zero_shot_log_probs(model, tokenizer, texts, template, label_words):
    ids = []
    for word in label_words:
        enc = tokenizer.encode(word)
        if len(enc) != 1:
            raise ValueError(word)
        ids.append(enc[0])
    prompts = [tokenizer.encode(template.format(text=t)) for t in texts]
    by_length = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    out = torch.empty(len(prompts), len(ids))
    with torch.no_grad():
        for rows in by_length.values():
            logits = model(torch.tensor([prompts[i] for i in rows]))[0][:, -1, ids]
            out[rows] = torch.log_softmax(logits, dim=-1)
    return out
"""
# the batches of equal-length prompts concatenated in batch order, not put back in the input order
ZS_GROUP_ORDER = ZS_CORRECT.replace(
    """    out = torch.empty(len(prompts), len(ids))
    with torch.no_grad():
        for rows in by_length.values():
            logits = model(torch.tensor([prompts[i] for i in rows]))[0][:, -1, ids]
            out[rows] = torch.log_softmax(logits, dim=-1)
    return out""",
    """    out = []
    with torch.no_grad():
        for rows in by_length.values():
            logits = model(torch.tensor([prompts[i] for i in rows]))[0][:, -1, ids]
            out.append(torch.log_softmax(logits, dim=-1))
    return torch.cat(out)""",
)
# the label ids sorted (a set of ids): columns no longer in the order of label_words
ZS_SORTED_IDS = ZS_CORRECT.replace("    prompts = [", "    ids = sorted(set(ids))\n    prompts = [")
assert len({ZS_CORRECT, ZS_GROUP_ORDER, ZS_SORTED_IDS}) == 3

SOFT_CORRECT = SOFT_NOT_TRAINABLE.replace(
    "self.register_buffer('prompt', prompt.clone())  # a buffer: never trained", "self.prompt = nn.Parameter(prompt.clone())"
)
# init="labels": each id repeated in a block (7, 7, 7, 3, 3) instead of cyclically (7, 3, 7, 3, 7)
SOFT_LABELS_BLOCKS = SOFT_CORRECT.replace(
    "prompt = emb[ids[torch.arange(n_tokens) % len(ids)]]",
    "prompt = emb[ids.repeat_interleave(-(-n_tokens // len(ids)))[:n_tokens]]",
)
assert SOFT_LABELS_BLOCKS != SOFT_CORRECT and SOFT_CORRECT != SOFT_NOT_TRAINABLE

# the prefixes drawn with a small standard deviation instead of N(0, 1)
PREFIX_SMALL_INIT = PREFIX_CORRECT.replace(
    "torch.randn(cfg.n_layer, 2, prefix_len, cfg.n_embd)", "0.02 * torch.randn(cfg.n_layer, 2, prefix_len, cfg.n_embd)"
)
assert PREFIX_SMALL_INIT != PREFIX_CORRECT

ENC_CORRECT = """
class PromptEncoder(nn.Module):
    def __init__(self, n_tokens, width, kind="lstm"):
        super().__init__()
        self.embedding = nn.Embedding(n_tokens, width)
        self.lstm = nn.LSTM(width, width // 2, num_layers=2, bidirectional=True, batch_first=True) if kind == "lstm" else None
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self):
        h = self.embedding.weight[None]
        if self.lstm is not None:
            h = self.lstm(h)[0]
        return self.mlp(h)[0]
"""
ENC_ONE_WAY = ENC_CORRECT.replace(
    "nn.LSTM(width, width // 2, num_layers=2, bidirectional=True, batch_first=True)",
    "nn.LSTM(width, width, num_layers=2, batch_first=True)",
)
ENC_LSTM_UNUSED = ENC_CORRECT.replace("            h = self.lstm(h)[0]\n", "            pass\n")
ENC_NO_MLP = ENC_CORRECT.replace(
    "        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))",
    "        self.mlp = nn.Identity()",
)
assert len({ENC_CORRECT, ENC_ONE_WAY, ENC_LSTM_UNUSED, ENC_NO_MLP}) == 4

# an LSTM without batch_first: the (1, P, C) input is read as P sequences of length 1, uncoupled
ENC_SEQ_AS_BATCH = ENC_CORRECT.replace(
    "nn.LSTM(width, width // 2, num_layers=2, bidirectional=True, batch_first=True)",
    "nn.LSTM(width, width // 2, num_layers=2, bidirectional=True)",
)
assert ENC_SEQ_AS_BATCH != ENC_CORRECT

LORA_CORRECT = """
class LoRALinear(nn.Module):
    def __init__(self, base, r=4, alpha=8.0):
        super().__init__()
        base.requires_grad_(False)
        self.base = base
        self.scaling = alpha / r
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + (x @ self.A.T @ self.B.T) * self.scaling

    def merged_weight(self):
        return (self.base.weight + self.scaling * self.B @ self.A).detach()
"""
LORA_RANDOM_B = LORA_CORRECT.replace(
    "torch.zeros(base.out_features, r)", "torch.randn(base.out_features, r) * 0.02"
)
LORA_NO_SCALING = LORA_CORRECT.replace("self.scaling = alpha / r", "self.scaling = 1.0")
LORA_UNFROZEN = LORA_CORRECT.replace("        base.requires_grad_(False)\n", "")
assert len({LORA_CORRECT, LORA_RANDOM_B, LORA_NO_SCALING, LORA_UNFROZEN}) == 4

# A drawn from a standard normal instead of nn.Linear's Kaiming-uniform
LORA_RANDN_A = LORA_CORRECT.replace(
    "        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))\n", "        nn.init.normal_(self.A)\n"
)
# the bias added by hand: fails for a layer without bias
LORA_OWN_BIAS = LORA_CORRECT.replace(
    "return self.base(x) + ", "return x @ self.base.weight.T + self.base.bias + "
)
assert len({LORA_CORRECT, LORA_RANDN_A, LORA_OWN_BIAS}) == 3

ADAPTER_CORRECT = """
class Adapter(nn.Module):
    def __init__(self, sublayer, width, bottleneck=16):
        super().__init__()
        sublayer.requires_grad_(False)
        self.sublayer = sublayer
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x, *args, **kwargs):
        h = self.sublayer(x, *args, **kwargs)
        return h + self.up(F.gelu(self.down(h)))
"""
# the up-projection keeps nn.Linear's random init: the model changes before any training
ADAPTER_RANDOM_UP = ADAPTER_CORRECT.replace("        nn.init.zeros_(self.up.weight)\n        nn.init.zeros_(self.up.bias)\n", "")
# no inner residual: the sublayer's output is replaced by the bottleneck's
ADAPTER_NO_RESIDUAL = ADAPTER_CORRECT.replace("return h + self.up(", "return self.up(")
# the sublayer left trainable
ADAPTER_UNFROZEN = ADAPTER_CORRECT.replace("        sublayer.requires_grad_(False)\n", "")
# ReLU instead of GELU
ADAPTER_RELU = ADAPTER_CORRECT.replace("F.gelu(", "F.relu(")
# keyword arguments dropped: the attention never sees rope, prefix_kv or the mask
ADAPTER_NO_KWARGS = ADAPTER_CORRECT.replace(
    "    def forward(self, x, *args, **kwargs):\n        h = self.sublayer(x, *args, **kwargs)",
    "    def forward(self, x, *args, **kwargs):\n        h = self.sublayer(x)",
)
# only the bias of the up-projection zeroed: its weight is random
ADAPTER_BIAS_ONLY = ADAPTER_CORRECT.replace("        nn.init.zeros_(self.up.weight)\n", "")
assert len({ADAPTER_CORRECT, ADAPTER_RANDOM_UP, ADAPTER_NO_RESIDUAL, ADAPTER_UNFROZEN, ADAPTER_RELU,
            ADAPTER_NO_KWARGS, ADAPTER_BIAS_ONLY}) == 7

# GELU where the spec's MLP has ReLU
ENC_GELU = """
class PromptEncoder(nn.Module):
    def __init__(self, n_tokens, width, kind="lstm"):
        super().__init__()
        self.n_tokens = n_tokens
        self.embedding = nn.Embedding(n_tokens, width)
        self.lstm = nn.LSTM(width, width // 2, num_layers=2, bidirectional=True, batch_first=True) if kind == "lstm" else None
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))

    def forward(self):
        ids = torch.arange(self.n_tokens, device=self.embedding.weight.device)
        h = self.embedding(ids).unsqueeze(0)
        if self.lstm is not None:
            h, _ = self.lstm(h)
        return self.mlp(h).squeeze(0)
"""
# a residual the spec does not have: the embeddings added to the MLP's output
ENC_PLUS_EMBEDDING = """
class PromptEncoder(nn.Module):
    def __init__(self, n_tokens, width, kind="lstm"):
        super().__init__()
        self.n_tokens = n_tokens
        self.embedding = nn.Embedding(n_tokens, width)
        self.lstm = nn.LSTM(width, width // 2, num_layers=2, bidirectional=True, batch_first=True) if kind == "lstm" else None
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self):
        ids = torch.arange(self.n_tokens, device=self.embedding.weight.device)
        h = self.embedding(ids).unsqueeze(0)
        if self.lstm is not None:
            h, _ = self.lstm(h)
        return self.mlp(h).squeeze(0) + self.embedding(ids)
"""
# the MLP's output reshaped straight to (n_layer, 2, P, C), not viewed as (P, n_layer, 2, C) and permuted
PREFIX_RESHAPED = """
class PrefixTuning(nn.Module):
    def __init__(self, model, prefix_len, hidden=None):
        super().__init__()
        model.requires_grad_(False)
        self.model = model
        cfg = model.config
        self.prefix_len = prefix_len
        self.n_layer, self.n_embd, self.n_head = cfg.n_layer, cfg.n_embd, cfg.n_head
        dev = next(model.parameters()).device
        if hidden is None:
            self.kv = nn.Parameter(torch.randn(cfg.n_layer, 2, prefix_len, cfg.n_embd, device=dev))
            self.embedding = None
            self.mlp = None
        else:
            self.kv = None
            self.embedding = nn.Parameter(torch.randn(prefix_len, cfg.n_embd, device=dev))
            self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, hidden), nn.Tanh(),
                                     nn.Linear(hidden, cfg.n_layer * 2 * cfg.n_embd)).to(dev)

    def prefixes(self):
        if self.mlp is None:
            return self.kv
        out = self.mlp(self.embedding)
        return out.reshape(self.n_layer, 2, self.prefix_len, self.n_embd)

    def prefix_kv(self, batch_size):
        kv = self.prefixes()
        hd = self.n_embd // self.n_head
        pairs = []
        for l in range(self.n_layer):
            k = kv[l, 0].reshape(self.prefix_len, self.n_head, hd).permute(1, 0, 2)
            v = kv[l, 1].reshape(self.prefix_len, self.n_head, hd).permute(1, 0, 2)
            pairs.append((k.unsqueeze(0).repeat(batch_size, 1, 1, 1), v.unsqueeze(0).repeat(batch_size, 1, 1, 1)))
        return pairs

    def merge(self):
        if self.mlp is not None:
            merged = self.prefixes().detach().clone()
            self.embedding = None
            self.mlp = None
            self.kv = nn.Parameter(merged)
        return self

    def forward(self, idx, targets=None):
        return self.model(idx, targets, prefix_kv=self.prefix_kv(idx.size(0)))
"""
# merged_weight() still attached to A and B (the spec says detached)
LORA_NOT_DETACHED = """
class LoRALinear(nn.Module):
    def __init__(self, base, r=4, alpha=8.0, dropout=0.0):
        super().__init__()
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        self.base = base
        self.scale = alpha / r
        self.dropout = nn.Dropout(dropout)
        A = torch.empty(r, base.in_features, device=base.weight.device)
        nn.init.kaiming_uniform_(A, a=math.sqrt(5))
        self.A = nn.Parameter(A)
        self.B = nn.Parameter(base.weight.new_zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + self.scale * (self.dropout(x) @ self.A.t() @ self.B.t())

    def merged_weight(self):
        return self.base.weight + self.scale * (self.B @ self.A)
"""

WRONG = {
    "prompt-tuning.ipynb": {
        "ex-zero-shot": [ZS_FIRST_TOKEN, ZS_FULL_VOCAB, ZS_PADDED, ZS_GROUP_ORDER, ZS_SORTED_IDS],
        "ex-soft-prompt": [SOFT_ADDED, SOFT_UNFROZEN, SOFT_NOT_TRAINABLE, SOFT_LABELS_BLOCKS],
        "ex-prefix": [PREFIX_QUERIES, PREFIX_KEEPS_MLP, PREFIX_BAD_MERGE, PREFIX_SMALL_INIT, PREFIX_RESHAPED],
        "ex-prompt-encoder": [ENC_ONE_WAY, ENC_LSTM_UNUSED, ENC_NO_MLP, ENC_SEQ_AS_BATCH, ENC_GELU, ENC_PLUS_EMBEDDING],
        "ex-lora": [LORA_RANDOM_B, LORA_NO_SCALING, LORA_UNFROZEN, LORA_RANDN_A, LORA_OWN_BIAS, LORA_NOT_DETACHED],
        "ex-adapter": [ADAPTER_RANDOM_UP, ADAPTER_NO_RESIDUAL, ADAPTER_UNFROZEN, ADAPTER_RELU, ADAPTER_NO_KWARGS,
                       ADAPTER_BIAS_ONLY],
    }
}


# an empty label word accepted (only len > 1 refused)
ZS_EMPTY_WORD_OK = """
def zero_shot_log_probs(model, tokenizer, texts, template, label_words):
    ids = []
    for word in label_words:
        enc = tokenizer.encode(word)
        if len(enc) > 1:   # an empty label word slips through
            raise ValueError(word)
        ids.append(enc[0] if enc else 0)
    out = []
    with torch.no_grad():
        for t in texts:
            logits = model(torch.tensor([tokenizer.encode(template.format(text=t))]))[0][0, -1]
            out.append(torch.log_softmax(logits[ids], dim=-1))
    return torch.stack(out)
"""
WRONG["prompt-tuning.ipynb"]["ex-zero-shot"] = [*WRONG["prompt-tuning.ipynb"]["ex-zero-shot"], ZS_EMPTY_WORD_OK]


# no torch.no_grad(): the log-probabilities carry a graph
ZS_WITH_GRAD = """
def zero_shot_log_probs(model, tokenizer, texts, template, label_words):
    ids = []
    for w in label_words:
        e = tokenizer.encode(w)
        if len(e) != 1:
            raise ValueError(w)
        ids.append(e[0])
    rows = []
    for t in texts:   # no torch.no_grad(): the result carries a graph
        logits = model(torch.tensor([tokenizer.encode(template.format(text=t))]))[0][0, -1]
        rows.append(torch.log_softmax(logits[ids], dim=-1))
    return torch.stack(rows)
"""
WRONG["prompt-tuning.ipynb"]["ex-zero-shot"] = [*WRONG["prompt-tuning.ipynb"]["ex-zero-shot"], ZS_WITH_GRAD]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)


RIGHT = {
    "prompt-tuning.ipynb": {
        # one prompt at a time (no batching), softmax over the label logits then log
        "ex-zero-shot": [
            """
def zero_shot_log_probs(model, tokenizer, texts, template, label_words):
    ids = [tokenizer.encode(w) for w in label_words]
    if any(len(i) != 1 for i in ids):
        raise ValueError("label words must be single tokens")
    ids = [i[0] for i in ids]
    rows = []
    with torch.no_grad():
        for t in texts:
            logits = model(torch.tensor([tokenizer.encode(template.format(text=t))]))[0][0, -1]
            rows.append(torch.log(torch.softmax(logits[ids].double(), dim=-1)).float())
    return torch.stack(rows)
""",
        ],
        "ex-soft-prompt": [SOFT_CORRECT],
        "ex-prefix": [PREFIX_CORRECT],
        "ex-prompt-encoder": [ENC_CORRECT],
        # the update as a functional linear layer, the merged weight through torch.addmm
        "ex-lora": [
            LORA_CORRECT.replace(
                "return self.base(x) + (x @ self.A.T @ self.B.T) * self.scaling",
                "return self.base(x) + self.scaling * F.linear(F.linear(x, self.A), self.B)",
            ).replace(
                "return (self.base.weight + self.scaling * self.B @ self.A).detach()",
                "return torch.addmm(self.base.weight, self.B, self.A, alpha=self.scaling).detach()",
            )
        ],
        # the bottleneck as an nn.Sequential, zeroed with torch.no_grad
        "ex-adapter": [
            """
class Adapter(nn.Module):
    def __init__(self, sublayer, width, bottleneck=16):
        super().__init__()
        for p in sublayer.parameters():
            p.requires_grad = False
        self.sublayer = sublayer
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        with torch.no_grad():
            self.up.weight.zero_()
            self.up.bias.zero_()
        self.net = nn.Sequential(self.down, nn.GELU(), self.up)

    def forward(self, x, *args, **kwargs):
        h = self.sublayer(x, *args, **kwargs)
        return h + self.net(h)
""",
        ],
    }
}


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_right_answer_keeps_full_marks(case):
    check_right_answer(case)


# --- the shared helpers --------------------------------------------------------------------------


def tiny_gpt(seed=0, **kw):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8, **kw))


def test_freeze_and_count_see_the_tied_matrix_once():
    model = tiny_gpt()
    assert adapt.count_params(model, trainable=False) == model.num_params()
    adapt.freeze(model)
    assert adapt.count_params(model) == 0 and not model.training


def test_train_moves_only_trainable_parameters():
    """Does adapt.train leave frozen weights bit-identical while the trainable ones move?"""
    model = adapt.freeze(tiny_gpt())
    before = adapt.snapshot(model)
    prompt = nn.Parameter(torch.zeros(2, 8))

    class Prompted(nn.Module):
        def __init__(self):
            super().__init__()
            self.model, self.prompt = model, prompt

        def forward(self, idx, targets=None):
            x = torch.cat([self.prompt.expand(len(idx), -1, -1), self.model.tok_emb(idx)], 1)
            logits = self.model(inputs_embeds=x)[0][:, 2:]
            return logits, F.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))

    data = torch.randint(0, 11, (200,))
    g = torch.Generator().manual_seed(0)
    res = adapt.train(
        Prompted(), adapt.lm_loss, lambda s: adapt.random_windows(data, 8, 4, g), steps=5, lr=0.1
    )
    assert res.trainable == 16 and len(res.losses) == 5
    assert adapt.unchanged(model, before)
    assert float(prompt.detach().abs().sum()) > 0
    with pytest.raises(ValueError):
        adapt.train(model, adapt.lm_loss, lambda s: None, steps=1, lr=0.1)


def test_windows_shift_by_one_and_fit():
    ids = torch.arange(100)
    x, y = adapt.fixed_windows(ids, 10, 5)
    assert x.shape == y.shape == (5, 10)
    assert torch.equal(y, x + 1) and len(set(x[:, 0].tolist())) == 5
    with pytest.raises(ValueError):
        adapt.fixed_windows(ids, 30, 5)
    xr, yr = adapt.random_windows(ids, 7, 3, torch.Generator().manual_seed(0))
    assert xr.shape == (3, 7) and torch.equal(yr, xr + 1)


def test_spelling_task_is_balanced_and_normalised():
    modern = (
        "I HAVE great comfort, from this fellow.\nMethinks he hath no drowning mark upon him " * 5
    )
    folio = (
        "I haue great comfort from this fellow: methinks he hath no drowning marke vpon him " * 5
    )
    texts, labels = adapt.spelling_task(modern, folio, 20, 10, seed=3)
    assert len(texts) == 10 and int(labels.sum()) == 5
    assert all(len(t) == 20 and t == t.lower() and "," not in t and "\n" not in t for t in texts)
    words = set(adapt.normalise_words(modern + folio).split())
    assert all(t.split(" ")[0] in words for t in texts), "snippets start at a word"


def test_accuracy_standard_error_is_binomial():
    acc, se = adapt.accuracy_se([1, 1, 1, 0])
    assert acc == 0.75 and math.isclose(se, math.sqrt(0.75 * 0.25 / 4))
