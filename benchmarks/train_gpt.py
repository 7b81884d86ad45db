"""Benchmark: how fast does the module-08 GPT learn on this machine?

Trains the module's shipped configuration for the device (``cpu`` preset on a CPU, ``gpu`` preset
on CUDA: bf16 autocast, ``torch.compile``, fused AdamW) and prints validation loss against
training time, tokens per second and, on CUDA, the model FLOPs utilisation (MFU). The figures go
to ``benchmarks/results/train_gpt-<device>.json``.

    python benchmarks/train_gpt.py                       # best device, its preset
    python benchmarks/train_gpt.py --device cpu --threads 2 --time-limit 300
    python benchmarks/train_gpt.py --preset gpu --time-limit 60

Targets (module 08): CPU, 2 cores: val loss <= 1.56 within 5 minutes of training;
one H100: val loss <= 1.47 within 60 s. Evaluation time is not counted in the training time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import gpt_train  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default=None)
    p.add_argument("--preset", default=None, help="default: gpu on CUDA, cpu otherwise")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds of training (default: 300 CPU, 60 GPU)",
    )
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument(
        "--out",
        default=None,
        help="results file (default benchmarks/results/train_gpt-<device>.json)",
    )
    args = p.parse_args(argv)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    preset = args.preset or ("gpu" if device.type == "cuda" else "cpu")
    limit = (
        args.time_limit
        if args.time_limit is not None
        else (60.0 if device.type == "cuda" else 300.0)
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    tok, train_data, val_data = gpt_train.load_corpus()
    model, tc = gpt_train.build(
        preset,
        tok.vocab_size,
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        threads=args.threads,
        compile=args.compile,
        time_limit=limit,
    )
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu"
    )
    print(
        f"{name} | preset {preset} | {model.num_params():,} parameters | torch {torch.__version__} | "
        f"{torch.get_num_threads()} threads | time limit {limit:g} s"
    )
    start = time.perf_counter()
    hist = gpt_train.train(model, train_data, val_data, tc, device)
    rows = hist.rows
    best = min(rows, key=lambda r: r["val_loss"])
    result = {
        "device": str(device),
        "device_name": name,
        "preset": preset,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "time_limit_s": limit,
        "params": model.num_params(),
        "model": asdict(model.config),
        "train": {k: v for k, v in asdict(tc).items()},
        "wall_s": round(time.perf_counter() - start, 1),
        "final_val_loss": rows[-1]["val_loss"],
        "best_val_loss": best["val_loss"],
        "history": rows,
    }
    print(
        f"final val loss {rows[-1]['val_loss']:.4f} after {rows[-1]['seconds']:.1f} s of training "
        f"({rows[-1]['tokens']:,} tokens, {rows[-1]['tokens_per_s']:.0f} tok/s)"
    )
    out = (
        Path(args.out)
        if args.out
        else ROOT / "benchmarks" / "results" / f"train_gpt-{device.type}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
