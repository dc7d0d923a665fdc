#!/usr/bin/env bash
# The one test command of rthub. On Debian 12 (bookworm), as root:
#   1. installs the Debian packages that are missing (.ci/debian-packages, groups build and test),
#   2. installs the Node test clients (npm ci in tests/),
#   3. configures and builds with CMake,
#   4. runs every test with CTest.
#
# Usage:
#   tests/run.sh              Release build in $RTHUB_BUILD_DIR (default: build)
#   tests/run.sh --sanitize   AddressSanitizer + UBSan build in ${RTHUB_BUILD_DIR:-build}-asan
#
# Runs from any working directory; exits non-zero if any step or test fails.
set -euo pipefail

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

sanitize=0
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "tests/run.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

current_section="start"
section_started=$SECONDS
section() {
  if [[ "$current_section" != "start" ]]; then
    printf -- '---- %s: done in %ds\n' "$current_section" $((SECONDS - section_started))
  fi
  current_section="$1"
  section_started=$SECONDS
  printf '\n==== %s ====\n' "$1"
}
trap 'rc=$?; printf "\ntests/run.sh: FAILED in \"%s\" (exit %d, after %ds)\n" "$current_section" "$rc" "$SECONDS" >&2; exit "$rc"' ERR

# --------------------------------------------------------------------------
section "Debian packages"

# The one list: .ci/debian-packages (groups build and test); the installer skips a Node.js and
# npm that did not come from Debian.
bash .ci/install-packages.sh build test
echo "node $(node --version), npm $(npm --version 2>/dev/null), $(cmake --version | head -n 1)"

# --------------------------------------------------------------------------
section "Node test clients (tests/node_modules)"

# Networks that intercept TLS (corporate or sandbox proxies) add their CA to the system store;
# node only trusts its own bundle unless told to add that one.
if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -f /etc/ssl/certs/ca-certificates.crt ]]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
if [[ ! -d tests/node_modules || tests/package-lock.json -nt tests/node_modules/.package-lock.json ]]; then
  (cd tests && npm ci --no-audit --no-fund)
else
  echo "tests/node_modules is up to date with tests/package-lock.json"
fi

# --------------------------------------------------------------------------
build_dir=${RTHUB_BUILD_DIR:-build}
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
if ((sanitize)); then
  build_dir="${build_dir}-asan"
  # Debug info for readable sanitizer reports; optimised so the suite stays fast.
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTHUB_SANITIZE=address,undefined)
  # Any finding fails the process that made it (the tests check exit codes).
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # Leaks inside system libraries that the project cannot fix go in this file,
  # one 'leak:<function or library>' per line, each with a comment saying why.
  if [[ -f tests/lsan.supp && -z "${LSAN_OPTIONS:-}" ]]; then
    export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  fi
fi

section "Configure (${build_dir})"
cmake -S . -B "$build_dir" "${cmake_args[@]}"

section "Build (${build_dir})"
cmake --build "$build_dir" -j2

section "Test (${build_dir})"
ctest_args=()
if ((sanitize)); then
  # The bindings and vendoring tests rebuild or re-link the library with other toolchains (Go,
  # separate CMake projects), and the demo test builds its own Release rthub-server; under the
  # sanitizers they add minutes and no coverage of our code.
  ctest_args=(-LE 'bindings|demo')
fi
ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 600 --no-tests=error "${ctest_args[@]}"

section "Summary"
mode=""
if ((sanitize)); then mode=" --sanitize"; fi
echo "tests/run.sh${mode}: all steps passed in ${SECONDS}s"
