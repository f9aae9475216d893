"""core.upsert.insert: one INSERT ... ON CONFLICT for one instance, on whichever database
DATABASE_URL names (CI runs the suite on SQLite and on PostgreSQL)."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult

from apps.commission.models import CommissionReport
from apps.mailing.models import EmailDelivery
from core import upsert
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def delivery(key: str = "test:upsert", **fields) -> EmailDelivery:
    return EmailDelivery(
        idempotency_key=key,
        to_email=fields.pop("to_email", "first@example.com"),
        subject=fields.pop("subject", "First"),
        body_text="Body",
        **fields,
    )


def test_a_new_row_is_inserted_with_every_column_and_its_id_returned():
    new = delivery(attachments=[{"filename": "a.csv", "content": "x", "mimetype": "text/csv"}])

    with CaptureQueriesContext(connection) as queries:
        assert upsert.insert(new, unique=("idempotency_key",)) is True

    assert len(queries) == 1
    assert new.pk is not None
    assert not new._state.adding and new._state.db == "default"
    stored = EmailDelivery.objects.get(pk=new.pk)
    assert (stored.idempotency_key, stored.to_email, stored.subject) == (
        "test:upsert",
        "first@example.com",
        "First",
    )
    assert stored.attachments == new.attachments  # JSON prepared as the field does
    # Defaults and auto_now(_add) fields are the fields' own (pre_save), not left empty.
    assert stored.status == EmailDelivery.Status.QUEUED
    assert stored.metadata == {}
    assert stored.created_at is not None and stored.updated_at is not None
    assert abs(stored.next_attempt_at - timezone.now()) < dt.timedelta(minutes=1)


def test_a_conflict_without_update_fields_leaves_the_row_and_says_so():
    first = delivery()
    upsert.insert(first, unique=("idempotency_key",))

    second = delivery(to_email="second@example.com", subject="Second")
    assert upsert.insert(second, unique=("idempotency_key",)) is False

    assert second.pk is None and second._state.adding
    stored = EmailDelivery.objects.get()
    assert (stored.pk, stored.to_email, stored.subject) == (first.pk, "first@example.com", "First")


def test_a_conflict_with_update_fields_changes_only_those_and_returns_the_rows_id():
    manager = UserFactory(username="upsert-manager")
    first = CommissionReport(
        manager=manager, period="2025-09", subject="Old", body_text="old", data={"v": 1}
    )
    assert upsert.insert(first, unique=("manager", "period"), update=("subject", "data"))
    again = CommissionReport(
        manager=manager, period="2025-09", subject="New", body_text="new", data={"v": 2}
    )

    assert upsert.insert(again, unique=("manager", "period"), update=("subject", "data")) is True

    assert again.pk == first.pk
    stored = CommissionReport.objects.get()
    assert (stored.subject, stored.data) == ("New", {"v": 2})
    assert stored.body_text == "old"  # not one of the update fields


def test_a_conflict_leaves_the_surrounding_transaction_usable():
    """No IntegrityError and so no savepoint: on PostgreSQL an error would abort the
    report's transaction."""
    upsert.insert(delivery(), unique=("idempotency_key",))

    with transaction.atomic():
        assert upsert.insert(delivery(), unique=("idempotency_key",)) is False
        later = delivery("test:upsert:later")
        assert upsert.insert(later, unique=("idempotency_key",)) is True

    assert EmailDelivery.objects.count() == 2


def test_the_task_result_store_keeps_the_first_writes_creation_date():
    """core.results writes every stored field on conflict but date_created (not in its
    update fields), so a retried task's row keeps when it was first stored."""
    written = ("status", "result", "date_done")
    first = TaskResult(task_id="upsert-task", status="RETRY", result='"first"')
    assert upsert.insert(first, unique=("task_id",), update=written)
    created = TaskResult.objects.get().date_created

    final = TaskResult(task_id="upsert-task", status="SUCCESS", result='"done"')
    assert upsert.insert(final, unique=("task_id",), update=written)

    stored = TaskResult.objects.get()
    assert (stored.pk, stored.status, stored.result) == (first.pk, "SUCCESS", '"done"')
    assert stored.date_created == created


def test_the_statement_names_the_models_columns_and_is_built_once():
    upsert.insert(delivery(), unique=("idempotency_key",))
    with CaptureQueriesContext(connection) as queries:
        upsert.insert(delivery("test:upsert:2"), unique=("idempotency_key",))
    [sql] = [query["sql"] for query in queries]

    quote = connection.ops.quote_name
    assert sql.startswith(f"INSERT INTO {quote(EmailDelivery._meta.db_table)} (")
    written = [field for field in EmailDelivery._meta.concrete_fields if not field.primary_key]
    assert all(quote(field.column) in sql for field in written)
    assert f"ON CONFLICT ({quote('idempotency_key')}) DO NOTHING" in sql
    assert sql.rstrip().endswith(f"RETURNING {quote('id')}")
    info = upsert._statement.cache_info()
    upsert.insert(delivery("test:upsert:3"), unique=("idempotency_key",))
    assert upsert._statement.cache_info().hits == info.hits + 1
