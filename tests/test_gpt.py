"""Does the shared GPT (course/gpt.py) keep the promises module 09 relies on?

Fast CPU tests on tiny models; the shipped checkpoint is tested when it is present.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course import gpt_train
from course.gpt import (
    GPT,
    CharTokenizer,
    GPTConfig,
    RMSNorm,
    apply_rope,
    load_checkpoint,
    rope_angles,
    save_checkpoint,
)

pytestmark = pytest.mark.module08

VARIANTS = [
    dict(),
    dict(norm="rmsnorm", mlp="swiglu", pos="rope"),
    dict(norm="rmsnorm"),
    dict(pos="rope"),
    dict(mlp="swiglu", bias=True),
]


def tiny(seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    base = dict(vocab_size=17, block_size=16, n_layer=2, n_head=2, n_embd=16)
    return GPT(GPTConfig(**{**base, **kw})).eval()


@pytest.mark.parametrize("kw", VARIANTS, ids=str)
def test_changing_future_tokens_leaves_earlier_logits_unchanged(kw):
    model = tiny(**kw)
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(17, (3, 12), generator=g)
    changed = idx.clone()
    changed[:, 7:] = torch.randint(17, (3, 5), generator=g)
    a, _ = model(idx)
    b, _ = model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, 7:], b[:, 7:]), "later logits must see the changed tokens"


@pytest.mark.parametrize("kw", VARIANTS, ids=str)
def test_initial_loss_is_close_to_log_vocab(kw):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=32, **kw))
    idx, targets = torch.randint(65, (2, 8, 32))  # independent targets: nothing to predict yet
    _, loss = model(idx, targets)
    assert abs(loss.item() - math.log(65)) < 0.05


def test_parameter_count_follows_the_formula():
    V, T, L, C = 65, 128, 4, 128
    model = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=4, n_embd=C))
    per_block = 12 * C * C + 2 * C  # qkv 3C^2, proj C^2, MLP 8C^2; two LayerNorm gains (no bias)
    expected = V * C + T * C + L * per_block + C  # tied head counted once; final norm
    assert model.num_params() == expected
    assert model.num_params(non_embedding=True) == expected - V * C - T * C
    assert model.lm_head.weight is model.tok_emb.weight


def test_bias_and_swiglu_counts():
    C = 32
    m = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=C, bias=True))
    assert (
        m.num_params(non_embedding=True)
        == (3 * C * C + 3 * C) + (C * C + C) + (8 * C * C + 5 * C) + 4 * C + 2 * C
    )
    s = GPT(
        GPTConfig(
            vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=C, mlp="swiglu", pos="rope"
        )
    )
    hidden = s.blocks[0].mlp.gate.out_features
    assert hidden % 64 == 0 and hidden >= 8 * C / 3
    assert s.pos_emb is None
    assert s.num_params(non_embedding=True) == 4 * C * C + 3 * C * hidden + 3 * C


def test_targets_minus_100_are_ignored():
    model = tiny()
    idx = torch.randint(17, (2, 10))
    tgt = idx.clone()
    tgt[:, :4] = -100
    logits, loss = model(idx, tgt)
    ref = F.cross_entropy(logits[:, 4:].reshape(-1, 17), idx[:, 4:].reshape(-1))
    torch.testing.assert_close(loss, ref)


@pytest.mark.parametrize("kw", [dict(), dict(pos="rope")], ids=str)
def test_inputs_embeds_equal_token_embeddings(kw):
    model = tiny(**kw)
    idx = torch.randint(17, (2, 9))
    a, la = model(idx, idx)
    b, lb = model(inputs_embeds=model.tok_emb(idx), targets=idx)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(la, lb)
    with pytest.raises(ValueError):
        model(idx, inputs_embeds=model.tok_emb(idx))


@pytest.mark.parametrize("kw", [dict(), dict(pos="rope", norm="rmsnorm")], ids=str)
def test_prefix_kv(kw):
    model = tiny(**kw)
    B, H, P, D = 2, 2, 3, 8
    idx = torch.randint(17, (B, 10))
    # Empty prefixes change nothing.
    empty = [(torch.zeros(B, H, 0, D), torch.zeros(B, H, 0, D)) for _ in model.blocks]
    torch.testing.assert_close(model(idx, prefix_kv=empty)[0], model(idx)[0])
    # A prefix is seen by every query, causality among real tokens is kept.
    g = torch.Generator().manual_seed(0)
    prefix = [
        (torch.randn(B, H, P, D, generator=g), torch.randn(B, H, P, D, generator=g))
        for _ in model.blocks
    ]
    a = model(idx, prefix_kv=prefix)[0]
    assert not torch.allclose(a[:, 0], model(idx)[0][:, 0])
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 17
    torch.testing.assert_close(
        model(changed, prefix_kv=prefix)[0][:, :6], a[:, :6], rtol=0, atol=1e-6
    )
    # A batch-1 prefix broadcasts over the batch; gradients reach it.
    one = [(k[:1].clone().requires_grad_(), v[:1].clone().requires_grad_()) for k, v in prefix]
    _, loss = model(idx, idx, prefix_kv=one)
    loss.backward()
    assert one[0][0].grad is not None and one[0][0].grad.abs().sum() > 0


def test_prefix_kv_matches_a_manual_attention():
    """Layer 0 with a prefix equals softmax(q [pk;k]^T / sqrt(d) + mask) [pv;v] written out."""
    model = tiny()
    attn = model.blocks[0].attn
    B, T, P, H, D = 1, 5, 2, 2, 8
    x = torch.randn(B, T, 16)
    pk, pv = torch.randn(B, H, P, D), torch.randn(B, H, P, D)
    q, k, v = attn.qkv(x).split(16, dim=2)
    q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
    k, v = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)
    allowed = torch.ones(T, P + T).tril(P).bool()
    y = scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    ref = attn.proj(y.transpose(1, 2).reshape(B, T, 16))
    torch.testing.assert_close(attn(x, prefix_kv=(pk, pv)), ref, rtol=1e-5, atol=1e-6)


def test_rmsnorm_matches_formula_and_torch():
    x = torch.randn(4, 7, 16) * 3 + 2
    norm = RMSNorm(16)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 1.5, 16))
    ref = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    torch.testing.assert_close(norm(x), ref)
    if hasattr(torch.nn, "RMSNorm"):
        t = torch.nn.RMSNorm(16, eps=1e-5)
        with torch.no_grad():
            t.weight.copy_(norm.weight)
        torch.testing.assert_close(norm(x), t(x))


def test_rope_rotates_adjacent_pairs_and_keeps_relative_positions():
    D = 8
    cos, sin = rope_angles(20, D)
    x = torch.randn(20, D)
    y = apply_rope(x, cos, sin)
    # Reference: x viewed as D/2 complex numbers (x[2i] + i x[2i+1]) times e^{i t theta_i}.
    theta = 10000.0 ** (-np.arange(0, D, 2) / D)
    z = x.numpy()[:, 0::2] + 1j * x.numpy()[:, 1::2]
    rot = z * np.exp(1j * np.arange(20)[:, None] * theta[None, :])
    ref = np.stack([rot.real, rot.imag], axis=-1).reshape(20, D)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))  # rotations keep lengths
    q, k = torch.randn(D), torch.randn(D)
    qs, ks = apply_rope(q.expand(20, D), cos, sin), apply_rope(k.expand(20, D), cos, sin)
    d1 = (qs[5] * ks[2]).sum()
    d2 = (qs[15] * ks[12]).sum()
    torch.testing.assert_close(d1, d2, rtol=1e-4, atol=1e-5)


def test_generate_shapes_greedy_and_top_k():
    model = tiny()
    idx = torch.zeros(2, 1, dtype=torch.long)
    out = model.generate(idx, 30, temperature=0)  # longer than block_size: context is cropped
    assert out.shape == (2, 31)
    assert torch.equal(out[0], out[1])
    g = torch.Generator().manual_seed(0)
    top1 = model.generate(idx, 10, temperature=1.0, top_k=1, generator=g)
    torch.testing.assert_close(top1, model.generate(idx, 10, temperature=0))
    soft = model.generate(idx, 5, prefix_embeds=torch.zeros(3, 16), temperature=0)
    assert soft.shape == (2, 6)


def test_tokenizer_round_trip():
    tok = CharTokenizer.from_text("hello world")
    assert tok.itos == sorted(set("hello world"))
    assert tok.decode(tok.encode("world hello")) == "world hello"
    assert tok.vocab_size == len(tok.stoi) == 8
    with pytest.raises(KeyError):
        tok.encode("xyz")


def test_checkpoint_round_trip(tmp_path):
    model = tiny(pos="rope", norm="rmsnorm", mlp="swiglu")
    tok = CharTokenizer("abcdefghijklmnopq")
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, tok, extra={"val_loss": 1.5})
    payload = torch.load(path, weights_only=True)
    assert payload["extra"]["val_loss"] == 1.5
    loaded, tok2 = load_checkpoint(path)
    assert tok2.itos == tok.itos and not loaded.training
    assert loaded.lm_head.weight is loaded.tok_emb.weight
    idx = torch.randint(17, (2, 8))
    torch.testing.assert_close(loaded(idx)[0], model(idx)[0])


def test_lr_schedule():
    kw = dict(lr=1.0, min_lr=0.1, warmup=10, max_steps=110)
    assert gpt_train.lr_at(0, **kw) == pytest.approx(0.1)
    assert gpt_train.lr_at(9, **kw) == pytest.approx(1.0)
    assert gpt_train.lr_at(10, **kw) == pytest.approx(1.0)
    assert gpt_train.lr_at(60, **kw) == pytest.approx(0.55)
    assert gpt_train.lr_at(110, **kw) == pytest.approx(0.1)
    assert gpt_train.lr_at(500, **kw) == pytest.approx(0.1)


def test_weight_decay_only_on_matrices():
    model = tiny(bias=True)
    decay, no_decay = gpt_train.param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(
        p.dim() == 1 for p in no_decay["params"]
    )
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == model.num_params()


def test_a_few_steps_overfit_one_batch():
    model = tiny().train()
    idx = torch.randint(17, (4, 16), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3


def test_train_loop_runs_and_lowers_the_loss():
    g = torch.Generator().manual_seed(0)
    # A learnable stream: a repeating pattern with noise.
    data = (torch.arange(3000) % 7 + (torch.rand(3000, generator=g) < 0.1).long()) % 8
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, block_size=16, n_layer=1, n_head=2, n_embd=16))
    tc = gpt_train.TrainConfig(
        max_steps=40,
        batch_size=8,
        lr=1e-2,
        min_lr=1e-3,
        warmup=5,
        eval_every=20,
        eval_batches=2,
        eval_batch_size=8,
    )
    hist = gpt_train.train(model, data[:2500], data[2500:], tc, "cpu", log=lambda *_: None)
    assert [r["step"] for r in hist.rows] == [0, 20, 40]
    assert hist.rows[-1]["val_loss"] < hist.rows[0]["val_loss"] - 0.5


def test_shipped_checkpoint():
    from course.data import manifest

    if "gpt/shakespeare-char.pt" not in manifest():
        pytest.skip("the checkpoint is not shipped yet")
    from course.gpt import load_pretrained

    model, tok = load_pretrained()
    assert model.config.vocab_size == tok.vocab_size
    assert model.checkpoint_extra["val_loss"] < 1.8
    ids = torch.tensor([tok.encode("ROMEO:\n")])
    out = model.generate(ids, 20, temperature=0)
    assert out.shape == (1, 27)


# --- ALiBi and attention masks (modules 08 and 11) -------------------------------------------


@pytest.mark.parametrize("n_head", [1, 2, 3, 4, 6, 8, 12, 16])
def test_alibi_slopes_equal_blooms(n_head):
    """Power-of-two head counts and the interleaved rule for the others, as BLOOM builds them."""
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    from course.gpt import alibi_slopes

    ones = torch.ones(1, 5, dtype=torch.long)
    bloom = build_alibi_tensor(ones, n_head, torch.float32)  # (n_head, 1, T): slope_h * j
    torch.testing.assert_close(alibi_slopes(n_head), bloom[:, 0, 1], rtol=1e-6, atol=0)


def test_alibi_attention_equals_blooms_after_softmax():
    """BLOOM adds slope * j (key position) and relies on softmax's shift invariance per row;
    -slope * |i - j| on the causal part gives the same attention weights."""
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    from course.gpt import alibi_bias, causal_mask

    H, T = 6, 9
    scores = torch.randn(H, T, T, generator=torch.Generator().manual_seed(0))
    ours = (scores + alibi_bias(H, T)).masked_fill(~causal_mask(T), float("-inf")).softmax(-1)
    bloom = build_alibi_tensor(torch.ones(1, T, dtype=torch.long), H, torch.float32)  # (H, 1, T)
    theirs = (scores + bloom).masked_fill(~causal_mask(T), float("-inf")).softmax(-1)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_alibi_model_is_causal_and_runs_past_its_training_length():
    model = tiny(pos="alibi")
    assert model.pos_emb is None
    g = torch.Generator().manual_seed(3)
    idx = torch.randint(17, (2, 12), generator=g)
    changed = idx.clone()
    changed[:, 6:] = torch.randint(17, (2, 6), generator=g)
    torch.testing.assert_close(model(idx)[0][:, :6], model(changed)[0][:, :6], rtol=0, atol=1e-6)
    long = torch.randint(17, (1, 40), generator=g)  # block_size is 16
    assert model(long)[0].shape == (1, 40, 17)
    assert tiny(pos="rope")(long)[0].shape == (1, 40, 17), "RoPE extrapolates too"
    with pytest.raises(ValueError, match="block_size"):
        tiny()(long)  # learned positions have no row for position 16


def test_alibi_layer_equals_a_hand_written_attention():
    from course.gpt import alibi_bias

    model = tiny(pos="alibi", n_head=4, n_embd=16)
    attn = model.blocks[0].attn
    B, T, H, D = 2, 7, 4, 4
    x = torch.randn(B, T, 16, generator=torch.Generator().manual_seed(4))
    q, k, v = attn.qkv(x).split(16, dim=2)
    q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(D) + alibi_bias(H, T)
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    ref = attn.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, 16))
    torch.testing.assert_close(attn(x, bias=alibi_bias(H, T)), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(pos="rope"), dict(pos="alibi")], ids=str)
def test_the_mask_makes_the_family(kw):
    """None: causal (a GPT); all True: bidirectional (BERT); a prefix block: GLM's prefix LM."""
    from course.gpt import causal_mask

    model = tiny(**kw)
    T = 10
    idx = torch.randint(17, (2, T), generator=torch.Generator().manual_seed(5))
    causal, _ = model(idx)
    torch.testing.assert_close(model(idx, attn_mask=causal_mask(T))[0], causal, rtol=1e-5, atol=1e-6)

    def influence(mask):
        """Which positions' outputs change when the last token changes."""
        changed = idx.clone()
        changed[:, -1] = (changed[:, -1] + 1) % 17
        a, b = model(idx, attn_mask=mask)[0], model(changed, attn_mask=mask)[0]
        return (a - b).abs().amax(dim=(0, 2)) > 1e-6

    assert not influence(None)[:-1].any(), "causal: no earlier position sees the last token"
    assert influence(torch.ones(T, T, dtype=torch.bool)).all(), "bidirectional: every position sees it"
    prefix = causal_mask(T)
    prefix[:, :4] = True  # the first 4 tokens attend to each other both ways
    last_in_prefix = idx.clone()
    last_in_prefix[:, 3] = (last_in_prefix[:, 3] + 1) % 17
    a, b = model(idx, attn_mask=prefix)[0], model(last_in_prefix, attn_mask=prefix)[0]
    seen = (a - b).abs().amax(dim=(0, 2)) > 1e-6
    assert seen.all(), "prefix LM: token 3 is seen by the whole prefix and by everything after it"
    with pytest.raises(ValueError, match="boolean"):
        model(idx, attn_mask=torch.ones(T, T))


