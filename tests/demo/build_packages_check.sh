#!/usr/bin/env bash
# Checks that every file a configured build of rthub found on this machine (the paths in its
# CMakeCache.txt, and the headers CMakeLists.txt looks for with find_path) belongs to a Debian
# package of the build group of .ci/debian-packages or to a package they depend on, so that
# examples/server/run.sh, which installs that group only, builds on a new machine too.
# Files that no package owns (a hand-built tool in /usr/local, the compiler cache) are not checked.
# Usage: build_packages_check.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
cache="$build/CMakeCache.txt"
[[ -f "$cache" ]] || { echo "no $cache" >&2; exit 1; }

# The group and everything it depends on, installed (Depends and Pre-Depends, every alternative,
# virtual packages through what installed packages provide).
declare -A closure=() provider=() depends=()
# One dpkg-query for every package: name, Provides, Depends and Pre-Depends (versions dropped).
while IFS=$'\x1f' read -r package provides deps; do
  for p in ${provides//,/ }; do
    [[ "$p" =~ ^[a-z0-9][a-z0-9+.-]*$ ]] && provider[$p]+="$package "
  done
  depends[$package]+="${deps//[,|]/ } "
done < <(dpkg-query -W -f=$'${Package}\x1f${Provides}\x1f${Depends}, ${Pre-Depends}\n' 2>/dev/null | sed 's/([^)]*)//g')
queue=($(bash "$src/.ci/install-packages.sh" --list build))
while ((${#queue[@]})); do
  package=${queue[0]}
  queue=("${queue[@]:1}")
  package=${package%%:*}
  [[ -n "$package" && -z "${closure[$package]:-}" ]] || continue
  closure[$package]=1
  for p in ${provider[$package]:-}; do queue+=("$p"); done
  for d in ${depends[$package]:-}; do queue+=("${d%%:*}"); done
done

# Files: every absolute path of the cache that exists and lies outside the source and build
# trees, but the compiler launcher; and each find_path header.
files=()
while IFS= read -r line; do
  name=${line%%:*}
  value=${line#*=}
  [[ "$name" == *_COMPILER_LAUNCHER ]] && continue
  for path in ${value//;/ }; do
    [[ "$path" == /* && -f "$path" ]] || continue
    [[ "$path" == "$src"/* || "$path" == "$build"/* ]] && continue
    files+=("$path")
  done
done < <(grep -E '^[A-Za-z_][A-Za-z0-9_.-]*:(FILEPATH|PATH|STRING|INTERNAL)=/' "$cache")
while read -r var header; do
  dir=$(sed -n "s|^$var:PATH=||p" "$cache")
  [[ -n "$dir" && -f "$dir/$header" ]] && files+=("$dir/$header")
done < <(grep -ho 'find_path([A-Za-z_0-9]* [^ )]*' "$src/CMakeLists.txt" | sed 's/find_path(//')

# One dpkg-query -S for every file and its resolved path (alternatives are symlinks): path -> owners.
declare -A owners_of=() resolved=()
queries=()
for file in "${files[@]}"; do
  resolved[$file]=$(readlink -f "$file")
  queries+=("$file" "${resolved[$file]}")
done
while IFS= read -r line; do
  path=${line#*: }
  owners_of[$path]=$(sed 's/: .*//; s/, / /g; s/:[a-z0-9_]*//g' <<<"$line")
done < <(dpkg-query -S "${queries[@]}" 2>/dev/null || true)

status=0 checked=0
declare -A seen=()
for file in "${files[@]}"; do
  [[ -z "${seen[$file]:-}" ]] || continue
  seen[$file]=1
  owners=${owners_of[$file]:-${owners_of[${resolved[$file]}]:-}}
  [[ -n "$owners" ]] || continue
  checked=$((checked + 1))
  ok=0
  for o in $owners; do [[ -n "${closure[$o]:-}" ]] && ok=1; done
  if ((!ok)); then
    echo "$file comes from $owners, which the build group of .ci/debian-packages does not install" >&2
    status=1
  fi
done
echo "checked $checked files of the build against ${#closure[@]} packages (the build group and its dependencies)"
exit $status
