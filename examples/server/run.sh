#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds rthub, and starts rthub-server with the
# demo page of examples/web. Extra arguments go to rthub-server (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

packages=(build-essential cmake pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libssl-dev rapidjson-dev)
missing=()
for p in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == 'install ok installed' ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi

build=${RTHUB_DEMO_BUILD_DIR:-build-demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRTHUB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target rthub-server
echo
echo "Open the demo page at the URL below; publish with:"
echo "  curl -X POST localhost:8080/publish -d '{\"channel\":\"incidents\",\"type\":\"incident.created\",\"data\":{\"id\":1,\"title\":\"Road blocked\",\"severity\":\"high\",\"x\":420,\"y\":310}}'"
echo
exec "$build/bin/rthub-server" --static examples/web "$@"
