#!/usr/bin/env bash
# rthub.pc must describe the prefix it was installed to, also with cmake --install --prefix
# (which does not reconfigure): pkg-config --cflags rthub must name that prefix's include dir.
# Usage: pkgconfig_relocatable.sh BUILD_DIR
set -euo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(ls "$tmp"/prefix/lib*/pkgconfig/rthub.pc)
cflags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags rthub)
libs=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --libs rthub)
echo "cflags: $cflags"
echo "libs:   $libs"
# pkg-config leaves "${pcfiledir}/../.." unnormalised: compare real paths.
include_dir=$(realpath -m "$(grep -o -- '-I[^ ]*rthub[^ ]*\|-I[^ ]*prefix[^ ]*' <<<"$cflags" | head -n 1 | cut -c3-)")
lib_dir=$(realpath -m "$(grep -o -- '-L[^ ]*' <<<"$libs" | head -n 1 | cut -c3-)")
if [[ "$include_dir" != "$tmp/prefix/include" || "$lib_dir" != "$tmp/prefix/lib"* ]]; then
  echo "rthub.pc installed in $tmp/prefix points elsewhere:" >&2
  cat "$pc" >&2
  echo "(a relocatable rthub.pc derives the prefix from its own place: prefix=\${pcfiledir}/../..)" >&2
  exit 1
fi
echo "rthub.pc: OK"
