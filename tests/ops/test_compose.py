"""Container configuration, checked without a Docker engine.

The assertions read the compose files as Compose v2 resolves them (tests/support/compose.py),
so they see what `docker compose up` would run. The settings are checked by running
`manage.py check --deploy` with exactly the environment the production web container gets.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from core.credentials import DEVELOPMENT_SECRET_KEY
from tests.support.compose import (
    ASSIGNMENT,
    COMPOSE_CONFIG,
    ENTRYPOINT,
    PLACEHOLDER,
    active_entries,
    command_of,
    compose_config,
    container_env,
    dockerfile_stages,
    env_file_entries,
    filled_in,
    image_services,
    one_shot_services,
    resolved,
    runs,
    seconds,
    shell_scripts_of,
    shell_variables,
)
from tests.support.fresh_python import (
    clean_env,
    fresh_python,
    manage,
    setting_values,
    variables_read,
)
from tests.support.processes import REPO_DIR as REPO

DEV_EXAMPLE = REPO / ".env.example"
PROD_EXAMPLE = REPO / ".env.prod.example"
PROD_COMPOSE = REPO / "docker-compose.prod.yml"
FLOWER_CONFIG = REPO / "ops" / "flower" / "flowerconfig.py"
WAIT_FOR_SERVICES = REPO / "ops" / "docker" / "wait_for_services.py"
START_SCRIPTS = [
    REPO / "ops" / "start" / name for name in ("web", "worker", "beat", "flower", "migrate")
]

DEV_SERVICES = {"web", "worker-reports", "worker-email", "beat", "flower", "redis", "postgres"}
DEV_SERVICES |= {"mailpit"}
# Production: no mail catcher; the env file is checked, then migrations run, once before
# anything else starts.
PROD_SERVICES = DEV_SERVICES - {"mailpit"} | {"preflight", "migrate"}
WORKERS = {"worker-reports": "reports", "worker-email": "email"}
# Secrets the production stack must refuse to start without.
PROD_REQUIRED = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "FLOWER_BASIC_AUTH",
]
LOOPBACK = {"127.0.0.1", "::1"}


@pytest.fixture(scope="module")
def prod_env_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("env") / ".env.prod"
    secrets_ = filled_in(PROD_EXAMPLE, path)
    return path, secrets_


@pytest.fixture(scope="module")
def dev_model():
    return resolved("dev")


@pytest.fixture(scope="module")
def prod_model(prod_env_file):
    return resolved("prod", prod_env_file[0])


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


@pytest.mark.parametrize("name", PROD_REQUIRED)
def test_prod_refuses_to_start_without_a_required_secret(name, tmp_path):
    env_file = tmp_path / ".env.prod"
    lines = PROD_EXAMPLE.read_text().splitlines()
    env_file.write_text("\n".join(line for line in lines if not line.startswith(f"{name}=")))
    result = compose_config("prod", env_file=env_file)
    assert result.returncode != 0
    assert name in result.stderr


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
    """Redis's own definition is checked in tests/test_prod_compose.py."""
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


# ENVIRONMENT VARIABLES
# ------------------------------------------------------------------------------
# The list of variables is the env files. What the code reads is recorded by loading the
# settings and Flower's config the way development and production load them.


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
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", PROD_COMPOSE.read_text()))
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


def test_flower_gets_its_own_variables_and_none_of_the_app_secrets(prod_model, read_by_code):
    env = set(prod_model["services"]["flower"]["environment"])
    flowers = {name for name in read_by_code if name.startswith("FLOWER_")}
    assert flowers & set(active_entries(PROD_EXAMPLE)) <= env
    assert env <= FLOWER_NEEDS | flowers


# THE SETTINGS IN PRODUCTION
# ------------------------------------------------------------------------------


