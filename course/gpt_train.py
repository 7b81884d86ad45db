"""Training the course GPT as practitioners do: the recipe of module 08 as reusable functions.

AdamW with weight decay on matrices only, linear warm-up then cosine decay, gradient clipping,
evaluation on a fixed set of batches, checkpoints and the model FLOPs utilisation (MFU). The GPU
path is correct by construction:

- the device comes from ``course.runtime.device()`` (CUDA, then MPS, then the CPU);
- the data lives on the device; batches are drawn there from indices drawn on the CPU (the same
  windows on every device), evaluation batches have the training batches' shape (one compiled
  graph), and nothing waits for the GPU except logging and the time checks;
- bf16 autocast where the GPU computes in bf16 (compute capability 8.0 and later), else fp16 with
  a gradient scaler (T4, V100), float32 on the CPU and on MPS;
- ``torch.compile`` on CUDA with a mode chosen for the model's size, its compilation outside the
  training clock; fused AdamW; attention on the fused kernel (``course.gpt``).

A time budget is a schedule of its own (``TrainConfig.time_budget``): the warm-up steps measure
the speed, and the cosine is fitted to the number of steps the budget allows (refitted as the run
goes), so that a short run still ends at ``min_lr``. The command line reproduces the shipped
checkpoint:

    python -m course.gpt_train --preset reference --threads 1 --out datasets/gpt/shakespeare-char.pt

``benchmarks/train_gpt.py`` is the same loop with timing output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from course.gpt import GPT, CharTokenizer, GPTConfig, save_checkpoint


@dataclass
class TrainConfig:
    max_steps: int = 2000  # with a time_budget: an upper bound on the fitted number of steps
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 2e-4  # cosine ends at lr / 10 (Chinchilla's choice)
    warmup: int = 100
    weight_decay: float = 0.1
    # beta2 0.99 rather than 0.999: few tokens per step, as in nanoGPT's character model
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_batches: int = 20
    eval_batch_size: int | None = None  # None: the training batch size (one compiled shape)
    seed: int = 1337
    compile: bool | None = None  # None: only on CUDA, where it pays
    compile_mode: str | None = None  # None: chosen for the model's size (compile_mode())
    amp: bool | None = None  # None: mixed precision on CUDA (precision_for())
    time_budget: float | None = None  # seconds of training: the cosine is fitted to it
    time_limit: float | None = None  # seconds; a hard stop that leaves the schedule alone
    sync_every: int = 25  # on CUDA, how often a time budget waits for the GPU to read the clock
    threads: int | None = None


# The configurations the module ships: (model, training) per device.
PRESETS: dict[str, tuple[dict, TrainConfig]] = {
    # The module's CPU model: ~0.8 M parameters, sized to finish in under 5 minutes on two cores
    # (about 24 k tokens/s there). Small batches, many steps: at this scale the number of
    # optimiser steps matters more than the batch (batch 16 beat batch 32 at equal tokens).
    "cpu": (
        dict(block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
        TrainConfig(
            max_steps=3000,
            batch_size=16,
            lr=2e-3,
            min_lr=2e-4,
            warmup=100,
            eval_every=250,
            eval_batches=16,
            eval_batch_size=64,
        ),
    ),
    # The shipped checkpoint (datasets/gpt/shakespeare-char.pt): the cpu model trained longer,
    # 16 M tokens (about 25 minutes on one CPU thread), to beat the 5-gram baseline.
    "reference": (
        dict(block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
        TrainConfig(
            max_steps=8000,
            batch_size=16,
            lr=2e-3,
            min_lr=2e-4,
            warmup=100,
            eval_every=500,
            eval_batches=16,
            eval_batch_size=64,
        ),
    ),
    # A time budget on two CPU cores (benchmarks/train_gpt.py --preset cpu-budget): the cpu
    # model with a shorter context, half its depth and a higher rate, compiled (outside the
    # clock), its cosine fitted to the budget. In 90 s on two cores, at today's speed of this
    # machine (15 k tok/s for the 4-layer model), 2 layers compiled reached val 1.689 on tiny
    # Shakespeare; 3 layers 1.752, 4 layers 1.804, 2 layers eager 1.731, 2 layers with RoPE
    # 1.706: few tokens go through in 90 s, and a shallower model sees more of them.
    "cpu-budget": (
        dict(block_size=64, n_layer=2, n_head=4, n_embd=128, dropout=0.0),
        TrainConfig(
            compile=True,
            max_steps=100_000,
            batch_size=16,
            lr=3e-3,
            min_lr=3e-4,
            warmup=50,
            eval_every=500,
            eval_batches=16,
            time_budget=90.0,
        ),
    ),
    # nanoGPT's shakespeare_char model (10.7 M parameters, dropout 0.2), bf16, torch.compile and
    # flash attention, its cosine fitted to 60 s of training on one H100/H200
    # (benchmarks/gpu_check.sh).
    "gpu": (
        dict(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
        TrainConfig(
            max_steps=5000,
            batch_size=64,
            lr=1e-3,
            min_lr=1e-4,
            warmup=100,
            eval_every=250,
            eval_batches=20,
            time_budget=60.0,
        ),
    ),
    # A few seconds: what the notebook's quick profile and the tests run.
    "tiny": (
        dict(block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0),
        TrainConfig(
            max_steps=60,
            batch_size=16,
            lr=3e-3,
            min_lr=3e-4,
            warmup=10,
            eval_every=30,
            eval_batches=4,
            eval_batch_size=16,
        ),
    ),
}


def lr_at(step: int, *, lr: float, min_lr: float, warmup: int, max_steps: int) -> float:
    """Learning rate before optimisation step ``step`` (0-based).

    Linear warm-up lr * (step + 1) / warmup for step < warmup (so step 0 is not wasted at zero
    and step warmup - 1 reaches lr), then cosine from lr at step = warmup down to min_lr at
    step = max_steps, and min_lr after.
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= max_steps:
        return min_lr
    ratio = (step - warmup) / max(1, max_steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


class TimeBudget:
    """The number of steps a budget of ``seconds`` allows, measured as the run goes.

    The first ``skip`` steps are not timed (they hold compilation and cold caches); from
    ``probe`` steps on, every observation refits ``max_steps = step + remaining / seconds per
    step``, the speed averaged over all timed steps. The fit is capped at ``cap``. Warm-up does
    not depend on ``max_steps``, so fitting during the warm-up costs the schedule nothing.
    """

    def __init__(self, seconds: float, *, cap: int, skip: int = 3, probe: int = 20):
        if seconds <= 0:
            raise ValueError(f"a time budget must be positive, got {seconds}")
        self.seconds, self.cap, self.skip, self.probe = float(seconds), int(cap), skip, probe
        self.max_steps = int(cap)
        self.fitted = False
        self._origin: tuple[int, float] | None = None

    def observe(self, step: int, elapsed: float) -> int:
        """``step`` optimisation steps took ``elapsed`` seconds; returns the fitted max_steps."""
        if self._origin is None:
            if step >= self.skip:
                self._origin = (step, elapsed)
            return self.max_steps
        step0, t0 = self._origin
        if step < max(self.probe, step0 + 1) or elapsed <= t0:
            return self.max_steps
        per_step = (elapsed - t0) / (step - step0)
        remaining = max(0.0, self.seconds - elapsed)
        self.max_steps = max(step, min(self.cap, step + int(remaining / per_step + 1e-6)))
        self.fitted = True
        return self.max_steps

    def exhausted(self, elapsed: float) -> bool:
        return elapsed >= self.seconds


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay the matrices (linear weights, embeddings); not the vectors (norm gains, biases).

    Decay pulls weights towards 0: fine for a matrix, wrong for a norm gain whose neutral value is 1.
    """
    params = [p for p in model.parameters() if p.requires_grad]  # the tied matrix once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def configure_optimizer(model, tc: TrainConfig, device_type: str) -> torch.optim.AdamW:
    # The fused CUDA kernel updates every parameter in one launch.
    extra = {"fused": True} if device_type == "cuda" else {}
    return torch.optim.AdamW(
        param_groups(model, tc.weight_decay), lr=tc.lr, betas=tc.betas, **extra
    )


# --- device, precision, compilation ------------------------------------------------------------


def resolve_device(device=None) -> torch.device:
    """``device`` as given, else the best available one (``course.runtime.device()``)."""
    from course.runtime import device as best_device

    return torch.device(device) if device is not None else best_device()


@dataclass(frozen=True)
class Precision:
    """How a device trains: the autocast dtype (None: float32) and whether losses are scaled."""

    dtype: torch.dtype | None
    scaler: bool

    @property
    def name(self) -> str:
        return {None: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 matrix units: compute capability 8.0 (Ampere) and later. (torch's
    ``is_bf16_supported()`` also says yes where bf16 is only emulated, slowly, as on a T4.)"""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def precision_for(device: torch.device, amp: bool | None = None, *, bf16: bool | None = None) -> Precision:
    """bf16 autocast on a GPU that has it (no scaler: bf16 has float32's range), else fp16 with
    a gradient scaler (fp16 underflows small gradients without one); float32 on the CPU and MPS
    unless ``amp=True`` (then bf16 on the CPU, fp16 on MPS). ``amp=False``: float32 everywhere.
    ``bf16`` overrides the hardware query (tests)."""
    device = torch.device(device)
    if amp is False or (amp is None and device.type != "cuda"):
        return Precision(None, False)
    if device.type == "cpu":
        return Precision(torch.bfloat16, False)
    if device.type == "mps":
        return Precision(torch.float16, True)
    has_bf16 = bf16_supported(device) if bf16 is None else bf16
    return Precision(torch.bfloat16, False) if has_bf16 else Precision(torch.float16, True)


def autocast(device: torch.device, precision: Precision | bool | None = None):
    """The autocast context of ``precision`` on ``device`` (a no-op for float32). ``True`` picks
    the device's mixed precision (:func:`precision_for`)."""
    device = torch.device(device)
    if isinstance(precision, bool):
        precision = precision_for(device, precision)
    if precision is None or precision.dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=precision.dtype)


