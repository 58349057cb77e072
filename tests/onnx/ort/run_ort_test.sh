#!/usr/bin/env bash
# ctest onnx_runtime_zoo: every zoo model exported by duet (onnx_export_zoo), checked by
# onnx.checker (full_check) and run by ONNX Runtime against duet's logits (check_zoo.py), in
# the venv of scripts/python_venv.sh. Exits 77 (ctest: skipped) only when that venv cannot be
# had.
#   run_ort_test.sh EXPORTER OUT_DIR [CASE...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exporter=$1
out=$2
shift 2
if ! py=$(bash "$here/../../../scripts/python_venv.sh" | tail -n 1) || [ ! -x "$py" ] ||
   ! "$py" -c "import onnx, onnxruntime, numpy" 2> /dev/null; then
  echo "SKIPPED: the Python venv with onnx and onnxruntime cannot be installed (scripts/python_venv.sh)"
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
"$py" "$here/check_zoo.py" "$exporter" "$out" "$@"
