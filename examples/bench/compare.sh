#!/usr/bin/env bash
# compare.sh: rthub-server side by side with nginx + nchan (1 worker) and the two floor programs
# (floor-naive, floor-coalescing), driven by the same load generator (rthub-bench) in one run.
#
#   examples/bench/compare.sh [--quick] [--build DIR] [--rthub-server PATH] [--out FILE] [--keep]
#                             [--only LIST] [--servers LIST] [--rthub-args ARGS]
#                             [--server-cpus LIST] [--bench-cpus LIST] [--no-pin] [--no-check]
#
#   --quick       smaller numbers (about 2 minutes): a smoke run, not a measurement
#   --build DIR   the CMake build directory holding bin/rthub-server, bin/rthub-bench,
#                 bin/floor-naive, bin/floor-coalescing (default: <repo>/build)
#   --rthub-server PATH   the rthub-server to measure (default: DIR/bin/rthub-server)
#   --out FILE    also write the final table (markdown) and the raw JSON lines next to it
#   --keep        keep the temporary directory (configs, logs, raw results)
#   --only LIST   comma-separated scenarios: idle,broadcast,fixed,sync,saturation,sse,stall,seeds
#                 (default: all; seeds runs examples/bench/seeds.sh, rthub only, a few minutes)
#   --servers LIST  comma-separated servers to run: nchan,rthub,naive,coalescing (default: all)
#   --rthub-args ARGS  more rthub-server options, e.g. "--shards 2" (default: none)
#   --nice N      run the servers and the bench at this niceness (e.g. -10 on a machine that
#                 other work keeps busy; negative values need root). Default 0: unchanged.
#   --server-cpus LIST  CPU set (taskset -c) of every server: its process and all its threads,
#                 nginx's master and worker alike (default 0)
#   --bench-cpus LIST   CPU set of rthub-bench, subscribers and publishers (default 1). The two
#                 sets should not overlap: a load generator that shares the server's core steals
#                 it exactly when the server is busiest, and a server past a core's worth falls
#                 behind with a backlog whose age then passes for its latency.
#   --no-pin      no CPU sets (the run says so in its summary)
#   --no-check    skip the sanity runs (below)
#
# Fairness, per scenario and server: a fresh server process, a fresh channel name (rthub-bench
# --prefix SCENARIO-SERVER-TIME, never used before on any server, so nothing buffered is replayed
# to new subscribers), the same publisher settings for all, and the server's CPU time per delivery
# beside its latency. Fixed-rate scenarios (broadcast, fixed, stall) use 4 publisher connections
# with one request in flight each: the asked rate needs fewer, and more in flight would let a
# server that cannot keep up build a backlog of that many messages. A server that took less than
# 95% of the asked publishes, or a bench at more than 90% of its CPU set, is flagged.
# Sanity check: each fixed-rate scenario runs a second time on a fresh server for half as long;
# when a server's p99 or CPU per delivery in the two runs are out of line (p99 more than 2x apart
# and more than 25 ms apart, or CPU per delivery more than 1.35x apart), or a run is flagged as
# above, the check fails and the script exits 3 after printing everything. Beside each run, two
# sleepers (stall_watch.py, one on each CPU set) record whether the machine itself stalled; the
# sanity table shows it, so that a failed check can be told apart from a machine that stopped.
#
# Installs nginx-light and libnginx-mod-nchan (.ci/debian-packages, group bench) when missing. Every server it starts
# gets a fresh process per scenario (so memory baselines are clean) on a free loopback port, and
# is stopped on exit, however the script ends.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="$REPO/build"
SERVER=""
NICE=0
QUICK=0
OUT=""
KEEP=0
ONLY="idle,broadcast,fixed,sync,saturation,sse,stall,seeds"
SERVERS="nchan,rthub,naive,coalescing"
RTHUB_ARGS=""
SERVER_CPUS=0
BENCH_CPUS=1
PIN=1
CHECK=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --build) BUILD="$(cd "$2" && pwd)"; shift ;;
    --rthub-server) SERVER="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --keep) KEEP=1 ;;
    --only) ONLY="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    --rthub-args) RTHUB_ARGS="$2"; shift ;;
    --nice) NICE="$2"; shift ;;
    --server-cpus) SERVER_CPUS="$2"; shift ;;
    --bench-cpus) BENCH_CPUS="$2"; shift ;;
    --no-pin) PIN=0 ;;
    --no-check) CHECK=0 ;;
    -h|--help) sed -n '2,46p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

