#!/usr/bin/env bash
# Compile the hashed locks requirements/{base,prod,dev,build}.txt from what we ask for in
# requirements/*.in: every package, transitive ones included, pinned with == and the sha256 of each
# of its files on PyPI, for CPython 3.11 on Linux. Run it after editing a requirements/*.in file and
# commit the .in and .txt files together; ops/scripts/check-lock.sh (CI) fails until you do.
#
#   ops/scripts/lock.sh                               keep every pin the .in files still allow
#   ops/scripts/lock.sh --upgrade-package sqlparse    also move one (transitive) package to its newest
#   ops/scripts/lock.sh --upgrade                     move every transitive package to its newest
#
# Extra arguments go to `uv pip compile`. The compiler is uv, pinned in requirements/dev.in and
# installed into .venv with the rest of requirements/dev.txt (ops/scripts/bootstrap.sh).
# The pins of the current locks are kept as preferences, their hashes are not: every hash comes
# from PyPI afresh. prod and dev are compiled with the base lock (dev also with the prod lock) as
# constraints, so a package they share gets the same version everywhere. The locks are replaced only
# when all of them compiled.
# LOCK_OUTPUT=DIR writes the compiled locks into DIR and leaves requirements/ as it is (check-lock.sh
# compares the two).
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

locks=(base prod dev build)

ops/scripts/bootstrap.sh
uv=$PWD/.venv/bin/uv
if [ ! -x "$uv" ]; then
  echo "lock: $uv is missing: requirements/dev.txt must pin uv (see requirements/dev.in)." >&2
  exit 1
fi

output=${LOCK_OUTPUT:-requirements}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/requirements"
cp requirements/*.in "$work/requirements/"
for name in "${locks[@]}"; do
  if [ -f "requirements/$name.txt" ]; then
    sed -E -e '/^[[:space:]]*--hash=/d' -e 's/[[:space:]]*\\$//' "requirements/$name.txt" \
      >"$work/requirements/$name.txt"
  fi
done

# --no-config: no uv.toml or [tool.uv] changes the result. Markers are kept so that a lock made
# for 3.11 skips what only older 3.11 releases need (async-timeout on 3.11.7, say).
compile=(pip compile --quiet --no-config --generate-hashes --no-strip-markers
  --python-version 3.11 --python-platform linux
  --custom-compile-command ops/scripts/lock.sh)
# Order matters: prod.in and dev.in constrain themselves with base.txt, dev.in with prod.txt too.
for name in "${locks[@]}"; do
  (cd "$work" && "$uv" "${compile[@]}" "$@" "requirements/$name.in" \
    --output-file "requirements/$name.txt")
done
for name in "${locks[@]}"; do
  cp "$work/requirements/$name.txt" "$output/$name.txt"
done