def make_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for fp16 only (disabled it passes everything through)."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision.scaler)


def compile_mode(n_params: int, device_type: str) -> str | None:
    """The ``torch.compile`` mode for a model of ``n_params`` on ``device_type`` (None: eager).

    A small model is launch-bound: "reduce-overhead" replays the whole step as CUDA graphs.
    From about 50 M parameters the kernels are long enough for "default", and autotuning
    ("max-autotune") costs minutes of compilation that a short run never earns back. On a CPU
    compilation rarely pays for itself in a run of minutes: eager.
    """
    if device_type != "cuda":
        return None
    return "reduce-overhead" if n_params < 50_000_000 else "default"


def train_step(fwd, opt, scaler, x, y, device, precision: Precision, grad_clip: float, params):
    """One optimisation step: forward under autocast, scaled backward, unscale, clip, step.

    The gradients are unscaled before clipping (clipping scaled gradients would clip at
    ``grad_clip * scale``); a step whose gradients overflowed is skipped by the scaler, which
    then lowers its scale. Returns the loss (a tensor: reading it waits for the GPU).
    """
    with autocast(device, precision):
        _, loss = fwd(x, y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip:
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    scaler.step(opt)
    scaler.update()
    return loss


# --- data ----------------------------------------------------------------------------------------


def get_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator):
    """Random windows of ``data`` (1-D long, on any device): x (B, T) and y = x shifted by one.

    The window starts are drawn on the CPU with ``generator``, so every device trains on the same
    windows; the windows are cut where ``data`` lives (no copy of the text per step).
    """
    starts = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)
    offsets = torch.arange(block_size + 1)
    index = starts[:, None] + offsets
    if data.device.type != "cpu":
        index = index.pin_memory().to(data.device, non_blocking=True) if data.device.type == "cuda" else index.to(data.device)
    chunk = data[index]
    return chunk[:, :-1], chunk[:, 1:]


