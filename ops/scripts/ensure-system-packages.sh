#!/usr/bin/env bash
# Make sure Debian packages the project needs exist: install them when we may
# (root, or passwordless sudo), otherwise stop and say how to get them.
# Usage: ensure-system-packages.sh PACKAGE[:COMMAND] ...
#   with COMMAND, the package counts as present when COMMAND is on the PATH.
set -o errexit -o pipefail -o nounset

missing=()
for spec in "$@"; do
  package=${spec%%:*}
  if [ "$spec" != "$package" ]; then
    command -v "${spec#*:}" >/dev/null 2>&1 || missing+=("$package")
  else
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them first, e.g.: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: ${missing[*]} (no apt-get here; install them with your package manager)" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
