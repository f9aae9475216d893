#!/usr/bin/env bash
# Stops a Celery worker that no longer answers, so that its supervisor (compose's
# `restart: unless-stopped`) starts a fresh one. ops/start/worker runs it beside
# the worker. A worker can lose its broker connection mid-acknowledgement and come back
# without consuming: alive, but its queue stands still (celery/celery#8030 and kin).
# Nothing owed is lost meanwhile (the reconciler queues it again), but nothing moves.
# Usage: worker-watchdog.sh QUEUE PID
#   Every WORKER_WATCHDOG_INTERVAL seconds (default 60; 0: off) it pings the worker
#   (worker-healthcheck.sh); after 3 unanswered pings in a row it sends PID SIGTERM,
#   and SIGKILL if it is still there a minute later. A broker outage that long
#   restarts the worker too, which costs nothing: it reconnects once Redis is back.
set -o errexit -o pipefail -o nounset

queue=${1:?usage: worker-watchdog.sh QUEUE PID}
pid=${2:?usage: worker-watchdog.sh QUEUE PID}
interval=${WORKER_WATCHDOG_INTERVAL:-60}
[ "$interval" = 0 ] && exit 0
here=$(dirname "$(readlink -f "$0")")

misses=0
while kill -0 "$pid" 2>/dev/null; do
  sleep "$interval"
  if "$here/worker-healthcheck.sh" "$queue" >/dev/null 2>&1; then
    misses=0
    continue
  fi
  misses=$((misses + 1))
  echo "worker-watchdog: ${queue}@$(hostname) did not answer a ping (${misses} in a row)" >&2
  if [ "$misses" -ge 3 ]; then
    echo "worker-watchdog: stopping worker ${pid} so that it is started afresh" >&2
    kill -TERM "$pid" 2>/dev/null || exit 0
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
    kill -KILL "$pid" 2>/dev/null || true
    exit 0
  fi
done
