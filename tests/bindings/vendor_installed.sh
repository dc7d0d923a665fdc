#!/usr/bin/env bash
# Installs the build tree into a temporary prefix (cmake --install), then builds
# examples/vendor-installed against it three ways and runs each program:
#   1. CMake: find_package(rthub) and rthub::rthub_static;
#   2. pkg-config --libs --static rthub, linking librthub.a;
#   3. pkg-config --libs rthub, linking librthub.so (run with LD_LIBRARY_PATH);
# and, when go is installed, builds examples/go with -tags rthub_pkgconfig against the prefix.
# Usage: vendor_installed.sh SOURCE_DIR BUILD_DIR [SANITIZERS]
set -euo pipefail
src=$1 build=$2 sanitize=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1 | xargs dirname)
san_flags=()
# ldd's output is read whole: `ldd | grep -q` under pipefail fails when grep exits first.
links_shared_rthub() { local deps; deps=$(ldd "$1"); [[ "$deps" == *librthub.so* ]]; }
[[ -n "$sanitize" ]] && san_flags=("-fsanitize=$sanitize")

echo "== 1. find_package(rthub)"
cmake -S "$src/examples/vendor-installed" -B "$tmp/cmake" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" ${sanitize:+"-DCMAKE_EXE_LINKER_FLAGS=${san_flags[*]}"}
cmake --build "$tmp/cmake"
if links_shared_rthub "$tmp/cmake/vendor-installed"; then
  echo "vendor-installed links librthub.so, not librthub.a" >&2
  exit 1
fi
"$tmp/cmake/vendor-installed"

echo "== 2. pkg-config --static"
export PKG_CONFIG_PATH=$libdir/pkgconfig
pc_prefix=$(pkg-config --variable=prefix rthub)
if [[ "$pc_prefix" != "$prefix" ]]; then
  # Reported by its own test (bindings-pkgconfig-relocatable); here the build goes on with
  # pkg-config's --define-prefix, which derives the prefix from the .pc file's location.
  echo "note: rthub.pc says prefix=$pc_prefix, installed in $prefix: using pkg-config --define-prefix"
  mkdir -p "$tmp/bin"
  printf '#!/bin/sh\nexec %s --define-prefix "$@"\n' "$(command -v pkg-config)" >"$tmp/bin/pkg-config"
  chmod +x "$tmp/bin/pkg-config"
  export PATH=$tmp/bin:$PATH
fi
LDFLAGS="${san_flags[*]}" "$src/examples/vendor-installed/build-pkgconfig.sh" "$tmp/pc-static" static
if links_shared_rthub "$tmp/pc-static"; then
  echo "the pkg-config --static build links librthub.so" >&2
  exit 1
fi
"$tmp/pc-static"

echo "== 3. pkg-config, shared"
LDFLAGS="${san_flags[*]}" "$src/examples/vendor-installed/build-pkgconfig.sh" "$tmp/pc-shared" shared
links_shared_rthub "$tmp/pc-shared" || { echo "the shared build does not link librthub.so" >&2; exit 1; }
LD_LIBRARY_PATH=$libdir "$tmp/pc-shared"

if [[ -z "$sanitize" ]]; then
  # tests/run.sh installs go: its absence is a failure, never a skip.
  command -v go >/dev/null 2>&1 || { echo "go is not installed (Debian package: golang-go)" >&2; exit 1; }
  echo "== 4. examples/go with -tags rthub_pkgconfig"
  export GOFLAGS=-buildvcs=false GOPROXY=off GOTOOLCHAIN=local
  export GOCACHE=${GOCACHE:-$build/go-cache} GOPATH=${GOPATH:-$build/go-path}
  # Go 1.19 does not key its build cache on pkg-config's output: a package built against an
  # earlier temporary prefix would be reused with that prefix's -L. The prefix in CGO_LDFLAGS
  # (which is part of the key) makes each prefix its own build.
  export CGO_LDFLAGS="-L$libdir"
  (cd "$src/examples/go" && go build -tags rthub_pkgconfig -o "$tmp/example-go" .)
  LD_LIBRARY_PATH=$libdir "$tmp/example-go" -api 127.0.0.1:0 -hub 127.0.0.1:0 >"$tmp/go.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q '^api: ' "$tmp/go.out" && break; sleep 0.1; done
  kill -TERM "$pid"
  wait "$pid"
  cat "$tmp/go.out"
  grep -q '^hub: ' "$tmp/go.out"
else
  echo "== 4. examples/go: not run in a sanitizer build"
fi
echo "examples/vendor-installed: OK"
