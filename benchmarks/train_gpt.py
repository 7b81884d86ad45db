"""Benchmark: how fast does the module-08 GPT learn on this machine, and is the GPU path right?

Trains a preset of ``course.gpt_train`` (``cpu-budget`` on a CPU, ``gpu`` on CUDA) with its
cosine fitted to a time budget, and prints validation loss against training time, tokens per
second and, on CUDA, the model FLOPs utilisation (MFU). The figures go to
``benchmarks/results/train_gpt-<device>.json``.

    python benchmarks/train_gpt.py --device cpu --threads 2 --budget 90
    python benchmarks/train_gpt.py --device cpu --threads 2 --budget 90 \\
        --data PATH/input.txt --nanogpt PATH/nanoGPT     # nanoGPT's CPU run beside ours
    python benchmarks/train_gpt.py --check               # GPU loss == CPU loss on a fixed batch

``--data`` trains on any text split 90/10 by position with its own alphabet (nanoGPT's tiny
Shakespeare, ``input.txt`` of 1,115,394 characters); by default the course's tragedies.
``--nanogpt PATH`` runs nanoGPT's own ``train.py`` from a checkout (copied to a temporary
folder, its data prepared there by its ``prepare.py`` from ``--data``) with the CPU
configuration of its README: 4 layers, 4 heads, 128 wide, block 64, batch 12, no dropout,
``--nanogpt-iters`` iterations with the decay fitted to them. Its training time is the sum of
its iteration times, the evaluation iterations counted at the median iteration time.

Targets (module 08): 2 CPU cores, val loss <= 1.72 within 90 s of training on tiny Shakespeare;
one H100/H200: val loss <= 1.47 within 60 s (``benchmarks/gpu_check.sh``). Evaluation and
compilation time are not counted in the training time (``wall`` counts them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import gpt_train  # noqa: E402
from course.gpt import GPT, GPTConfig  # noqa: E402

NANOGPT_CPU = dict(
    block_size=64, batch_size=12, n_layer=4, n_head=4, n_embd=128, dropout=0.0, eval_iters=20
)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or device.type


def load_data(path: str | None):
    if path:
        return gpt_train.load_text(Path(path).read_text(encoding="utf-8"))
    return gpt_train.load_corpus()


# --- ours ------------------------------------------------------------------------------------


def run_ours(args, device: torch.device) -> dict:
    preset = args.preset or ("gpu" if device.type == "cuda" else "cpu-budget")
    tok, train_data, val_data = load_data(args.data)
    overrides = dict(
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        threads=args.threads,
        compile=args.compile,
        compile_mode=args.compile_mode,
        time_budget=args.budget,
        batch_size=args.batch_size,
        lr=args.lr,
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_embd=args.n_embd,
        n_head=args.n_head,
        warmup=args.warmup,
        norm=args.norm,
        mlp=args.mlp,
        pos=args.pos,
    )
    if args.min_lr is not None:
        overrides["min_lr"] = args.min_lr
    elif args.lr is not None:
        overrides["min_lr"] = args.lr / 10
    model, tc = gpt_train.build(preset, tok.vocab_size, **overrides)
    print(
        f"ours | {device_name(device)} | preset {preset} | {model.num_params():,} parameters | "
        f"torch {torch.__version__} | {torch.get_num_threads()} threads | "
        f"budget {tc.time_budget} s | {model.config}"
    )
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    hist = gpt_train.train(model, train_data, val_data, tc, device, progress=False)
    rows = hist.rows
    result = {
        "name": "course.gpt_train",
        "preset": preset,
        "params": model.num_params(),
        "model": asdict(model.config),
        "train": {k: v for k, v in asdict(tc).items()},
        "info": hist.info,
        "wall_s": round(time.perf_counter() - wall0, 1),
        "cpu_s": round(cpu_seconds() - cpu0, 1),
        "final_val_loss": rows[-1]["val_loss"],
        "best_val_loss": min(r["val_loss"] for r in rows),
        "steps": rows[-1]["step"],
        "train_seconds": rows[-1]["seconds"],
        "history": rows,
    }
    print(
        f"ours: final val loss {rows[-1]['val_loss']:.4f} after {rows[-1]['seconds']:.1f} s of "
        f"training, step {rows[-1]['step']} ({rows[-1]['tokens']:,} tokens, "
        f"{rows[-1]['tokens_per_s']:.0f} tok/s); wall {result['wall_s']} s, CPU {result['cpu_s']} s"
    )
    return result


# --- nanoGPT ------------------------------------------------------------------------------------

STEP_RE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")
ITER_RE = re.compile(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms")


def parse_nanogpt(lines: list[str], eval_interval: int) -> list[dict]:
    """nanoGPT's log -> rows (step, train seconds, losses). An evaluation iteration's time holds
    the evaluation (and a checkpoint save): it is counted at the median iteration time."""
    times: dict[int, float] = {}
    evals: list[tuple[int, float, float]] = []
    for line in lines:
        if m := ITER_RE.match(line):
            times[int(m[1])] = float(m[3]) / 1000
        elif m := STEP_RE.match(line):
            evals.append((int(m[1]), float(m[2]), float(m[3])))
    median = statistics.median(times.values()) if times else 0.0
    rows = []
    for step, tr, val in evals:
        seconds = sum(
            median if i % eval_interval == 0 else dt for i, dt in times.items() if i < step
        )
        rows.append(dict(step=step, seconds=round(seconds, 2), train_loss=tr, val_loss=val))
    return rows


def run_nanogpt(args) -> dict:
    src = Path(args.nanogpt)
    if not (src / "train.py").exists():
        raise SystemExit(f"--nanogpt {src}: no train.py there")
    data = Path(args.data) if args.data else src / "data" / "shakespeare_char" / "input.txt"
    if not data.exists():
        raise SystemExit("--nanogpt needs tiny Shakespeare's input.txt: pass --data PATH")
    iters = args.nanogpt_iters
    with tempfile.TemporaryDirectory(prefix="nanogpt-") as tmp:
        work = Path(tmp)
        for name in ("model.py", "train.py", "configurator.py"):
            shutil.copy(src / name, work / name)
        shutil.copytree(src / "config", work / "config")
        prep = work / "data" / "shakespeare_char"
        prep.mkdir(parents=True)
        shutil.copy(src / "data" / "shakespeare_char" / "prepare.py", prep / "prepare.py")
        shutil.copy(data, prep / "input.txt")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        subprocess.run([sys.executable, "prepare.py"], cwd=prep, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        cfg = {**NANOGPT_CPU, "max_iters": iters, "lr_decay_iters": iters}
        cmd = [sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu",
               "--compile=False", "--log_interval=1"] + [f"--{k}={v}" for k, v in cfg.items()]
        print("nanoGPT |", " ".join(cmd[1:]))
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("step"):
                print("nanoGPT", line.rstrip())
        if proc.wait():
            print("\n".join(lines[-20:]))
            raise SystemExit(f"nanoGPT exited with {proc.returncode}")
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    rows = parse_nanogpt(lines, eval_interval=250)
    result = {
        "name": "nanoGPT train.py",
        "command": " ".join(cmd[1:]),
        "config": cfg,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "final_val_loss": rows[-1]["val_loss"],
        "best_val_loss": min(r["val_loss"] for r in rows),
        "steps": rows[-1]["step"],
        "train_seconds": rows[-1]["seconds"],
        "history": rows,
    }
    print(
        f"nanoGPT: final val loss {result['final_val_loss']:.4f} after "
        f"{result['train_seconds']:.1f} s of training (step {result['steps']}); "
        f"wall {result['wall_s']} s, CPU {result['cpu_s']} s"
    )
    return result


# --- correctness on a device --------------------------------------------------------------------


def check_device(device: torch.device, *, steps: int = 8, smoke: bool = False) -> dict:
    """The same weights and the same fixed batch on the CPU and on ``device``: the losses must
    agree, in float32 (TF32 matrix products on CUDA: rtol 1e-3), under the device's mixed
    precision (bf16 keeps 8 bits of mantissa: rtol 2e-2) and after ``steps`` training steps
    (rtol 2e-2). On the CPU itself (``--smoke``) the comparison is exact up to rounding."""
    cfg = dict(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=64) if smoke else dict(
        vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384)
    g = torch.Generator().manual_seed(0)
    data = torch.randint(65, (20_000,), generator=g)
    x, y = gpt_train.get_batch(data, 8, cfg["block_size"], torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    cpu_model = GPT(GPTConfig(**cfg))
    state = {k: v.clone() for k, v in cpu_model.state_dict().items()}
    results = {}

    def loss_on(model, dev, precision, compiled=False):
        model = model.to(dev).eval()
        fwd = torch.compile(model) if compiled else model
        with torch.no_grad(), gpt_train.autocast(dev, precision):
            return fwd(x.to(dev), y.to(dev))[1].float().item()

    ref = loss_on(cpu_model, torch.device("cpu"), None)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    dev_model = GPT(GPTConfig(**cfg))
    dev_model.load_state_dict(state)
    mixed = gpt_train.precision_for(device)
    checks = [("float32", None, 1e-3 if device.type == "cuda" else 1e-6, False)]
    if mixed.dtype is not None:
        checks.append((mixed.name, mixed, 2e-2, False))
    if device.type == "cuda":
        checks.append((f"{mixed.name} compiled", mixed, 2e-2, True))
    for name, precision, rtol, compiled in checks:
        got = loss_on(dev_model, device, precision, compiled)
        ok = abs(got - ref) <= rtol * abs(ref)
        results[name] = dict(cpu=round(ref, 6), device=round(got, 6), rtol=rtol, ok=ok)
        print(f"check {name:>16}: cpu {ref:.6f} | {device.type} {got:.6f} | rtol {rtol:g} | "
              f"{'ok' if ok else 'MISMATCH'}")

    def trained(dev):
        model = GPT(GPTConfig(**cfg))
        model.load_state_dict(state)
        tc = gpt_train.TrainConfig(max_steps=steps, batch_size=8, lr=1e-3, min_lr=1e-4, warmup=2,
                                   eval_every=steps, eval_batches=2, seed=0, compile=False)
        hist = gpt_train.train(model, data[:18_000], data[18_000:], tc, dev, log=lambda *a: None,
                               progress=False)
        return hist.rows[-1]["val_loss"]

    a, b = trained(torch.device("cpu")), trained(device)
    ok = abs(a - b) <= 2e-2 * abs(a)
    results[f"after {steps} steps ({mixed.name})"] = dict(cpu=a, device=b, rtol=2e-2, ok=ok)
    print(f"check {'after ' + str(steps) + ' steps':>16}: cpu {a:.6f} | {device.type} {b:.6f} | "
          f"rtol 0.02 | {'ok' if ok else 'MISMATCH'}")
    return results


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default=None, help="default: course.runtime.device()")
    p.add_argument("--preset", default=None, help="default: gpu on CUDA, cpu-budget otherwise")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of training the cosine is fitted to (default: the preset's)")
    p.add_argument("--data", default=None, help="a text file to train on (default: the tragedies)")
    p.add_argument("--nanogpt", default=None, help="a nanoGPT checkout: run its CPU config too")
    p.add_argument("--nanogpt-iters", type=int, default=3000)
    p.add_argument("--check", action="store_true", help="GPU loss == CPU loss, then exit")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (tests, --device cpu)")
    p.add_argument("--no-train", action="store_true", help="with --nanogpt: only nanoGPT")
    for name in ("max_steps", "eval_every", "threads", "batch_size", "block_size", "n_layer",
                 "n_embd", "n_head", "warmup"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    for name in ("lr", "min_lr"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    for name in ("norm", "mlp", "pos", "compile_mode"):
        p.add_argument("--" + name.replace("_", "-"), default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--out", default=None,
                   help="results file (default benchmarks/results/train_gpt-<device>.json)")
    args = p.parse_args(argv)

    device = gpt_train.resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "data": Path(args.data).name if args.data else "shakespeare/tragedies.txt",
        "command": "python benchmarks/train_gpt.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if args.check:
        result["check"] = check_device(device, smoke=args.smoke)
    elif args.smoke:
        args.preset = args.preset or "tiny"
        args.max_steps = args.max_steps or 40
    if not args.check:
        if not args.no_train:
            result["ours"] = run_ours(args, device)
        if args.nanogpt:
            result["nanogpt"] = run_nanogpt(args)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"train_gpt-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    if args.check and not all(c["ok"] for c in result["check"].values()):
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