def fixed_batches(data: torch.Tensor, n: int, batch_size: int, block_size: int, seed: int = 0):
    """The same ``n`` batches at every evaluation, so losses at different steps compare."""
    g = torch.Generator().manual_seed(seed)
    return [get_batch(data, batch_size, block_size, g) for _ in range(n)]


@torch.no_grad()
def evaluate(model, batches, device=None, amp: Precision | bool | None = None) -> float:
    """Mean cross-entropy (nats per token) over fixed batches (one wait for the GPU at the end)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    for x, y in batches:
        with autocast(device, amp):
            _, loss = model(x.to(device), y.to(device))
        total += loss.float()
    model.train(was_training)
    return total.item() / len(batches)


# --- speed ---------------------------------------------------------------------------------------


def flops_per_token(model: GPT) -> float:
    """Training FLOPs per token, 6N + 12 L T C (Kaplan et al. 2020; PaLM appendix B)."""
    c = model.config
    return (
        6 * model.num_params(non_embedding=True)
        + 6 * c.vocab_size * c.n_embd
        + 12 * c.n_layer * c.block_size * c.n_embd
    )


# Dense tensor-core peaks (FLOP/s) in bf16, or fp16 where the GPU has no bf16; first match wins.
PEAK_FLOPS = [
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("V100", 125e12),
    ("T4", 65e12),
]


def peak_flops(device: torch.device, name: str | None = None) -> float | None:
    """The GPU's dense bf16/fp16 peak, for MFU; None on a CPU or an unknown GPU."""
    device = torch.device(device)
    if device.type != "cuda" and name is None:
        return None
    name = name or torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS if k in name), None)