def test_prefix_tuning_works_with_alibi_and_a_mask():
    model = tiny(pos="alibi")
    cfg = model.config
    H, D = cfg.n_head, cfg.n_embd // cfg.n_head
    g = torch.Generator().manual_seed(6)
    kv = [(torch.randn(1, H, 3, D, generator=g), torch.randn(1, H, 3, D, generator=g)) for _ in range(cfg.n_layer)]
    idx = torch.randint(17, (2, 8), generator=g)
    with_prefix, _ = model(idx, prefix_kv=kv)
    assert with_prefix.shape == (2, 8, 17)
    assert not torch.allclose(with_prefix, model(idx)[0]), "the prefix must change the outputs"
    both = model(idx, prefix_kv=kv, attn_mask=torch.ones(8, 8, dtype=torch.bool))[0]
    assert both.shape == (2, 8, 17)


# --- the fused kernel on every path --------------------------------------------------------------


def test_prefix_path_calls_sdpa_without_a_materialised_mask(monkeypatch):
    """The prefix path hands SDPA the lower-right causal bias (flash attention takes it on CUDA),
    not a boolean matrix; the causal path passes is_causal."""
    from torch.nn.attention.bias import CausalBias

    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        seen.append((type(attn_mask), kw.get("is_causal", False)))
        return real(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    model = tiny()
    idx = torch.randint(17, (2, 6))
    model(idx)
    assert seen and all(m is type(None) and causal for m, causal in seen)
    seen.clear()
    kv = [(torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8)) for _ in model.blocks]
    model(idx, prefix_kv=kv)
    assert seen and all(issubclass(m, CausalBias) for m, _ in seen), seen


