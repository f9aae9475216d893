"""docker-compose.prod.yml: the env file checked before anything starts, each container
given only the secrets it uses, Redis and PostgreSQL without a password on a command
line or in their environment, Redis's memory bounded.

Read as Compose v2 resolves it (tests/support/compose.py), without a Docker engine. What
runs inside the containers (the preflight check, Redis's start command and health check)
is run here on the host: its paths swapped for temporary ones, nothing else.
"""

import importlib.util
import json
import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.compose import (
    PLACEHOLDER,
    active_entries,
    command_of,
    compose_config,
    container_env,
    env_file_entries,
    image_services,
    resolved,
)
from tests.support.fresh_python import clean_env, printed_json
from tests.support.processes import REPO_DIR as REPO
from tests.support.processes import free_port
from tests.support.waiting import StopWaiting, wait_for

PROD_EXAMPLE = REPO / ".env.prod.example"
PREFLIGHT = REPO / "ops" / "docker" / "preflight.py"
CHECK = REPO / "ops" / "scripts" / "check-prod-env.sh"
REDIS_SECRET = "/run/secrets/redis_password"
POSTGRES_SECRET = "/run/secrets/postgres_password"

DJANGO_SERVICES = ["web", "worker-reports", "worker-email", "beat", "migrate"]

