"""The env file's check (ops/docker/preflight.py): the preflight service before anything
starts, the same code on the host (ops/scripts/check-prod-env.sh), and its rules."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compose import PLACEHOLDER, PROD_EXAMPLE, active_entries, container_env, resolved
from tests.support.fresh_python import clean_env
from tests.support.processes import REPO_DIR as REPO
from tests.support.prod_env import PREFLIGHT, SECRET_NAME, filled_in, load_preflight

CHECK = REPO / "ops" / "scripts" / "check-prod-env.sh"
# ops/docker/preflight.py, imported: its rules, called directly.
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


def test_preflight_service_passes_a_filled_in_env_file(prod_filled_in):
    model, _ = prod_filled_in
    result = run_preflight_service(model)
    assert result.returncode == 0, result.stderr
    assert "no problems found" in result.stdout


def test_preflight_service_sees_every_variable_its_rules_read(prod_filled_in):
    """What the rules read, on every path through them, compose gives the service."""
    model, _ = prod_filled_in
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
        (
            {"CELERY_BROKER_SENTINEL_PASSWORD": "Fifteen-chars-7"},
            "CELERY_BROKER_SENTINEL_PASSWORD",
            "fewer than 16",
        ),
        (
            {"CELERY_BROKER_SENTINEL_PASSWORD": "commission-demo-and-more"},
            "CELERY_BROKER_SENTINEL_PASSWORD",
            "is a password published in this repository",
        ),
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
