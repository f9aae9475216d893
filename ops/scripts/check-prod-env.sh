#!/usr/bin/env bash
# Check a production env file before `docker compose ... up`: every placeholder, missing,
# weak or misspelt variable at once, each with what to do; no secret is printed. It is
# the code the `preflight` service runs before PostgreSQL and Redis start
# (ops/docker/preflight.py), here on the file, on the host, without Docker.
#
#   ops/scripts/check-prod-env.sh [ENV_FILE]     default: $PROD_ENV_FILE, else .env.prod
#
# Needs python3 3.10 or later (no packages; PYTHON names another interpreter).
# Exit status 0: nothing to fix; 1: problems; 2: the file cannot be read.
set -o errexit -o pipefail -o nounset

here=$(dirname "$(readlink -f "$0")")
env_file=${1:-${PROD_ENV_FILE:-.env.prod}}

exec "${PYTHON:-python3}" "$here/../docker/preflight.py" --env-file "$env_file"
