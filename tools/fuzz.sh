#!/usr/bin/env bash
# tools/fuzz.sh BUILD_DIR [TARGET|all] [SECONDS|-runs=N] — runs the libFuzzer targets built in
# BUILD_DIR (meson -Dfuzz=true, clang, ASan + UBSan; `./run fuzz` builds them and calls this).
#
# Each target runs alone, from its seed corpus tests/fuzz/corpus/<target> and its regression
# inputs tests/fuzz/regressions/<target> (both read only); what it learns goes to
# BUILD_DIR/corpus/<target>, a finding to BUILD_DIR/findings/<target>/, its log to
# BUILD_DIR/fuzz-logs/<target>.log. Without SECONDS a target runs 1,000,000 executions.
# Prints one line per target and exits 1 when any target found a crash, leak, timeout, out-of-memory
# or sanitizer report. A finding, once fixed, goes into tests/fuzz/regressions/<target>/, which
# tests_examples replays in ./run test (tests/test_fuzz_regressions.cpp).
set -uo pipefail
cd "$(dirname "$0")/.."

build=${1:?usage: tools/fuzz.sh BUILD_DIR [TARGET|all] [SECONDS|-runs=N]}
shift
case "${1:-}" in [0-9]* | -runs=*) set -- all "$@" ;; esac  # `./run fuzz 60`: every target, 60 s each
which=${1:-all}
limit=${2:--runs=1000000}
case "$limit" in
  -runs=*) ;;
  *[!0-9]* | '') echo "tools/fuzz.sh: '$limit' is neither a number of seconds nor -runs=N" >&2; exit 2 ;;
  *) limit="-max_total_time=$limit" ;;
esac

targets=()
for dir in tests/fuzz/corpus/*/; do
  t=$(basename "$dir")
  [ "$which" = all ] || [ "$which" = "$t" ] && targets+=("$t")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "tools/fuzz.sh: no target '$which'; the targets are: $(ls tests/fuzz/corpus | tr '\n' ' ')" >&2
  exit 2
fi

# leaks, and every UBSan report, are findings; ASan's own checks stay on
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p "$build/fuzz-logs"
status=0
printf '%-22s %12s %9s %9s  %s\n' target executions seconds exec/s findings
for t in "${targets[@]}"; do
  program="$build/tests/fuzz/fuzz_$t"
  [ -x "$program" ] || { echo "tools/fuzz.sh: $program is not built" >&2; exit 2; }
  mkdir -p "$build/corpus/$t" "$build/findings/$t"
  inputs=("tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
  before=$(ls "$build/findings/$t" | wc -l)
  log="$build/fuzz-logs/$t.log"
  start=$EPOCHREALTIME
  "$program" "$limit" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -detect_leaks=1 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$t/" "$build/corpus/$t" "${inputs[@]}" >"$log" 2>&1
  code=$?
  seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  runs=${runs:-0}
  new=$(( $(ls "$build/findings/$t" | wc -l) - before ))
  findings="none"
  if [ "$code" -ne 0 ] || [ "$new" -gt 0 ]; then
    status=1
    findings="$new new ($(ls -t "$build/findings/$t" | head -1 | sed "s|^|$build/findings/$t/|")); log $log"
  fi
  printf '%-22s %12s %9.1f %9.0f  %s\n' "$t" "$runs" "$seconds" "$(awk -v r="$runs" -v s="$seconds" 'BEGIN { print r / s }')" "$findings"
done
exit $status
