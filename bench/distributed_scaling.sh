#!/usr/bin/env bash
# Data-parallel scaling on this machine (issue #15): resnet18 training at 128x128, one process
# x 1 thread on the global batch against N ranks x 1 thread on global / N each (mpirun), in
# eager and graph mode; prints the table (median step times; images/s of the slowest rank).
#   bash bench/distributed_scaling.sh [BUILD_DIR] [STEPS] [RANKS] [GLOBAL_BATCH] [FLAGS...]
# defaults: build, 10 timed steps (2 warm-up), 2 ranks, global batch 16 (8 per rank); FLAGS go
# to every ddp_scaling run (e.g. --optimizer sgd, --bucket-mb 5 --grad-view: the DDP flags do
# nothing in the one-process run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
steps=${2:-10}
ranks=${3:-2}
global=${4:-16}
shift $(($# < 4 ? $# : 4))
prog=$build/bench/ddp_scaling
[ -x "$prog" ] || { echo "no $prog: build the ddp_scaling target"; exit 1; }
per_rank=$((global / ranks))
field() { sed -E "s/.*\"$1\": ([^,}]+).*/\\1/" <<<"$2"; }
printf '%-6s %-22s %-22s %-8s %s\n' mode "1 x 1 thread (img/s)" "$ranks x 1 thread (img/s)" \
  ratio "hidden comm"
for mode in eager graph; do
  one=$("$prog" --mode "$mode" --batch "$global" --threads 1 --steps "$steps" --json "$@" | tail -1)
  many=$(DUET_MPIRUN_TIMEOUT=1200 bash "$root/scripts/mpirun_test.sh" "$ranks" "$prog" \
         --distributed --mode "$mode" --batch "$per_rank" --threads 1 --steps "$steps" --json "$@" |
         grep '"world_size"' | tail -1)
  a=$(field images_per_second "$one")
  b=$(field images_per_second "$many")
  h=$(field hidden_comm_fraction "$many")
  printf '%-6s %-22s %-22s %-8s %s\n' "$mode" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", b / a }')" "$h"
done
