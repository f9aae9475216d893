"""The development stack (docker-compose.yml), checked without a Docker engine: the image
built for the checkout's owner, what the containers read, when they count as healthy,
what they mount and publish. (The image itself: test_dockerfile.py; what the mounted
checkout must give them: test_compile_catalogs.py, test_line_endings.py.)

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
from urllib.parse import urlsplit

import pytest

from tests.support.compose import DEV_EXAMPLE, LOOPBACK, image_services, seconds
from tests.support.fresh_python import clean_env, printed_json
from tests.support.processes import REPO_DIR as REPO


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


# THE CONTAINERS NEVER READ THE CHECKOUT'S .env OR var/run.env
# ------------------------------------------------------------------------------

# A developer's .env, written for `make run` on the host, and what `make run` left in
# var/run.env (which wins over .env). Compose itself takes FLOWER_BASIC_AUTH from .env: it
# names it in docker-compose.yml.
DOT_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_ALLOWED_HOSTS": "localhost",
    "FLOWER_PORT": "5556",
    "TIME_ZONE": "Pacific/Kiritimati",
    "FLOWER_BASIC_AUTH": "me:my-own-flower-password",
}
RUN_ENV = {
    "CELERY_BROKER_URL": "redis://127.0.0.1:6390/0",
    "LANGUAGE_CODE": "ru",
    "FLOWER_URL_PREFIX": "from-make-run",
}

WEB_SETTINGS = """
import json, sys
from django.conf import settings
from django.http.request import validate_host
print(json.dumps({
    "repo": str(settings.REPO_DIR),
    "health_check_host_allowed": validate_host(sys.argv[1], settings.ALLOWED_HOSTS),
    "TIME_ZONE": settings.TIME_ZONE,
    "LANGUAGE_CODE": settings.LANGUAGE_CODE,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
}))
"""

FLOWER_OPTIONS = """
import json, runpy, sys
options = runpy.run_path(sys.argv[1])
print(json.dumps({name: options[name] for name in ("port", "address", "url_prefix", "basic_auth")}))
"""


@pytest.fixture
def hostile_checkout(checkout) -> Path:
    (checkout / ".env").write_text("".join(f"{k}={v}\n" for k, v in DOT_ENV.items()))
    (checkout / "var" / "run.env").write_text("".join(f"{k}={v}\n" for k, v in RUN_ENV.items()))
    return checkout


def url_of_health_check(service: dict):
    return urlsplit(next(word for word in service["healthcheck"]["test"] if "://" in word))


def test_web_in_development_never_reads_the_checkouts_env_files(hostile_checkout):
    model = resolve_dev(hostile_checkout)
    web = model["services"]["web"]
    health_check = url_of_health_check(web)
    assert health_check.port == 8000

    def settings_seen(env: dict[str, str]) -> dict:
        # The container's /app/backend (start scripts run there) is the copy's backend/.
        return printed_json(
            WEB_SETTINGS, health_check.hostname, env=env, cwd=hostile_checkout / "backend"
        )

    seen = settings_seen(in_container(model, "web"))
    assert seen["repo"] == str(hostile_checkout)
    assert seen["health_check_host_allowed"], "web's health check would get 400"
    assert seen["TIME_ZONE"] == "UTC"
    assert seen["LANGUAGE_CODE"] == "en"
    assert seen["CELERY_BROKER_URL"] == "redis://redis:6379/0"

    # Without the variable compose sets, the same load sees the files: the check above can
    # fail, and this is the failure the development stack had.
    env = in_container(model, "web")
    del env["DJANGO_READ_DOT_ENV_FILE"]
    leaked = settings_seen(env)
    assert not leaked["health_check_host_allowed"]
    assert (leaked["TIME_ZONE"], leaked["LANGUAGE_CODE"]) == ("Pacific/Kiritimati", "ru")


def test_flower_in_development_listens_where_its_port_and_health_check_look(
    hostile_checkout, tmp_path
):
    model = resolve_dev(hostile_checkout)
    flower = model["services"]["flower"]
    (published,) = flower["ports"]
    health_check = url_of_health_check(flower)
    assert health_check.port == published["target"]
    state = str(tmp_path / "flower" / "state")

    def options(env: dict[str, str]) -> dict:
        config = hostile_checkout / "ops" / "flower" / "flowerconfig.py"
        return printed_json(FLOWER_OPTIONS, str(config), env=env, cwd=hostile_checkout / "backend")

    seen = options(in_container(model, "flower", FLOWER_STATE_FILE=state))
    assert seen["port"] == published["target"]
    assert seen["address"] == flower["environment"]["FLOWER_ADDRESS"]
    assert seen["url_prefix"] == ""
    # What compose took from .env, because docker-compose.yml asks for it by name.
    assert seen["basic_auth"] == [DOT_ENV["FLOWER_BASIC_AUTH"]]

    env = in_container(model, "flower", FLOWER_STATE_FILE=state)
    del env["DJANGO_READ_DOT_ENV_FILE"]
    leaked = options(env)
    assert (leaked["port"], leaked["url_prefix"]) == (5556, "from-make-run")


def test_every_service_of_the_image_gets_the_same_environment_rule(checkout):
    model = resolve_dev(checkout)
    for name, service in image_services(model).items():
        assert service["environment"]["DJANGO_READ_DOT_ENV_FILE"] == "False", name


# HEALTH CHECKS AND REDIS
# ------------------------------------------------------------------------------


def test_every_health_check_allows_for_a_slow_first_start(dev_model):
    """Redis replaying a large append-only file answers LOADING, PostgreSQL's first start
    runs initdb: failures in start_period do not count, a success counts at once."""
    checked = {
        name: service["healthcheck"]
        for name, service in dev_model["services"].items()
        if service.get("healthcheck")
    }
    assert set(checked) == set(dev_model["services"])
    for name, healthcheck in checked.items():
        assert seconds(healthcheck.get("start_period", "0s")) > 0, f"{name}: no start_period"


def test_postgres_is_healthy_once_it_takes_network_connections(dev_model):
    """initdb's temporary server listens on its socket only: a check over the socket
    passes before the server the others reach has started."""
    test = dev_model["services"]["postgres"]["healthcheck"]["test"]
    (check,) = [word for word in test if "pg_isready" in word]
    assert re.search(r"\s-h\s+127\.0\.0\.1\b", check), check


def test_redis_refuses_new_tasks_at_a_memory_limit_instead_of_dropping_any(dev_model):
    command = dev_model["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert re.fullmatch(r"[1-9]\d*(mb|gb)", command[command.index("--maxmemory") + 1])


# WHAT IS MOUNTED AND PUBLISHED
# ------------------------------------------------------------------------------


def test_dev_mounts_the_source_and_reaches_the_mail_catcher(dev_model):
    for name, service in image_services(dev_model).items():
        binds = {v["target"]: v["source"] for v in service["volumes"] if v["type"] == "bind"}
        assert binds.get("/app") == str(REPO), name
        env = service["environment"]
        assert env["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend", name
        assert env["EMAIL_HOST"] in dev_model["services"], name


def test_dev_publishes_on_loopback_only(dev_model):
    """Development has no or known passwords (Mailpit, Flower's default): nothing is
    published beyond the host."""
    published = [
        (name, port)
        for name, service in dev_model["services"].items()
        for port in service.get("ports") or []
    ]
    assert {name for name, _ in published} >= {"web", "flower", "mailpit"}
    for name, port in published:
        assert port.get("host_ip") in LOOPBACK, f"{name} is published on {port}"
