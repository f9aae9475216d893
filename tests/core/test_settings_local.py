"""Which local files the settings read: `var/run.env` (what `make run` chose), then `.env`,
real variables winning over both, and neither when DJANGO_READ_DOT_ENV_FILE is off.
And Flower's login in `make run`, kept in var/run.env."""

import shutil
import subprocess
import sys

import pytest

from tests.support.flower import FLOWER_CONFIG
from tests.support.fresh_python import clean_env, printed_json, setting_values
from tests.support.processes import BACKEND_DIR, REPO_DIR

DEV_FLOWER_AUTH = REPO_DIR / "ops" / "scripts" / "dev-flower-auth.sh"


@pytest.fixture
def repo(tmp_path):
    """A copy of backend/ in a repository of its own, to put local files beside it."""
    shutil.copytree(BACKEND_DIR, tmp_path / "backend", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "var").mkdir()
    return tmp_path


def setting(repo, name: str, **env: str):
    """The setting as the repo's settings load it, local files read unless told not to."""
    env = {"DJANGO_READ_DOT_ENV_FILE": None, **env}
    values = setting_values(name, cwd=repo / "backend", **env)
    return values[name]


def test_make_runs_choices_win_over_env_and_real_variables_win_over_both(repo):
    (repo / "var" / "run.env").write_text("CELERY_BROKER_URL=redis://127.0.0.1:6390/0\n")
    (repo / ".env").write_text("CELERY_BROKER_URL=redis://elsewhere:6379/0\nTIME_ZONE=Asia/Tokyo\n")

    assert setting(repo, "CELERY_BROKER_URL") == "redis://127.0.0.1:6390/0"
    assert setting(repo, "TIME_ZONE") == "Asia/Tokyo"
    assert setting(repo, "CELERY_BROKER_URL", CELERY_BROKER_URL="redis://real:1/0") == (
        "redis://real:1/0"
    )


def test_no_local_file_is_read_when_told_not_to(repo):
    (repo / "var" / "run.env").write_text("CELERY_BROKER_URL=redis://127.0.0.1:6390/0\n")
    (repo / ".env").write_text("TIME_ZONE=Asia/Tokyo\n")

    assert setting(repo, "TIME_ZONE", DJANGO_READ_DOT_ENV_FILE="False") == "UTC"
    assert setting(repo, "CELERY_BROKER_URL", DJANGO_READ_DOT_ENV_FILE="False") == (
        "redis://localhost:6379/0"
    )


# FLOWER'S LOGIN IN `make run` (ops/scripts/run-local.sh)
# ------------------------------------------------------------------------------


def dev_flower_auth(repo, **env: str) -> str:
    """What ops/scripts/dev-flower-auth.sh prints for this repository."""
    done = subprocess.run(
        [str(DEV_FLOWER_AUTH), str(repo)],
        env=clean_env(PYTHON=sys.executable, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def kept(repo, login: str) -> None:
    """var/run.env as run-local.sh writes it with this login."""
    (repo / "var" / "run.env").write_text(
        f"CELERY_BROKER_URL=redis://127.0.0.1:6390/0\nFLOWER_BASIC_AUTH={login}\n"
    )


def test_make_run_makes_a_random_flower_login_once_and_keeps_it(repo):
    (repo / ".env").write_text("FLOWER_BASIC_AUTH=\n")  # as copied from .env.example

    made = dev_flower_auth(repo)
    user, password = made.split(":", 1)
    assert user == "flower"
    assert len(password) >= 32
    assert dev_flower_auth(repo) != made  # nothing kept yet: each one is new

    kept(repo, made)
    assert dev_flower_auth(repo) == made


def test_the_developers_own_flower_login_wins_over_the_kept_one(repo):
    kept(repo, "flower:kept-by-an-earlier-run")

    assert dev_flower_auth(repo, FLOWER_BASIC_AUTH="me:from-my-shell") == ""
    (repo / ".env").write_text('FLOWER_BASIC_AUTH="me:from-dotenv"\n')
    assert dev_flower_auth(repo) == ""


def test_flowers_config_takes_the_login_make_run_made(repo):
    made = dev_flower_auth(repo)
    code = "import json, runpy, sys; print(json.dumps(runpy.run_path(sys.argv[1])['basic_auth']))"
    env = {"DJANGO_ENV": "development", "FLOWER_BASIC_AUTH": made}
    env["FLOWER_STATE_FILE"] = str(repo / "var" / "flower" / "state")

    assert printed_json(code, str(FLOWER_CONFIG), **env) == [made]
