#!/usr/bin/env bash
# Runs one libFuzzer target for N seconds on its corpus:
#   scripts/fuzz.sh <fuzz_safetensors|fuzz_idx|fuzz_ops|fuzz_checkpoint|fuzz_store|fuzz_onnx> <seconds> [libFuzzer args...]
# Configures + builds build-fuzz (clang-19, -DDUET_FUZZ=ON: libFuzzer + ASan + UBSan) when
# needed, merges fuzz/corpus/<target> into the scratch corpus build-fuzz/corpus-<target>
# (outside git; new inputs go there), runs the target, and prints executions and crashes.
# Crashes are written to build-fuzz/crashes-<target>/; minimize one with
#   build-fuzz/fuzz/<target> -minimize_crash=1 -runs=10000 <crash file>
# and commit it to fuzz/crashes/<target>/. Environment: BUILD_DIR (build-fuzz), JOBS (2),
# NICE (10).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  echo "usage: $0 <fuzz_safetensors|fuzz_idx|fuzz_ops|fuzz_checkpoint|fuzz_store|fuzz_onnx> <seconds> [libFuzzer args...]" >&2
  exit 2
fi
TARGET=$1
SECONDS_TO_RUN=$2
shift 2
case "$TARGET" in
  fuzz_safetensors | fuzz_idx | fuzz_ops | fuzz_checkpoint | fuzz_store | fuzz_onnx) ;;
  *) echo "unknown target '$TARGET' (fuzz_safetensors, fuzz_idx, fuzz_ops, fuzz_checkpoint, fuzz_store, fuzz_onnx)" >&2; exit 2 ;;
esac
BUILD_DIR=${BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
NICE=${NICE:-10}

# clang 19 with its runtime libraries (libFuzzer, ASan, UBSan), as scripts/setup.sh does.
if ! command -v clang++-19 > /dev/null || ! ls /usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.fuzzer-x86_64.a > /dev/null 2>&1; then
  source scripts/apt_install.sh
  duet_apt_install fuzz clang-19 libclang-rt-19-dev
fi

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  LAUNCHER=()
  command -v ccache > /dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang-19 \
    -DCMAKE_CXX_COMPILER=clang++-19 -DDUET_FUZZ=ON -DDUET_SHARED=OFF -DDUET_CUDA=OFF \
    -DDUET_BUILD_TESTS=OFF -DDUET_BUILD_EXAMPLES=OFF -DDUET_BUILD_BENCH=OFF "${LAUNCHER[@]}"
else
  # Re-read the CMake files: a target added since the last configure is otherwise unknown
  # to the generated Makefiles ("No rule to make target").
  cmake -S . -B "$BUILD_DIR" > /dev/null
fi
nice -n "$NICE" cmake --build "$BUILD_DIR" -j"$JOBS" --target "$TARGET"

BIN="$BUILD_DIR/fuzz/$TARGET"
CORPUS="$BUILD_DIR/corpus-$TARGET"
CRASHES="$BUILD_DIR/crashes-$TARGET"
mkdir -p "$CORPUS" "$CRASHES"
DICT=()
[ -f "fuzz/${TARGET#fuzz_}.dict" ] && DICT=(-dict="fuzz/${TARGET#fuzz_}.dict")
LOG="$BUILD_DIR/$TARGET.log"

# -timeout: an input running 25 s is a hang; -rss_limit_mb: duet's own limit is 256 MB
# (set_memory_limit in the targets), anything far above it is a bug.
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} nice -n "$NICE" "$BIN" "$CORPUS" fuzz/corpus/"$TARGET" \
  "${DICT[@]}" -max_total_time="$SECONDS_TO_RUN" -timeout=25 -rss_limit_mb=2048 \
  -artifact_prefix="$CRASHES/" -print_final_stats=1 "$@" 2>&1 | tee "$LOG" |
  grep -E "^(#[0-9]+ +(INITED|DONE|pulse))|ERROR|FUZZ BUG|SUMMARY|artifact|stat::|Done"
rc=${PIPESTATUS[0]}
set -e
echo "[fuzz] $TARGET: exit $rc; executions: $(grep -m1 stat::number_of_executed_units "$LOG" | awk '{print $2}');" \
  "corpus: $(ls "$CORPUS" | wc -l) files; crash files: $(ls "$CRASHES" | wc -l) in $CRASHES; log: $LOG"
exit "$rc"
