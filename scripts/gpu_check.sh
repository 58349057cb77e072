#!/usr/bin/env bash
# The CUDA check on a machine with a GPU (issues #5 and #6, "verify on a real GPU"):
#   1. build with CUDA for one architecture (default 90: H100/H200), only the targets used;
#   2. ctest -L cuda (every op against the CPU, allocator, errors, training, graph mode,
#      CUDA Graph capture/replay, eager-vs-graph equivalence);
#   3. train_fashion_mnist --device cuda --epochs 1, eager and graph (CUDA Graph replay);
#   4. compare_modes --device cuda (batch 1 and 64; batch 1 also with --no-cuda-graph);
#   5. issue #6's benchmark points, duet eager + duet graph (capture on) + PyTorch eager +
#      PyTorch graph in one command each: training at batch 1 (resnet18, mobilenet_v2,
#      efficientnet_b0 at 224), training 32x224 (resnet50, vgg16), inference at batch 1 (the
#      three small models); bench/compare.py prints the time and peak-memory ratios;
#   6. (in 2) the NCCL engine with one rank (tests/cuda/nccl_test.cpp: collectives on CUDA
#      tensors, all_reduce_start/wait captured into a CUDA Graph), bootstrapped over Gloo
#      (carried from this machine when the GPU machine lacks libgloo-dev) or MPI; its log is
#      OUT/nccl.log.
#   7. optional, PRECISION=bf16,fp16 (or one of them): issue #14's mixed-precision point,
#      resnet50 training at 32x224 in fp32 and each given precision (autocast; fp16 with loss
#      scaling), duet eager + graph against PyTorch's torch.autocast, and train_fashion_mnist
#      --precision P --mode graph for 1 epoch; compare.py's "Low precision against fp32" table
#      gives each framework's speed-up over its own fp32.
#
#   bash scripts/gpu_check.sh [OUT_DIR]          # OUT_DIR default ./out (logs, CSVs)
#
# Environment: STEPS (timed steps, default 20), WARMUP (default 5), TORCH_GRAPH (PyTorch's
# graph path: cuda-graph (default: the whole step captured with torch.cuda.graph, no compile
# time), compile (torch.compile mode="reduce-overhead": minutes of compiling per point) or
# auto), CUDA_GRAPH_OFF=1 (also duet graph with --cuda-graph off at batch 1), STEP_TIMEOUT
# (seconds per benchmark command, default 240), PRECISION (step 7; unset: not run). Sized to
# fit in 10 minutes on an H100 without PRECISION (step 7 adds about 2 minutes).
#
# A machine without the Debian -dev packages gets them from third_party_carry/, which
# `bash scripts/gpu_check.sh --prepare` fills on a machine that has them (Eigen, nlohmann
# json, zlib headers, GoogleTest sources, the Fashion-MNIST files: about 45 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=third_party_carry