# --- the trainer: device, precision, scaler, compilation, time budget ------------------------------


def test_device_selection_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert gpt_train.resolve_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpt_train.resolve_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert gpt_train.resolve_device().type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpt_train.resolve_device().type == "cpu", "COURSE_DEVICE forces a device"
    assert gpt_train.resolve_device("mps").type == "mps", "an explicit device wins"


def test_train_uses_the_best_device_when_none_is_given(monkeypatch):
    chosen = []
    monkeypatch.setattr(
        gpt_train, "resolve_device", lambda d=None: chosen.append(d) or torch.device("cpu")
    )
    data = torch.randint(0, 11, (300,))
    tc = gpt_train.TrainConfig(max_steps=2, batch_size=2, warmup=1, eval_every=2, eval_batches=1)
    gpt_train.train(GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)),
                    data, data, tc, log=lambda *a: None)
    assert chosen == [None]


@pytest.mark.parametrize(
    "device, amp, bf16, dtype, scaler",
    [
        ("cuda", None, True, torch.bfloat16, False),  # A100, H100: bf16, no scaler
        ("cuda", None, False, torch.float16, True),  # T4, V100: fp16 needs the scaler
        ("cuda", True, False, torch.float16, True),
        ("cuda", False, True, None, False),  # amp off: float32
        ("cpu", None, None, None, False),
        ("cpu", True, None, torch.bfloat16, False),
        ("mps", None, None, None, False),
        ("mps", True, None, torch.float16, True),
    ],
)
def test_precision_policy(device, amp, bf16, dtype, scaler):
    p = gpt_train.precision_for(torch.device(device), amp, bf16=bf16)
    assert (p.dtype, p.scaler) == (dtype, scaler)


