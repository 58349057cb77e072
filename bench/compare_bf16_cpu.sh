#!/usr/bin/env bash
# The CPU mixed-precision targets of issue #14 in one run (docs/benchmarks.md, "Mixed precision
# on the CPU (bf16)"): resnet50 inference at 8x224 in graph mode, float32 vs bfloat16 autocast,
# beside PyTorch's bfloat16 autocast (oneDNN); resnet18 training at 8x128, float32 vs bfloat16.
# Medians per step; ratios printed at the end.
#
#   bench/compare_bf16_cpu.sh                       # build/, 2 threads, 20 steps
#   BUILD=build-kernels THREADS=2 STEPS=10 PYTHON=/usr/bin/python3 bench/compare_bf16_cpu.sh
#   OUT=/tmp/bf16 bench/compare_bf16_cpu.sh         # keep the CSVs there
#   TORCH=0 bench/compare_bf16_cpu.sh               # duet only (no PyTorch run)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="${BUILD:-$ROOT/build}"
THREADS="${THREADS:-2}"
STEPS="${STEPS:-20}"
WARMUP="${WARMUP:-3}"
PYTHON="${PYTHON:-/usr/bin/python3}"
TORCH="${TORCH:-1}"
OUT="${OUT:-$(mktemp -d)}"
BENCH="$BUILD/bench/duet-bench"
mkdir -p "$OUT"
[[ -x "$BENCH" ]] || { echo "compare_bf16_cpu.sh: no $BENCH (build the duet-bench target)" >&2; exit 1; }

common=(--threads "$THREADS" --steps "$STEPS" --warmup "$WARMUP")
echo "== duet: resnet50 8x224 inference, graph, fp32 vs bf16" >&2
"$BENCH" --models resnet50 --sizes 224 --batches 8 --modes inference --exec graph \
  --precision fp32,bf16 "${common[@]}" --csv "$OUT/duet_resnet50.csv" >&2
echo "== duet: resnet18 8x128 training, graph, fp32 vs bf16" >&2
"$BENCH" --models resnet18 --sizes 128 --batches 8 --modes train --exec graph \
  --precision fp32,bf16 "${common[@]}" --csv "$OUT/duet_resnet18.csv" >&2
echo "== PyTorch: resnet50 8x224 inference, bf16 autocast (and fp32)" >&2
if [[ "$TORCH" == 0 ]]; then
  echo "compare_bf16_cpu.sh: TORCH=0: PyTorch's column is skipped" >&2
elif "$PYTHON" -c "import torch" 2>/dev/null; then
  "$PYTHON" "$HERE/pytorch_reference.py" --models resnet50 --sizes 224 --batches 8 \
    --modes inference --exec eager --precision fp32,bf16 "${common[@]}" \
    --csv "$OUT/torch_resnet50.csv" >&2
else
  echo "compare_bf16_cpu.sh: $PYTHON has no torch; PyTorch's column is skipped" >&2
fi

"$PYTHON" - "$OUT" <<'EOF'
import csv, os, sys

out = sys.argv[1]
rows = {}
for name in ("duet_resnet50.csv", "duet_resnet18.csv", "torch_resnet50.csv"):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        continue
    with open(path) as f:
        for r in csv.DictReader(f, delimiter=";"):
            prec = r.get("Precision") or "fp32"
            fw = "torch" if name.startswith("torch") else "duet"
            try:
                mode = "inference" if r["Mode"].startswith("inference") else r["Mode"]
                rows[(fw, r["Architecture"], mode, prec)] = float(r["Median"])
            except (KeyError, ValueError):
                pass

def get(*key):
    return rows.get(key)

def ms(v):
    return "-" if v is None else f"{v * 1e3:.1f} ms"

print(f"\nmedian step time, {out}")
for k in sorted(rows):
    print(f"  {k[0]:6s} {k[1]:9s} {k[2]:10s} {k[3]:5s} {ms(rows[k])}")
f32 = get("duet", "resnet50", "inference", "fp32")
b16 = get("duet", "resnet50", "inference", "bf16")
tb16 = get("torch", "resnet50", "inference", "bf16")
t18f = get("duet", "resnet18", "train", "fp32")
t18b = get("duet", "resnet18", "train", "bf16")
if f32 and b16:
    print(f"resnet50 8x224 inference: duet bf16 graph {f32 / b16:.2f}x faster than duet fp32 graph"
          " (target >= 3x)")
if b16 and tb16:
    print(f"resnet50 8x224 inference: duet bf16 / PyTorch bf16 autocast = {b16 / tb16:.2f}"
          " (target <= 1.0)")
if t18f and t18b:
    print(f"resnet18 8x128 training: duet bf16 {t18f / t18b:.2f}x faster than duet fp32"
          " (target >= 1.5x)")
EOF
