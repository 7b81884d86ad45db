"""Module 11's helpers: one transformer, three families (encoder, decoder, encoder-decoder).

The models are :class:`course.gpt.GPT` itself: its attention mask is an argument, so the same
blocks are a causal decoder (GPT), a bidirectional encoder (BERT) or a prefix decoder (GLM). This
file holds what the notebook needs around them and is not an exercise:

- :func:`char_tokenizer`: the shared character vocabulary (:func:`course.corpus.vocabulary`)
  with BERT's special tokens and T5's sentinels, built with ``tokenizers`` and wrapped for
  ``transformers`` (no download), so that ``DataCollatorForLanguageModeling`` can use it;
- :func:`encode`: fast encoding of the corpus with that vocabulary;
- :func:`train_lm`: one small training loop for both objectives (masked and next-token);
- :func:`masked_accuracy`: the encoder and the causal GPT scored on the same hidden characters;
- :func:`extrapolation`: small causal GPTs with learned, rotary and ALiBi positions trained at
  one context and evaluated at longer ones;
- the published configurations of BERT-base, GPT-1 and T5-small, and
  :func:`hf_parameter_count`, which counts the ``transformers`` model built from one on the
  ``meta`` device (no memory, no weights, no download).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import cache

import numpy as np
import torch

from course.gpt import GPT, GPTConfig

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
N_SENTINELS = 32

# The published configurations (the config.json of each model card, typed in: nothing is downloaded).
BERT_BASE = dict(
    vocab_size=30522,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    type_vocab_size=2,
)
GPT1 = dict(vocab_size=40478, n_positions=512, n_embd=768, n_layer=12, n_head=12)
T5_SMALL = dict(
    vocab_size=32128,
    d_model=512,
    d_kv=64,
    d_ff=2048,
    num_layers=6,
    num_decoder_layers=6,
    num_heads=8,
    relative_attention_num_buckets=32,
    feed_forward_proj="relu",
)


def sentinel(k: int) -> str:
    """T5's k-th sentinel token, ``<extra_id_k>``."""
    return f"<extra_id_{k}>"


@cache
def char_tokenizer(n_sentinels: int = N_SENTINELS):
    """A ``transformers`` fast tokenizer over the course's characters: ids 0-4 are
    ``[PAD] [UNK] [CLS] [SEP] [MASK]``, then one id per character of
    :func:`course.corpus.vocabulary`, then the sentinels ``<extra_id_0>``, ... (special tokens).

    Built from a ``tokenizers`` WordLevel model whose pre-tokenizer isolates every character.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from course.corpus import vocabulary

    tokens = [*SPECIALS, *vocabulary(), *(sentinel(k) for k in range(n_sentinels))]
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()  # characters join without spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        clean_up_tokenization_spaces=False,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        additional_special_tokens=[sentinel(k) for k in range(n_sentinels)],
    )


def special_ids(tok) -> list[int]:
    """Every id that is not a character: BERT's specials and T5's sentinels, sorted."""
    return sorted(set(tok.all_special_ids))


def char_ids(tok) -> list[int]:
    """The ids of the ordinary tokens (one per character)."""
    specials = set(special_ids(tok))
    return [i for i in range(len(tok)) if i not in specials]


def encode(text: str, tok=None) -> torch.Tensor:
    """``text`` as a 1-D long tensor of ids, by table look-up (the same ids as ``tok``, much
    faster on a million characters)."""
    tok = tok or char_tokenizer()
    table = np.full(256, tok.unk_token_id, dtype=np.int64)
    for ch, i in tok.get_vocab().items():
        if len(ch) == 1:
            table[ord(ch)] = i
    return torch.from_numpy(table[np.frombuffer(text.encode("ascii"), dtype=np.uint8)])


@cache
def corpus_ids(frac: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """The tragedies encoded with :func:`char_tokenizer`, split by position (train, validation)."""
    from course import corpus

    train, val = corpus.train_val_split(corpus.tragedies(), frac)
    return encode(train), encode(val)


def windows(data: torch.Tensor, n: int, T: int, seed: int) -> torch.Tensor:
    """``n`` random windows of ``T`` ids of ``data``, (n, T)."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(len(data) - T, (n,), generator=g)
    return data[starts[:, None] + torch.arange(T)]


def small_config(
    vocab_size: int,
    *,
    block_size: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 64,
    pos: str = "learned",
) -> GPTConfig:
    """The module's small model: the same size for the encoder and the decoder it is compared with."""
    return GPTConfig(
        vocab_size=vocab_size,
        block_size=block_size,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        pos=pos,
    )