def test_fp16_always_comes_with_a_scaler():
    for device in ("cuda", "mps", "cpu"):
        for amp in (None, True, False):
            for bf16 in (True, False):
                p = gpt_train.precision_for(torch.device(device), amp, bf16=bf16)
                assert p.scaler == (p.dtype == torch.float16), (device, amp, bf16, p)


def _step_pair(grad_clip, scale_loss=1.0):
    """Two copies of a tiny model, one stepped with an enabled GradScaler, one without."""
    torch.manual_seed(0)
    a = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    b = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    b.load_state_dict(a.state_dict())
    x, y = torch.randint(11, (2, 2, 8), generator=torch.Generator().manual_seed(1))
    fp32 = gpt_train.Precision(None, False)
    out = []
    for model, enabled in ((a, False), (b, True)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        scaler = torch.amp.GradScaler("cpu", enabled=enabled, init_scale=2.0**10)

        def fwd(x, y, model=model):
            logits, loss = model(x, y)
            return logits, loss * scale_loss

        gpt_train.train_step(fwd, opt, scaler, x, y, torch.device("cpu"), fp32, grad_clip,
                             list(model.parameters()))
        out.append((model, scaler))
    return out


def test_scaled_step_equals_the_unscaled_step_with_clipping():
    """The scaler unscales before clipping: the update is the unscaled one (clipping active)."""
    (a, _), (b, scaler) = _step_pair(grad_clip=1e-3)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-7, msg=name)
    assert scaler.get_scale() == 2.0**10, "a finite step keeps the scale"


