#!/usr/bin/env bash
# sendpath_guard.sh: a deterministic regression guard for the hub's send path. Runs
# rthub-sendpath-count (sendpath_count.cpp) under valgrind's callgrind, which counts executed
# instructions (Ir) instead of timing anything, and fails when the hub's cost goes over the
# thresholds in sendpath_threshold.txt.
#
# Usage:
#   tests/perf/sendpath_guard.sh BUILD_DIR            check (BUILD_DIR/bin/rthub-sendpath-count)
#   tests/perf/sendpath_guard.sh PROGRAM              same, with the program's path
#   tests/perf/sendpath_guard.sh BUILD_DIR --update   measure and rewrite sendpath_threshold.txt
#                                                     (measured x 1.25) after an intended change
# Environment: VALGRIND (default: valgrind from PATH); RTHUB_PERF_KEEP=1 keeps the callgrind files.
#
# What counts: only the hub. Collection is off at start and toggled on inside the hub's service
# thread loop and inside Hub::publish on the caller's thread (TOGGLES below), so the test's own
# client sockets are not counted. Connection setup is not counted either: the program zeroes the
# counters after setup and a warm-up, and dumps each measured phase itself.
# Numbers are the "totals:" line of each dump (the sum of self costs, which zeroing resets for
# every thread), not "summary:" (which, for a thread other than the one asking for the dump,
# still includes cost from before the zeroing).
set -euo pipefail

CLIENTS=50      # K: subscribers of the fan-out channel
MESSAGES=200    # M: publishes in each measured phase
HEADROOM=1.25   # --update writes measured x HEADROOM
# Functions whose entry turns counting on (and whose return turns it off) for the calling thread.
# If one is renamed, update it here; the service-thread check below fails until then.
TOGGLES=('rthub::LwsServer::run()' 'rthub::Hub::publish(*')

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
threshold_file=$here/sendpath_threshold.txt

usage() { sed -n '6,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

target=""
update=0
for arg in "$@"; do
  case "$arg" in
    --update) update=1 ;;
    -h | --help) usage; exit 0 ;;
    *) [[ -z "$target" ]] || { usage >&2; exit 2; }; target=$arg ;;
  esac
done
[[ -n "$target" ]] || { usage >&2; exit 2; }
if [[ -f "$target" && -x "$target" ]]; then
  program=$target
else
  program=$target/bin/rthub-sendpath-count
fi
[[ -x "$program" ]] || { echo "sendpath_guard: no program at $program (build target rthub-sendpath-count)" >&2; exit 2; }
valgrind=${VALGRIND:-valgrind}
command -v "$valgrind" >/dev/null || { echo "sendpath_guard: valgrind not found" >&2; exit 2; }

work=$(mktemp -d /tmp/rthub-sendpath-guard.XXXXXX)
if [[ "${RTHUB_PERF_KEEP:-0}" == 1 ]]; then
  echo "sendpath_guard: callgrind files kept in $work"
else
  trap 'rm -rf "$work"' EXIT
fi

toggle_args=()
for fn in "${TOGGLES[@]}"; do toggle_args+=("--toggle-collect=$fn"); done

# --collect-atstart=no: nothing counts outside the toggled functions. Instrumentation stays on
# from the start so that callgrind sees the service thread enter its loop. --dump-line=no: only
# totals are needed, and smaller dumps are faster.
status=0
"$valgrind" --tool=callgrind --collect-atstart=no "${toggle_args[@]}" \
  --dump-line=no --callgrind-out-file="$work/callgrind.out" --log-file="$work/valgrind.log" \
  "$program" "$CLIENTS" "$MESSAGES" >"$work/program.out" 2>&1 || status=$?
if ((status != 0)); then
  echo "sendpath_guard: rthub-sendpath-count failed under callgrind (exit $status):" >&2
  cat "$work/program.out" "$work/valgrind.log" >&2
  exit 1
fi

# The dump a phase wrote: found by its trigger ("Client Request: <phase>"), not by file number.
phase_total() {
  local file
  file=$(grep -l "^desc: Trigger: Client Request: $1\$" "$work"/callgrind.out.* 2>/dev/null | head -n 1 || true)
  [[ -n "$file" ]] || { echo "sendpath_guard: no callgrind dump for phase '$1'" >&2; exit 1; }
  awk '/^totals:/ { print $2; found = 1 } END { if (!found) exit 1 }' "$file" ||
    { echo "sendpath_guard: no totals line in $file" >&2; exit 1; }
}
fanout=$(phase_total fanout)
solo=$(phase_total solo)

