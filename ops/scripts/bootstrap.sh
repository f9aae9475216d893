#!/usr/bin/env bash
# Create .venv with Python 3.11+ and install requirements/dev.txt when it changed, from the lock:
# every package pinned with its hashes (pip's hash-checking mode). Locks: ops/scripts/lock.sh.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is required as '$python' (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    # Debian splits venv support into its own package.
    version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    ops/scripts/ensure-system-packages.sh "python${version}-venv"
    "$python" -m venv .venv
  fi
fi
stamp=.venv/.requirements.sha256
wanted=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  # The build backends first (requirements/build.in says why), so that building a package that
  # comes as source uses them rather than an unhashed download.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r requirements/build.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
    --no-build-isolation -r requirements/dev.txt
  echo "$wanted" > "$stamp"
fi
# Every time, not only when the locks change: a .po file may have changed (cheap).
ops/scripts/compile-catalogs.sh
