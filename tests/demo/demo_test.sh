#!/usr/bin/env bash
# The README's first command, checked: `bash examples/server/run.sh` (on a free port) builds and
# starts rthub-server; this waits for /healthz, loads the demo page, publishes the README's
# example once (POST /publish) and sees it delivered on an SSE stream, then stops the server.
# It fails, as the script would on a new machine, when the build uses a file from a Debian
# package that the script does not install: the script installs the build group of
# .ci/debian-packages, so every file the configured build found (CMakeCache.txt) must come from a
# package of that group or from one they depend on.
#
# Usage: demo_test.sh SOURCE_DIR WORK_DIR
# Waits for events only (the server's ready line, the delivery); CTest's TIMEOUT is the bound.
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
mkdir -p "$work"
work=$(cd "$work" && pwd)
build="$work/build"
log="$work/server.log"
events="$work/events.txt"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() {
  echo "demo: FAILED: $*" >&2
  if [[ -f "$log" ]]; then
    echo "---- examples/server/run.sh output:" >&2
    tail -n 40 "$log" >&2
  fi
  exit 1
}

echo "== 1. the build group of .ci/debian-packages is installed (the script's own check)"
bash "$src/.ci/install-packages.sh" --check build || fail "examples/server/run.sh would install packages here"

echo "== 2. bash examples/server/run.sh, on a free port"
# The compiler cache, when there is one, only makes a rerun fast; it is not a dependency.
if command -v ccache >/dev/null 2>&1; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
RTHUB_DEMO_LISTEN=127.0.0.1:0 RTHUB_DEMO_BUILD_DIR="$build" \
  setsid bash "$src/examples/server/run.sh" >"$log" 2>&1 &
script_pid=$!
pids+=("$script_pid")
port=""
while [[ -z "$port" ]]; do
  kill -0 "$script_pid" 2>/dev/null || { wait "$script_pid" && rc=0 || rc=$?; fail "the script exited ($rc) before serving"; }
  port=$(sed -n 's#^rthub-server listening on http://127\.0\.0\.1:\([0-9][0-9]*\)$#\1#p' "$log" | head -n 1)
  [[ -n "$port" ]] || sleep 0.2
done
base="http://127.0.0.1:$port"
echo "serving on $base"

echo "== 3. every file the build found comes from the build group or its dependencies"
bash "$(dirname "${BASH_SOURCE[0]}")/build_packages_check.sh" "$src" "$build" ||
  fail "a new machine would miss a package: add it to the build group of .ci/debian-packages"

echo "== 4. /healthz, the page, a publish delivered"
health=$(curl -sS --fail "$base/healthz") || fail "GET /healthz"
[[ "$health" == ok* ]] || fail "GET /healthz answered: $health"
curl -sS --fail -o "$work/index.html" "$base/" || fail "GET /"
cmp -s "$work/index.html" "$src/examples/web/index.html" || fail "GET / is not examples/web/index.html"
curl -sS --fail -o /dev/null "$base/app.js" || fail "GET /app.js"

# The README's publish example, as written there (its JSON body and channel).
body=$(sed -n "/^curl -X POST localhost:8080\/publish/,/^\`\`\`/p" "$src/README.md" |
  sed -n "s/^ *-d '\(.*\)'\$/\1/p" | head -n 1)
[[ -n "$body" ]] || fail "no 'curl -X POST localhost:8080/publish -d ...' example found in README.md"
channel=$(sed -n 's/.*"channel":"\([^"]*\)".*/\1/p' <<<"$body")
curl -sS -N "$base/events?channel=$channel" >"$events" 2>/dev/null &
pids+=("$!")
until grep -q '"op":"subscribed"' "$events" 2>/dev/null; do sleep 0.1; done
answer=$(curl -sS --fail -X POST "$base/publish" -d "$body") || fail "POST /publish"
seq=$(sed -n 's/.*"seq":\([0-9]*\).*/\1/p' <<<"$answer")
[[ -n "$seq" ]] || fail "POST /publish answered: $answer"
until grep -q "\"op\":\"message\",\"channel\":\"$channel\".*\"seq\":$seq" "$events"; do sleep 0.1; done
echo "published to $channel at seq $seq and delivered: $(grep -m1 '"op":"message"' "$events")"

echo "== 5. SIGTERM stops it with status 0"
server_pid=$(pgrep -s "$script_pid" -x rthub-server || true)
[[ -n "$server_pid" ]] || server_pid=$script_pid  # run.sh execs rthub-server: same process
kill -TERM "$server_pid"
wait "$script_pid" && rc=0 || rc=$?
[[ $rc -eq 0 ]] || fail "rthub-server exited with $rc after SIGTERM"
grep -q "rthub-server: stopped" "$log" || fail "no 'stopped' line after SIGTERM"
echo "demo: OK"
