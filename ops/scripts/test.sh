#!/usr/bin/env bash
# `make test`: set up what a fresh machine lacks, then run the whole suite.
# The suite starts its own redis-server, redis-sentinel and Celery workers; extra arguments go to pytest.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

ops/scripts/bootstrap.sh
# promtool (Debian's prometheus package) checks and unit-tests ops/monitoring/'s alert rules.
ops/scripts/ensure-system-packages.sh redis-server:redis-server redis-sentinel:redis-sentinel chromium:chromium chromium-driver:chromedriver \
  prometheus:promtool

# The suite sees the settings' defaults, not a developer's .env or a running `make run`.
export DJANGO_READ_DOT_ENV_FILE=False

status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass." >&2
  exit 1
fi
exit "$status"
