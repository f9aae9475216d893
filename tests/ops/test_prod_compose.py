"""docker-compose.prod.yml: required secrets, nothing published beyond loopback nor
mounted from the checkout, the env file checked before anything starts, each container
given only the secrets it uses, Redis and PostgreSQL without a password on a command
line or in their environment, Redis's memory bounded.

Read as Compose v2 resolves it (tests/support/compose.py), without a Docker engine. What
runs inside the containers (Redis's health check) is run here on the host: its paths
swapped for temporary ones, nothing else. The check itself (ops/docker/preflight.py):
test_preflight.py; Redis started with its secret: tests/integration/test_prod_compose.py.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.compose import (
    LOOPBACK,
    PROD_EXAMPLE,
    WORKERS,
    active_entries,
    command_of,
    compose_config,
    container_env,
    env_file_entries,
    image_services,
    resolved,
    runs,
    seconds,
)
from tests.support.fresh_python import clean_env, printed_json
from tests.support.prod_env import (
    ALL_SECRETS,
    DJANGO_SECRETS,
    FLOWER_SECRETS,
    PREFLIGHT,
    PROVIDER_SECRETS,
    REDIS_SECRET,
    SECRET_NAME,
    TRACKING_SECRETS,
    WEB_SECRETS,
    filled_in,
    recording_redis_cli,
    redis_health_check,
)

POSTGRES_SECRET = "/run/secrets/postgres_password"

DJANGO_SERVICES = ["web", "worker-reports", "worker-email", "beat", "migrate"]

# Which containers may see each secret (its value, in a variable of any name).
SECRETS_REACHING = {
    "preflight": ALL_SECRETS,
    "migrate": DJANGO_SECRETS,
    "web": DJANGO_SECRETS | TRACKING_SECRETS | WEB_SECRETS,
    "worker-reports": DJANGO_SECRETS,
    "worker-email": DJANGO_SECRETS | TRACKING_SECRETS | PROVIDER_SECRETS,
    "beat": DJANGO_SECRETS,
    "flower": FLOWER_SECRETS,
    "redis": set(),
    "postgres": set(),
}


# REQUIRED SECRETS; WHAT IS PUBLISHED, MOUNTED AND SET
# ------------------------------------------------------------------------------

# Secrets the production stack must refuse to start without.
PROD_REQUIRED = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "FLOWER_BASIC_AUTH",
]


@pytest.mark.parametrize("name", PROD_REQUIRED)
def test_prod_refuses_to_start_without_a_required_secret(name, tmp_path):
    env_file = tmp_path / ".env.prod"
    lines = PROD_EXAMPLE.read_text().splitlines()
    env_file.write_text("\n".join(line for line in lines if not line.startswith(f"{name}=")))
    result = compose_config("prod", env_file=env_file)
    assert result.returncode != 0
    assert name in result.stderr


def test_prod_has_no_source_mounts(prod_model):
    for name, service in prod_model["services"].items():
        for volume in service.get("volumes") or []:
            assert volume["type"] == "volume", f"{name} mounts {volume.get('source')}"


def test_prod_publishes_only_web_and_flower_on_loopback(prod_model):
    for name, service in prod_model["services"].items():
        ports = service.get("ports") or []
        if name not in {"web", "flower"}:
            assert not ports, f"{name} is published"
        for port in ports:
            # No host_ip means 0.0.0.0: every interface of the host.
            assert port.get("host_ip") in LOOPBACK, f"{name} is published on {port}"


def test_prod_flower_has_auth_and_persistent_state(prod_model, prod_env_file):
    _, secrets_ = prod_env_file
    flower = prod_model["services"]["flower"]
    assert runs(flower, "flower")
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == secrets_["FLOWER_BASIC_AUTH"]
    state_dir = str(Path(flower["environment"]["FLOWER_STATE_FILE"]).parent)
    mounts = {v["target"]: v for v in flower["volumes"]}
    assert mounts[state_dir]["type"] == "volume"
    assert mounts[state_dir]["source"] in prod_model["volumes"]


def test_prod_app_services_run_in_production_on_the_bundled_broker(prod_model, prod_env_file):
    """Redis's own definition is checked below (REDIS AND POSTGRESQL)."""
    _, secrets_ = prod_env_file
    password = secrets_["REDIS_PASSWORD"]
    for name, service in image_services(prod_model).items():
        assert service["environment"]["CELERY_BROKER_URL"] == f"redis://:{password}@redis:6379/0"
        assert service["environment"]["DJANGO_ENV"] == "production", name
    postgres = prod_model["services"]["postgres"]
    assert "/var/lib/postgresql/data" in {v["target"] for v in postgres["volumes"]}


