#!/usr/bin/env bash
# Checks that every C/C++ file of the project is formatted as .clang-format says.
# Usage: tests/format/check.sh [--fix]
#   --fix   rewrites the files instead of reporting them
# The files are the ones git tracks; outside a git checkout, every C/C++ file under the tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if ! command -v clang-format >/dev/null 2>&1; then
  echo "tests/format/check.sh: clang-format is missing (Debian package: clang-format)" >&2
  exit 1
fi

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.c' '*.h' '*.cpp' '*.hpp')
else
  mapfile -t files < <(find . -path ./tests/node_modules -prune -o -path './build*' -prune -o \
    -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) -print)
fi
if ((${#files[@]} == 0)); then
  echo "tests/format/check.sh: no C/C++ files found" >&2
  exit 1
fi

if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  echo "formatted ${#files[@]} files"
  exit 0
fi

report=$(clang-format --dry-run "${files[@]}" 2>&1 || true)
if [[ -n "$report" ]]; then
  unformatted=$(grep -oE '^[^:]+:[0-9]+:[0-9]+: (warning|error)' <<<"$report" | cut -d: -f1 | sort -u)
  head -n 40 <<<"$report"
  echo
  echo "Not formatted as .clang-format says ($(wc -l <<<"$unformatted") files):"
  echo "$unformatted"
  echo "Fix with: bash tests/format/check.sh --fix"
  exit 1
fi
echo "all ${#files[@]} C/C++ files are formatted ($(clang-format --version))"