@dataclass
class History:
    rows: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def log(self, **row) -> None:
        self.rows.append(row)


def train(
    model: GPT,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    tc: TrainConfig,
    device=None,
    *,
    log=print,
    progress: bool | None = None,
) -> History:
    """Train ``model`` in place; returns the history of evaluations (step, seconds, losses, speed).

    ``seconds`` is training time (evaluations and compilation excluded); ``wall`` includes them.
    A progress bar counts the steps (``progress=None``: shown except under the quick profile).
    """
    from course.runtime import progress_bar

    device = resolve_device(device)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    precision = precision_for(device, tc.amp)
    use_compile = tc.compile if tc.compile is not None else device.type == "cuda"
    mode = tc.compile_mode or compile_mode(model.num_params(), device.type)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = configure_optimizer(model, tc, device.type)
    scaler = make_scaler(device, precision)
    step_model = torch.compile(model, mode=mode) if use_compile else model
    graphs = use_compile and mode is not None and "reduce-overhead" in mode

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def fwd(x, y):
        if graphs:  # CUDA graphs: a new step begins, the last step's outputs may be overwritten
            torch.compiler.cudagraph_mark_step_begin()
        return step_model(x, y)

    T = model.config.block_size
    train_data, val_data = train_data.to(device), val_data.to(device)
    g = torch.Generator().manual_seed(tc.seed)
    eval_bs = tc.eval_batch_size or tc.batch_size
    val_batches = fixed_batches(val_data, tc.eval_batches, eval_bs, T, seed=tc.seed + 1)
    train_eval = fixed_batches(train_data, tc.eval_batches, eval_bs, T, seed=tc.seed + 2)
    peak = peak_flops(device)
    fpt = flops_per_token(model)
    hist = History(
        info=dict(
            device=str(device),
            precision=precision.name,
            compile=bool(use_compile),
            compile_mode=mode if use_compile else None,
            params=model.num_params(),
        )
    )
    start = time.perf_counter()
    if use_compile:  # compile forward and backward before the clock starts; no update
        x, y = get_batch(train_data, tc.batch_size, T, torch.Generator().manual_seed(tc.seed + 3))
        for _ in range(3 if graphs else 1):  # CUDA graphs record after warm-up runs
            with autocast(device, precision):
                _, loss = fwd(x, y)
            scaler.scale(loss).backward()
            opt.zero_grad(set_to_none=True)
        sync()
        hist.info["compile_seconds"] = round(time.perf_counter() - start, 2)
    budget = (
        TimeBudget(tc.time_budget, cap=tc.max_steps, probe=max(20, min(tc.warmup, 100)))
        if tc.time_budget
        else None
    )
    max_steps = tc.max_steps
    limit = min(x for x in (tc.time_budget, tc.time_limit, math.inf) if x is not None)
    tokens = 0
    train_seconds = 0.0  # time in optimisation steps, evaluations excluded
    mark = time.perf_counter()  # start of the current stretch of training steps
    bar = progress_bar(max_steps, "training", show=progress)
    step = 0
    while True:
        last = step >= max_steps or train_seconds >= limit
        if step % tc.eval_every == 0 or last:
            sync()
            train_seconds += time.perf_counter() - mark
            val = evaluate(step_model, val_batches, device, precision)
            tr = evaluate(step_model, train_eval, device, precision)
            tok_s = tokens / train_seconds if train_seconds else float("nan")
            mfu = tok_s * fpt / peak if peak and train_seconds else None
            hist.log(
                step=step,
                seconds=round(train_seconds, 2),
                wall=round(time.perf_counter() - start, 2),
                tokens=tokens,
                train_loss=round(tr, 4),
                val_loss=round(val, 4),
                tokens_per_s=round(tok_s, 1),
                mfu=None if mfu is None else round(mfu, 4),
                lr=lr_at(step, lr=tc.lr, min_lr=tc.min_lr, warmup=tc.warmup, max_steps=max_steps),
                max_steps=max_steps,
            )
            bar.set_postfix(train=f"{tr:.3f}", val=f"{val:.3f}", refresh=False)
            with bar.external_write_mode():  # a terminal bar is redrawn under the line
                log(
                    f"step {step:5d} | {train_seconds:7.1f} s | train {tr:.4f} | val {val:.4f} | "
                    f"{tok_s:9.0f} tok/s" + (f" | MFU {100 * mfu:.1f}%" if mfu is not None else "")
                )
            mark = time.perf_counter()
        if last:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(
                step, lr=tc.lr, min_lr=tc.min_lr, warmup=tc.warmup, max_steps=max_steps
            )
        x, y = get_batch(train_data, tc.batch_size, T, g)
        train_step(fwd, opt, scaler, x, y, device, precision, tc.grad_clip, params)
        step += 1
        tokens += x.numel()
        bar.update()
        if (budget or math.isfinite(limit)) and (not cuda or step % tc.sync_every == 0):
            sync()  # a clock reading: only here, at the sync interval, and when logging
            now = train_seconds + time.perf_counter() - mark
            if budget is not None:
                fitted = budget.observe(step, now)
                if fitted != max_steps:
                    max_steps = fitted
                    bar.total = max_steps
            if now >= limit:
                train_seconds, mark = now, time.perf_counter()
                max_steps = min(max_steps, step)
    bar.close()
    hist.info["steps"] = step
    hist.info["budget_fitted"] = bool(budget and budget.fitted)
    return hist


