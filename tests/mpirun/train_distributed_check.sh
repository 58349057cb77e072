#!/usr/bin/env bash
# train_fashion_mnist --distributed on 2 ranks: both print their JSON line (--json), and the
# two lines must agree on everything but "rank" and what is measured (speed, peak memory,
# which depends on the loader's timing): parameter checksum, losses, accuracy; and the test
# accuracy must show that it learned.
#   bash tests/mpirun/train_distributed_check.sh PROGRAM [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(bash "$here/../../scripts/mpirun_test.sh" 2 "$@" --distributed --json 2>&1) || {
  echo "$out"; echo "FAIL: the 2-rank run exited with an error"; exit 1; }
echo "$out"
lines=$(grep '"param_checksum"' <<<"$out" || true)
if [ "$(grep -c . <<<"$lines")" -ne 2 ]; then
  echo "FAIL: expected one JSON line per rank"; exit 1
fi
grep -q '"rank": 0,' <<<"$lines" && grep -q '"rank": 1,' <<<"$lines" || {
  echo "FAIL: expected the lines of ranks 0 and 1"; exit 1; }
same=$(sed -E 's/"images_per_second": [0-9.]+, //; s/"peak_memory_bytes": [0-9]+, //;
               s/"rank": [0-9]+, //' <<<"$lines" | sort -u)
if [ "$(grep -c . <<<"$same")" -ne 1 ]; then
  echo "FAIL: the ranks disagree:"; echo "$same"; exit 1
fi
grep -Eq '"test_accuracy": 0\.[5-9]' <<<"$same" || { echo "FAIL: test accuracy too low"; exit 1; }
echo "OK: both ranks end with the same parameters and logs"
