#!/usr/bin/env bash
# ctest onnx_runtime_zoo / onnx_runtime_ops: models exported by duet (onnx_export_zoo), checked
# by onnx.checker (full_check) and run by ONNX Runtime against duet's outputs (check_zoo.py:
# every zoo model; check_ops.py: every op-table sample), in the venv of scripts/python_venv.sh.
# Exits 77 (ctest: skipped) only when that venv cannot be had (1 under DUET_REQUIRE_VENV=1).
#   run_ort_test.sh check_zoo.py|check_ops.py EXPORTER OUT_DIR [CASE...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
script=$1
exporter=$2
out=$3
shift 3
if ! py=$(bash "$here/../../../scripts/python_venv.sh" | tail -n 1) || [ ! -x "$py" ] ||
   ! "$py" -c "import onnx, onnxruntime, numpy" 2> /dev/null; then
  echo "SKIPPED: the Python venv with onnx and onnxruntime cannot be installed (scripts/python_venv.sh)"
  # CI (DUET_REQUIRE_VENV=1) installs it: there a missing venv is a failure, not a skip.
  [ "${DUET_REQUIRE_VENV:-0}" = 1 ] && exit 1
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
"$py" "$here/$script" "$exporter" "$out" "$@"
