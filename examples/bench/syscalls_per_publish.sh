#!/usr/bin/env bash
# syscalls_per_publish.sh: the system calls rthub-server makes per publish in the chat layout
# (1,000 channels x 10 WebSocket subscribers, 2,000 msg/s over 32 keep-alive publishers, one
# request in flight each): strace -c on the server for 5 s of the run, divided by the messages
# published meanwhile (rthub_messages_published_total). strace slows the server: the counts are
# the point, not the rates.
#
#   examples/bench/syscalls_per_publish.sh [--build DIR] [--rthub-server PATH] [--port N]
#
# Server on CPU 0, rthub-bench on CPU 1. Needs strace and curl; run as root (ptrace).
set -euo pipefail
BUILD=build
SERVER=""
PORT=18090
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD="$2"; shift ;;
    --rthub-server) SERVER="$2"; shift ;;
    --port) PORT="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
SERVER=${SERVER:-$BUILD/bin/rthub-server}
TMP=$(mktemp -d)
trap 'kill "${SERVER_PID:-}" "${BENCH_PID:-}" 2>/dev/null || true; rm -rf "$TMP"' EXIT

published() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^rthub_messages_published_total /{print $2}'; }

taskset -c 0 "$SERVER" --listen "127.0.0.1:$PORT" > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
taskset -c 1 "$BUILD/bin/rthub-bench" --url "http://127.0.0.1:$PORT" --subscribers 10000 --channels 1000 \
  --rate 2000 --publishers 32 --pipeline 1 --duration 12 --warmup 2 > "$TMP/bench.log" 2>&1 &
BENCH_PID=$!
# Publishing starts once every subscriber is in: wait for the count to move, then 2 s more.
before=$(published)
until [[ "$(published)" != "$before" ]]; do sleep 0.2; done
sleep 2
first=$(published)
timeout -s INT 5 strace -c -f -p "$SERVER_PID" -o "$TMP/strace" || true
last=$(published)
wait "$BENCH_PID"
count=$((last - first))
echo "$count messages published during the trace"
awk -v n="$count" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ {
  calls = $4; name = $NF; printf "  %-16s %8d calls  %6.2f per publish\n", name, calls, calls / n }' "$TMP/strace"
