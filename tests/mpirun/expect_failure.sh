#!/usr/bin/env bash
# Runs a command that must fail: passes when it exits nonzero and its output (stdout + stderr)
# matches the extended regex.
#   bash expect_failure.sh REGEX COMMAND [ARGS...]
regex=$1; shift
out=$("$@" 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status" -eq 0 ]; then
  echo "expect_failure: the command exited 0; expected a failure" >&2
  exit 1
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "expect_failure: the command was killed by its timeout (status $status): it hung" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
  echo "expect_failure: exit status $status, but the output does not match: $regex" >&2
  exit 1
fi
echo "expect_failure: exit status $status and the expected message"
