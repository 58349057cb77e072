#!/usr/bin/env bash
# Imported ONNX models in duet against ONNX Runtime and against duet's own zoo model:
# torchvision's resnet50 and mobilenet_v2 exported at (1|8, 3, 224, 224), timed in one run,
# 2 threads each, median of --steps steps after warm-up, the three interleaved step by step
# (bench/onnx/compare_ort.py drives bench_onnx_import --serve):
#   ORT:         ONNX Runtime, CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads=2
#   duet import: bench_onnx_import, Model::compile of the imported file, set_num_threads(2)
#   duet zoo:    the same program, duet::models::create_model(<same arch>) compiled
# Prints a table with the ratios import/ORT and import/zoo (of the medians, and of the fastest
# steps) and writes OUT_DIR/results.jsonl.
#   bench/onnx/run_bench.sh BUILD_DIR [OUT_DIR] [--threads 2] [--steps 10] [--warmup 3]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
out=${2:-$build/bench_onnx}
shift $(( $# >= 2 ? 2 : 1 ))
threads=2 steps=10 warmup=3
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
py=$(bash "$here/../../scripts/python_venv.sh" | tail -n 1)
bench=$build/bench/bench_onnx_import
[ -x "$bench" ] || { echo "build bench_onnx_import first (cmake --build $build --target bench_onnx_import)" >&2; exit 1; }
mkdir -p "$out"
"$py" "$here/export_bench_models.py" "$out"
results=$out/results.jsonl
: > "$results"
for model in resnet50 mobilenet_v2; do
  for batch in 1 8; do
    f=$out/${model}_b${batch}.onnx
    echo "== $model batch $batch" >&2
    "$py" "$here/compare_ort.py" "$f" "$model" "$bench" --threads "$threads" --steps "$steps" \
      --warmup "$warmup" | tee -a "$results" >&2
  done
done
"$py" - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| model | batch | threads (ORT/duet) | ORT ms | duet import ms | duet zoo ms | import / ORT "
      "| import / zoo | min: import / ORT | min: import / zoo |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['model']} | {r['batch']} | {r['ort_threads']}/{r['threads']} | {r['ort_ms']:.1f} | "
          f"{r['import_ms']:.1f} | {r['zoo_ms']:.1f} | {r['import_ms'] / r['ort_ms']:.2f} | "
          f"{r['import_ms'] / r['zoo_ms']:.3f} | {r['import_min_ms'] / r['ort_min_ms']:.2f} | "
          f"{r['import_min_ms'] / r['zoo_min_ms']:.3f} |")
PY
