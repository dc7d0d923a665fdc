#!/usr/bin/env bash
# Configures, builds and runs examples/vendor-subdir in a temporary directory: a project that
# add_subdirectory()s the rthub tree and links rthub::rthub (librthub.a) into its program.
# Usage: vendor_subdir.sh SOURCE_DIR [SANITIZERS]
set -euo pipefail
src=$1 sanitize=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(-DCMAKE_BUILD_TYPE=Release)
# The vendored rthub honours the parent's RTHUB_SANITIZE, like any other cache option.
[[ -n "$sanitize" ]] && args+=(-DRTHUB_SANITIZE="$sanitize")
cmake -S "$src/examples/vendor-subdir" -B "$tmp/build" "${args[@]}"
cmake --build "$tmp/build" -j2
# Only the library is built for a vendoring project: no tests, no examples, no shared library.
extra=$(find "$tmp/build" -name 'rthub-server' -o -name 'librthub.so*' -o -name 'rthub-capi-test')
if [[ -n "$extra" ]]; then
  echo "the vendored rthub built more than librthub.a:" >&2
  echo "$extra" >&2
  exit 1
fi
deps=$(ldd "$tmp/build/vendor-subdir")
if [[ "$deps" == *librthub.so* ]]; then
  echo "vendor-subdir links librthub.so, not librthub.a" >&2
  exit 1
fi
"$tmp/build/vendor-subdir"
echo "examples/vendor-subdir: OK"
