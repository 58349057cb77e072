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
source "$here/../../venv_python.sh"
py=$(duet_venv_python "import onnx, onnxruntime, numpy") || exit $?
rm -rf "$out"
mkdir -p "$out"
"$py" "$here/$script" "$exporter" "$out" "$@"
