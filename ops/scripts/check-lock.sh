#!/usr/bin/env bash
# Check that the hashed locks requirements/*.txt are current with respect to requirements/*.in:
# compile them again with ops/scripts/lock.sh into a temporary folder (the committed
# pins are kept as preferences, the hashes come from PyPI afresh) and compare. Fails, naming the
# command to run, when a .in file was edited without re-locking, when a lock was edited by hand (a
# pin, or a hash that is none of PyPI's files for that release), or when the dev and prod locks pin
# a shared package differently. Needs PyPI, like the lock itself.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

locks=(base prod dev build)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! LOCK_OUTPUT=$tmp ops/scripts/lock.sh >"$tmp/lock.log" 2>&1; then
  cat "$tmp/lock.log" >&2
  echo "check-lock: FAILED: the locks could not be compiled from requirements/*.in (output" \
    "above). Fix the .in files, then run ops/scripts/lock.sh and commit them with the locks." >&2
  exit 1
fi

# A lock's pins: its requirement lines (name==version and markers), without hashes and comments.
pins() {
  grep -v -E '^[[:space:]]*(#|--hash=|$)' "$1" | sed -E -e 's/[[:space:]]*\\$//'
}
# A lock's hashes, one "name==version sha256" a line.
hashes() {
  awk '/^[^[:space:]#]/ { pkg = $1 }
       match($0, /--hash=sha256:[0-9a-f]+/) { print pkg, substr($0, RSTART + 14, RLENGTH - 14) }' "$1" |
    LC_ALL=C sort
}

stale=0
for name in "${locks[@]}"; do
  lock=requirements/$name.txt
  fresh=$tmp/$name.txt
  if [ ! -f "$lock" ]; then
    echo "check-lock: $lock is missing." >&2
    stale=1
    continue
  fi
  if ! diff -u --label "$lock (committed)" --label "$lock (compiled from requirements/$name.in)" \
      <(pins "$lock") <(pins "$fresh") >"$tmp/$name.diff"; then
    echo "check-lock: $lock is not current with respect to requirements/$name.in:" >&2
    cat "$tmp/$name.diff" >&2
    stale=1
    continue
  fi
  unknown=$(LC_ALL=C comm -23 <(hashes "$lock") <(hashes "$fresh"))
  if [ -n "$unknown" ]; then
    echo "check-lock: $lock has hashes that match none of PyPI's files for the pinned release:" >&2
    echo "$unknown" | sed 's/^/  /' >&2
    stale=1
  elif [ -n "$(LC_ALL=C comm -13 <(hashes "$lock") <(hashes "$fresh"))" ]; then
    # PyPI lists files for a pinned release that were uploaded after it was locked. The lock still
    # installs (each file it can pick is hash-checked), so this does not fail.
    echo "check-lock: note: $lock lacks the hashes of some of PyPI's files for its pinned" \
      "releases (uploaded after it was locked?); ops/scripts/lock.sh adds them." >&2
  fi
done

# Packages that both dev and prod install must be the same version (dev.in is compiled with
# prod.txt as a constraint, so this holds unless a lock was edited by hand).
versions() { pins "$1" | sed -E -e 's/[[:space:]]*;.*//' -e 's/==/ /' | LC_ALL=C sort; }
mismatch=$(LC_ALL=C join <(versions requirements/dev.txt) <(versions requirements/prod.txt) |
  awk '$2 != $3 { print "  " $1 ": dev " $2 ", prod " $3 }')
if [ -n "$mismatch" ]; then
  echo "check-lock: requirements/dev.txt and requirements/prod.txt pin different versions of:" >&2
  echo "$mismatch" >&2
  stale=1
fi

if [ "$stale" -ne 0 ]; then
  echo "check-lock: FAILED. Run ops/scripts/lock.sh, then commit requirements/*.in and" \
    "requirements/*.txt together." >&2
  exit 1
fi
echo "check-lock: requirements/{base,prod,dev,build}.txt are current with respect to requirements/*.in."
