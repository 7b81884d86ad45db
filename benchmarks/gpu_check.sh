#!/usr/bin/env bash
# The GPU check of module 08, ONE command on a lent H100/H200 (under 8 minutes):
#
#   bash benchmarks/gpu_check.sh [--data input.txt] [--budget 60] [--out FILE]
#   bash benchmarks/gpu_check.sh --device cpu --smoke     # the same steps, tiny, on a CPU
#   COMPILE_MODE=default bash benchmarks/gpu_check.sh     # override the compile mode
#
# 1. installs what the course's GPT needs (torch, numpy, tqdm) if the Python lacks it: from a
#    folder of wheels ($WHEELS, default .whl/) when there is one, else from the package index;
# 2. checks correctness: the same weights on the same fixed batch give the CPU's loss on the
#    device, in float32 (TF32 products: rtol 1e-3), in the device's mixed precision (bf16, or
#    fp16 with a gradient scaler; rtol 2e-2), compiled, and after 8 training steps (rtol 2e-2);
# 3. trains the `gpu` preset (nanoGPT's 10.7 M-parameter shakespeare_char model) for a time
#    budget (default 60 s of training; compilation and evaluations not counted), its cosine
#    fitted to the steps the budget allows, printing tokens/s, MFU and validation loss against
#    time. Target: val <= 1.47 within 60 s on tiny Shakespeare (--data nanoGPT's input.txt);
#    by default it trains on the course's tragedies.
# 4. writes benchmarks/results/train_gpt-gpu.json (or --out): the check, the run, the machine.
# Exit status 1 if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=cuda SMOKE=0 BUDGET="" DATA="" OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --budget) BUDGET="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if [ "$DEVICE" != cpu ] && ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  PY=python3  # a CPU-only .venv: the machine's own Python may hold a CUDA torch
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
[ "$DEVICE" = cpu ] && export COURSE_DEVICE=cpu
if [ -z "$OUT" ]; then
  if [ "$SMOKE" = 1 ]; then OUT="$(mktemp -d)/gpu_check-smoke.json"; else OUT=benchmarks/results/train_gpt-gpu.json; fi
fi
mkdir -p "$(dirname "$OUT")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "== 1. packages ($PY)"
missing=$("$PY" - <<'EOF'
import importlib.util
print(" ".join(m for m in ("torch", "numpy", "tqdm") if importlib.util.find_spec(m) is None))
EOF
)
if [ -n "$missing" ]; then
  WHEELS="${WHEELS:-.whl}"
  if [ -d "$WHEELS" ]; then
    echo "installing $missing from $WHEELS"
    "$PY" -m pip install -q --no-index --no-deps --target "$TMP/site" "$WHEELS"/*.whl
  else
    echo "installing $missing from the package index"
    "$PY" -m pip install -q --target "$TMP/site" $missing
  fi
  export PYTHONPATH="$PYTHONPATH:$TMP/site"
fi
"$PY" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| devices', torch.cuda.device_count())"
if [ "$DEVICE" != cpu ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi

echo "== 2. correctness: $DEVICE loss == CPU loss on a fixed batch"
SMOKE_ARG=()
[ "$SMOKE" = 1 ] && SMOKE_ARG=(--smoke)
"$PY" benchmarks/train_gpt.py --device "$DEVICE" --check "${SMOKE_ARG[@]}" --out "$TMP/check.json"

echo "== 3. speed: validation loss against training time"
RUN_ARGS=(--device "$DEVICE" --out "$TMP/run.json")
if [ "$SMOKE" = 1 ]; then
  RUN_ARGS+=(--smoke --budget "${BUDGET:-3}" --eval-every 10)
else
  RUN_ARGS+=(--preset gpu)
  [ -n "$BUDGET" ] && RUN_ARGS+=(--budget "$BUDGET")
fi
[ -n "$DATA" ] && RUN_ARGS+=(--data "$DATA")
[ -n "${COMPILE_MODE:-}" ] && RUN_ARGS+=(--compile-mode "$COMPILE_MODE")
start=$(date +%s)
if ! "$PY" benchmarks/train_gpt.py "${RUN_ARGS[@]}"; then
  # The mode chosen for the model's size (CUDA graphs for small models) is the least tried part
  # of the GPU path: if it fails here, say so and measure the plain compiled model instead.
  [ "$DEVICE" = cpu ] && exit 1
  echo "!! the run failed with the automatic compile mode; retrying with --compile-mode default"
  "$PY" benchmarks/train_gpt.py "${RUN_ARGS[@]}" --compile-mode default
fi
echo "training run: $(( $(date +%s) - start )) s wall"

echo "== 4. results"
"$PY" - "$TMP/check.json" "$TMP/run.json" "$OUT" <<'EOF'
import json, sys
check, run = (json.load(open(p)) for p in sys.argv[1:3])
ours = run["ours"]
result = {k: run[k] for k in ("device", "device_name", "torch", "data")}
result.update(check=check["check"], run=ours, ran_on_gpu=run["device"].startswith("cuda"))
json.dump(result, open(sys.argv[3], "w"), indent=1)
print(f"{'seconds':>8} {'step':>6} {'val':>7} {'tok/s':>10} {'MFU':>6}")
for r in ours["history"]:
    mfu = "" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
    print(f"{r['seconds']:8.1f} {r['step']:6d} {r['val_loss']:7.4f} {r['tokens_per_s']:10.0f} {mfu:>6}")
print(f"final val {ours['final_val_loss']:.4f} after {ours['train_seconds']} s of training "
      f"({ours['info'].get('precision')}, compile {ours['info'].get('compile_mode')}, "
      f"compilation {ours['info'].get('compile_seconds', 0)} s)")
ok = all(c["ok"] for c in check["check"].values())
print("checks:", "all ok" if ok else "FAILED", "| wrote", sys.argv[3])
sys.exit(0 if ok else 1)
EOF
