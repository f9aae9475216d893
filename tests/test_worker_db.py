"""Workers keep their database connections between tasks as Django keeps them between
requests: Celery's Django fixup no longer closes them around every task. On PostgreSQL,
a kept connection prepares the statements it repeats, and those survive a migration."""

import json
from types import SimpleNamespace

import psycopg
import pytest
from celery.signals import task_postrun, task_prerun
from django.contrib.auth import get_user_model
from django.db import connection

from apps.commission.models import Team
from apps.commission.report.request import load_report_request
from apps.mailing.claims import claim
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from core import worker_db
from core.celery import app
from tests.factories import TeamFactory, UserFactory
from tests.support.fresh_python import fresh_python


class FakeTask:
    """What the task_prerun/postrun receivers read of a task."""

    def __init__(self, is_eager: bool):
        self.request = SimpleNamespace(is_eager=is_eager, delivery_info={}, args=(), kwargs={})


@pytest.fixture
def worker_fixup(monkeypatch):
    [fixup] = [each for each in app._fixups if hasattr(type(each), "worker_fixup")]
    monkeypatch.setattr(fixup.worker_fixup, "db_reuse_max", None)
    yield fixup.worker_fixup
    task_prerun.disconnect(dispatch_uid="core.worker_db.prerun")
    task_postrun.disconnect(dispatch_uid="core.worker_db.postrun")


def test_the_fixup_stops_closing_connections_around_each_task(worker_fixup, monkeypatch):
    closed = []
    monkeypatch.setattr(worker_fixup, "_close_database", lambda: closed.append(True))
    worker_fixup.close_database()
    assert closed == [True]  # without the change: closed before and after every task

    worker_db.leave_connections_to_django(sender=SimpleNamespace(app=app))
    for _ in range(1000):
        worker_fixup.close_database()

    assert closed == [True]


def test_each_task_closes_what_django_would_close_after_a_request(worker_fixup, monkeypatch):
    calls = []
    monkeypatch.setattr(worker_db, "close_old_connections", lambda: calls.append(True))
    worker_db.leave_connections_to_django(sender=SimpleNamespace(app=app))
    task, eager = FakeTask(is_eager=False), FakeTask(is_eager=True)

    task_prerun.send(sender=task, task=task, task_id="1", args=(), kwargs={})
    task_postrun.send(sender=task, task=task, task_id="1", args=(), kwargs={})
    task_prerun.send(sender=eager, task=eager, task_id="2", args=(), kwargs={})

    assert calls == [True, True]


DATABASE_OPTIONS = (
    "import json; from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
)


def database_options(**variables: str) -> dict:
    loaded = fresh_python("-c", DATABASE_OPTIONS, **variables)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout)


def test_postgresql_prepares_repeated_statements_unless_told_not_to():
    url = "postgres://commission:secret@db:5432/commission"

    assert database_options(DATABASE_URL=url) == {
        "server_side_binding": True,
        "prepare_threshold": 5,
    }
    assert database_options(DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="false") == {}
    assert "prepare_threshold" not in database_options(DATABASE_URL="sqlite:////tmp/x.sqlite3")


@pytest.mark.django_db
def test_a_statement_run_six_times_is_prepared_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    for _ in range(6):  # five runs, then prepared for the sixth
        Team.objects.filter(pk=0).exists()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%{connection.ops.quote_name(Team._meta.db_table)}%"],
        )
        [(prepared,)] = cursor.fetchall()
    assert prepared == 1


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
