#!/usr/bin/env bash
# The suite on a busy machine: runs the integration and client tests RUNS times in a row (default
# 10) with two CPU-bound processes beside them, and stops at the first failure. Every time bound
# of those tests is derived from the design or is a wait for an event (tests/README.md, "Time
# bounds"), so no run may fail.
#
# Usage: tests/loaded_loop.sh [BUILD_DIR] [RUNS]     (BUILD_DIR: default build, as tests/run.sh)
# Prints one line per run and "loaded loop: N/RUNS passed"; exits non-zero on a failure, with the
# failing run's CTest output in BUILD_DIR/loaded-loop-<run>.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-${RTHUB_BUILD_DIR:-build}}
runs=${2:-10}
[[ -f "$build/CTestTestfile.cmake" ]] || { echo "loaded_loop.sh: no CTest tree in $build (run tests/run.sh first)" >&2; exit 2; }

hogs=()
stop_hogs() {
  local pid
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
for _ in 1 2; do
  yes >/dev/null &
  hogs+=("$!")
done
echo "two CPU-bound processes beside the tests: ${hogs[*]}"

passed=0
for run in $(seq "$runs"); do
  started=$SECONDS
  out="$build/loaded-loop-$run.log"
  if ctest --test-dir "$build" -L '^(integration|client)$' -j2 --output-on-failure --no-tests=error >"$out" 2>&1; then
    passed=$((passed + 1))
    echo "run $run: passed: $(grep -o 'tests passed, [0-9]* tests failed out of [0-9]*' "$out" | head -n 1), $((SECONDS - started)) s"
  else
    echo "run $run: FAILED after $((SECONDS - started)) s; see $out" >&2
    grep -E '^\s+[0-9]+ - |Failed|not ok' "$out" >&2 || true
    echo "loaded loop: $passed/$runs passed"
    exit 1
  fi
done
echo "loaded loop: $passed/$runs passed"
