#!/usr/bin/env bash
# ctest bench_compare_inference (tests/bench/tests.cmake): bench/compare_inference.sh on a tiny
# grid, then checks what it wrote. Exits 77 (skipped) only when the venv of
# scripts/python_venv.sh cannot be had (1 under DUET_REQUIRE_VENV=1: tests/venv_python.sh).
#   compare_inference_test.sh BUILD_DIR OUT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
out=$2
source "$here/../venv_python.sh"
py=$(duet_venv_python "import onnxruntime, onnx, torch, torchvision, numpy") || exit $?
rm -rf "$out"
bash "$here/../../bench/compare_inference.sh" "$build" "$out" --models resnet18 --batches 1 \
  --size 32 --steps 1 --warmup 0 --threads 1 > "$out.stdout" || { cat "$out.stdout"; exit 1; }
"$py" - "$out" "$here/../../bench/compare.py" <<'PY' || exit 1
import json, os, subprocess, sys
out, compare = sys.argv[1], sys.argv[2]
lines = open(os.path.join(out, "inference.csv")).read().splitlines()
header = lines[0].split(";")
assert header == ["", "Framework", "Architecture", "Input size", "Batch size", "Mode",
                  "GPU index", "Time", "Memory", "Median", "Device total", "CUDA graph",
                  "Graph path"], header
rows = [dict(zip(header, l.split(";"))) for l in lines[1:]]
frameworks = sorted(r["Framework"] for r in rows)
assert frameworks == ["duet-eager", "duet-graph", "onnxruntime", "pytorch-eager",
                      "pytorch-graph"], frameworks
for r in rows:
    assert r["Architecture"] == "resnet18" and r["Input size"] == "(32, 32, 3)", r
    assert r["Batch size"] == "1" and r["Mode"] == "inference_cpu", r
    assert float(r["Time"]) > 0 and float(r["Median"]) > 0, r
ort = next(r for r in rows if r["Framework"] == "onnxruntime")
assert ort["Memory"] == "-" and ort["Graph path"] == "ORT_ENABLE_ALL", ort
results = open(os.path.join(out, "results.md")).read()
assert "Targets, `duet-graph/onnxruntime`: geomean" in results, results
assert "From the means instead" in results, results
assert open(os.path.join(out, "inference.svg")).read().startswith("<svg"), "no figure"
assert os.path.exists(os.path.join(out, "onnx_models", "resnet18_s32_b1_opset17.onnx"))
# compare.py's JSON: ratios to ORT of the four others, one valid point each, and the verdict.
res = json.loads(subprocess.run(
    [sys.executable, compare, os.path.join(out, "inference.csv"), "--baseline", "onnxruntime",
     "--stat", "median", "--check", "duet-graph:1.0:1.2", "--json"],
    check=True, capture_output=True, text=True).stdout)
cpu = res["geomeans"]["inference_cpu"]
assert sorted(cpu) == ["duet-eager", "duet-graph", "pytorch-eager", "pytorch-graph"], cpu
t = {r["Framework"]: float(r["Median"]) for r in rows}
g = cpu["duet-graph"]
assert g["points"] == 1 and g["worst_point"] == "resnet18 32x1", g
assert abs(g["geomean"] - t["duet-graph"] / t["onnxruntime"]) < 1e-9 * g["geomean"], (g, t)
verdict = res["checks"]["inference_cpu"][0]
assert verdict["framework"] == "duet-graph", verdict
assert verdict["met"] == (g["geomean"] <= 1.0), verdict  # one point: geomean = worst
print("bench_compare_inference: OK;", ", ".join(f"{k} {v['geomean']:.2f}" for k, v in cpu.items()),
      "(x onnxruntime, resnet18 32x1, not judged)")
PY