def test_overflowing_step_is_skipped_and_the_scale_halves():
    (_, _), (b, scaler) = _step_pair(grad_clip=1.0, scale_loss=float("inf"))
    torch.manual_seed(0)
    fresh = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    for pa, pb in zip(fresh.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
    assert scaler.get_scale() == 2.0**9


def test_compile_mode_follows_the_model_size():
    assert gpt_train.compile_mode(800_000, "cpu") is None
    assert gpt_train.compile_mode(10_700_000, "cuda") == "reduce-overhead"
    assert gpt_train.compile_mode(124_000_000, "cuda") == "default"


@pytest.mark.parametrize("flag, mode", [(None, None), (False, None), (True, None),
                                        (True, "max-autotune-no-cudagraphs")])
def test_compile_flag(monkeypatch, flag, mode):
    calls = []

    def fake_compile(model, mode=None):
        calls.append(mode)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    data = torch.randint(0, 11, (300,))
    tc = gpt_train.TrainConfig(max_steps=3, batch_size=2, warmup=1, eval_every=3,
                               eval_batches=1, compile=flag, compile_mode=mode)
    hist = gpt_train.train(GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2,
                                         n_embd=8)), data, data, tc, "cpu", log=lambda *a: None)
    assert calls == ([mode] if flag else []), "on a CPU, compile only when asked"
    assert hist.info["compile"] is bool(flag)
    if flag:
        assert "compile_seconds" in hist.info