def test_deploy_check_passes_with_the_production_environment(prod_model):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=container_env(prod_model, "web")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_when_a_security_setting_is_off(prod_model):
    """The check above can fail: without HSTS the same command reports security.W004."""
    env = container_env(prod_model, "web", DJANGO_SECURE_HSTS_SECONDS="0")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def test_production_settings_require_the_secret_key(prod_model):
    env = container_env(prod_model, "web")
    del env["DJANGO_SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


GENERATE_KEY = 'python3 -c "import secrets; print(secrets.token_urlsafe(50))"'


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("change-me", "is a known placeholder"),
        (f"{secrets.token_urlsafe(40)}-change-me", "is a known placeholder"),
        (f"django-insecure-{secrets.token_urlsafe(40)}", "is a known placeholder"),
        (DEVELOPMENT_SECRET_KEY, "is a known placeholder"),
        (secrets.token_urlsafe(40)[:49], "has 49 characters, fewer than 50"),
        ("ab" * 40, "has fewer than 5 different characters"),
    ],
    ids=["placeholder", "with-placeholder", "django-insecure", "development", "short", "few"],
)
def test_production_refuses_a_weak_secret_key(prod_model, key, problem):
    result = manage("check", env=container_env(prod_model, "web", DJANGO_SECRET_KEY=key))
    assert result.returncode != 0
    assert f"DJANGO_SECRET_KEY {problem}" in result.stderr
    # It says how to make a good one, and the key itself stays out of the logs.
    assert GENERATE_KEY in result.stderr
    assert key not in result.stderr


def test_production_accepts_a_generated_secret_key(prod_model):
    key = secrets.token_urlsafe(50)
    env = container_env(prod_model, "web", DJANGO_SECRET_KEY=key)
    assert setting_values("SECRET_KEY", env=env) == {"SECRET_KEY": key}


STRONG_PASSWORD = secrets.token_urlsafe(16)
SHORT_PASSWORD = "Fifteen-chars-7"


@pytest.mark.parametrize(
    ("secret", "weak_users"),
    [
        ("hook:change-me", "hook"),
        (f"hook:change-me-{STRONG_PASSWORD}", "hook"),
        (f"hook:{SHORT_PASSWORD}", "hook"),
        # During a rotation each password is checked; only the weak one is named.
        (f"hook:{STRONG_PASSWORD},old:{SHORT_PASSWORD}", "old"),
    ],
    ids=["placeholder", "with-placeholder", "short", "rotation"],
)
def test_production_refuses_a_weak_webhook_password(prod_model, secret, weak_users):
    env = container_env(
        prod_model, "web", EMAIL_TRACKING_ENABLED="True", ANYMAIL_WEBHOOK_SECRET=secret
    )
    result = manage("check", env=env)
    assert result.returncode != 0
    assert (
        f"ANYMAIL_WEBHOOK_SECRET has a placeholder or short password for {weak_users}: "
        "use 16 characters or more"
    ) in result.stderr
    # The passwords stay out of the logs.
    assert STRONG_PASSWORD not in result.stderr
    assert SHORT_PASSWORD not in result.stderr


def test_production_accepts_strong_webhook_passwords(prod_model):
    secret = f"hook:{STRONG_PASSWORD},old:{secrets.token_urlsafe(16)}"
    env = container_env(
        prod_model, "web", EMAIL_TRACKING_ENABLED="True", ANYMAIL_WEBHOOK_SECRET=secret
    )
    loaded = setting_values("ANYMAIL", env=env)["ANYMAIL"]
    assert loaded["WEBHOOK_SECRET"] == secret.split(",")


def test_development_takes_any_webhook_password():
    env = clean_env(EMAIL_TRACKING_ENABLED="True", ANYMAIL_WEBHOOK_SECRET="hook:dev")
    loaded = setting_values("ANYMAIL", env=env)["ANYMAIL"]
    assert loaded["WEBHOOK_SECRET"] == ["hook:dev"]


