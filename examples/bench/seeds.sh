#!/usr/bin/env bash
# seeds.sh: the seeds' chat at scale on one machine. Several rthub-server nodes on one Redis,
# 90,000 WebSocket connections in rooms of 10 spread evenly over the nodes, chat traffic at 200
# and at 1,000 messages/s; per 8-second window the latency percentiles, and each node's and
# Redis' CPU. One bench process per node (a process holds at most RLIMIT_NOFILE descriptors):
# bench k subscribes on node k and publishes its rooms' messages through node k+1, so every
# message crosses Redis. All benches connect first and start publishing together.
#
#   examples/bench/seeds.sh [--build DIR] [--rthub-server PATH] [--nodes N] [--connections C] [--room R]
#                           [--rates LIST] [--windows W] [--window S] [--rthub-args ARGS]
#                           [--server-cpus LIST] [--bench-cpus LIST] [--no-pin] [--out FILE]
#                           [--quick] [--keep]
#
#   --nodes N        rthub-server nodes (default 5)
#   --connections C  WebSocket subscribers over all nodes (default 90000)
#   --room R         subscribers per channel (default 10)
#   --rates LIST     messages/s over all rooms, one measurement each (default 200,1000)
#   --windows W      measured windows per rate (default 8), each --window seconds (default 8):
#                    64 s cover two and a half periods of the default 25 s heartbeat
#   --rthub-args ARGS  more rthub-server options (default none: the default heartbeat)
#   --server-cpus / --bench-cpus / --no-pin   as compare.sh: nodes and Redis on CPU 0, the
#                    benches on CPU 1 (default)
#   --out FILE       also write the table (markdown) there, the raw JSON lines to FILE.jsonl
#   --quick          2 nodes, 2,000 connections, 2 windows of 3 s: a smoke run
#
# Machine stalls: beside the nodes and beside the benches a sleeper (stall_watch.py) wakes every
# 1 ms and records how late it woke. A late wake-up on both CPU sets at the same instant is the
# machine (its host not running it), not rthub; per window the table gives the longest on each
# set and how many such instants there were.
#
# Per rate, a fresh Redis and fresh nodes; channel names never used before. Exits 0 when every
# bench connected all its subscribers, published what was asked and lost none of them; the
# latency is reported, not judged (the targets are in docs/BENCHMARKS.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="$REPO/build"
SERVER=""
NODES=5
CONNECTIONS=90000
ROOM=10
RATES=200,1000
WINDOWS=8
WINDOW=8
RTHUB_ARGS=""
SERVER_CPUS=0
BENCH_CPUS=1
PIN=1
OUT=""
KEEP=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD="$(cd "$2" && pwd)"; shift ;;
    --rthub-server) SERVER="$2"; shift ;;
    --nodes) NODES="$2"; shift ;;
    --connections) CONNECTIONS="$2"; shift ;;
    --room) ROOM="$2"; shift ;;
    --rates) RATES="$2"; shift ;;
    --windows) WINDOWS="$2"; shift ;;
    --window) WINDOW="$2"; shift ;;
    --rthub-args) RTHUB_ARGS="$2"; shift ;;
    --server-cpus) SERVER_CPUS="$2"; shift ;;
    --bench-cpus) BENCH_CPUS="$2"; shift ;;
    --no-pin) PIN=0 ;;
    --out) OUT="$2"; shift ;;
    --quick) NODES=2; CONNECTIONS=2000; RATES=50,100; WINDOWS=2; WINDOW=3 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "seeds.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

BIN="$BUILD/bin"
SERVER="${SERVER:-$BIN/rthub-server}"
for b in "$SERVER" "$BIN/rthub-bench"; do
  [[ -x "$b" ]] || { echo "seeds.sh: $b is missing: build first (cmake --build $BUILD)" >&2; exit 2; }
done
command -v redis-server >/dev/null || { echo "seeds.sh: redis-server is missing (Debian package redis-server)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "seeds.sh: needs python3 for the table" >&2; exit 2; }
read -r -a RTHUB_EXTRA <<<"$RTHUB_ARGS"

PER_NODE=$((CONNECTIONS / NODES))
(( PER_NODE % ROOM == 0 )) || { echo "seeds.sh: connections per node ($PER_NODE) must be a multiple of --room" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if (( PER_NODE + 200 > NOFILE )); then
  echo "seeds.sh: $PER_NODE connections per node need more than RLIMIT_NOFILE ($NOFILE) descriptors in one process: use more --nodes" >&2
  exit 2
fi

if [[ $PIN -eq 1 ]]; then
  ON_SERVER=(taskset -c "$SERVER_CPUS")
  ON_BENCH=(taskset -c "$BENCH_CPUS")
  PIN_NOTE="nodes and Redis on CPU $SERVER_CPUS, benches on CPU $BENCH_CPUS"
else
  ON_SERVER=()
  ON_BENCH=()
  PIN_NOTE="not pinned"
fi

TMP="$(mktemp -d /tmp/rthub-seeds.XXXXXX)"
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]:-}"; do [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_all
  if [[ $KEEP -eq 1 ]]; then echo "== kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$HERE/ports.sh"  # free_port
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wait_for FILE PATTERN PID WHAT: until PATTERN is in FILE; fails when PID exits first.
wait_for() {
  local file=$1 pattern=$2 pid=$3 what=$4
  until grep -q "$pattern" "$file" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "seeds.sh: $what exited; its output:" >&2; cat "$file" >&2; return 1; }
    sleep 0.1
  done
}

