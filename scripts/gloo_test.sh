#!/usr/bin/env bash
# Runs a program on N local ranks over Gloo, the way torchrun would launch it: each process
# gets RANK, LOCAL_RANK, WORLD_SIZE=N, MASTER_ADDR=127.0.0.1 and one free MASTER_PORT.
#   bash scripts/gloo_test.sh N PROGRAM [ARGS...]
# Output lines are prefixed "[rank r]". Exits 0 when every rank exited 0; the whole job is
# killed after $DUET_GLOO_TIMEOUT seconds (default 300) so that a hang fails instead of waiting.
# DUET_GLOO_SET_LOCAL_RANK=0 leaves LOCAL_RANK unset (the ranks then count host names). When a
# rank fails, the others are stopped $DUET_GLOO_GRACE seconds (default 10) later, as mpirun does.
set -uo pipefail
n=$1; shift
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2> /dev/null ||
       echo $((20000 + RANDOM % 40000)))
pids=()
for ((r = 0; r < n; r++)); do
  local_rank=(LOCAL_RANK=$r)
  [ "${DUET_GLOO_SET_LOCAL_RANK:-1}" = 0 ] && local_rank=(-u LOCAL_RANK)
  env "${local_rank[@]}" RANK=$r WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    timeout --signal=TERM --kill-after=10 "${DUET_GLOO_TIMEOUT:-300}" "$@" \
    > >(sed -u "s/^/[rank $r] /") 2>&1 &
  pids+=($!)
done
# Like mpirun: once a rank failed, the others get $DUET_GLOO_GRACE seconds (default 10) to
# report their side (a timeout, a closed connection), then are stopped.
declare -A rank_of
for ((r = 0; r < n; r++)); do rank_of[${pids[$r]}]=$r; done
rc=0
ticks=0
while ((${#pids[@]} > 0)); do
  still=()
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2> /dev/null; then
      still+=("$p")
    elif wait "$p"; then
      :
    else
      status=$?
      echo "gloo_test.sh: rank ${rank_of[$p]} failed (exit $status)" >&2
      rc=1
    fi
  done
  pids=("${still[@]}")
  ((${#pids[@]} == 0)) && break
  if [ "$rc" != 0 ] && ((++ticks > 5 * ${DUET_GLOO_GRACE:-10})); then
    kill -TERM "${pids[@]}" 2> /dev/null
  fi
  sleep 0.2
done
exit $rc
