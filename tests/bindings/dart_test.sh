#!/usr/bin/env bash
# dart test in bindings/dart against the build tree's librthub.so.
# Usage: dart_test.sh SOURCE_DIR LIBRTHUB_SO
# The Dart SDK is the one tool of the suite that is not a Debian package (tests/run.sh cannot
# install it): without it this test exits 77, which CTest reports as skipped (SKIP_RETURN_CODE),
# never as passed. bindings-dart-check still checks the bindings against rthub.h without it.
set -euo pipefail
src=$1 so=$2
if ! command -v dart >/dev/null 2>&1; then
  echo "SKIPPED: no Dart SDK on PATH (not a Debian package): bindings/dart's own tests did not run" >&2
  exit 77
fi
cd "$src/bindings/dart"
dart pub get
RTHUB_LIBRARY=$so dart test
