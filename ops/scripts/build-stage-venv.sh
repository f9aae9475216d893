#!/usr/bin/env bash
# The Dockerfile's build stage without Docker: a virtualenv with requirements/REQUIREMENTS.txt
# installed as the image installs it (hashed locks, the build backends first), for
# `make services`, which mounts it at /opt/venv. Kept until the locks change.
# Usage: build-stage-venv.sh prod|dev DIRECTORY
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."

requirements=${1:?usage: build-stage-venv.sh prod|dev DIRECTORY}
venv=${2:?usage: build-stage-venv.sh prod|dev DIRECTORY}
case "$requirements" in
  prod | dev) ;;
  *)
    echo "REQUIREMENTS must be 'prod' or 'dev', not '$requirements'" >&2
    exit 64
    ;;
esac

# The image's venv is made by the base image's Python 3.11; here by the one .venv uses.
python=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
stamp=$venv/.requirements.sha256
wanted=$(cat requirements/build.txt "requirements/${requirements}.txt" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  "$venv/bin/pip" install --quiet --require-hashes --requirement requirements/build.txt
  "$venv/bin/pip" install --quiet --require-hashes --no-build-isolation \
    --requirement "requirements/${requirements}.txt"
  echo "$wanted" >"$stamp"
fi
