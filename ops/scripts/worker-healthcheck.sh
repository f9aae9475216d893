#!/usr/bin/env bash
# Healthcheck for a Celery worker (compose `healthcheck:`): exits 0 when the worker
# consuming QUEUE on this host answers a ping. Worker node names are <queue>@<hostname>
# (`-n reports@%h`), so the check pings only this container's own worker.
# Usage: worker-healthcheck.sh QUEUE        (WORKER_HEALTHCHECK_TIMEOUT, seconds, default 10)
set -o errexit -o pipefail -o nounset

queue=${1:?usage: worker-healthcheck.sh QUEUE}
repo=$(cd "$(dirname "$0")/../.." && pwd)
timeout_s=${WORKER_HEALTHCHECK_TIMEOUT:-10}
celery=celery
[ -x "$repo/.venv/bin/celery" ] && celery="$repo/.venv/bin/celery"

cd "$repo/backend"
# `timeout` bounds the whole command (start-up included); --timeout bounds the wait
# for the reply, so a busy worker still has most of the budget to answer.
exec timeout --kill-after=5 "$timeout_s" \
  "$celery" -A core inspect ping --destination "${queue}@$(hostname)" \
  --timeout "$(( timeout_s > 4 ? timeout_s - 3 : 1 ))"