# Every secret the env file can hold, and which containers may see it (its value, in a
# variable of any name). The preflight service checks them all, without a network.
DJANGO_SECRETS = {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "SENTRY_DSN"}
TRACKING_SECRETS = {"ANYMAIL_WEBHOOK_SECRET"}
PROVIDER_SECRETS = {"POSTMARK_SERVER_TOKEN", "MAILGUN_API_KEY", "SENDGRID_API_KEY"}
PROVIDER_SECRETS |= {"BREVO_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
PROVIDER_SECRETS |= {"EMAIL_HOST_PASSWORD"}
WEB_SECRETS = {"MAILGUN_WEBHOOK_SIGNING_KEY", "METRICS_TOKEN"}
FLOWER_SECRETS = {"FLOWER_BASIC_AUTH", "REDIS_PASSWORD", "SENTRY_DSN"}
ALL_SECRETS = DJANGO_SECRETS | TRACKING_SECRETS | PROVIDER_SECRETS | WEB_SECRETS
ALL_SECRETS |= FLOWER_SECRETS
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
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|DSN|AUTH|DATABASE_URL|BROKER_URL")


def secret_values() -> dict[str, str]:
    """A value of its own for every secret, so that where it lands says who gets it."""
    values = {name: secrets.token_urlsafe(32) for name in ALL_SECRETS}
    values["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    values["FLOWER_BASIC_AUTH"] = f"ops:{secrets.token_urlsafe(24)}"
    values["ANYMAIL_WEBHOOK_SECRET"] = f"hook:{secrets.token_urlsafe(24)}"
    values["SENTRY_DSN"] = f"https://{secrets.token_hex(16)}@sentry.invalid/1"
    return values


def write_env_file(path: Path, changes: dict[str, str | None]) -> Path:
    """.env.prod.example with `changes`: a value replaces the line (or is appended, for
    one the example only documents), None drops the line."""
    lines, done = [], set()
    for line in PROD_EXAMPLE.read_text().splitlines():
        name = line.split("=", 1)[0] if re.match(r"[A-Z][A-Z0-9_]*=", line) else None
        if name in changes:
            done.add(name)
            if changes[name] is None:
                continue
            line = f"{name}={changes[name]}"
        lines.append(line)
    lines += [f"{n}={v}" for n, v in changes.items() if n not in done and v is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


def filled_in(path: Path, **changes: str | None) -> tuple[Path, dict[str, str]]:
    """The example as an operator fills it in: every secret set, the site's own domain,
    tracking on; then `changes`. Returns the file and the secrets in it."""
    values = secret_values()
    site = {
        "DJANGO_ALLOWED_HOSTS": "reports.acme.test",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://reports.acme.test",
        "DEFAULT_FROM_EMAIL": "Commission Reports <reports@acme.test>",
        "EMAIL_TRACKING_ENABLED": "True",
    }
    write_env_file(path, {**values, **site, **changes})
    return path, values


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """The resolved model of a filled-in env file, and the secrets in it."""
    path, values = filled_in(tmp_path_factory.mktemp("env") / ".env.prod")
    return resolved("prod", path), values


def load_preflight():
    spec = importlib.util.spec_from_file_location("preflight_under_test", PREFLIGHT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


preflight = load_preflight()


def run_check(env_file: Path) -> subprocess.CompletedProcess:
    """ops/scripts/check-prod-env.sh ENV_FILE, on the host."""
    return subprocess.run(
        [str(CHECK), str(env_file)],
        env=clean_env(PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_preflight_service(model: dict) -> subprocess.CompletedProcess:
    """The preflight service's entrypoint, with the environment compose gives it."""
    entrypoint = model["services"]["preflight"]["entrypoint"]
    script = REPO / entrypoint[1].removeprefix("/app/")
    return subprocess.run(
        [sys.executable, str(script), *entrypoint[2:]],
        env=container_env(model, "preflight"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def named(report: str) -> list[str]:
    """The variables a preflight report names, one per problem line."""
    return re.findall(r"^  ([A-Z][A-Z0-9_]*) ", report, flags=re.MULTILINE)


def unescaped(text: str) -> str:
    """A command as the container gets it: `config` prints a literal $ as $$."""
    return text.replace("$$", "$")


# THE PREFLIGHT SERVICE
# ------------------------------------------------------------------------------


def test_everything_starts_after_the_preflight(prod):
    model, _ = prod
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


def test_preflight_runs_alone_and_once(prod):
    """No network (it holds every secret, and must not need PostgreSQL or Redis), no
    dependency, no restart; not through the image's entrypoint, which waits for the
    services that wait for it."""
    model, _ = prod
    service = model["services"]["preflight"]
    assert service["network_mode"] == "none"
    assert not service.get("depends_on")
    assert service["restart"] == "no"
    assert service["image"] == model["services"]["web"]["image"]
    assert service["entrypoint"] == ["python", "/app/ops/docker/preflight.py"]
    assert not command_of(service)
    assert os.access(PREFLIGHT, os.X_OK)


def test_preflight_service_refuses_the_example_as_it_is(tmp_path):
    """Copied and started unchanged: PostgreSQL would create its volume with "change-me"."""
    model = resolved("prod", PROD_EXAMPLE)
    result = run_preflight_service(model)
    assert result.returncode == 1
    placeholders = [
        name for name, value in active_entries(PROD_EXAMPLE).items() if PLACEHOLDER in value
    ]
    assert set(placeholders) == {
        "DJANGO_SECRET_KEY",
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "FLOWER_BASIC_AUTH",
    }
    assert set(placeholders) <= set(named(result.stderr))
    # The URLs compose builds from the passwords are not reported a second time.
    assert "DATABASE_URL" not in named(result.stderr)
    assert "CELERY_BROKER_URL" not in named(result.stderr)
    assert "docs/docker.md (Production: a database created with another password)" in result.stderr


def test_preflight_service_passes_a_filled_in_env_file(prod):
    model, _ = prod
    result = run_preflight_service(model)
    assert result.returncode == 0, result.stderr
    assert "no problems found" in result.stdout


def test_preflight_service_sees_every_variable_its_rules_read(prod):
    """What the rules read, on every path through them, compose gives the service."""
    model, _ = prod
    read: set[str] = set()

    class Recording(dict):
        def get(self, name, default=None):
            read.add(name)
            return super().get(name, default)

    given = container_env(model, "preflight")
    backends = [f"anymail.backends.{esp}.EmailBackend" for esp in preflight.PROVIDER_CREDENTIALS]
    for backend in [*backends, ""]:
        preflight.problems(Recording(given, EMAIL_BACKEND=backend, METRICS_TOKEN="x"))
    assert {"MAILGUN_WEBHOOK_SIGNING_KEY", "BREVO_API_KEY", "REDIS_MAXMEMORY"} <= read
    assert read <= set(model["services"]["preflight"]["environment"])


# THE CHECK ON THE HOST: THE SAME CODE, ON THE FILE
# ------------------------------------------------------------------------------


def test_check_script_is_strict_and_executable():
    text = CHECK.read_text()
    assert os.access(CHECK, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -o errexit -o pipefail -o nounset" in text
    assert "\nexec " in text
    subprocess.run(["bash", "-n", str(CHECK)], check=True)


def test_check_passes_a_filled_in_env_file(tmp_path):
    env_file, _ = filled_in(tmp_path / ".env.prod")
    result = run_check(env_file)
    assert result.returncode == 0, result.stderr
    assert f"{env_file}: no problems found" in result.stdout


def test_check_lists_every_problem_at_once_and_no_secret(tmp_path):
    weak = {
        "DJANGO_SECRET_KEY": "Short-key-" + secrets.token_hex(8),
        "POSTGRES_PASSWORD": "Sh0rt-" + secrets.token_hex(3),
        "REDIS_PASSWORD": f"p@ss/{secrets.token_hex(10)}#",
        "FLOWER_BASIC_AUTH": f"ops:{secrets.token_hex(4)}",
        "METRICS_TOKEN": secrets.token_hex(15),
        "ANYMAIL_WEBHOOK_SECRET": "",
        "DJANGO_DEBUG": "True",
        "REDIS_MAXMEMORY": "0",
        "SENTRY_DSNN": f"https://{secrets.token_hex(16)}@sentry.invalid/1",
    }
    env_file, _ = filled_in(tmp_path / ".env.prod", **weak)

    result = run_check(env_file)

    assert result.returncode == 1
    assert sorted(named(result.stderr)) == sorted(weak)
    assert f"{len(weak)} problem(s) in {env_file}" in result.stderr
    assert f"check again: ops/scripts/check-prod-env.sh {env_file}" in result.stderr
    output = result.stdout + result.stderr
    for name, value in weak.items():
        if SECRET_NAME.search(name) and value:
            assert value not in output, f"{name}'s value is printed"
        # Each one says what to do.
        line = next(line for line in result.stderr.splitlines() if line.startswith(f"  {name} "))
        assert ": " in line, line


def test_check_names_every_missing_required_variable(tmp_path):
    required = list(preflight.REQUIRED)
    env_file, _ = filled_in(tmp_path / ".env.prod", **dict.fromkeys(required))
    result = run_check(env_file)
    assert result.returncode == 1
    for name in required:
        assert f"  {name} is not set: " in result.stderr


def test_check_notes_variables_the_env_file_leaves_out(tmp_path):
    """An env file from before a variable was added works with its default; the check
    says which ones."""
    env_file, _ = filled_in(tmp_path / ".env.prod", REDIS_MAXMEMORY=None, LOG_LEVEL=None)
    result = run_check(env_file)
    assert result.returncode == 0, result.stderr
    assert "so their defaults apply" in result.stdout
    assert "LOG_LEVEL, REDIS_MAXMEMORY" in result.stdout


def test_check_cannot_read_a_missing_env_file(tmp_path):
    result = run_check(tmp_path / "nothing-here")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_check_and_preflight_service_find_the_same_problems(tmp_path):
    env_file, _ = filled_in(
        tmp_path / ".env.prod",
        DJANGO_SECRET_KEY=PLACEHOLDER,
        REDIS_PASSWORD="short",
        METRICS_TOKEN="too-short",
        DJANGO_DEBUG="on",
        REDIS_MAXMEMORY="lots",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://reports.example.com",
        POSTMARK_SERVER_TOKEN="",
    )
    on_the_host = run_check(env_file)
    in_the_container = run_preflight_service(resolved("prod", env_file))
    assert on_the_host.returncode == in_the_container.returncode == 1
    assert named(on_the_host.stderr) == named(in_the_container.stderr)
    assert len(named(on_the_host.stderr)) == 7


def test_check_reads_the_env_file_as_compose_does(tmp_path):
    """Quotes, `export` and comments after a value, read by the check's parser and by
    compose: the same values."""
    key = secrets.token_urlsafe(50)
    env_file, _ = filled_in(tmp_path / ".env.prod")
    with env_file.open("a") as file:
        file.write(
            f'DJANGO_SECRET_KEY="{key}"\n'
            "export TIME_ZONE='Europe/Paris'\n"
            "LOG_LEVEL=WARNING # quieter\n"
            'DEFAULT_FROM_EMAIL="Reports <reports@acme.test>"  # the sender\n'
        )
    names = ["DJANGO_SECRET_KEY", "TIME_ZONE", "LOG_LEVEL", "DEFAULT_FROM_EMAIL"]
    by_compose = resolved("prod", env_file)["services"]["preflight"]["environment"]
    by_the_check = preflight.read_env_file(env_file)
    assert {n: by_the_check[n] for n in names} == {n: by_compose[n] for n in names}
    assert by_the_check["DJANGO_SECRET_KEY"] == key


def test_check_needs_no_package_beyond_python(tmp_path):
    """The host may have only python3: no site-packages (-S), no PYTHON* variables (-I)."""
    env_file, _ = filled_in(tmp_path / ".env.prod")
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(PREFLIGHT), "--env-file", str(env_file)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_a_variable_no_service_lists_reaches_no_container_and_the_check_says_so(tmp_path):
    env_file, _ = filled_in(tmp_path / ".env.prod", AWS_SESSION_TOKEN="from-an-old-env-file")
    model = resolved("prod", env_file)
    assert all(
        "AWS_SESSION_TOKEN" not in (s.get("environment") or {}) for s in model["services"].values()
    )
    result = run_check(env_file)
    assert result.returncode == 1
    assert "  AWS_SESSION_TOKEN is in .env.prod, but no container gets it" in result.stderr


# THE RULES
# ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_values(tmp_path_factory):
    env_file, _ = filled_in(tmp_path_factory.mktemp("env") / ".env.prod")
    values = preflight.read_env_file(env_file)
    assert preflight.problems(values) == []
    return values


@pytest.mark.parametrize(
    ("changes", "name", "problem"),
    [
        (
            {"DJANGO_SECRET_KEY": "too-short"},
            "DJANGO_SECRET_KEY",
            "has 9 characters, fewer than 50",
        ),
        (
            {"DJANGO_SECRET_KEY": "django-insecure-" + "k" * 50},
            "DJANGO_SECRET_KEY",
            "is a known placeholder",
        ),
        (
            {"POSTGRES_PASSWORD": "commission-demo-and-more"},
            "POSTGRES_PASSWORD",
            "is a password published in this repository",
        ),
        ({"POSTGRES_PASSWORD": "Fifteen-chars-7"}, "POSTGRES_PASSWORD", "fewer than 16"),
        ({"REDIS_PASSWORD": "sixteen+chars:at@all"}, "REDIS_PASSWORD", "break the URL"),
        ({"FLOWER_BASIC_AUTH": "ops:short"}, "FLOWER_BASIC_AUTH", "short password for ops"),
        ({"FLOWER_BASIC_AUTH": "no-colon-at-all-here"}, "FLOWER_BASIC_AUTH", "user:password"),
        (
            {"ANYMAIL_WEBHOOK_SECRET": ""},
            "ANYMAIL_WEBHOOK_SECRET",
            "is empty but EMAIL_TRACKING_ENABLED is on",
        ),
        (
            {
                "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
                "MAILGUN_WEBHOOK_SIGNING_KEY": "",
            },
            "MAILGUN_WEBHOOK_SIGNING_KEY",
            "Mailgun's tracking webhooks are on",
        ),
        (
            {"EMAIL_BACKEND": "anymail.backends.sendgrid.EmailBackend", "SENDGRID_API_KEY": ""},
            "SENDGRID_API_KEY",
            "cannot send without it",
        ),
        ({"EMAIL_BACKEND": ""}, "EMAIL_BACKEND", "only be written to the worker's log"),
        ({"METRICS_TOKEN": "m" * 31}, "METRICS_TOKEN", "has 31 characters, fewer than 32"),
        ({"DJANGO_ALLOWED_HOSTS": "reports.acme.test,*"}, "DJANGO_ALLOWED_HOSTS", "'*'"),
        ({"DJANGO_ALLOWED_HOSTS": "reports.example.com"}, "DJANGO_ALLOWED_HOSTS", "example.com"),
        ({"DJANGO_DEBUG": "yes"}, "DJANGO_DEBUG", "must be off"),
        ({"REDIS_MAXMEMORY": "0"}, "REDIS_MAXMEMORY", "all the host's memory"),
        ({"REDIS_MAXMEMORY": "half"}, "REDIS_MAXMEMORY", "a size Redis reads"),
        (
            {"CELERY_BROKER_URL": f"redis://:{PLACEHOLDER}@broker.acme.test:6379/0"},
            "CELERY_BROKER_URL",
            f'still holds the example\'s "{PLACEHOLDER}"',
        ),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS", "is not set"),
    ],
)
def test_a_rule_names_the_problem_and_what_to_do(good_values, changes, name, problem):
    found = preflight.problems({**good_values, **changes})
    assert [found_name for found_name, _ in found] == [name]
    assert problem in found[0][1]


@pytest.mark.parametrize("size", ["512mb", "2GB", "1073741824", "100k"])
def test_redis_memory_sizes_redis_reads_pass(good_values, size):
    assert preflight.problems({**good_values, "REDIS_MAXMEMORY": size}) == []


@pytest.mark.parametrize(("length", "refused"), [(31, True), (32, False)])
def test_the_metrics_token_rule_is_the_settings_one(good_values, length, refused):
    """The one rule not in core/credentials.py, copied: both refuse the same tokens."""
    token = "m" * length
    by_preflight = preflight.problems({**good_values, "METRICS_TOKEN": token}) != []
    env = clean_env(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=good_values["DJANGO_SECRET_KEY"],
        DJANGO_ALLOWED_HOSTS="reports.acme.test",
        METRICS_TOKEN=token,
    )
    code = "import json, django; django.setup(); print(json.dumps('ok'))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO / "backend", env=env, capture_output=True, text=True
    )
    assert by_preflight is refused
    assert (loaded.returncode != 0) is refused, loaded.stderr


# EACH CONTAINER GETS THE SECRETS IT USES, NO OTHER
# ------------------------------------------------------------------------------


def test_each_container_gets_only_the_secrets_it_uses(prod):
    model, values = prod
    # A secret added to the example needs its line here (the URLs carry the passwords).
    in_example = {name for name in env_file_entries(PROD_EXAMPLE) if SECRET_NAME.search(name)}
    assert in_example - {"DATABASE_URL", "CELERY_BROKER_URL"} == ALL_SECRETS
    reached = {
        service_name: {name for name, value in values.items() if value in json.dumps(service)}
        for service_name, service in model["services"].items()
    }
    assert reached == SECRETS_REACHING


def test_no_secret_is_in_the_model_outside_the_services(prod):
    """Top-level `secrets:` name the variables compose reads; their values are not there
    (the x- blocks are only what the services are built from)."""
    model, values = prod
    outside = json.dumps(
        {key: part for key, part in model.items() if key != "services" and not key.startswith("x-")}
    )
    assert [name for name, value in values.items() if value in outside] == []
    assert model["secrets"]["redis_password"]["environment"] == "REDIS_PASSWORD"
    assert model["secrets"]["postgres_password"]["environment"] == "POSTGRES_PASSWORD"


def test_app_containers_get_the_service_passwords_only_inside_their_urls(prod):
    model, values = prod
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


def test_flower_gets_no_secret_but_its_own(prod):
    model, _ = prod
    env = model["services"]["flower"]["environment"]
    assert {name for name in env if SECRET_NAME.search(name)} == {
        "FLOWER_BASIC_AUTH",
        "CELERY_BROKER_URL",
        "SENTRY_DSN",
    }


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_every_django_process_loads_the_production_settings(prod, service):
    """Each gets what the settings require, with tracking and Sentry on: a secret key,
    and the webhook secret wherever EMAIL_TRACKING_ENABLED goes."""
    model, values = prod
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


def test_every_health_check_has_a_start_period(prod):
    model, _ = prod
    for name, service in model["services"].items():
        if "healthcheck" in service:
            assert service["healthcheck"].get("start_period"), name
    for name in ("redis", "postgres"):
        # A large AOF, a new volume's initialisation or a crash recovery: minutes, not
        # the 50 seconds that interval x retries allow.
        assert model["services"][name]["healthcheck"]["start_period"] == "2m0s", name


def test_redis_reads_its_password_from_the_secret_file(prod):
    model, _ = prod
    redis_service = model["services"]["redis"]
    assert [(secret["target"], secret["mode"]) for secret in redis_service["secrets"]] == [
        (REDIS_SECRET, "0400")
    ]
    assert REDIS_SECRET in command_of(redis_service)[2]
    assert REDIS_SECRET in redis_service["healthcheck"]["test"][1]
    assert not redis_service.get("environment")


def test_redis_memory_is_bounded_by_redis_maxmemory(tmp_path, prod):
    model, _ = prod
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


def test_postgres_reads_its_password_from_the_secret_file(prod):
    model, _ = prod
    postgres = model["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == POSTGRES_SECRET
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert [(secret["target"], secret["mode"]) for secret in postgres["secrets"]] == [
        (POSTGRES_SECRET, "0400")
    ]
    # Ready over TCP: the image's temporary server while it initialises answers only on
    # the socket.
    assert "pg_isready -h 127.0.0.1 " in postgres["healthcheck"]["test"][1]


@pytest.fixture
def redis_secret(tmp_path):
    password = secrets.token_urlsafe(32)
    path = tmp_path / "redis_password"
    path.write_text(password)  # as compose writes it: no newline
    return path, password


def redis_health_check(model: dict, secret: Path, port: int | None = None) -> str:
    test = model["services"]["redis"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    check = unescaped(test[1])
    assert REDIS_SECRET in check and "redis-cli ping" in check
    check = check.replace(REDIS_SECRET, str(secret))
    return check.replace("redis-cli ping", f"redis-cli -p {port} ping") if port else check


@pytest.mark.integration
def test_redis_starts_with_the_password_from_the_secret_file(prod, tmp_path, redis_secret):
    """Redis's command as compose resolves it, run here: the image's entrypoint (which
    only drops to the redis user) skipped, a free port and a scratch directory added."""
    model, _ = prod
    secret, password = redis_secret
    script = unescaped(command_of(model["services"]["redis"])[2])
    for expected in (REDIS_SECRET, "exec docker-entrypoint.sh redis-server - "):
        assert expected in script
    port = free_port()
    script = script.replace(REDIS_SECRET, str(secret)).replace(
        "docker-entrypoint.sh redis-server - ",
        f"redis-server - --port {port} --bind 127.0.0.1 --dir {tmp_path} ",
    )
    server = subprocess.Popen(
        ["sh", "-c", script],
        stdout=(tmp_path / "redis.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:

        def answers():
            if server.poll() is not None:
                raise StopWaiting((tmp_path / "redis.log").read_text())
            return redis.Redis("127.0.0.1", port, password=password).ping()

        wait_for(answers, timeout=20, what="redis-server")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis("127.0.0.1", port).ping()
        config = redis.Redis("127.0.0.1", port, password=password).config_get("*")
        assert config["maxmemory"] == str(512 * 1024 * 1024)
        assert config["maxmemory-policy"] == "noeviction"
        assert config["appendonly"] == "yes"
        assert password not in Path(f"/proc/{server.pid}/cmdline").read_text()

        check = redis_health_check(model, secret, port)
        assert subprocess.run(["sh", "-c", check], timeout=30).returncode == 0
        secret.write_text("not-the-password")
        assert subprocess.run(["sh", "-c", check], timeout=30).returncode != 0
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("answer", "healthy"),
    [("PONG", True), ("LOADING Redis is loading the dataset in memory", False)],
)
def test_redis_health_check_wants_pong_and_keeps_the_password_off_its_command_line(
    prod, tmp_path, redis_secret, answer, healthy
):
    """A redis-cli that answers as Redis does while it reads a large AOF (LOADING) and
    afterwards (PONG); it records how it was called."""
    model, _ = prod
    secret, password = redis_secret
    stub = tmp_path / "bin" / "redis-cli"
    stub.parent.mkdir()
    stub.write_text(
        "#!/bin/sh\n"
        f'printf "%s" "$REDISCLI_AUTH" > {tmp_path}/auth\n'
        f'printf "%s" "$*" > {tmp_path}/argv\n'
        f"echo '{answer}'\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    result = subprocess.run(
        ["sh", "-c", redis_health_check(model, secret)],
        env=clean_env(PATH=f"{stub.parent}{os.pathsep}{os.environ['PATH']}"),
        timeout=30,
    )
    assert (result.returncode == 0) is healthy
    assert (tmp_path / "auth").read_text() == password
    assert (tmp_path / "argv").read_text() == "ping"
