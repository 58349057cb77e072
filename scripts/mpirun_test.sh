#!/usr/bin/env bash
# Runs a program on N local ranks with OpenMPI, as the multi-process tests do:
#   bash scripts/mpirun_test.sh N PROGRAM [ARGS...]
# Containers run as root with few cores: --allow-run-as-root and --oversubscribe. The whole job
# is killed after $DUET_MPIRUN_TIMEOUT seconds (default 300) so a hang fails instead of waiting.
# Shared memory (vader) copies large messages once with cross-memory attach (CMA) where the
# container allows it (scripts/cma_available.py), twice otherwise: measured on this machine, a
# 47 MB all-reduce on 2 ranks took ~6x less CPU with CMA. $DUET_MPI_SINGLE_COPY overrides
# (cma | none).
set -euo pipefail
n=$1; shift
single_copy=${DUET_MPI_SINGLE_COPY:-}
if [ -z "$single_copy" ]; then
  single_copy=none
  python3 "$(dirname "$0")/cma_available.py" 2> /dev/null && single_copy=cma
fi
exec timeout --signal=TERM --kill-after=10 "${DUET_MPIRUN_TIMEOUT:-300}" \
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$n" \
  --mca btl self,vader --mca btl_vader_single_copy_mechanism "$single_copy" "$@"