BIN="$BUILD/bin"
BENCH="$BIN/rthub-bench"
SERVER="${SERVER:-$BIN/rthub-server}"
for b in "$SERVER" "$BENCH" "$BIN/floor-naive" "$BIN/floor-coalescing"; do
  if [[ ! -x "$b" ]]; then
    echo "compare.sh: $b is missing: build first (cmake --build $BUILD)" >&2
    exit 2
  fi
done
command -v python3 >/dev/null || { echo "compare.sh: needs python3 for the table" >&2; exit 2; }

log() { printf '%s\n' "$*" >&2; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }
# The servers of `--servers`, among those given.
servers_among() {
  local k
  for k in "$@"; do [[ ",$SERVERS," == *",$k,"* ]] && printf '%s ' "$k"; done
  return 0
}
read -r -a RTHUB_EXTRA <<<"$RTHUB_ARGS"

# CPU sets: "${ON_SERVER[@]}" CMD... and "${ON_BENCH[@]}" CMD... run CMD pinned, at the niceness asked.
SERVER_PIN=()
BENCH_PIN=()
if [[ $PIN -eq 1 ]]; then
  command -v taskset >/dev/null || { echo "compare.sh: taskset (util-linux) is missing; or use --no-pin" >&2; exit 2; }
  for set in "$SERVER_CPUS" "$BENCH_CPUS"; do
    taskset -c "$set" true 2>/dev/null || { echo "compare.sh: cannot pin to CPU set $set ($(nproc) CPUs)" >&2; exit 2; }
  done
  SERVER_PIN=(taskset -c "$SERVER_CPUS")
  BENCH_PIN=(taskset -c "$BENCH_CPUS")
  PIN_NOTE="servers on CPU $SERVER_CPUS, rthub-bench on CPU $BENCH_CPUS (taskset)"
else
  PIN_NOTE="not pinned"
fi
# Used as a command prefix, not a function: taskset and nice exec the program, so `$!` of a
# background start is the server's own PID (for CPU sampling and for stopping it).
ON_SERVER=("${SERVER_PIN[@]}" nice -n "$NICE")
ON_BENCH=("${BENCH_PIN[@]}" nice -n "$NICE")

# ------------------------------------------------------------------------------------------------
# The machine: descriptors, ports, nginx + nchan.

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE="$(ulimit -n)"
# The machine's ephemeral port range is left alone (other work on it picks ports outside it):
# the bench spreads its connections over source addresses, at most PER_IP per 127.0.0.x.
PER_IP=20000
PORTS_NOTE="ip_local_port_range $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range), at most $PER_IP connections per source address"

NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
if [[ ",$SERVERS," == *",nchan,"* ]] && { ! command -v nginx >/dev/null || [[ ! -f "$NCHAN_SO" ]]; }; then
  log "== installing the bench group of .ci/debian-packages (nginx-light, libnginx-mod-nchan)"
  bash "$REPO/.ci/install-packages.sh" bench >/dev/null
fi
NGINX="$(command -v nginx || true)"

TMP="$(mktemp -d /tmp/rthub-compare.XXXXXX)"
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
SERVER_PIDS=()
WATCH_PIDS=()  # the running scenario's stall_watch.py sleepers

cleanup() {
  local pid
  for pid in "${WATCH_PIDS[@]:-}"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]:-}"; do
    [[ -n "$pid" ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${SERVER_PIDS[@]:-}"; do
    [[ -n "$pid" ]] || continue
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
  if [[ $KEEP -eq 1 ]]; then log "== kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$HERE/ports.sh"  # free_port, port_free

# Waits for "... listening on http://HOST:PORT" in a log; prints PORT.
wait_listening() {
  local file=$1 pid=$2
  for _ in $(seq 1 200); do
    if grep -qo 'listening on http://[0-9.]*:[0-9]*' "$file" 2>/dev/null; then
      grep -o 'listening on http://[0-9.]*:[0-9]*' "$file" | head -1 | sed 's/.*://'
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "compare.sh: server did not start; its log:" >&2
  cat "$file" >&2
  return 1
}

write_nginx_conf() {
  local port=$1 dir=$2
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
load_module $NCHAN_SO;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
daemon off;
master_process on;
user root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
  worker_connections $((NOFILE * 2));  # above the descriptor limit: accept() is the bound, not this
  multi_accept on;
}
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port backlog=4096;
    # nchan's plain pub/sub: subscribe with GET /sub?id=CH (WebSocket upgrade or EventSource),
    # publish with POST /pub?id=CH and the raw body.
    location = /sub {
      nchan_subscriber websocket eventsource;
      nchan_channel_id \$arg_id;
      nchan_subscriber_first_message newest;
    }
    location = /pub {
      nchan_publisher;
      nchan_channel_id \$arg_id;
    }
  }
}
EOF
}