echo "== seeds' scale: $NODES nodes x $PER_NODE WebSocket connections, rooms of $ROOM, rates $RATES msg/s," \
  "$WINDOWS windows of $WINDOW s; $(nproc) CPUs, $PIN_NOTE, RLIMIT_NOFILE $NOFILE" >&2
IFS=, read -r -a RATE_LIST <<<"$RATES"
for rate in "${RATE_LIST[@]}"; do
  echo "-- $rate messages/s" >&2
  redis_port=$(free_port)
  "${ON_SERVER[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP" --logfile "$TMP/redis-$rate.log" &
  redis_pid=$!
  PIDS+=("$redis_pid")
  until redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; do
    kill -0 "$redis_pid" 2>/dev/null || { cat "$TMP/redis-$rate.log" >&2; exit 1; }
    sleep 0.05
  done

  urls=()
  node_pids=()
  for k in $(seq 0 $((NODES - 1))); do
    log="$TMP/node-$rate-$k.log"
    "${ON_SERVER[@]}" "$SERVER" --listen 127.0.0.1:0 --redis "redis://127.0.0.1:$redis_port" \
      "${RTHUB_EXTRA[@]}" 2>"$log" &
    node_pids+=("$!")
    PIDS+=("$!")
    wait_for "$log" 'listening on http://' "$!" "rthub-server node $k"
    urls+=("http://127.0.0.1:$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -1 | sed 's/.*://')")
  done

  go="$TMP/go-$rate"
  bench_pids=()
  stamp=$(date +%s%N)
  for k in $(seq 0 $((NODES - 1))); do
    out="$TMP/bench-$rate-$k.out"
    "${ON_BENCH[@]}" "$BIN/rthub-bench" --url "${urls[$k]}" --publish-url "${urls[$(((k + 1) % NODES))]}" \
      --subscribers "$PER_NODE" --channels $((PER_NODE / ROOM)) \
      --rate "$(python3 -c "print($rate / $NODES)")" --publishers 8 --warmup 2 \
      --ramp --ramp-factor 1 --ramp-settle 0 --ramp-patience 1000000 --ramp-max-steps "$WINDOWS" \
      --duration "$WINDOW" --connect-timeout 300 --start-file "$go" \
      --hub-pid "${node_pids[$k]}" --prefix "seeds-$rate-$k-$stamp" --label "seeds-$rate/node$k" \
      --json >"$out" 2>&1 &
    bench_pids+=("$!")
    PIDS+=("$!")
  done
  for k in $(seq 0 $((NODES - 1))); do
    wait_for "$TMP/bench-$rate-$k.out" 'connected; waiting for' "${bench_pids[$k]}" "rthub-bench $k"
  done
  "${ON_SERVER[@]}" python3 "$HERE/stall_watch.py" watch "$TMP/stalls-$rate-server.txt" &
  watch_pids=("$!")
  "${ON_BENCH[@]}" python3 "$HERE/stall_watch.py" watch "$TMP/stalls-$rate-bench.txt" &
  watch_pids+=("$!")
  PIDS+=("${watch_pids[@]}")
  redis_cpu0=$(cpu_ticks "$redis_pid")
  t0=$(date +%s%N)
  touch "$go"
  for pid in "${bench_pids[@]}"; do wait "$pid" || true; done
  kill "${watch_pids[@]}" 2>/dev/null || true
  t1=$(date +%s%N)
  redis_cpu1=$(cpu_ticks "$redis_pid")
  redis_pct=$(python3 -c "print(round(100 * ($redis_cpu1 - $redis_cpu0) / $(getconf CLK_TCK) / (($t1 - $t0) / 1e9), 1))")
  for k in $(seq 0 $((NODES - 1))); do
    out="$TMP/bench-$rate-$k.out"
    grep -v '^{' "$out" | sed 's/^/   /' >&2 || true
    grep '^{' "$out" | tail -1 | python3 -c "import json,sys; j=json.loads(sys.stdin.read()); j['rate_all']=$rate; j['redis_cpu']=$redis_pct; print(json.dumps(j))" >>"$RESULTS"
  done
  stop_all
done

