"""The start scripts (ops/start/) and the shell scripts beside them: strict, executable,
exec'ing their process so signals reach it; the worker's needs a queue; the migrate
service's checks the deployment, then migrates."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compose import COMPOSE_CONFIG, ENTRYPOINT, command_of, container_env
from tests.support.fresh_python import clean_env
from tests.support.processes import REPO_DIR as REPO

START_SCRIPTS = [
    REPO / "ops" / "start" / name for name in ("web", "worker", "beat", "flower", "migrate")
]
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


@pytest.mark.parametrize(
    ("queue", "pool", "concurrency"), [("email", "threads", "16"), ("reports", "prefork", "2")]
)
def test_each_queue_gets_its_pool_and_nothing_the_settings_decide(
    tmp_path, queue, pool, concurrency
):
    """The start script says how the worker runs (pool, size); connection reuse and the
    rest come from the settings, as they do for `celery -A core worker` run by hand."""
    fake = tmp_path / "celery"
    fake.write_text('#!/bin/sh\necho "$@ CONN_MAX_AGE=${DATABASE_CONN_MAX_AGE-unset}"\n')
    fake.chmod(0o755)
    env = clean_env(
        PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}", WORKER_WATCHDOG_INTERVAL="0"
    )
    result = subprocess.run(
        [str(REPO / "ops" / "start" / "worker"), queue],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert f"--pool {pool} --concurrency {concurrency}" in result.stdout
    assert "CONN_MAX_AGE=unset" in result.stdout
    given = {**env, "CELERY_WORKER_POOL": "solo", "CELERY_WORKER_CONCURRENCY": "1"}
    result = subprocess.run(
        [str(REPO / "ops" / "start" / "worker"), queue], env=given, capture_output=True, text=True
    )
    assert "--pool solo --concurrency 1" in result.stdout