# start_server KIND: sets URL, HUB_PID (the process to sample) and SERVER_PID (to stop).
start_server() {
  local kind=$1 log="$TMP/$1.log"
  : >"$log"
  case "$kind" in
    rthub)
      "${ON_SERVER[@]}" "$SERVER" --listen 127.0.0.1:0 "${RTHUB_EXTRA[@]}" 2>"$log" &
      SERVER_PID=$!
      SERVER_PIDS+=("$SERVER_PID")
      URL="http://127.0.0.1:$(wait_listening "$log" "$SERVER_PID")"
      HUB_PID=$SERVER_PID
      ;;
    naive|coalescing)
      "${ON_SERVER[@]}" "$BIN/floor-$kind" --listen 127.0.0.1:0 2>"$log" &
      SERVER_PID=$!
      SERVER_PIDS+=("$SERVER_PID")
      URL="http://127.0.0.1:$(wait_listening "$log" "$SERVER_PID")"
      HUB_PID=$SERVER_PID
      ;;
    nchan)
      local port dir="$TMP/nginx"
      port=$(free_port)
      rm -rf "$dir"
      write_nginx_conf "$port" "$dir"
      "${ON_SERVER[@]}" "$NGINX" -c "$dir/nginx.conf" -p "$dir" >"$log" 2>&1 &
      SERVER_PID=$!
      SERVER_PIDS+=("$SERVER_PID")
      HUB_PID=""
      for _ in $(seq 1 200); do
        HUB_PID=$(pgrep -P "$SERVER_PID" | head -1 || true)
        [[ -n "$HUB_PID" ]] && ! port_free "$port" && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" "$dir/error.log" >&2; return 1; }
        sleep 0.05
      done
      URL="http://127.0.0.1:$port"
      ;;
  esac
}

stop_server() {
  local pid=$SERVER_PID
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local kept=()
  for p in "${SERVER_PIDS[@]}"; do [[ "$p" != "$pid" ]] && kept+=("$p"); done
  SERVER_PIDS=("${kept[@]:-}")
  # nginx's worker goes with its master; give sockets a moment to close.
  sleep 0.3
}

# run SCENARIO KIND [rthub-bench options...]: one measurement on a fresh server.
run() {
  local scenario=$1 kind=$2
  shift 2
  local target=rthub
  [[ $kind == nchan ]] && target=nchan
  log "-- $scenario: $kind"
  if ! start_server "$kind"; then
    log "   (server did not start)"
    return 0
  fi
  local out="$TMP/$scenario-$kind.out"
  # A channel name no server has seen: nothing buffered under it can be replayed.
  local prefix="${scenario//[^A-Za-z0-9]/-}-$kind-$(date +%s%N)"
  # Sleepers beside the server and beside the bench (stall_watch.py): did the machine stall?
  "${ON_SERVER[@]}" python3 "$HERE/stall_watch.py" watch "$out.stalls-server" &
  WATCH_PIDS=("$!")
  "${ON_BENCH[@]}" python3 "$HERE/stall_watch.py" watch "$out.stalls-bench" &
  WATCH_PIDS+=("$!")
  "${ON_BENCH[@]}" "$BENCH" --url "$URL" --target "$target" --hub-pid "$HUB_PID" --label "$scenario/$kind" --prefix "$prefix" \
    --per-ip "$PER_IP" --json "$@" >"$out" 2>&1 || true
  kill "${WATCH_PIDS[@]}" 2>/dev/null || true
  wait "${WATCH_PIDS[@]}" 2>/dev/null || true
  WATCH_PIDS=()
  grep -v '^{' "$out" | sed 's/^/   /' >&2 || true
  grep '^{' "$out" | tail -1 |
    python3 "$HERE/stall_watch.py" annotate "$out.stalls-server" "$out.stalls-bench" >>"$RESULTS" || true
  stop_server
}

# ------------------------------------------------------------------------------------------------
# Scenarios.

if [[ $QUICK -eq 1 ]]; then
  IDLE_A=1000; IDLE_B=3000; IDLE_SETTLE=1
  BCAST_N=1000; BCAST_SECS=3
  SAT_N=200; SAT_CH=20; SAT_STEP=1; SAT_STEPS=3; SAT_SETTLE=0.5; RATE_1CH=100; RATE_MANY=1000
  SSE_N=100; SSE_CH=10
  STALL_N=100; STALL_SECS=3
  FIXED_RATE=20; FIXED_SECS=2
  WARM=0.5; CONNECT_TIMEOUT=5