TABLE="$TMP/table.md"
status=0
python3 - "$RESULTS" "$NODES" "$PER_NODE" "$ROOM" "$WINDOW" "$TMP" "$HERE" >"$TABLE" <<'PY' || status=$?
import json, os, sys
path, nodes, per_node, room, window, tmp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
sys.path.insert(0, sys.argv[7])
import stall_watch

def stalls(rate, where):
    return stall_watch.records(os.path.join(tmp, "stalls-%s-%s.txt" % (rate, where)))

runs = {}
for line in open(path):
    j = json.loads(line)
    runs.setdefault(j["rate_all"], []).append(j)
ok = True
def merged_p99(window):
    """The p99 of every delivery in a window, over all nodes: their histograms merged (the rank
    and bucket-edge rule of examples/bench/histogram.hpp)."""
    counts = {}
    for st in window:
        flat = st.get("latency_ns", [])
        for upper, n in zip(flat[0::2], flat[1::2]):
            counts[upper] = counts.get(upper, 0) + n
    total = sum(counts.values())
    if not total:
        return 0.0
    rank = min(max(int(0.99 * total + 0.5), 1), total)
    top = max(st["max_ms"] for st in window)
    seen = 0
    for upper in sorted(counts):
        seen += counts[upper]
        if seen >= rank:
            return min(upper / 1e6, top)
    return top

print("| rate (msg/s) | connected | windows | p50 per window (ms) | p99 per window (ms), all connections | worst window p99, all connections | p99 per window (ms), worst node | worst window p99, worst node | max | machine stalls per window (ms): server CPUs / bench CPUs | deliveries/s | each node's CPU (%) | Redis CPU (%) | bench CPU (%, all) | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for rate in sorted(runs):
    js = runs[rate]
    steps = [j.get("steps", []) for j in js]
    w = min(len(s) for s in steps) if steps else 0
    p50 = ["%.1f-%.1f" % (min(s[i]["p50_ms"] for s in steps), max(s[i]["p50_ms"] for s in steps)) for i in range(w)]
    p99 = [max(s[i]["p99_ms"] for s in steps) for i in range(w)]
    p99_all = [merged_p99([s[i] for s in steps]) for i in range(w)]
    mx = max((s[i]["max_ms"] for s in steps for i in range(w)), default=0)
    dps = sum(sum(s[i]["deliveries_per_s"] for i in range(w)) / max(w, 1) for s in steps)
    node_cpu = ", ".join("%.0f" % (sum(s[i]["hub_cpu"] for i in range(w)) / max(w, 1)) for s in steps)
    bench_cpu = sum(sum(s[i]["bench_cpu"] for i in range(w)) / max(w, 1) for s in steps)
    server_stalls, bench_stalls = stalls(rate, "server"), stalls(rate, "bench")
    spans = [(min(s[i].get("wall_start", 0) for s in steps), max(s[i].get("wall_end", 0) for s in steps)) for i in range(w)]
    machine = " / ".join("%(server_ms).0f-%(bench_ms).0f (%(together)d)" % stall_watch.summary(server_stalls, bench_stalls, a, b)
                         for a, b in spans)
    connected = sum(j["connected"] for j in js)
    errors = sum(j["errors"] for j in js)
    if connected < nodes * per_node or errors or w == 0 or any(st["pub_per_s"] < 0.95 * st["rate"] for s in steps for st in s):
        ok = False
    print("| %s | %d | %d x %s s | %s | %s | %.1f ms | %s | %.1f ms | %.1f ms | %s | %.0f | %s | %.1f | %.0f | %d |" % (
        rate, connected, w, window, " / ".join(p50), " / ".join("%.1f" % v for v in p99_all),
        max(p99_all, default=0), " / ".join("%.1f" % v for v in p99), max(p99, default=0), mx, machine,
        dps, node_cpu, js[0]["redis_cpu"], bench_cpu, errors))
print()
print("p50 per window: the lowest and highest of the nodes' p50. p99 per window, all connections: the")
print("p99 of every delivery in the window, the benches' histograms merged (the seeds' target is on this")
print("one); worst node: the highest of the nodes' own p99, stricter (a node's window holds a fifth of the")
print("deliveries, so fewer slow ones decide it). CPU: % of one core,")
print("averaged over the windows. Errors: failed connects, lost subscribers, refused or lost publishes.")
print("Machine stalls: per window, how late (beyond its 1 ms) a sleeper pinned beside the nodes and one")
print("pinned beside the benches woke at worst, and in brackets how many times both woke 20 ms or more")
print("late at the same instant (within 20 ms): the machine not running, whatever runs on it.")
sys.exit(0 if ok else 3)
PY
cat "$TABLE"
if [[ -n "$OUT" ]]; then cp "$TABLE" "$OUT"; cp "$RESULTS" "$OUT.jsonl"; fi
[[ $status -eq 0 ]] || echo "seeds.sh: a bench did not connect everything, publish the asked rate or keep its subscribers (see above)" >&2
exit "$status"