def test_evaluation_batches_have_the_training_shape(monkeypatch):
    shapes = []
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    model.register_forward_hook(lambda m, args, out: shapes.append((m.training, tuple(args[0].shape))))
    data = torch.randint(0, 11, (300,))
    tc = gpt_train.TrainConfig(max_steps=2, batch_size=3, warmup=1, eval_every=2, eval_batches=2)
    gpt_train.train(model, data, data, tc, "cpu", log=lambda *a: None)
    assert {s for t, s in shapes if not t} == {(3, 8)} == {s for t, s in shapes if t}


def test_time_budget_fits_the_cosine_to_the_steps_it_allows():
    b = gpt_train.TimeBudget(10.0, cap=10_000, skip=3, probe=20)
    t = 0.0
    fitted = []
    for step in range(1, 200):
        t += 2.0 if step <= 3 else 0.05  # slow first steps (compilation), then 0.05 s a step
        fitted.append(b.observe(step, t))
        if b.exhausted(t) or step >= b.max_steps:
            break
    assert fitted[10] == 10_000, "nothing is fitted before `probe` steps"
    # 6 s went to the first 3 steps; 4 s remain at 0.05 s a step: 80 more steps
    assert b.max_steps == 83 and step == 83
    assert gpt_train.TimeBudget(10.0, cap=50).observe(3, 6.0) == 50