else
  IDLE_A=10000; IDLE_B=50000; IDLE_SETTLE=3
  BCAST_N=10000; BCAST_SECS=20
  SAT_N=1000; SAT_CH=1000; SAT_STEP=4; SAT_STEPS=24; SAT_SETTLE=1; RATE_1CH=10; RATE_MANY=100
  SSE_N=1000; SSE_CH=1000
  STALL_N=500; STALL_SECS=20
  FIXED_RATE=20; FIXED_SECS=10
  WARM=2; CONNECT_TIMEOUT=30
fi
# Publishers: keep-alive connections with one request in flight each, the same for every server
# (rthub serves pipelined publishes, nchan behind nginx too, but a backend that waits for each
# answer is the common case). 32 of them so that the many-channel ramps are not bound by publish
# round trips too early.
PUB=(--publishers 32 --pipeline 1)
# Fixed-rate scenarios: see the header (a backlog of at most 4 messages can hide in a server).
PUB_FIXED=(--publishers 4 --pipeline 1)
# Each side of a connection needs a descriptor: the bench and the server each hold N.
IDLE_B_ASKED=$IDLE_B
if (( IDLE_B + 1000 > NOFILE )); then IDLE_B=$((NOFILE - 1000)); fi

START=$(date +%s)
log "== rthub-bench comparison in $TMP ($( [[ $QUICK -eq 1 ]] && echo quick || echo full ))"
log "   RLIMIT_NOFILE $NOFILE, $PORTS_NOTE, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $PIN_NOTE"

read -r -a KINDS_WS <<<"$(servers_among nchan rthub naive coalescing)"
read -r -a KINDS_SSE <<<"$(servers_among nchan rthub)"

if want idle; then
  for n in "$IDLE_A" "$IDLE_B"; do
    for k in "${KINDS_WS[@]}"; do
      run "idle-$n" "$k" --idle --subscribers "$n" --settle "$IDLE_SETTLE" --duration "$IDLE_SETTLE" --connect-timeout 90
    done
  done
fi

# fixed_rate SCENARIO SECONDS [options]: the measured run, then (unless --no-check) the same
# for half as long on a fresh server, labelled SCENARIO~check, for the sanity check.
fixed_rate() {
  local scenario=$1 secs=$2 k
  shift 2
  for k in "${KINDS_WS[@]}"; do
    run "$scenario" "$k" --duration "$secs" "$@" "${PUB_FIXED[@]}"
    if [[ $CHECK -eq 1 ]]; then
      run "$scenario~check" "$k" --duration "$(python3 -c "print(max(1.0, $secs / 2))")" "$@" "${PUB_FIXED[@]}"
    fi
  done
}

if want broadcast; then
  fixed_rate broadcast "$BCAST_SECS" --subscribers "$BCAST_N" --rate 10 --warmup "$WARM"
fi

# A fixed, moderate load every server carries: what each delivery costs the server in CPU time
# (the number a busy machine disturbs least), and the latency at that load.
if want fixed; then
  fixed_rate fixed "$FIXED_SECS" --subscribers "$SAT_N" --rate "$FIXED_RATE" --warmup "$WARM"
fi

# One synchronous publisher (one connection, each publish sent when the last was answered) to
# 1,000 subscribers on one channel: a backend that waits for every answer.
if want sync; then
  for k in "${KINDS_WS[@]}"; do
    run sync "$k" --subscribers "$SAT_N" --rate 0 --publishers 1 --pipeline 1 --duration "$FIXED_SECS" --warmup "$WARM"
  done
fi

# Saturation: the rate rises by 1.4x per step until p99 passes 100 ms (or fewer than 90% of the
# deliveries due arrive within the step) in two steps in a row; the best passing step counts.
RAMP=(--ramp --ramp-factor 1.4 --ramp-p99-ms 100 --ramp-max-steps "$SAT_STEPS" --ramp-settle "$SAT_SETTLE"
      --duration "$SAT_STEP" --warmup "$WARM" --connect-timeout "$CONNECT_TIMEOUT" "${PUB[@]}")
if want saturation; then
  for k in "${KINDS_WS[@]}"; do
    run sat-1ch "$k" --subscribers "$SAT_N" --channels 1 --rate "$RATE_1CH" "${RAMP[@]}"
  done
  for k in "${KINDS_WS[@]}"; do
    run sat-manych "$k" --subscribers $((SAT_CH * 10)) --channels "$SAT_CH" --rate "$RATE_MANY" "${RAMP[@]}"
  done
  # The same layout with rthub's array publish (10 messages per request; nchan takes one per
  # request), starting 10x higher: how far the publish path goes when HTTP is paid per batch.
  if [[ ",$SERVERS," == *",rthub,"* ]]; then
    run sat-manych-batch rthub --subscribers $((SAT_CH * 10)) --channels "$SAT_CH" \
      --rate $((RATE_MANY * 10)) --batch 10 "${RAMP[@]}"
  fi
