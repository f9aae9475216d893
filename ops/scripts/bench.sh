#!/usr/bin/env bash
# `make bench`: the benchmark (tests/bench). Real redis-server, a private PostgreSQL
# cluster, both workers as production starts them and the stand-in Postmark, as
# `make faults` uses; prints one table and writes var/bench/last.json. Arguments go to
# `python -m tests.bench` (--managers N, --sizing N,M, --provider-latency S,
# --rate-limit N, --webhook-events N, --fsync on|off, --fanout N,M, ...).
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

ops/scripts/bootstrap.sh
ops/scripts/ensure-system-packages.sh redis-server:redis-server postgresql:pg_ctlcluster \
  util-linux:unshare
# gunicorn for the webhook row: from .venv, or else from the image's build stage.
[ -x .venv/bin/gunicorn ] || ops/scripts/build-stage-venv.sh prod var/venvs/prod

exec .venv/bin/python -m tests.bench "$@"