def test_prod_worker_limits_come_from_the_env_file(prod_model):
    example = active_entries(PROD_EXAMPLE)
    for name, queue in WORKERS.items():
        env = prod_model["services"][name]["environment"]
        prefix = queue.upper()
        assert env["CELERY_WORKER_CONCURRENCY"] == example[f"{prefix}_WORKER_CONCURRENCY"]
        assert (
            env["CELERY_WORKER_MAX_TASKS_PER_CHILD"]
            == example[f"{prefix}_WORKER_MAX_TASKS_PER_CHILD"]
        )
        assert env["CELERY_TASK_SOFT_TIME_LIMIT"] == example["CELERY_TASK_SOFT_TIME_LIMIT"]
        assert env["CELERY_TASK_TIME_LIMIT"] == example["CELERY_TASK_TIME_LIMIT"]
        grace = seconds(prod_model["services"][name]["stop_grace_period"])
        assert grace > float(example["CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT"]), name


# THE PREFLIGHT SERVICE
# ------------------------------------------------------------------------------


def test_everything_starts_after_the_preflight(prod_filled_in):
    model, _ = prod_filled_in
    services = model["services"]
    for name in ("postgres", "redis"):
        assert services[name]["depends_on"]["preflight"]["condition"] == (
            "service_completed_successfully"
        ), name

    def waits_for_preflight(name: str) -> bool:
        dependencies = services[name].get("depends_on") or {}
        return "preflight" in dependencies or any(map(waits_for_preflight, dependencies))

    assert [
        name for name in services if name != "preflight" and not waits_for_preflight(name)
    ] == []


def test_preflight_runs_alone_and_once(prod_filled_in):
    """No network (it holds every secret, and must not need PostgreSQL or Redis), no
    dependency, no restart; not through the image's entrypoint, which waits for the
    services that wait for it."""
    model, _ = prod_filled_in
    service = model["services"]["preflight"]
    assert service["network_mode"] == "none"
    assert not service.get("depends_on")
    assert service["restart"] == "no"
    assert service["image"] == model["services"]["web"]["image"]
    assert service["entrypoint"] == ["python", "/app/ops/docker/preflight.py"]
    assert not command_of(service)
    assert os.access(PREFLIGHT, os.X_OK)


# EACH CONTAINER GETS THE SECRETS IT USES, NO OTHER
# ------------------------------------------------------------------------------


def test_each_container_gets_only_the_secrets_it_uses(prod_filled_in):
    model, values = prod_filled_in
    # A secret added to the example needs its line here (the URLs carry the passwords).
    in_example = {name for name in env_file_entries(PROD_EXAMPLE) if SECRET_NAME.search(name)}
    assert in_example - {"DATABASE_URL", "CELERY_BROKER_URL"} == ALL_SECRETS
    reached = {
        service_name: {name for name, value in values.items() if value in json.dumps(service)}
        for service_name, service in model["services"].items()
    }
    assert reached == SECRETS_REACHING


def test_no_secret_is_in_the_model_outside_the_services(prod_filled_in):
    """Top-level `secrets:` name the variables compose reads; their values are not there
    (the x- blocks are only what the services are built from)."""
    model, values = prod_filled_in
    outside = json.dumps(
        {key: part for key, part in model.items() if key != "services" and not key.startswith("x-")}
    )
    assert [name for name, value in values.items() if value in outside] == []
    assert model["secrets"]["redis_password"]["environment"] == "REDIS_PASSWORD"
    assert model["secrets"]["postgres_password"]["environment"] == "POSTGRES_PASSWORD"


def test_app_containers_get_the_service_passwords_only_inside_their_urls(prod_filled_in):
    model, values = prod_filled_in
    urls = {"POSTGRES_PASSWORD": "DATABASE_URL", "REDIS_PASSWORD": "CELERY_BROKER_URL"}
    for service_name, service in image_services(model).items():
        if service_name == "preflight":
            continue
        for password, url in urls.items():
            carriers = [
                name
                for name, value in service["environment"].items()
                if value and values[password] in value
            ]
            assert password not in service["environment"], service_name
            assert carriers in ([], [url]), (service_name, carriers)