fi
if want sse; then
  for k in "${KINDS_SSE[@]}"; do
    run sse-1ch "$k" --transport sse --subscribers "$SSE_N" --channels 1 --rate "$RATE_1CH" "${RAMP[@]}"
  done
  for k in "${KINDS_SSE[@]}"; do
    run sse-manych "$k" --transport sse --subscribers $((SSE_CH * 10)) --channels "$SSE_CH" --rate "$RATE_MANY" "${RAMP[@]}"
  done
fi

# 10% of subscribers stop reading (with a 4 KiB receive buffer). At 20 messages/s of 16 KiB a
# stalled one is owed 320 KiB/s: past the kernel's socket buffers (up to 4 MiB on loopback) and a
# 1 MiB queue within the run, so a server that bounds its queues drops them. The healthy ones'
# latency is what counts.
if want stall; then
  fixed_rate stall "$STALL_SECS" --subscribers "$STALL_N" --rate 20 --payload 16384 --stall-fraction 0.1 --warmup "$WARM"
fi

# The seeds' chat at scale: several rthub nodes on one Redis, 90,000 connections (seeds.sh; rthub
# only: the others have no multi-node mode here).
SEEDS_STATUS=0
if want seeds && [[ ",$SERVERS," == *",rthub,"* ]]; then
  log "-- seeds: examples/bench/seeds.sh"
  SEEDS_ARGS=(--build "$BUILD" --rthub-server "$SERVER" --rthub-args "$RTHUB_ARGS" --out "$TMP/seeds.md")
  if [[ $PIN -eq 1 ]]; then SEEDS_ARGS+=(--server-cpus "$SERVER_CPUS" --bench-cpus "$BENCH_CPUS"); else SEEDS_ARGS+=(--no-pin); fi
  [[ $QUICK -eq 1 ]] && SEEDS_ARGS+=(--quick)
  bash "$HERE/seeds.sh" "${SEEDS_ARGS[@]}" >/dev/null || SEEDS_STATUS=$?
fi

ELAPSED=$(( $(date +%s) - START ))

# ------------------------------------------------------------------------------------------------
# The table.

TABLE="$TMP/table.md"
SANITY_FAILED="$TMP/sanity-failed"
# The bench's CPUs, for "the bench used up its CPU set" (its CPU% counts one core as 100).
BENCH_NCPU=$(nproc)
[[ $PIN -eq 1 ]] && BENCH_NCPU=$(taskset -c "$BENCH_CPUS" nproc)
python3 - "$RESULTS" "$IDLE_A" "$IDLE_B" "$IDLE_B_ASKED" "$NOFILE" "$QUICK" "$SANITY_FAILED" "$BENCH_NCPU" >"$TABLE" <<'PY'
import json, sys
path, idle_a, idle_b, idle_b_asked, nofile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
quick = sys.argv[6] == "1"
sanity_failed_path = sys.argv[7]
bench_ncpu = int(sys.argv[8])
R = {}
for line in open(path):
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        j = json.loads(line)
    except ValueError:
        continue
    scen, kind = j["label"].split("/")
    R[(scen, kind)] = j

def get(s, k):
    return R.get((s, k))

def conn_note(j):
    if j and j["connected"] < j["subscribers"]:
        return " (%d/%d conn.)" % (j["connected"], j["subscribers"])
    return ""

# Why a fixed-rate run's latency is not the server's own: it took fewer publishes than asked (the
# latency is then the age of a backlog), or the load generator used up its CPU set.
def flags(j):
    out = []
    if not j or "steps" in j or j.get("idle") or "rate" not in j:
        return out
    if j["rate"] > 0 and j["pub_per_s"] < 0.95 * j["rate"]:
        out.append("took %.1f of %g msg/s" % (j["pub_per_s"], j["rate"]))
    if j.get("bench_cpu", 0) > 90 * bench_ncpu:
        out.append("bench at %.0f%% CPU of %d" % (j["bench_cpu"], bench_ncpu))
    return out

def flag_note(j):
    f = flags(j)
    return " [" + "; ".join(f) + "]" if f else ""

def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "KiB":
        return "%.2f KiB" % (v / 1024)
    if unit == "ms":
        return ("%.2f" if v < 10 else "%.1f" if v < 100 else "%.0f") % v + " ms"
    if unit == "MiB":
        return "%.1f MiB" % (v / 1024)
    if unit == "/s":
        return "{:,.0f}/s".format(v)
    return str(v)

def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2fx" % (a / b)

