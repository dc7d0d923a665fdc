#!/usr/bin/env bash
# Installs the Debian packages of the named groups of .ci/debian-packages that are missing.
#
# Usage: .ci/install-packages.sh [--check] [--list] GROUP...
#   --check   install nothing: print the missing packages and exit 1 if there are any
#   --list    print the packages of the groups, one a line, and exit
#
# As root it runs apt-get itself; otherwise through sudo when there is one, else it stops and
# names the packages to install. A Node.js (and its npm) that did not come from Debian (NodeSource,
# nvm) counts as installed: NodeSource's nodejs package conflicts with Debian's npm.
set -euo pipefail

list_file="$(dirname "${BASH_SOURCE[0]}")/debian-packages"
check=0 list=0 groups=()
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --list) list=1 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "install-packages.sh: unknown option: $arg" >&2; exit 2 ;;
    *) groups+=("$arg") ;;
  esac
done
if ((${#groups[@]} == 0)); then
  echo "install-packages.sh: name at least one group (build, test, bench)" >&2
  exit 2
fi

known_groups=$(awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$list_file" | sort -u)
packages=()
for group in "${groups[@]}"; do
  if ! grep -qx "$group" <<<"$known_groups"; then
    echo "install-packages.sh: no group '$group' in $list_file (groups: $(echo $known_groups))" >&2
    exit 2
  fi
  while read -r package; do
    [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
  done < <(awk -v g="$group" '!/^[[:space:]]*(#|$)/ && $1 == g { print $2 }' "$list_file")
done

if ((list)); then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == 'install ok installed' ]]
}

missing=()
for package in "${packages[@]}"; do
  if is_installed "$package"; then continue; fi
  case "$package" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "all ${#packages[@]} packages of ${groups[*]} are installed"
  exit 0
fi
if ((check)); then
  echo "missing Debian packages (${groups[*]}): ${missing[*]}" >&2
  exit 1
fi

echo "installing: ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-packages.sh: not root and no sudo; install these packages first: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}"
