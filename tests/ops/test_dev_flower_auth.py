"""Flower's login in `make run` (ops/scripts/dev-flower-auth.sh, which run-local.sh calls): a
random one made once and kept in var/run.env, the developer's own winning, and Flower's
config taking it."""

import subprocess
import sys

from tests.support.flower import FLOWER_CONFIG
from tests.support.fresh_python import clean_env, printed_json
from tests.support.processes import REPO_DIR

DEV_FLOWER_AUTH = REPO_DIR / "ops" / "scripts" / "dev-flower-auth.sh"


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


def test_make_run_makes_a_random_flower_login_once_and_keeps_it(repo_copy):
    (repo_copy / ".env").write_text("FLOWER_BASIC_AUTH=\n")  # as copied from .env.example

    made = dev_flower_auth(repo_copy)
    user, password = made.split(":", 1)
    assert user == "flower"
    assert len(password) >= 32
    assert dev_flower_auth(repo_copy) != made  # nothing kept yet: each one is new

    kept(repo_copy, made)
    assert dev_flower_auth(repo_copy) == made


def test_the_developers_own_flower_login_wins_over_the_kept_one(repo_copy):
    kept(repo_copy, "flower:kept-by-an-earlier-run")

    assert dev_flower_auth(repo_copy, FLOWER_BASIC_AUTH="me:from-my-shell") == ""
    (repo_copy / ".env").write_text('FLOWER_BASIC_AUTH="me:from-dotenv"\n')
    assert dev_flower_auth(repo_copy) == ""


def test_flowers_config_takes_the_login_make_run_made(repo_copy):
    made = dev_flower_auth(repo_copy)
    code = "import json, runpy, sys; print(json.dumps(runpy.run_path(sys.argv[1])['basic_auth']))"
    env = {"DJANGO_ENV": "development", "FLOWER_BASIC_AUTH": made}
    env["FLOWER_STATE_FILE"] = str(repo_copy / "var" / "flower" / "state")

    assert printed_json(code, str(FLOWER_CONFIG), **env) == [made]
