"""What both compose files must hold, checked without a Docker engine: they validate, every
long-running service has a health check and restarts, dependencies wait for health, each
worker consumes one queue and scales, one beat, one image, and commands and health checks
that run files of the repository.

The assertions read the compose files as Compose v2 resolves them (tests/support/compose.py),
so they see what `docker compose up` would run. What only one of them holds:
test_dev_compose.py and test_prod_compose.py; their variables: test_env_files.py.
"""

import os
import subprocess
import sys

import pytest

from tests.support.compose import (
    COMPOSE_CONFIG,
    WORKERS,
    command_of,
    compose_config,
    image_services,
    one_shot_services,
    runs,
    seconds,
)
from tests.support.fresh_python import clean_env
from tests.support.processes import REPO_DIR as REPO

DEV_SERVICES = {"web", "worker-reports", "worker-email", "beat", "flower", "redis", "postgres"}
DEV_SERVICES |= {"mailpit"}
# Production: no mail catcher; the env file is checked, then migrations run, once before
# anything else starts.
PROD_SERVICES = DEV_SERVICES - {"mailpit"} | {"preflight", "migrate"}


@pytest.fixture(params=["dev", "prod"])
def model(request):
    return request.param, request.getfixturevalue(f"{request.param}_model")


# THE FILES VALIDATE
# ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_compose_file_validates(which):
    """What .ci/run runs: `config -q`, prod with .env.prod.example as it is."""
    result = compose_config(which)
    assert result.returncode == 0, result.stderr
    # A variable the env file does not set would silently become "" in production.
    assert "variable is not set" not in result.stderr, result.stderr


def test_compose_binary_reports_an_invalid_file(tmp_path):
    """The binary itself (not the console script, which drops the exit status) fails."""
    binary = subprocess.run(
        [str(COMPOSE_CONFIG), "--binary"],
        env=clean_env(PYTHON=sys.executable),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  web:\n    image: x\n    healthcheck:\n      interval: soon\n")
    result = subprocess.run(
        [binary, "--file", str(broken), "config", "-q"],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


# SERVICES
# ------------------------------------------------------------------------------


def test_services(dev_model, prod_model):
    assert set(dev_model["services"]) == DEV_SERVICES
    assert set(prod_model["services"]) == PROD_SERVICES


def test_long_running_services_have_a_healthcheck_and_restart(model):
    which, model = model
    one_shot = one_shot_services(model)
    for name, service in model["services"].items():
        if name in one_shot:
            # Restarting a finished migration would run it forever.
            assert service.get("restart") in (None, "no"), name
            continue
        healthcheck = service.get("healthcheck") or {}
        assert not healthcheck.get("disable"), f"{which}: {name} disables its healthcheck"
        assert healthcheck.get("test") not in (None, [], ["NONE"]), f"{which}: {name} has none"
        assert service.get("restart") == "unless-stopped", f"{which}: {name}"


def test_dependencies_wait_for_health(model):
    which, model = model
    for name, service in model["services"].items():
        for dependency, how in (service.get("depends_on") or {}).items():
            assert how["condition"] in {"service_healthy", "service_completed_successfully"}, (
                f"{which}: {name} starts before {dependency} is ready"
            )


def test_workers_consume_one_queue_and_scale(model):
    which, model = model
    for name, queue in WORKERS.items():
        service = model["services"][name]
        assert command_of(service) == ["/app/ops/start/worker", queue], name
        assert service["healthcheck"]["test"][-2:] == [
            "/app/ops/scripts/worker-healthcheck.sh",
            queue,
        ]
        # Anything fixed per container makes `--scale worker-...=N` fail or collide.
        for fixed in ("container_name", "hostname", "ports"):
            assert not service.get(fixed), f"{which}: {name} has a fixed {fixed}"
        # Soft shutdown: running tasks get CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT (30 s).
        assert seconds(service["stop_grace_period"]) > 30, f"{which}: {name}"


def test_exactly_one_beat(model):
    which, model = model
    beats = [name for name, service in model["services"].items() if runs(service, "beat")]
    assert beats == ["beat"], which
    assert (model["services"]["beat"].get("deploy") or {}).get("replicas", 1) == 1


def test_every_django_service_shares_one_image(model):
    which, model = model
    services = image_services(model)
    assert set(services) >= {"web", "beat", "flower", *WORKERS}
    assert len({service["image"] for service in services.values()}) == 1, which
    assert {service["build"]["dockerfile"] for service in services.values()} == {
        "ops/docker/Dockerfile"
    }


def test_commands_and_health_checks_run_files_of_the_repo(model):
    """The image holds the repo at /app: every /app/... path exists, and what runs
    directly (not through python) is executable."""
    which, model = model
    for name, service in model["services"].items():
        for words in (command_of(service), (service.get("healthcheck") or {}).get("test", [])):
            words = [word for word in words if word not in {"CMD", "CMD-SHELL"}]
            for position, word in enumerate(words):
                if not word.startswith("/app/"):
                    continue
                path = REPO / word.removeprefix("/app/")
                assert path.is_file(), f"{which}: {name} runs {word}, which is not in the repo"
                if position == 0:
                    assert os.access(path, os.X_OK), f"{which}: {name}: {word} not executable"
