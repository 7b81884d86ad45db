"""A small decoder-only transformer (GPT), the model of module 08 that module 09 prompt-tunes.

One file, one idea, in the spirit of nanoGPT's ``model.py``: a config dataclass, attention, MLP,
block, model, a character tokenizer and checkpoint helpers. Besides the GPT-2 choices
(LayerNorm, GELU MLP, learned positions) it has the LLaMA-style variants RMSNorm, SwiGLU and
rotary position embeddings (RoPE), and BLOOM's ALiBi (linear attention biases), picked by the
config. The attention mask is an argument: causal by default (a GPT), or any boolean matrix, so
the same blocks make a bidirectional encoder (BERT) or a prefix decoder (GLM).

Two hooks exist for module 09: ``inputs_embeds`` (soft prompts are vectors fed in place of token
embeddings) and ``prefix_kv`` (prefix tuning prepends learned keys and values in every layer).

>>> model, tok = load_pretrained()                    # doctest: +SKIP
>>> ids = torch.tensor([tok.encode("ROMEO:")])        # doctest: +SKIP
>>> print(tok.decode(model.generate(ids, 100)[0].tolist()))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

CHECKPOINT_NAME = "gpt/shakespeare-char.pt"


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    norm: str = "layernorm"  # or "rmsnorm"
    mlp: str = "gelu"  # or "swiglu"
    pos: str = "learned"  # or "rope" or "alibi"
    mlp_hidden: int | None = None  # None: 4C (GELU), 64 * ceil(8C / 3 / 64) (SwiGLU)

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")
        if self.norm not in ("layernorm", "rmsnorm"):
            raise ValueError(f"norm={self.norm!r}: use 'layernorm' or 'rmsnorm'")
        if self.mlp not in ("gelu", "swiglu"):
            raise ValueError(f"mlp={self.mlp!r}: use 'gelu' or 'swiglu'")
        if self.pos not in ("learned", "rope", "alibi"):
            raise ValueError(f"pos={self.pos!r}: use 'learned', 'rope' or 'alibi'")
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError("RoPE rotates pairs of features: the head size must be even")


# --- pieces ------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight: LayerNorm without the mean and the bias."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32: under bf16 autocast the mean of squares loses too many bits.
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.type_as(x) * self.weight


def make_norm(config: GPTConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


def rope_angles(
    T: int, head_dim: int, base: float = 10000.0, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles t * base^(-2i/d), each (T, head_dim // 2)."""
    inv_freq = base ** (
        -torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim
    )
    angles = torch.outer(torch.arange(T, dtype=torch.float32, device=device), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair of features (x[2i], x[2i+1]) of x (..., T, d) by the angle of its position.

    The RoFormer convention (Su et al. 2021): pairs are adjacent features. Rotations compose,
    so <R_m q, R_n k> depends on m - n only: attention sees relative positions.
    """
    x1, x2 = x[..., 0::2].float(), x[..., 1::2].float()
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    return out.type_as(x)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """ALiBi's head slopes (Press et al. 2022), as BLOOM builds them: for n a power of two,
    2^(-8/n), 2^(-16/n), ..., 2^(-8); otherwise the slopes of the nearest smaller power of two,
    then every other slope of the next power of two."""
    closest = 2 ** math.floor(math.log2(n_head))
    base = 2.0 ** (-8.0 / closest)
    slopes = [base ** (i + 1) for i in range(closest)]
    if closest < n_head:
        extra = 2.0 ** (-4.0 / closest)  # 2^(-8 / (2 * closest))
        slopes += [extra ** (2 * i + 1) for i in range(n_head - closest)]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(n_head: int, T: int, device=None) -> torch.Tensor:
    """(n_head, T, T) additive attention bias -slope_h * |i - j|: a linear penalty on distance,
    no position embedding at all, so a model trained at one length runs at a longer one."""
    pos = torch.arange(T, device=device)
    distance = (pos[:, None] - pos[None, :]).abs().float()
    return -alibi_slopes(n_head).to(device)[:, None, None] * distance


def causal_mask(T: int, device=None) -> torch.Tensor:
    """(T, T) boolean, True where query i may attend to key j: j <= i (a GPT)."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, rope=None, prefix_kv=None, attn_mask=None, bias=None):
        """attn_mask: None (causal) or a boolean mask broadcastable to (B, n_head, T, T), True
        where a query may attend; bias: an additive (n_head, T, T) bias (ALiBi)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim): heads attend independently, in parallel.
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if rope is not None:
            cos, sin = rope
            q, k = apply_rope(q, cos[:T], sin[:T]), apply_rope(k, cos[:T], sin[:T])
        dropout = self.dropout if self.training else 0.0
        P = 0
        if prefix_kv is not None:
            pk, pv = prefix_kv
            P = pk.shape[2]
            k = torch.cat((pk.expand(B, -1, -1, -1).to(k.dtype), k), dim=2)
            v = torch.cat((pv.expand(B, -1, -1, -1).to(v.dtype), v), dim=2)
        if attn_mask is None and bias is None:
            # The fused kernels (flash attention on CUDA) build the causal mask themselves. With
            # P prefix slots the mask is causal aligned to the lower right: query i sees keys
            # 0..P+i, i.e. every prefix slot and the tokens up to itself.
            if P:
                mask = causal_lower_right(T, P + T)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
            else:
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:
            # An explicit mask or an additive bias: CUDA's memory-efficient kernel takes it
            # (flash attention takes no mask); a materialised (T, P + T) mask is small.
            mask = causal_mask(T, x.device) if attn_mask is None else attn_mask
            if P:  # every query sees all P prefix slots, then what the mask allows
                mask = torch.cat((mask.new_ones(*mask.shape[:-1], P), mask), dim=-1)
            if bias is not None:
                if P:  # prefix slots have no position: no distance penalty
                    bias = torch.cat((bias.new_zeros(*bias.shape[:-1], P), bias), dim=-1)
                mask = bias.to(q.dtype).masked_fill(~mask, float("-inf"))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    """GPT-2's MLP: C -> 4C (or mlp_hidden) -> GELU -> C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_hidden or 4 * config.n_embd
        self.fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class SwiGLU(nn.Module):
    """LLaMA's MLP: proj(silu(gate x) * up x), hidden ~ 8C/3 so the size matches GPT-2's MLP
    (``mlp_hidden`` sets it exactly, e.g. to match a GPT-2 model's parameter count)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_hidden or 64 * math.ceil(8 * config.n_embd / 3 / 64)
        self.gate = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.up = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.proj(F.silu(self.gate(x)) * self.up(x)))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln2 = make_norm(config)
        self.mlp = SwiGLU(config) if config.mlp == "swiglu" else MLP(config)

    def forward(self, x, rope=None, prefix_kv=None, attn_mask=None, bias=None):
        x = x + self.attn(self.ln1(x), rope=rope, prefix_kv=prefix_kv, attn_mask=attn_mask, bias=bias)
        return x + self.mlp(self.ln2(x))


# --- the model ---------------------------------------------------------------------------------


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = (
            nn.Embedding(config.block_size, config.n_embd) if config.pos == "learned" else None
        )
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = make_norm(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying (Press & Wolf 2017): the same matrix reads tokens in and scores them out.
        self.lm_head.weight = self.tok_emb.weight
        if config.pos == "rope":
            cos, sin = rope_angles(config.block_size, config.n_embd // config.n_head)
            # Buffers follow .to(device) but are not saved: they are a function of the config.
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 n_layer) so the residual stream's
        # variance does not grow with depth at initialisation.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Number of parameters (the tied matrix once); ``non_embedding`` leaves out the token
        and position embeddings, as Kaplan et al. (2020) count model size."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel()
            if self.pos_emb is not None:
                n -= self.pos_emb.weight.numel()
        return n

    def forward(self, idx=None, targets=None, *, inputs_embeds=None, prefix_kv=None, attn_mask=None):
        """idx (B, T) long, or inputs_embeds (B, T, C) used instead of tok_emb(idx) (soft prompts);
        positions 0..T-1 are added in both cases. prefix_kv: optional list (one per layer) of
        (k, v), each (B, n_head, P, head_dim), prepended to that layer's keys and values; every
        query may attend to all P prefix positions (prefix tuning). attn_mask: None for causal
        attention, or a boolean (T, T) or (B, 1, T, T) mask, True where query i may attend to key
        j (all True: a bidirectional encoder). targets (B, T) long, -100 = ignore. Returns
        (logits (B, T, V), loss or None) with loss = mean cross-entropy in nats.

        With pos="rope", the prefix keys are used as given (not rotated): they have no position.
        RoPE and ALiBi models accept sequences longer than block_size (length extrapolation);
        learned positions do not.
        """
        if (idx is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of idx and inputs_embeds")
        x = self.tok_emb(idx) if inputs_embeds is None else inputs_embeds
        T = x.shape[1]
        if T > self.config.block_size and self.config.pos == "learned":
            raise ValueError(
                f"sequence of length {T} is longer than block_size={self.config.block_size}"
            )
        if prefix_kv is not None and len(prefix_kv) != len(self.blocks):
            raise ValueError(
                f"prefix_kv needs one (k, v) per layer: {len(self.blocks)}, got {len(prefix_kv)}"
            )
        if attn_mask is not None:
            attn_mask = torch.as_tensor(attn_mask, device=x.device)
            if attn_mask.dtype != torch.bool or attn_mask.shape[-2:] != (T, T):
                raise ValueError(f"attn_mask must be a boolean (..., {T}, {T}) tensor")
            if attn_mask.dim() == 3:  # (B, T, T): the same mask for every head
                attn_mask = attn_mask[:, None]
        rope = bias = None
        if self.config.pos == "learned":
            x = x + self.pos_emb(torch.arange(T, device=x.device))
        elif self.config.pos == "rope":
            if T <= self.rope_cos.shape[0]:
                rope = (self.rope_cos, self.rope_sin)
            else:
                rope = rope_angles(T, self.config.n_embd // self.config.n_head, device=x.device)
        else:
            bias = alibi_bias(self.config.n_head, T, x.device)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            pkv = None if prefix_kv is None else prefix_kv[i]
            x = block(x, rope=rope, prefix_kv=pkv, attn_mask=attn_mask, bias=bias)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
            )
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        *,
        generator: torch.Generator | None = None,
        prefix_kv=None,
        prefix_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to idx (B, T); returns (B, T + max_new_tokens).

        temperature 0 means greedy decoding; top_k keeps the k most likely tokens. The context is
        cropped to the last block_size tokens. ``prefix_kv`` is passed to every forward;
        ``prefix_embeds`` (P, C) or (B, P, C) are prepended embeddings (a soft prompt) that take
        P of the block_size positions.
        """
        P = 0 if prefix_embeds is None else prefix_embeds.shape[-2]
        for _ in range(max_new_tokens):
            context = idx[:, -(self.config.block_size - P) :]
            if prefix_embeds is None:
                logits, _ = self(context, prefix_kv=prefix_kv)
            else:
                soft = prefix_embeds.expand(context.shape[0], -1, -1)
                x = torch.cat((soft.to(self.tok_emb.weight.dtype), self.tok_emb(context)), dim=1)
                logits, _ = self(inputs_embeds=x, prefix_kv=prefix_kv)
            logits = logits[:, -1, :].float()
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
            idx = torch.cat((idx, nxt), dim=1)
        return idx


# --- tokenizer ---------------------------------------------------------------------------------


class CharTokenizer:
    """One token per character of a fixed alphabet."""

    def __init__(self, chars: str | list[str]):
        self.itos: list[str] = list(chars)
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("the alphabet has repeated characters")
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}
        self.vocab_size: int = len(self.itos)

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The sorted set of characters of ``text``."""
        return cls(sorted(set(text)))

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise KeyError(
                f"character {err.args[0]!r} is not in the tokenizer's alphabet"
            ) from None

    def decode(self, ids) -> str:
        return "".join(self.itos[int(i)] for i in ids)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


# --- checkpoints -------------------------------------------------------------------------------


def save_checkpoint(path, model: GPT, tokenizer: CharTokenizer, extra: dict | None = None) -> None:
    """Save config, float32 weights and the alphabet; plain types only, so that
    ``torch.load(..., weights_only=True)`` reads it."""
    state = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    state.pop("lm_head.weight", None)  # tied to tok_emb.weight: stored once
    payload = {
        "config": asdict(model.config),
        "state_dict": state,
        "chars": "".join(tokenizer.itos),
        "extra": dict(extra or {}),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load_checkpoint(path, device="cpu") -> tuple[GPT, CharTokenizer]:
    """A model and tokenizer saved by :func:`save_checkpoint`, in eval mode on ``device``."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    known = {f.name for f in fields(GPTConfig)}
    config = GPTConfig(**{k: v for k, v in payload["config"].items() if k in known})
    model = GPT(config)
    state = dict(payload["state_dict"])
    state["lm_head.weight"] = state["tok_emb.weight"]
    model.load_state_dict(state)
    model.checkpoint_extra = payload.get("extra", {})
    return model.to(device).eval(), CharTokenizer(payload["chars"])


def load_pretrained(device="cpu") -> tuple[GPT, CharTokenizer]:
    """The shipped reference model (datasets/gpt/shakespeare-char.pt, sha-verified), eval mode."""
    from course.data import data_path

    return load_checkpoint(data_path(CHECKPOINT_NAME), device=device)
