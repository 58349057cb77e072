#!/usr/bin/env bash
# ctest onnx_torchvision_import: exports torchvision's resnet18, mobilenet_v2, efficientnet_b0
# and a custom model with torch.onnx.export (export_torchvision.py) and builds tf2onnx-style
# NHWC models (../nhwc/make_nhwc.py, expected outputs from ONNX Runtime), then checks duet's
# import of each, eager and compiled (onnx_check_import: max|duet - ref| <= 1e-4 max|ref|).
# Exits 77 (ctest: skipped) only when the venv of scripts/python_venv.sh cannot be had (1 then
# under DUET_REQUIRE_VENV=1, as in CI).
#   run_import_test.sh CHECKER OUT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
checker=$1
out=$2
source "$here/../../venv_python.sh"
py=$(duet_venv_python "import torch, torchvision, onnx, onnxruntime, numpy") || exit $?
rm -rf "$out"
mkdir -p "$out"
"$py" "$here/export_torchvision.py" "$out" || exit 1
"$py" "$here/../nhwc/make_nhwc.py" "$out" || exit 1
"$checker" "$out"/*/
