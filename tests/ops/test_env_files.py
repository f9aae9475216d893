"""The env files list every variable: what the settings and Flower's config read, what the
containers' scripts read, what the compose files take from them; and .env.prod.example
sets nothing that nothing uses, each entry with its comment."""

import re

import pytest

from tests.support.compose import (
    ASSIGNMENT,
    DEV_COMPOSE,
    DEV_EXAMPLE,
    PROD_COMPOSE,
    PROD_EXAMPLE,
    active_entries,
    container_env,
    env_file_entries,
    image_services,
    shell_scripts_of,
    shell_variables,
)
from tests.support.flower import FLOWER_CONFIG
from tests.support.fresh_python import variables_read
from tests.support.processes import REPO_DIR

SENTINEL_COMPOSE = REPO_DIR / "docker-compose.sentinel.yml"


@pytest.fixture(scope="module")
def read_by_code(prod_model) -> set[str]:
    development = variables_read(FLOWER_CONFIG, FLOWER_BASIC_AUTH="ops:dev")
    # Sentry on too, so that the branch configuring it reads its variables.
    flower_auth = prod_model["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    production = variables_read(
        FLOWER_CONFIG,
        env=container_env(
            prod_model,
            "web",
            SENTRY_DSN="http://key@127.0.0.1:9/1",
            FLOWER_BASIC_AUTH=flower_auth,
        ),
    )
    read = development | production
    # The reads of the production and Sentry branches were seen: the recording works.
    assert {"DJANGO_SECURE_HSTS_SECONDS", "SENTRY_RELEASE", "FLOWER_BASIC_AUTH"} <= read
    return read


def scripts_read(model: dict) -> set[str]:
    return {
        variable
        for service in image_services(model).values()
        for script in shell_scripts_of(service)
        for variable in shell_variables(script)
    }


@pytest.mark.parametrize("example", [DEV_EXAMPLE, PROD_EXAMPLE], ids=lambda p: p.name)
def test_every_variable_the_code_reads_is_listed(example, read_by_code):
    missing = read_by_code - set(env_file_entries(example))
    assert not missing, f"not in {example.name}: {sorted(missing)}"


def test_every_variable_a_container_script_reads_is_configured(prod_model):
    """Start scripts, entrypoint and health checks: each variable is set for the service
    or documented in .env.prod.example."""
    listed = set(env_file_entries(PROD_EXAMPLE))
    # The worker's queue comes as its argument in compose; the variable is a fallback.
    fallbacks = {"CELERY_WORKER_QUEUE"}
    for name, service in image_services(prod_model).items():
        for script in shell_scripts_of(service):
            for variable in shell_variables(script) - fallbacks:
                assert variable in listed or variable in service["environment"], (
                    f"{script.name} reads {variable}: not in .env.prod.example, not set for {name}"
                )


def test_prod_example_has_no_unused_entries(prod_model, read_by_code):
    # The Sentinel layout's override reads some of its own (REDIS_SENTINEL_DOWN_AFTER_MS).
    compose_text = PROD_COMPOSE.read_text() + SENTINEL_COMPOSE.read_text()
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", compose_text))
    used = read_by_code | interpolated | scripts_read(prod_model)
    unused = set(active_entries(PROD_EXAMPLE)) - used
    assert not unused, f"set in .env.prod.example but used by nothing: {sorted(unused)}"


def test_prod_example_comments_every_variable():
    previous = ""
    for line in PROD_EXAMPLE.read_text().splitlines():
        if ASSIGNMENT.match(line.strip()):
            assert previous.startswith("#") and not ASSIGNMENT.match(previous), (
                f"no comment above: {line}"
            )
        previous = line.strip()


# What Flower's container gets: it watches the broker and reports to Sentry, nothing else.
FLOWER_NEEDS = {"DJANGO_ENV", "DJANGO_ALLOWED_HOSTS", "CELERY_BROKER_URL", "TIME_ZONE"}
FLOWER_NEEDS |= {"LOG_LEVEL", "WAIT_FOR_SERVICES_TIMEOUT", "SENTRY_DSN", "SENTRY_ENVIRONMENT"}
FLOWER_NEEDS |= {"SENTRY_RELEASE"}
# With a sentinel:// broker: the master set and Sentinel's password (its Broker page).
FLOWER_NEEDS |= {"CELERY_BROKER_SENTINEL_MASTER", "CELERY_BROKER_SENTINEL_PASSWORD"}


def test_flower_gets_its_own_variables_and_none_of_the_app_secrets(prod_model, read_by_code):
    env = set(prod_model["services"]["flower"]["environment"])
    flowers = {name for name in read_by_code if name.startswith("FLOWER_")}
    assert flowers & set(active_entries(PROD_EXAMPLE)) <= env
    assert env <= FLOWER_NEEDS | flowers


def test_every_variable_compose_takes_from_env_is_in_env_example():
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", DEV_COMPOSE.read_text()))
    assert interpolated >= {"APP_UID", "APP_GID", "FLOWER_BASIC_AUTH"}
    missing = interpolated - set(env_file_entries(DEV_EXAMPLE))
    assert not missing, f"docker-compose.yml reads {sorted(missing)}: not in .env.example"