def test_flower_accepts_its_production_environment(prod_model, tmp_path):
    """Flower reads FLOWER_* variables itself (an empty number would stop it) and then
    runs ops/flower/flowerconfig.py, which refuses production without basic auth."""
    env = container_env(prod_model, "flower", FLOWER_STATE_FILE=str(tmp_path / "flower" / "state"))
    code = (
        "import runpy, sys\n"
        "from flower.command import apply_env_options\n"
        "apply_env_options()\n"
        "options = runpy.run_path(sys.argv[1])\n"
        "assert options['basic_auth'], 'no basic auth'\n"
        "assert options['persistent'] and options['db'] == sys.argv[2]\n"
    )
    result = fresh_python("-c", code, str(FLOWER_CONFIG), env["FLOWER_STATE_FILE"], env=env)
    assert result.returncode == 0, result.stderr


def test_the_entrypoints_wait_loads_with_flowers_environment(prod_model):
    """Flower's container has no secret key; the entrypoint's wait loads the production
    settings before ops/start/flower makes Flower's throwaway one. It must get past them
    to the broker (here a port where nothing listens, so it gives up at once)."""
    env = container_env(prod_model, "flower", CELERY_BROKER_URL="redis://:pw@127.0.0.1:9/0")
    assert "DJANGO_SECRET_KEY" not in env
    result = fresh_python(str(WAIT_FOR_SERVICES), "--timeout", "0", env=env)
    assert "settings do not load" not in result.stderr
    assert "gave up waiting for Redis at 127.0.0.1:9" in result.stderr


def test_dev_flower_has_credentials_its_config_accepts(dev_model, tmp_path):
    """Flower never runs open, `docker compose up` included: compose passes a default
    (FLOWER_BASIC_AUTH from .env or the shell wins), which the config takes in development."""
    env = container_env(dev_model, "flower", FLOWER_STATE_FILE=str(tmp_path / "flower" / "state"))
    assert env["DJANGO_ENV"] == "development"
    assert env["FLOWER_BASIC_AUTH"] == "flower:commission-demo"
    code = (
        "import runpy, sys\n"
        "from flower.command import apply_env_options\n"
        "apply_env_options()\n"
        "options = runpy.run_path(sys.argv[1])\n"
        "assert options['basic_auth'] == ['flower:commission-demo'], options['basic_auth']\n"
    )
    result = fresh_python("-c", code, str(FLOWER_CONFIG), env=env)
    assert result.returncode == 0, result.stderr


# THE MIGRATE SERVICE: CHECK --DEPLOY, THEN MIGRATE
# ------------------------------------------------------------------------------


def run_migrate_service(prod_model, tmp_path, **changes: str) -> subprocess.CompletedProcess:
    """The migrate service's command with its environment, on an SQLite file (no PostgreSQL
    here); the virtualenv's python first on PATH, as the image has it."""
    command = command_of(prod_model["services"]["migrate"])
    script = REPO / command[0].removeprefix("/app/")
    env = container_env(
        prod_model,
        "migrate",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **changes,
    )
    return subprocess.run(
        [str(script), *command[1:]], env=env, capture_output=True, text=True, timeout=300
    )


