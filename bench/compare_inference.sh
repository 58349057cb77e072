#!/usr/bin/env bash
# CPU inference of duet (graph and eager), PyTorch (eager and frozen TorchScript) and ONNX Runtime
# in one CSV, with ONNX Runtime as the baseline (issue #17's targets: duet graph / ORT geomean
# <= 1.0 and every point <= 1.2).
#   bench/compare_inference.sh BUILD_DIR [OUT_DIR] [--threads 2] [--steps 10] [--warmup 3]
#       [--models resnet18,resnet50,mobilenet_v2,efficientnet_b0,vgg16] [--batches 1,8]
#       [--size 224] [--stat median|mean] [--rounds 1]
# Needs BUILD_DIR/bench/duet-bench (cmake --build BUILD_DIR --target duet-bench) and the venv of
# scripts/python_venv.sh (ONNX Runtime; Debian's torch 1.13 and torchvision are visible in it).
#
# Point by point (model x batch at --size), the three programs run one after the other, the
# order rotating from point to point (the machine's speed drifts: ratios are only valid within
# one run), each with --threads threads, --warmup untimed and --steps timed steps; --rounds R
# runs the whole grid R times (the rotation goes on across rounds) and each contender's row is
# then the mean of its rounds' means (Time) and the median of their medians (Median):
#   duet-eager, duet-graph        BUILD_DIR/bench/duet-bench --modes inference --exec eager,graph
#   pytorch-eager, pytorch-graph  bench/pytorch_reference.py --modes inference (graph: frozen
#                                 TorchScript + optimize_for_inference)
#   onnxruntime                   bench/ort_reference.py (torch.onnx.export at the point's
#                                 fixed shape, cached in OUT_DIR/onnx_models; CPU provider,
#                                 ORT_ENABLE_ALL, intra_op_num_threads = --threads)
# Writes OUT_DIR (default BUILD_DIR/bench_inference):
#   inference.csv   every row, the study's layout (duet's eager/graph renamed duet-eager/-graph)
#   results.md      bench/compare.py --baseline onnxruntime --stat median (default): the times,
#                   the ratios to ORT, geomeans, worst points, the #17 verdict; then the same
#                   verdict from the means
#   inference.svg   duet-bench's figure: time relative to the fastest, per model
#   points.log      per point: time, load average, order (also at the end of results.md);
#                   logs/ the programs' stderr
# Exits 1 when a program failed at some point (the tables then have "-" there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] && [ -d "$1" ] || { sed -n '2,9p' "$0" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
out=$build/bench_inference
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then out=$1; shift; fi
threads=2 steps=10 warmup=3 size=224 batches=1,8 stat=median rounds=1
models=resnet18,resnet50,mobilenet_v2,efficientnet_b0,vgg16
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "compare_inference.sh: $1 needs a value" >&2; exit 2; }
  case $1 in
    --threads) threads=$2 ;;
    --steps) steps=$2 ;;
    --warmup) warmup=$2 ;;
    --models) models=$2 ;;
    --batches) batches=$2 ;;
    --size) size=$2 ;;
    --stat) stat=$2 ;;
    --rounds) rounds=$2 ;;
    *) echo "compare_inference.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
bench=$build/bench/duet-bench
[ -x "$bench" ] || { echo "build duet-bench first (cmake --build $build --target duet-bench)" >&2; exit 1; }
py=$(bash "$here/../scripts/python_venv.sh" | tail -n 1) && "$py" -c "import onnxruntime, torch, torchvision" ||
  { echo "compare_inference.sh: the venv of scripts/python_venv.sh cannot import onnxruntime, torch, torchvision" >&2; exit 1; }
export OMP_NUM_THREADS=$threads  # PyTorch sets its own count too; no stray pool elsewhere

