#!/usr/bin/env bash
# Runs a program on N local ranks with OpenMPI, as the multi-process tests do:
#   bash scripts/mpirun_test.sh N PROGRAM [ARGS...]
# Containers run as root with few cores: --allow-run-as-root and --oversubscribe. The whole job
# is killed after $DUET_MPIRUN_TIMEOUT seconds (default 300) so a hang fails instead of waiting.
set -euo pipefail
n=$1; shift
exec timeout --signal=TERM --kill-after=10 "${DUET_MPIRUN_TIMEOUT:-300}" \
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$n" \
  --mca btl self,vader --mca btl_vader_single_copy_mechanism none "$@"
