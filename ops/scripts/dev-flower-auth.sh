#!/usr/bin/env bash
# The Flower login `make run` gives Flower when the developer has not chosen one.
#
#   dev-flower-auth.sh [DIR]     DIR: the repository (default), with .env and var/run.env
#
# Prints user:password, or nothing when FLOWER_BASIC_AUTH is set in the environment or in
# DIR/.env: the developer's choice wins (honcho hands .env to every process it starts).
# Otherwise the login an earlier run kept in DIR/var/run.env, so the password stays the
# same from run to run, or else a new random one, which run-local.sh keeps there.
set -o errexit -o pipefail -o nounset
scripts=$(dirname "$0")
dir=${1:-$scripts/../..}
python=${PYTHON:-$scripts/../../.venv/bin/python}

# NAME's value in FILE as honcho reads .env ("" when there is no FILE or no NAME).
value_in() {
  [ -f "$2" ] || return 0
  "$python" - "$1" "$2" <<'PY'
import sys
from pathlib import Path

from honcho.environ import parse

print(parse(Path(sys.argv[2]).read_text()).get(sys.argv[1], "").strip())
PY
}

if [ -n "${FLOWER_BASIC_AUTH:-}" ] || [ -n "$(value_in FLOWER_BASIC_AUTH "$dir/.env")" ]; then
  exit 0
fi
kept=$(value_in FLOWER_BASIC_AUTH "$dir/var/run.env")
echo "${kept:-flower:$("$python" -c 'import secrets; print(secrets.token_urlsafe(24))')}"
