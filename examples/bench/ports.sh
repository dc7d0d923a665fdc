# Listening ports for the servers the bench scripts start (sourced by compare.sh and seeds.sh).
# A port is taken below the kernel's ephemeral range, so that no outgoing connection of the
# bench (or of other work on the machine) holds it; the range itself is left alone.

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

free_port() {
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (low - 10000)))
    port_free "$p" && { echo "$p"; return; }
  done
  echo "$(basename "$0"): no free port below $low" >&2
  return 1
}
