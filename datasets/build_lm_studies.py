"""Rebuild datasets/gpt/lm-studies.json: module 08's variant and scaling runs (its quick profile
shows these; its full profile trains them again with the same code).

    python datasets/build_lm_studies.py --threads 2

Trains, on the first 90 % of shakespeare/tragedies.txt, the three model families of
``course.gpt_train.VARIANTS`` (GPT-2, LLaMA, ALiBi style; equal parameters, 400 steps of 16
windows of 128 characters each) and the 2-layer models of widths ``SCALING_WIDTHS`` (300 steps
of 16 windows of 64 characters each), seed 0, on the CPU. Losses are deterministic for a given
CPU, thread count and torch version; the seconds are this machine's.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import gpt_train  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "datasets" / gpt_train.STUDIES_NAME))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tok, train_data, val_data = gpt_train.load_corpus()
    result = gpt_train.run_studies(train_data, val_data, tok.vocab_size, log=print)
    result["machine"] = dict(torch=torch.__version__, threads=args.threads,
                             cpu=platform.processor() or platform.machine())
    result["command"] = f"python datasets/build_lm_studies.py --threads {args.threads}"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
