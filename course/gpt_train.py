"""Training the course GPT as practitioners do: the recipe of module 08 as reusable functions.

AdamW with weight decay on matrices only, linear warm-up then cosine decay, gradient clipping,
bf16 autocast and ``torch.compile`` on CUDA, evaluation on a fixed set of batches, checkpoints,
and the model FLOPs utilisation (MFU). The command line reproduces the shipped checkpoint:

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

import torch

from course.gpt import GPT, CharTokenizer, GPTConfig, save_checkpoint


@dataclass
class TrainConfig:
    max_steps: int = 2000
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
    eval_batch_size: int = 64
    seed: int = 1337
    compile: bool | None = None  # None: only on CUDA, where it pays
    amp: bool | None = None  # None: bf16 autocast on CUDA
    time_limit: float | None = None  # seconds; stop early (the benchmark uses it)
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
    # nanoGPT's shakespeare_char model (10.7 M parameters, dropout 0.2): 49 M tokens, sized for
    # about a minute on one H100 with bf16, torch.compile and flash attention (unmeasured here).
    "gpu": (
        dict(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
        TrainConfig(
            max_steps=2000,
            batch_size=96,
            lr=1.5e-3,
            min_lr=1.5e-4,
            warmup=100,
            eval_every=250,
            eval_batches=20,
            eval_batch_size=128,
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


def get_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator):
    """Random windows of ``data`` (1-D long): x (B, T) and y = x shifted by one, on the CPU."""
    starts = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)
    offsets = torch.arange(block_size + 1)
    chunk = data[starts[:, None] + offsets]
    return chunk[:, :-1], chunk[:, 1:]


def fixed_batches(data: torch.Tensor, n: int, batch_size: int, block_size: int, seed: int = 0):
    """The same ``n`` batches at every evaluation, so losses at different steps compare."""
    g = torch.Generator().manual_seed(seed)
    return [get_batch(data, batch_size, block_size, g) for _ in range(n)]


def autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(model, batches, device, amp: bool = False) -> float:
    """Mean cross-entropy (nats per token) over fixed batches."""
    was_training = model.training
    model.eval()
    total = 0.0
    for x, y in batches:
        with autocast(device, amp):
            _, loss = model(x.to(device), y.to(device))
        total += loss.item()
    model.train(was_training)
    return total / len(batches)


def flops_per_token(model: GPT) -> float:
    """Training FLOPs per token, 6N + 12 L T C (Kaplan et al. 2020; PaLM appendix B)."""
    c = model.config
    return (
        6 * model.num_params(non_embedding=True)
        + 6 * c.vocab_size * c.n_embd
        + 12 * c.n_layer * c.block_size * c.n_embd
    )


PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


@dataclass
class History:
    rows: list[dict] = field(default_factory=list)

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

    A progress bar counts the steps (``progress=None``: shown except under the quick profile).
    """
    from course.runtime import progress_bar

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    amp = tc.amp if tc.amp is not None else device.type == "cuda"
    use_compile = tc.compile if tc.compile is not None else device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model.to(device).train()
    opt = configure_optimizer(model, tc, device.type)
    step_model = torch.compile(model) if use_compile else model
    T = model.config.block_size
    g = torch.Generator().manual_seed(tc.seed)
    val_batches = fixed_batches(val_data, tc.eval_batches, tc.eval_batch_size, T, seed=tc.seed + 1)
    train_eval = fixed_batches(train_data, tc.eval_batches, tc.eval_batch_size, T, seed=tc.seed + 2)
    peak = peak_flops(device)
    fpt = flops_per_token(model)
    hist = History()
    tokens = 0
    train_seconds = 0.0  # time in optimisation steps, evaluations excluded
    start = time.perf_counter()
    bar = progress_bar(tc.max_steps, "training", show=progress)
    for step in range(tc.max_steps + 1):
        last = step == tc.max_steps or (
            tc.time_limit is not None and train_seconds >= tc.time_limit
        )
        if step % tc.eval_every == 0 or last:
            val = evaluate(step_model, val_batches, device, amp)
            tr = evaluate(step_model, train_eval, device, amp)
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
            )
            bar.set_postfix(train=f"{tr:.3f}", val=f"{val:.3f}", refresh=False)
            with bar.external_write_mode():  # a terminal bar is redrawn under the line
                log(
                    f"step {step:5d} | {train_seconds:7.1f} s | train {tr:.4f} | val {val:.4f} | "
                    f"{tok_s:9.0f} tok/s" + (f" | MFU {100 * mfu:.1f}%" if mfu is not None else "")
                )
        if last:
            break
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(
                step, lr=tc.lr, min_lr=tc.min_lr, warmup=tc.warmup, max_steps=tc.max_steps
            )
        x, y = get_batch(train_data, tc.batch_size, T, g)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            _, loss = step_model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds += time.perf_counter() - t0
        tokens += x.numel()
        bar.update()
    bar.close()
    return hist


def load_corpus(frac: float = 0.9):
    """The tragedies, encoded with the shared vocabulary, split 90/10 by position."""
    from course import corpus

    tok = CharTokenizer(corpus.vocabulary())
    train_text, val_text = corpus.train_val_split(corpus.tragedies(), frac)
    encode = lambda s: torch.tensor(tok.encode(s), dtype=torch.long)  # noqa: E731
    return tok, encode(train_text), encode(val_text)


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
        "seed",
        "threads",
        "n_layer",
        "n_head",
        "n_embd",
        "block_size",
    ):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    for name in ("lr", "min_lr", "dropout", "time_limit"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    for name in ("norm", "mlp", "pos"):
        p.add_argument("--" + name, default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
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
                {"preset": args.preset, "config": asdict(model.config), "history": hist.rows},
                fh,
                indent=1,
            )
    return model, hist


if __name__ == "__main__":
    main()
