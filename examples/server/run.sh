#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root: the build group of .ci/debian-packages), builds
# rthub-server, and starts it with the demo page of examples/web on 127.0.0.1:8080.
#
# Environment:
#   RTHUB_DEMO_LISTEN     HOST:PORT to serve on instead (port 0 picks a free one; the server
#                         prints the address it got)
#   RTHUB_DEMO_BUILD_DIR  build directory (default build-demo)
# Extra arguments go to rthub-server (e.g. --listen 0.0.0.0:8080, --heartbeat 10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bash .ci/install-packages.sh build

listen=${RTHUB_DEMO_LISTEN:-127.0.0.1:8080}
build=${RTHUB_DEMO_BUILD_DIR:-build-demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRTHUB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target rthub-server
echo
echo "Open the demo page at the URL below; publish with:"
echo "  curl -X POST ${listen}/publish -d '{\"channel\":\"incidents\",\"type\":\"incident.created\",\"data\":{\"id\":1,\"title\":\"Road blocked\",\"severity\":\"high\",\"x\":420,\"y\":310}}'"
echo
exec "$build/bin/rthub-server" --listen "$listen" --static examples/web "$@"