def test_flower_gets_no_secret_but_its_own(prod_filled_in):
    model, _ = prod_filled_in
    env = model["services"]["flower"]["environment"]
    assert {name for name in env if SECRET_NAME.search(name)} == {
        "FLOWER_BASIC_AUTH",
        "CELERY_BROKER_URL",
        "CELERY_BROKER_SENTINEL_PASSWORD",
        "SENTRY_DSN",
    }


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_every_django_process_loads_the_production_settings(prod_filled_in, service):
    """Each gets what the settings require, with tracking and Sentry on: a secret key,
    and the webhook secret wherever EMAIL_TRACKING_ENABLED goes."""
    model, values = prod_filled_in
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps([settings.IS_PRODUCTION, settings.SECRET_KEY, "
        "settings.EMAIL_TRACKING_ENABLED]))"
    )
    is_production, key, tracking = printed_json(code, env=container_env(model, service))
    assert is_production
    assert key == values["DJANGO_SECRET_KEY"]
    if service in {"web", "worker-email"}:
        assert tracking


def test_every_variable_of_the_example_reaches_a_container():
    """A variable in .env.prod.example is passed to some container (not only to the
    preflight), interpolated into one's definition, or read into a compose secret."""
    result = compose_config("prod", "--no-interpolate", "--format", "json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    secret_sources = {name: spec["environment"] for name, spec in model.get("secrets", {}).items()}
    reached = set()
    for service_name, service in model["services"].items():
        if service_name == "preflight":
            continue
        reached |= set(service.get("environment") or {})
        reached |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", json.dumps(service)))
        reached |= {secret_sources[secret["source"]] for secret in service.get("secrets") or []}
    unreached = set(active_entries(PROD_EXAMPLE)) - reached
    assert not unreached, f"in .env.prod.example, passed to no container: {sorted(unreached)}"
    # The credentials the example documents but leaves unset reach worker-email when set.
    documented = set(env_file_entries(PROD_EXAMPLE))
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= documented & reached


# REDIS AND POSTGRESQL
# ------------------------------------------------------------------------------


def test_every_health_check_has_a_start_period(prod_filled_in):
    model, _ = prod_filled_in
    for name, service in model["services"].items():
        if "healthcheck" in service:
            assert service["healthcheck"].get("start_period"), name
    for name in ("redis", "postgres"):
        # A large AOF, a new volume's initialisation or a crash recovery: minutes, not
        # the 50 seconds that interval x retries allow.
        assert model["services"][name]["healthcheck"]["start_period"] == "2m0s", name


def test_redis_reads_its_password_from_the_secret_file(prod_filled_in):
    model, _ = prod_filled_in
    redis_service = model["services"]["redis"]
    assert [(secret["target"], secret["mode"]) for secret in redis_service["secrets"]] == [
        (REDIS_SECRET, "0400")
    ]
    assert REDIS_SECRET in command_of(redis_service)[2]
    assert REDIS_SECRET in redis_service["healthcheck"]["test"][1]
    assert not redis_service.get("environment")


def test_redis_memory_is_bounded_by_redis_maxmemory(tmp_path, prod_filled_in):
    model, _ = prod_filled_in
    script = command_of(model["services"]["redis"])[2]
    assert "--maxmemory '512mb' --maxmemory-policy noeviction" in script
    assert "--appendonly yes" in script
    env_file, _ = filled_in(tmp_path / ".env.prod", REDIS_MAXMEMORY="2gb")
    script = command_of(resolved("prod", env_file)["services"]["redis"])[2]
    assert "--maxmemory '2gb'" in script
    # Left out of an older env file: the same default.
    env_file, _ = filled_in(tmp_path / ".env.prod", REDIS_MAXMEMORY=None)
    script = command_of(resolved("prod", env_file)["services"]["redis"])[2]
    assert "--maxmemory '512mb'" in script


def test_postgres_reads_its_password_from_the_secret_file(prod_filled_in):
    model, _ = prod_filled_in
    postgres = model["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == POSTGRES_SECRET
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert [(secret["target"], secret["mode"]) for secret in postgres["secrets"]] == [
        (POSTGRES_SECRET, "0400")
    ]
    # Ready over TCP: the image's temporary server while it initialises answers only on
    # the socket.
    assert "pg_isready -h 127.0.0.1 " in postgres["healthcheck"]["test"][1]


@pytest.mark.parametrize(
    ("answer", "healthy"),
    [("PONG", True), ("LOADING Redis is loading the dataset in memory", False)],
)
def test_redis_health_check_wants_pong_and_keeps_the_password_off_its_command_line(
    prod_filled_in, tmp_path, redis_secret, answer, healthy
):
    """A redis-cli that answers as Redis does while it reads a large AOF (LOADING) and
    afterwards (PONG); it records how it was called."""
    model, _ = prod_filled_in
    secret, password = redis_secret
    stub_dir = recording_redis_cli(tmp_path, answer)
    result = subprocess.run(
        ["sh", "-c", redis_health_check(model, secret)],
        env=clean_env(PATH=f"{stub_dir}{os.pathsep}{os.environ['PATH']}"),
        timeout=30,
    )
    assert (result.returncode == 0) is healthy
    assert (tmp_path / "auth").read_text() == password
    assert (tmp_path / "argv").read_text() == "ping"
