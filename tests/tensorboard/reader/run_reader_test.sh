#!/usr/bin/env bash
# ctest tensorboard_reader: writes event files with duet (tensorboard_write_events) and reads
# them back with TensorBoard's EventAccumulator (check_events.py), in the venv of
# scripts/python_venv.sh. Exits 77 (ctest: skipped) only when that venv cannot be had (1 under
# DUET_REQUIRE_VENV=1: tests/venv_python.sh).
#   run_reader_test.sh WRITER OUT_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
writer=$1
out=$2
source "$here/../../venv_python.sh"
py=$(duet_venv_python "import tensorboard, PIL, numpy") || exit $?
rm -rf "$out"
"$writer" "$out" || exit 1
"$py" "$here/check_events.py" "$out"