def test_time_budget_in_the_trainer_ends_the_cosine_at_min_lr(monkeypatch):
    clock = {"t": 0.0}
    real_step = gpt_train.train_step

    def timed_step(*args, **kw):
        clock["t"] += 0.01  # every step costs 10 ms of fake time
        return real_step(*args, **kw)

    monkeypatch.setattr(gpt_train, "train_step", timed_step)
    monkeypatch.setattr(gpt_train.time, "perf_counter", lambda: clock["t"])
    data = torch.randint(0, 11, (400,))
    tc = gpt_train.TrainConfig(max_steps=10_000, batch_size=2, lr=1e-2, min_lr=1e-3, warmup=5,
                               eval_every=1000, eval_batches=1, time_budget=0.5)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    hist = gpt_train.train(model, data, data, tc, "cpu", log=lambda *a: None)
    last = hist.rows[-1]
    assert hist.info["budget_fitted"]
    assert last["step"] == last["max_steps"] == 50, last
    assert last["lr"] == pytest.approx(1e-3), "the schedule ends at min_lr when the budget ends"
    assert last["seconds"] == pytest.approx(0.5)


def test_time_limit_stops_without_refitting(monkeypatch):
    clock = {"t": 0.0}
    real_step = gpt_train.train_step

    def timed_step(*args, **kw):
        clock["t"] += 0.01
        return real_step(*args, **kw)

    monkeypatch.setattr(gpt_train, "train_step", timed_step)
    monkeypatch.setattr(gpt_train.time, "perf_counter", lambda: clock["t"])
    data = torch.randint(0, 11, (400,))
    tc = gpt_train.TrainConfig(max_steps=1000, batch_size=2, warmup=5, eval_every=1000,
                               eval_batches=1, time_limit=0.2)
    hist = gpt_train.train(GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2,
                                         n_embd=8)), data, data, tc, "cpu", log=lambda *a: None)
    assert hist.rows[-1]["step"] == 20 and hist.rows[-1]["max_steps"] == 20
    assert not hist.info["budget_fitted"]


def test_get_batch_windows_are_shifted_by_one():
    data = torch.arange(100)
    x, y = gpt_train.get_batch(data, 4, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    torch.testing.assert_close(y, x + 1)
    assert int(x.max()) + 1 < 100


def test_load_text_splits_like_nanogpt():
    text = "".join(chr(97 + i % 5) for i in range(1000))
    tok, tr, va = gpt_train.load_text(text)
    assert tok.itos == list("abcde") and len(tr) == 900 and len(va) == 100


def test_peak_flops_table():
    assert gpt_train.peak_flops(torch.device("cpu")) is None
    assert gpt_train.peak_flops(torch.device("cuda"), "NVIDIA H100 80GB HBM3") == 989e12
    assert gpt_train.peak_flops(torch.device("cuda"), "NVIDIA H100 PCIe") == 756e12
    assert gpt_train.peak_flops(torch.device("cuda"), "Tesla T4") == 65e12
    assert gpt_train.peak_flops(torch.device("cuda"), "NVIDIA H200") == 989e12


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_loss_equals_cpu_loss():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "train_gpt", Path(__file__).resolve().parent.parent / "benchmarks" / "train_gpt.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    checks = bench.check_device(torch.device("cuda"), smoke=True)
    assert all(c["ok"] for c in checks.values()), checks


@pytest.mark.mps
@pytest.mark.skipif(not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
                    reason="needs Apple's MPS")
def test_mps_loss_equals_cpu_loss():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "train_gpt", Path(__file__).resolve().parent.parent / "benchmarks" / "train_gpt.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    checks = bench.check_device(torch.device("mps"), smoke=True)
    assert all(c["ok"] for c in checks.values()), checks


def test_gpu_check_script_runs_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh --device cpu --smoke: every step of the GPU check, tiny."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "gpu_check.json"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "COURSE_PROFILE": "quick"}
    proc = subprocess.run(["bash", str(root / "benchmarks" / "gpu_check.sh"), "--device", "cpu",
                           "--smoke", "--out", str(out)], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["ran_on_gpu"] is False
    assert all(c["ok"] for c in result["check"].values())
    assert result["run"]["history"][-1]["val_loss"] < result["run"]["history"][0]["val_loss"]
    assert "checks: all ok" in proc.stdout
