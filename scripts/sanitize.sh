#!/usr/bin/env bash
# Builds duet with AddressSanitizer + UndefinedBehaviorSanitizer (clang 19, CPU only) into
# ./build-asan and runs ctest there; extra args go to ctest. A sanitizer report fails its test.
#
#   scripts/sanitize.sh                       # the whole CPU suite
#   scripts/sanitize.sh -L 'io|data|fuzz'     # the loader tests and the fuzz-corpus replay
#   DUET_SAN_TARGETS="duet_test_io duet_test_data" scripts/sanitize.sh -L 'io|data'
#
# Environment: BUILD_DIR (build-asan), JOBS (2), CXX (clang++-19; g++ works too),
# DUET_SANITIZE (address,undefined), DUET_SAN_TARGETS (build only these targets; default all).
# The runtime defaults (halt on error, UBSan stack traces, leak checks) are compiled into the
# programs (cmake/sanitizer_options.cpp); ASAN_OPTIONS / UBSAN_OPTIONS override them.
set -euo pipefail
cd "$(dirname "$0")/.."

CXX=${CXX:-clang++-19}
PKGS=(build-essential cmake libeigen3-dev zlib1g-dev nlohmann-json3-dev dataset-fashion-mnist
      googletest libgtest-dev libbenchmark-dev)
if [[ "$CXX" == clang++* ]]; then
  PKGS+=(clang-19 libclang-rt-19-dev)
  CC=${CC:-${CXX/clang++/clang}}
else
  CC=${CC:-gcc}
fi
export CC CXX
source scripts/apt_install.sh
duet_apt_install sanitize "${PKGS[@]}"

BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
configure=(-DCMAKE_BUILD_TYPE=Release -DDUET_CUDA=OFF -DDUET_BUILD_TESTS=ON
           -DDUET_BUILD_EXAMPLES=ON -DDUET_BUILD_BENCH=ON
           "-DDUET_SANITIZE=${DUET_SANITIZE:-address,undefined}" "${launcher[@]}")
cmake -S . -B "$BUILD_DIR" "${configure[@]}"
if [ -n "${DUET_SAN_TARGETS:-}" ]; then
  read -r -a targets <<< "$DUET_SAN_TARGETS"
  cmake --build "$BUILD_DIR" -j"$JOBS" --target "${targets[@]}"
else
  cmake --build "$BUILD_DIR" -j"$JOBS"
fi
cd "$BUILD_DIR"
ctest --output-on-failure -j"$JOBS" "$@"
