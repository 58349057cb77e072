#!/usr/bin/env bash
# Installs duet's build dependencies from Debian's packages (idempotent) and configures +
# builds the tree into ./build. Used by scripts/demo.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake libeigen3-dev zlib1g-dev libpng-dev nlohmann-json3-dev
      dataset-fashion-mnist googletest libgtest-dev libbenchmark-dev python3-venv
      libopenmpi-dev openmpi-bin libgloo-dev libprotobuf-dev protobuf-compiler libonnx-dev
      libonnx-testdata)
# libopenmpi-dev + openmpi-bin: the MPI engine plugin (libduet_mpi.so) and the mpirun tests;
# libgloo-dev: the Gloo engine plugin (docs/distributed.md).
# libprotobuf-dev + protobuf-compiler + libonnx-dev (onnx.proto): ONNX import/export;
# libonnx-testdata: ONNX's backend node tests, which tests/onnx runs (docs/onnx.md).
# Extra packages a caller needs (scripts/test.sh: PyTorch, the reference for classify).
read -r -a EXTRA <<< "${DUET_EXTRA_PKGS:-}"
PKGS+=("${EXTRA[@]}")
source scripts/apt_install.sh
duet_apt_install setup "${PKGS[@]}"

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j"$JOBS"
