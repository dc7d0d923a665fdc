#!/bin/sh
# postgres.sh: what --postgres costs and carries, on this machine.
#   1. the live path: rthub-bench at 1,000 subscribers, with and without --postgres;
#   2. sustained rows/s written to PostgreSQL: N messages published while PostgreSQL is stopped
#      (they wait in the buffer), then the time the store takes to write them all once it is back.
# It starts its own PostgreSQL cluster (Debian's postgresql; as user postgres when run as root)
# in a temp dir on a free loopback port, and removes it after.
#
# usage: examples/bench/postgres.sh [BUILD_DIR] (default build); env: RATE (50 msg/s), SUBS
# (1000), DURATION (10 s), ROWS (100000), PAYLOAD (256 bytes), LIVE (0: skip part 1).
set -eu
BUILD=${1:-build}
SERVER=$BUILD/bin/rthub-server
BENCH=$BUILD/bin/rthub-bench
RATE=${RATE:-50}
SUBS=${SUBS:-1000}
DURATION=${DURATION:-10}
ROWS=${ROWS:-100000}
PAYLOAD=${PAYLOAD:-256}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'; }

DIR=$(mktemp -d /tmp/rthub-pgbench-XXXXXX)
chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
PGPORT=$(free_port)
HUB_PID=
cleanup() {
  [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
# Default durability (fsync on, synchronous_commit on): the write rate a real deployment sees.
PGOPTS="-p $PGPORT -k $DIR -c listen_addresses=127.0.0.1"
pg_start() { as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -o "$PGOPTS" -l "$DIR/pg.log" -w start >/dev/null; }
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null; }
pg_start
CONNINFO="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"

start_hub() {  # start_hub PORT ARGS...
  port=$1
  shift
  "$SERVER" --listen "127.0.0.1:$port" "$@" 2>"$DIR/hub.log" &
  HUB_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "hub did not start: $(cat "$DIR/hub.log")" >&2
  exit 1
}
stop_hub() { kill "$HUB_PID"; wait "$HUB_PID" || true; HUB_PID=; }

if [ "${LIVE:-1}" = 1 ]; then
echo "== live path: $SUBS subscribers, $RATE msg/s, ${PAYLOAD}-byte payload, ${DURATION} s"
for mode in memory postgres; do
  port=$(free_port)
  if [ $mode = postgres ]; then start_hub "$port" --postgres "$CONNINFO"; else start_hub "$port"; fi
  "$BENCH" --url "http://127.0.0.1:$port" --subscribers "$SUBS" --rate "$RATE" --duration "$DURATION" \
    --warmup 2 --payload "$PAYLOAD" --publishers 4 --hub-pid "$HUB_PID" --label "$mode" --json | tail -1
  if [ $mode = postgres ]; then
    echo "   rows written: $(metric "$port" rthub_history_written_total), waiting: $(metric "$port" rthub_history_queue_depth)"
  fi
  stop_hub
done
fi

echo "== sustained writes: $ROWS messages buffered while PostgreSQL is stopped, then written"
port=$(free_port)
start_hub "$port" --postgres "$CONNINFO" --persist-buffer "$ROWS" --history 10 --max-message-bytes 4194304
pg_stop
data=$(python3 -c "print('\"' + 'x' * ($PAYLOAD - 2) + '\"')")
python3 - "$port" "$ROWS" "$data" <<'EOF'
import http.client, json, sys
port, rows, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection('127.0.0.1', port)
for start in range(0, rows, 500):
    body = '[' + ','.join('{"channel":"bench.%d","data":%s}' % (i % 100, data) for i in range(start, min(start + 500, rows))) + ']'
    conn.request('POST', '/publish', body, {'Content-Type': 'application/json'})
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
echo "   queued: $(metric "$port" rthub_history_queue_depth) (100 channels)"
pg_start
# From the moment the store is connected again (its reconnect backoff is not the write rate).
while [ "$(metric "$port" rthub_history_store_up)" != 1 ]; do sleep 0.02; done
t0=$(date +%s.%N)
w0=$(metric "$port" rthub_history_written_total)
while [ "$(metric "$port" rthub_history_queue_depth)" != 0 ]; do sleep 0.05; done
t1=$(date +%s.%N)
w1=$(metric "$port" rthub_history_written_total)
python3 -c "print('   %d rows in %.2f s: %.0f rows/s' % ($w1 - $w0, $t1 - $t0, ($w1 - $w0) / ($t1 - $t0)))"
stop_hub