# --- the studies of module 08 (shipped as datasets/gpt/lm-studies.json) --------------------------

STUDIES_NAME = "gpt/lm-studies.json"
# Three families at equal parameters (813,824 with the 77-character vocabulary) and equal tokens:
# SwiGLU's hidden width 352 = (8 C L + T) / (3 L) gives the LLaMA-style blocks exactly the
# parameters that GPT-2's learned positions cost.
VARIANT_SHAPE: dict[str, Any] = dict(block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
VARIANTS: dict[str, dict] = {
    "GPT-2": dict(norm="layernorm", mlp="gelu", pos="learned"),
    "LLaMA": dict(norm="rmsnorm", mlp="swiglu", pos="rope", mlp_hidden=352),
    "ALiBi": dict(norm="rmsnorm", mlp="swiglu", pos="alibi", mlp_hidden=352),
}
VARIANT_TRAIN = TrainConfig(max_steps=400, batch_size=16, lr=2e-3, min_lr=2e-4, warmup=40,
                            eval_every=50, eval_batches=8, eval_batch_size=16, seed=0)
# Widths of a 2-layer model, every one trained on the same tokens (the under-trained corner).
SCALING_WIDTHS = (16, 24, 32, 48, 64, 96, 128)
SCALING_SHAPE: dict[str, Any] = dict(block_size=64, n_layer=2, n_head=2, dropout=0.0)
SCALING_TRAIN = TrainConfig(max_steps=300, batch_size=16, lr=3e-3, min_lr=3e-4, warmup=30,
                            eval_every=10_000, eval_batches=8, eval_batch_size=16, seed=0)


def run_studies(train_data, val_data, vocab_size: int, *, which=("variants", "scaling"),
                steps: int | None = None, widths=SCALING_WIDTHS, device="cpu", log=None,
                progress: bool | None = None) -> dict:
    """Train the variants and/or the scaling runs of module 08; JSON-ready results.

    ``steps`` shortens every run (the notebook's quick profile: the code path, not the result).
    A progress bar counts the runs (``progress=None``: shown except under the quick profile).
    """
    from course.runtime import progress_bar

    quiet = lambda *a: None  # noqa: E731
    out: dict = {}
    variants = VARIANTS if "variants" in which else {}
    widths = widths if "scaling" in which else ()
    bar = progress_bar(len(variants) + len(widths), "training runs", show=progress)
    if variants:
        out["variants"] = []
    if widths:
        out["scaling"] = []
    for name, kw in variants.items():
        changes: dict[str, Any] = {"max_steps": steps, "eval_every": steps} if steps else {}
        tc = replace(VARIANT_TRAIN, **changes)
        torch.manual_seed(tc.seed)
        model = GPT(GPTConfig(vocab_size=vocab_size, **VARIANT_SHAPE, **kw))
        hist = train(model, train_data, val_data, tc, device, log=quiet, progress=False)
        out["variants"].append(dict(
            name=name, config=asdict(model.config), params=model.num_params(),
            steps=tc.max_steps, tokens=hist.rows[-1]["tokens"], seconds=hist.rows[-1]["seconds"],
            val_loss=hist.rows[-1]["val_loss"],
            history=[[r["step"], r["seconds"], r["val_loss"]] for r in hist.rows]))
        (log or quiet)(f"{name:>6}: {model.num_params():,} parameters, val {hist.rows[-1]['val_loss']:.4f} "
                       f"after {hist.rows[-1]['seconds']:.1f} s")
        bar.update()
    for width in widths:
        changes = {"max_steps": steps} if steps else {}
        tc = replace(SCALING_TRAIN, **changes)
        torch.manual_seed(tc.seed)
        model = GPT(GPTConfig(vocab_size=vocab_size, n_embd=width, **SCALING_SHAPE))
        hist = train(model, train_data, val_data, tc, device, log=quiet, progress=False)
        n = model.num_params(non_embedding=True)
        tokens = hist.rows[-1]["tokens"]
        out["scaling"].append(dict(
            width=width, non_embedding_params=n, params=model.num_params(), tokens=tokens,
            flops=6 * n * tokens, val_loss=hist.rows[-1]["val_loss"],
            seconds=hist.rows[-1]["seconds"]))
        (log or quiet)(f"width {width:4d}: N = {n:8,d}, val {hist.rows[-1]['val_loss']:.4f}")
        bar.update()
    bar.close()
    return out


def load_corpus(frac: float = 0.9):
    """The tragedies, encoded with the shared vocabulary, split 90/10 by position."""
    from course import corpus

    tok = CharTokenizer(corpus.vocabulary())
    train_text, val_text = corpus.train_val_split(corpus.tragedies(), frac)
    encode = lambda s: torch.tensor(tok.encode(s), dtype=torch.long)  # noqa: E731
    return tok, encode(train_text), encode(val_text)


def load_text(text: str, frac: float = 0.9):
    """Any text (e.g. nanoGPT's tiny Shakespeare): its own sorted alphabet, split 90/10 by
    position as nanoGPT's ``prepare.py`` splits it."""
    tok = CharTokenizer.from_text(text)
    cut = int(len(text) * frac)
    encode = lambda s: torch.tensor(tok.encode(s), dtype=torch.long)  # noqa: E731
    return tok, encode(text[:cut]), encode(text[cut:])


def build(preset: str, vocab_size: int, **overrides) -> tuple[GPT, TrainConfig]:
    model_kw, tc = PRESETS[preset]
    model_over = {
        k: v for k, v in overrides.items() if k in GPTConfig.__dataclass_fields__ and v is not None
    }
    train_over = {
        k: v
        for k, v in overrides.items()
        if k in TrainConfig.__dataclass_fields__ and v is not None
    }
    tc = replace(tc, **train_over)
    torch.manual_seed(tc.seed)
    return GPT(GPTConfig(vocab_size=vocab_size, **{**model_kw, **model_over})), tc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    for name in (
        "max_steps",
        "batch_size",
        "warmup",
        "eval_every",
        "eval_batches",
        "seed",
        "threads",
        "n_layer",
        "n_head",
        "n_embd",
        "block_size",
    ):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    for name in ("lr", "min_lr", "dropout", "time_limit", "time_budget"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    for name in ("norm", "mlp", "pos", "compile_mode"):
        p.add_argument("--" + name.replace("_", "-"), default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument(
        "--out", default=None, help="save the trained model here (course.gpt.save_checkpoint)"
    )
    p.add_argument("--json", default=None, help="write the evaluation history here")
    return p


def main(argv=None) -> tuple[GPT, History]:
    args = parser().parse_args(argv)
    overrides = {
        k: v for k, v in vars(args).items() if k not in ("preset", "device", "out", "json")
    }
    if overrides.get("threads"):
        torch.set_num_threads(overrides["threads"])
    tok, train_data, val_data = load_corpus()
    model, tc = build(args.preset, tok.vocab_size, **overrides)
    print(f"preset {args.preset}: {model.num_params():,} parameters, {model.config}")
    print(f"training: {tc}")
    hist = train(model, train_data, val_data, tc, args.device)
    final = hist.rows[-1]
    if args.out:
        extra = {
            "preset": args.preset,
            "train": {k: v for k, v in asdict(tc).items() if k != "betas"},
            "val_loss": final["val_loss"],
            "train_loss": final["train_loss"],
            "step": final["step"],
            "train_seconds": final["seconds"],
        }
        save_checkpoint(args.out, model.cpu(), tok, extra=extra)
        print(f"saved {args.out}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "preset": args.preset,
                    "config": asdict(model.config),
                    "info": hist.info,
                    "history": hist.rows,
                },
                fh,
                indent=1,
            )
    return model, hist


if __name__ == "__main__":
    main()
