#!/usr/bin/env bash
# ctest tensorboard_reader: writes event files with duet (tensorboard_write_events) and reads
# them back with TensorBoard's EventAccumulator (check_events.py), in the venv of
# scripts/python_venv.sh. Exits 77 (ctest: skipped) only when that venv cannot be had.
#   run_reader_test.sh WRITER OUT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
writer=$1
out=$2
if ! py=$(bash "$here/../../../scripts/python_venv.sh" | tail -n 1) || [ ! -x "$py" ] ||
   ! "$py" -c "import tensorboard, PIL, numpy" 2> /dev/null; then
  echo "SKIPPED: the Python venv with tensorboard cannot be installed (scripts/python_venv.sh)"
  exit 77
fi
rm -rf "$out"
"$writer" "$out" || exit 1
"$py" "$here/check_events.py" "$out"
