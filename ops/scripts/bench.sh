#!/usr/bin/env bash
# `make bench`: the benchmark (tests/bench). Real redis-server, a private PostgreSQL
# cluster, both workers as production starts them and the stand-in Postmark, as
# `make faults` uses; prints one table and writes var/bench/last.json. Arguments go to
# `python -m tests.bench` (--managers N, --memory-reports N, --fanout N,M, ...).
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

ops/scripts/bootstrap.sh
ops/scripts/ensure-system-packages.sh redis-server:redis-server postgresql:pg_ctlcluster

exec .venv/bin/python -m tests.bench "$@"
