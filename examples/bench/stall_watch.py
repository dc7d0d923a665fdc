#!/usr/bin/env python3
"""stall_watch.py: is the machine itself stalling? For compare.sh and seeds.sh.

  stall_watch.py watch OUT
      Sleeps 1 ms at a time until killed and appends "unix-time lateness-ms" to OUT whenever it
      woke more than 5 ms late. Run one pinned beside the servers and one beside the load
      generator: a late wake-up on both CPU sets at the same instant is the machine not running
      (its host, or the kernel on every CPU), whatever runs on it.

  stall_watch.py annotate SERVER_FILE BENCH_FILE
      Reads rthub-bench's JSON line on standard input and prints it with "machine":
      {"server_ms": .., "bench_ms": .., "together": ..} over its measured time (wall_start to
      wall_end): the longest lateness on each set and how many times both were 20 ms or more late
      within 20 ms of each other. A line without a measured time passes unchanged.
"""
import json
import sys
import time

SLEEP_S = 0.001
RECORD_OVER_S = 0.005  # lateness below this is ordinary scheduling, not worth a line
TOGETHER_MS = 20.0     # a stall both sets saw: at least this late on each...
TOGETHER_WITHIN_S = 0.02  # ...ending within this of each other


def watch(out_path):
    out = open(out_path, "w", buffering=1)
    prev = time.monotonic()
    while True:
        time.sleep(SLEEP_S)
        now = time.monotonic()
        late = now - prev - SLEEP_S
        if late > RECORD_OVER_S:
            out.write("%.3f %.1f\n" % (time.time(), late * 1000))
        prev = now


def records(path):
    try:
        with open(path) as f:
            return [tuple(map(float, line.split())) for line in f if len(line.split()) == 2]
    except OSError:
        return []


def summary(server, bench, start, end):
    """The longest lateness on each set in [start, end] and how many stalls both saw."""
    server = [(t, late) for t, late in server if start <= t <= end]
    bench = [(t, late) for t, late in bench if start <= t <= end]
    both = [t for t, late in bench if late >= TOGETHER_MS]
    together = sum(1 for t, late in server
                   if late >= TOGETHER_MS and any(abs(t - u) <= TOGETHER_WITHIN_S for u in both))
    return {
        "server_ms": max((late for _, late in server), default=0.0),
        "bench_ms": max((late for _, late in bench), default=0.0),
        "together": together,
    }


def main(argv):
    if len(argv) == 3 and argv[1] == "watch":
        try:
            watch(argv[2])
        except KeyboardInterrupt:
            pass
        return 0
    if len(argv) == 4 and argv[1] == "annotate":
        line = sys.stdin.read()
        if line.strip():
            result = json.loads(line)
            if "wall_start" in result:
                result["machine"] = summary(records(argv[2]), records(argv[3]),
                                            result["wall_start"], result["wall_end"])
            print(json.dumps(result))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
