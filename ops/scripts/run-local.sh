#!/usr/bin/env bash
# `make run`: the whole stack on this machine without Docker.
# SQLite under var/, a private redis-server, then honcho runs web, both workers,
# beat and Flower from ops/Procfile. Ctrl-C stops everything.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

ops/scripts/bootstrap.sh
ops/scripts/ensure-system-packages.sh redis-server:redis-server

export REDIS_PORT=${REDIS_PORT:-6390}
export WEB_PORT=${WEB_PORT:-8000}
export FLOWER_PORT=${FLOWER_PORT:-5555}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:${REDIS_PORT}/0}
mkdir -p var/redis
# Flower asks for a password here too (its config refuses to start without one): your
# FLOWER_BASIC_AUTH (environment or .env) wins; otherwise the login made by the first
# run and kept in var/run.env.
flower_auth=$(ops/scripts/dev-flower-auth.sh)
if [ -n "$flower_auth" ]; then
  export FLOWER_BASIC_AUTH=$flower_auth
  flower_login="${flower_auth%%:*} / ${flower_auth#*:}"
else
  flower_login="your FLOWER_BASIC_AUTH"
fi
# What this run chose, for the settings of every command started from another terminal
# (manage.py, worker-healthcheck.sh): they reach this run's Redis with nothing exported.
# It holds Flower's password: readable by you alone.
install -m 600 /dev/null var/run.env
cat > var/run.env <<RUNENV
# Written by make run; read by core/settings.py and Flower's config before .env.
# Delete it to forget (Flower then gets a new password).
CELERY_BROKER_URL=${CELERY_BROKER_URL}
${flower_auth:+FLOWER_BASIC_AUTH=${flower_auth}}
RUNENV

# Our own Redis on its own port, so a system Redis on 6379 is never touched.
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/var/redis" \
  --appendonly yes --maxmemory 256mb --maxmemory-policy noeviction --daemonize yes --pidfile "$PWD/var/redis/redis.pid" \
  --logfile "$PWD/var/redis/redis.log"
trap 'kill "$(cat var/redis/redis.pid 2>/dev/null)" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done

manage() { .venv/bin/python backend/manage.py "$@"; }
manage migrate --no-input -v 0
manage seed_demo
# Queued before the workers start; --resend so every `make run` shows a fresh email
# in the email worker's output (without it, a report already sent is not sent again).
manage send_commission_report --manager maria --resend

# Email: a list, not one delivery's page, which exists only once the reports worker has
# built it (tests/ops/test_run_local.py opens this URL).
cat <<INFO

  Site:   http://127.0.0.1:${WEB_PORT}/
  Admin:  http://127.0.0.1:${WEB_PORT}/admin/   (admin / commission-demo)
  Email:  http://127.0.0.1:${WEB_PORT}/admin/mailing/emaildelivery/?to_email=maria%40example.com
          (maria's emails, newest first: open one to read it as sent)
  Months: http://127.0.0.1:${WEB_PORT}/admin/months/   (how each month's reports went)
  Flower: http://127.0.0.1:${FLOWER_PORT}/   (${flower_login})
  Stop with Ctrl-C.

INFO
.venv/bin/honcho --procfile ops/Procfile --app-root . start