rows = []
# nchan_scen: nchan has no counterpart of this scenario; compare with its number in that one.
def row(name, scen, key, unit, kinds=("nchan", "rthub", "naive", "coalescing"), target="", check=None,
        nchan_scen=None):
    vals = {}
    cells = []
    for k in ("nchan", "rthub", "naive", "coalescing"):
        j = get(scen, k) if k in kinds else None
        v = None
        if j is not None:
            v = j.get(key)
            if v is not None and v < 0:
                v = None
            if key == "rss_per_conn_bytes" and v is not None and j["connected"] == 0:
                v = None
        vals[k] = v
        if k not in kinds:
            cells.append("n/a")
        elif j is None:
            cells.append("not run")
        elif v is None and key in ("deliveries_per_s", "p99_ms") and "steps" in j:
            cells.append("no step passed" + conn_note(j))
        else:
            cells.append(fmt(v, unit) + conn_note(j) + (flag_note(j) if unit == "ms" else ""))
    if nchan_scen and get(nchan_scen, "nchan"):
        vals["nchan"] = get(nchan_scen, "nchan").get(key)
        cells[0] = "%s (%s)" % (fmt(vals["nchan"], unit), nchan_scen)
    met = ("quick run" if quick else check(vals)) if check else ""
    rows.append([name] + cells + [ratio(vals["rthub"], vals["nchan"]),
                                  ratio(vals["rthub"], vals["naive"]) if "naive" in kinds else "-",
                                  ratio(vals["rthub"], vals["coalescing"]) if "coalescing" in kinds else "-",
                                  target, met])

def ok(b):
    return "yes" if b else "NO"

def chk_mem(v):
    r, n = v["rthub"], v["nchan"]
    if r is None or n is None: return "?"
    return ok(r <= n / 3 and r < 2.5 * 1024)

def chk_p99(v):
    r, n, f = v["rthub"], v["nchan"], v["naive"]
    if r is None or n is None or f is None: return "?"
    return ok(r < n and r <= 1.1 * f)

def chk_sat(v):
    r, n, c = v["rthub"], v["nchan"], v["coalescing"]
    if r is None or n is None or c is None: return "?"
    return ok(r >= 5 * n and r >= 0.9 * c)

# Hub CPU time per delivery: robust against a busy machine, unlike latency. For the ramps, at the
# last step every server ran (the same asked rate for all).
def cpu_row(name, scen, kinds=("nchan", "rthub", "naive", "coalescing"), target="", check=None):
    js = {k: get(scen, k) for k in kinds if get(scen, k)}
    if not js:
        return
    vals = {k: None for k in ("nchan", "rthub", "naive", "coalescing")}
    rate = None
    if all("steps" in j for j in js.values()):
        k_common = min(len(j["steps"]) for j in js.values()) - 1
        if k_common < 0:
            return
        for k, j in js.items():
            st = j["steps"][k_common]
            rate = st["rate"]
            vals[k] = st["hub_cpu"] * 1e4 / st["deliveries_per_s"] if st["deliveries_per_s"] > 0 and st["hub_cpu"] >= 0 else None
    else:
        for k, j in js.items():
            d, c = j.get("deliveries_per_s"), j.get("hub_cpu")
            vals[k] = c * 1e4 / d if d and c is not None and c >= 0 else None
    cells = []
    for k in ("nchan", "rthub", "naive", "coalescing"):
        v = vals.get(k)
        cells.append("n/a" if k not in kinds else ("-" if v is None else "%.1f us" % v))
    label = name + (" (at %g msg/s, all servers)" % rate if rate is not None else "")
    met = ("quick run" if quick else check(vals)) if check else ""
    rows.append([label] + cells + [ratio(vals.get("rthub"), vals.get("nchan")),
                                   ratio(vals.get("rthub"), vals.get("naive")),
                                   ratio(vals.get("rthub"), vals.get("coalescing")), target, met])

def chk_sync(v):
    r, n = v["rthub"], v["nchan"]
    if r is None or n is None: return "?"
    return ok(r >= n)

def chk_manych(v):
    r, n = v["rthub"], v["nchan"]
    if r is None or n is None: return "?"
    return ok(r >= 1.5 * n)

def chk_cpu(v):
    r, f = v["rthub"], v["naive"]
    if r is None or f is None: return "?"
    return ok(r <= 1.15 * f)

b_label = idle_b if idle_b == idle_b_asked else "%s (%s asked; RLIMIT_NOFILE %s)" % (idle_b, idle_b_asked, nofile)
row("idle RSS per WS connection @ %s" % idle_a, "idle-%s" % idle_a, "rss_per_conn_bytes", "KiB",
    target="<= nchan/3 and < 2.5 KiB", check=chk_mem)
