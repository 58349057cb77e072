#!/usr/bin/env bash
# The CUDA backend's check on a machine with a GPU (issue #5's "verify on a real GPU"):
#   1. build with CUDA for one architecture (default 90: H100/H200);
#   2. ctest -L cuda (every op against the CPU, allocator, errors, a training step);
#   3. train_fashion_mnist --device cuda --epochs 1;
#   4. eager GPU benchmark points beside PyTorch in the same run: resnet50 and vgg16, train
#      32x224 and inference 1x224: step time and peak allocator memory, and the ratios.
#
#   bash scripts/gpu_check.sh [OUT_DIR]          # OUT_DIR default ./out (logs, CSVs)
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
fi
command -v ninja > /dev/null && args+=(-G Ninja)
nvidia-smi -L | tee "$OUT/gpu.txt"

echo "== build (CUDA arch $ARCH)"
cmake -S . -B "$BUILD" "${args[@]}" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" > "$OUT/build.log" 2>&1 || { grep -m20 -E "error" "$OUT/build.log"; exit 1; }

echo "== ctest -L cuda"
(cd "$BUILD" && ctest -L cuda -j4 --output-on-failure > "../$OUT/ctest_cuda.log" 2>&1) || true
grep -E "tests passed|tests failed|\(Failed\)|\(SEGFAULT\)|\(Subprocess" "$OUT/ctest_cuda.log" | head -60

echo "== train_fashion_mnist --device cuda --epochs 1"
"$BUILD/examples/train_fashion_mnist" --device cuda --epochs 1 --data "$DATA" --json \
  2>&1 | tee "$OUT/train_cuda.log" | tail -3

echo "== eager GPU benchmark points, duet then PyTorch"
for mode in train inference; do
  batch=32; [ "$mode" = inference ] && batch=1
  "$BUILD/bench/duet-bench" --device cuda --exec eager --models resnet50,vgg16 --sizes 224 \
    --batches "$batch" --modes "$mode" --steps "${STEPS:-30}" --warmup 5 \
    --csv "$OUT/duet_${mode}.csv" 2>&1 | tee "$OUT/duet_${mode}.log" | tail -4
  python3 bench/pytorch_reference.py --device cuda --exec eager --models resnet50,vgg16 \
    --sizes 224 --batches "$batch" --modes "$mode" --steps "${STEPS:-30}" --warmup 5 \
    --csv "$OUT/torch_${mode}.csv" 2>&1 | tee "$OUT/torch_${mode}.log" | tail -4
  python3 bench/compare.py "$OUT/duet_${mode}.csv" "$OUT/torch_${mode}.csv" 2>&1 \
    | tee "$OUT/compare_${mode}.txt" | tail -12
done

echo "== peak allocator memory, duet / torch.cuda.max_memory_allocated"
python3 - "$OUT" <<'PY'
import csv, sys, pathlib
out = pathlib.Path(sys.argv[1])
def rows(path):
    with open(path) as f:
        return {(r["Architecture"], r["Mode"], r["Batch size"]): r for r in csv.DictReader(f, delimiter=";")}
for mode in ("train", "inference"):
    d, t = rows(out / f"duet_{mode}.csv"), rows(out / f"torch_{mode}.csv")
    for key in sorted(d):
        if key in t and d[key]["Memory"] not in ("", "-") and t[key]["Memory"] not in ("", "-"):
            dm, tm = float(d[key]["Memory"]), float(t[key]["Memory"])
            print(f"{key[0]} {key[1]} batch {key[2]}: duet {dm:.0f} MB, torch {tm:.0f} MB, ratio {dm / tm:.2f}")
PY
