"""Workers keep their database connections between tasks as Django keeps them between
requests: Celery's Django fixup (told by CELERY_DB_REUSE_MAX) no longer closes them around
every task, and Django's rules (CONN_MAX_AGE) decide. On PostgreSQL, a kept connection
prepares the statements it repeats, and those survive a migration."""

from types import SimpleNamespace

import psycopg
import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.contrib.auth import get_user_model
from django.db import connection

from apps.commission.models import Team
from apps.commission.report.request import load_report_request
from apps.mailing.claims import claim
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from core.celery import app
from tests.factories import TeamFactory, UserFactory
from tests.support.fresh_python import fresh_python
from tests.support.processes import worker_database_url


class FakeTask:
    """What the receivers of task_prerun/postrun read of a task."""

    def __init__(self, is_eager: bool = False):
        self.request = SimpleNamespace(is_eager=is_eager, delivery_info={}, args=(), kwargs={})


@pytest.fixture
def worker_fixup():
    """Celery's Django fixup for a worker of this app, as `celery worker` makes it."""
    return DjangoWorkerFixup(app)


def run_task(fixup: DjangoWorkerFixup, task: FakeTask) -> None:
    """What a worker does around a task: the signals (the product's receivers) and the
    fixup's handlers of the same signals (connected by its install() in a worker)."""
    task_prerun.send(sender=task, task=task, task_id="1", args=(), kwargs={})
    fixup.on_task_prerun(sender=task)
    assert not Team.objects.filter(pk=0).exists()  # the task's query
    fixup.on_task_postrun(sender=task)
    task_postrun.send(sender=task, task=task, task_id="1", args=(), kwargs={})


def connect_with_max_age(monkeypatch, seconds: int):
    """A new connection that Django keeps for `seconds` (CONN_MAX_AGE); the driver's."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", seconds)
    connection.close()
    connection.ensure_connection()
    return connection.connection


# Transactional: Django closes a connection found inside a transaction after a task.
@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_serves_task_after_task(worker_fixup, monkeypatch):
    """Fails when Celery no longer reads CELERY_DB_REUSE_MAX: its fixup then closes the
    connection around every task again."""
    kept = connect_with_max_age(monkeypatch, 60)

    for _ in range(3):
        run_task(worker_fixup, FakeTask())

    assert connection.connection is kept


@pytest.mark.django_db(transaction=True)
def test_each_task_ends_as_a_request_does_with_conn_max_age_zero(worker_fixup, monkeypatch):
    connect_with_max_age(monkeypatch, 0)

    run_task(worker_fixup, FakeTask())

    assert connection.connection is None  # closed as the task ended: the next opens anew


@pytest.mark.django_db(transaction=True)
def test_an_eager_task_leaves_its_callers_connection_alone(monkeypatch):
    kept = connect_with_max_age(monkeypatch, 0)
    task = FakeTask(is_eager=True)

    task_prerun.send(sender=task, task=task, task_id="2", args=(), kwargs={})
    task_postrun.send(sender=task, task=task, task_id="2", args=(), kwargs={})

    assert connection.connection is kept


STATEMENTS_PREPARED_AFTER_SIX_RUNS = """
import django; django.setup()
from django.db import connection
from apps.commission.models import Team
for _ in range(6):  # five runs, then prepared for the sixth
    Team.objects.filter(pk=0).exists()
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
        [f"%{connection.ops.quote_name(Team._meta.db_table)}%"],
    )
    print(cursor.fetchone()[0])
"""


@pytest.mark.django_db
@pytest.mark.parametrize(("setting", "prepared"), [(None, 1), ("false", 0)])
def test_postgresql_prepares_repeated_statements_unless_told_not_to(setting, prepared):
    """A worker process on the test database, with DATABASE_PREPARED_STATEMENTS unset
    or "false" (for a pooler that cannot carry prepared statements)."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")

    ran = fresh_python(
        "-c",
        STATEMENTS_PREPARED_AFTER_SIX_RUNS,
        DATABASE_URL=worker_database_url(),
        DATABASE_PREPARED_STATEMENTS=setting,
    )

    assert ran.returncode == 0, ran.stderr
    assert int(ran.stdout) == prepared


@pytest.mark.django_db(transaction=True)
def test_prepared_whole_row_reads_survive_a_column_added_by_a_migration_meanwhile():
    """A deployment migrates while the old workers still run: their prepared statements
    must keep working, which a `SELECT *` (its result changes shape) would not."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    manager = TeamFactory(manager=UserFactory(username="migrating")).manager
    delivery, _ = create_delivery(
        idempotency_key="test:migrating", to_email="boss@example.com", subject="S", body_text="B"
    )

    def claim_and_load():
        EmailDelivery.objects.filter(pk=delivery.pk).update(status=EmailDelivery.Status.FAILED)
        assert claim(delivery.pk, "task") is not None
        assert load_report_request(manager.pk, None)[0] == manager

    for _ in range(6):  # prepared for the sixth
        claim_and_load()
    database = connection.settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"],
        host=database["HOST"],
        port=database["PORT"],
        autocommit=True,
    ) as migration:
        tables = (EmailDelivery._meta.db_table, get_user_model()._meta.db_table)
        for table in tables:
            migration.execute(f"ALTER TABLE {table} ADD COLUMN added_meanwhile integer")
        try:
            claim_and_load()
        finally:
            for table in tables:
                migration.execute(f"ALTER TABLE {table} DROP COLUMN added_meanwhile")
