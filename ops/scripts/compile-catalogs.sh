#!/usr/bin/env bash
# Compile the message catalogs backend/locale/<lang>/LC_MESSAGES/django.po into the .mo
# files Django reads. The .mo files are build output, never committed (.gitignore).
# Babel's pybabel does it (requirements/base.in), so GNU gettext's msgfmt, which
# Django's compilemessages needs, is not required. ops/scripts/bootstrap.sh runs this
# (so `make run`, `make test` and `make lint` do), and so does the Docker image's build.
#   PYBABEL=/path/to/pybabel ops/scripts/compile-catalogs.sh
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

"${PYBABEL:-.venv/bin/pybabel}" --quiet compile --domain django --directory backend/locale