if [ "${1:-}" = "--prepare" ]; then
  rm -rf "$CARRY" && mkdir -p "$CARRY/include" "$CARRY/fashion-mnist"
  cp -r /usr/include/eigen3 "$CARRY/eigen3"
  cp -r /usr/include/nlohmann "$CARRY/include/"
  cp /usr/include/zlib.h /usr/include/zconf.h "$CARRY/include/"
  cp -r /usr/src/googletest "$CARRY/googletest"
  cp /usr/share/datasets/fashion-mnist/*.gz "$CARRY/fashion-mnist/"
  # Gloo (NCCL's bootstrap without mpirun): headers, libgloo and the libraries it needs.
  if [ -f /usr/include/gloo/context.h ]; then
    mkdir -p "$CARRY/gloo/include" "$CARRY/gloo/lib"
    cp -r /usr/include/gloo "$CARRY/gloo/include/"
    gloo_so=$(ls /usr/lib/libgloo.so.0 /usr/lib/x86_64-linux-gnu/libgloo.so.0 2> /dev/null | head -1)
    for l in "$gloo_so" $(ldd "$gloo_so" | awk '/hiredis|ibverbs|libnl/ {print $3}'); do
      cp -L "$l" "$CARRY/gloo/lib/"
    done
    ln -sf libgloo.so.0 "$CARRY/gloo/lib/libgloo.so"
  fi
  du -sh "$CARRY"
  exit 0
fi

OUT=${1:-${OUT:-out}}
mkdir -p "$OUT"
ARCH=${CUDA_ARCH:-90}
BUILD=${BUILD_DIR:-build-gpu}
args=(-DCMAKE_BUILD_TYPE=Release -DDUET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH"
      -DDUET_BUILD_TESTS=ON -DDUET_BUILD_EXAMPLES=ON -DDUET_BUILD_BENCH=ON)
DATA=/usr/share/datasets/fashion-mnist
if [ -d "$CARRY" ]; then
  args+=(-DDUET_EIGEN_INCLUDE_DIR="$PWD/$CARRY/eigen3" -DDUET_JSON_INCLUDE_DIR="$PWD/$CARRY/include"
         -DDUET_GTEST_SOURCE_DIR="$PWD/$CARRY/googletest" -DZLIB_INCLUDE_DIR="$PWD/$CARRY/include")
  zlib=$(ls /usr/lib/x86_64-linux-gnu/libz.so /lib/x86_64-linux-gnu/libz.so.1 2> /dev/null | head -1)
  [ -n "$zlib" ] && args+=(-DZLIB_LIBRARY="$zlib")
  DATA="$PWD/$CARRY/fashion-mnist"
  if [ -d "$CARRY/gloo" ] && [ ! -f /usr/include/gloo/context.h ]; then
    args+=(-DDUET_GLOO_ROOT="$PWD/$CARRY/gloo")
    export LD_LIBRARY_PATH="$PWD/$CARRY/gloo/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi
# cuDNN / NCCL from PyTorch's pip packages (nvidia-cudnn-cu13, nvidia-nccl-cu13) when the
# toolkit has none: they ship only libX.so.N, so a prefix with the unversioned link is made.
pip_nvidia_prefix() {  # $1: package (cudnn, nccl), $2: library; prints a prefix or nothing
  local dir
  dir=$(python3 -c "import nvidia.$1 as m; print(list(m.__path__)[0])" 2> /dev/null) || return 0
  [ -d "$dir/include" ] && [ -d "$dir/lib" ] || return 0
  local so
  so=$(ls "$dir"/lib/lib"$2".so* 2> /dev/null | head -1)
  [ -n "$so" ] || return 0
  local prefix=/tmp/duet_pip_$1
  rm -rf "$prefix" && mkdir -p "$prefix/lib"
  ln -s "$dir/include" "$prefix/include"
  for f in "$dir"/lib/*.so*; do ln -s "$f" "$prefix/lib/"; done
  [ -e "$prefix/lib/lib$2.so" ] || ln -s "$so" "$prefix/lib/lib$2.so"
  echo "$prefix"
}
cuda_inc=$(dirname "$(command -v nvcc 2> /dev/null || echo /usr/local/cuda/bin/nvcc)")/../include
if [ ! -f /usr/include/cudnn.h ] && [ ! -f "$cuda_inc/cudnn.h" ]; then
  p=$(pip_nvidia_prefix cudnn cudnn)
  if [ -n "$p" ]; then
    args+=(-DDUET_CUDNN_ROOT="$p")
    # cuDNN 9 loads its engine libraries from the directory it was found in at run time.
    export LD_LIBRARY_PATH="$(dirname "$(readlink -f "$p/include")")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "cudnn from pip: $p"
  fi
fi
if [ ! -f /usr/include/nccl.h ] && [ ! -f "$cuda_inc/nccl.h" ]; then
  p=$(pip_nvidia_prefix nccl nccl)
  if [ -n "$p" ]; then
    args+=(-DDUET_NCCL_ROOT="$p")
    # libnccl.so.2 is found through the same path as cuDNN above.
    export LD_LIBRARY_PATH="$(dirname "$(readlink -f "$p/include")")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "nccl from pip: $p"
  fi
fi
command -v ninja > /dev/null && args+=(-G Ninja)
nvidia-smi -L | tee "$OUT/gpu.txt"

echo "== build (CUDA arch $ARCH)"
cmake -S . -B "$BUILD" "${args[@]}" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
# Only what this script runs: the CUDA backend library (libduet_cuda.so, which libduet.so loads
# at run time), the CUDA tests, the loader test, two examples and duet-bench.
# The collective engine plugins the configure found (duet_nccl: NCCL; duet_gloo / duet_mpi: its
# bootstrap), for tests/cuda/nccl_test.cpp.
plugins=$(sed -n 's/.*collective engine plugins: //p' "$OUT/configure.log" | tr ';' ' ')
plugin_targets=()
for p in $plugins; do plugin_targets+=("duet_$p"); done
echo "collective engine plugins: ${plugins:-none}"
cmake --build "$BUILD" -j"$(nproc)" --target duet_cuda duet_test_cuda duet_test_core \
  "${plugin_targets[@]}" train_fashion_mnist compare_modes duet-bench > "$OUT/build.log" 2>&1 ||
  { grep -m20 -E "error" "$OUT/build.log"; exit 1; }
OUT_ABS=$(cd "$OUT" && pwd)

echo "== the CUDA backend library"
# libduet.so itself links no CUDA library; the backend beside it loads and sees the GPU.
ldd "$BUILD"/libduet.so | grep -E "libcuda|libcublas|libcudnn" && echo "libduet.so links CUDA!"
"$BUILD/tests/duet_test_core" --gtest_filter='CudaLoader.*:Device.*' 2>&1 |
  tee "$OUT/cuda_loader.log" | grep -E "^\[  (PASSED|FAILED|SKIPPED)|Failure|not available" || true
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
TORCH_GRAPH=${TORCH_GRAPH:-cuda-graph}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}

echo "== ctest -L cuda"
(cd "$BUILD" && ctest -L cuda -j4 --timeout 300 --output-on-failure > "$OUT_ABS/ctest_cuda.log" 2>&1) || true
grep -E "tests passed|tests failed|\(Failed\)|\(SEGFAULT\)|\(Subprocess|\(Timeout" "$OUT/ctest_cuda.log" | head -60

echo "== NCCL, one rank (collectives on CUDA tensors, all-reduce ops in a captured CUDA Graph)"
timeout "$STEP_TIMEOUT" "$BUILD/tests/duet_test_cuda" --gtest_filter='NcclOneRank*' \
  > "$OUT/nccl.log" 2>&1 || echo "NcclOneRank: exit $?"
grep -E "^\[ +(OK|FAILED|SKIPPED|PASSED) +\]|Failure|Skipped|rror" "$OUT/nccl.log" | head -30 || true

for mode in eager graph; do
  echo "== train_fashion_mnist --device cuda --mode $mode --epochs 1"
  timeout "$STEP_TIMEOUT" "$BUILD/examples/train_fashion_mnist" --device cuda --mode "$mode" \
    --epochs 1 --data "$DATA" --json 2>&1 | tee "$OUT/train_cuda_$mode.log" | tail -3 || true
done

echo "== compare_modes --device cuda (Fashion-MNIST CNN, eager vs graph)"
for args in "--batch-size 1" "--batch-size 64" "--batch-size 1 --no-cuda-graph"; do
  # shellcheck disable=SC2086 # $args is a list of flags
  timeout "$STEP_TIMEOUT" "$BUILD/examples/compare_modes" --device cuda --steps 20 $args \
    --data "$DATA" 2>&1 | tee -a "$OUT/compare_modes_cuda.log" | tail -12 || true
done

# One benchmark group: duet-bench (eager + graph, capture on) then pytorch_reference.py (eager
# + graph) with the same grid, then compare.py's tables. $1: name, $2: models, $3: batch,
# $4: mode, $5: precisions (default fp32).
bench_group() {
  local name=$1 models=$2 batch=$3 mode=$4 precision=${5:-fp32}
  echo "== $name: duet eager + graph, then PyTorch eager + graph ($models, ${batch}x224 $mode, $precision)"
  timeout "$STEP_TIMEOUT" "$BUILD/bench/duet-bench" --device cuda --exec eager,graph \
    --cuda-graph on --models "$models" --sizes 224 --batches "$batch" --modes "$mode" \
    --precision "$precision" \
    --steps "$STEPS" --warmup "$WARMUP" --csv "$OUT/duet_$name.csv" \
    > "$OUT/duet_$name.md" 2> "$OUT/duet_$name.log" || echo "duet-bench $name: exit $?"
  grep -E "^\[" "$OUT/duet_$name.log" || tail -5 "$OUT/duet_$name.log"
  timeout "$STEP_TIMEOUT" python3 bench/pytorch_reference.py --device cuda --exec eager,graph \
    --torch-graph "$TORCH_GRAPH" --models "$models" --sizes 224 --batches "$batch" \
    --modes "$mode" --precision "$precision" --steps "$STEPS" --warmup "$WARMUP" \
    --csv "$OUT/torch_$name.csv" \
    2>&1 | tee "$OUT/torch_$name.log" | grep -E "^\[|note|torch |FAILED|falling" || true
  if [ "${CUDA_GRAPH_OFF:-0}" = 1 ] && [ "$batch" = 1 ]; then
    timeout "$STEP_TIMEOUT" "$BUILD/bench/duet-bench" --device cuda --exec graph \
      --cuda-graph off --models "$models" --sizes 224 --batches "$batch" --modes "$mode" \
      --steps "$STEPS" --warmup "$WARMUP" --csv "$OUT/duet_${name}_nocg.csv" \
      > /dev/null 2> "$OUT/duet_${name}_nocg.log" || true
    grep -E "^\[" "$OUT/duet_${name}_nocg.log" || true
  fi
  python3 bench/compare.py "$OUT"/duet_"$name"*.csv "$OUT/torch_$name.csv" \
    --markdown "$OUT/compare_$name.md" > "$OUT/compare_$name.txt" 2>&1 || true
  sed -n '/^## GPU/,$p' "$OUT/compare_$name.txt"
}

bench_group train_b1 resnet18,mobilenet_v2,efficientnet_b0 1 train
bench_group train_b32 resnet50,vgg16 32 train
bench_group inference_b1 resnet18,mobilenet_v2,efficientnet_b0 1 inference

# 7. Mixed precision (issue #14), only with PRECISION set. PyTorch's whole-step CUDA capture
# (TORCH_GRAPH=cuda-graph) cannot hold GradScaler.step: its fp16 graph training point is
# skipped with a note (TORCH_GRAPH=compile measures it through torch.compile).
if [ -n "${PRECISION:-}" ]; then
  for p in ${PRECISION//,/ }; do
    echo "== train_fashion_mnist --device cuda --mode graph --precision $p --epochs 1"
    timeout "$STEP_TIMEOUT" "$BUILD/examples/train_fashion_mnist" --device cuda --mode graph \
      --precision "$p" --epochs 1 --data "$DATA" --json 2>&1 |
      tee "$OUT/train_cuda_graph_$p.log" | tail -3 || true
  done
  bench_group amp_train_b32 resnet50 32 train "fp32,$PRECISION"
fi

echo "== all points together"
python3 bench/compare.py "$OUT"/duet_*.csv "$OUT"/torch_*.csv --markdown "$OUT/compare_all.md" \
  > "$OUT/compare_all.txt" 2>&1 || true
sed -n '/^## GPU/,$p' "$OUT/compare_all.txt"
