"""Shared fixtures: the real parts (redis-server, Celery workers), data, the compose files
as Compose resolves them, and copies of the checkout to change.

Integration tests (tests/integration/) get a `redis-server` this suite starts on a free
port and real `celery worker` subprocesses that share the test database (transactional
tests).
"""

import secrets
import shutil
from pathlib import Path

import pytest

from tests.support import prod_env
from tests.support.compose import filled_in, resolved
from tests.support.fake_provider import running_fake_postmark
from tests.support.mailbox import Mailbox
from tests.support.processes import BACKEND_DIR, REPO_DIR, WorkerPool, free_port, start_redis

INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(config, items):
    """The suite's layout holds: the tests that start Redis and workers (marked
    `integration`) live in tests/integration/, and every test there is marked so."""
    misplaced = [
        item.nodeid
        for item in items
        if (item.get_closest_marker("integration") is not None)
        != (INTEGRATION_DIR in item.path.parents)
    ]
    if misplaced:
        raise pytest.UsageError(
            "marked integration outside tests/integration/, or there and not marked:\n  "
            + "\n  ".join(misplaced)
        )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Each pytest run gets its own SQLite test file, so runs never share one."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["TEST"]["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def redis_port():
    """Where the suite's own redis-server listens, once an integration test starts it."""
    return free_port()


@pytest.fixture(scope="session")
def redis_url(redis_port, tmp_path_factory):
    """A private redis-server for the whole session; its URL."""
    with start_redis(tmp_path_factory.mktemp("redis"), redis_port) as url:
        yield url


@pytest.fixture(scope="session")
def celery_app(redis_port):
    """The project's Celery app, pointed at the suite's Redis from the start (its
    connection pools keep the first URL they see) without starting it: eager and config
    tests need no broker."""
    from core.celery import app

    app.conf.broker_url = f"redis://127.0.0.1:{redis_port}/0"
    return app


@pytest.fixture(scope="session")
def live_broker(celery_app, redis_url):
    """The project's Celery app, with the suite's redis-server running."""
    assert celery_app.conf.broker_url == redis_url
    return celery_app


@pytest.fixture(scope="session")
def worker_pool(live_broker, redis_url, django_db_setup, django_db_blocker, tmp_path_factory):
    """Starts real `celery worker` processes on demand: one per queue at a time.

    `worker_pool.ensure("email", EMAIL_BACKEND=...)` returns a running worker for
    that queue with those settings (from the environment, as in production),
    restarting the queue's worker when the settings differ from the running one.
    """
    with django_db_blocker.unblock():
        pool = WorkerPool(
            app=live_broker,
            broker_url=redis_url,
            workdir=tmp_path_factory.mktemp("workers"),
        )
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def worker_mailbox(worker_pool):
    """What the workers' file-based email backend wrote, emptied before the test."""
    mailbox = Mailbox(worker_pool.mail_dir)
    mailbox.clear()
    return mailbox


@pytest.fixture
def celery_eager(celery_app, settings):
    """Run tasks inline in this process (unit tests of task logic only)."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False
    try:
        yield celery_app
    finally:
        celery_app.conf.task_always_eager = False


@pytest.fixture
def manager():
    """A user to give teams to (the report tests' manager)."""
    from tests.factories import UserFactory

    return UserFactory(username="mgr", first_name="Maria", last_name="Ivanova")


@pytest.fixture
def maria_team():
    """A team of one rep, managed by maria <maria@example.com>: someone a report can be
    requested for and emailed to."""
    from tests.factories import TeamFactory, UserFactory, add_rep

    team = TeamFactory(manager=UserFactory(username="maria"))
    add_rep(team)
    return team


@pytest.fixture
def maria(maria_team):
    """The manager of `maria_team`."""
    return maria_team.manager


@pytest.fixture(scope="session")
def fake_postmark():
    """A local server that plays Postmark's send API (tests/support/fake_provider.py);
    tests reset it before use."""
    with running_fake_postmark() as server:
        yield server


@pytest.fixture
def metrics_open(settings):
    """/metrics as development serves it: no token."""
    settings.METRICS_TOKEN = ""
    settings.IS_PRODUCTION = False
    return settings


# THE COMPOSE FILES, AS `docker compose` RESOLVES THEM (tests/support/compose.py)
# ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod_env_file(tmp_path_factory):
    """.env.prod.example with each placeholder replaced by a fresh secret: its path, and the
    secrets put in."""
    path = tmp_path_factory.mktemp("env") / ".env.prod"
    return path, filled_in(prod_env.PROD_EXAMPLE, path)


@pytest.fixture(scope="module")
def prod_model(prod_env_file):
    """docker-compose.prod.yml with `prod_env_file`."""
    return resolved("prod", prod_env_file[0])


@pytest.fixture(scope="module")
def dev_model():
    """docker-compose.yml."""
    return resolved("dev")


@pytest.fixture(scope="module")
def prod_filled_in(tmp_path_factory):
    """docker-compose.prod.yml with the env file as an operator fills it in (every secret
    set, the site's own domain, tracking on: tests/support/prod_env.py), and the secrets in
    it: each a value of its own, so that where one lands says who gets it."""
    path, values = prod_env.filled_in(tmp_path_factory.mktemp("env") / ".env.prod")
    return resolved("prod", path), values


@pytest.fixture
def redis_secret(tmp_path):
    """The file docker-compose.prod.yml mounts at /run/secrets/redis_password, and the
    password in it."""
    password = secrets.token_urlsafe(32)
    path = tmp_path / "redis_password"
    path.write_text(password)  # as compose writes it: no newline
    return path, password


# COPIES OF THE CHECKOUT
# ------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path) -> Path:
    """What docker-compose.yml mounts at /app and runs, copied: the compose file, backend/
    and ops/, with no compiled catalog (as git checks it out) and an empty var/."""
    for name in ("backend", "ops"):
        shutil.copytree(
            REPO_DIR / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
        )
    shutil.copy(REPO_DIR / "docker-compose.yml", tmp_path)
    (tmp_path / "var").mkdir()
    return tmp_path


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A copy of backend/ in a repository of its own, to put local files (.env,
    var/run.env) beside it: the repository's root."""
    shutil.copytree(BACKEND_DIR, tmp_path / "backend", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "var").mkdir()
    return tmp_path