row("idle RSS per WS connection @ %s" % b_label, "idle-%s" % idle_b, "rss_per_conn_bytes", "KiB")
row("broadcast, 10 msg/s: p50", "broadcast", "p50_ms", "ms")
row("broadcast, 10 msg/s: p90", "broadcast", "p90_ms", "ms")
row("broadcast, 10 msg/s: p99", "broadcast", "p99_ms", "ms",
    target="< nchan and <= 1.1x naive", check=chk_p99)
row("broadcast, 10 msg/s: p99.9", "broadcast", "p999_ms", "ms")
row("broadcast, 10 msg/s: max", "broadcast", "max_ms", "ms")
cpu_row("  hub CPU per delivery, broadcast", "broadcast", target="<= 1.15x naive", check=chk_cpu)
row("fixed load, 20 msg/s on one channel: p50", "fixed", "p50_ms", "ms")
row("fixed load, 20 msg/s on one channel: p99", "fixed", "p99_ms", "ms")
cpu_row("  hub CPU per delivery, fixed load", "fixed")
row("one synchronous publisher, 1 channel: deliveries/s", "sync", "deliveries_per_s", "/s",
    target=">= nchan", check=chk_sync)
row("  (p99 at that rate)", "sync", "p99_ms", "ms")
row("saturation WS, 1 channel: deliveries/s", "sat-1ch", "deliveries_per_s", "/s",
    target=">= 5x nchan and >= 0.9x coalescing", check=chk_sat)
row("  (p99 at that rate)", "sat-1ch", "p99_ms", "ms")
row("  (hub CPU at that rate, %)", "sat-1ch", "hub_cpu", "")
cpu_row("  hub CPU per delivery, saturation WS 1 channel", "sat-1ch")
row("saturation WS, 1000 channels x 10: deliveries/s", "sat-manych", "deliveries_per_s", "/s",
    target=">= 1.5x nchan", check=chk_manych)
row("  (p99 at that rate)", "sat-manych", "p99_ms", "ms")
row("  (hub CPU at that rate, %)", "sat-manych", "hub_cpu", "")
cpu_row("  hub CPU per delivery, saturation WS many channels", "sat-manych")
row("saturation WS, 1000 channels x 10, rthub publishing arrays of 10: deliveries/s", "sat-manych-batch",
    "deliveries_per_s", "/s", kinds=("rthub",), target=">= 1.5x nchan", check=chk_manych,
    nchan_scen="sat-manych")
row("  (p99 at that rate)", "sat-manych-batch", "p99_ms", "ms", kinds=("rthub",))
row("  (hub CPU at that rate, %)", "sat-manych-batch", "hub_cpu", "", kinds=("rthub",))
row("saturation SSE, 1 channel: deliveries/s", "sse-1ch", "deliveries_per_s", "/s", kinds=("nchan", "rthub"))
row("  (p99 at that rate)", "sse-1ch", "p99_ms", "ms", kinds=("nchan", "rthub"))
cpu_row("  hub CPU per delivery, saturation SSE 1 channel", "sse-1ch", kinds=("nchan", "rthub"))
row("saturation SSE, many channels x 10: deliveries/s", "sse-manych", "deliveries_per_s", "/s", kinds=("nchan", "rthub"))
row("  (p99 at that rate)", "sse-manych", "p99_ms", "ms", kinds=("nchan", "rthub"))
row("10% stalled: healthy p99", "stall", "p99_ms", "ms")
row("10% stalled: healthy deliveries/s", "stall", "deliveries_per_s", "/s")
row("10% stalled: stalled ones the server closed", "stall", "stalled_closed", "")
row("10% stalled: server RSS at the end", "stall", "hub_rss_end_kb", "MiB")
cpu_row("  hub CPU per delivery, 10% stalled", "stall")

hdr = ["scenario", "nchan", "rthub", "floor-naive", "floor-coalescing", "rthub/nchan", "rthub/naive",
       "rthub/coalescing", "target (issues 8, 16)", "met"]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join(["---"] * len(hdr)) + "|")
for r in rows:
    r = [("%.0f" % x) if isinstance(x, float) else str(x) for x in r]
    print("| " + " | ".join(r) + " |")

# Sanity: each fixed-rate scenario ran twice per server (the second time half as long, on a fresh
# server). Numbers out of line between the two, or a flagged run, fail the whole run.
def cpu_per_delivery(j):
    d, c = j.get("deliveries_per_s"), j.get("hub_cpu")
    return c * 1e4 / d if d and c is not None and c >= 0 else None

def machine(j):
    m = j.get("machine")
    return "-" if not m else "%.0f-%.0f (%d)" % (m["server_ms"], m["bench_ms"], m["together"])