def train_lm(
    model: GPT,
    batch: Callable[[int], tuple],
    steps: int,
    *,
    lr: float = 3e-3,
    warmup: int = 20,
    weight_decay: float = 0.01,
    log_every: int = 0,
) -> dict:
    """Train ``model`` in place with AdamW and a cosine schedule; ``batch(step)`` returns
    ``(inputs, targets, attn_mask)`` (targets -100 where no loss is taken, attn_mask None for
    causal). Returns ``{"steps", "seconds", "loss"}`` (the mean loss of the last tenth)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay)
    model.train()
    losses, start = [], time.perf_counter()
    for step in range(steps):
        scale = (
            (step + 1) / warmup
            if step < warmup
            else 0.1 + 0.45 * (1 + math.cos(math.pi * step / steps))
        )
        for group in opt.param_groups:
            group["lr"] = lr * scale
        x, y, mask = batch(step)
        _, loss = model(x, y, attn_mask=mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"  step {step + 1:5d}  loss {np.mean(losses[-log_every:]):.3f}")
    model.eval()
    tail = losses[-max(1, steps // 10) :]
    return {"steps": steps, "seconds": time.perf_counter() - start, "loss": float(np.mean(tail))}


@torch.no_grad()
def masked_accuracy(
    encoder: GPT, decoder: GPT, ids: torch.Tensor, hide: torch.Tensor, mask_id: int
) -> dict:
    """Accuracy on the hidden characters ``hide`` (bool, like ``ids`` (B, T)) of a bidirectional
    ``encoder`` (reads the windows with every hidden position replaced by ``mask_id``, both sides
    visible) and of a causal ``decoder`` (predicts each hidden character from the true text to its
    left only). Returns ``{"encoder", "decoder", "n"}``."""
    T = ids.shape[1]
    enc_logits, _ = encoder(
        ids.masked_fill(hide, mask_id), attn_mask=torch.ones(T, T, dtype=torch.bool)
    )
    dec_logits, _ = decoder(ids)
    # The decoder's guess for position t is its output at t - 1.
    dec_pred = torch.cat([torch.full_like(ids[:, :1], -1), dec_logits.argmax(-1)[:, :-1]], dim=1)
    enc_pred = enc_logits.argmax(-1)
    return {
        "encoder": float((enc_pred == ids)[hide].float().mean()),
        "decoder": float((dec_pred == ids)[hide].float().mean()),
        "n": int(hide.sum()),
    }


def causal_batches(data: torch.Tensor, batch_size: int, T: int, seed: int = 0):
    """``batch(step)`` for :func:`train_lm`: next-token windows of ``data``."""
    g = torch.Generator().manual_seed(seed)

    def batch(step):
        starts = torch.randint(len(data) - T - 1, (batch_size,), generator=g)
        chunk = data[starts[:, None] + torch.arange(T + 1)]
        return chunk[:, :-1], chunk[:, 1:], None

    return batch


@torch.no_grad()
def causal_loss(model: GPT, data: torch.Tensor, T: int, n: int = 16, seed: int = 0) -> float:
    """Mean next-token cross-entropy (nats) of ``model`` on ``n`` fixed windows of length ``T``."""
    chunk = windows(data, n, T + 1, seed)
    _, loss = model(chunk[:, :-1], chunk[:, 1:])
    return float(loss)


def extrapolation(
    train: torch.Tensor,
    val: torch.Tensor,
    vocab_size: int,
    *,
    train_T: int,
    eval_T: tuple[int, ...],
    steps: int,
    batch_size: int = 16,
    seed: int = 0,
    positions: tuple[str, ...] = ("learned", "rope", "alibi"),
) -> dict[str, dict[int, float]]:
    """Train one small causal GPT per position scheme at context ``train_T``; return the
    validation loss of each at every length in ``eval_T``. The learned-position model gets
    ``block_size = max(eval_T)`` embeddings, of which training only ever uses the first
    ``train_T``: the rest stay at their random initialisation."""
    out: dict[str, dict[int, float]] = {}
    for pos in positions:
        torch.manual_seed(seed)
        model = GPT(small_config(vocab_size, block_size=max(eval_T), pos=pos))
        train_lm(model, causal_batches(train, batch_size, train_T, seed), steps)
        out[pos] = {T: causal_loss(model, val, T, seed=seed + 1) for T in eval_T}
    return out


def hf_parameter_count(family: str, config: dict) -> int:
    """Parameters of the ``transformers`` model a configuration describes, built on the ``meta``
    device (shapes only): ``"bert"`` → ``BertModel`` (with its pooler), ``"gpt1"`` →
    ``OpenAIGPTModel``, ``"t5"`` → ``T5Model``. Tied matrices count once."""
    import transformers as tf

    classes = {
        "bert": (tf.BertConfig, tf.BertModel),
        "gpt1": (tf.OpenAIGPTConfig, tf.OpenAIGPTModel),
        "t5": (tf.T5Config, tf.T5Model),
    }
    config_cls, model_cls = classes[family]
    with torch.device("meta"):
        model = model_cls(config_cls(**config))
    return sum(p.numel() for p in model.parameters())
