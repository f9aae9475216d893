#!/usr/bin/env bash
# `make services`: every compose service built from our image, run on this machine with
# exactly the entrypoint, command and environment compose gives it, until its own health
# check passes; then what production must refuse (tests/compose_run). No container engine:
# Linux namespaces and an overlay of this machine's root stand in for one, so it needs root.
# Arguments go to `python -m tests.compose_run` (--only dev,prod,refusals, --keep, ...).
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

ops/scripts/bootstrap.sh
ops/scripts/ensure-system-packages.sh redis-server:redis-server postgresql:pg_ctlcluster \
  iproute2:ip util-linux:nsenter
# The image's build stage for production (development's virtualenv is .venv itself).
ops/scripts/build-stage-venv.sh prod var/venvs/prod

exec .venv/bin/python -m tests.compose_run "$@"