checks = []
for scen in ("broadcast", "fixed", "stall"):
    for k in ("nchan", "rthub", "naive", "coalescing"):
        a, b = get(scen, k), get(scen + "~check", k)
        if a is None or b is None:
            continue
        problems = []
        for name, j in (("run", a), ("check run", b)):
            problems += ["%s %s" % (name, f) for f in flags(j)]
        pa, pb = a.get("p99_ms"), b.get("p99_ms")
        if pa is None or pb is None or pa <= 0 or pb <= 0:
            problems.append("no p99")
        elif max(pa, pb) > 2 * min(pa, pb) and abs(pa - pb) > 25:
            problems.append("p99 %.1f ms vs %.1f ms" % (pa, pb))
        ca, cb = cpu_per_delivery(a), cpu_per_delivery(b)
        if ca and cb and max(ca, cb) > 1.35 * min(ca, cb):
            problems.append("CPU per delivery %.1f us vs %.1f us" % (ca, cb))
        checks.append((scen, k, pa, pb, ca, cb, problems, machine(a), machine(b)))
if checks:
    print()
    print("| sanity: scenario / server | p99 run | p99 check run | CPU per delivery run | check run | machine stalls run / check | verdict |")
    print("|---|---|---|---|---|---|---|")
    for scen, k, pa, pb, ca, cb, problems, ma, mb in checks:
        f = lambda v, u: "-" if v is None else ("%.1f %s" % (v, u))
        print("| %s / %s | %s | %s | %s | %s | %s / %s | %s |" % (scen, k, f(pa, "ms"), f(pb, "ms"), f(ca, "us"), f(cb, "us"),
              ma, mb, "FAILED: " + "; ".join(problems) if problems else "ok"))
    print()
    print("Machine stalls: the longest lateness (ms) of a 1 ms sleeper beside the server and of one beside")
    print("the bench over the measured time, and in brackets how many times both were 20 ms or more late")
    print("at the same instant: the machine not running, whatever runs on it (stall_watch.py).")
    failed = [c for c in checks if c[6]]
    if failed:
        with open(sanity_failed_path, "w") as out:
            for scen, k, pa, pb, ca, cb, problems, ma, mb in failed:
                out.write("%s / %s: %s (machine stalls %s / %s)\n" % (scen, k, "; ".join(problems), ma, mb))

# Sizes and the load the machine was under, per scenario.
print()
print("| scenario | subscribers x channels | payload | load avg (1 min) at the end, per server |")
print("|---|---|---|---|")
seen = []
for (s, k) in R:
    if s not in seen:
        seen.append(s)
for s in seen:
    js = [(k, R[(s, k)]) for k in ("nchan", "rthub", "naive", "coalescing") if (s, k) in R]
    j0 = js[0][1]
    per = j0["subscribers"] // max(1, j0["channels"])
    print("| %s | %d x %d%s | %d B | %s |" % (s, j0["channels"], per,
          ", %d%% stalled" % round(100 * j0["stalled"] / max(1, j0["subscribers"])) if j0["stalled"] else "",
          j0["payload"], ", ".join("%s %.1f" % (k, j.get("loadavg", -1)) for k, j in js)))
PY

echo
cat "$TABLE"
if [[ -f "$TMP/seeds.md" ]]; then
  echo
  echo "Seeds' scale (examples/bench/seeds.sh):"
  echo
  cat "$TMP/seeds.md"
fi
[[ $SEEDS_STATUS -eq 0 ]] || echo "seeds: seeds.sh exited $SEEDS_STATUS (a bench did not connect, publish or keep its subscribers)" >>"$SANITY_FAILED"
echo
echo "(ran in ${ELAPSED} s; $(nproc) CPUs; $PIN_NOTE; load average at the end $(cut -d' ' -f1-3 /proc/loadavg); RLIMIT_NOFILE $NOFILE; $PORTS_NOTE; niceness $NICE; rthub-server options: ${RTHUB_ARGS:-none})"
if [[ -n "$OUT" ]]; then
  cp "$TABLE" "$OUT"
  [[ -f "$TMP/seeds.md" ]] && { echo; cat "$TMP/seeds.md"; } >>"$OUT"
  cp "$RESULTS" "${OUT%.*}.jsonl"
  for f in "$TMP"/*.out; do cat "$f"; echo; done >"${OUT%.*}.log"
  log "== table in $OUT, raw results in ${OUT%.*}.jsonl, bench output in ${OUT%.*}.log"
fi
if [[ -s "$SANITY_FAILED" ]]; then
  log "compare.sh: sanity check FAILED: these numbers are not fit to publish:"
  sed 's/^/   /' "$SANITY_FAILED" >&2
  exit 3
fi
