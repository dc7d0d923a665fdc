#!/usr/bin/env bash
# Builds examples/go and smoke-runs it: the API updates a geometry, and a Server-Sent Events
# client (curl) of the embedded hub receives "geometry.updated".
# Usage: go_example.sh SOURCE_DIR BUILD_DIR LIB_DIR [SANITIZERS]
set -euo pipefail
source "$(dirname "$0")/go_env.sh"
tmp=$(mktemp -d)
pid=
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$src/examples/go" && go vet ./... && go build $go_sanitize -o "$tmp/rthub-example-go" .)

"$tmp/rthub-example-go" -api 127.0.0.1:0 -hub 127.0.0.1:0 >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q '^api: ' "$tmp/out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/out"; echo "rthub-example-go exited early" >&2; exit 1; }
  sleep 0.1
done
cat "$tmp/out"
hub=$(sed -n 's|^hub: \(http://[^ ]*\) .*|\1|p' "$tmp/out")
api=$(sed -n 's|^api: \(http://[^/]*\)/.*|\1|p' "$tmp/out")
[[ -n "$hub" && -n "$api" ]] || { echo "no addresses printed" >&2; exit 1; }

curl -sS -N --max-time 5 "$hub/events?channel=geometry" >"$tmp/sse" &
sse=$!
for _ in $(seq 50); do grep -q '"op":"subscribed"' "$tmp/sse" 2>/dev/null && break; sleep 0.1; done
grep -q '"op":"subscribed"' "$tmp/sse" || { echo "SSE stream did not start" >&2; exit 1; }

put=$(curl -sS -f -X PUT "$api/api/geometries/7" -d '{"type":"Point","coordinates":[-46.63,-23.55]}')
echo "PUT: $put"
[[ "$put" == *'"seq":1'* ]] || { echo "PUT did not report seq 1" >&2; exit 1; }
listed=$(curl -sS -f "$api/api/geometries")
[[ "$listed" == *'"id":"7"'* ]] || { echo "GET /api/geometries lacks id 7: $listed" >&2; exit 1; }
curl -sS -f -X DELETE "$api/api/geometries/7" -o /dev/null
for _ in $(seq 50); do grep -q 'geometry.deleted' "$tmp/sse" && break; sleep 0.1; done
kill "$sse" 2>/dev/null || true
wait "$sse" 2>/dev/null || true
cat "$tmp/sse"
grep -q '"type":"geometry.updated","data":{"id":"7","version":1,"geometry":{"type":"Point","coordinates":\[-46.63,-23.55\]}' "$tmp/sse" \
  || { echo "geometry.updated did not reach the SSE client" >&2; exit 1; }
grep -q '"type":"geometry.deleted"' "$tmp/sse" || { echo "geometry.deleted did not reach the SSE client" >&2; exit 1; }

kill -TERM "$pid"
wait "$pid"  # exits 0 after a clean shutdown
pid=
echo "examples/go: OK"
