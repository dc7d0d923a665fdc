#!/bin/sh
# build-pkgconfig.sh: builds main.c against an installed rthub with pkg-config alone, the way a
# Makefile or another build system would:
#
#   PKG_CONFIG_PATH=/the/prefix/lib/pkgconfig ./build-pkgconfig.sh OUTPUT [static|shared]
#
# static (default): pkg-config --libs --static rthub gives -lrthub and every library librthub.a
# needs; -Wl,-Bstatic makes the linker take librthub.a although librthub.so sits beside it.
# shared: pkg-config --libs rthub; run the program with the prefix's lib directory on
# LD_LIBRARY_PATH (or link with an rpath).
set -eu
out=${1:?usage: build-pkgconfig.sh OUTPUT [static|shared]}
kind=${2:-static}
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cflags=$(pkg-config --cflags rthub)
if [ "$kind" = static ]; then
  libs=$(pkg-config --libs --static rthub)
  # -lrthub alone would pick librthub.so: ask for the archive for that one library.
  libs=$(printf '%s\n' "$libs" | sed 's/-lrthub\b/-Wl,-Bstatic -lrthub -Wl,-Bdynamic/')
  set -x
  $cc -std=c11 -Wall -Wextra -DRTHUB_STATIC $cflags -o "$out" "$here/main.c" $libs ${LDFLAGS:-}
else
  set -x
  $cc -std=c11 -Wall -Wextra $cflags -o "$out" "$here/main.c" $(pkg-config --libs rthub) ${LDFLAGS:-}
fi
