#!/usr/bin/env bash
# ctest onnx_tensor_ops_torch: exports PyTorch modules made of tensor math and shape operations
# (export_tensor_ops.py: views and shape chains with a symbolic batch, cat/split, strided and
# flipped slices, constant/reflect/replicate pads, expand/repeat, broadcasting arithmetic, where,
# reductions, argmax, cumsum, an embedding lookup, F.interpolate) at opsets 11, 13 and 17, then
# checks duet's import of each, eager and compiled, against PyTorch's outputs (onnx_check_import).
# Exits 77 (ctest: skipped) only when the venv of scripts/python_venv.sh cannot be had.
#   run_tensor_ops_test.sh CHECKER OUT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
checker=$1
out=$2
source "$here/../../venv_python.sh"
py=$(duet_venv_python "import torch, onnx, numpy") || exit $?
rm -rf "$out"
mkdir -p "$out"
"$py" "$here/export_tensor_ops.py" "$out" || exit 1
"$checker" "$out"/*/
