#!/usr/bin/env bash
# Compiles the complete program of docs/C-API.md (the ```c block under "A complete program") as
# pedantic C11 against librthub.a and runs it: the documentation's example stays true.
# Usage: doc_example.sh SOURCE_DIR LIB_DIR [SANITIZERS]
set -euo pipefail
src=$1 libdir=$2 sanitize=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^## A complete program/ {section=1} section && /^```c$/ {code=1; next} code && /^```$/ {exit} code {print}' \
  "$src/docs/C-API.md" >"$tmp/example.c"
[[ -s "$tmp/example.c" ]] || { echo "no C example found in docs/C-API.md" >&2; exit 1; }
flags=(-std=c11 -pedantic -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -DRTHUB_STATIC)
[[ -n "$sanitize" ]] && flags+=("-fsanitize=$sanitize")
${CC:-cc} "${flags[@]}" -I"$src/include" -c "$tmp/example.c" -o "$tmp/example.o"
${CXX:-c++} "${flags[@]:5}" -o "$tmp/example" "$tmp/example.o" "$libdir/librthub.a" \
  $(pkg-config --libs libwebsockets libuv hiredis libpq libcrypto) -lpthread
"$tmp/example"