# Integer division, rounded to nearest.
per_delivery=$(((fanout + CLIENTS * MESSAGES / 2) / (CLIENTS * MESSAGES)))
per_publish=$(((solo + MESSAGES / 2) / MESSAGES))
fanout_per_publish=$(((fanout + MESSAGES / 2) / MESSAGES))
# What each further subscriber adds, without the per-message part that per_delivery spreads over K.
marginal=$(((fanout - solo + MESSAGES * (CLIENTS - 1) / 2) / (MESSAGES * (CLIENTS - 1))))

# Without the service thread only Hub::publish's caller side is counted, which does not grow
# with the number of subscribers: then the fan-out phase would cost about what the solo one does.
if ((fanout_per_publish < 2 * per_publish)); then
  echo "sendpath_guard: the hub's service thread was not counted (fan-out $fanout_per_publish vs one" \
    "subscriber $per_publish instructions per publish). Was ${TOGGLES[0]} renamed? Update TOGGLES in $0." >&2
  exit 1
fi

if ((update)); then
  new_delivery=$(awk -v v="$per_delivery" -v h="$HEADROOM" 'BEGIN { x = v * h; printf "%d", (x == int(x)) ? x : int(x) + 1 }')
  new_publish=$(awk -v v="$per_publish" -v h="$HEADROOM" 'BEGIN { x = v * h; printf "%d", (x == int(x)) ? x : int(x) + 1 }')
  {
    echo "# Thresholds of tests/perf/sendpath_guard.sh: callgrind instruction counts (Ir) of the hub,"
    echo "# for a Release build (K=$CLIENTS subscribers, M=$MESSAGES publishes per phase)."
    echo "# Set to the measured value x $HEADROOM, rounded up, by:  tests/perf/sendpath_guard.sh BUILD_DIR --update"
    echo "# Measured $(date -u +%Y-%m-%d): per_delivery $per_delivery, per_publish $per_publish" \
      "($("$valgrind" --version), $(uname -m))."
    echo "# Counts depend on the compiler and on the libwebsockets, libuv and glibc builds (these: Debian 12)."
    echo "per_delivery $new_delivery"
    echo "per_publish $new_publish"
  } >"$threshold_file"
  echo "sendpath_guard: wrote $threshold_file (per_delivery $new_delivery, per_publish $new_publish)"
fi

threshold() {
  awk -v key="$1" '$1 == key { print $2; found = 1 } END { if (!found) exit 1 }' "$threshold_file" ||
    { echo "sendpath_guard: no '$1' line in $threshold_file" >&2; exit 2; }
}
max_delivery=$(threshold per_delivery)
max_publish=$(threshold per_publish)

echo "sendpath: K=$CLIENTS subscribers, M=$MESSAGES publishes per phase; callgrind Ir of the hub only"
echo "instructions per delivery: $per_delivery (threshold $max_delivery)   [fan-out phase / (K*M)]"
echo "instructions per publish: $per_publish (threshold $max_publish)   [one-subscriber phase / M]"
echo "fan-out cost per publish: $fanout_per_publish   [fan-out phase / M, to K subscribers; not checked]"
echo "cost per further subscriber: $marginal   [(fan-out - one-subscriber) / (M*(K-1)); not checked]"

failed=0
if ((per_delivery > max_delivery)); then
  echo "FAIL: instructions per delivery $per_delivery > threshold $max_delivery" >&2
  failed=1
fi
if ((per_publish > max_publish)); then
  echo "FAIL: instructions per publish $per_publish > threshold $max_publish" >&2
  failed=1
fi
if ((failed)); then
  echo "If the extra cost is intended, run: $0 BUILD_DIR --update (and commit $threshold_file)." >&2
  echo "Where the fan-out phase's instructions go (self cost, top 25; RTHUB_PERF_KEEP=1 keeps the dumps):" >&2
  awk -f "$here/callgrind_self.awk" "$(grep -l '^desc: Trigger: Client Request: fanout$' "$work"/callgrind.out.*)" \
    2>/dev/null | sort -rn | head -n 25 | cut -c 1-200 >&2 || true
  exit 1
fi
# A threshold far above the measurement no longer guards anything: say so (without failing).
if ((per_delivery * 2 < max_delivery || per_publish * 2 < max_publish)); then
  echo "note: less than half the threshold; consider tightening it with --update"
fi
echo "PASS"
