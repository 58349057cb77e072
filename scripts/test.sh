#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (ctest). Extra args go to ctest.
# DUET_WERROR=ON makes compiler warnings errors (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
# PyTorch + torchvision (Debian's 1.13) are the reference the classify test compares against.
DUET_EXTRA_PKGS="python3-torch python3-torchvision" \
  bash scripts/setup.sh -DDUET_BUILD_TESTS=ON -DDUET_BUILD_EXAMPLES=ON -DDUET_BUILD_BENCH=ON \
  -DDUET_WERROR="${DUET_WERROR:-OFF}"
# The Python reference tools (scripts/python_requirements.txt: tensorboard, ...) in their venv;
# the tests that need them skip when it cannot be installed.
# DUET_REQUIRE_VENV=1 (CI) makes a failed install an error instead.
if ! bash scripts/python_venv.sh > /dev/null; then
  [ "${DUET_REQUIRE_VENV:-0}" = 1 ] && { echo "test.sh: the Python venv did not install" >&2; exit 1; }
  echo "test.sh: no Python venv: its tests will skip" >&2
fi
cd build
ctest --output-on-failure -j2 "$@"