mkdir -p "$out/points" "$out/logs"
rm -f "$out"/points/*.csv
common=(--sizes "$size" --steps "$steps" --warmup "$warmup" --threads "$threads")
"$py" "$here/ort_reference.py" --export-only --models "$models" --sizes "$size" \
  --batches "$batches" --model-dir "$out/onnx_models"

run_duet() {  # model batch round
  "$bench" --models "$1" --batches "$2" --modes inference --exec eager,graph "${common[@]}" \
    --csv "$out/points/r$3_duet_$1_b$2.csv" > /dev/null 2>> "$out/logs/duet.log"
}
run_pytorch() {
  "$py" "$here/pytorch_reference.py" --models "$1" --batches "$2" --modes inference \
    --exec eager,graph "${common[@]}" --csv "$out/points/r$3_pytorch_$1_b$2.csv" \
    2>> "$out/logs/pytorch.log"
}
run_ort() {
  "$py" "$here/ort_reference.py" --models "$1" --batches "$2" --model-dir "$out/onnx_models" \
    "${common[@]}" --csv "$out/points/r$3_ort_$1_b$2.csv" 2>> "$out/logs/ort.log"
}

{
  echo "# $(date -u +%FT%TZ) $(git -C "$here/.." rev-parse --short HEAD 2> /dev/null || echo '?')" \
    "threads $threads steps $steps warmup $warmup size $size rounds $rounds," \
    "$(getconf _NPROCESSORS_ONLN) cores, $(git -C "$here/.." status --short -uno 2> /dev/null | wc -l)" \
    "modified tracked files in the tree"
  "$py" -c "import onnxruntime, torch; print('# onnxruntime', onnxruntime.__version__, 'torch', torch.__version__)"
} > "$out/points.log"
runners=(duet pytorch ort)
failed=0
i=0
IFS=, read -ra model_list <<< "$models"
IFS=, read -ra batch_list <<< "$batches"
for ((round = 1; round <= rounds; round++)); do
  for model in "${model_list[@]}"; do
    for batch in "${batch_list[@]}"; do
      order=()
      for k in 0 1 2; do order+=("${runners[$(((i + k) % 3))]}"); done
      echo "== round $round/$rounds: $model ${size}x$batch (${order[*]})" >&2
      echo "$(date -u +%T) round $round $model ${size}x$batch order ${order[*]}" \
        "load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/points.log"
      for r in "${order[@]}"; do
        if ! "run_$r" "$model" "$batch" "$round"; then
          echo "compare_inference.sh: $r failed at $model ${size}x$batch (see $out/logs/$r.log)" >&2
          failed=1
        fi
      done
      i=$((i + 1))
    done
  done
done
echo "$(date -u +%T) end load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/points.log"

# One CSV, the columns matched by name; duet-bench's eager / graph become duet-eager / -graph.
# Several rounds of a contender at a point: Time = mean of the rounds' Times, Median = median
# of their Medians, Memory = the largest ("-" if a round had none: out of memory).
python3 - "$out/inference.csv" "$models" "$out"/points/*.csv <<'PY'
import csv, statistics, sys
header = ["", "Framework", "Architecture", "Input size", "Batch size", "Mode", "GPU index", "Time",
          "Memory", "Median", "Device total", "CUDA graph", "Graph path"]
groups = {}  # (framework, architecture, size, batch, mode) -> [row], in first-seen order
for path in sys.argv[3:]:
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter=";")
        cols = {name.strip(): i for i, name in enumerate(next(reader, []))}
        for row in reader:
            if not row:
                continue
            r = [row[cols[h]] if h in cols and cols[h] < len(row) else "-" for h in header]
            if r[1] in ("eager", "graph"):
                r[1] = "duet-" + r[1]
            groups.setdefault(tuple(r[1:6]), []).append(r)
# Rows (hence compare.py's rows and columns) in --models order, then batch, then this order:
models = sys.argv[2].split(",")
frameworks = ["duet-graph", "duet-eager", "onnxruntime", "pytorch-graph", "pytorch-eager"]
rank = lambda names, x: names.index(x) if x in names else len(names)
groups = dict(sorted(groups.items(), key=lambda kv: (
    rank(models, kv[0][1]), int(kv[0][3]), rank(frameworks, kv[0][0]), kv[0])))

def combine(values, how):
    if any(v.strip() in ("", "-") for v in values):
        return "-"
    return repr(how([float(v) for v in values]))

with open(sys.argv[1], "w", newline="") as f:
    f.write(";".join(header) + "\n")
    for i, rows in enumerate(groups.values()):
        r = list(rows[0])
        col = header.index
        r[col("Time")] = combine([x[col("Time")] for x in rows], statistics.fmean)
        r[col("Median")] = combine([x[col("Median")] for x in rows], statistics.median)
        if r[col("Memory")] not in ("", "-"):
            r[col("Memory")] = combine([x[col("Memory")] for x in rows], max)
        f.write(";".join([str(i)] + r[1:]) + "\n")
PY

compare=(python3 "$here/compare.py" "$out/inference.csv" --baseline onnxruntime
         --check duet-graph:1.0:1.2)
"${compare[@]}" --stat "$stat" --markdown "$out/results.md"
other=$([ "$stat" = median ] && echo mean || echo median)
{
  echo
  echo "From the ${other}s instead:"
  echo
  "${compare[@]}" --stat "$other" | grep -E '^(Geometric means|Worst points|Targets)'
} | tee -a "$out/results.md"
{
  echo
  echo "Load average (1, 5, 15 min) when each point started ($(getconf _NPROCESSORS_ONLN) cores):"
  echo
  sed -e 's/^/    /' "$out/points.log"
} >> "$out/results.md"
"$bench" --steps 0 --from "$out/inference.csv" --plot "$out/inference.svg" > /dev/null
echo "wrote $out/inference.csv, $out/results.md, $out/inference.svg" >&2
exit $failed
