#!/usr/bin/env bash
# Installs duet's build dependencies from Debian's packages (idempotent) and configures +
# builds the tree into ./build. Used by scripts/demo.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake libeigen3-dev zlib1g-dev nlohmann-json3-dev dataset-fashion-mnist
      googletest libgtest-dev libbenchmark-dev)
# Extra packages a caller needs (scripts/test.sh: PyTorch, the reference for classify).
read -r -a EXTRA <<< "${DUET_EXTRA_PKGS:-}"
PKGS+=("${EXTRA[@]}")
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "[setup] installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j"$JOBS"
