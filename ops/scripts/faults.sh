#!/usr/bin/env bash
# `make faults`: the fault-injection run (tests/faults). Real redis-server with AOF, a
# private PostgreSQL cluster, the web server, both workers and beat as production
# starts them, and a stand-in Postmark that posts delivery webhooks; prints one table.
# Arguments go to `python -m tests.faults` (--only NAME, --list, ...); so do the
# FAULTS_* variables described there.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

ops/scripts/bootstrap.sh
ops/scripts/ensure-system-packages.sh redis-server:redis-server redis-sentinel:redis-sentinel postgresql:pg_ctlcluster

exec .venv/bin/python -m tests.faults "$@"
