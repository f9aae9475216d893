"""The image (ops/docker/Dockerfile, .dockerignore): multi-stage from one base, not root, no
secret in it, its app user made from the build arguments and never root."""

import re
import subprocess

import pytest

from tests.support.compose import dockerfile_stages, runtime_stage
from tests.support.fresh_python import clean_env
from tests.support.processes import REPO_DIR as REPO


def test_dockerfile():
    preamble, *stages = dockerfile_stages()
    # Every stage from the one base image, chosen in one place.
    assert any(line.startswith("ARG PYTHON_IMAGE=") for line in preamble)
    assert len(stages) >= 2, "multi-stage"
    assert all(stage[0].startswith("FROM ${PYTHON_IMAGE}") for stage in stages)
    build, runtime = stages[0], stages[-1]
    assert "ARG REQUIREMENTS=prod" in build
    assert any("requirements/${REQUIREMENTS}.txt" in line for line in build)
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "runs as root"
    assert any("collectstatic" in line for line in runtime if line.startswith("RUN "))
    assert 'ENTRYPOINT ["/app/ops/docker/entrypoint"]' in runtime
    # No secret in the image's environment or build arguments.
    for line in runtime + build:
        if line.startswith(("ENV ", "ARG ")):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|API_KEY", line), line


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".env.*", ".venv/", "var/", ".git/"} <= ignored


def test_the_image_makes_its_app_user_from_the_build_arguments():
    runtime = runtime_stage()
    assert "ARG APP_UID=1000" in runtime
    assert "ARG APP_GID=1000" in runtime
    creates = next(line for line in runtime if "useradd" in line)
    assert '--gid "$APP_GID" app' in creates
    assert '--uid "$APP_UID" --gid app' in creates
    assert "USER app" in runtime


@pytest.mark.parametrize(("uid", "refused"), [("0", True), ("1000", False), ("501", False)])
def test_the_image_refuses_to_make_root_its_app_user(uid, refused):
    """The guard that opens the RUN creating the user, run on its own (the rest of that
    RUN changes the system: it is never run here)."""
    creates = next(line for line in runtime_stage() if "useradd" in line)
    guard = creates.removeprefix("RUN ").split(" && ")[0]
    assert not re.search(r"\b(useradd|groupadd|mkdir|chown)\b", guard), guard

    result = subprocess.run(
        ["sh", "-c", guard], env=clean_env(APP_UID=uid), capture_output=True, text=True
    )
    assert (result.returncode != 0) is refused
    assert ("never runs as root" in result.stderr) is refused
