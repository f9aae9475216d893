"""The development stack (docker-compose.yml and the image it builds), checked without a
Docker engine: who the containers run as, what they read, when they count as healthy, and
what the mounted checkout must give them (compiled catalogs, LF line endings).

Compose's own binary resolves the file (tests/support/compose.py says how); where a
developer's `.env` matters, in a copy of the checkout with one beside it, where
`docker compose up` would read it.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compose import (
    dockerfile_stages,
    env_file_entries,
    image_services,
)
from tests.support.fresh_python import clean_env
from tests.support.processes import REPO_DIR as REPO

DEV_COMPOSE = REPO / "docker-compose.yml"
DEV_EXAMPLE = REPO / ".env.example"
RU_PO = Path("backend/locale/ru/LC_MESSAGES/django.po")
RU_MO = RU_PO.with_suffix(".mo")


@pytest.fixture
def checkout(tmp_path) -> Path:
    """What docker-compose.yml mounts at /app and runs, copied: the compose file, backend/
    and ops/, with no compiled catalog (as git checks it out) and an empty var/."""
    for name in ("backend", "ops"):
        shutil.copytree(
            REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
        )
    shutil.copy(DEV_COMPOSE, tmp_path)
    (tmp_path / "var").mkdir()
    return tmp_path


def runtime_stage() -> list[str]:
    """The Dockerfile's last stage: the image that runs."""
    return dockerfile_stages()[-1]


def resolve_dev(checkout: Path, **shell: str) -> dict:
    """docker-compose.yml as `docker compose` resolves it in `checkout` (reading the .env
    there), with `shell` as the variables of the developer's shell."""
    result = subprocess.run(
        [str(checkout / "ops" / "scripts" / "compose-config.sh"), "dev", "--format", "json"],
        cwd=checkout,
        env=clean_env(PYTHON=sys.executable, **shell),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def in_container(model: dict, service: str, **changes: str) -> dict[str, str]:
    """The environment `service`'s process gets: compose's, and nothing from the shell that
    runs this test (DJANGO_READ_DOT_ENV_FILE included: only compose may set it)."""
    env = clean_env(DJANGO_READ_DOT_ENV_FILE=None)
    env.update(
        {k: v for k, v in model["services"][service]["environment"].items() if v is not None}
    )
    env.update(changes)
    return env


# THE APP USER: THE CHECKOUT'S OWNER
# ------------------------------------------------------------------------------


def test_the_dev_image_is_built_for_the_user_compose_is_given(checkout):
    """APP_UID and APP_GID, from the shell or from .env (compose reads it for this), become
    the app user's ids; unset or empty (as .env.example has them): 1000."""

    def ids(model: dict) -> set[tuple[str, str]]:
        return {
            (service["build"]["args"]["APP_UID"], service["build"]["args"]["APP_GID"])
            for service in image_services(model).values()
        }

    assert ids(resolve_dev(checkout)) == {("1000", "1000")}
    assert ids(resolve_dev(checkout, APP_UID="1234", APP_GID="2345")) == {("1234", "2345")}

    shutil.copy(DEV_EXAMPLE, checkout / ".env")
    copied_example = resolve_dev(checkout)
    assert ids(copied_example) == {("1000", "1000")}
    assert copied_example["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"] == (
        "flower:commission-demo"
    )

    (checkout / ".env").write_text("APP_UID=1234\nAPP_GID=2345\n")
    assert ids(resolve_dev(checkout)) == {("1234", "2345")}


def test_the_image_makes_its_app_user_from_the_build_arguments():
    runtime = runtime_stage()
    assert "ARG APP_UID=1000" in runtime
    assert "ARG APP_GID=1000" in runtime
    creates = next(line for line in runtime if "useradd" in line)
    assert '--gid "$APP_GID" app' in creates
    assert '--uid "$APP_UID" --gid app' in creates
    assert "USER app" in runtime


def test_every_variable_compose_takes_from_env_is_in_env_example():
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", DEV_COMPOSE.read_text()))
    assert interpolated >= {"APP_UID", "APP_GID", "FLOWER_BASIC_AUTH"}
    missing = interpolated - set(env_file_entries(DEV_EXAMPLE))
    assert not missing, f"docker-compose.yml reads {sorted(missing)}: not in .env.example"


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