def test_migrate_service_checks_the_deployment_then_migrates(prod_model, tmp_path):
    result = run_migrate_service(prod_model, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "Applying accounts.0001_initial" in result.stdout
    assert (tmp_path / "db.sqlite3").is_file()


def test_migrate_service_stops_an_unsafe_deployment_before_migrating(prod_model, tmp_path):
    """Cookies sent over plain http: a deploy-check warning, so nothing is migrated and
    nothing that waits for the migrate service starts."""
    result = run_migrate_service(prod_model, tmp_path, DJANGO_SECURE_SSL_REDIRECT="False")
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr
    assert "Applying" not in result.stdout
    assert not (tmp_path / "db.sqlite3").exists()


# SCRIPTS AND IMAGE
# ------------------------------------------------------------------------------

STRICT = "set -o errexit -o pipefail -o nounset"


@pytest.mark.parametrize(
    "script", [*START_SCRIPTS, ENTRYPOINT, COMPOSE_CONFIG], ids=lambda p: p.name
)
def test_shell_scripts_are_strict_and_executable(script):
    text = script.read_text()
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert text.startswith("#!/usr/bin/env bash\n")
    assert STRICT in text
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize("script", [*START_SCRIPTS, ENTRYPOINT], ids=lambda p: p.name)
def test_processes_are_execed_so_signals_reach_them(script):
    lines = [line.strip() for line in script.read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    starts = [line for line in code if re.search(r"\b(gunicorn|celery|runserver)\b", line)]
    assert all(line.startswith("exec ") for line in starts), starts
    last = next(line for line in reversed(code) if line != "fi" and not line.startswith("--"))
    assert last.startswith("exec "), f"{script.name} ends with {last!r}"


def test_worker_script_needs_a_queue():
    result = subprocess.run(
        [str(REPO / "ops" / "start" / "worker")], env=clean_env(), capture_output=True, text=True
    )
    assert result.returncode == 64
    assert "QUEUE" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_SECRET_KEY", PLACEHOLDER),
        # REDIS_PASSWORD and POSTGRES_PASSWORD reach the app inside these URLs.
        ("CELERY_BROKER_URL", f"redis://:{PLACEHOLDER}@redis:6379/0"),
        ("DATABASE_URL", f"postgres://commission:{PLACEHOLDER}@postgres:5432/commission"),
    ],
)
def test_entrypoint_refuses_placeholder_secrets(name, value):
    result = subprocess.run(
        [str(ENTRYPOINT), "true"],
        env=clean_env(DJANGO_ENV="production", **{name: value}),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert name in result.stderr


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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DJANGO_DEBUG": "True"}, "DJANGO_DEBUG must be off"),
        ({"DJANGO_ALLOWED_HOSTS": "reports.example.com,*"}, "may not contain '*'"),
    ],
)
def test_production_refuses_unsafe_settings(prod_model, changes, message):
    result = manage("check", env=container_env(prod_model, "web", **changes))
    assert result.returncode != 0
    assert message in result.stderr


def test_sessions_last_a_working_day_unless_the_environment_says_otherwise(prod_model):
    names = ("SESSION_COOKIE_AGE", "SESSION_EXPIRE_AT_BROWSER_CLOSE")
    for value, expected in (("", 8 * 60 * 60), ("3600", 3600)):
        env = container_env(prod_model, "web", DJANGO_SESSION_COOKIE_AGE=value)
        assert setting_values(*names, env=env) == {
            "SESSION_COOKIE_AGE": expected,
            "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        }
    refused = manage("check", env=container_env(prod_model, "web", DJANGO_SESSION_COOKIE_AGE="0"))
    assert refused.returncode != 0
    assert "DJANGO_SESSION_COOKIE_AGE must be a number of seconds > 0" in refused.stderr


def test_prod_web_trusts_the_one_proxy_in_front_of_it(prod_model):
    """gunicorn is published on loopback for the host's reverse proxy: one proxy, whose
    X-Forwarded-For entry login throttling reads; development trusts none."""
    web = container_env(prod_model, "web")
    assert web["DJANGO_TRUSTED_PROXY_COUNT"] == "1"
    assert setting_values("TRUSTED_PROXY_COUNT", env=web) == {"TRUSTED_PROXY_COUNT": 1}
    assert setting_values("TRUSTED_PROXY_COUNT") == {"TRUSTED_PROXY_COUNT": 0}
    negative = manage("check", env=clean_env(DJANGO_TRUSTED_PROXY_COUNT="-1"))
    assert negative.returncode != 0
    assert "DJANGO_TRUSTED_PROXY_COUNT must be 0 or more" in negative.stderr


def test_hsts_preload_is_opt_in(prod_model):
    for value, expected in (("", False), ("True", True)):
        env = container_env(prod_model, "web", DJANGO_SECURE_HSTS_PRELOAD=value)
        assert setting_values("SECURE_HSTS_PRELOAD", env=env) == {"SECURE_HSTS_PRELOAD": expected}
    opted_in = container_env(prod_model, "web", DJANGO_SECURE_HSTS_PRELOAD="True")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=opted_in)
    assert result.returncode == 0, result.stdout + result.stderr
