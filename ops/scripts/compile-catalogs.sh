#!/usr/bin/env bash
# Compile the message catalogs backend/locale/<lang>/LC_MESSAGES/django.po into the .mo
# files Django reads. The .mo files are build output, never committed (.gitignore).
# Babel's pybabel does it (requirements/base.in), so GNU gettext's msgfmt, which
# Django's compilemessages needs, is not required. ops/scripts/bootstrap.sh runs this
# (so `make run`, `make test` and `make lint` do), and so do the Docker image's build and,
# in development, ops/start/web (the mounted source hides the image's own .mo files).
# pybabel is .venv's, else the one on PATH (the image's).
set -o errexit -o pipefail -o nounset
cd "$(dirname "$(readlink -f "$0")")/../.."

pybabel=.venv/bin/pybabel
[ -x "$pybabel" ] || pybabel=pybabel
"$pybabel" --quiet compile --domain django --directory backend/locale
