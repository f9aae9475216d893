#!/usr/bin/env bash
# Compile the message catalogs backend/locale/<lang>/LC_MESSAGES/django.po into the .mo
# files Django reads. The .mo files are build output, never committed (.gitignore).
# Babel's pybabel does it (requirements/base.in), so GNU gettext's msgfmt, which
# Django's compilemessages needs, is not required.
#
#   compile-catalogs.sh                 a .mo it cannot write is an error (exit 1)
#   compile-catalogs.sh --best-effort   ... is a warning, and the rest still starts
#
# Callers: ops/scripts/bootstrap.sh (so `make run`, `make test` and `make lint`) and the
# Docker image's build, both strict: their catalogs must exist. In development,
# ops/start/web, best effort: the mounted checkout (which hides the image's .mo files)
# may belong to someone other than the container's user, and the site is still usable
# without a catalog.
# pybabel is .venv's, else the one on PATH (the image's).
set -o errexit -o pipefail -o nounset
cd "$(dirname "$(readlink -f "$0")")/../.."

best_effort=false
case "${1:-}" in
  "") ;;
  --best-effort) best_effort=true ;;
  *)
    echo "usage: $0 [--best-effort]" >&2
    exit 64
    ;;
esac

pybabel=.venv/bin/pybabel
[ -x "$pybabel" ] || pybabel=pybabel

# Each catalog is compiled aside and installed only when its bytes differ (pybabel's
# output depends on the .po alone): a current .mo is never rewritten, so a checkout that
# cannot be written costs nothing once compiled, and no clock (skewed across a bind
# mount) decides what is current.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

uid=$(id -u)
for po in backend/locale/*/LC_MESSAGES/django.po; do
  [ -e "$po" ] || continue
  language=${po#backend/locale/}
  language=${language%%/*}
  mo=${po%.po}.mo
  "$pybabel" --quiet compile --domain django --locale "$language" \
    --input-file "$po" --output-file "$scratch/$language.mo"
  if cmp -s "$scratch/$language.mo" "$mo"; then
    continue
  fi
  # Written beside the old file, then renamed over it: a running server never reads half.
  if cp "$scratch/$language.mo" "$mo.$$" 2>/dev/null && mv -f "$mo.$$" "$mo"; then
    continue
  fi
  rm -f "$mo.$$" 2>/dev/null || true

  if ! $best_effort; then
    echo "compile-catalogs: cannot write $mo as uid $uid" >&2
    exit 1
  fi
  # Django translates with what it finds, and shows the msgid (English) for anything the
  # catalog lacks.
  if [ -e "$mo" ]; then
    effect="reports and pages in '$language' show the old translations, and English for text new in $po"
  else
    effect="reports and pages in '$language' show in English"
  fi
  echo "compile-catalogs: WARNING: cannot write $mo as uid $uid, so $effect." \
    "Make the checkout writable for uid $uid (docker compose: build the image with" \
    "APP_UID=\$(id -u) APP_GID=\$(id -g); docs/docker.md) or compile the catalogs as" \
    "the checkout's owner: ops/scripts/compile-catalogs.sh" >&2
done
