#!/usr/bin/env bash
# Runs duet (eager and graph) and PyTorch side by side in one go and prints the ratios:
# the Fashion-MNIST CNN training step (compare_modes) and conv2d forward GFLOP/s.
# Needs a build with -DDUET_BUILD_BENCH=ON and a python3 with torch (Debian: python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-20}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
declare -A duet_eager duet_graph torch_ms
for b in 1 64; do
  line=$(./build/examples/compare_modes --steps "$STEPS" --batch-size "$b" --synthetic --json | tail -n 1)
  duet_eager[$b]=$($PY -c "import json,sys; print(json.loads(sys.argv[1])['eager_step_ms'])" "$line")
  duet_graph[$b]=$($PY -c "import json,sys; print(json.loads(sys.argv[1])['graph_step_ms'])" "$line")
done
ref=$($PY bench/pytorch_fashion_cnn.py --steps "$STEPS" --batches 1,64 --threads "$OMP_NUM_THREADS")
echo "$ref"
for b in 1 64; do
  torch_ms[$b]=$($PY -c "
import json,sys
for l in sys.argv[1].splitlines():
    r=json.loads(l)
    if r.get('batch_size')==$b: print(r['step_ms'])" "$ref")
  $PY -c "
e,g,t=${duet_eager[$b]},${duet_graph[$b]},${torch_ms[$b]}
print(f'fashion_cnn train step, batch $b: duet eager {e:.3f} ms, duet graph {g:.3f} ms, pytorch eager {t:.3f} ms; '
      f'time ratio vs pytorch: eager {e/t:.2f}, graph {g/t:.2f}')"
done
duet_conv=$(./build/bench/bench_cpu_ops --benchmark_filter='Conv2dForward/(layer1|layer2_3x3s2|layer3_3x3_256|layer4)' \
            --benchmark_min_time=0.2 --benchmark_format=json 2>/dev/null | sed -n '/^{/,$p')
$PY - "$duet_conv" "$ref" <<'PY'
import json, sys
duet = {b["name"].split("/")[1]: b["GFLOP/s"] for b in json.loads(sys.argv[1])["benchmarks"]}
for l in sys.argv[2].splitlines():
    r = json.loads(l)
    if "conv2d_forward" in r:
        d = duet.get(r["conv2d_forward"])
        if d:
            print(f"conv2d forward {r['conv2d_forward']}: duet {d:.0f} GFLOP/s, pytorch {r['gflops']:.0f} GFLOP/s, duet/pytorch {d / r['gflops']:.2f}")
PY
