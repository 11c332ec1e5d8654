#!/usr/bin/env bash
# tests/check_failing_rank.sh MPIRUN PROGRAM — a rank that fails must end the whole job with its
# message, within seconds, never a hang: rank 1 of tests_distributed --fail-on-rank 1 throws while
# rank 0 waits in a barrier.
set -uo pipefail
mpirun=$1 program=$2
start=$(date +%s)
output=$(timeout 60 "$mpirun" -np 2 --oversubscribe "$program" --fail-on-rank 1 2>&1)
code=$?
elapsed=$(( $(date +%s) - start ))
echo "$output"
echo "exit code $code after ${elapsed} s"
if [ $code -eq 124 ]; then echo "FAIL: the job hung (killed by timeout after 60 s)"; exit 1; fi
if [ $code -eq 0 ]; then echo "FAIL: the job succeeded although rank 1 failed"; exit 1; fi
if ! grep -q '\[rank 1\] error: bad input on rank 1' <<<"$output"; then
  echo "FAIL: rank 1's message is missing from the output"; exit 1
fi
if [ $elapsed -gt 20 ]; then echo "FAIL: the job took ${elapsed} s to end (more than 20)"; exit 1; fi
echo "ok: the failing rank ended the job with its message in ${elapsed} s"
