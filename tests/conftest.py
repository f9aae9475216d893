"""Shared fixtures: data factories, and the real parts (redis-server, Celery workers).

Integration tests get a `redis-server` this suite starts on a free port and real
`celery worker` subprocesses that share the test database (transactional tests).
"""

import pytest

from tests.support.fake_provider import running_fake_postmark
from tests.support.mailbox import Mailbox
from tests.support.processes import WorkerPool, free_port, start_redis


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
